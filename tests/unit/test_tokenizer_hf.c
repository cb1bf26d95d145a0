/* test_tokenizer_hf — Hugging Face BPE tokenizer.json: byte-level and
 * SentencePiece-style files under tests/data/tokenizer (expected ids from HF
 * tokenizers' Rust core, tests/tokenizer/oracle.mjs's library), the split
 * behaviours, Metaspace, Digits, the Llama-3 regex, normalizers, decoders,
 * tokenizer_config.json, and the errors that name the refused field. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tokenizer/tok_hf.h"

#define DATA LETHE_TEST_DATA "/tokenizer/"

static tok_tokenizer *load(const char *name) {
  tok_tokenizer *t = NULL;
  lethe_err err = {0};
  ck_assert_msg(tok_load_dir(name, &t, &err) == 0, "%s", err.msg);
  return t;
}

/* Encodes text and compares with want (n ids). */
static void expect_ids(const tok_tokenizer *t, const char *text, int add_special,
                       const int32_t *want, int n) {
  int32_t *ids;
  int got;
  lethe_err err = {0};
  ck_assert_int_eq(tok_encode(t, text, add_special, &ids, &got, NULL, &err), 0);
  ck_assert_msg(got == n, "'%s': %d ids, want %d", text, got, n);
  for (int i = 0; i < n; i++)
    ck_assert_msg(ids[i] == want[i], "'%s': id %d is %d, want %d", text, i, ids[i], want[i]);
  free(ids);
}
#define IDS(...) ((const int32_t[]){__VA_ARGS__}), (int)(sizeof((int32_t[]){__VA_ARGS__}) / 4)

static void expect_decode(const tok_tokenizer *t, const int32_t *ids, int n, int skip,
                          const char *want) {
  char *s = tok_decode(t, ids, n, skip);
  ck_assert_str_eq(s, want);
  free(s);
}

START_TEST(test_byte_level_bpe) {
  tok_tokenizer *t = load(DATA "bpe-bytelevel");
  expect_ids(t, "hello world", 1, IDS(15, 11, 4, 14, 2, 7)); /* "wor": normalized added token */
  expect_ids(t, "hl", 1, IDS(15, 13));                      /* ignore_merges: whole word first */
  expect_ids(t, "hz", 1, IDS(15, 0));                       /* no unk: z is dropped */
  expect_ids(t, "<s>hello", 1, IDS(15, 15, 11));
  expect_ids(t, "a   b", 0, IDS(4, 4, 4)); /* \s+(?!\S) gives back the last space */
  expect_decode(t, IDS(15, 11, 4, 14, 2, 7), 0, "<s>hello world");
  expect_decode(t, IDS(15, 13, 9, 3), 1, "hlllo");
  ck_assert_int_eq(tok_special(t).bos, 15); /* no tokenizer_config.json: the entry "<s>" */
  tok_free(t);
}
END_TEST

START_TEST(test_sentencepiece_bpe) {
  tok_tokenizer *t = load(DATA "bpe-sp");
  /* tokenizer_config.json: add_bos_token and add_eos_token rebuild the template */
  expect_ids(t, "ab ab", 1, IDS(1, 10, 10, 2));
  expect_ids(t, "\xC3\xA9", 0, IDS(5, 3, 4)); /* byte fallback */
  expect_ids(t, "xy", 0, IDS(5, 0));          /* unknown, fused */
  expect_ids(t, "ab<s>ab", 0, IDS(10, 1, 10)); /* Prepend on each segment */
  expect_ids(t, "", 0, NULL, 0);
  char longword[601]; /* 601 symbols: merged through the heap, not the scan */
  int32_t want[300];
  for (int i = 0; i < 300; i++) memcpy(longword + 2 * i, "ab", 2), want[i] = i ? 9 : 10;
  longword[600] = '\0';
  expect_ids(t, longword, 0, want, 300);
  expect_decode(t, IDS(1, 10, 10), 0, "<s> ab ab");
  expect_decode(t, IDS(1, 10, 10), 1, "ab ab");
  expect_decode(t, IDS(5, 3, 4), 0, "\xC3\xA9");
  expect_decode(t, IDS(3, 5, 4), 0, "\xEF\xBF\xBD \xEF\xBF\xBD"); /* invalid byte runs */
  tok_special_ids s = tok_special(t);
  ck_assert_int_eq(s.bos, 1);
  ck_assert_int_eq(s.eos, 2);
  ck_assert_int_eq(s.unk, 0);
  ck_assert_int_eq(s.pad, -1);
  lethe_err err = {0};
  ck_assert_int_eq(tok_save(t, "/nonexistent/x.json", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "only word-level tokenizers are written"));
  tok_free(t);
}
END_TEST

