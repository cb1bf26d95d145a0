/* fuzz_tokenizer — tokenizer.json and tokenizer_config.json (tokenizer/
 * tok_json*.c, tok_config.c) on arbitrary bytes. The input is a
 * tokenizer.json, optionally followed by "\n#config\n" and a
 * tokenizer_config.json; both go into a directory read by tok_load_dir. A
 * tokenizer it accepts must encode and decode text (ids inside the
 * vocabulary); a word-level one must save and reload to the same vocabulary,
 * a BPE one must refuse to be saved with a message; one it refuses must come
 * with a message. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_util.h"
#include "tokenizer/tokenizer.h"

#define CONFIG_MARK "\n#config\n"

static void use(const tok_tokenizer *t, const char *text) {
  int32_t *ids = NULL;
  int n = 0, unknown = 0;
  lethe_err err = {0};
  for (int add_special = 0; add_special < 2; add_special++) {
    if (tok_encode(t, text, add_special, &ids, &n, &unknown, &err) != 0) {
      FUZZ_CHECK(err.msg[0] != '\0', "a refused text has a message");
      return;
    }
    for (int i = 0; i < n; i++)
      FUZZ_CHECK(ids[i] >= 0 && ids[i] < tok_vocab_size(t), "ids inside the vocabulary");
    free(tok_decode(t, ids, n, 0));
    free(tok_decode(t, ids, n, 1));
    free(ids);
  }
}

static void save_and_reload(const tok_tokenizer *t) {
  char *out = fuzz_path("saved.json");
  tok_tokenizer *again = NULL;
  lethe_err err = {0};
  if (tok_save(t, out, &err) != 0) {
    FUZZ_CHECK(strstr(err.msg, "only word-level tokenizers are written") != NULL,
               "only a BPE tokenizer is refused by tok_save");
    free(out);
    return;
  }
  FUZZ_CHECK(tok_load(out, &again, &err) == 0, "a saved tokenizer loads again");
  FUZZ_CHECK(tok_vocab_size(again) == tok_vocab_size(t), "round trip keeps the vocabulary size");
  for (int id = 0; id < tok_vocab_size(t); id++)
    FUZZ_CHECK(!strcmp(tok_word(t, id), tok_word(again, id)), "round trip keeps every word");
  tok_free(again);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const uint8_t *mark = memmem(data, size, CONFIG_MARK, strlen(CONFIG_MARK));
  size_t json_size = mark ? (size_t)(mark - data) : size;
  char *path = fuzz_write("tokenizer.json", data, json_size);
  char *config = fuzz_path("tokenizer_config.json");
  if (mark) {
    size_t skip = json_size + strlen(CONFIG_MARK);
    free(fuzz_write("tokenizer_config.json", data + skip, size - skip));
  } else {
    unlink(config);
  }
  char *dir = fuzz_path(".");
  tok_tokenizer *t = NULL;
  lethe_err err = {0};
  if (tok_load_dir(dir, &t, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused tokenizer has a message");
  } else {
    use(t,
        "<s>Hello, world! It's <unk> caf\xc3\xa9 \xe2\x80\x94 done.</s> \t\r 12345 "
        "\xf0\x9f\x98\x80");
    char *text = fuzz_string(data, size > 256 ? 256 : size);
    use(t, text); /* usually invalid UTF-8 or JSON noise: must not matter */
    free(text);
    save_and_reload(t);
    tok_free(t);
  }
  free(dir);
  free(config);
  free(path);
  return 0;
}
