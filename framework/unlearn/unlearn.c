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
#include "train/objective.h"
#include "unlearn/unlearn_plan.h"

/* ---- the unlearning run ------------------------------------------------------- */
/* A metric the plugin reported during the current step: its mean goes to
 * steps.jsonl. */
typedef struct metric_acc {
  char *name; /* owned */
  double sum;
  long count;
} metric_acc;

/* Reference log-probs of one row, computed once per example. */
typedef struct ref_row {
  float *logp;
  int len;
} ref_row;

typedef struct run_ctx {
  const experiment *e;
  const char *run_dir;
  method_spec ms;
  llama_model policy; /* trained (its adapter only, with unlearn.lora) */
  lora_adapter lora;  /* unlearn.lora: attached to policy when lora.rank > 0 */
  llama_model ref;    /* frozen target: reference logits for KL terms, forget KL in evaluation */
  tok_tokenizer *tok;
  objective obj;
  method_instance inst;
  uint32_t caps;
  tofu_forget_data fd;
  tofu_format fmt;
  int32_t pad, end; /* tofu_format_ids */
  int bs, accum, n_forget;
  uint64_t seed;
  int *order;
  long epoch;
  tofu_batch fb, rb, ib;
  ref_row *ref_cache[LETHE_SEG_COUNT]; /* per forget index: forget, retain partner, idk */
  float *ref_view;
  size_t ref_view_cap;
  metric_acc *metrics; /* this step's, in the order first reported */
  int n_metrics, metrics_cap;
  /* evaluation */
  eval_data ed;
  eval_options eopt;
  eval_workspace *ews; /* kept across the run's evaluations */
  double *retain_tr;
  size_t n_retain_tr;
  long eval_every, steps_per_epoch, total_steps;
  int eval_at_start;
  double target_mu, mu_fraction;
  json_t *best, *best_constrained, *final;
  const train_config *tc;
  double eval_seconds; /* time spent evaluating */
} run_ctx;

static void host_metric(void *vctx, const char *name, double value) {
  run_ctx *c = vctx;
  for (int i = 0; i < c->n_metrics; i++)
    if (!strcmp(c->metrics[i].name, name)) {
      c->metrics[i].sum += value;
      c->metrics[i].count++;
      return;
    }
  if (c->n_metrics == c->metrics_cap) {
    c->metrics_cap = c->metrics_cap ? 2 * c->metrics_cap : 8;
    c->metrics = lethe_realloc(c->metrics, sizeof *c->metrics * (size_t)c->metrics_cap);
  }
  c->metrics[c->n_metrics++] = (metric_acc){lethe_strdup(name), value, 1};
}

/* Forgets the step's metrics (after writing them). */
static void clear_metrics(run_ctx *c) {
  for (int i = 0; i < c->n_metrics; i++) free(c->metrics[i].name);
  c->n_metrics = 0;
}

static void host_log(void *vctx, int level, const char *msg) {
  (void)vctx;
  lethe_log(level, "%s", msg);
}

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

/* Stream of forget indices: example j of micro-batch `micro` of step `step`. */
static void micro_indices(run_ctx *c, long step, int micro, int B, int *idx) {
  long base = (step * c->accum + micro) * (long)B;
  for (int j = 0; j < B; j++)
    idx[j] = stage_stream_index(base + j, c->n_forget, c->seed, c->order, &c->epoch);
}

/* One packed batch (forget, retain, idk as the method needs) for indices idx. */
static void pack(run_ctx *c, const int *idx, int B, token_batch *out, lethe_segment *seg) {
  int need_retain = (c->caps & LETHE_CAP_RETAIN) != 0, need_idk = (c->caps & LETHE_CAP_IDK) != 0;
  tofu_forget_batch(&c->fd, &c->fmt, idx, B, c->pad, c->end, &c->fb, need_retain ? &c->rb : NULL,
                    need_idk ? &c->ib : NULL);
  token_batch parts[LETHE_SEG_COUNT] = {{0}};
  const token_batch *stack[LETHE_SEG_COUNT] = {NULL, NULL, NULL};
  const tofu_batch *src[LETHE_SEG_COUNT] = {&c->fb, need_retain ? &c->rb : NULL, need_idk ? &c->ib : NULL};
  for (int s = 0; s < LETHE_SEG_COUNT; s++) {
    if (!src[s]) continue;
    token_batch_from_arrays(&parts[s], src[s]->B, src[s]->T, src[s]->input_ids,
                            src[s]->attention_mask, src[s]->labels, c->pad);
    stack[s] = &parts[s];
  }
  int row0[LETHE_SEG_COUNT], nrows[LETHE_SEG_COUNT];
  token_batch_stack(out, stack, LETHE_SEG_COUNT, 0, c->pad, row0, nrows);
  for (int s = 0; s < LETHE_SEG_COUNT; s++) {
    seg[s].row0 = row0[s];
    seg[s].nrows = nrows[s];
    token_batch_free(&parts[s]);
  }
}

