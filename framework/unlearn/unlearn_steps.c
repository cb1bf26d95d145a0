/* unlearn_steps — the steps' side of an unlearning run (unlearn_internal.h):
 * the method, the forget/retain/idk data, policy and reference, the cached
 * reference log-probs, the batch of each micro-batch and the trainer's
 * configuration; and the session that runs them alone (unlearn.h).
 * Not here: evaluation history, best points, files (unlearn.c). */
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "pipeline/prepare.h"
#include "pipeline/stages.h"
#include "unlearn/unlearn_internal.h"
#include "unlearn/unlearn_plan.h"

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

void unlearn_clear_metrics(run_ctx *c) {
  for (int i = 0; i < c->n_metrics; i++) free(c->metrics[i].name);
  c->n_metrics = 0;
}

static void host_log(void *vctx, int level, const char *msg) {
  (void)vctx;
  lethe_log(level, "%s", msg);
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

/* The packed batch of micro-batch `micro` of step `step`; idx gets its
 * forget indices (STAGE_MAX_BATCH room). */
static void micro_batch(run_ctx *c, long step, int micro, int *idx, token_batch *out,
                        lethe_segment *seg) {
  int B = c->bs < c->n_forget ? c->bs : c->n_forget;
  micro_indices(c, step, micro, B, idx);
  pack(c, idx, B, out, seg);
}

int unlearn_micro(void *vctx, long step, int micro, double grad_scale, double *loss,
                  double *tokens, lethe_err *err) {
  run_ctx *c = vctx;
  int idx[STAGE_MAX_BATCH];
  token_batch tb;
  lethe_segment seg[LETHE_SEG_COUNT];
  micro_batch(c, step, micro, idx, &tb, seg);
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

void unlearn_ctx_free(run_ctx *c) {
  objective_free(&c->obj);
  if (c->inst.plugin) method_instance_destroy(&c->inst);
  if (c->ms.params) method_spec_free(&c->ms);
  llama_free(&c->policy);
  lora_free(&c->lora);
  llama_free(&c->ref);
  if (c->tok) tok_free(c->tok);
  unlearn_clear_metrics(c);
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
  eval_retain_free(&c->retain);
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

/* Tokenizer, prompt format and forget data (the run's rows). */
int unlearn_open_data(run_ctx *c, const char *data_dir, const char *model_dir, lethe_err *err) {
  const experiment *e = c->e;
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  char retain_split[32];
  forget_split_retain(split, retain_split, sizeof retain_split);
  experiment_format(e, &c->fmt);
  c->seed = (uint64_t)lcfg_int(&e->cfg, "unlearn.seed");
  if (stage_tokenizer(model_dir, &c->tok, err) != 0) return -1; /* the model's own */
  tofu_ids ids;
  if (tofu_format_ids(c->tok, &c->fmt, &ids, err) != 0) return -1;
  c->pad = ids.pad, c->end = ids.end;
  if (!c->source) return load_forget_data(c, data_dir, split, retain_split, err);
  int rc = c->source->rows(c->source->ctx, c->tok, &c->fmt, c->seed, &c->fd, err);
  c->n_forget = (int)c->fd.n_forget;
  return rc;
}

/* The memory a run may use on this machine: what memplan_available finds,
 * shared by the ranks of the group that run on it. */
static size_t run_available(void) {
  size_t avail = memplan_available();
  return dist_local_size() > 1 ? avail / (size_t)dist_local_size() : avail;
}

/* The memory plan of the run's step (unlearn_plan.h), printed to out (NULL:
 * not printed); fails when it cannot fit in the memory available. Needs the
 * forget data (unlearn_open_data). */
int unlearn_check_memory(run_ctx *c, const char *model_dir, FILE *out, lethe_err *err) {
  memplan plan;
  if (unlearn_plan(c->e, c->ms.plugin.desc->name, &c->ms.needs, &c->fd, c->bs, model_dir, &plan, err) != 0)
    return -1;
  size_t avail = run_available();
  if (out) {
    char title[160];
    snprintf(title, sizeof title, "one unlearning step of %s on %s", c->ms.plugin.desc->name,
             model_dir);
    memplan_print(&plan, avail, title, out);
  }
  return memplan_check(&plan, avail, "this unlearning run", err);
}

/* Everything the steps need: tokenizer, forget data, the memory plan
 * (printed, and the run refused when it cannot fit), policy and reference
 * (the target), the plugin instance and objective, the evaluation, and the
 * reference log-probs when the method wants them cached. */
int unlearn_open(run_ctx *c, const char *data_dir, const char *model_dir, lethe_err *err) {
  const experiment *e = c->e;
  const char *split = lcfg_string(&e->cfg, "data.forget_split");
  lora_config lc;
  if (unlearn_open_data(c, data_dir, model_dir, err) != 0 ||
      unlearn_check_memory(c, model_dir, !e->quiet && dist_is_root() ? stderr : NULL, err) != 0 ||
      experiment_lora(e, "unlearn", &lc, err) != 0 || llama_load(&c->policy, model_dir, err) != 0)
    return -1;
  if (lc.rank > 0) /* the reference is the policy's frozen base: no second copy */
    llama_borrow(&c->ref, &c->policy);
  else if (llama_load(&c->ref, model_dir, err) != 0)
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
      return lethe_err_prefix(err, "unlearn.lora on %s", model_dir);
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
  if ((c->caps & LETHE_CAP_REF_LOGP) && !(c->caps & LETHE_CAP_REF_LOGITS)) return build_ref_cache(c, err);
  return 0;
}

/* The trainer's configuration (label and checkpoint path borrowed). */
void unlearn_fill_train_config(const run_ctx *c, const char *label, const char *ckpt,
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

int unlearn_ctx_init(run_ctx *c, const experiment *e, lethe_err *err) {
  c->e = e;
  c->bs = (int)lcfg_int(&e->cfg, "unlearn.batch_size");
  c->accum = (int)lcfg_int(&e->cfg, "unlearn.grad_accum");
  if (c->bs < 1 || c->bs > STAGE_MAX_BATCH || c->accum < 1)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "unlearn.batch_size must be in [1, %d] and unlearn.grad_accum >= 1",
                      STAGE_MAX_BATCH);
  return method_spec_from_config(&c->ms, lcfg_setting(&e->cfg, "method"),
                                 (const char *const *)e->method_overrides, e->n_method_overrides,
                                 err);
}

/* ---- a session ------------------------------------------------------------------ */
int unlearn_session_open(unlearn_session **out, const experiment *e, const char *data_dir,
                         const char *model_dir, lethe_err *err) {
  run_ctx *c = lethe_calloc(1, sizeof *c);
  *out = c;
  if (unlearn_ctx_init(c, e, err) != 0 || unlearn_open(c, data_dir, model_dir, err) != 0) return -1;
  unlearn_fill_train_config(c, "unlearn session", NULL, &c->session_tc);
  c->session_tc.resume = 0;
  c->tc = &c->session_tc;
  return 0;
}

void unlearn_session_free(unlearn_session *s) {
  if (!s) return;
  unlearn_ctx_free(s);
  free(s);
}

const train_config *unlearn_session_train_config(const unlearn_session *s) { return s->tc; }

void unlearn_session_batch(unlearn_session *s, long step, int micro, token_batch *out,
                           lethe_segment seg[LETHE_SEG_COUNT]) {
  int idx[STAGE_MAX_BATCH];
  micro_batch(s, step, micro, idx, out, seg);
}

/* trainer_run's context in a session: the run, and the caller's after()
 * behind the step's metrics, which a session does not keep. */
typedef struct session_after {
  run_ctx *c;
  train_after_fn after;
  void *ctx;
} session_after;

static int session_after_step(void *vctx, long step, double loss, lethe_err *err) {
  session_after *sa = vctx;
  unlearn_clear_metrics(sa->c);
  return sa->after ? sa->after(sa->ctx, step, loss, err) : 0;
}

static int session_micro(void *vctx, long step, int micro, double grad_scale, double *loss,
                         double *tokens, lethe_err *err) {
  session_after *sa = vctx;
  return unlearn_micro(sa->c, step, micro, grad_scale, loss, tokens, err);
}

int unlearn_session_train(unlearn_session *s, train_after_fn after, void *ctx, lethe_err *err) {
  session_after sa = {s, after, ctx};
  train_result res;
  return trainer_run(&s->policy, s->tc, session_micro, session_after_step, &sa, &res, err);
}

llama_model *unlearn_session_policy(unlearn_session *s) { return &s->policy; }
llama_model *unlearn_session_reference(unlearn_session *s) { return &s->ref; }
