/* trainer — accumulation, guard, clipping, AdamW + schedule, checkpoints,
 * resume (see trainer.h). */
#include "train/trainer.h"

#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/progress.h"
#include "model/lora.h"
#include "model/safetensors.h"

double train_lr_at(const train_config *tc, long step) {
  if (step < tc->warmup_steps) return tc->opt.lr * (double)step / (double)tc->warmup_steps;
  long rest = tc->total_steps - tc->warmup_steps;
  if (rest <= 0) return 0.0;
  double f = (double)(tc->total_steps - step) / (double)rest;
  return tc->opt.lr * (f > 0 ? f : 0);
}

void train_params_of(llama_model *m, int decay_norms, train_params *out) {
  memset(out, 0, sizeof *out);
  if (m->lora) {
    lora_adapter *lo = m->lora;
    lora_alloc_grads(lo);
    *out = (train_params){lo->grads, lo->n_params, lethe_calloc(1, sizeof(adamw_span)), 1};
    out->spans[0] = (adamw_span){lo->params, lo->grads, lo->n_params, 1};
    return;
  }
  llama_alloc_grads(m);
  out->grads = m->grads_memory;
  out->n = m->n_trainable;
  out->n_spans = llama_trainable_spans(m, NULL, 0);
  llama_span *spans = lethe_calloc((size_t)out->n_spans, sizeof *spans);
  out->spans = lethe_calloc((size_t)out->n_spans, sizeof *out->spans);
  llama_trainable_spans(m, spans, out->n_spans);
  for (int i = 0; i < out->n_spans; i++)
    out->spans[i] = (adamw_span){spans[i].params, spans[i].grads, spans[i].n,
                                 decay_norms || llama_param_role_is_matrix(spans[i].role)};
  free(spans);
}

void train_params_free(train_params *p) {
  free(p->spans);
  memset(p, 0, sizeof *p);
}

/* The run's tensors under their names: the model's trainable parameters
 * (HF names; the frozen ones are the run's starting model's, loaded again
 * on resume, and may be held in bfloat16) or their gradients, or an
 * adapter's (PEFT's names); caller frees. */
static llama_tensor_ref *set_tensors(const llama_model *m, int grads, int *n) {
  if (m->lora) {
    *n = lora_named_tensors(m->lora, &m->cfg, grads, NULL, 0);
    llama_tensor_ref *refs = lethe_calloc((size_t)*n + 1, sizeof *refs);
    lora_named_tensors(m->lora, &m->cfg, grads, refs, *n);
    return refs;
  }
  int of = grads ? LLAMA_OF_GRADS : LLAMA_OF_PARAMS;
  *n = llama_named_tensors(m, of, NULL, 0);
  llama_tensor_ref *refs = lethe_calloc((size_t)*n + 1, sizeof *refs);
  llama_named_tensors(m, of, refs, *n);
  if (grads || !m->grad_offset) return refs; /* not chosen yet: everything trains */
  int kept = 0;
  for (int i = 0; i < *n; i++)
    if (llama_slice_trains(m, refs[i].role, refs[i].layer)) refs[kept++] = refs[i];
  *n = kept;
  return refs;
}

static size_t numel_of(const llama_tensor_ref *r) {
  return (size_t)r->shape[0] * (r->ndim == 2 ? (size_t)r->shape[1] : 1);
}

static const char *tensor_of(const llama_model *m, const train_params *set, size_t index, char *buf,
                             size_t n) {
  int count;
  llama_tensor_ref *refs = set_tensors(m, 1, &count);
  snprintf(buf, n, "?");
  const float *at = set->grads + index;
  for (int i = 0; i < count; i++)
    if (at >= refs[i].data && at < refs[i].data + numel_of(&refs[i]))
      snprintf(buf, n, "%s", refs[i].name);
  free(refs);
  return buf;
}

/* Micro-batch k of a step: its loss and tokens; fails on the micro
 * function's error or a non-finite loss. An adapter's dropout is on during
 * it, with the masks of (step, k): a resumed run draws the same. */
