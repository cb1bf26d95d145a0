/* unlearn — stages + method + trainer + evaluation history (see unlearn.h). */
#include "unlearn/unlearn.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dist.h"
#include "core/json_file.h"
#include "core/progress.h"
#include "model/safetensors.h"
#include "model/token_batch.h"
#include "evaluate/evaluate.h"
#include "pipeline/prepare.h"
#include "pipeline/stages.h"
#include "tensor/tensor.h"
#include "unlearn/unlearn_internal.h"

/* Rank 0 appends; the others have nothing to do. */
static int append_line(const char *run_dir, const char *file, json_t *obj, lethe_err *err) {
  if (!dist_is_root()) return 0;
  char *path = lethe_path_join(run_dir, file);
  char *text = json_dumps(obj, JSON_COMPACT | JSON_ENSURE_ASCII);
  FILE *f = fopen(path, "a");
  int rc = 0;
  if (!f || fprintf(f, "%s\n", text) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0)
    rc = lethe_errf(err, LETHE_E_IO, "%s: cannot append", path);
  if (f) fclose(f);
  free(text);
  free(path);
  return rc;
}

/* An evaluation's numbers o made a history point: where the run is. */
static json_t *at_step(const run_ctx *c, json_t *o, long step, double loss) {
  json_object_set_new(o, "step", json_integer(step));
  json_object_set_new(o, "epoch", json_real((double)step / (double)c->steps_per_epoch));
  json_object_set_new(o, "loss", step ? json_real(loss) : json_null());
  return o;
}

static double jnum(json_t *o, const char *k) {
  json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Keeps `point` as best if its forget quality beats the current best. */
static void keep_best(json_t **best, json_t *point) {
  double fq = jnum(point, "forget_quality");
  if (!isfinite(fq)) return;
  if (*best && !(fq > jnum(*best, "forget_quality"))) return;
  json_decref(*best);
  *best = json_deep_copy(point);
}

static void consider(run_ctx *c, json_t *point) {
  keep_best(&c->best, point);
  if (jnum(point, "model_utility") >= c->mu_fraction * c->target_mu)
    keep_best(&c->best_constrained, point);
}

static int should_eval(const run_ctx *c, long step) {
  if (step == 0) return c->eval_at_start;
  return step % c->eval_every == 0 || step == c->total_steps;
}

/* The TOFU evaluation of the policy at `step`: the history line, best/
 * and (at the last step) the run's eval.json. */
static int tofu_point(run_ctx *c, long step, double loss, lethe_err *err) {
  eval_report r;
  double t0 = lethe_now();
  if (evaluate_model(&c->policy, &c->ref, c->tok, &c->fmt, &c->ed, &c->eopt, c->retain.forget_tr,
                     c->retain.n_forget, c->ews, &r, err) != 0)
    return lethe_err_prefix(err, "evaluation at step %ld", step);
  if (eval_report_against_retain(&r, &c->retain, err) != 0) {
    eval_report_free(&r);
    return lethe_err_prefix(err, "evaluation at step %ld: against the retain model", step);
  }
  c->eval_seconds += lethe_now() - t0;
  json_t *point = at_step(c, eval_summary_json(&r), step, loss);
  int rc = append_line(c->run_dir, "history.jsonl", point, err);
  consider(c, point);
  if (rc == 0 && c->best && jnum(c->best, "step") == step && dist_is_root()) {
    char *dir = lethe_path_join(c->run_dir, "best");
    rc = eval_report_write(&r, &c->ed, dir, err);
    free(dir);
  }
  if (rc == 0 && step == c->total_steps) {
    if (dist_is_root()) rc = eval_report_write(&r, &c->ed, c->run_dir, err);
    json_decref(c->final);
    c->final = json_deep_copy(point);
  }
  if (!c->e->quiet) {
    char msg[256], leak[48] = ""; /* PrivLeak of the LOSS attack, when measured (eval.mia) */
    if (isfinite(r.privleak[MIA_LOSS])) snprintf(leak, sizeof leak, ", PrivLeak %.1f", r.privleak[MIA_LOSS]);
    snprintf(msg, sizeof msg, "eval step %ld: model utility %.3f, forget quality %.3g%s, forget KL %.3g",
             step, r.model_utility, r.forget_quality, leak, r.forget_kl);
    lethe_log(LETHE_LOG_INFO, "%s", msg);
  }
  json_decref(point);
  eval_report_free(&r);
  return rc;
}

/* The caller's evaluation of the policy at `step` (run_unlearn_source):
 * the history line and, at the last step, its files in the run directory. */
static int source_point(run_ctx *c, long step, double loss, lethe_err *err) {
  json_t *point = NULL;
  double t0 = lethe_now();
  if (c->source->evaluate(c->source->ctx, &c->policy, step, &point, err) != 0)
    return lethe_err_prefix(err, "evaluation at step %ld", step);
  c->eval_seconds += lethe_now() - t0;
  at_step(c, point, step, loss);
  int rc = append_line(c->run_dir, "history.jsonl", point, err);
  if (rc == 0 && step == c->total_steps) {
    if (dist_is_root()) rc = c->source->write(c->source->ctx, c->run_dir, err);
    json_decref(c->final);
    c->final = json_deep_copy(point);
  }
  json_decref(point);
  return rc;
}

static int ul_after(void *vctx, long step, double loss, lethe_err *err) {
  run_ctx *c = vctx;
  int rc = 0;
  if (step > 0) {
    json_t *line = json_object();
    json_object_set_new(line, "step", json_integer(step));
    json_object_set_new(line, "loss", json_real(loss));
    json_object_set_new(line, "lr", json_real(train_lr_at(c->tc, step - 1)));
    for (int i = 0; i < c->n_metrics; i++)
      json_object_set_new(line, c->metrics[i].name,
                          json_real(c->metrics[i].sum / (double)c->metrics[i].count));
    unlearn_clear_metrics(c);
    rc = append_line(c->run_dir, "steps.jsonl", line, err);
    json_decref(line);
  }
  if (!should_eval(c, step)) return rc;
  if (dist_status(rc, err) != 0) return -1; /* rank 0 appends alone; all evaluate, or none */
  return c->source ? source_point(c, step, loss, err) : tofu_point(c, step, loss, err);
}

int unlearn_truncate_jsonl(const char *run_dir, const char *file, long step, json_t *kept,
                           lethe_err *err) {
  char *path = lethe_path_join(run_dir, file), *text = NULL;
  size_t len = 0, at = 0;
  int rc = lethe_file_exists(path) ? lethe_read_file(path, (size_t)1 << 30, &text, &len, err) : 0;
  char *out = lethe_malloc(len + 1);
  long line_no = 0;
  for (char *line = text, *end; rc == 0 && text && line < text + len; line = end + 1) {
    end = memchr(line, '\n', (size_t)(text + len - line));
    line_no++;
    if (!end) break; /* torn by the kill: rewritten below without it */
    *end = '\0';
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!json_is_object(o)) {
      rc = lethe_errf(err, LETHE_E_FORMAT, "%s:%ld: not a JSON object (%s); cannot resume this run",
                      path, line_no, o ? "another JSON value" : jerr.text);
    } else if (json_integer_value(json_object_get(o, "step")) <= step) {
      at += (size_t)sprintf(out + at, "%s\n", line);
      json_array_append(kept, o);
    }
    json_decref(o);
  }
  if (rc == 0 && text && dist_is_root()) rc = lethe_write_file_atomic(path, out, at, err);
  free(out);
  free(text);
  free(path);
  return rc;
}

