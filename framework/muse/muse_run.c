/* muse_run — kind "muse": the corpus, the cached stages (base, target,
 * retain) and their cached MUSE evaluations, then the method unlearning the
 * target on the forget documents through the unlearning run's loop
 * (unlearn.h's run_unlearn_source), evaluated with MUSE's metrics (see
 * muse_run.h). */
#include "muse/muse_run.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dist.h"
#include "core/json_file.h"
#include "core/kind.h"
#include "core/progress.h"
#include "evaluate/eval_muse.h"
#include "method/method_host.h"
#include "pipeline/stages.h"
#include "unlearn/unlearn.h"

/* NN of data.forget_split = "forgetNN" (one of world_forget_percents), else -1. */
static int forget_percent(const experiment *e) {
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  int pct, used = 0;
  if (sscanf(split, "forget%2d%n", &pct, &used) != 1 || split[used] != '\0') return -1;
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++)
    if (world_forget_percents[p] == pct) return pct;
  return -1;
}

static void muse_options(const experiment *e, muse_eval_options *opt) {
  opt->verbmem_max_new_tokens = (int)lcfg_int(&e->cfg, "eval.verbmem_max_new_tokens");
  opt->knowmem_max_new_tokens = (int)lcfg_int(&e->cfg, "eval.knowmem_max_new_tokens");
  opt->batch_size = (int)lcfg_int(&e->cfg, "eval.batch_size");
}

/* The method runs on documents: no idk answers to give it. */
static int check_method_fits(const experiment *e, lethe_err *err) {
  method_spec ms = {0};
  if (method_spec_from_config(&ms, lcfg_setting(&e->cfg, "method"),
                              (const char *const *)e->method_overrides, e->n_method_overrides,
                              err) != 0)
    return -1;
  int rc = 0;
  if (ms.needs.caps & LETHE_CAP_IDK)
    rc = lethe_errf(err, LETHE_E_CONFIG, "method %s trains on \"I don't know\" answers to the "
                    "forget questions; a MUSE run has documents, not questions: choose a method "
                    "without idk rows (ga, grad_diff, kl, npo, npo_rt, simnpo, ...)",
                    ms.plugin.desc->name);
  method_spec_free(&ms);
  return rc;
}

/* muse.dir: the directory and the files muse_load requires. */
static int check_corpus_dir(const experiment *e, const char *dir, lethe_err *err) {
  char where[600];
  lcfg_where(lcfg_setting(&e->cfg, "muse.dir"), where, sizeof where);
  struct stat st;
  errno = 0;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return lethe_errf(err, LETHE_E_IO, "%s: muse.dir: %s is not a directory%s%s", where, dir,
                      errno ? ": " : "", errno ? strerror(errno) : "");
  static const char *const required[] = {
      "raw/forget.json",      "raw/retain1.json",     "raw/holdout.json",
      "verbmem/forget.json",  "knowmem/forget_qa.json", "knowmem/retain_qa.json",
      "privleak/forget.json", "privleak/holdout.json"};
  for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
    char *path = lethe_path_join(dir, required[i]);
    int have = lethe_file_exists(path);
    free(path);
    if (!have)
      return lethe_errf(err, LETHE_E_IO, "%s: muse.dir: %s has no %s (MUSE's layout: "
                        "docs/file-formats.md, \"MUSE\")", where, dir, required[i]);
  }
  return 0;
}

int muse_check(const experiment *e, lethe_err *err) {
  if (lethe_kind_parse(lcfg_string(&e->cfg, "kind")) != LETHE_KIND_MUSE)
    return lethe_errf(err, LETHE_E_CONFIG, "kind must be \"%s\" for a MUSE run, got \"%s\"",
                      lethe_kind_name(LETHE_KIND_MUSE), lcfg_string(&e->cfg, "kind"));
  if (*lcfg_string(&e->cfg, "data.dir"))
    return lethe_errf(err, LETHE_E_CONFIG, "data.dir: a MUSE run uses the embedded world");
  if (forget_percent(e) < 0)
    return lethe_errf(err, LETHE_E_CONFIG, "data.forget_split: \"%s\" is not one of the world's "
                      "forgetNN splits", lcfg_string(&e->cfg, "data.forget_split"));
  muse_settings ms;
  world_settings ws;
  if (experiment_muse(e, &ms, err) || experiment_world(e, &ws, err)) return -1;
  if (*ms.dir && check_corpus_dir(e, ms.dir, err)) return -1;
  muse_eval_options opt;
  muse_options(e, &opt);
  if (opt.batch_size < 1 || opt.verbmem_max_new_tokens < 1 || opt.knowmem_max_new_tokens < 1)
    return lethe_errf(err, LETHE_E_CONFIG, "eval.batch_size, eval.verbmem_max_new_tokens and "
                      "eval.knowmem_max_new_tokens must be >= 1");
  return check_method_fits(e, err);
}