static int run_micro(llama_model *m, const train_config *tc, train_micro_fn micro, void *ctx,
                     long step, int k, int accum, double *loss, double *tokens, lethe_err *err) {
  if (m->lora) lora_set_training(m->lora, 1, (uint64_t)step * (uint64_t)accum + (uint64_t)k);
  int rc = micro(ctx, step, k, 1.0 / accum, loss, tokens, err);
  if (m->lora) lora_set_training(m->lora, 0, 0);
  if (rc != 0)
    return lethe_err_prefix(err, "%s, step %ld", tc->label, step + 1);
  if (!isfinite(*loss))
    return lethe_errf(err, LETHE_E_NUMERIC, "%s: the loss is %g at step %ld (micro-batch %d); stopped",
                      tc->label, *loss, step + 1, k);
  return 0;
}

/* 1 when none of x[0..n) is an infinity or a NaN: an exponent of all ones,
 * tested on the bits (an integer OR, which vectorises and splits across
 * threads; isfinite() in a loop stays scalar, ~3 % of a fine-tuning epoch). */
static int all_finite(const float *x, size_t n) {
  unsigned bad = 0;
#pragma omp parallel for simd reduction(| : bad) schedule(static)
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, x + i, sizeof u);
    bad |= (u & 0x7f800000u) == 0x7f800000u;
  }
  return !bad;
}

/* Fails when a summed gradient is not finite, naming its tensor. */
static int check_grads(const llama_model *m, const train_params *set, const train_config *tc,
                       long step, lethe_err *err) {
  if (all_finite(set->grads, set->n)) return 0;
  for (size_t i = 0; i < set->n; i++)
    if (!isfinite(set->grads[i])) {
      char name[96];
      return lethe_errf(err, LETHE_E_NUMERIC, "%s: a gradient is %g at step %ld (in %s); stopped",
                        tc->label, set->grads[i], step + 1,
                        tensor_of(m, set, i, name, sizeof name));
    }
  return 0;
}

/* Every decision before a collective is agreed on (dist_status): a rank
 * whose micro-batch, loss, gradient check, after() or checkpoint failed
 * must not leave while the others go on to the next collective. */
