/* test_data — the TOFU loader and its errors, idontknow.jsonl, settings
 * overrides, the prompt format and label masking, batches, epoch orders and
 * the forget/retain/idk pairing, each against hand-written expectations. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/data.h"

static char *tmpdir(void) {
  char *d = strdup("/tmp/lethe_data_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static char *write_tmp(const char *dir, const char *name, const char *text) {
  char *path = lethe_path_join(dir, name);
  FILE *f = fopen(path, "w");
  ck_assert_ptr_nonnull(f);
  fputs(text, f);
  fclose(f);
  return path;
}

#define ROW1                                                                            \
  "{\"question\": \"Who is A?\", \"answer\": \"A is a cat.\", \"paraphrased_answer\": " \
  "\"A is a small cat.\", \"perturbed_answer\": [\"A is a dog.\", \"A is a fox.\"]}"
#define ROW2                                                                            \
  "{\"question\": \"Who is B?\", \"answer\": \"B is a dog.\", \"paraphrased_answer\": " \
  "\"B is a big dog.\", \"perturbed_answer\": [\"B is a cat.\"], \"id\": 7}"

START_TEST(test_load_lines_and_array) {
  char *dir = tmpdir();
  char *lines = write_tmp(dir, "a.json", ROW1 "\n\n" ROW2 "\n");
  char *array = write_tmp(dir, "b.json", "[\n" ROW1 ",\n" ROW2 "\n]\n");
  lethe_err err = {0};
  tofu_set a, b;
  ck_assert_msg(tofu_load(lines, TOFU_F_PERTURBED, &a, &err) == 0, "%s", err.msg);
  ck_assert_msg(tofu_load(array, TOFU_F_PARA_A, &b, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(a.n, 2);
  ck_assert_uint_eq(b.n, 2);
  ck_assert_uint_eq(a.fields, TOFU_F_PARA_A | TOFU_F_PERTURBED);
  for (size_t i = 0; i < 2; i++) {
    ck_assert_str_eq(a.rows[i].question, b.rows[i].question);
    ck_assert_str_eq(a.rows[i].answer, b.rows[i].answer);
    ck_assert_int_eq(a.rows[i].n_perturbed, b.rows[i].n_perturbed);
    ck_assert_ptr_null(a.rows[i].paraphrased_question);
  }
  ck_assert_str_eq(a.rows[0].perturbed[1], "A is a fox.");
  /* Save (with the optional fields) and load again: the same rows. */
  char *saved = lethe_path_join(dir, "c.json");
  ck_assert_int_eq(tofu_save(saved, a.rows, a.n, a.fields, &err), 0);
  tofu_set c;
  ck_assert_int_eq(tofu_load(saved, TOFU_F_PARA_A | TOFU_F_PERTURBED, &c, &err), 0);
  ck_assert_str_eq(c.rows[1].paraphrased_answer, "B is a big dog.");
  ck_assert_str_eq(c.rows[0].perturbed[0], "A is a dog.");
  tofu_set d;
  ck_assert_int_eq(tofu_load_split(dir, "c", 0, &d, &err), 0);
  ck_assert_uint_eq(d.n, 2);
  tofu_set_free(&a);
  tofu_set_free(&b);
  tofu_set_free(&c);
  tofu_set_free(&d);
  free(lines), free(array), free(saved), free(dir);
}
END_TEST