/* Before training: a fresh start (resumed < 0) removes stale lines; a
 * resumed run keeps those up to its checkpoint's step and takes the kept
 * evaluation points into best and best-constrained. Every rank calls it. */
static int resume_history(run_ctx *c, long resumed, lethe_err *err) {
  if (resumed < 0) {
    const char *files[] = {"steps.jsonl", "history.jsonl"};
    for (int i = 0; i < 2 && dist_is_root(); i++) {
      char *path = lethe_path_join(c->run_dir, files[i]);
      unlink(path);
      free(path);
    }
    return 0;
  }
  json_t *steps = json_array(), *points = json_array();
  int rc = unlearn_truncate_jsonl(c->run_dir, "steps.jsonl", resumed, steps, err);
  if (rc == 0) rc = unlearn_truncate_jsonl(c->run_dir, "history.jsonl", resumed, points, err);
  for (size_t i = 0; rc == 0 && i < json_array_size(points); i++) consider(c, json_array_get(points, i));
  json_decref(steps);
  json_decref(points);
  return dist_status(rc, err); /* rank 0's rewrite failed: every rank stops */
}

static long checkpoint_step(const char *path) {
  st_file f;
  long step = -1;
  if (st_open(&f, path, NULL) != 0) return -1;
  json_t *meta = f.metadata_json ? json_loads(f.metadata_json, 0, NULL) : NULL;
  const char *s = json_string_value(json_object_get(meta, "step"));
  if (s) step = strtol(s, NULL, 10);
  json_decref(meta);
  st_close(&f);
  return step;
}

/* What every run's summary.json holds: the method, the steps, the times,
 * what trained and computed, the final point. */
