/* world_write — the world's directory: TOFU splits cut by author, the
 * general-knowledge sets, idontknow.jsonl, pretrain.json, tokenizer.json and
 * world.json (what was generated, from which seed and settings). */
#include <assert.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "data/world_internal.h"

const char *const world_split_names[] = {"full",
                                         "forget01",
                                         "forget05",
                                         "forget10",
                                         "forget20",
                                         "forget50",
                                         "retain99",
                                         "retain95",
                                         "retain90",
                                         "retain80",
                                         "retain50",
                                         "forget01_perturbed",
                                         "forget05_perturbed",
                                         "forget10_perturbed",
                                         "forget20_perturbed",
                                         "forget50_perturbed",
                                         "retain_perturbed",
                                         "real_authors",
                                         "real_authors_perturbed",
                                         "world_facts",
                                         "world_facts_perturbed",
                                         "pretrain",
                                         NULL};

const char *const world_holdout_names[] = {"holdout01", "holdout05", "holdout10", "holdout20",
                                           "holdout50", NULL};
_Static_assert(sizeof world_holdout_names / sizeof *world_holdout_names ==
                   WORLD_N_FORGET_SPLITS + 1,
               "one holdout split per forget split");

int world_retain_eval_authors(int n_authors) { return n_authors / 10 < 1 ? 1 : n_authors / 10; }

/* retain_perturbed (the first max(1, n/10) authors) never meets a forget
 * split (the last ceil(n/2) authors at most, forget50): n - ceil(n/2) =
 * floor(n/2) >= max(1, floor(n/10)) for every n >= 2, and a world has at
 * least WORLD_MIN_AUTHORS. Every retain split keeps at least one author. */
_Static_assert(WORLD_MIN_AUTHORS >= 2, "forget50 and retain_perturbed must be disjoint");

static void add_qa(tok_builder *b, const tofu_qa *qa) {
  const char *texts[4] = {qa->question, qa->answer, qa->paraphrased_question,
                          qa->paraphrased_answer};
  for (int t = 0; t < 4; t++)
    if (texts[t]) tok_builder_add(b, texts[t], NULL); /* the world is ASCII */
  for (int p = 0; p < qa->n_perturbed; p++) tok_builder_add(b, qa->perturbed[p], NULL);
  for (int o = 0; o < TOFU_N_OPTIONS; o++)
    if (qa->options[o]) tok_builder_add(b, qa->options[o], NULL);
}

tok_tokenizer *world_tokenizer(const world *w) {
  tok_builder *b = tok_builder_new();
  static const char *const tags[] = {"[INST] ", " [/INST]", "Question: ", "Answer: "};
  for (size_t i = 0; i < sizeof tags / sizeof tags[0]; i++) tok_builder_add(b, tags[i], NULL);
  for (size_t i = 0; i < w->n_qa; i++) add_qa(b, &w->qa[i].qa);
  for (size_t i = 0; i < w->n_real_authors; i++) add_qa(b, &w->real_authors[i]);
  for (size_t i = 0; i < w->n_world_facts; i++) add_qa(b, &w->world_facts[i]);
  for (size_t i = 0; i < w->n_pretrain; i++) add_qa(b, &w->pretrain[i]);
  for (size_t i = 0; i < w->n_idk; i++) tok_builder_add(b, w->idk[i], NULL);
  /* The holdout authors' words (names, cities, titles no trained author
   * has) come after every trained word: a real tokenizer has no unknown
   * words, and an <unk> in a non-member's text only, which no model ever
   * predicts, would make membership inference tell apart vocabularies, not
   * members. A later tier leaves the trained words' ids as they were. */
  tok_builder_next_tier(b);
  for (size_t i = 0; i < w->n_holdout_qa; i++) add_qa(b, &w->holdout_qa[i].qa);
  tok_tokenizer *t = tok_builder_finish(b);
  tok_builder_free(b);
  return t;
}

/* Writes the rows of qa[0..n_qa) of authors [first, last) to DIR/NAME.json. */
static int write_qa(const world_qa *qa, size_t n_qa, const char *dir, const char *name, int first,
                    int last, unsigned fields, lethe_err *err) {
  tofu_qa *rows = lethe_calloc(n_qa ? n_qa : 1, sizeof *rows);
  size_t n = 0;
  for (size_t i = 0; i < n_qa; i++)
    if (qa[i].author >= first && qa[i].author < last) rows[n++] = qa[i].qa;
  char file[128];
  snprintf(file, sizeof file, "%s.json", name);
  char *path = lethe_path_join(dir, file);
  int rc = tofu_save(path, rows, n, fields, err);
  free(path);
  free(rows);
  return rc;
}

/* The trained authors [first, last) to DIR/NAME.json. */
static int write_authors(const world *w, const char *dir, const char *name, int first, int last,
                         unsigned fields, lethe_err *err) {
  return write_qa(w->qa, w->n_qa, dir, name, first, last, fields, err);
}

