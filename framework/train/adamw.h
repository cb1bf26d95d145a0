/* adamw — AdamW over one flat parameter buffer, matching torch.optim.AdamW
 * (decoupled weight decay applied before the moment update, bias correction).
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

void adamw_init(adamw_state *s, size_t n);
void adamw_free(adamw_state *s);
/* One step on params (n) with grads (n). decay (n, may be NULL = all 1) scales
 * the weight decay per element (0 = no decay, e.g. norms). lr overrides
 * cfg->lr (so schedules need no copy of the config). */
void adamw_step(adamw_state *s, const adamw_config *cfg, double lr, float *params,
                const float *grads, const uint8_t *decay);

#endif