/* Pre-tokenizes text with one stage and joins the pieces with '|'. */
static char *pretok(const tok_pretok *stage, const char *text, char *out) {
  tok_pieces a = {0}, b = {0};
  tok_buf_put(&a.text, text, strlen(text));
  tok_pieces_add(&a, 0, strlen(text), 1);
  tok_pretokenize_hf(stage, 1, &a, &b);
  out[0] = '\0';
  for (int i = 0; i < a.n; i++)
    sprintf(out + strlen(out), "%s%.*s", i ? "|" : "", (int)a.v[i].len, a.text.s + a.v[i].off);
  tok_pieces_free(&a);
  tok_pieces_free(&b);
  return out;
}

START_TEST(test_split_behaviors) {
  static const char *const want[] = {
      [TOK_SPLIT_REMOVED] = "the|final|countdown",
      [TOK_SPLIT_ISOLATED] = "the|-|final|-|-|countdown",
      [TOK_SPLIT_MERGED_PREV] = "the-|final-|-|countdown",
      [TOK_SPLIT_MERGED_NEXT] = "the|-final|-|-countdown",
      [TOK_SPLIT_CONTIGUOUS] = "the|-|final|--|countdown",
  };
  char out[256];
  for (int b = 0; b < 5; b++) {
    tok_pretok st = {.kind = TOK_PRE_SPLIT, .behavior = (tok_split_behavior)b,
                     .pattern = {.literal = "-", .n_literal = 1}};
    ck_assert_str_eq(pretok(&st, "the-final--countdown", out), want[b]);
  }
  tok_pretok inv = {.kind = TOK_PRE_SPLIT, .behavior = TOK_SPLIT_REMOVED, .invert = 1,
                    .pattern = {.literal = "-", .n_literal = 1}};
  ck_assert_str_eq(pretok(&inv, "a-b--c", out), "-|-|-");
  tok_pretok runs = {.kind = TOK_PRE_SPLIT, .behavior = TOK_SPLIT_CONTIGUOUS, .invert = 1,
                     .pattern = {.literal = "e", .n_literal = 1}};
  ck_assert_str_eq(pretok(&runs, "meet", out), "m|ee|t"); /* runs of either kind merge */
}
END_TEST

START_TEST(test_regex_and_metaspace) {
  lethe_err err = {0};
  const char *l3 = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
                   "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
  tok_pretok st = {.kind = TOK_PRE_SPLIT, .behavior = TOK_SPLIT_ISOLATED};
  st.pattern.regex = tok_regex_new(l3, strlen(l3), &err);
  ck_assert_ptr_nonnull(st.pattern.regex);
  char out[256];
  ck_assert_str_eq(pretok(&st, "a   b", out), "a|  | b");
  ck_assert_str_eq(pretok(&st, "(hello IT'S 12345", out), "(hello| IT|'S| |123|45");
  ck_assert_str_eq(pretok(&st, "x\xC2\x85 y", out), "x|\xC2\x85| y"); /* U+0085 is \s */
  tok_pattern_free(&st.pattern);
  ck_assert_ptr_null(tok_regex_new("(", 1, &err));
  tok_pretok ms = {.kind = TOK_PRE_METASPACE, .replacement = "\xE2\x96\x81", .split = 1,
                   .prepend_scheme = TOK_PREPEND_FIRST};
  ck_assert_str_eq(pretok(&ms, "hi  there", out),
                   "\xE2\x96\x81hi|\xE2\x96\x81|\xE2\x96\x81there");
  tok_pretok dg = {.kind = TOK_PRE_DIGITS, .individual_digits = 1};
  ck_assert_str_eq(pretok(&dg, "a12b", out), "a|1|2|b");
  dg.individual_digits = 0;
  ck_assert_str_eq(pretok(&dg, "a12b", out), "a|12|b");
  tok_pretok bl = {.kind = TOK_PRE_BYTELEVEL, .add_prefix_space = 1};
  ck_assert_str_eq(pretok(&bl, "a\n", out), "\xC4\xA0" "a\xC4\x8A"); /* Ġ a Ċ */
}
END_TEST

START_TEST(test_normalizers) {
  tok_normalizer v[3] = {{.kind = TOK_NORM_NFC}, {.kind = TOK_NORM_LOWERCASE},
                         {.kind = TOK_NORM_STRIP, .left = 1, .right = 1}};
  tok_buf out = {0};
  tok_normalize(v, 3, "  CAFE\xCC\x81\t", 8, 0, &out);
  ck_assert_str_eq(out.s, "caf\xC3\xA9");
  tok_normalizer k = {.kind = TOK_NORM_NFKD};
  tok_normalize(&k, 1, "\xEF\xAC\x81", 3, 0, &out); /* the ﬁ ligature */
  ck_assert_str_eq(out.s, "fi");
  tok_buf_free(&out);
}
END_TEST

