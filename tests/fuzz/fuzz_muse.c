/* fuzz_muse — MUSE's file reader (data/muse_io.c) on arbitrary bytes, as a
 * list of documents and as a list of verbmem items. What it accepts must
 * save and reload to the same entries; what it refuses must come with a
 * message. */
#include <stdlib.h>
#include <string.h>

#include "data/muse.h"
#include "fuzz_util.h"

static void texts(const char *path) {
  muse_texts t, again;
  lethe_err err = {0};
  if (muse_texts_load(path, &t, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused list has a message");
    return;
  }
  FUZZ_CHECK(t.n > 0, "an accepted list has documents");
  char *out = fuzz_path("texts_saved.json");
  FUZZ_CHECK(muse_texts_save(out, t.text, t.n, &err) == 0, "accepted documents save");
  FUZZ_CHECK(muse_texts_load(out, &again, &err) == 0, "saved documents load again");
  FUZZ_CHECK(again.n == t.n, "round trip keeps the count");
  for (size_t i = 0; i < t.n; i++)
    FUZZ_CHECK(!strcmp(t.text[i], again.text[i]), "round trip keeps every document");
  muse_texts_free(&again);
  muse_texts_free(&t);
  free(out);
}

static void verbmem(const char *path) {
  muse_verbmem_set v, again;
  lethe_err err = {0};
  if (muse_verbmem_load(path, &v, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused verbmem file has a message");
    return;
  }
  char *out = fuzz_path("verbmem_saved.json");
  FUZZ_CHECK(muse_verbmem_save(out, v.rows, v.n, &err) == 0, "accepted items save");
  FUZZ_CHECK(muse_verbmem_load(out, &again, &err) == 0, "saved items load again");
  FUZZ_CHECK(again.n == v.n, "round trip keeps the count");
  for (size_t i = 0; i < v.n; i++)
    FUZZ_CHECK(!strcmp(v.rows[i].prompt, again.rows[i].prompt) &&
                   !strcmp(v.rows[i].gt, again.rows[i].gt),
               "round trip keeps every item");
  muse_verbmem_free(&again);
  muse_verbmem_free(&v);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("muse.json", data, size);
  texts(path);
  verbmem(path);
  free(path);
  return 0;
}
