/* objective — one method step on the model: forward, the plugin's loss and
 * dL/dlogp (and dL/dlogits), the chain rule, backward into the gradients.
 *
 * The reference model enters in one of two ways: per-token reference
 * log-probs given by the caller (cached once per example — no second model
 * in memory), or a loaded reference model run on the same batch (needed only
 * for reference logits, i.e. KL terms; also used for reference log-probs when
 * no cache is given). Not here: optimisers, batching policy, files.
 */
#ifndef LETHE_OBJECTIVE_H
#define LETHE_OBJECTIVE_H

#include "method/method_host.h"
#include "model/llama.h"
#include "model/token_batch.h"

typedef struct objective {
  llama_model *policy;  /* borrowed; grads allocated by objective_init */
  llama_model *ref;     /* borrowed, may be NULL (see above) */
  method_instance *method; /* borrowed */
  uint32_t caps;
  int B_cap, T_cap;     /* buffer capacity */
  float *logp, *ref_logp, *mask, *dlogp, *dlogits; /* (B,T) and (B,T,V) */
  double last_loss;
} objective;

/* Checks that a reference model is given when the method needs reference
 * logits; allocates the policy's gradients. */
int objective_init(objective *o, llama_model *policy, llama_model *ref, method_instance *method,
                   lethe_err *err);
void objective_free(objective *o);
/* Runs one micro-batch: batch rows are in segments seg[LETHE_SEG_*]
 * (forget, retain, idk). ref_logp_cache (B,T) supplies reference log-probs
 * (NULL = compute them with o->ref when the method needs them). The plugin's
 * gradient is multiplied by grad_scale (1/accumulation steps) and ADDED to
 * the policy's gradients. *loss gets the plugin's (unscaled) loss. */
int objective_step(objective *o, const token_batch *batch, const lethe_segment *seg,
                   const float *ref_logp_cache, int64_t step, int64_t total_steps,
                   double grad_scale, double *loss, lethe_err *err);
/* Per-token reference log-probs of a batch under model (B,T) into out. */
int objective_ref_logp(llama_model *model, const token_batch *batch, float *out, lethe_err *err);

#endif
