/* objective — model + method plugin for one step (see objective.h). */
#include "train/objective.h"

#include <stdlib.h>
#include <string.h>

#include "core/dist.h"

/* Whole logits for the models whose logits the method reads. Set at every
 * step: an evaluation in between may have switched a model. */
static void pick_logits(const objective *o) {
  objective_use_logits(o->policy, (o->caps & LETHE_CAP_LOGITS) != 0);
  if (o->ref) objective_use_logits(o->ref, (o->caps & LETHE_CAP_REF_LOGITS) != 0);
}

int objective_init(objective *o, llama_model *policy, llama_model *ref, method_instance *method,
                   lethe_err *err) {
  memset(o, 0, sizeof *o);
  o->policy = policy;
  o->ref = ref;
  o->method = method;
  o->caps = method->plugin->desc->caps;
  if ((o->caps & LETHE_CAP_REF_LOGITS) && !ref)
    return lethe_errf(err, LETHE_E_USAGE,
                      "method %s needs reference logits: give a reference model",
                      method->plugin->desc->name);
  if (ref && ref->cfg.vocab_size != policy->cfg.vocab_size)
    return lethe_errf(err, LETHE_E_USAGE,
                      "reference model vocabulary (%d) differs from the policy's (%d)",
                      ref->cfg.vocab_size, policy->cfg.vocab_size);
  const char *force = getenv("LETHE_LOGITS");
  if (force && *force && strcmp(force, "whole") && strcmp(force, "chunked"))
    return lethe_errf(err, LETHE_E_USAGE,
                      "LETHE_LOGITS must be \"whole\" or \"chunked\" (or unset), not \"%s\"",
                      force);
  llama_alloc_grads(policy);
  pick_logits(o);
  return 0;
}

void objective_use_logits(llama_model *m, int whole) {
  const char *force = getenv("LETHE_LOGITS");
  if (force && !strcmp(force, "whole")) whole = 1;
  llama_set_logits(m, whole ? LLAMA_LOGITS_WHOLE : LLAMA_LOGITS_CHUNKED, 0);
}

/* The per-batch buffers reserve() sizes. */
static void free_buffers(objective *o) {
  free(o->logp);
  free(o->ref_logp);
  free(o->mask);
  free(o->dlogp);
  free(o->dlogits);
  free(o->logits_all);
  free(o->ref_logits_all);
}

void objective_free(objective *o) {
  free_buffers(o);
  memset(o, 0, sizeof *o);
}

