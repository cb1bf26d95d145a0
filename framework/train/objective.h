/* objective — one method step on the model: forward, the plugin's loss and
 * dL/dlogp (and dL/dlogits), the chain rule, backward into the gradients.
 *
 * The reference model enters in one of two ways: per-token reference
 * log-probs given by the caller (cached once per example — no second model
 * in memory), or a loaded reference model run on the same batch (needed only
 * for reference logits, i.e. KL terms; also used for reference log-probs when
 * no cache is given). Not here: optimisers, batching policy, files.
 *
 * Data parallelism (core/dist.h): every rank holds the whole batch and runs
 * the models on its share of the rows only (dist_share(B, 0): contiguous,
 * balanced, all rows padded to the batch's T). The per-token log-probs — and
 * the logits, only for methods that ask for them — are gathered, so every
 * rank calls the plugin on the identical whole batch; each rank then
 * backpropagates its own rows. Summing the ranks' gradients (the trainer's
 * all-reduce) gives the one-process gradient up to float summation order,
 * whatever the method computes. With one process nothing is communicated.
 *
 * Logits: a model whose (B,T,V) logits the method does not read (the policy
 * without LETHE_CAP_LOGITS, the reference without LETHE_CAP_REF_LOGITS) runs
 * with chunked logits (llama_set_logits), set by objective_init and again at
 * every objective_step; the environment variable LETHE_LOGITS=whole forces
 * whole logits everywhere (for comparison; objective_init refuses another
 * value than "whole" or "chunked").
 *
 * Padding: the same models (those whose logits and hidden states the method
 * does not read) skip padded positions (llama_set_skip_padding): the
 * log-probs at targets are the same, the work shrinks with the padding
 * share. A method that reads logits sees every position computed, padding
 * included, as in the Python implementations it follows (a KL term averaged
 * over all B·T positions counts the padded ones).
 */
#ifndef LETHE_OBJECTIVE_H
#define LETHE_OBJECTIVE_H

#include "method/method_host.h"
#include "model/llama.h"
#include "model/token_batch.h"

/* The trainable tensors a method reads (LETHE_CAP_PARAMS) or gets the
 * parts' gradients of (LETHE_CAP_PART_GRADS): views of the policy's values,
 * and with LETHE_CAP_PARAMS a float32 copy of the reference's taken at
 * objective_init and the plugin's dL/dθ, both laid out as grads_memory. */
typedef struct objective_params {
  int n;
  lethe_param_tensor *views; /* (n) names point into refs */
  llama_tensor_ref *refs;    /* (n) the gradient tensors (llama_named_tensors) */
  float *ref_values, *grads; /* policy->n_trainable floats each (CAP_PARAMS) */
  float **dparams;           /* (n) into grads */
} objective_params;

/* The forget and retain parts' gradients (LETHE_CAP_PART_GRADS, see
 * objective_step): three parameter-sized buffers (the trainable floats
 * only) and per-tensor views of them; scratch log-probs of one segment. */
typedef struct objective_parts {
  float *saved;    /* the gradients accumulated before this micro-batch */
  float *forget;   /* ∂(forget part)/∂θ (the retain part stays in grads_memory) */
  float *combined; /* what combine() writes */
  const float **forget_view, **retain_view;
  float **combined_view;
  float *logp;     /* (B,T) scratch */
  size_t logp_cap;
} objective_parts;

typedef struct objective {
  llama_model *policy;  /* borrowed; grads allocated by objective_init */
  llama_model *ref;     /* borrowed, may be NULL (see above) */
  method_instance *method; /* borrowed */
  uint32_t caps;        /* the instance's resolved needs */
  int hidden_layer;     /* LETHE_CAP_HIDDEN / REF_HIDDEN: the block whose output */
  int B_cap, T_cap;     /* buffer capacity */
  float *logp, *ref_logp, *mask, *dlogp, *dlogits; /* (B,T) and (B,T,V) */
  double last_loss;
  float *logits_all, *ref_logits_all; /* (B,T,V) gathered over ranks; NULL with one process */
  float *hidden_all, *ref_hidden_all; /* (B,T,C) gathered over ranks; NULL with one process */
  float *dhidden;       /* (B,T,C) LETHE_CAP_HIDDEN */
  int64_t *no_ids;      /* (B) -1s: example ids when the caller gives none */
  /* (B) the batch's example ids (LETHE_CAP_EXAMPLE_IDS), borrowed: set by
   * the caller before objective_step; NULL = unknown (-1) */
  const int64_t *example_id;
  objective_params params;
  objective_parts parts;
} objective;

/* Checks that a reference model is given when the method needs reference
 * logits or hidden states, that a hidden layer exists in the policy and
 * that a method reading parameters or the parts' gradients trains the
 * model's own (no adapter);
 * allocates the policy's gradients (and, for LETHE_CAP_PARAMS, copies the
 * reference's values of the trainable tensors: ref's when given, else the
 * policy's as they are now — set what trains before). */
int objective_init(objective *o, llama_model *policy, llama_model *ref, method_instance *method,
                   lethe_err *err);
void objective_free(objective *o);
/* Sets m to whole logits when `whole` (or LETHE_LOGITS=whole), else to
 * chunked logits (llama_set_logits): for callers that only need target
 * log-probs, such as fine-tuning on NLL. */
void objective_use_logits(llama_model *m, int whole);
/* Runs one micro-batch: batch rows are in segments seg[LETHE_SEG_*]
 * (forget, retain, idk). The method's dL/dhidden (LETHE_CAP_HIDDEN) enters
 * the backward at its layer (which starts there when dL/dlogp and dL/dlogits
 * are zero); its dL/dθ (LETHE_CAP_PARAMS), times grad_scale, is added to the
 * policy's gradients by rank 0 alone. With LETHE_CAP_PART_GRADS the rows
 * of the forget and idk segments, then of the retain segment, are each run
 * forward and backward on their own (one segment at a time: one more
 * forward over the batch than a plain step), the two parameter gradients
 * (summed over ranks) go to the plugin's combine(), and its result, times
 * grad_scale, is what is added (by rank 0). ref_logp_cache (B,T) supplies reference log-probs
 * (NULL = compute them with o->ref when the method needs them). The plugin's
 * gradient is multiplied by grad_scale (1/accumulation steps) and ADDED to
 * the policy's gradients (this rank's rows' part). *loss gets the plugin's
 * (unscaled) loss of the whole batch. */
int objective_step(objective *o, const token_batch *batch, const lethe_segment *seg,
                   const float *ref_logp_cache, int64_t step, int64_t total_steps,
                   double grad_scale, double *loss, lethe_err *err);
/* Per-token log-probs (B,T) of a batch's targets under model (a reference,
 * or the policy before objective_backward) into out: this rank runs its
 * share of the rows, every rank gets all of out. The model's activations
 * then hold this rank's rows. Fails on every rank when one rank's forward
 * fails (dist_status), with that rank's error. */
int objective_target_logp(llama_model *model, const token_batch *batch, float *out, lethe_err *err);
/* After objective_target_logp(model, batch): backpropagates this rank's rows
 * given the whole batch's dL/dlogp (B,T) and extra dL/dlogits (B,T,V, or
 * NULL), adding into model's gradients. */
void objective_backward(llama_model *model, const token_batch *batch, const float *dlogp,
                        const float *dlogits);

#endif
