/* fuzz_tofu — the TOFU data loader (data/tofu_io.c) on arbitrary bytes, as a
 * split file (JSON array or JSON lines) and as an "I don't know" list. What
 * it accepts must save and reload to the same records; what it refuses must
 * come with a message. */
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "fuzz_util.h"

/* The fields every record has survive; optional ones only when all have them. */
static int same_qa(const tofu_qa *a, const tofu_qa *b, unsigned fields) {
  return !strcmp(a->question, b->question) && !strcmp(a->answer, b->answer) &&
         (!(fields & TOFU_F_PERTURBED) || a->n_perturbed == b->n_perturbed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("split.json", data, size);
  tofu_set set;
  lethe_err err = {0};
  if (tofu_load(path, 0, &set, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused file has a message");
  } else {
    FUZZ_CHECK(set.n > 0, "an accepted file has records");
    char *out = fuzz_path("saved.json");
    tofu_set again;
    FUZZ_CHECK(tofu_save(out, set.rows, set.n, set.fields, &err) == 0, "accepted rows save");
    FUZZ_CHECK(tofu_load(out, set.fields, &again, &err) == 0, "saved rows load again");
    FUZZ_CHECK(again.n == set.n && again.fields == set.fields, "round trip keeps the records");
    for (size_t i = 0; i < set.n; i++)
      FUZZ_CHECK(same_qa(&set.rows[i], &again.rows[i], set.fields), "round trip keeps every record");
    tofu_set_free(&again);
    tofu_set_free(&set);
    free(out);
  }
  tofu_idk idk;
  lethe_err ierr = {0};
  if (tofu_idk_load(path, &idk, &ierr) != 0)
    FUZZ_CHECK(ierr.msg[0] != '\0', "a refused idk file has a message");
  else
    tofu_idk_free(&idk);
  free(path);
  return 0;
}