static void reserve(objective *o, int B, int T) {
  if (B <= o->B_cap && T <= o->T_cap) return;
  size_t n = (size_t)B * T, V = (size_t)o->policy->cfg.vocab_size;
  free_buffers(o);
  o->logp = lethe_alloc_aligned(n * sizeof(float));
  o->ref_logp = lethe_alloc_aligned(n * sizeof(float));
  o->mask = lethe_alloc_aligned(n * sizeof(float));
  o->dlogp = lethe_alloc_aligned(n * sizeof(float));
  o->dlogits = (o->caps & LETHE_CAP_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  int gather = dist_size() > 1; /* one rank's logits are its shard: gather the whole batch */
  o->logits_all = gather && (o->caps & LETHE_CAP_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  o->ref_logits_all =
      gather && (o->caps & LETHE_CAP_REF_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  o->B_cap = B;
  o->T_cap = T;
}

int objective_target_logp(llama_model *model, const token_batch *batch, float *out, lethe_err *err) {
  long first, count;
  dist_share(batch->B, 0, &first, &count);
  size_t at = (size_t)first * batch->T;
  int rc = 0;
  if (count > 0) {
    rc = llama_forward(model, batch->input_ids + at, batch->attn_mask + at, (int)count, batch->T, err);
    if (rc == 0) llama_target_logp(model, batch->targets + at, out + at);
  }
  if (dist_status(rc, err) != 0) return -1; /* every rank gathers, or none */
  dist_allgather_shares(out, sizeof(float) * (size_t)batch->T, batch->B, 0);
  return 0;
}

void objective_backward(llama_model *model, const token_batch *batch, const float *dlogp,
                        const float *dlogits) {
  long first, count;
  dist_share(batch->B, 0, &first, &count);
  if (count == 0) return;
  size_t at = (size_t)first * batch->T;
  llama_dlogits_from_dlogp(model, batch->targets + at, dlogp + at,
                           dlogits ? dlogits + at * (size_t)model->cfg.vocab_size : NULL);
  llama_backward(model);
}

/* The whole batch's logits (B,T,V) after objective_target_logp on m: m's own
 * when one process ran all rows, else every rank's shard gathered into all. */
static const float *batch_logits(const llama_model *m, float *all, int B, int T) {
  if (!all) return m->acts.logits;
  long first, count;
  dist_share(B, 0, &first, &count);
  size_t row = (size_t)T * m->cfg.vocab_size;
  if (count > 0) memcpy(all + (size_t)first * row, m->acts.logits, sizeof(float) * row * (size_t)count);
  dist_allgather_shares(all, sizeof(float) * row, B, 0);
  return all;
}

int objective_step(objective *o, const token_batch *batch, const lethe_segment *seg,
                   const float *ref_logp_cache, int64_t step, int64_t total_steps,
                   double grad_scale, double *loss, lethe_err *err) {
  int B = batch->B, T = batch->T, V = o->policy->cfg.vocab_size;
  size_t n = (size_t)B * T;
  reserve(o, B, T);
  pick_logits(o);
  int need_ref_logp = (o->caps & LETHE_CAP_REF_LOGP) != 0;
  int need_ref_logits = (o->caps & LETHE_CAP_REF_LOGITS) != 0;
  const float *ref_logp = NULL, *ref_logits = NULL;
  if (need_ref_logp && ref_logp_cache) {
    ref_logp = ref_logp_cache;
  } else if (need_ref_logp || need_ref_logits) {
    if (!o->ref)
      return lethe_errf(err, LETHE_E_USAGE, "method %s needs a reference: none given",
                        o->method->plugin->desc->name);
    if (objective_target_logp(o->ref, batch, o->ref_logp, err) != 0) return -1;
    ref_logp = need_ref_logp ? o->ref_logp : NULL;
    /* the reference's logits stay in o->ref->acts until its next forward */
    if (need_ref_logits) ref_logits = batch_logits(o->ref, o->ref_logits_all, B, T);
  }
  if (objective_target_logp(o->policy, batch, o->logp, err) != 0) return -1;
  for (size_t i = 0; i < n; i++) o->mask[i] = batch->targets[i] >= 0 ? 1.0f : 0.0f;
  memset(o->dlogp, 0, n * sizeof(float));
  if (o->dlogits) memset(o->dlogits, 0, n * V * sizeof(float));

  /* every rank calls the plugin on the whole batch (its math is O(B·T)) */
  lethe_method_batch view = {0};
  view.struct_size = sizeof view;
  view.B = B, view.T = T, view.V = V;
  memcpy(view.seg, seg, sizeof view.seg);
  view.target = batch->targets;
  view.mask = o->mask;
  view.attn = batch->attn_mask;
  view.logp = o->logp;
  view.ref_logp = ref_logp;
  view.logits = (o->caps & LETHE_CAP_LOGITS) ? batch_logits(o->policy, o->logits_all, B, T) : NULL;
  view.ref_logits = ref_logits;
  view.step = step;
  view.total_steps = total_steps;
  lethe_method_grad out = {sizeof out, 0.0, o->dlogp, o->dlogits};
  if (method_instance_step(o->method, &view, &out, err) != 0) return -1;
  o->last_loss = out.loss;
  if (loss) *loss = out.loss;

  if (grad_scale != 1.0) { /* this rank's rows are the only ones it backpropagates */
    long first, count;
    dist_share(B, 0, &first, &count);
    float s = (float)grad_scale;
    for (size_t i = (size_t)first * T; i < (size_t)(first + count) * T; i++) o->dlogp[i] *= s;
    if (o->dlogits)
      for (size_t i = (size_t)first * T * V; i < (size_t)(first + count) * T * V; i++)
        o->dlogits[i] *= s;
  }
  objective_backward(o->policy, batch, o->dlogp, o->dlogits);
  return 0;
}
