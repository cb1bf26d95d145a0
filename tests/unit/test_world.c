/* test_world — the embedded world: determinism of every file, the relations
 * between TOFU splits, the holdout splits (their sizes, authors never
 * trained on, the trained files unchanged by them), perturbed answers that
 * differ from the paraphrase in the key fact only, vocabulary coverage of
 * every split, answer lengths, general-knowledge options, and the world's
 * settings. */
#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/world.h"

static char *tmpdir(void) {
  char *d = strdup("/tmp/lethe_world_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(d));
  return d;
}

static void tiny_settings(world_settings *s) {
  world_settings_default(s);
  s->authors = 10;
  s->general_qa = 12;
  s->idk = 10;
}

static void write_world(const char *dir, uint64_t seed) {
  world_settings s;
  tiny_settings(&s);
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, seed, &err), 0);
  ck_assert_msg(world_write(&w, dir, &err) == 0, "%s", err.msg);
  world_free(&w);
}

static char *slurp(const char *dir, const char *file, size_t *len) {
  char *path = lethe_path_join(dir, file), *buf;
  lethe_err err = {0};
  ck_assert_msg(lethe_read_file(path, 1 << 26, &buf, len, &err) == 0, "%s", err.msg);
  free(path);
  return buf;
}

static const char *const extra_files[] = {"idontknow.jsonl", "tokenizer.json", "world.json", NULL};
/* the files of extra_files a model trains on or is evaluated with */
static const char *const trained_extra_files[] = {"idontknow.jsonl", NULL};

START_TEST(test_determinism) {
  char *a = tmpdir(), *b = tmpdir(), *c = tmpdir();
  write_world(a, 1);
  write_world(b, 1);
  write_world(c, 2);
  int n_files = 0;
  const char *const *lists[3] = {world_split_names, extra_files, world_holdout_names};
  for (int list = 0; list < 3; list++)
    for (int i = 0; lists[list][i]; i++) {
      char file[64];
      snprintf(file, sizeof file, list == 1 ? "%s" : "%s.json", lists[list][i]);
      size_t la, lb;
      char *x = slurp(a, file, &la), *y = slurp(b, file, &lb);
      ck_assert_msg(la == lb && !memcmp(x, y, la), "%s differs for the same seed", file);
      free(x), free(y);
      n_files++;
    }
  ck_assert_int_eq(n_files, 30);
  size_t la, lc;
  char *x = slurp(a, "full.json", &la), *y = slurp(c, "full.json", &lc);
  ck_assert(la != lc || memcmp(x, y, la));
  free(x), free(y);
  free(a), free(b), free(c);
}
END_TEST

/* Rows of a split as "question\tanswer" strings. */
typedef struct keys {
  char **v;
  size_t n;
} keys;

static keys load_keys(const char *dir, const char *name) {
  tofu_set s;
  lethe_err err = {0};
  ck_assert_msg(tofu_load_split(dir, name, 0, &s, &err) == 0, "%s", err.msg);
  keys k = {calloc(s.n, sizeof(char *)), s.n};
  for (size_t i = 0; i < s.n; i++) {
    k.v[i] = malloc(strlen(s.rows[i].question) + strlen(s.rows[i].answer) + 2);
    sprintf(k.v[i], "%s\t%s", s.rows[i].question, s.rows[i].answer);
  }
  tofu_set_free(&s);
  return k;
}

static int contains(const keys *k, const char *v) {
  for (size_t i = 0; i < k->n; i++)
    if (!strcmp(k->v[i], v)) return 1;
  return 0;
}

static void free_keys(keys *k) {
  for (size_t i = 0; i < k->n; i++) free(k->v[i]);
  free(k->v);
}