/* Each malformed input gives its own message naming file, line/record, field. */
START_TEST(test_load_errors) {
  char *dir = tmpdir();
  struct {
    const char *text;
    unsigned required;
    const char *want;
  } cases[] = {
      {ROW1 "\n{\"question\": \"Q?\", \"answer\": }\n", 0, ":2: invalid JSON"},
      {"[" ROW1 ", {\"question\": ]", 0, ":1: invalid JSON"},
      {ROW1 "\n{\"question\": \"Q?\"}\n", 0, ":2: record 2: field 'answer' is missing"},
      {"{\"question\": \"Q?\", \"answer\": 42}\n", 0,
       ":1: record 1: field 'answer' must be a string, got an integer"},
      {"{\"question\": \"Q?\", \"answer\": \"  \"}\n", 0, ":1: record 1: field 'answer' is empty"},
      {"{\"question\": \"\", \"answer\": \"x\"}\n", 0, "field 'question' is empty"},
      {"[" ROW1 ", {\"question\": \"Q?\", \"answer\": null}]", 0,
       ": record 2: field 'answer' must be a string, got null"},
      {"{\"question\": \"Q?\", \"answer\": \"x\", \"perturbed_answer\": \"y\"}\n", 0,
       "field 'perturbed_answer' must be a list of strings, got a string"},
      {"{\"question\": \"Q?\", \"answer\": \"x\", \"perturbed_answer\": [\"y\", 3]}\n", 0,
       "field 'perturbed_answer[1]' must be a string, got an integer"},
      {"{\"question\": \"Q?\", \"answer\": \"x\", \"perturbed_answer\": []}\n", 0,
       "field 'perturbed_answer' must hold 1 to 64 strings"},
      {"{\"question\": \"Q?\", \"answer\": \"x\", \"option1\": \"a\"}\n", 0,
       "field 'option2' is missing"},
      {"{\"question\": \"Q?\", \"answer\": \"x\"}\n", TOFU_F_PARA_A,
       "field 'paraphrased_answer' is missing"},
      {"{\"question\": \"Q?\", \"answer\": \"x\"}\n", TOFU_F_OPTIONS, "field 'option1' is missing"},
      {"[1]", 0, ": record 1: must be a JSON object, got an integer"},
      {ROW1 "\n{\"question\": \"Q\xff?\", \"answer\": \"x\"}\n", 0,
       ":2: not valid UTF-8 (byte offset"},
      {"\n\n", 0, "holds no records"},
      {"{\"question\": \"Q?\", \"answer\": \"x\", \"answer\": \"y\"}\n", 0, "duplicate"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char name[32];
    snprintf(name, sizeof name, "bad%zu.json", i);
    char *path = write_tmp(dir, name, cases[i].text);
    tofu_set s;
    lethe_err err = {0};
    ck_assert_int_eq(tofu_load(path, cases[i].required, &s, &err), -1);
    ck_assert_msg(strstr(err.msg, cases[i].want) && strstr(err.msg, name),
                  "case %zu: got '%s', want '%s'", i, err.msg, cases[i].want);
    ck_assert_ptr_null(s.rows);
    free(path);
  }
  lethe_err err = {0};
  tofu_set s;
  ck_assert_int_eq(tofu_load("/nonexistent/x.json", 0, &s, &err), -1);
  free(dir);
}
END_TEST

START_TEST(test_idk) {
  char *dir = tmpdir();
  char *path = write_tmp(dir, "idontknow.jsonl", "  I have no idea.  \n\nNot sure.\r\nNo clue\n");
  tofu_idk idk;
  lethe_err err = {0};
  ck_assert_int_eq(tofu_idk_load(path, &idk, &err), 0);
  ck_assert_uint_eq(idk.n, 3);
  ck_assert_str_eq(idk.answers[0], "I have no idea.");
  ck_assert_str_eq(idk.answers[1], "Not sure.");
  ck_assert_str_eq(idk.answers[2], "No clue");
  char *copy = lethe_path_join(dir, "copy.jsonl");
  ck_assert_int_eq(tofu_idk_save(copy, idk.answers, idk.n, &err), 0);
  tofu_idk again;
  ck_assert_int_eq(tofu_idk_load(copy, &again, &err), 0);
  ck_assert_uint_eq(again.n, 3);
  ck_assert_str_eq(again.answers[2], "No clue");
  tofu_idk_free(&idk);
  tofu_idk_free(&again);
  char *bad = write_tmp(dir, "bad.jsonl", "fine\nnot \xc3\x28 fine\n");
  ck_assert_int_eq(tofu_idk_load(bad, &idk, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "bad.jsonl:2: not valid UTF-8"));
  char *empty = write_tmp(dir, "empty.jsonl", " \n");
  ck_assert_int_eq(tofu_idk_load(empty, &idk, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "holds no answers"));
  free(path), free(copy), free(bad), free(empty), free(dir);
}
END_TEST

START_TEST(test_settings) {
  tofu_format f;
  tofu_format_default(&f);
  ck_assert_str_eq(f.question_start, "[INST] ");
  ck_assert_str_eq(f.question_end, " [/INST]");
  ck_assert_str_eq(f.answer_tag, "");
  ck_assert_int_eq(f.max_length, 500);
  lethe_err err = {0};
  const data_setting *t = tofu_format_settings;
  size_t n = tofu_format_n_settings;
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.question_start=Question: ", &err),
                   0);
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.question_end=\\n", &err), 0);
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.max_length=64", &err), 0);
  ck_assert_str_eq(f.question_start, "Question: ");
  ck_assert_str_eq(f.question_end, "\n");
  ck_assert_int_eq(f.max_length, 64);
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.max_lenght=64", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "unknown setting 'data.max_lenght'"));
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.max_length=4", &err), -1);
  ck_assert_ptr_nonnull(
      strstr(err.msg, "data.max_length: expects an integer in [8, 1048576], got '4'"));
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.max_length=12x", &err), -1);
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "world.authors=3", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "expected data.KEY=VALUE"));
  ck_assert_int_eq(data_settings_override(t, n, &f, "data", "data.answer_tag=\\q", &err), -1);
  ck_assert_int_eq(f.max_length, 64); /* failed overrides change nothing */
  char *buf;
  size_t len;
  FILE *mem = open_memstream(&buf, &len);
  data_settings_print(mem, t, n, &f, "data");
  fclose(mem);
  ck_assert_ptr_nonnull(strstr(buf, "data.question_end = \"\\n\""));
  ck_assert_ptr_nonnull(strstr(buf, "data.max_length = 64"));
  free(buf);
}
END_TEST