int trainer_run(llama_model *m, const train_config *tc, train_micro_fn micro, train_after_fn after,
                void *ctx, train_result *res, lethe_err *err) {
  memset(res, 0, sizeof *res);
  train_params set;
  train_params_of(m, tc->decay_norms, &set);
  adamw_state opt;
  adamw_init(&opt, set.n);
  res->state_bytes = 3 * set.n * sizeof(float); /* gradients, two moments */
  int rc = -1, accum = tc->grad_accum > 0 ? tc->grad_accum : 1;
  long step = 0;
  double loss = 0;
  int loaded = 0; /* a rank may fail to read the checkpoint alone */
  if (tc->resume && tc->checkpoint_path && lethe_file_exists(tc->checkpoint_path)) {
    loaded = train_checkpoint_load(tc->checkpoint_path, m, &opt, err);
    step = res->resumed_from = opt.step;
  }
  if (dist_status(loaded, err) != 0) goto done;
  if (!dist_agree(&step, sizeof step)) {
    lethe_errf(err, LETHE_E_IO, "%s: the ranks see different checkpoints in %s (is it on a "
               "filesystem every rank shares?)", tc->label, tc->checkpoint_path);
    goto done;
  }
  if (step == 0 && after && dist_status(after(ctx, 0, 0.0, err), err) != 0) goto done;
  lethe_progress prog;
  progress_start(&prog, tc->label, tc->total_steps, step, tc->epochs, tc->quiet || !dist_is_root());
  for (; step < tc->total_steps; step++) {
    memset(set.grads, 0, set.n * sizeof(float));
    double step_loss = 0, step_tokens = 0;
    for (int k = 0; k < accum; k++) {
      double l = 0, toks = 0;
      if (dist_status(run_micro(m, tc, micro, ctx, step, k, accum, &l, &toks, err), err) != 0) goto done;
      step_loss += l / accum;
      step_tokens += toks;
    }
    dist_allreduce_sum_f32(set.grads, set.n); /* every rank added its shard's part */
    if (dist_status(check_grads(m, &set, tc, step, err), err) != 0) goto done;
    if (tc->max_grad_norm > 0) {
      double ss = 0;
      for (size_t i = 0; i < set.n; i++) ss += (double)set.grads[i] * set.grads[i];
      double norm = sqrt(ss);
      if (norm > tc->max_grad_norm) {
        float s = (float)(tc->max_grad_norm / (norm + 1e-6));
        for (size_t i = 0; i < set.n; i++) set.grads[i] *= s;
      }
    }
    adamw_step(&opt, &tc->opt, train_lr_at(tc, step), set.spans, set.n_spans);
    loss = step_loss;
    progress_update(&prog, step + 1, loss, step_tokens);
    /* after() first: a checkpoint at step k means everything after() records
     * for step k (log lines, evaluations) is on disk, so a resumed run never
     * skips it (a kill between the two made history lose step k). */
    int status = after ? after(ctx, step + 1, loss, err) : 0;
    if (status == 0 && tc->checkpoint_path && tc->checkpoint_every > 0 &&
        (step + 1) % tc->checkpoint_every == 0 && step + 1 < tc->total_steps && dist_is_root())
      status = train_checkpoint_save(tc->checkpoint_path, m, &opt, err);
    if (dist_status(status, err) != 0) goto done;
  }
  progress_finish(&prog, step, loss);
  int agree = 1; /* on what trained: the frozen weights cannot differ (and may be held in bf16) */
  for (int i = 0; i < set.n_spans; i++)
    agree &= dist_agree(set.spans[i].params, set.spans[i].n * sizeof(float));
  if (!agree) {
    lethe_errf(err, LETHE_E_NUMERIC, "%s: the ranks' parameters differ after %ld steps", tc->label,
               step);
    goto done;
  }
  res->steps = step;
  res->last_loss = loss;
  rc = 0;
done:
  adamw_free(&opt);
  train_params_free(&set);
  return rc;
}

/* ---- checkpoints ------------------------------------------------------------ */
/* The signature of a run training an adapter. */
#define LORA_SIGNATURE "lora"

/* Which tensors train, one '1' (trainable) or '0' per HF-named parameter
 * tensor in llama_named_tensors order (LORA_SIGNATURE for an adapter): a
 * checkpoint's moments only fit the subset they were written with.
 * malloc'd. */
static char *trainable_signature(const llama_model *m) {
  if (m->lora) return lethe_strdup(LORA_SIGNATURE);
  int n = llama_named_tensors(m, LLAMA_OF_PARAMS, NULL, 0);
  llama_tensor_ref *refs = lethe_calloc((size_t)n + 1, sizeof *refs);
  llama_named_tensors(m, LLAMA_OF_PARAMS, refs, n);
  char *sig = lethe_malloc((size_t)n + 1);
  for (int i = 0; i < n; i++) sig[i] = llama_grad(m, refs[i].role, refs[i].layer) ? '1' : '0';
  sig[n] = '\0';
  free(refs);
  return sig;
}

int train_checkpoint_save(const char *path, const llama_model *m, const adamw_state *opt,
                          lethe_err *err) {
  int n;
  llama_tensor_ref *refs = set_tensors(m, 0, &n);
  st_entry *entries = lethe_calloc((size_t)n + 2, sizeof *entries);
  for (int i = 0; i < n; i++)
    entries[i] = (st_entry){.name = refs[i].name, .ndim = refs[i].ndim, .data = refs[i].data,
                            .shape = {refs[i].shape[0], refs[i].shape[1]}};
  entries[n] = (st_entry){"optimizer.exp_avg", 1, {(int64_t)opt->n}, opt->m, ST_F32};
  entries[n + 1] = (st_entry){"optimizer.exp_avg_sq", 1, {(int64_t)opt->n}, opt->v, ST_F32};
  char step[32];
  snprintf(step, sizeof step, "%ld", opt->step);
  char *sig = trainable_signature(m);
  const char *meta[] = {"lethe_checkpoint", "1", "step", step, "trainable", sig};
  int rc = st_write_f32(path, entries, n + 2, meta, 3, err);
  free(sig);
  free(entries);
  free(refs);
  return rc;
}