static int write_rows(const char *dir, const char *name, const tofu_qa *rows, size_t n,
                      unsigned fields, lethe_err *err) {
  char file[128];
  snprintf(file, sizeof file, "%s.json", name);
  char *path = lethe_path_join(dir, file);
  int rc = tofu_save(path, rows, n, fields, err);
  free(path);
  return rc;
}

static int write_meta(const world *w, const char *dir, int vocab, lethe_err *err) {
  json_t *settings = json_object();
  for (size_t i = 0; i < world_n_settings; i++)
    json_object_set_new(
        settings, world_settings_table[i].name,
        json_integer(*(const int *)((const char *)&w->settings + world_settings_table[i].offset)));
  json_t *forget = json_object();
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++) {
    char key[16];
    snprintf(key, sizeof key, "forget%02d", world_forget_percents[p]);
    json_object_set_new(forget, key,
                        json_integer(world_forget_authors(w->n_authors, world_forget_percents[p])));
  }
  json_t *root = json_pack(
      "{s:s, s:i, s:I, s:o, s:{s:i, s:I, s:I, s:I, s:I, s:I, s:i}, s:o, s:i, s:s}", "generator",
      "lethe world", "format_version", WORLD_FORMAT_VERSION, "seed", (json_int_t)w->seed,
      "settings", settings, "counts", "authors", w->n_authors, "author_qa", (json_int_t)w->n_qa,
      "real_authors", (json_int_t)w->n_real_authors, "world_facts", (json_int_t)w->n_world_facts,
      "pretrain", (json_int_t)w->n_pretrain, "idontknow", (json_int_t)w->n_idk, "vocab", vocab,
      "forget_authors", forget, "retain_perturbed_authors", world_retain_eval_authors(w->n_authors),
      "pretrain_file", "pretrain.json");
  char *path = lethe_path_join(dir, "world.json");
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(2) | JSON_PRESERVE_ORDER,
                                   LETHE_JSON_NEWLINE, err);
  json_decref(root);
  free(path);
  return rc;
}

int world_write_holdout(const world *w, const char *dir, lethe_err *err) {
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++) {
    int h = world_forget_authors(w->n_authors, world_forget_percents[p]);
    if (write_qa(w->holdout_qa, w->n_holdout_qa, dir, world_holdout_names[p], 0, h, 0, err))
      return -1;
  }
  return 0;
}

int world_write(const world *w, const char *dir, lethe_err *err) {
  if (lethe_mkdir_p(dir, err)) return -1;
  const unsigned perturbed = TOFU_F_PARA_Q | TOFU_F_PARA_A | TOFU_F_PERTURBED;
  const unsigned general = TOFU_F_OPTIONS | TOFU_F_PARA_A | TOFU_F_PERTURBED;
  int n = w->n_authors;
  if (write_authors(w, dir, "full", 0, n, 0, err)) return -1;
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++) {
    int k = n - world_forget_authors(n, world_forget_percents[p]);
    assert(k >= world_retain_eval_authors(n)); /* proved above */
    char name[32];
    snprintf(name, sizeof name, "forget%02d", world_forget_percents[p]);
    if (write_authors(w, dir, name, k, n, 0, err)) return -1;
    snprintf(name, sizeof name, "forget%02d_perturbed", world_forget_percents[p]);
    if (write_authors(w, dir, name, k, n, perturbed, err)) return -1;
    snprintf(name, sizeof name, "retain%02d", 100 - world_forget_percents[p]);
    if (write_authors(w, dir, name, 0, k, 0, err)) return -1;
  }
  if (world_write_holdout(w, dir, err) ||
      write_authors(w, dir, "retain_perturbed", 0, world_retain_eval_authors(n), perturbed, err) ||
      write_rows(dir, "real_authors", w->real_authors, w->n_real_authors, TOFU_F_OPTIONS, err) ||
      write_rows(dir, "real_authors_perturbed", w->real_authors, w->n_real_authors, general, err) ||
      write_rows(dir, "world_facts", w->world_facts, w->n_world_facts, TOFU_F_OPTIONS, err) ||
      write_rows(dir, "world_facts_perturbed", w->world_facts, w->n_world_facts, general, err) ||
      write_rows(dir, "pretrain", w->pretrain, w->n_pretrain, 0, err))
    return -1;
  char *path = lethe_path_join(dir, "idontknow.jsonl");
  int rc = tofu_idk_save(path, w->idk, w->n_idk, err);
  free(path);
  if (rc) return -1;
  tok_tokenizer *tok = world_tokenizer(w);
  path = lethe_path_join(dir, "tokenizer.json");
  rc = tok_save(tok, path, err);
  free(path);
  int vocab = tok_vocab_size(tok);
  tok_free(tok);
  if (rc) return -1;
  return write_meta(w, dir, vocab, err);
}