/* Computes the reference log-probs of every forget example's rows with the
 * policy before its first update (the policy then is the reference). */
static int build_ref_cache(run_ctx *c, lethe_err *err) {
  int n = c->n_forget, B = c->bs < n ? c->bs : n;
  for (int s = 0; s < LETHE_SEG_COUNT; s++) c->ref_cache[s] = lethe_calloc((size_t)n, sizeof(ref_row));
  int *idx = lethe_malloc(sizeof(int) * (size_t)B);
  int rc = 0;
  for (int start = 0; rc == 0 && start < n; start += B) {
    int b = n - start < B ? n - start : B;
    for (int j = 0; j < b; j++) idx[j] = start + j;
    token_batch tb;
    lethe_segment seg[LETHE_SEG_COUNT];
    pack(c, idx, b, &tb, seg);
    float *lp = lethe_malloc(sizeof(float) * (size_t)tb.B * tb.T);
    rc = objective_target_logp(&c->policy, &tb, lp, err);
    for (int s = 0; rc == 0 && s < LETHE_SEG_COUNT; s++)
      for (int r = 0; r < seg[s].nrows; r++) {
        ref_row *row = &c->ref_cache[s][idx[r]];
        row->len = tb.T;
        row->logp = lethe_malloc(sizeof(float) * (size_t)tb.T);
        memcpy(row->logp, lp + (size_t)(seg[s].row0 + r) * tb.T, sizeof(float) * (size_t)tb.T);
      }
    free(lp);
    token_batch_free(&tb);
  }
  free(idx);
  return rc;
}

static const float *ref_view(run_ctx *c, const token_batch *tb, const lethe_segment *seg, const int *idx) {
  size_t n = (size_t)tb->B * tb->T;
  if (n > c->ref_view_cap) {
    free(c->ref_view);
    c->ref_view = lethe_malloc(n * sizeof(float));
    c->ref_view_cap = n;
  }
  memset(c->ref_view, 0, n * sizeof(float));
  for (int s = 0; s < LETHE_SEG_COUNT; s++)
    for (int r = 0; r < seg[s].nrows; r++) {
      const ref_row *row = &c->ref_cache[s][idx[r]];
      int len = row->len < tb->T ? row->len : tb->T;
      memcpy(c->ref_view + (size_t)(seg[s].row0 + r) * tb->T, row->logp, sizeof(float) * (size_t)len);
    }
  return c->ref_view;
}

static int ul_micro(void *vctx, long step, int micro, double grad_scale, double *loss,
                    double *tokens, lethe_err *err) {
  run_ctx *c = vctx;
  int B = c->bs < c->n_forget ? c->bs : c->n_forget;
  int idx[STAGE_MAX_BATCH];
  micro_indices(c, step, micro, B, idx);
  token_batch tb;
  lethe_segment seg[LETHE_SEG_COUNT];
  pack(c, idx, B, &tb, seg);
  const float *ref = c->ref_cache[0] ? ref_view(c, &tb, seg, idx) : NULL;
  int64_t ids[LETHE_SEG_COUNT * STAGE_MAX_BATCH]; /* forget and idk rows: the forget index */
  for (int s = 0; s < LETHE_SEG_COUNT; s++)
    for (int r = 0; r < seg[s].nrows; r++)
      ids[seg[s].row0 + r] = s == LETHE_SEG_RETAIN ? c->fd.retain_partner[idx[r]] : idx[r];
  c->obj.example_id = ids;
  int rc = objective_step(&c->obj, &tb, seg, ref, step, c->total_steps, grad_scale, loss, err);
  c->obj.example_id = NULL;
  *tokens = (double)tb.B * tb.T;
  token_batch_free(&tb);
  return rc;
}

