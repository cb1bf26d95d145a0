/* adamw — torch.optim.AdamW semantics on a flat buffer (see adamw.h). */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

void adamw_init(adamw_state *s, size_t n) {
  s->n = n;
  s->m = lethe_alloc_aligned(n * sizeof(float));
  s->v = lethe_alloc_aligned(n * sizeof(float));
  s->step = 0;
}

void adamw_free(adamw_state *s) {
  free(s->m);
  free(s->v);
  memset(s, 0, sizeof *s);
}

void adamw_step(adamw_state *s, const adamw_config *cfg, double lr, const adamw_span *spans,
                int n_spans) {
  s->step++;
  double bc1 = 1.0 - pow(cfg->beta1, (double)s->step);
  double bc2 = 1.0 - pow(cfg->beta2, (double)s->step);
  float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
  float b1 = (float)cfg->beta1, b2 = (float)cfg->beta2, eps = (float)cfg->eps;
  float wd = (float)(lr * cfg->weight_decay);
  size_t at = 0;
  for (int k = 0; k < n_spans; at += spans[k].n, k++) {
    float *params = spans[k].params, *m = s->m + at, *v = s->v + at;
    const float *grads = spans[k].grads;
    int decay = spans[k].decay;
    size_t n = spans[k].n;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
      float g = grads[i];
      if (decay) params[i] -= wd * params[i];
      m[i] = b1 * m[i] + (1.0f - b1) * g;
      v[i] = b2 * v[i] + (1.0f - b2) * g * g;
      float denom = sqrtf(v[i]) / bc2_sqrt + eps;
      params[i] -= step_size * m[i] / denom;
    }
  }
}