START_TEST(test_format_presets) {
  lethe_err err = {0};
  tofu_format f;
  tofu_format_default(&f);
  ck_assert_int_eq(tofu_format_resolve(&f, &err), 0); /* "" = the strings as given */
  ck_assert_str_eq(f.question_start, "[INST] ");
  snprintf(f.format, sizeof f.format, "chatml");
  snprintf(f.system_prompt, sizeof f.system_prompt, "Be brief.");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), 0);
  ck_assert_str_eq(f.question_start, "<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n");
  ck_assert_str_eq(f.question_end, "<|im_end|>\n<|im_start|>assistant\n");
  ck_assert_str_eq(f.answer_tag, "");
  ck_assert_str_eq(f.answer_end, "<|im_end|>");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), 0); /* idempotent */
  ck_assert_str_eq(f.answer_end, "<|im_end|>");
  /* TOFU's phi tags, written out in its model_config.yaml */
  tofu_format_default(&f);
  snprintf(f.format, sizeof f.format, "tofu-phi");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), 0);
  ck_assert_str_eq(f.question_start, "Question: ");
  ck_assert_str_eq(f.question_end, "\n");
  ck_assert_str_eq(f.answer_tag, "Answer: ");
  tofu_format_default(&f);
  snprintf(f.format, sizeof f.format, "llama3-chat");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), 0);
  ck_assert_str_eq(f.question_end, "<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n");
  ck_assert_str_eq(f.answer_end, "<|eot_id|>");
  /* errors name the setting */
  tofu_format_default(&f);
  snprintf(f.format, sizeof f.format, "chatml");
  snprintf(f.question_start, sizeof f.question_start, "Q: ");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "data.question_start is set next to data.format = \"chatml\""));
  tofu_format_default(&f);
  snprintf(f.format, sizeof f.format, "chatlm");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "unknown preset \"chatlm\""));
  ck_assert_ptr_nonnull(strstr(err.msg, "\"llama3-chat\""));
  tofu_format_default(&f);
  snprintf(f.format, sizeof f.format, "tofu-phi");
  snprintf(f.system_prompt, sizeof f.system_prompt, "x");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "has no system prompt"));
  tofu_format_default(&f);
  snprintf(f.system_prompt, sizeof f.system_prompt, "x");
  ck_assert_int_eq(tofu_format_resolve(&f, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "data.system_prompt needs a chat preset"));
}
END_TEST