/* The corpus: muse.dir's, or the embedded one generated from the world and
 * written to run_dir/corpus; either read with MUSE's reader. */
static int make_corpus(const experiment *e, const char *run_dir, muse_corpus *c, lethe_err *err) {
  world_settings ws;
  muse_settings ms;
  world w;
  muse_corpus made;
  if (experiment_world(e, &ws, err) || experiment_muse(e, &ms, err)) return -1;
  if (*ms.dir) return muse_load(ms.dir, c, err) ? lethe_err_prefix(err, "muse.dir") : 0;
  if (world_generate(&w, &ws, (uint64_t)lcfg_int(&e->cfg, "world.seed"), err)) return -1;
  int rc = muse_generate(&w, forget_percent(e), &ms, &made, err);
  world_free(&w);
  char *dir = lethe_path_join(run_dir, "corpus");
  if (rc == 0 && dist_is_root()) rc = muse_write(&made, dir, err);
  muse_corpus_free(&made);
  rc = dist_status(rc, err);
  if (rc == 0) rc = muse_load(dir, c, err);
  free(dir);
  return rc ? -1 : 0;
}

/* A hash of everything the corpus holds (the evaluations' cache keys). */
static uint64_t corpus_key(const muse_corpus *c) {
  const muse_texts *lists[] = {&c->forget, &c->retain1, &c->retain2, &c->holdout,
                               &c->privleak_forget, &c->privleak_holdout, &c->privleak_retain};
  const tofu_set *sets[] = {&c->knowmem_forget, &c->knowmem_retain, &c->icl_forget, &c->icl_retain};
  uint64_t h = 0x6d757365;
  for (size_t l = 0; l < sizeof lists / sizeof lists[0]; l++) {
    h = lethe_hash_bytes(&lists[l]->n, sizeof lists[l]->n, h);
    for (size_t i = 0; i < lists[l]->n; i++) h = lethe_hash_str(lists[l]->text[i], h);
  }
  for (size_t s = 0; s < sizeof sets / sizeof sets[0]; s++) {
    h = lethe_hash_bytes(&sets[s]->n, sizeof sets[s]->n, h);
    for (size_t i = 0; i < sets[s]->n; i++)
      h = lethe_hash_str(sets[s]->rows[i].answer, lethe_hash_str(sets[s]->rows[i].question, h));
  }
  h = lethe_hash_bytes(&c->verbmem.n, sizeof c->verbmem.n, h);
  for (size_t i = 0; i < c->verbmem.n; i++)
    h = lethe_hash_str(c->verbmem.rows[i].gt, lethe_hash_str(c->verbmem.rows[i].prompt, h));
  return h;
}

/* Documents of several lists in one borrowed array (free the array only). */
static char **join_texts(const muse_texts *const *lists, int n_lists, size_t *n) {
  *n = 0;
  for (int i = 0; i < n_lists; i++) *n += lists[i]->n;
  char **all = lethe_calloc(*n ? *n : 1, sizeof *all), **p = all;
  for (int i = 0; i < n_lists; i++)
    for (size_t j = 0; j < lists[i]->n; j++) *p++ = lists[i]->text[j];
  return all;
}

/* The MUSE evaluation of the model in stage s, cached in the stage's
 * directory under a key of the evaluation's settings, the corpus and
 * (for PrivLeak) the retain model; *out_dir = where it is (malloc'd).
 * Every rank evaluates; rank 0 decides and writes (as prepare.c's). */