static void run_fields(const run_ctx *c, json_t *o, double seconds) {
  json_object_set_new(o, "method", json_string(c->inst.plugin->desc->name));
  json_object_set_new(o, "forget_split", json_string(lcfg_string(&c->e->cfg, "data.forget_split")));
  json_object_set_new(o, "steps", json_integer(c->total_steps));
  json_object_set_new(o, "steps_per_epoch", json_integer(c->steps_per_epoch));
  json_object_set_new(o, "seconds", json_real(seconds));
  json_object_set_new(o, "eval_seconds", json_real(c->eval_seconds));
  int adapter = c->lora.n_params > 0; /* what trained: the adapter (maybe merged by now) */
  json_object_set_new(o, "trainable_parameters",
                      json_integer((json_int_t)(adapter ? c->lora.n_params : c->policy.n_trainable)));
  json_object_set_new(o, "trainable_tensors",
                      json_integer(adapter ? lora_named_tensors(&c->lora, &c->policy.cfg, 0, NULL, 0)
                                           : llama_trainable_tensors(&c->policy)));
  /* what computed it: compute = "auto" resolved, and the CPU class */
  char machine[512];
  tensor_backend_describe(machine, sizeof machine);
  json_object_set_new(o, "compute", json_string(lcfg_string(&c->e->cfg, "compute")));
  json_object_set_new(o, "machine", json_string(machine));
  json_object_set(o, "final", c->final ? c->final : json_null());
}

/* A TOFU run's summary.json: run_fields, the best points and the references. */
static json_t *tofu_summary(const run_ctx *c, const prepared *p, double seconds) {
  json_t *o = json_object();
  run_fields(c, o, seconds);
  json_object_set_new(o, "mu_fraction", json_real(c->mu_fraction));
  json_object_set(o, "best", c->best ? c->best : json_null());
  json_object_set(o, "best_constrained", c->best_constrained ? c->best_constrained : json_null());
  /* the references; the second retain model only where calibration ran */
  const char *refs[3][2] = {{"target", p->target_eval},
                            {"retain", p->retain_eval},
                            {"retain_replica", p->replica_eval}};
  for (int i = 0; i < 3 && refs[i][1]; i++) {
    char *path = lethe_path_join(refs[i][1], "summary.json");
    json_t *s = json_load_file(path, 0, NULL);
    json_object_set_new(o, refs[i][0], s ? s : json_null());
    free(path);
  }
  return o;
}

/* The evaluation's data and references: the eval sets, the retain model's
 * evaluation, the target's model utility. */
static int load_eval_refs(run_ctx *c, const prepared *p, const char *split, lethe_err *err) {
  if (eval_data_load(&c->ed, p->data.dir, split, c->eopt.max_rows, err) != 0) return -1;
  c->ews = eval_workspace_new();
  char *retain_eval = lethe_path_join(p->retain_eval, "eval.json");
  int rc = eval_read_retain(retain_eval, &c->retain, err);
  free(retain_eval);
  char *target_summary = lethe_path_join(p->target_eval, "summary.json");
  json_t *ts = json_load_file(target_summary, 0, NULL);
  c->target_mu = jnum(ts, "model_utility");
  json_decref(ts);
  free(target_summary);
  return rc;
}

/* With unlearn.lora: RUN/adapter (PEFT's adapter directory, on the target
 * model), and, with lora.save_merged, the merged weights in the policy for
 * RUN/model (the adapter is detached: it is in the weights now). */
static int save_adapter(run_ctx *c, const char *target_dir, int *merged, lethe_err *err) {
  char *dir = lethe_path_join(c->run_dir, "adapter");
  int rc = lora_save(&c->lora, &c->policy.cfg, dir, target_dir, err);
  free(dir);
  *merged = rc == 0 && lcfg_bool(&c->e->cfg, "unlearn.lora.save_merged");
  if (*merged) {
    llama_attach_lora(&c->policy, NULL);
    lora_merge(&c->policy, &c->lora);
  }
  return rc;
}

/* Rank 0 after training: the model (if asked), summary.json (the summary
 * object, taken), then DONE in place of the checkpoint. */
static int finish_run(run_ctx *c, const char *target_dir, json_t *summary, const char *ckpt,
                      lethe_err *err) {
  int rc = 0;
  if (lcfg_bool(&c->e->cfg, "unlearn.save_model")) {
    llama_release_frozen(&c->policy); /* merging and saving read float32 */
    int whole = !c->policy.lora;
    if (c->policy.lora) rc = save_adapter(c, target_dir, &whole, err);
    char *dir = lethe_path_join(c->run_dir, "model");
    if (rc == 0 && whole) rc = llama_save(&c->policy, dir, err);
    if (rc == 0 && whole) rc = stage_copy_tokenizer(target_dir, dir, err); /* transformers loads it whole */
    free(dir);
  }
  char *path = lethe_path_join(c->run_dir, "summary.json");
  if (rc == 0)
    rc = lethe_json_write_atomic(path, summary, JSON_INDENT(1) | JSON_ENSURE_ASCII,
                                 LETHE_JSON_NO_NEWLINE, err);
  free(path);
  json_decref(summary);
  if (rc == 0) {
    unlink(ckpt);
    char *done_path = lethe_path_join(c->run_dir, "DONE");
    rc = lethe_write_file_atomic(done_path, "ok\n", 3, err);
    free(done_path);
  }
  return rc;
}