START_TEST(test_split_relations) {
  enum { N = WORLD_N_FORGET_SPLITS };
  char *dir = tmpdir();
  write_world(dir, 3);
  keys full = load_keys(dir, "full");
  ck_assert_uint_eq(full.n, 200);
  keys forget[N], retain[N], pert[N];
  for (int p = 0; p < N; p++) {
    char name[32];
    snprintf(name, sizeof name, "forget%02d", world_forget_percents[p]);
    forget[p] = load_keys(dir, name);
    snprintf(name, sizeof name, "forget%02d_perturbed", world_forget_percents[p]);
    pert[p] = load_keys(dir, name);
    snprintf(name, sizeof name, "retain%02d", 100 - world_forget_percents[p]);
    retain[p] = load_keys(dir, name);
  }
  keys retain_pert = load_keys(dir, "retain_perturbed");
  ck_assert_uint_eq(retain_pert.n, 20); /* the first 10% of 10 authors */
  /* max(1, round) of 10 authors: one author up to forget10, then 2 and 5 */
  static const size_t want_rows[N] = {20, 20, 20, 40, 100};
  for (int p = 0; p < N; p++) {
    ck_assert_uint_eq(forget[p].n, want_rows[p]);
    ck_assert_uint_eq(forget[p].n + retain[p].n, full.n);
    /* retain = full - forget, in order; forget = the last authors of full */
    for (size_t i = 0; i < full.n; i++) {
      int in_forget = i >= retain[p].n;
      const char *want = in_forget ? forget[p].v[i - retain[p].n] : retain[p].v[i];
      ck_assert_str_eq(full.v[i], want);
      ck_assert_int_eq(contains(&forget[p], full.v[i]), in_forget);
    }
    for (size_t i = 0; i < forget[p].n; i++) {
      ck_assert_str_eq(pert[p].v[i], forget[p].v[i]);
      ck_assert(!contains(&retain_pert, forget[p].v[i]));
      if (p < N - 1) ck_assert(contains(&forget[p + 1], forget[p].v[i]));
    }
  }
  for (size_t i = 0; i < retain_pert.n; i++) ck_assert_str_eq(retain_pert.v[i], full.v[i]);
  size_t len;
  char *meta = slurp(dir, "world.json", &len);
  ck_assert_msg(strstr(meta, "\"format_version\": 3,") && strstr(meta, "\"forget20\": 2,") &&
                    strstr(meta, "\"forget50\": 5\n"),
                "%s", meta);
  free(meta);
  for (int p = 0; p < N; p++) free_keys(&forget[p]), free_keys(&retain[p]), free_keys(&pert[p]);
  free_keys(&full);
  free_keys(&retain_pert);
  free(dir);
}
END_TEST

/* FNV-1a of the trained files of a world of 10 authors (seed 0, the other
 * settings default), pinned from the generator before the holdout authors
 * existed: adding them changed none of these bytes. (tokenizer.json and
 * world.json were in the pin too until format 3 added the holdout words to
 * the vocabulary; test_holdout_vocab checks what that changed.) */
START_TEST(test_holdout_leaves_old_files) {
  world_settings s;
  world_settings_default(&s);
  s.authors = 10;
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, 0, &err), 0);
  char *dir = tmpdir();
  ck_assert_msg(world_write(&w, dir, &err) == 0, "%s", err.msg);
  world_free(&w);
  uint64_t h = 0xcbf29ce484222325u;
  for (int list = 0; list < 2; list++)
    for (int i = 0; (list ? trained_extra_files : world_split_names)[i]; i++) {
      char file[64];
      snprintf(file, sizeof file, list ? "%s" : "%s.json",
               (list ? trained_extra_files : world_split_names)[i]);
      size_t len;
      char *bytes = slurp(dir, file, &len);
      for (size_t k = 0; k < len; k++) h = (h ^ (unsigned char)bytes[k]) * 0x100000001b3u;
      free(bytes);
    }
  ck_assert_msg(h == 0x6aaecf77530ecaebu, "the trained files changed: FNV-1a %016llx",
                (unsigned long long)h);
  free(dir);
}
END_TEST

/* holdoutNN: as many rows as forgetNN, nested, and its authors in no file a
 * model is trained on (full, retainNN, forgetNN, pretrain, the general sets). */
