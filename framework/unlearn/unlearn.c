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

/* ---- the unlearning run ------------------------------------------------------- */
#define MAX_METRICS 16

typedef struct metric_acc {
  char name[48];
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
  llama_model *policy, *ref;
  objective obj;
  method_instance inst;
  uint32_t caps;
  tofu_forget_data fd;
  tofu_format fmt;
  int32_t pad, eos;
  int bs, accum, n_forget;
  uint64_t seed;
  int *order;
  long epoch;
  tofu_batch fb, rb, ib;
  ref_row *ref_cache[LETHE_SEG_COUNT]; /* per forget index: forget, retain partner, idk */
  float *ref_view;
  size_t ref_view_cap;
  metric_acc metrics[MAX_METRICS];
  int n_metrics;
  /* evaluation */
  const tok_tokenizer *tok;
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
  if (c->n_metrics == MAX_METRICS) return;
  metric_acc *m = &c->metrics[c->n_metrics++];
  snprintf(m->name, sizeof m->name, "%s", name);
  m->sum = value;
  m->count = 1;
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
  tofu_forget_batch(&c->fd, &c->fmt, idx, B, c->pad, c->eos, &c->fb, need_retain ? &c->rb : NULL,
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
    rc = objective_target_logp(c->policy, &tb, lp, err);
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
  int idx[4096];
  micro_indices(c, step, micro, B, idx);
  token_batch tb;
  lethe_segment seg[LETHE_SEG_COUNT];
  pack(c, idx, B, &tb, seg);
  const float *ref = c->ref_cache[0] ? ref_view(c, &tb, seg, idx) : NULL;
  int rc = objective_step(&c->obj, &tb, seg, ref, step, c->total_steps, grad_scale, loss, err);
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
    c->n_metrics = 0;
    rc = append_line(c->run_dir, "steps.jsonl", line, err);
    json_decref(line);
  }
  if (!should_eval(c, step)) return rc;
  if (dist_status(rc, err) != 0) return -1; /* rank 0 appends alone; all evaluate, or none */
  eval_report r;
  double t0 = lethe_now();
  if (evaluate_model(c->policy, c->ref, c->tok, &c->fmt, &c->ed, &c->eopt, c->retain_tr,
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

/* On resume: drop lines past `step` from a .jsonl file (a torn last line
 * too; rank 0 rewrites it) and return the kept evaluation points. */
static json_t *truncate_jsonl(const char *run_dir, const char *file, long step, lethe_err *err) {
  char *path = lethe_path_join(run_dir, file), *text = NULL;
  size_t len;
  json_t *kept = json_array();
  if (lethe_read_file(path, (size_t)1 << 30, &text, &len, NULL) == 0) {
    char *out = lethe_malloc(len + 1);
    size_t at = 0;
    for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
      json_t *o = json_loads(line, 0, NULL);
      if (o && json_integer_value(json_object_get(o, "step")) <= step) {
        at += (size_t)sprintf(out + at, "%s\n", line);
        json_array_append(kept, o);
      }
      json_decref(o);
    }
    if (dist_is_root()) lethe_write_file_atomic(path, out, at, err);
    free(out);
    free(text);
  }
  free(path);
  return kept;
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
  /* what computed it: compute = "auto" resolved, and the CPU class */
  char machine[512];
  tensor_backend_describe(machine, sizeof machine);
  json_object_set_new(o, "compute", json_string(lcfg_string(&c->e->cfg, "compute")));
  json_object_set_new(o, "machine", json_string(machine));
  json_object_set(o, "final", c->final ? c->final : json_null());
  json_object_set(o, "best", c->best ? c->best : json_null());
  json_object_set(o, "best_constrained", c->best_constrained ? c->best_constrained : json_null());
  const char *refs[2][2] = {{"target", p->target_eval}, {"retain", p->retain_eval}};
  for (int i = 0; i < 2; i++) {
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

/* The resolved configuration, with the method's resolved parameters written
 * into method.params so the file reproduces the run. */
static int write_config(experiment *e, const method_spec *ms, const char *run_dir, lethe_err *err) {
  const lethe_method_desc *d = ms->plugin.desc;
  char assign[160];
  snprintf(assign, sizeof assign, "method.name=\"%s\"", d->name);
  if (lcfg_override(&e->cfg, experiment_schema, assign, err) != 0) return -1;
  for (uint32_t i = 0; i < d->n_params; i++) {
    double v = method_param_value(d, ms->params, i);
    if (d->params[i].type == LETHE_PARAM_BOOL)
      snprintf(assign, sizeof assign, "method.params.%s=%s", d->params[i].name, v != 0 ? "true" : "false");
    else if (d->params[i].type == LETHE_PARAM_INT)
      snprintf(assign, sizeof assign, "method.params.%s=%lld", d->params[i].name, (long long)v);
    else
      snprintf(assign, sizeof assign, "method.params.%s=%.17g%s", d->params[i].name, v,
               v == floor(v) && fabs(v) < 1e15 ? ".0" : "");
    if (lcfg_override(&e->cfg, experiment_schema, assign, err) != 0) return -1;
  }
  char *path = lethe_path_join(run_dir, "config.cfg");
  int rc = dist_is_root() ? lcfg_write(&e->cfg, path, err) : 0;
  free(path);
  return rc;
}

static void run_ctx_free(run_ctx *c) {
  objective_free(&c->obj);
  if (c->inst.plugin) method_instance_destroy(&c->inst);
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

int run_unlearn(const experiment *ce, const char *run_dir, lethe_err *err) {
  experiment *e = (experiment *)ce; /* write_config records resolved params in e->cfg */
  double t0 = lethe_now();
  prepared p;
  run_ctx c;
  memset(&c, 0, sizeof c);
  method_spec ms = {0};
  llama_model policy = {0}, ref = {0};
  tok_tokenizer *tok = NULL;
  int rc = -1;
  if (prepare_stages(e, STAGES_ALL, &p, err) != 0 || lethe_mkdir_p(run_dir, err) != 0) goto done;
  if (method_spec_from_config(&ms, lcfg_setting(&e->cfg, "method"),
                              (const char *const *)e->method_overrides, e->n_method_overrides,
                              err) != 0 ||
      write_config(e, &ms, run_dir, err) != 0)
    goto done;
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  char retain_split[32];
  forget_split_retain(split, retain_split, sizeof retain_split);
  c.e = e;
  c.run_dir = run_dir;
  c.caps = ms.plugin.desc->caps;
  c.seed = (uint64_t)lcfg_int(&e->cfg, "unlearn.seed");
  c.bs = (int)lcfg_int(&e->cfg, "unlearn.batch_size");
  c.accum = (int)lcfg_int(&e->cfg, "unlearn.grad_accum");
  c.epoch = -1;
  experiment_format(e, &c.fmt);
  experiment_eval_options(e, &c.eopt);
  if (c.bs < 1 || c.bs > 4096 || c.accum < 1) {
    lethe_errf(err, LETHE_E_CONFIG, "unlearn.batch_size must be in [1, 4096] and unlearn.grad_accum >= 1");
    goto done;
  }
  if (stage_tokenizer(p.data.dir, &tok, err) != 0) goto done;
  c.tok = tok;
  tok_special_ids sp = tok_special(tok);
  c.pad = sp.pad, c.eos = sp.eos;
  if (load_forget_data(&c, p.data.dir, split, retain_split, err) != 0 ||
      llama_load(&policy, p.target.dir, err) != 0 || llama_load(&ref, p.target.dir, err) != 0)
    goto done;
  experiment_set_compute(e, &policy);
  experiment_set_compute(e, &ref);
  c.policy = &policy;
  c.ref = &ref; /* frozen target: reference logits for KL terms, forget KL in evaluation */
  lethe_host_api host = {sizeof host, &c, host_metric, host_log};
  if (method_instance_create(&c.inst, &ms.plugin, ms.params, &host, err) != 0 ||
      objective_init(&c.obj, &policy, (c.caps & LETHE_CAP_REF_LOGITS) ? &ref : NULL, &c.inst, err) != 0)
    goto done;
  c.order = lethe_malloc(sizeof(int) * (size_t)c.n_forget);
  long eff = (long)(c.bs < c.n_forget ? c.bs : c.n_forget) * c.accum;
  c.steps_per_epoch = c.n_forget / eff > 1 ? c.n_forget / eff : 1;
  c.total_steps = (long)(lcfg_float(&e->cfg, "unlearn.epochs") * c.n_forget) / eff;
  if (c.total_steps < 1) c.total_steps = 1;
  long every = lcfg_int(&e->cfg, "eval.every");
  c.eval_every = every > 0 ? every : (!strcmp(split, "forget01") ? 1 : c.steps_per_epoch);
  c.eval_at_start = lcfg_bool(&e->cfg, "eval.at_start");
  c.mu_fraction = lcfg_float(&e->cfg, "eval.mu_fraction");
  if (eval_data_load(&c.ed, p.data.dir, split, c.eopt.max_rows, err) != 0) goto done;
  c.ews = eval_workspace_new();
  char *retain_eval = lethe_path_join(p.retain_eval, "eval.json");
  rc = eval_read_forget_tr(retain_eval, &c.retain_tr, &c.n_retain_tr, err);
  free(retain_eval);
  if (rc != 0) goto done;
  rc = -1;
  char *target_summary = lethe_path_join(p.target_eval, "summary.json");
  json_t *ts = json_load_file(target_summary, 0, NULL);
  c.target_mu = jnum(ts, "model_utility");
  json_decref(ts);
  free(target_summary);
  if ((c.caps & LETHE_CAP_REF_LOGP) && !(c.caps & LETHE_CAP_REF_LOGITS) && build_ref_cache(&c, err) != 0)
    goto done;

  train_config tc = {0};
  tc.opt.lr = lcfg_float(&e->cfg, "unlearn.lr");
  tc.opt.weight_decay = lcfg_float(&e->cfg, "unlearn.weight_decay");
  tc.opt.beta1 = 0.9, tc.opt.beta2 = 0.999, tc.opt.eps = 1e-8;
  tc.total_steps = c.total_steps;
  tc.warmup_steps = (long)(lcfg_float(&e->cfg, "unlearn.warmup_epochs") * c.steps_per_epoch);
  tc.grad_accum = c.accum;
  tc.max_grad_norm = lcfg_float(&e->cfg, "unlearn.max_grad_norm");
  char label[96];
  snprintf(label, sizeof label, "unlearn %s on %s", ms.plugin.desc->name, split);
  tc.label = label;
  char *ckpt = lethe_path_join(run_dir, "checkpoint.safetensors");
  tc.checkpoint_path = ckpt;
  tc.checkpoint_every = lcfg_int(&e->cfg, "unlearn.checkpoint_every");
  tc.resume = e->resume;
  tc.quiet = e->quiet;
  tc.epochs = lcfg_float(&e->cfg, "unlearn.epochs");
  c.tc = &tc;
  long resumed = e->resume && lethe_file_exists(ckpt) ? checkpoint_step(ckpt) : -1;
  if (resumed < 0) { /* a fresh start: no stale lines */
    const char *files[] = {"steps.jsonl", "history.jsonl"};
    for (int i = 0; i < 2 && dist_is_root(); i++) {
      char *path = lethe_path_join(run_dir, files[i]);
      unlink(path);
      free(path);
    }
  } else {
    json_decref(truncate_jsonl(run_dir, "steps.jsonl", resumed, err));
    json_t *points = truncate_jsonl(run_dir, "history.jsonl", resumed, err);
    for (size_t i = 0; i < json_array_size(points); i++) consider(&c, json_array_get(points, i));
    json_decref(points);
  }
  train_result res;
  rc = trainer_run(&policy, &tc, ul_micro, ul_after, &c, &res, err);
  if (!dist_is_root()) goto finished; /* rank 0 writes the results */
  if (rc == 0 && lcfg_bool(&e->cfg, "unlearn.save_model")) {
    char *dir = lethe_path_join(run_dir, "model");
    rc = llama_save(&policy, dir, err);
    free(dir);
  }
  if (rc == 0) rc = write_summary(&c, &p, lethe_now() - t0, err);
  if (rc == 0) {
    unlink(ckpt);
    char *done_path = lethe_path_join(run_dir, "DONE");
    rc = lethe_write_file_atomic(done_path, "ok\n", 3, err);
    free(done_path);
  }
finished:
  free(ckpt);
done:
  run_ctx_free(&c);
  if (ms.params) method_spec_free(&ms);
  llama_free(&policy);
  llama_free(&ref);
  if (tok) tok_free(tok);
  prepared_free(&p);
  return rc;
}