/* One evaluation point as a JSON object (the history line). */
static json_t *eval_point(run_ctx *c, long step, double loss, eval_report *r) {
  json_t *o = eval_summary_json(r);
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
    clear_metrics(c);
    rc = append_line(c->run_dir, "steps.jsonl", line, err);
    json_decref(line);
  }
  if (!should_eval(c, step)) return rc;
  if (dist_status(rc, err) != 0) return -1; /* rank 0 appends alone; all evaluate, or none */
  eval_report r;
  double t0 = lethe_now();
  if (evaluate_model(&c->policy, &c->ref, c->tok, &c->fmt, &c->ed, &c->eopt, c->retain_tr,
                     c->n_retain_tr, c->ews, &r, err) != 0)
    return lethe_err_prefix(err, "evaluation at step %ld", step);
  c->eval_seconds += lethe_now() - t0;
  json_t *point = eval_point(c, step, loss, &r);
  rc = append_line(c->run_dir, "history.jsonl", point, err);
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
    char msg[256];
    snprintf(msg, sizeof msg, "eval step %ld: model utility %.3f, forget quality %.3g, forget KL %.3g",
             step, r.model_utility, r.forget_quality, r.forget_kl);
    lethe_log(LETHE_LOG_INFO, "%s", msg);
  }
  json_decref(point);
  eval_report_free(&r);
  return rc;
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

static int write_summary(run_ctx *c, const prepared *p, double seconds, lethe_err *err) {
  json_t *o = json_object();
  json_object_set_new(o, "method", json_string(c->inst.plugin->desc->name));
  json_object_set_new(o, "forget_split", json_string(c->ed.forget_split));
  json_object_set_new(o, "steps", json_integer(c->total_steps));
  json_object_set_new(o, "steps_per_epoch", json_integer(c->steps_per_epoch));
  json_object_set_new(o, "seconds", json_real(seconds));
  json_object_set_new(o, "eval_seconds", json_real(c->eval_seconds));
  json_object_set_new(o, "mu_fraction", json_real(c->mu_fraction));
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
  char *path = lethe_path_join(c->run_dir, "summary.json");
  int rc = lethe_json_write_atomic(path, o, JSON_INDENT(1) | JSON_ENSURE_ASCII,
                                   LETHE_JSON_NO_NEWLINE, err);
  free(path);
  json_decref(o);
  return rc;
}

static void run_ctx_free(run_ctx *c) {
  objective_free(&c->obj);
  if (c->inst.plugin) method_instance_destroy(&c->inst);
  if (c->ms.params) method_spec_free(&c->ms);
  llama_free(&c->policy);
  lora_free(&c->lora);
  llama_free(&c->ref);
  if (c->tok) tok_free(c->tok);
  clear_metrics(c);
  free(c->metrics);
  tofu_forget_data_free(&c->fd);
  tofu_batch_free(&c->fb);
  tofu_batch_free(&c->rb);
  tofu_batch_free(&c->ib);
  for (int s = 0; s < LETHE_SEG_COUNT; s++) {
    for (int i = 0; c->ref_cache[s] && i < c->n_forget; i++) free(c->ref_cache[s][i].logp);
    free(c->ref_cache[s]);
  }
  free(c->ref_view);
  eval_workspace_free(c->ews);
  free(c->order);
  eval_data_free(&c->ed);
  free(c->retain_tr);
  json_decref(c->best);
  json_decref(c->best_constrained);
  json_decref(c->final);
}

/* Loads the forget/retain/idk data the run trains on. */
static int load_forget_data(run_ctx *c, const char *data_dir, const char *split,
                            const char *retain_split, lethe_err *err) {
  tofu_set forget = {0}, retain = {0};
  tofu_idk idk = {0};
  char *idk_path = lethe_path_join(data_dir, "idontknow.jsonl");
  int rc = tofu_load_split(data_dir, split, 0, &forget, err);
  if (rc == 0) rc = tofu_load_split(data_dir, retain_split, 0, &retain, err);
  if (rc == 0) rc = tofu_idk_load(idk_path, &idk, err);
  if (rc == 0)
    rc = tofu_forget_data_init(&c->fd, &forget, &retain, &idk, c->tok, &c->fmt, c->seed, err);
  c->n_forget = (int)forget.n;
  tofu_set_free(&forget);
  tofu_set_free(&retain);
  tofu_idk_free(&idk);
  free(idk_path);
  return rc;
}

