/* test_muse_data — MUSE's files (data/muse.h): the reader's messages on bad
 * files (file, item or record, field), optional files, and the embedded
 * corpus: written in MUSE's layout and read back the same, the same bytes
 * for the same world, documents built from the right authors only, verbmem
 * items that are their document cut in two, knowmem answers that the
 * forget documents state, and privleak sets of equal size; the documents as
 * the rows of a MUSE unlearning run (tofu_forget_data_texts). */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/muse.h"

static char *tmpdir(void) {
  char *d = strdup("/tmp/lethe_muse_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static char *write_file(const char *dir, const char *name, const char *text) {
  char *path = lethe_path_join(dir, name);
  lethe_err err = {0};
  ck_assert_msg(lethe_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
  return path;
}

static void rm_rf(const char *dir) {
  char cmd[512];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Loading `text` as kind 0 (texts) or 1 (verbmem) fails with a message holding want. */
static void expect_error(const char *text, int verbmem, const char *want) {
  char *dir = tmpdir(), *path = write_file(dir, "f.json", text);
  lethe_err err = {0};
  int rc;
  if (verbmem) {
    muse_verbmem_set v;
    rc = muse_verbmem_load(path, &v, &err);
  } else {
    muse_texts t;
    rc = muse_texts_load(path, &t, &err);
  }
  ck_assert_int_ne(rc, 0);
  ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, path), "'%s' lacks '%s'", err.msg, want);
  free(path);
  rm_rf(dir);
  free(dir);
}

START_TEST(test_reader_errors) {
  expect_error("{\"a\": 1}", 0, "must be a JSON list, got an object");
  expect_error("[]", 0, "the list is empty");
  expect_error("[\"one\", 2]", 0, "item 2: must be a string, got an integer");
  expect_error("[\"one\", \"  \"]", 0, "item 2: is empty");
  expect_error("[\"one\",\n \"two\",\n oops]", 0, ":3: invalid JSON");
  expect_error("[\"ok\",\n \"\xff\"]", 0, ":2: not valid UTF-8");
  expect_error("[{\"prompt\": \"a\"}]", 1, "record 1: field 'gt' is missing");
  expect_error("[{\"prompt\": \"a\", \"gt\": \"b\"}, {\"prompt\": [], \"gt\": \"b\"}]", 1,
               "record 2: field 'prompt' must be a string, got a list");
  expect_error("[\"x\"]", 1, "record 1: must be a JSON object, got a string");
}
END_TEST

START_TEST(test_reader_reads) {
  char *dir = tmpdir();
  char *p = write_file(dir, "v.json", "[{\"prompt\": \"Once\", \"gt\": \"upon a time\", \"x\": 1}]");
  muse_verbmem_set v;
  lethe_err err = {0};
  ck_assert_msg(muse_verbmem_load(p, &v, &err) == 0, "%s", err.msg);
  ck_assert_uint_eq(v.n, 1);
  ck_assert_str_eq(v.rows[0].prompt, "Once");
  ck_assert_str_eq(v.rows[0].gt, "upon a time");
  muse_verbmem_free(&v);
  free(p);
  /* a directory without a required file names it */
  muse_corpus c;
  ck_assert_int_ne(muse_load(dir, &c, &err), 0);
  ck_assert_msg(strstr(err.msg, "raw/forget.json"), "%s", err.msg);
  rm_rf(dir);
  free(dir);
}
END_TEST

/* ---- the embedded corpus ------------------------------------------------------ */
static void tiny_world(world *w, uint64_t seed) {
  world_settings s;
  world_settings_default(&s);
  s.authors = 10;
  s.general_qa = 12;
  s.idk = 10;
  lethe_err err = {0};
  ck_assert_msg(world_generate(w, &s, seed, &err) == 0, "%s", err.msg);
}

static int mentions_any(const char *text, char *const *names, int first, int last) {
  for (int a = first; a < last; a++)
    if (strstr(text, names[a])) return 1;
  return 0;
}

static void same_texts(const muse_texts *a, const muse_texts *b) {
  ck_assert_uint_eq(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) ck_assert_str_eq(a->text[i], b->text[i]);
}

static void same_qa(const tofu_set *a, const tofu_set *b) {
  ck_assert_uint_eq(a->n, b->n);
  for (size_t i = 0; i < a->n; i++) {
    ck_assert_str_eq(a->rows[i].question, b->rows[i].question);
    ck_assert_str_eq(a->rows[i].answer, b->rows[i].answer);
  }
}

START_TEST(test_corpus_round_trip) {
  world w;
  tiny_world(&w, 3);
  muse_settings s;
  muse_settings_default(&s);
  muse_corpus c, back;
  lethe_err err = {0};
  ck_assert_msg(muse_generate(&w, 20, &s, &c, &err) == 0, "%s", err.msg);
  char *dir = tmpdir();
  ck_assert_msg(muse_write(&c, dir, &err) == 0, "%s", err.msg);
  ck_assert_msg(muse_load(dir, &back, &err) == 0, "%s", err.msg);
  same_texts(&c.forget, &back.forget);
  same_texts(&c.retain1, &back.retain1);
  same_texts(&c.retain2, &back.retain2);
  same_texts(&c.holdout, &back.holdout);
  same_texts(&c.privleak_forget, &back.privleak_forget);
  same_texts(&c.privleak_holdout, &back.privleak_holdout);
  same_texts(&c.privleak_retain, &back.privleak_retain);
  same_qa(&c.knowmem_forget, &back.knowmem_forget);
  same_qa(&c.knowmem_retain, &back.knowmem_retain);
  same_qa(&c.icl_forget, &back.icl_forget);
  same_qa(&c.icl_retain, &back.icl_retain);
  ck_assert_uint_eq(c.verbmem.n, back.verbmem.n);
  for (size_t i = 0; i < c.verbmem.n; i++) {
    ck_assert_str_eq(c.verbmem.rows[i].prompt, back.verbmem.rows[i].prompt);
    ck_assert_str_eq(c.verbmem.rows[i].gt, back.verbmem.rows[i].gt);
  }
  /* the same world writes the same bytes */
  char *dir2 = tmpdir();
  ck_assert_msg(muse_write(&c, dir2, &err) == 0, "%s", err.msg);
  char cmd[256];
  snprintf(cmd, sizeof cmd, "diff -r '%s' '%s' >/dev/null", dir, dir2);
  ck_assert_int_eq(system(cmd), 0);
  muse_corpus c2;
  world w2;
  tiny_world(&w2, 3);
  ck_assert_int_eq(muse_generate(&w2, 20, &s, &c2, &err), 0);
  same_texts(&c.forget, &c2.forget);
  muse_corpus_free(&c2);
  world_free(&w2);
  rm_rf(dir);
  rm_rf(dir2);
  free(dir);
  free(dir2);
  muse_corpus_free(&back);
  muse_corpus_free(&c);
  world_free(&w);
}
END_TEST

START_TEST(test_corpus_contents) {
  world w;
  tiny_world(&w, 5);
  muse_settings s;
  muse_settings_default(&s);
  s.doc_sentences = 6; /* 20 answers: documents of 6, 6, 6, 2 sentences */
  muse_corpus c;
  lethe_err err = {0};
  ck_assert_msg(muse_generate(&w, 20, &s, &c, &err) == 0, "%s", err.msg);
  /* 10 authors: forget20 = authors 8, 9; retain1 = 0..3; retain2 = 4..7 */
  ck_assert_uint_eq(c.forget.n, 2 * 4);
  ck_assert_uint_eq(c.retain1.n, 4 * 4);
  ck_assert_uint_eq(c.retain2.n, 4 * 4);
  ck_assert_uint_eq(c.holdout.n, (size_t)world_holdout_authors(10) * 4);
  for (size_t i = 0; i < c.forget.n; i++) {
    ck_assert(mentions_any(c.forget.text[i], w.author_names, 8, 10));
    ck_assert(!mentions_any(c.forget.text[i], w.author_names, 0, 8));
  }
  for (size_t i = 0; i < c.retain1.n; i++)
    ck_assert(!mentions_any(c.retain1.text[i], w.author_names, 4, 10));
  for (size_t i = 0; i < c.retain2.n; i++) {
    ck_assert(!mentions_any(c.retain2.text[i], w.author_names, 0, 4));
    ck_assert(!mentions_any(c.retain2.text[i], w.author_names, 8, 10));
  }
  for (size_t i = 0; i < c.holdout.n; i++) {
    ck_assert(mentions_any(c.holdout.text[i], w.holdout_names, 0, w.n_holdout_authors));
    ck_assert(!mentions_any(c.holdout.text[i], w.author_names, 0, 10));
  }
  /* the first forget document: the first 6 answers of author 8 */
  size_t first = 8 * 20;
  ck_assert_ptr_eq(strstr(c.forget.text[0], w.qa[first].qa.answer), c.forget.text[0]);
  ck_assert(strstr(c.forget.text[0], w.qa[first + 5].qa.answer) != NULL);
  ck_assert(strstr(c.forget.text[0], w.qa[first + 6].qa.answer) == NULL);
  /* verbmem: prompt + " " + gt is the document, cut after half of its words */
  ck_assert_uint_eq(c.verbmem.n, c.forget.n);
  for (size_t i = 0; i < c.verbmem.n; i++) {
    const muse_verbmem *v = &c.verbmem.rows[i];
    size_t lp = strlen(v->prompt);
    ck_assert(!strncmp(c.forget.text[i], v->prompt, lp) && c.forget.text[i][lp] == ' ');
    ck_assert_str_eq(c.forget.text[i] + lp + 1, v->gt);
    size_t wp = 1, wg = 1;
    for (const char *p = v->prompt; *p; p++) wp += *p == ' ';
    for (const char *p = v->gt; *p; p++) wg += *p == ' ';
    ck_assert_uint_eq(wp, (wp + wg) / 2);
  }
  /* knowmem: every forget answer is stated by a forget document */
  ck_assert_uint_eq(c.knowmem_forget.n, 40);
  ck_assert_uint_eq(c.knowmem_retain.n, 80);
  for (size_t q = 0; q < c.knowmem_forget.n; q++) {
    int found = 0;
    for (size_t d = 0; d < c.forget.n && !found; d++)
      found = strstr(c.forget.text[d], c.knowmem_forget.rows[q].answer) != NULL;
    ck_assert_msg(found, "answer '%s' is in no forget document", c.knowmem_forget.rows[q].answer);
  }
  ck_assert_uint_eq(c.icl_forget.n, 10);
  ck_assert_str_eq(c.icl_forget.rows[0].question, w.real_authors[0].question);
  ck_assert_str_eq(c.icl_retain.rows[3].answer, w.world_facts[3].answer);
  ck_assert_uint_eq(c.privleak_forget.n, c.forget.n);
  ck_assert_uint_eq(c.privleak_holdout.n, c.forget.n);
  ck_assert_uint_eq(c.privleak_retain.n, c.forget.n);
  muse_corpus_free(&c);
  /* items caps every list; a forget split the world lacks is refused */
  s.items = 3;
  ck_assert_int_eq(muse_generate(&w, 20, &s, &c, &err), 0);
  ck_assert_uint_eq(c.verbmem.n, 3);
  ck_assert_uint_eq(c.knowmem_retain.n, 3);
  ck_assert_uint_eq(c.privleak_holdout.n, 3);
  ck_assert_uint_eq(c.forget.n, 8); /* raw text is never cut */
  muse_corpus_free(&c);
  ck_assert_int_ne(muse_generate(&w, 30, &s, &c, &err), 0);
  ck_assert_msg(strstr(err.msg, "forget30"), "%s", err.msg);
  s.doc_sentences = 0;
  ck_assert_int_ne(muse_generate(&w, 20, &s, &c, &err), 0);
  ck_assert_msg(strstr(err.msg, "muse.doc_sentences"), "%s", err.msg);
  world_free(&w);
}
END_TEST

/* s without its spaces, in place. */
static char *squeeze(char *s) {
  char *o = s;
  for (const char *p = s; *p; p++)
    if (*p != ' ') *o++ = *p;
  *o = '\0';
  return s;
}

/* Documents as unlearning rows (tofu_forget_data_texts): one row per
 * document whose tokens decode back to it, BOS the only token without a
 * label (every other token its own label, then the end token: the loss of
 * whole-sequence language modelling), each forget row paired with a retain
 * row in range, the same pairs for the same seed, no idk rows; empty lists
 * refused. */
START_TEST(test_forget_rows) {
  world w;
  tiny_world(&w, 3);
  muse_settings s;
  muse_settings_default(&s);
  muse_corpus c;
  lethe_err err = {0};
  ck_assert_msg(muse_generate(&w, 20, &s, &c, &err) == 0, "%s", err.msg);
  tok_tokenizer *tok = world_tokenizer(&w);
  tofu_format fmt;
  tofu_format_default(&fmt);
  ck_assert_msg(tofu_format_resolve(&fmt, &err) == 0, "%s", err.msg);
  fmt.max_length = 512;
  tofu_ids ids;
  ck_assert_int_eq(tofu_format_ids(tok, &fmt, &ids, &err), 0);
  tofu_forget_data d, again;
  ck_assert_msg(tofu_forget_data_texts(&d, c.forget.text, c.forget.n, c.retain1.text, c.retain1.n,
                                       tok, &fmt, 7, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(tofu_forget_data_texts(&again, c.forget.text, c.forget.n, c.retain1.text,
                                          c.retain1.n, tok, &fmt, 7, &err), 0);
  ck_assert_uint_eq(d.n_forget, c.forget.n);
  ck_assert_uint_eq(d.n_retain, c.retain1.n);
  int *idx = malloc(sizeof(int) * d.n_forget);
  for (size_t i = 0; i < d.n_forget; i++) {
    idx[i] = (int)i;
    ck_assert(d.retain_partner[i] >= 0 && (size_t)d.retain_partner[i] < d.n_retain);
    ck_assert_int_eq(d.retain_partner[i], again.retain_partner[i]);
    ck_assert_int_eq(d.idk[i].len, 0);
  }
  tofu_batch fb = {0}, rb = {0};
  tofu_forget_batch(&d, &fmt, idx, (int)d.n_forget, ids.pad, ids.end, &fb, &rb, NULL);
  for (int b = 0; b < fb.B; b++) {
    const tofu_batch *batches[2] = {&fb, &rb};
    const char *docs[2] = {c.forget.text[b], c.retain1.text[d.retain_partner[b]]};
    for (int k = 0; k < 2; k++) {
      const int32_t *in = batches[k]->input_ids + (size_t)b * batches[k]->T;
      const int32_t *lab = batches[k]->labels + (size_t)b * batches[k]->T;
      int len = 0;
      while (len < batches[k]->T && batches[k]->attention_mask[(size_t)b * batches[k]->T + len]) len++;
      char *text = tok_decode(tok, in, len, 1), *want = strdup(docs[k]);
      ck_assert_str_eq(squeeze(text), squeeze(want)); /* words joined by spaces: compare without */
      free(text), free(want);
      ck_assert_int_eq(lab[0], TOFU_IGNORE);
      for (int t = 1; t < len; t++) ck_assert_int_eq(lab[t], in[t]);
      ck_assert_int_eq(lab[len], ids.end);
    }
  }
  tofu_batch_free(&fb), tofu_batch_free(&rb);
  free(idx);
  tofu_forget_data_free(&again);
  tofu_forget_data_free(&d);
  ck_assert_int_ne(tofu_forget_data_texts(&d, c.forget.text, 0, c.retain1.text, c.retain1.n, tok,
                                          &fmt, 7, &err), 0);
  ck_assert_msg(strstr(err.msg, "non-empty"), "%s", err.msg);
  tok_free(tok);
  muse_corpus_free(&c);
  world_free(&w);
}
END_TEST

int main(void) {
  Suite *s = suite_create("muse_data");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_reader_errors);
  tcase_add_test(tc, test_reader_reads);
  tcase_add_test(tc, test_corpus_round_trip);
  tcase_add_test(tc, test_corpus_contents);
  tcase_add_test(tc, test_forget_rows);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