int run_plan(const experiment *e, FILE *out, lethe_err *err) {
  prepared p = {0};
  run_ctx c = {.e = e};
  int rc = unlearn_ctx_init(&c, e, err) != 0 || prepare_stages(e, STAGES_ALL, &p, err) != 0 ||
                   unlearn_open_data(&c, p.data.dir, p.target.dir, err) != 0 ||
                   unlearn_check_memory(&c, p.target.dir, out, err) != 0
               ? -1
               : 0;
  unlearn_ctx_free(&c);
  prepared_free(&p);
  return rc;
}

/* The run's start shared by run_unlearn and run_unlearn_source: run_dir
 * and its config.cfg with the method resolved (e's settings take it). */
static int start_run(run_ctx *c, experiment *e, const char *run_dir, lethe_err *err) {
  if (lethe_mkdir_p(run_dir, err) != 0 || lcfg_record_method(&e->cfg, experiment_schema, &c->ms, err) != 0)
    return -1;
  char *config_path = lethe_path_join(run_dir, "config.cfg");
  int rc = dist_is_root() ? lcfg_write(&e->cfg, config_path, err) : 0;
  free(config_path);
  return rc;
}

/* The steps, from the checkpoint when resuming, with their evaluations. */
static int train_run(run_ctx *c, const char *on, const char *ckpt, lethe_err *err) {
  train_config tc;
  char label[96];
  snprintf(label, sizeof label, "unlearn %s on %s", c->ms.plugin.desc->name, on);
  unlearn_fill_train_config(c, label, ckpt, &tc);
  c->tc = &tc;
  long resumed = c->e->resume && lethe_file_exists(ckpt) ? checkpoint_step(ckpt) : -1;
  train_result res;
  int rc = resume_history(c, resumed, err) != 0 ||
                   trainer_run(&c->policy, &tc, unlearn_micro, ul_after, c, &res, err) != 0
               ? -1
               : 0;
  c->tc = NULL;
  return rc;
}

int run_unlearn(const experiment *ce, const char *run_dir, lethe_err *err) {
  experiment *e = (experiment *)ce; /* the resolved method is recorded in e->cfg */
  double t0 = lethe_now();
  prepared p = {0};
  run_ctx c = {.e = e, .run_dir = run_dir};
  char *ckpt = lethe_path_join(run_dir, "checkpoint.safetensors");
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  /* the method before the stages: a wrong name or parameter costs no stage */
  int rc = unlearn_ctx_init(&c, e, err) != 0 || prepare_stages(e, STAGES_ALL, &p, err) != 0 ||
                   start_run(&c, e, run_dir, err) != 0 ||
                   unlearn_open(&c, p.data.dir, p.target.dir, err) != 0 ||
                   load_eval_refs(&c, &p, split, err) != 0 || train_run(&c, split, ckpt, err) != 0
               ? -1
               : 0;
  if (rc == 0 && dist_is_root())
    rc = finish_run(&c, p.target.dir, tofu_summary(&c, &p, lethe_now() - t0), ckpt, err);
  free(ckpt);
  unlearn_ctx_free(&c);
  prepared_free(&p);
  return rc;
}

/* ---- a run on the caller's rows (unlearn.h) ------------------------------------- */
int run_unlearn_source(const experiment *ce, const char *run_dir, const char *model_dir,
                       const unlearn_source *src, json_t *summary, lethe_err *err) {
  experiment *e = (experiment *)ce;
  double t0 = lethe_now();
  run_ctx c = {.e = e, .run_dir = run_dir, .source = src};
  char *ckpt = lethe_path_join(run_dir, "checkpoint.safetensors");
  int rc = unlearn_ctx_init(&c, e, err) != 0 || start_run(&c, e, run_dir, err) != 0 ||
                   unlearn_open(&c, NULL, model_dir, err) != 0 ||
                   train_run(&c, src->name, ckpt, err) != 0
               ? -1
               : 0;
  if (rc == 0 && dist_is_root()) {
    json_t *o = json_deep_copy(summary);
    run_fields(&c, o, lethe_now() - t0);
    rc = finish_run(&c, model_dir, o, ckpt, err);
  }
  free(ckpt);
  unlearn_ctx_free(&c);
  return rc;
}