START_TEST(test_holdout_splits) {
  enum { N = WORLD_N_FORGET_SPLITS };
  world_settings s;
  tiny_settings(&s);
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, 3, &err), 0);
  ck_assert_int_eq(w.n_holdout_authors, world_forget_authors(10, 50));
  ck_assert_int_eq(world_holdout_authors(200), 100);
  ck_assert_uint_eq(w.n_holdout_qa, (size_t)w.n_holdout_authors * 20);
  char *dir = tmpdir();
  ck_assert_msg(world_write(&w, dir, &err) == 0, "%s", err.msg);
  keys holdout[N];
  for (int p = 0; p < N; p++) {
    char name[32];
    snprintf(name, sizeof name, "forget%02d", world_forget_percents[p]);
    keys forget = load_keys(dir, name);
    holdout[p] = load_keys(dir, world_holdout_names[p]);
    ck_assert_uint_eq(holdout[p].n, forget.n);
    for (size_t i = 0; i < holdout[p].n; i++) {
      ck_assert(!contains(&forget, holdout[p].v[i]));
      if (p > 0 && i < holdout[p - 1].n) ck_assert_str_eq(holdout[p].v[i], holdout[p - 1].v[i]);
    }
    free_keys(&forget);
  }
  for (int i = 0; world_split_names[i]; i++) {
    if (strstr(world_split_names[i], "_perturbed")) continue; /* evaluation only */
    char file[64];
    snprintf(file, sizeof file, "%s.json", world_split_names[i]);
    size_t len;
    char *text = slurp(dir, file, &len);
    for (int a = 0; a < w.n_holdout_authors; a++)
      ck_assert_msg(!strstr(text, w.holdout_names[a]), "holdout author %s in %s",
                    w.holdout_names[a], file);
    free(text);
  }
  for (int a = 0; a < w.n_holdout_authors; a++)
    for (int b = 0; b < w.n_authors; b++) ck_assert_str_ne(w.holdout_names[a], w.author_names[b]);
  for (int p = 0; p < N; p++) free_keys(&holdout[p]);
  world_free(&w);
  free(dir);
}
END_TEST

START_TEST(test_split_sizes) {
  ck_assert_int_eq(world_forget_authors(200, 1), 2);
  ck_assert_int_eq(world_forget_authors(200, 5), 10);
  ck_assert_int_eq(world_forget_authors(200, 10), 20);
  ck_assert_int_eq(world_forget_authors(10, 1), 1);
  ck_assert_int_eq(world_forget_authors(30, 5), 2);
  ck_assert_int_eq(world_forget_authors(200, 20), 40);
  ck_assert_int_eq(world_forget_authors(200, 50), 100);
  ck_assert_int_eq(world_forget_authors(5, 50), 3);
  ck_assert_int_eq(world_retain_eval_authors(200), 20);
  ck_assert_int_eq(world_retain_eval_authors(4), 1);
  /* every world size: the splits nest, every retain split keeps an author,
   * and retain_perturbed (the first authors) meets no forget split (the
   * last ones), forget50 included */
  ck_assert_str_eq(world_settings_table[0].name, "authors");
  ck_assert_int_eq(world_settings_table[0].min, WORLD_MIN_AUTHORS);
  for (int n = WORLD_MIN_AUTHORS; n <= 500; n++)
    for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++) {
      int forget = world_forget_authors(n, world_forget_percents[p]);
      ck_assert_int_ge(forget, 1);
      ck_assert_int_le(world_retain_eval_authors(n), n - forget);
      if (p > 0) ck_assert_int_ge(forget, world_forget_authors(n, world_forget_percents[p - 1]));
    }
}
END_TEST

static int word_count(const char *s) {
  int n = 0, in = 0;
  for (; *s; s++) {
    n += *s != ' ' && !in;
    in = *s != ' ';
  }
  return n;
}

/* The default-size world in memory: sizes, key facts, answer lengths. */
START_TEST(test_default_world) {
  world_settings s;
  world_settings_default(&s);
  ck_assert_int_eq(s.authors, 200);
  ck_assert_int_eq(s.qa_per_author, 20);
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, 0, &err), 0);
  ck_assert_uint_eq(w.n_qa, 4000);
  ck_assert_uint_eq(w.n_real_authors, 100);
  ck_assert_uint_eq(w.n_world_facts, 100);
  ck_assert_uint_eq(w.n_pretrain, 600);
  ck_assert_uint_eq(w.n_idk, 100);
  int min_words = 1000, max_words = 0, types[WORLD_N_TYPES] = {0};
  for (size_t i = 0; i < w.n_qa; i++) {
    const world_qa *q = &w.qa[i];
    types[q->type]++;
    const char *para = q->qa.paraphrased_answer;
    size_t off = q->key_offset, len = q->key_len, plen = strlen(para);
    ck_assert_uint_le(off + len, plen);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(q->qa.n_perturbed, 5);
    ck_assert_str_ne(q->qa.answer, para);
    ck_assert_str_ne(q->qa.question, q->qa.paraphrased_question);
    for (int j = 0; j < q->qa.n_perturbed; j++) {
      const char *p = q->qa.perturbed[j];
      size_t n = strlen(p);
      /* same text before and after the key fact; a different value inside */
      ck_assert_int_eq(strncmp(p, para, off), 0);
      ck_assert_uint_gt(n, plen - len - off);
      ck_assert_str_eq(p + n - (plen - off - len), para + off + len);
      size_t wl = n - (plen - len);
      ck_assert(wl != len || strncmp(p + off, para + off, len));
      for (int k = 0; k < j; k++) ck_assert_str_ne(q->qa.perturbed[k], p);
    }
    const char *texts[3] = {q->qa.answer, para, q->qa.perturbed[0]};
    for (int t = 0; t < 3; t++) {
      int wc = word_count(texts[t]);
      min_words = wc < min_words ? wc : min_words;
      max_words = wc > max_words ? wc : max_words;
    }
  }
  ck_assert_int_ge(min_words, 10);
  ck_assert_int_le(max_words, 40);
  for (int t = 0; t < WORLD_N_TYPES; t++) ck_assert_int_eq(types[t], 200);
  for (int a = 0; a < w.n_authors; a++) /* every author's name is unique */
    for (int b = 0; b < a; b++) ck_assert_str_ne(w.author_names[a], w.author_names[b]);
  tok_tokenizer *tok = world_tokenizer(&w);
  int vocab = tok_vocab_size(tok);
  ck_assert_msg(vocab >= 1200 && vocab <= 3000, "vocab %d", vocab);
  tok_free(tok);
  world_free(&w);
}
END_TEST