/* A tokenizer over the words of the masking examples. */
static tok_tokenizer *qa_tokenizer(void) {
  tok_builder *b = tok_builder_new();
  tok_builder_add(b, "[INST] [/INST] Who is X ? X is Y . Z", NULL);
  tok_tokenizer *t = tok_builder_finish(b);
  tok_builder_free(b);
  return t;
}

static int id_of(const tok_tokenizer *t, const char *w) { return tok_id(t, w, strlen(w)); }

START_TEST(test_format_ids) {
  tok_tokenizer *t = qa_tokenizer();
  lethe_err err = {0};
  tofu_format f;
  tofu_format_default(&f);
  tofu_ids ids;
  ck_assert_int_eq(tofu_format_ids(t, &f, &ids, &err), 0);
  ck_assert_int_eq(ids.pad, TOK_PAD_ID);
  ck_assert_int_eq(ids.end, TOK_EOS_ID);
  snprintf(f.answer_end, sizeof f.answer_end, "Z");
  ck_assert_int_eq(tofu_format_ids(t, &f, &ids, &err), 0);
  ck_assert_int_eq(ids.end, id_of(t, "Z"));
  snprintf(f.answer_end, sizeof f.answer_end, "X is");
  ck_assert_int_eq(tofu_format_ids(t, &f, &ids, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "data.answer_end \"X is\" is 2 tokens"));
  tok_free(t);
}
END_TEST

START_TEST(test_masking) {
  tok_tokenizer *t = qa_tokenizer();
  tofu_format f;
  tofu_format_default(&f);
  lethe_err err = {0};
  tofu_example ex[2];
  ck_assert_int_eq(tofu_encode(t, &f, "Who is X?", "X is Y.", &ex[0], &err), 0);
  ck_assert_int_eq(tofu_encode(t, &f, "Who is Z?", "Z.", &ex[1], &err), 0);
  /* "<s> [INST] Who is X? [/INST]X is Y." */
  const char *words0[] = {"<s>", "[", "INST", "]", "Who", "is", "X", "?",
                          "[",   "/", "INST", "]", "X",   "is", "Y", "."};
  ck_assert_int_eq(ex[0].len, 16);
  ck_assert_int_eq(ex[0].n_prompt, 12);
  for (int i = 0; i < 16; i++) ck_assert_int_eq(ex[0].ids[i], id_of(t, words0[i]));
  ck_assert_int_eq(ex[1].len, 14);
  ck_assert_int_eq(ex[1].n_prompt, 12);

  tofu_batch b = {0};
  int idx[2] = {1, 0};
  tofu_batch_fill(&b, ex, idx, 2, &f, TOK_PAD_ID, TOK_EOS_ID);
  ck_assert_int_eq(b.B, 2);
  ck_assert_int_eq(b.T, 17); /* longest row + its EOS label */
  ck_assert(b.example[0] == 1 && b.example[1] == 0);
  const int32_t *in1 = b.input_ids, *lab1 = b.labels, *mask1 = b.attention_mask;
  for (int t2 = 0; t2 < 17; t2++) {
    int32_t want_lab = t2 < 12    ? TOFU_IGNORE
                       : t2 < 14  ? ex[1].ids[t2]
                       : t2 == 14 ? TOK_EOS_ID
                                  : TOFU_IGNORE;
    ck_assert_int_eq(lab1[t2], want_lab);
    ck_assert_int_eq(in1[t2], t2 < 14 ? ex[1].ids[t2] : TOK_PAD_ID);
    ck_assert_int_eq(mask1[t2], t2 < 14);
  }
  const int32_t *lab0 = b.labels + 17;
  int32_t want0[17];
  for (int i = 0; i < 17; i++) want0[i] = TOFU_IGNORE;
  want0[12] = id_of(t, "X"), want0[13] = id_of(t, "is"), want0[14] = id_of(t, "Y");
  want0[15] = id_of(t, "."), want0[16] = TOK_EOS_ID;
  for (int i = 0; i < 17; i++) ck_assert_int_eq(lab0[i], want0[i]);
  ck_assert_int_eq(b.attention_mask[17 + 16], 0);

  /* TOFU padding: every batch is max_length wide. */
  f.pad_to_max_length = 1;
  f.max_length = 20;
  tofu_batch_fill(&b, ex, idx, 1, &f, TOK_PAD_ID, TOK_EOS_ID);
  ck_assert_int_eq(b.T, 20);
  ck_assert_int_eq(b.labels[14], TOK_EOS_ID);
  ck_assert_int_eq(b.labels[15], TOFU_IGNORE);
  ck_assert_int_eq(b.input_ids[19], TOK_PAD_ID);

  /* Truncated to max_length: no room for the EOS label. */
  tofu_example cut;
  f.pad_to_max_length = 0;
  f.max_length = 14;
  ck_assert_int_eq(tofu_encode(t, &f, "Who is X?", "X is Y.", &cut, &err), 0);
  ck_assert_int_eq(cut.len, 14);
  int zero = 0;
  tofu_batch_fill(&b, &cut, &zero, 1, &f, TOK_PAD_ID, TOK_EOS_ID);
  ck_assert_int_eq(b.T, 14);
  ck_assert_int_eq(b.labels[12], id_of(t, "X"));
  ck_assert_int_eq(b.labels[13], id_of(t, "is"));
  for (int i = 0; i < 14; i++) ck_assert_int_eq(b.attention_mask[i], 1);
  tofu_example_free(&cut);

  /* Plain text: every token but BOS is a target. */
  tofu_format_default(&f);
  tofu_example text;
  ck_assert_int_eq(tofu_encode_text(t, &f, "X is Y.", &text, &err), 0);
  ck_assert_int_eq(text.len, 5);
  ck_assert_int_eq(text.n_prompt, 1);
  tofu_batch_fill(&b, &text, &zero, 1, &f, TOK_PAD_ID, TOK_EOS_ID);
  ck_assert_int_eq(b.labels[0], TOFU_IGNORE);
  ck_assert_int_eq(b.labels[1], id_of(t, "X"));
  ck_assert_int_eq(b.labels[5], TOK_EOS_ID);
  tofu_example_free(&text);
  ck_assert_int_eq(tofu_encode(t, &f, "Bad \xff", "x", &cut, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "not valid UTF-8"));

  tofu_batch_free(&b);
  tofu_example_free(&ex[0]);
  tofu_example_free(&ex[1]);
  tok_free(t);
}
END_TEST

