/* objective — model + method plugin for one step (see objective.h). */
#include "train/objective.h"

#include <stdlib.h>
#include <string.h>

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
  llama_alloc_grads(policy);
  return 0;
}

void objective_free(objective *o) {
  free(o->logp);
  free(o->ref_logp);
  free(o->mask);
  free(o->dlogp);
  free(o->dlogits);
  memset(o, 0, sizeof *o);
}

static void reserve(objective *o, int B, int T) {
  if (B <= o->B_cap && T <= o->T_cap) return;
  size_t n = (size_t)B * T, V = (size_t)o->policy->cfg.vocab_size;
  free(o->logp);
  free(o->ref_logp);
  free(o->mask);
  free(o->dlogp);
  free(o->dlogits);
  o->logp = lethe_alloc_aligned(n * sizeof(float));
  o->ref_logp = lethe_alloc_aligned(n * sizeof(float));
  o->mask = lethe_alloc_aligned(n * sizeof(float));
  o->dlogp = lethe_alloc_aligned(n * sizeof(float));
  o->dlogits = (o->caps & LETHE_CAP_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  o->B_cap = B;
  o->T_cap = T;
}

int objective_ref_logp(llama_model *model, const token_batch *batch, float *out, lethe_err *err) {
  if (llama_forward(model, batch->input_ids, batch->attn_mask, batch->B, batch->T, err) != 0)
    return -1;
  llama_target_logp(model, batch->targets, out);
  return 0;
}

int objective_step(objective *o, const token_batch *batch, const lethe_segment *seg,
                   const float *ref_logp_cache, int64_t step, int64_t total_steps,
                   double grad_scale, double *loss, lethe_err *err) {
  int B = batch->B, T = batch->T, V = o->policy->cfg.vocab_size;
  size_t n = (size_t)B * T;
  reserve(o, B, T);
  int need_ref_logp = (o->caps & LETHE_CAP_REF_LOGP) != 0;
  int need_ref_logits = (o->caps & LETHE_CAP_REF_LOGITS) != 0;
  const float *ref_logp = NULL;
  if (need_ref_logp && ref_logp_cache) {
    ref_logp = ref_logp_cache;
  } else if (need_ref_logp || need_ref_logits) {
    if (!o->ref)
      return lethe_errf(err, LETHE_E_USAGE, "method %s needs a reference: none given",
                        o->method->plugin->desc->name);
    /* the reference's logits stay in o->ref->acts until its next forward */
    if (objective_ref_logp(o->ref, batch, o->ref_logp, err) != 0) return -1;
    ref_logp = need_ref_logp ? o->ref_logp : NULL;
  }
  if (llama_forward(o->policy, batch->input_ids, batch->attn_mask, B, T, err) != 0) return -1;
  llama_target_logp(o->policy, batch->targets, o->logp);
  for (size_t i = 0; i < n; i++) o->mask[i] = batch->targets[i] >= 0 ? 1.0f : 0.0f;
  memset(o->dlogp, 0, n * sizeof(float));
  if (o->dlogits) memset(o->dlogits, 0, n * V * sizeof(float));

  lethe_method_batch view = {0};
  view.struct_size = sizeof view;
  view.B = B, view.T = T, view.V = V;
  memcpy(view.seg, seg, sizeof view.seg);
  view.target = batch->targets;
  view.mask = o->mask;
  view.attn = batch->attn_mask;
  view.logp = o->logp;
  view.ref_logp = ref_logp;
  view.logits = (o->caps & LETHE_CAP_LOGITS) ? o->policy->acts.logits : NULL;
  view.ref_logits = need_ref_logits ? o->ref->acts.logits : NULL;
  view.step = step;
  view.total_steps = total_steps;
  lethe_method_grad out = {sizeof out, 0.0, o->dlogp, o->dlogits};
  if (method_instance_step(o->method, &view, &out, err) != 0) return -1;
  o->last_loss = out.loss;
  if (loss) *loss = out.loss;

  if (grad_scale != 1.0) {
    float s = (float)grad_scale;
    for (size_t i = 0; i < n; i++) o->dlogp[i] *= s;
    if (o->dlogits)
      for (size_t i = 0; i < n * V; i++) o->dlogits[i] *= s;
  }
  llama_dlogits_from_dlogp(o->policy, batch->targets, o->dlogp, o->dlogits);
  llama_backward(o->policy);
  return 0;
}
