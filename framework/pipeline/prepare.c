/* prepare — the stages an unlearning run needs, in order, with their
 * evaluations (see prepare.h). */
#include "pipeline/prepare.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/progress.h"
#include "evaluate/evaluate.h"

/* The calibration's second retain model: its fine-tuning seed is the retain
 * model's mixed with this offset (another data order, same data). */
#define REPLICA_SEED_OFFSET 1

const char *forget_split_retain(const char *forget_split, char *buf, size_t n) {
  int pct;
  char tail;
  if (sscanf(forget_split, "forget%d%c", &pct, &tail) != 1 || pct <= 0 || pct >= 100) return NULL;
  snprintf(buf, n, "retain%02d", 100 - pct);
  return buf;
}

/* Every field: a field left unset is stack garbage, which differs between
 * ranks (pairwise picks the evaluation path, and with it the gathers). */
void experiment_eval_options(const experiment *e, eval_options *o) {
  *o = (eval_options){.max_rows = (int)lcfg_int(&e->cfg, "eval.max_rows"),
                      .max_new_tokens = (int)lcfg_int(&e->cfg, "eval.max_new_tokens"),
                      .batch_size = (int)lcfg_int(&e->cfg, "eval.batch_size"),
                      .skip_mia = !lcfg_bool(&e->cfg, "eval.mia")};
}

/* ---- the stages a run needs ------------------------------------------------- */
void prepared_free(prepared *p) {
  stage_out_free(&p->data);
  stage_out_free(&p->base);
  stage_out_free(&p->target);
  stage_out_free(&p->retain);
  stage_out_free(&p->replica);
  free(p->retain_eval);
  free(p->target_eval);
  free(p->replica_eval);
  memset(p, 0, sizeof *p);
}

/* Evaluates the model of stage `s` (`what`, e.g. "retain model") on the
 * forget split once (cached inside the stage directory, or its work
 * directory for a user's model), with the model's own tokenizer; measured
 * against the retain model's evaluation (NULL: none; forget quality,
 * the reference attack, PrivLeak), which retain_key identifies (0: none).
 * Every rank takes part; rank 0 decides and writes. */
static int stage_eval(const experiment *e, const stage_out *data, const stage_out *s, const char *what,
                      const char *split, const eval_retain *retain, uint64_t retain_key,
                      char **out_dir, lethe_err *err) {
  static const char *const deps[] = {"eval", "data.format", "data.system_prompt", "data.question_start", "data.question_end",
                                     "data.answer_tag", "data.answer_end", "data.max_length", "compute"};
  char name[128];
  /* "/2": evaluations cached before their options were all set may have run
   * on the pairwise path; "/3": before they held ES, EM, the reference
   * attack and PrivLeak. Never reuse them */
  uint64_t key = experiment_key(e, deps, EXPERIMENT_N_PATHS(deps),
                              lethe_hash_str(split, lethe_hash_str("/3", data->key ^ retain_key)));
  snprintf(name, sizeof name, "eval-%s-%016llx", split, (unsigned long long)key);
  *out_dir = lethe_path_join(s->work ? s->work : s->dir, name);
  char *summary = lethe_path_join(*out_dir, "summary.json");
  int have = lethe_file_exists(summary);
  free(summary);
  dist_bcast(&have, sizeof have, 0);
  if (have) return 0;
  char phase[96];
  snprintf(phase, sizeof phase, "evaluating the %s on %s", what, split);
  progress_phase(phase);
  tok_tokenizer *tok = NULL;
  llama_model m = {0};
  eval_data d = {0};
  eval_report r = {0};
  eval_options opt;
  experiment_eval_options(e, &opt);
  tofu_format fmt;
  experiment_format(e, &fmt);
  int rc = stage_tokenizer(s->dir, &tok, err);
  if (rc == 0 && (rc = llama_load(&m, s->dir, err)) == 0) {
    experiment_set_compute(e, &m);
    llama_freeze(&m); /* forward only: one layer of activations */
    experiment_hold_frozen(e, &m);
  }
  if (rc == 0) rc = eval_data_load(&d, data->dir, split, opt.max_rows, err);
  rc = dist_status(rc, err); /* the files every rank read */
  if (rc == 0)
    rc = evaluate_model(&m, NULL, tok, &fmt, &d, &opt, retain ? retain->forget_tr : NULL,
                        retain ? retain->n_forget : 0, NULL, &r, err);
  if (rc == 0 && retain) rc = eval_report_against_retain(&r, retain, err);
  if (rc == 0 && dist_is_root()) rc = eval_report_write(&r, &d, *out_dir, err);
  rc = dist_status(rc, err); /* after rank 0's writes: the others read them next */
  if (rc == 0 && !e->quiet)
    lethe_log(LETHE_LOG_INFO, "evaluated %s on %s: model utility %.3f, forget quality %.3g", s->dir,
              split, r.model_utility, r.forget_quality);
  eval_report_free(&r);
  eval_data_free(&d);
  llama_free(&m);
  if (tok) tok_free(tok);
  return rc;
}

int stage_set_parse(const char *s) {
  static const char *const names[] = {"all", "base", "target", "retain", "replica"};
  for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
    if (!strcmp(s, names[i])) return i;
  return -1;
}

/* The base model: base.path, or trained from scratch on the data. */
static int base_stage(const experiment *e, prepared *p, lethe_err *err) {
  return *lcfg_string(&e->cfg, "base.path") ? stage_external(e, "base.path", &p->base, err)
                                            : stage_base(e, &p->data, &p->base, err);
}

/* The target model: target.path, or the base fine-tuned on `full`. */
static int target_stage(const experiment *e, prepared *p, lethe_err *err) {
  return *lcfg_string(&e->cfg, "target.path")
             ? stage_external(e, "target.path", &p->target, err)
             : stage_finetune(e, &p->data, &p->base, "full", 0, &p->target, err);
}