/* The run's batch shape, schedule and evaluation settings. */
static void read_settings(run_ctx *c, const char *split) {
  const lcfg *cfg = &c->e->cfg;
  c->caps = c->ms.needs.caps;
  c->epoch = -1;
  experiment_eval_options(c->e, &c->eopt);
  long every = lcfg_int(cfg, "eval.every");
  c->eval_at_start = lcfg_bool(cfg, "eval.at_start");
  c->mu_fraction = lcfg_float(cfg, "eval.mu_fraction");
  long eff = (long)(c->bs < c->n_forget ? c->bs : c->n_forget) * c->accum;
  c->steps_per_epoch = c->n_forget / eff > 1 ? c->n_forget / eff : 1;
  c->total_steps = (long)(lcfg_float(cfg, "unlearn.epochs") * c->n_forget) / eff;
  if (c->total_steps < 1) c->total_steps = 1;
  c->eval_every = every > 0 ? every : (!strcmp(split, "forget01") ? 1 : c->steps_per_epoch);
}

/* The evaluation's data and references: the eval sets, the retain model's
 * forget truth ratios, the target's model utility. */
static int load_eval_refs(run_ctx *c, const prepared *p, const char *split, lethe_err *err) {
  if (eval_data_load(&c->ed, p->data.dir, split, c->eopt.max_rows, err) != 0) return -1;
  c->ews = eval_workspace_new();
  char *retain_eval = lethe_path_join(p->retain_eval, "eval.json");
  int rc = eval_read_forget_tr(retain_eval, &c->retain_tr, &c->n_retain_tr, err);
  free(retain_eval);
  char *target_summary = lethe_path_join(p->target_eval, "summary.json");
  json_t *ts = json_load_file(target_summary, 0, NULL);
  c->target_mu = jnum(ts, "model_utility");
  json_decref(ts);
  free(target_summary);
  return rc;
}

/* Tokenizer, prompt format and forget data (the run's rows). */
static int open_data(run_ctx *c, const prepared *p, lethe_err *err) {
  const experiment *e = c->e;
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  char retain_split[32];
  forget_split_retain(split, retain_split, sizeof retain_split);
  experiment_format(e, &c->fmt);
  c->seed = (uint64_t)lcfg_int(&e->cfg, "unlearn.seed");
  if (stage_tokenizer(p->target.dir, &c->tok, err) != 0) return -1; /* the model's own */
  tofu_ids ids;
  if (tofu_format_ids(c->tok, &c->fmt, &ids, err) != 0) return -1;
  c->pad = ids.pad, c->end = ids.end;
  return load_forget_data(c, p->data.dir, split, retain_split, err);
}

/* The memory a run may use on this machine: what memplan_available finds,
 * shared by the ranks of the group that run on it. */
static size_t run_available(void) {
  size_t avail = memplan_available();
  return dist_local_size() > 1 ? avail / (size_t)dist_local_size() : avail;
}

/* The memory plan of the run's step (unlearn_plan.h), printed to out (NULL:
 * not printed); fails when it cannot fit in the memory available. Needs the
 * forget data (open_data). */
static int check_memory(run_ctx *c, const prepared *p, FILE *out, lethe_err *err) {
  memplan plan;
  if (unlearn_plan(c->e, c->ms.plugin.desc->name, &c->ms.needs, &c->fd, c->bs, p->target.dir, &plan, err) != 0)
    return -1;
  size_t avail = run_available();
  if (out) {
    char title[160];
    snprintf(title, sizeof title, "one unlearning step of %s on %s", c->ms.plugin.desc->name,
             p->target.dir);
    memplan_print(&plan, avail, title, out);
  }
  return memplan_check(&plan, avail, "this unlearning run", err);
}

/* Everything the steps need: tokenizer, forget data, the memory plan
 * (printed, and the run refused when it cannot fit), policy and reference
 * (the target), the plugin instance and objective, the evaluation, and the
 * reference log-probs when the method wants them cached. */
