/* adamw_span — the AdamW update of one run of parameters, compiled once per
 * x86-64 level (tensor_isa.h; built with -fno-math-errno so sqrtf is the
 * vector square root, and -fno-trapping-math), so the loop is vectorised at
 * the widest level the CPU has. train/adamw.c picks the variant. */
#include <math.h>
#include <stddef.h>

#include "tensor/tensor_isa.h"
#include "train/adamw.h"

/* Elements per OpenMP task: small tensors (norm weights) stay on one thread. */
#define ADAMW_CHUNK 16384

void LETHE_ISA_NAME(adamw_span_update)(float *params, float *m, float *v, const float *grads,
                                       size_t n, int decay, const adamw_coeffs *c) {
  float b1 = c->beta1, b2 = c->beta2, eps = c->eps, wd = c->wd;
  float step_size = c->step_size, bc2_sqrt = c->bc2_sqrt;
  size_t chunks = (n + ADAMW_CHUNK - 1) / ADAMW_CHUNK;
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (size_t k = 0; k < chunks; k++) {
    size_t lo = k * ADAMW_CHUNK, hi = n - lo < ADAMW_CHUNK ? n : lo + ADAMW_CHUNK;
#pragma omp simd
    for (size_t i = lo; i < hi; i++) {
      float g = grads[i], p = params[i];
      if (decay) p -= wd * p;
      float mi = b1 * m[i] + (1.0f - b1) * g;
      float vi = b2 * v[i] + (1.0f - b2) * g * g;
      m[i] = mi;
      v[i] = vi;
      params[i] = p - step_size * mi / (sqrtf(vi) / bc2_sqrt + eps);
    }
  }
}