/* retain.eval: an eval.json (or a directory holding one, as `lethe eval --out`
 * writes it) of the retain model; keyed by its contents. */
static int retain_from_eval(const experiment *e, prepared *p, uint64_t *key, lethe_err *err) {
  const char *given = lcfg_string(&e->cfg, "retain.eval");
  char where[600];
  lcfg_where(lcfg_setting(&e->cfg, "retain.eval"), where, sizeof where);
  char *file = stage_retain_eval_file(given), *text;
  char *dir = lethe_strdup(file), *slash = strrchr(dir, '/'); /* where summary.json may be */
  if (slash) *slash = '\0';
  else strcpy(dir, ".");
  size_t len;
  int rc = lethe_read_file(file, (size_t)1 << 31, &text, &len, err);
  free(file);
  if (rc != 0) {
    free(dir);
    return lethe_err_prefix(err, "%s: retain.eval", where);
  }
  *key = lethe_hash_bytes(text, len, 0x7265);
  free(text);
  p->retain_eval = dir;
  return 0;
}

/* The given models checked against each other. */
static int check_givens(const experiment *e, stage_givens g, lethe_err *err) {
  char where[600];
  if (*lcfg_string(&e->cfg, "retain.path") && *lcfg_string(&e->cfg, "retain.eval")) {
    lcfg_where(lcfg_setting(&e->cfg, "retain.eval"), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: set retain.path or retain.eval, not both", where);
  }
  if (g.target && !g.retain && !g.base) {
    lcfg_where(lcfg_setting(&e->cfg, "target.path"), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: target.path is a model of its own; the retain model must match it: set "
                      "retain.path (a retain model), retain.eval (its eval.json) or base.path (the "
                      "model to fine-tune it from)",
                      where);
  }
  return 0;
}

int prepare_stages(const experiment *e, stage_set which, prepared *p, lethe_err *err) {
  memset(p, 0, sizeof *p);
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  char retain_name[32];
  if (!forget_split_retain(split, retain_name, sizeof retain_name)) {
    config_setting_t *s = lcfg_setting(&e->cfg, "data.forget_split");
    char where[600];
    lcfg_where(s, where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: data.forget_split must be forgetNN (e.g. forget10), not '%s'", where, split);
  }
  stage_givens g = stage_given_models(e);
  if (check_givens(e, g, err) != 0) return -1;
  /* the second retain model is trained like the first: not when that one is given */
  int calibrate = lcfg_bool(&e->cfg, "calibration") && !g.retain;
  if (stage_data(e, &p->data, err) != 0) return -1;
  if ((!g.target || !g.retain) && base_stage(e, p, err) != 0) return -1;
  if (which == STAGES_BASE) return 0;
  if (which == STAGES_TARGET) return target_stage(e, p, err);
  if (which == STAGES_REPLICA)
    return calibrate ? stage_finetune(e, &p->data, &p->base, retain_name, REPLICA_SEED_OFFSET,
                                      &p->replica, err)
                     : 0;
  /* the retain model first: a suite may be training the target meanwhile */
  uint64_t retain_key = 0;
  if (*lcfg_string(&e->cfg, "retain.eval")) {
    if (retain_from_eval(e, p, &retain_key, err) != 0) return -1;
  } else {
    int rc = *lcfg_string(&e->cfg, "retain.path")
                 ? stage_external(e, "retain.path", &p->retain, err)
                 : stage_finetune(e, &p->data, &p->base, retain_name, 0, &p->retain, err);
    if (rc != 0 || stage_eval(e, &p->data, &p->retain, "retain model", split, NULL, 0,
                              &p->retain_eval, err) != 0)
      return -1;
    retain_key = p->retain.key;
  }
  if (which == STAGES_RETAIN) return 0;
  if (target_stage(e, p, err) != 0) return -1;
  char *eval_json = lethe_path_join(p->retain_eval, "eval.json");
  eval_retain retain = {0};
  int rc = dist_status(eval_read_retain(eval_json, &retain, err), err);
  free(eval_json);
  if (rc == 0)
    rc = stage_eval(e, &p->data, &p->target, "target model", split, &retain, retain_key,
                    &p->target_eval, err);
  if (rc == 0 && calibrate) /* is the benchmark able to tell them apart? */
    rc = stage_finetune(e, &p->data, &p->base, retain_name, REPLICA_SEED_OFFSET, &p->replica, err) != 0 ||
                 stage_eval(e, &p->data, &p->replica, "second retain model", split, &retain,
                            retain_key, &p->replica_eval, err) != 0
             ? -1
             : 0;
  eval_retain_free(&retain);
  return rc;
}

int run_prepare(const experiment *e, stage_set which, lethe_err *err) {
  prepared p;
  int rc = prepare_stages(e, which, &p, err);
  if (rc == 0) {
    printf("data:   %s\n", p.data.dir);
    if (p.base.dir) printf("base:   %s\n", p.base.dir);
    if (p.target.dir) printf("target: %s\n", p.target.dir);
    if (p.retain.dir) printf("retain: %s\n", p.retain.dir);
    if (p.target_eval) printf("target eval: %s\n", p.target_eval);
    if (p.retain_eval) printf("retain eval: %s\n", p.retain_eval);
    if (p.replica.dir) printf("second retain: %s\n", p.replica.dir);
    if (p.replica_eval) printf("second retain eval: %s\n", p.replica_eval);
  }
  prepared_free(&p);
  return rc;
}

int run_stages(const experiment *e, stage_set which, lethe_err *err) {
  prepared p;
  int rc = prepare_stages(e, which, &p, err);
  prepared_free(&p);
  return rc;
}