static int evaluate_stage(const experiment *e, const stage_out *s, const muse_corpus *c,
                          uint64_t salt, double retain_auc, const char *what, char **out_dir,
                          lethe_err *err) {
  static const char *const deps[] = {"eval.verbmem_max_new_tokens", "eval.knowmem_max_new_tokens",
                                     "eval.batch_size", "data.max_length", "data.answer_end",
                                     "data.format", "compute"};
  char name[64];
  uint64_t key = experiment_key(e, deps, EXPERIMENT_N_PATHS(deps), corpus_key(c) ^ salt);
  snprintf(name, sizeof name, "muse-eval-%016llx", (unsigned long long)key);
  *out_dir = lethe_path_join(s->work ? s->work : s->dir, name);
  char *summary = lethe_path_join(*out_dir, "summary.json");
  int have = lethe_file_exists(summary);
  free(summary);
  dist_bcast(&have, sizeof have, 0);
  if (have) return 0;
  progress_phase(what);
  llama_model m = {0};
  tok_tokenizer *tok = NULL;
  tofu_format fmt;
  experiment_format(e, &fmt);
  muse_eval_options opt;
  muse_options(e, &opt);
  muse_report r = {0};
  int rc = stage_tokenizer(s->dir, &tok, err) || llama_load(&m, s->dir, err) ? -1 : 0;
  if (rc == 0) {
    experiment_set_compute(e, &m);
    llama_freeze(&m);
    rc = muse_evaluate(&m, tok, &fmt, c, &opt, retain_auc, &r, err);
  }
  if (rc == 0 && dist_is_root())
    rc = lethe_mkdir_p(*out_dir, err) || muse_report_write(&r, *out_dir, err) ? -1 : 0;
  rc = dist_status(rc, err); /* after rank 0's writes: every rank reads them next */
  if (rc == 0 && !e->quiet)
    lethe_log(LETHE_LOG_INFO, "%s: VerbMem %.3f, KnowMem forget %.3f retain %.3f, PrivLeak %.1f",
              what, r.score_verbmem_forget, r.score_knowmem_forget, r.score_knowmem_retain,
              r.privleak);
  muse_report_free(&r);
  llama_free(&m);
  if (tok) tok_free(tok);
  return rc ? lethe_err_prefix(err, "%s", what) : 0;
}

/* Copies the evaluation in from_dir to run_dir/name (eval.json and
 * summary.json) and puts its summary under `name` in the run's summary. */
static int take_reference(const char *from_dir, const char *run_dir, const char *name,
                          json_t *summary, lethe_err *err) {
  char *to_dir = lethe_path_join(run_dir, name);
  int rc = dist_is_root() ? lethe_mkdir_p(to_dir, err) : 0;
  static const char *const files[] = {"eval.json", "summary.json"};
  for (int i = 0; rc == 0 && i < 2; i++) {
    char *from = lethe_path_join(from_dir, files[i]), *to = lethe_path_join(to_dir, files[i]);
    char *text = NULL;
    size_t len;
    rc = lethe_read_file(from, (size_t)1 << 31, &text, &len, err);
    if (rc == 0 && dist_is_root()) rc = lethe_write_file_atomic(to, text, len, err);
    if (rc == 0 && i == 1) {
      json_error_t jerr;
      json_t *j = json_loads(text, 0, &jerr);
      if (!j) rc = lethe_errf(err, LETHE_E_FORMAT, "%s:%d: %s", from, jerr.line, jerr.text);
      json_object_set_new(summary, name, j);
    }
    free(text), free(from), free(to);
  }
  free(to_dir);
  return rc;
}

/* ---- the unlearning run's side (unlearn_source) ---------------------------------- */
typedef struct muse_unlearn {
  const experiment *e;
  const muse_corpus *c;
  tok_tokenizer *tok;
  tofu_format fmt;
  muse_eval_options opt;
  double retain_auc;
  muse_report last; /* the last evaluation, for its files */
} muse_unlearn;

/* Forget rows: raw/forget; retain rows: raw/retain1 (MUSE's retain set). */
static int unlearn_rows(void *vctx, const tok_tokenizer *tok, const tofu_format *fmt,
                        uint64_t seed, tofu_forget_data *d, lethe_err *err) {
  const muse_corpus *c = ((muse_unlearn *)vctx)->c;
  return tofu_forget_data_texts(d, c->forget.text, c->forget.n, c->retain1.text, c->retain1.n, tok,
                                fmt, seed, err);
}