/* Writes a BPE tokenizer.json with one part replaced and checks the error. */
START_TEST(test_refused_fields) {
  char dir[] = "/tmp/lethe_tokhf_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  struct {
    const char *part, *want;
  } cases[] = {
      {"\"model\": {\"type\": \"Unigram\", \"vocab\": []}",
       "model.type \"Unigram\" is not supported (supported: BPE, WordLevel)"},
      {"\"normalizer\": {\"type\": \"BertNormalizer\"}",
       "normalizer.type \"BertNormalizer\" is not supported"},
      {"\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Digits\"}, "
       "{\"type\": \"UnicodeScripts\"}]}",
       "pre_tokenizer.pretokenizers[1].type \"UnicodeScripts\" is not supported"},
      {"\"post_processor\": {\"type\": \"RobertaProcessing\"}",
       "post_processor.type \"RobertaProcessing\" is not supported"},
      {"\"decoder\": {\"type\": \"WordPiece\"}", "decoder.type \"WordPiece\" is not supported"},
      {"\"pre_tokenizer\": {\"type\": \"Split\", \"pattern\": {\"Regex\": \"(\"}, \"behavior\": "
       "\"Isolated\"}",
       "pre_tokenizer.pattern.Regex: regex does not compile"},
      {"\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"a b\"]}",
       "model.merges[0] has a part or a result that is not in model.vocab"},
      {"\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [], \"dropout\": 0.1}",
       "model.dropout is not supported"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char path[128], text[1024];
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    int has_model = strstr(cases[i].part, "\"model\"") != NULL;
    snprintf(
        text, sizeof text, "{%s%s}", cases[i].part,
        has_model ? "" : ", \"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []}");
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    tok_tokenizer *t = NULL;
    lethe_err err = {0};
    ck_assert_int_eq(tok_load_dir(dir, &t, &err), -1);
    ck_assert_ptr_null(t);
    ck_assert_msg(strstr(err.msg, cases[i].want) && strstr(err.msg, "tokenizer.json"),
                  "case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
    unlink(path);
  }
  rmdir(dir);
}
END_TEST

/* tokenizer_config.json next to a good tokenizer.json: its errors. */
START_TEST(test_config_errors) {
  char dir[] = "/tmp/lethe_tokcfg_XXXXXX", path[128], json[128];
  ck_assert_ptr_nonnull(mkdtemp(dir));
  snprintf(json, sizeof json, "%s/tokenizer.json", dir);
  ck_assert_int_eq(symlink(DATA "bpe-sp/tokenizer.json", json), 0);
  struct {
    const char *text, *want;
  } cases[] = {
      {"{\"bos_token\": \"<bos>\"}", "tokenizer_config.json: bos_token '<bos>' is not a token"},
      {"{\"eos_token\": null, \"add_eos_token\": true}",
       "tokenizer_config.json: add_eos_token is true but the token is missing"},
      {"{\"add_bos_token\": \"yes\"}", "add_bos_token (add_bos_token) must be true or false"},
      {"[1]", "tokenizer_config.json: the top level must be a JSON object"},
      {"{", "tokenizer_config.json:1:1: invalid JSON"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    snprintf(path, sizeof path, "%s/tokenizer_config.json", dir);
    FILE *f = fopen(path, "w");
    fputs(cases[i].text, f);
    fclose(f);
    tok_tokenizer *t = NULL;
    lethe_err err = {0};
    ck_assert_int_eq(tok_load_dir(dir, &t, &err), -1);
    ck_assert_msg(strstr(err.msg, cases[i].want), "case %zu: got '%s', want '%s'", i, err.msg,
                  cases[i].want);
    unlink(path);
  }
  unlink(json);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("tokenizer_hf");
  TCase *tc = tcase_create("hf");
  tcase_add_test(tc, test_byte_level_bpe);
  tcase_add_test(tc, test_sentencepiece_bpe);
  tcase_add_test(tc, test_split_behaviors);
  tcase_add_test(tc, test_regex_and_metaspace);
  tcase_add_test(tc, test_normalizers);
  tcase_add_test(tc, test_refused_fields);
  tcase_add_test(tc, test_config_errors);
  suite_add_tcase(s, tc);
  SRunner *r = srunner_create(s);
  srunner_run_all(r, CK_NORMAL);
  int failed = srunner_ntests_failed(r);
  srunner_free(r);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