START_TEST(test_general_sets) {
  world_settings s;
  world_settings_default(&s);
  s.authors = 4;
  s.general_qa = 120; /* the largest allowed: every set has that many candidates */
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, 9, &err), 0);
  const tofu_qa *sets[2] = {w.real_authors, w.world_facts};
  for (int k = 0; k < 2; k++) {
    ck_assert_uint_eq(k ? w.n_world_facts : w.n_real_authors, 120);
    for (size_t i = 0; i < 120; i++) {
      const tofu_qa *qa = &sets[k][i];
      int hits = 0;
      for (int o = 0; o < TOFU_N_OPTIONS; o++) {
        hits += !strcmp(qa->options[o], qa->answer);
        for (int p = 0; p < o; p++) ck_assert_str_ne(qa->options[o], qa->options[p]);
      }
      ck_assert_int_eq(hits, 1);
      ck_assert_str_eq(qa->paraphrased_answer, qa->answer);
      ck_assert_int_eq(qa->n_perturbed, 3);
      for (int j = 0; j < 3; j++) ck_assert_str_ne(qa->perturbed[j], qa->answer);
      ck_assert_int_le(word_count(qa->answer), 8);
    }
  }
  ck_assert_uint_eq(w.n_pretrain, 720);
  world_free(&w);
}
END_TEST

static void check_covered(const tok_tokenizer *t, const char *text, const char *where) {
  int32_t *ids;
  int n, unknown;
  lethe_err err = {0};
  ck_assert_int_eq(tok_encode(t, text, 0, &ids, &n, &unknown, &err), 0);
  ck_assert_msg(unknown == 0, "%s: '%s' has words outside the vocabulary", where, text);
  free(ids);
}

START_TEST(test_vocab_covers_every_split) {
  char *dir = tmpdir();
  write_world(dir, 4);
  char *path = lethe_path_join(dir, "tokenizer.json");
  tok_tokenizer *t;
  lethe_err err = {0};
  ck_assert_msg(tok_load(path, &t, &err) == 0, "%s", err.msg);
  free(path);
  size_t texts = 0;
  for (int list = 0; list < 2; list++)
    for (int i = 0; (list ? world_holdout_names : world_split_names)[i]; i++) {
      const char *name = (list ? world_holdout_names : world_split_names)[i];
      tofu_set s;
      ck_assert_int_eq(tofu_load_split(dir, name, 0, &s, &err), 0);
      for (size_t r = 0; r < s.n; r++) {
        const tofu_qa *qa = &s.rows[r];
        const char *fields[4] = {qa->question, qa->answer, qa->paraphrased_question,
                                 qa->paraphrased_answer};
        for (int f = 0; f < 4; f++)
          if (fields[f]) check_covered(t, fields[f], name), texts++;
        for (int p = 0; p < qa->n_perturbed; p++)
          check_covered(t, qa->perturbed[p], "perturbed"), texts++;
        for (int o = 0; o < TOFU_N_OPTIONS; o++)
          if (qa->options[o]) check_covered(t, qa->options[o], "options"), texts++;
      }
      tofu_set_free(&s);
    }
  tofu_idk idk;
  path = lethe_path_join(dir, "idontknow.jsonl");
  ck_assert_int_eq(tofu_idk_load(path, &idk, &err), 0);
  ck_assert_uint_eq(idk.n, 10);
  for (size_t i = 0; i < idk.n; i++) check_covered(t, idk.answers[i], "idontknow"), texts++;
  tofu_idk_free(&idk);
  free(path);
  tofu_format f;
  tofu_format_default(&f);
  check_covered(t, f.question_start, "tags");
  check_covered(t, f.question_end, "tags");
  check_covered(t, "Question: Answer: ", "tags");
  ck_assert_uint_gt(texts, 1000);
  tok_free(t);
  free(dir);
}
END_TEST