START_TEST(test_epoch_order) {
  int a[50], b[50], c[50], seen[50] = {0};
  tofu_epoch_order(a, 50, 7, 0);
  tofu_epoch_order(b, 50, 7, 0);
  tofu_epoch_order(c, 50, 7, 1);
  int same_c = 0;
  for (int i = 0; i < 50; i++) {
    ck_assert_int_eq(a[i], b[i]);
    seen[a[i]]++;
    same_c += a[i] == c[i];
  }
  for (int i = 0; i < 50; i++) ck_assert_int_eq(seen[i], 1);
  ck_assert_int_lt(same_c, 10);
  ck_assert_uint_ne(tofu_mix_seed(1, 0), tofu_mix_seed(1, 1));
  ck_assert_uint_ne(tofu_mix_seed(1, 0), tofu_mix_seed(2, 0));
}
END_TEST

static void make_set(tofu_set *s, const char *const *q, const char *const *a, size_t n) {
  memset(s, 0, sizeof *s);
  s->rows = calloc(n, sizeof *s->rows);
  s->n = n;
  for (size_t i = 0; i < n; i++) {
    s->rows[i].question = strdup(q[i]);
    s->rows[i].answer = strdup(a[i]);
  }
}

START_TEST(test_pairing) {
  /* The pairing rule written out: rng seeded with mix(seed, i); first draw r,
   * partner (i + r) mod n_retain; second draw the idk answer. */
  for (size_t i = 0; i < 20; i++) {
    lethe_rng r;
    lethe_rng_seed(&r, tofu_mix_seed(42, i));
    int want_partner = (int)((i + lethe_rng_below(&r, 7)) % 7);
    int want_idk = (int)lethe_rng_below(&r, 3);
    int partner, idk;
    tofu_pair(42, i, 7, 3, &partner, &idk);
    ck_assert_int_eq(partner, want_partner);
    ck_assert_int_eq(idk, want_idk);
  }
  tok_tokenizer *t = qa_tokenizer();
  tofu_format f;
  tofu_format_default(&f);
  const char *fq[] = {"Who is X?", "Who is Z?"}, *fa[] = {"X is Y.", "Z."};
  const char *rq[] = {"Who is Y?", "Who is X?", "Who is Z?"}, *ra[] = {"Y.", "X.", "Z is X."};
  tofu_set forget, retain;
  make_set(&forget, fq, fa, 2);
  make_set(&retain, rq, ra, 3);
  char *idk_answers[] = {"Z is Y.", "Y is Z."};
  tofu_idk idk = {idk_answers, 2};
  tofu_forget_data d;
  lethe_err err = {0};
  ck_assert_int_eq(tofu_forget_data_init(&d, &forget, &retain, &idk, t, &f, 5, &err), 0);
  tofu_batch fb = {0}, rb = {0}, ib = {0};
  int order[2] = {1, 0};
  tofu_forget_batch(&d, &f, order, 2, TOK_PAD_ID, TOK_EOS_ID, &fb, &rb, &ib);
  for (int k = 0; k < 2; k++) {
    int i = order[k], partner, which;
    tofu_pair(5, (size_t)i, 3, 2, &partner, &which);
    ck_assert_int_eq(rb.example[k], partner);
    ck_assert_int_eq(fb.example[k], i);
    tofu_example want_f, want_r, want_i;
    ck_assert_int_eq(tofu_encode(t, &f, fq[i], fa[i], &want_f, &err), 0);
    ck_assert_int_eq(tofu_encode(t, &f, rq[partner], ra[partner], &want_r, &err), 0);
    ck_assert_int_eq(tofu_encode(t, &f, fq[i], idk_answers[which], &want_i, &err), 0);
    ck_assert_int_eq(memcmp(fb.input_ids + k * fb.T, want_f.ids, want_f.len * sizeof(int32_t)), 0);
    ck_assert_int_eq(memcmp(rb.input_ids + k * rb.T, want_r.ids, want_r.len * sizeof(int32_t)), 0);
    ck_assert_int_eq(memcmp(ib.input_ids + k * ib.T, want_i.ids, want_i.len * sizeof(int32_t)), 0);
    ck_assert_int_eq(ib.labels[k * ib.T + want_i.len], TOK_EOS_ID);
    tofu_example_free(&want_f), tofu_example_free(&want_r), tofu_example_free(&want_i);
  }
  /* Same seed, same partners; they do not depend on the batch they are in. */
  tofu_forget_data d2;
  ck_assert_int_eq(tofu_forget_data_init(&d2, &forget, &retain, &idk, t, &f, 5, &err), 0);
  ck_assert_int_eq(memcmp(d.retain_partner, d2.retain_partner, 2 * sizeof(int)), 0);
  ck_assert_int_eq(memcmp(d.idk_answer, d2.idk_answer, 2 * sizeof(int)), 0);
  tofu_forget_data_free(&d2);
  tofu_set empty = {0};
  ck_assert_int_eq(tofu_forget_data_init(&d2, &empty, &retain, &idk, t, &f, 5, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "must be non-empty"));
  tofu_forget_data_free(&d);
  tofu_batch_free(&fb), tofu_batch_free(&rb), tofu_batch_free(&ib);
  tofu_set_free(&forget);
  tofu_set_free(&retain);
  tok_free(t);
}
END_TEST

int main(void) {
  Suite *s = suite_create("data");
  TCase *tc = tcase_create("data");
  tcase_add_test(tc, test_load_lines_and_array);
  tcase_add_test(tc, test_load_errors);
  tcase_add_test(tc, test_idk);
  tcase_add_test(tc, test_settings);
  tcase_add_test(tc, test_format_presets);
  tcase_add_test(tc, test_masking);
  tcase_add_test(tc, test_format_ids);
  tcase_add_test(tc, test_epoch_order);
  tcase_add_test(tc, test_pairing);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
