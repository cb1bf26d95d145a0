/* test_tokenizer — pre-tokenization (ASCII and Unicode), UTF-8 checks, the
 * vocabulary builder, encode/decode, tokenizer.json round trips and the
 * errors for kinds of tokenizer.json that are not supported. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer/tokenizer.h"

typedef struct pieces {
  char text[1024];
} pieces;

/* Joins pieces with '|' so a split is one string to compare. */
static int join_piece(const char *piece, size_t len, void *user) {
  pieces *p = user;
  size_t n = strlen(p->text);
  snprintf(p->text + n, sizeof p->text - n, "%s%.*s", n ? "|" : "", (int)len, piece);
  return 0;
}

static const char *split(const char *text) {
  static pieces p;
  p.text[0] = '\0';
  tok_pretokenize(text, join_piece, &p);
  return p.text;
}

static char *tmpdir(void) {
  char *d = strdup("/tmp/lethe_tok_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static char *write_tmp(const char *dir, const char *name, const char *text) {
  char *path = malloc(strlen(dir) + strlen(name) + 2);
  sprintf(path, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return path;
}

static tok_tokenizer *small_tokenizer(void) {
  tok_builder *b = tok_builder_new();
  lethe_err err = {0};
  ck_assert_int_eq(tok_builder_add(b, "the cat sat on the mat .", &err), 0);
  ck_assert_int_eq(tok_builder_add(b, "the dog , the cat !", &err), 0);
  tok_tokenizer *t = tok_builder_finish(b);
  tok_builder_free(b);
  return t;
}

START_TEST(test_pretokenize_ascii) {
  ck_assert_str_eq(split("Hello, world!  [INST] it's\ta Test."),
                   "Hello|,|world|!|[|INST|]|it|'|s|a|Test|.");
  ck_assert_str_eq(split(" [/INST]The"), "[|/|INST|]|The");
  ck_assert_str_eq(split("born 1957...snake_case"), "born|1957|.|.|.|snake|_|case");
  ck_assert_str_eq(split("   \n\r\t"), "");
  ck_assert_str_eq(split(""), "");
}
END_TEST

START_TEST(test_pretokenize_unicode) {
  /* U+2014 em dash (Pd) and U+00AB/U+00BB guillemets (Pi/Pf) are punctuation;
   * U+00A0 no-break space and U+3000 ideographic space are white space;
   * U+00E9 and U+00EF are letters; U+00A9 (So) is not punctuation. */
  ck_assert_str_eq(split("na\xc3\xafve\xe2\x80\x94"
                         "caf\xc3\xa9"),
                   "na\xc3\xafve|\xe2\x80\x94|caf\xc3\xa9");
  ck_assert_str_eq(split("\xc2\xab"
                         "Bonjour\xc2\xbb"),
                   "\xc2\xab|Bonjour|\xc2\xbb");
  ck_assert_str_eq(split("a\xc2\xa0"
                         "b\xe3\x80\x80"
                         "c"),
                   "a|b|c");
  ck_assert_str_eq(split("\xc2\xa9"
                         "2024"),
                   "\xc2\xa9"
                   "2024");
}
END_TEST

START_TEST(test_utf8_validation) {
  size_t bad = 99;
  ck_assert(tok_utf8_valid("ok \xc3\xa9 \xf0\x9f\x98\x80", 10, &bad));
  const char *cases[] = {"ab\xc0\xaf", "ab\xed\xa0\x80", "ab\xf4\x90\x80\x80",
                         "ab\xe2\x82", "ab\xff",         "ab\x80"};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ck_assert(!tok_utf8_valid(cases[i], strlen(cases[i]), &bad));
    ck_assert_uint_eq(bad, 2);
  }
  tok_tokenizer *t = small_tokenizer();
  lethe_err err = {0};
  int32_t *ids;
  int n;
  ck_assert_int_eq(tok_encode(t, "the \xff cat", 1, &ids, &n, NULL, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "not valid UTF-8 (byte 4)"));
  tok_free(t);
}
END_TEST

START_TEST(test_builder_order_and_encode) {
  tok_tokenizer *t = small_tokenizer();
  /* counts: the 4, cat 2, then one each in byte order: ! , . dog mat on sat */
  const char *expect[] = {"<pad>", "<s>", "</s>", "<unk>", "the", "cat", "!",
                          ",",     ".",   "dog",  "mat",   "on",  "sat"};
  ck_assert_int_eq(tok_vocab_size(t), 13);
  for (int i = 0; i < 13; i++) ck_assert_str_eq(tok_word(t, i), expect[i]);
  ck_assert_ptr_null(tok_word(t, 13));
  ck_assert_int_eq(tok_id(t, "dog", 3), 9);
  ck_assert_int_eq(tok_id(t, "cow", 3), -1);
  tok_special_ids s = tok_special(t);
  ck_assert_int_eq(s.pad, 0);
  ck_assert_int_eq(s.bos, 1);
  ck_assert_int_eq(s.eos, 2);
  ck_assert_int_eq(s.unk, 3);

  lethe_err err = {0};
  int32_t *ids;
  int n, unk;
  ck_assert_int_eq(tok_encode(t, "the cow sat.</s>the", 1, &ids, &n, &unk, &err), 0);
  int32_t want[] = {1, 4, 3, 12, 8, 2, 4};
  ck_assert_int_eq(n, 7);
  ck_assert_int_eq(unk, 1);
  for (int i = 0; i < n; i++) ck_assert_int_eq(ids[i], want[i]);
  char *text = tok_decode(t, ids, n, 0);
  ck_assert_str_eq(text, "<s> the <unk> sat . </s> the");
  free(text);
  text = tok_decode(t, ids, n, 1);
  ck_assert_str_eq(text, "the sat . the"); /* <unk> is special too, as in HF */
  free(text);
  free(ids);
  ck_assert_int_eq(tok_encode(t, "", 0, &ids, &n, NULL, &err), 0);
  ck_assert_int_eq(n, 0);
  free(ids);
  tok_free(t);
}
END_TEST

START_TEST(test_builder_counts) {
  tok_builder *b = tok_builder_new();
  char word[32];
  for (int i = 0; i < 3000; i++) { /* grows the table several times */
    snprintf(word, sizeof word, "w%d w%d", i, i % 7);
    ck_assert_int_eq(tok_builder_add(b, word, NULL), 0);
  }
  ck_assert_uint_eq(tok_builder_distinct(b), 3000);
  lethe_err err = {0};
  ck_assert_int_eq(tok_builder_add(b, "bad \xc3", &err), -1);
  tok_tokenizer *t = tok_builder_finish(b);
  ck_assert_int_eq(tok_vocab_size(t), 3004);
  ck_assert_str_eq(tok_word(t, 4), "w0"); /* w0..w6 occur twice or more */
  tok_free(t);
  tok_builder_free(b);
}
END_TEST

START_TEST(test_json_round_trip) {
  char *dir = tmpdir();
  tok_tokenizer *t = small_tokenizer();
  char path[256], path2[256];
  snprintf(path, sizeof path, "%s/tokenizer.json", dir);
  snprintf(path2, sizeof path2, "%s/again.json", dir);
  lethe_err err = {0};
  ck_assert_int_eq(tok_save(t, path, &err), 0);
  tok_tokenizer *u;
  ck_assert_msg(tok_load(path, &u, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(tok_vocab_size(u), tok_vocab_size(t));
  for (int i = 0; i < tok_vocab_size(t); i++) ck_assert_str_eq(tok_word(u, i), tok_word(t, i));
  tok_special_ids a = tok_special(t), b = tok_special(u);
  ck_assert(a.pad == b.pad && a.bos == b.bos && a.eos == b.eos && a.unk == b.unk);
  int32_t *x, *y;
  int nx, ny;
  const char *text = "the dog, sat on<s>the mat!";
  ck_assert_int_eq(tok_encode(t, text, 1, &x, &nx, NULL, &err), 0);
  ck_assert_int_eq(tok_encode(u, text, 1, &y, &ny, NULL, &err), 0);
  ck_assert_int_eq(nx, ny);
  ck_assert_int_eq(memcmp(x, y, (size_t)nx * sizeof *x), 0);
  free(x);
  free(y);
  ck_assert_int_eq(tok_save(u, path2, &err), 0); /* same bytes after a round trip */
  char *b1, *b2;
  size_t l1, l2;
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &b1, &l1, &err), 0);
  ck_assert_int_eq(lethe_read_file(path2, 1 << 20, &b2, &l2, &err), 0);
  ck_assert_uint_eq(l1, l2);
  ck_assert_int_eq(memcmp(b1, b2, l1), 0);
  ck_assert_ptr_nonnull(strstr(b1, "\"type\": \"WordLevel\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"type\": \"WhitespaceSplit\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"behavior\": \"Isolated\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"unk_token\": \"<unk>\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"TemplateProcessing\""));
  free(b1);
  free(b2);
  snprintf(path2, sizeof path2, "%s/tokenizer_config.json", dir);
  ck_assert_int_eq(tok_save_config(t, path2, 512, &err), 0);
  ck_assert_int_eq(lethe_read_file(path2, 1 << 20, &b1, &l1, &err), 0);
  ck_assert_ptr_nonnull(strstr(b1, "\"tokenizer_class\": \"PreTrainedTokenizerFast\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"eos_token\": \"</s>\""));
  ck_assert_ptr_nonnull(strstr(b1, "\"model_max_length\": 512"));
  free(b1);
  tok_free(t);
  tok_free(u);
  free(dir);
}
END_TEST

/* A minimal hand-written tokenizer.json with the parts given, in one of 16
 * rotating buffers (so a table of cases can hold several). */
static char *tokenizer_json(const char *model_type, const char *pre, const char *extra) {
  static char bufs[16][2048];
  static int next;
  char *buf = bufs[next++ % 16];
  snprintf(buf, 2048,
           "{\"version\": \"1.0\", \"added_tokens\": [{\"id\": 0, \"content\": \"<unk>\", "
           "\"special\": true}], \"pre_tokenizer\": %s, %s \"model\": {\"type\": \"%s\", "
           "\"vocab\": {\"<unk>\": 0, \"a\": 1, \"b\": 2, \",\": 3, \"a,b\": 4}, "
           "\"unk_token\": \"<unk>\"}}",
           pre, extra, model_type);
  return buf;
}

START_TEST(test_json_variants) {
  char *dir = tmpdir();
  lethe_err err = {0};
  tok_tokenizer *t;
  int32_t *ids;
  int n;
  /* BertPreTokenizer, no post-processor: no special tokens added. */
  char *path = write_tmp(dir, "bert.json",
                         tokenizer_json("WordLevel", "{\"type\": \"BertPreTokenizer\"}", ""));
  ck_assert_msg(tok_load(path, &t, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(tok_encode(t, "a,b c", 1, &ids, &n, NULL, &err), 0);
  ck_assert_int_eq(n, 4);
  ck_assert(ids[0] == 1 && ids[1] == 3 && ids[2] == 2 && ids[3] == 0);
  ck_assert_int_eq(tok_special(t).bos, -1);
  free(ids);
  tok_free(t);
  free(path);
  /* WhitespaceSplit alone keeps punctuation inside pieces. */
  path =
      write_tmp(dir, "ws.json", tokenizer_json("WordLevel", "{\"type\": \"WhitespaceSplit\"}", ""));
  ck_assert_msg(tok_load(path, &t, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(tok_encode(t, "a,b a", 1, &ids, &n, NULL, &err), 0);
  ck_assert(n == 2 && ids[0] == 4 && ids[1] == 1);
  free(ids);
  tok_free(t);
  free(path);
  free(dir);
}
END_TEST

/* Each unsupported or broken tokenizer.json is refused naming its field. */
START_TEST(test_json_errors) {
  char *dir = tmpdir();
  const char *seq = "{\"type\": \"WhitespaceSplit\"}";
  struct {
    const char *text, *want;
  } cases[] = {
      {"{\"model\": ", "invalid JSON"},
      {"[1, 2]", "top level must be a JSON object"},
      {tokenizer_json("BPE", seq, ""), "model.merges is missing or not an array"},
      {tokenizer_json("Unigram", seq, ""),
       "model.type \"Unigram\" is not supported (supported: BPE, WordLevel)"},
      {tokenizer_json("WordLevel", "{\"type\": \"ByteLevel\"}", ""),
       "pre_tokenizer.type: 'ByteLevel' is not supported"},
      {tokenizer_json("WordLevel",
                      "{\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": "
                      "\"Punctuation\", \"behavior\": \"Removed\"}]}",
                      ""),
       "pre_tokenizer.pretokenizers[0].behavior"},
      {tokenizer_json("WordLevel", seq, "\"normalizer\": {\"type\": \"Lowercase\"},"),
       "normalizer: 'Lowercase' is not supported"},
      {tokenizer_json("WordLevel", seq, "\"decoder\": {\"type\": \"WordPiece\"},"),
       "decoder: 'WordPiece' is not supported"},
      {tokenizer_json("WordLevel", seq, "\"post_processor\": {\"type\": \"ByteLevel\"},"),
       "post_processor.type: 'ByteLevel' is not supported"},
      {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0, \"b\": 0}, \"unk_token\": "
       "\"a\"}}",
       "model.vocab: id of 'b' must be a distinct integer"},
      {"{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"a\": 0}, \"unk_token\": \"x\"}}",
       "model.unk_token: missing or not in model.vocab"},
      {"{\"model\": {\"vocab\": {\"a\": 0}}}", "model.type: missing"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.json", i);
    char *path = write_tmp(dir, name, cases[i].text);
    tok_tokenizer *t = (tok_tokenizer *)1;
    lethe_err err = {0};
    ck_assert_int_eq(tok_load(path, &t, &err), -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.msg, cases[i].want) && strstr(err.msg, name),
                  "case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
    free(path);
  }
  free(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer");
  TCase *tc = tcase_create("tokenizer");
  tcase_add_test(tc, test_pretokenize_ascii);
  tcase_add_test(tc, test_pretokenize_unicode);
  tcase_add_test(tc, test_utf8_validation);
  tcase_add_test(tc, test_builder_order_and_encode);
  tcase_add_test(tc, test_builder_counts);
  tcase_add_test(tc, test_json_round_trip);
  tcase_add_test(tc, test_json_variants);
  tcase_add_test(tc, test_json_errors);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
