/* muse_run — kind "muse": corpus, base, target and retain models, MUSE's
 * evaluation of both (see muse_run.h). */
#include "muse/muse_run.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "core/kind.h"
#include "evaluate/eval_muse.h"
#include "pipeline/stages.h"

/* NN of data.forget_split = "forgetNN" (one of world_forget_percents), else -1. */
static int forget_percent(const experiment *e) {
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  int pct, used = 0;
  if (sscanf(split, "forget%2d%n", &pct, &used) != 1 || split[used] != '\0') return -1;
  for (int p = 0; p < WORLD_N_FORGET_SPLITS; p++)
    if (world_forget_percents[p] == pct) return pct;
  return -1;
}

static void eval_options(const experiment *e, muse_eval_options *opt) {
  opt->verbmem_max_new_tokens = (int)lcfg_int(&e->cfg, "eval.verbmem_max_new_tokens");
  opt->knowmem_max_new_tokens = (int)lcfg_int(&e->cfg, "eval.knowmem_max_new_tokens");
  opt->batch_size = (int)lcfg_int(&e->cfg, "eval.batch_size");
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
  muse_eval_options opt;
  eval_options(e, &opt);
  if (opt.batch_size < 1 || opt.verbmem_max_new_tokens < 1 || opt.knowmem_max_new_tokens < 1)
    return lethe_errf(err, LETHE_E_CONFIG, "eval.batch_size, eval.verbmem_max_new_tokens and "
                      "eval.knowmem_max_new_tokens must be >= 1");
  return 0;
}

/* The corpus from the world the data stage holds, written to run_dir/corpus
 * and read back with MUSE's reader. */
static int make_corpus(const experiment *e, const char *dir, muse_corpus *c, lethe_err *err) {
  world_settings ws;
  muse_settings ms;
  world w;
  muse_corpus made;
  if (experiment_world(e, &ws, err) || experiment_muse(e, &ms, err) ||
      world_generate(&w, &ws, (uint64_t)lcfg_int(&e->cfg, "world.seed"), err))
    return -1;
  int rc = muse_generate(&w, forget_percent(e), &ms, &made, err);
  world_free(&w);
  if (rc == 0) rc = muse_write(&made, dir, err);
  muse_corpus_free(&made);
  return rc ? -1 : muse_load(dir, c, err);
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

/* Loads the model in model_dir, evaluates it into dir/name and returns its
 * Min-K% AUC. */
static int evaluate_stage(const experiment *e, const char *model_dir, const muse_corpus *c,
                          double retain_auc, const char *run_dir, const char *name,
                          json_t *summary, double *auc, lethe_err *err) {
  llama_model m = {0};
  tok_tokenizer *tok = NULL;
  tofu_format fmt;
  experiment_format(e, &fmt);
  muse_eval_options opt;
  eval_options(e, &opt);
  muse_report r = {0};
  char *dir = lethe_path_join(run_dir, name), *file = lethe_path_join(dir, "summary.json");
  int rc = stage_tokenizer(model_dir, &tok, err) || llama_load(&m, model_dir, err) ? -1 : 0;
  if (rc == 0) {
    experiment_set_compute(e, &m);
    llama_freeze(&m);
    rc = muse_evaluate(&m, tok, &fmt, c, &opt, retain_auc, &r, err);
  }
  if (rc == 0) rc = lethe_mkdir_p(dir, err) || muse_report_write(&r, dir, err) ? -1 : 0;
  if (rc == 0) rc = muse_read_privleak_auc(file, auc, err);
  if (rc == 0) json_object_set_new(summary, name, json_load_file(file, 0, NULL));
  if (rc == 0 && !e->quiet)
    lethe_log(LETHE_LOG_INFO, "%s: VerbMem %.3f, KnowMem forget %.3f retain %.3f, PrivLeak %.1f",
              name, r.score_verbmem_forget, r.score_knowmem_forget, r.score_knowmem_retain,
              r.privleak);
  if (rc) lethe_err_prefix(err, "%s model", name);
  muse_report_free(&r);
  llama_free(&m);
  if (tok) tok_free(tok);
  free(dir), free(file);
  return rc;
}

static int write_summary(const char *run_dir, json_t *summary, lethe_err *err) {
  char *path = lethe_path_join(run_dir, "summary.json");
  int rc = lethe_json_write_atomic(path, summary, JSON_INDENT(1) | JSON_PRESERVE_ORDER,
                                   LETHE_JSON_NEWLINE, err);
  free(path);
  if (rc) return -1;
  path = lethe_path_join(run_dir, "DONE");
  rc = lethe_write_file_atomic(path, "ok\n", 3, err);
  free(path);
  return rc;
}

int run_muse(const experiment *e, const char *run_dir, lethe_err *err) {
  if (muse_check(e, err) || lethe_mkdir_p(run_dir, err)) return -1;
  char *config = lethe_path_join(run_dir, "config.cfg"), *corpus = lethe_path_join(run_dir, "corpus");
  stage_out data = {0}, base = {0}, target = {0}, retain = {0};
  muse_corpus c = {0};
  json_t *summary = json_pack("{s:s, s:s}", "kind", lethe_kind_name(LETHE_KIND_MUSE),
                              "forget_split", lcfg_string(&e->cfg, "data.forget_split"));
  int rc = lcfg_write(&e->cfg, config, err) || make_corpus(e, corpus, &c, err) ||
                   stage_data(e, &data, err) || stage_base(e, &data, &base, err)
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
  double retain_auc = NAN, target_auc;
  if (rc == 0)
    rc = evaluate_stage(e, retain.dir, &c, NAN, run_dir, "retain", summary, &retain_auc, err);
  if (rc == 0)
    rc = evaluate_stage(e, target.dir, &c, retain_auc, run_dir, "target", summary, &target_auc, err);
  if (rc == 0) rc = write_summary(run_dir, summary, err);
  json_decref(summary);
  muse_corpus_free(&c);
  stage_out_free(&data), stage_out_free(&base), stage_out_free(&target), stage_out_free(&retain);
  free(config), free(corpus);
  return rc;
}