static int open_run(run_ctx *c, const prepared *p, lethe_err *err) {
  const experiment *e = c->e;
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  lora_config lc;
  if (open_data(c, p, err) != 0 ||
      check_memory(c, p, !e->quiet && dist_is_root() ? stderr : NULL, err) != 0 ||
      experiment_lora(e, "unlearn", &lc, err) != 0 || llama_load(&c->policy, p->target.dir, err) != 0)
    return -1;
  if (lc.rank > 0) /* the reference is the policy's frozen base: no second copy */
    llama_borrow(&c->ref, &c->policy);
  else if (llama_load(&c->ref, p->target.dir, err) != 0)
    return -1;
  read_settings(c, split);
  experiment_set_compute(e, &c->policy);
  experiment_set_compute(e, &c->ref);
  experiment_set_memory(e, &c->policy);
  experiment_set_memory(e, &c->ref);
  llama_freeze(&c->ref); /* forward only: one layer of activations, nothing to redo */
  uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * c->policy.cfg.num_hidden_layers);
  int rc = experiment_method_trainable_mask(e, c->ms.plugin.desc->name, &c->ms.needs,
                                          &c->policy.cfg, mask, err);
  if (rc == 0) rc = llama_set_trainable(&c->policy, mask, err);
  free(mask);
  if (rc != 0) return -1;
  if (lc.rank > 0) { /* the base frozen, only the adapter trained (model/lora.h) */
    if (lora_create(&c->lora, &c->policy.cfg, &lc, err) != 0)
      return lethe_err_prefix(err, "unlearn.lora on %s", p->target.dir);
    llama_attach_lora(&c->policy, &c->lora);
  }
  experiment_hold_frozen(e, &c->policy); /* what trains is set: the rest may stay bf16 */
  experiment_hold_frozen(e, &c->ref);    /* (a view reads the policy's) */
  lethe_host_api host = {sizeof host, c, host_metric, host_log};
  if (method_instance_create(&c->inst, &c->ms.plugin, c->ms.params, &host, err) != 0 ||
      objective_init(&c->obj, &c->policy, (c->caps & UNLEARN_REF_CAPS) ? &c->ref : NULL,
                     &c->inst, err) != 0)
    return -1;
  c->order = lethe_malloc(sizeof(int) * (size_t)c->n_forget);
  if (load_eval_refs(c, p, split, err) != 0) return -1;
  if ((c->caps & LETHE_CAP_REF_LOGP) && !(c->caps & LETHE_CAP_REF_LOGITS)) return build_ref_cache(c, err);
  return 0;
}

/* The trainer's configuration (label and checkpoint path borrowed). */
static void fill_train_config(const run_ctx *c, const char *label, const char *ckpt,
                              train_config *tc) {
  const lcfg *cfg = &c->e->cfg;
  memset(tc, 0, sizeof *tc);
  tc->opt.lr = lcfg_float(cfg, "unlearn.lr");
  tc->opt.weight_decay = lcfg_float(cfg, "unlearn.weight_decay");
  tc->opt.beta1 = 0.9, tc->opt.beta2 = 0.999, tc->opt.eps = 1e-8;
  tc->total_steps = c->total_steps;
  tc->warmup_steps = (long)(lcfg_float(cfg, "unlearn.warmup_epochs") * c->steps_per_epoch);
  tc->grad_accum = c->accum;
  tc->max_grad_norm = lcfg_float(cfg, "unlearn.max_grad_norm");
  tc->label = label;
  tc->checkpoint_path = ckpt;
  tc->checkpoint_every = lcfg_int(cfg, "unlearn.checkpoint_every");
  tc->resume = c->e->resume;
  tc->quiet = c->e->quiet;
  tc->epochs = lcfg_float(cfg, "unlearn.epochs");
}

/* With unlearn.lora: RUN/adapter (PEFT's adapter directory, on the target
 * model), and, with lora.save_merged, the merged weights in the policy for
 * RUN/model (the adapter is detached: it is in the weights now). */