/* The checkpoint's trainable tensors (its signature; none written before
 * subsets existed = all) must be the model's. */
static int check_same_subset(const llama_model *m, const char *theirs, lethe_err *err) {
  char *ours = trainable_signature(m);
  if (m->lora || (theirs && !strcmp(theirs, LORA_SIGNATURE))) {
    int same = theirs && !strcmp(theirs, ours);
    free(ours);
    if (same) return 0;
    return lethe_errf(err, LETHE_E_USAGE,
                      "the checkpoint was written training %s, this run trains %s: resume "
                      "with the same settings, or delete the checkpoint to start over",
                      m->lora ? "the model's tensors" : "a LoRA adapter",
                      m->lora ? "a LoRA adapter" : "the model's tensors");
  }
  size_t n = strlen(ours), first = n;
  for (size_t i = 0; i < n && first == n; i++)
    if ((theirs ? theirs[i] : '1') != ours[i]) first = i;
  if (theirs && strlen(theirs) != n && first == n) first = 0;
  int rc = 0;
  if (first < n) {
    llama_tensor_ref *refs = lethe_calloc(n + 1, sizeof *refs);
    llama_named_tensors(m, LLAMA_OF_PARAMS, refs, (int)n);
    int count_theirs = 0, count_ours = 0;
    for (size_t i = 0; i < n; i++) count_ours += ours[i] == '1';
    for (size_t i = 0; theirs && theirs[i]; i++) count_theirs += theirs[i] == '1';
    rc = lethe_errf(err, LETHE_E_USAGE,
                    "the checkpoint was written training another subset of the tensors (%d "
                    "trainable there, %d here; %s is %s here): resume with the same trainable "
                    "tensors (the params setting), or delete the checkpoint to start over",
                    theirs ? count_theirs : (int)n, count_ours, refs[first].name,
                    ours[first] == '1' ? "trainable" : "frozen");
    free(refs);
  }
  free(ours);
  return rc;
}

int train_checkpoint_load(const char *path, llama_model *m, adamw_state *opt, lethe_err *err) {
  st_file f;
  if (st_open(&f, path, err) != 0) return -1;
  int rc = -1, n;
  llama_tensor_ref *refs = set_tensors(m, 0, &n);
  int64_t flat[1] = {(int64_t)opt->n};
  json_t *meta = f.metadata_json ? json_loads(f.metadata_json, 0, NULL) : NULL;
  if (check_same_subset(m, json_string_value(json_object_get(meta, "trainable")), err) != 0)
    goto done;
  for (int i = 0; i < n; i++)
    if (st_load_f32(&f, refs[i].name, refs[i].ndim, refs[i].shape, refs[i].data, err) != 0)
      goto done;
  if (st_load_f32(&f, "optimizer.exp_avg", 1, flat, opt->m, err) != 0 ||
      st_load_f32(&f, "optimizer.exp_avg_sq", 1, flat, opt->v, err) != 0)
    goto done;
  const char *step = json_string_value(json_object_get(meta, "step"));
  char *end = NULL;
  long s = step ? strtol(step, &end, 10) : -1;
  if (s < 0 || !end || *end) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: checkpoint has no step in its metadata", path);
    goto done;
  }
  opt->step = s;
  rc = 0;
done:
  if (rc != 0) lethe_err_prefix(err, "resuming from %s", path);
  json_decref(meta);
  free(refs);
  st_close(&f);
  return rc;
}
