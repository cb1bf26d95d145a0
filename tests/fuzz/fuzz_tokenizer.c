/* fuzz_tokenizer — tokenizer.json (tokenizer/tok_json.c) on arbitrary bytes.
 * A tokenizer it accepts must encode and decode text, and save and reload to
 * the same vocabulary; one it refuses must come with a message. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

static void use(const tok_tokenizer *t, const char *text) {
  int32_t *ids = NULL;
  int n = 0, unknown = 0;
  lethe_err err = {0};
  if (tok_encode(t, text, 1, &ids, &n, &unknown, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused text has a message");
    return;
  }
  for (int i = 0; i < n; i++)
    FUZZ_CHECK(ids[i] >= 0 && ids[i] < tok_vocab_size(t), "ids inside the vocabulary");
  free(tok_decode(t, ids, n, 0));
  free(tok_decode(t, ids, n, 1));
  free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *path = fuzz_write("tokenizer.json", data, size);
  tok_tokenizer *t = NULL;
  lethe_err err = {0};
  if (tok_load(path, &t, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused tokenizer has a message");
    free(path);
    return 0;
  }
  use(t, "<s>Hello, world! It's <unk> caf\xc3\xa9 \xe2\x80\x94 done.</s>");
  char *text = fuzz_string(data, size > 256 ? 256 : size);
  use(t, text); /* usually invalid UTF-8 or JSON noise: must not matter */
  free(text);
  char *out = fuzz_path("saved.json");
  tok_tokenizer *again = NULL;
  FUZZ_CHECK(tok_save(t, out, &err) == 0, "an accepted tokenizer can be saved");
  FUZZ_CHECK(tok_load(out, &again, &err) == 0, "a saved tokenizer loads again");
  FUZZ_CHECK(tok_vocab_size(again) == tok_vocab_size(t), "round trip keeps the vocabulary size");
  for (int id = 0; id < tok_vocab_size(t); id++)
    FUZZ_CHECK(!strcmp(tok_word(t, id), tok_word(again, id)), "round trip keeps every word");
  tok_free(again);
  tok_free(t);
  free(out);
  free(path);
  return 0;
}