static int unlearn_evaluate(void *vctx, llama_model *policy, long step, json_t **point,
                            lethe_err *err) {
  muse_unlearn *u = vctx;
  muse_report_free(&u->last);
  if (muse_evaluate(policy, u->tok, &u->fmt, u->c, &u->opt, u->retain_auc, &u->last, err)) return -1;
  *point = muse_summary_json(&u->last);
  json_object_del(*point, "kind");
  if (!u->e->quiet)
    lethe_log(LETHE_LOG_INFO, "eval step %ld: VerbMem %.3f, KnowMem forget %.3f retain %.3f, "
              "PrivLeak %.1f", step, u->last.score_verbmem_forget, u->last.score_knowmem_forget,
              u->last.score_knowmem_retain, u->last.privleak);
  return 0;
}

static int unlearn_write(void *vctx, const char *dir, lethe_err *err) {
  return muse_report_write(&((muse_unlearn *)vctx)->last, dir, err);
}

/* The method on the target, the reference evaluations in summary. */
static int unlearn_target(const experiment *e, const char *run_dir, const stage_out *target,
                          const muse_corpus *c, double retain_auc, json_t *summary,
                          lethe_err *err) {
  muse_unlearn u = {.e = e, .c = c, .retain_auc = retain_auc};
  experiment_format(e, &u.fmt);
  muse_options(e, &u.opt);
  char name[64];
  snprintf(name, sizeof name, "MUSE %s", lcfg_string(&e->cfg, "data.forget_split"));
  unlearn_source src = {name, &u, unlearn_rows, unlearn_evaluate, unlearn_write};
  int rc = stage_tokenizer(target->dir, &u.tok, err) ||
                   run_unlearn_source(e, run_dir, target->dir, &src, summary, err)
               ? -1
               : 0;
  muse_report_free(&u.last);
  if (u.tok) tok_free(u.tok);
  return rc;
}

int run_muse(const experiment *e, const char *run_dir, lethe_err *err) {
  if (muse_check(e, err) || lethe_mkdir_p(run_dir, err)) return -1;
  stage_out data = {0}, base = {0}, target = {0}, retain = {0};
  muse_corpus c = {0};
  char *retain_eval = NULL, *target_eval = NULL;
  json_t *summary = json_pack("{s:s, s:s}", "kind", lethe_kind_name(LETHE_KIND_MUSE),
                              "forget_split", lcfg_string(&e->cfg, "data.forget_split"));
  int rc = make_corpus(e, run_dir, &c, err) || stage_data(e, &data, err) ||
                   stage_base(e, &data, &base, err)
               ? -1
               : 0;
  if (rc == 0) {
    const muse_texts *all[] = {&c.forget, &c.retain1, &c.retain2}, *kept[] = {&c.retain1, &c.retain2};
    size_t n_all, n_kept;
    char **all_docs = join_texts(all, 3, &n_all), **kept_docs = join_texts(kept, 2, &n_kept);
    rc = stage_finetune_texts(e, &data, &base, "muse-target", all_docs, n_all, &target, err) ||
                 stage_finetune_texts(e, &data, &base, "muse-retain", kept_docs, n_kept, &retain, err)
             ? -1
             : 0;
    free(all_docs), free(kept_docs);
  }
  double retain_auc = NAN;
  if (rc == 0)
    rc = evaluate_stage(e, &retain, &c, 0, NAN, "evaluating the retain model (MUSE)",
                         &retain_eval, err) ||
                 take_reference(retain_eval, run_dir, "retain", summary, err)
             ? -1
             : 0;
  if (rc == 0) {
    char *file = lethe_path_join(retain_eval, "summary.json");
    rc = muse_read_privleak_auc(file, &retain_auc, err);
    free(file);
  }
  if (rc == 0)
    rc = evaluate_stage(e, &target, &c, retain.key, retain_auc,
                        "evaluating the target model (MUSE)", &target_eval, err) ||
                 take_reference(target_eval, run_dir, "target", summary, err)
             ? -1
             : 0;
  if (rc == 0) rc = unlearn_target(e, run_dir, &target, &c, retain_auc, summary, err);
  json_decref(summary);
  muse_corpus_free(&c);
  stage_out_free(&data), stage_out_free(&base), stage_out_free(&target), stage_out_free(&retain);
  free(retain_eval), free(target_eval);
  return rc;
}