static int save_adapter(run_ctx *c, const prepared *p, int *merged, lethe_err *err) {
  char *dir = lethe_path_join(c->run_dir, "adapter");
  int rc = lora_save(&c->lora, &c->policy.cfg, dir, p->target.dir, err);
  free(dir);
  *merged = rc == 0 && lcfg_bool(&c->e->cfg, "unlearn.lora.save_merged");
  if (*merged) {
    llama_attach_lora(&c->policy, NULL);
    lora_merge(&c->policy, &c->lora);
  }
  return rc;
}

/* Rank 0 after training: the model (if asked), summary.json, then DONE in
 * place of the checkpoint. */
static int finish_run(run_ctx *c, const prepared *p, const char *ckpt, double seconds,
                      lethe_err *err) {
  int rc = 0;
  if (lcfg_bool(&c->e->cfg, "unlearn.save_model")) {
    llama_release_frozen(&c->policy); /* merging and saving read float32 */
    int whole = !c->policy.lora;
    if (c->policy.lora) rc = save_adapter(c, p, &whole, err);
    char *dir = lethe_path_join(c->run_dir, "model");
    if (rc == 0 && whole) rc = llama_save(&c->policy, dir, err);
    if (rc == 0 && whole) rc = stage_copy_tokenizer(p->target.dir, dir, err); /* transformers loads it whole */
    free(dir);
  }
  if (rc == 0) rc = write_summary(c, p, seconds, err);
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
  c.bs = (int)lcfg_int(&e->cfg, "unlearn.batch_size");
  int rc = method_spec_from_config(&c.ms, lcfg_setting(&e->cfg, "method"),
                                   (const char *const *)e->method_overrides,
                                   e->n_method_overrides, err) != 0 ||
                   prepare_stages(e, STAGES_ALL, &p, err) != 0 || open_data(&c, &p, err) != 0 ||
                   check_memory(&c, &p, out, err) != 0
               ? -1
               : 0;
  run_ctx_free(&c);
  prepared_free(&p);
  return rc;
}

int run_unlearn(const experiment *ce, const char *run_dir, lethe_err *err) {
  experiment *e = (experiment *)ce; /* the resolved method is recorded in e->cfg */
  double t0 = lethe_now();
  prepared p = {0};
  run_ctx c = {.e = e, .run_dir = run_dir};
  char *ckpt = lethe_path_join(run_dir, "checkpoint.safetensors");
  int rc = -1;
  c.bs = (int)lcfg_int(&e->cfg, "unlearn.batch_size");
  c.accum = (int)lcfg_int(&e->cfg, "unlearn.grad_accum");
  if (c.bs < 1 || c.bs > STAGE_MAX_BATCH || c.accum < 1) {
    lethe_errf(err, LETHE_E_CONFIG, "unlearn.batch_size must be in [1, %d] and unlearn.grad_accum >= 1",
               STAGE_MAX_BATCH);
    goto done;
  }
  /* the method before the stages: a wrong name or parameter costs no stage */
  if (method_spec_from_config(&c.ms, lcfg_setting(&e->cfg, "method"),
                              (const char *const *)e->method_overrides, e->n_method_overrides,
                              err) != 0 ||
      prepare_stages(e, STAGES_ALL, &p, err) != 0 || lethe_mkdir_p(run_dir, err) != 0 ||
      lcfg_record_method(&e->cfg, experiment_schema, &c.ms, err) != 0)
    goto done;
  char *config_path = lethe_path_join(run_dir, "config.cfg");
  rc = dist_is_root() ? lcfg_write(&e->cfg, config_path, err) : 0;
  free(config_path);
  if (rc != 0 || (rc = open_run(&c, &p, err)) != 0) goto done;
  train_config tc;
  char label[96];
  snprintf(label, sizeof label, "unlearn %s on %s", c.ms.plugin.desc->name, c.ed.forget_split);
  fill_train_config(&c, label, ckpt, &tc);
  c.tc = &tc;
  long resumed = e->resume && lethe_file_exists(ckpt) ? checkpoint_step(ckpt) : -1;
  if ((rc = resume_history(&c, resumed, err)) != 0) goto done;
  train_result res;
  rc = trainer_run(&c.policy, &tc, ul_micro, ul_after, &c, &res, err);
  if (rc == 0 && dist_is_root()) rc = finish_run(&c, &p, ckpt, lethe_now() - t0, err);
done:
  free(ckpt);
  run_ctx_free(&c);
  prepared_free(&p);
  return rc;
}
