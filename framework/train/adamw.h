/* adamw — AdamW over runs of a flat parameter buffer (the trainable ones),
 * matching torch.optim.AdamW (decoupled weight decay applied before the
 * moment update, bias correction).
 * Not here: schedules or which tensors decay (the trainer decides). */
#ifndef LETHE_ADAMW_H
#define LETHE_ADAMW_H

#include <stddef.h>
#include <stdint.h>

typedef struct adamw_config {
  double lr, beta1, beta2, eps, weight_decay;
} adamw_config;

typedef struct adamw_state {
  size_t n;
  float *m, *v; /* first and second moments, n each (one buffer per role) */
  long step;    /* steps taken */
} adamw_state;

/* One contiguous run of parameters the optimizer updates: params[n] with
 * grads[n]; decay 1 applies the weight decay, 0 not (norms, biases). */
typedef struct adamw_span {
  float *params;
  const float *grads;
  size_t n;
  int decay;
} adamw_span;

/* One step's coefficients, in float as the update uses them: step_size =
 * lr / (1 − β1^t), bc2_sqrt = √(1 − β2^t), wd = lr·weight_decay. */
typedef struct adamw_coeffs {
  float beta1, beta2, eps, wd, step_size, bc2_sqrt;
} adamw_coeffs;

void adamw_init(adamw_state *s, size_t n);
void adamw_free(adamw_state *s);
/* One step on the spans, whose moments follow each other in the state (the
 * spans' n add up to s->n). lr overrides cfg->lr (so schedules need no copy
 * of the config). */
void adamw_step(adamw_state *s, const adamw_config *cfg, double lr, const adamw_span *spans,
                int n_spans);

#endif
