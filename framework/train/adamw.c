/* adamw — torch.optim.AdamW semantics on a flat buffer (see adamw.h). */
#include "train/adamw.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tensor/tensor.h"
#include "tensor/tensor_isa.h"

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

LETHE_ISA_DECLARE(void, adamw_span_update,
                  (float *params, float *m, float *v, const float *grads, size_t n, int decay,
                   const adamw_coeffs *c));

void adamw_step(adamw_state *s, const adamw_config *cfg, double lr, const adamw_span *spans,
                int n_spans) {
  static void (*const variants[3])(float *, float *, float *, const float *, size_t, int,
                                   const adamw_coeffs *) = {
      adamw_span_update_baseline, adamw_span_update_avx2, adamw_span_update_avx512};
  void (*update)(float *, float *, float *, const float *, size_t, int, const adamw_coeffs *) =
      variants[tensor_isa_level()];
  s->step++;
  double bc1 = 1.0 - pow(cfg->beta1, (double)s->step);
  double bc2 = 1.0 - pow(cfg->beta2, (double)s->step);
  adamw_coeffs c = {(float)cfg->beta1, (float)cfg->beta2, (float)cfg->eps,
                    (float)(lr * cfg->weight_decay), (float)(lr / bc1), (float)sqrt(bc2)};
  size_t at = 0;
  for (int k = 0; k < n_spans; at += spans[k].n, k++)
    update(spans[k].params, s->m + at, s->v + at, spans[k].grads, spans[k].n, spans[k].decay, &c);
}