/* The holdout authors' words come after every trained word: the world's
 * tokenizer gives every trained word the id a world without holdout authors
 * gives it, and holdout-only words the ids after them — so a model's trained
 * rows are the same, and no holdout text (a membership attack's non-members)
 * has an <unk> no member has. */
START_TEST(test_holdout_vocab) {
  world_settings s;
  tiny_settings(&s);
  world w;
  lethe_err err = {0};
  ck_assert_int_eq(world_generate(&w, &s, 7, &err), 0);
  tok_tokenizer *with = world_tokenizer(&w);
  size_t n_holdout = w.n_holdout_qa;
  w.n_holdout_qa = 0;
  tok_tokenizer *without = world_tokenizer(&w);
  w.n_holdout_qa = n_holdout;
  int n_with = tok_vocab_size(with), n_without = tok_vocab_size(without);
  ck_assert_int_gt(n_with, n_without); /* the holdout authors bring new names */
  for (int id = 0; id < n_with; id++) {
    const char *piece = tok_word(with, id);
    ck_assert_ptr_nonnull(piece);
    int32_t other = tok_id(without, piece, strlen(piece));
    if (id < n_without)
      ck_assert_msg(other == id, "'%s' is %d with the holdout words, %d without", piece, id, other);
    else
      ck_assert_msg(other < 0, "'%s' (%d) is a trained word but comes after them", piece, id);
  }
  for (size_t i = 0; i < w.n_holdout_qa; i++) check_covered(with, w.holdout_qa[i].qa.answer, "holdout");
  tok_free(with);
  tok_free(without);
  world_free(&w);
}
END_TEST

START_TEST(test_world_settings) {
  world_settings s;
  world_settings_default(&s);
  lethe_err err = {0};
  const data_setting *t = world_settings_table;
  ck_assert_int_eq(
      data_settings_override(t, world_n_settings, &s, "world", "world.authors=10", &err), 0);
  ck_assert_int_eq(s.authors, 10);
  ck_assert_int_eq(
      data_settings_override(t, world_n_settings, &s, "world", "world.author=10", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "unknown setting 'world.author'"));
  ck_assert_int_eq(
      data_settings_override(t, world_n_settings, &s, "world", "world.authors=3", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "world.authors: expects an integer in [4, 500]"));
  s.perturbed = 99;
  world w;
  ck_assert_int_eq(world_generate(&w, &s, 0, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "world.perturbed"));
  /* Fewer QA per author: a subset of the types, the facts unchanged. */
  world_settings_default(&s);
  s.authors = 5;
  s.qa_per_author = 3;
  s.perturbed = 8;
  ck_assert_int_eq(world_generate(&w, &s, 0, &err), 0);
  ck_assert_uint_eq(w.n_qa, 15);
  for (size_t i = 1; i < w.n_qa; i++)
    if (w.qa[i].author == w.qa[i - 1].author) ck_assert_int_gt(w.qa[i].type, w.qa[i - 1].type);
  ck_assert_int_eq(w.qa[0].qa.n_perturbed, 8);
  world big;
  s.qa_per_author = 20;
  ck_assert_int_eq(world_generate(&big, &s, 0, &err), 0);
  for (int a = 0; a < 5; a++) ck_assert_str_eq(w.author_names[a], big.author_names[a]);
  world_free(&big);
  world_free(&w);
}
END_TEST

int main(void) {
  Suite *s = suite_create("world");
  TCase *tc = tcase_create("world");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_determinism);
  tcase_add_test(tc, test_split_relations);
  tcase_add_test(tc, test_split_sizes);
  tcase_add_test(tc, test_holdout_leaves_old_files);
  tcase_add_test(tc, test_holdout_splits);
  tcase_add_test(tc, test_default_world);
  tcase_add_test(tc, test_general_sets);
  tcase_add_test(tc, test_vocab_covers_every_split);
  tcase_add_test(tc, test_holdout_vocab);
  tcase_add_test(tc, test_world_settings);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
