/* arch_kernels — element-wise parts only the other families use: biases,
 * LayerNorm, GELU (tanh), partial rotary (see kernels.h). Plain loops with
 * OpenMP static schedules and sums in a fixed order, in float32 with double
 * row statistics. Not here: the llama fast path's kernels (isa/kernels.c). */
#include <math.h>
#include <string.h>

#include "model/kernels.h"

void bias_forward(float *y, const float *b, int64_t m, int n) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < m; r++)
    for (int j = 0; j < n; j++) y[r * n + j] += b[j];
}

void bias_backward(float *db, const float *dy, int64_t m, int n) {
#pragma omp parallel for schedule(static)
  for (int j = 0; j < n; j++) {
    double s = 0;
    for (int64_t r = 0; r < m; r++) s += dy[r * n + j];
    db[j] += (float)s;
  }
}

static double row_mean(const float *x, int c) {
  double s = 0;
  for (int i = 0; i < c; i++) s += x[i];
  return s / c;
}

void layernorm_forward(float *out, float *rstd, const float *x, const float *w, const float *b,
                       int64_t n, int c, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; r++) {
    const float *xr = x + r * c;
    double mean = row_mean(xr, c), var = 0;
    for (int i = 0; i < c; i++) var += (xr[i] - mean) * (xr[i] - mean);
    float rs = (float)(1.0 / sqrt(var / c + eps));
    rstd[r] = rs;
    for (int i = 0; i < c; i++) out[r * c + i] = (float)(xr[i] - mean) * rs * w[i] + b[i];
  }
}

/* dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) with g = dout·w, x̂ the normalised x. */
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *rstd, int64_t n, int c) {
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; r++) {
    const float *xr = x + r * c, *dr = dout + r * c;
    double mean = row_mean(xr, c), sg = 0, sgx = 0;
    for (int i = 0; i < c; i++) {
      double xh = (xr[i] - mean) * rstd[r], g = (double)dr[i] * w[i];
      sg += g;
      sgx += g * xh;
    }
    sg /= c;
    sgx /= c;
    for (int i = 0; i < c; i++) {
      double xh = (xr[i] - mean) * rstd[r], g = (double)dr[i] * w[i];
      dx[r * c + i] += (float)(rstd[r] * (g - sg - xh * sgx));
    }
  }
  if (!dw && !db) return; /* a frozen norm */
#pragma omp parallel for schedule(static)
  for (int i = 0; i < c; i++) { /* parameter sums over rows, in row order */
    double sw = 0, sb = 0;
    for (int64_t r = 0; r < n; r++) {
      const float *xr = x + r * c;
      double mean = row_mean(xr, c);
      sw += (double)dout[r * c + i] * (xr[i] - mean) * rstd[r];
      sb += dout[r * c + i];
    }
    if (dw) dw[i] += (float)sw;
    if (db) db[i] += (float)sb;
  }
}

#define GELU_K 0.7978845608028654 /* sqrt(2/pi) */

void gelu_forward(float *out, const float *x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double v = x[i];
    out[i] = (float)(0.5 * v * (1 + tanh(GELU_K * (v + 0.044715 * v * v * v))));
  }
}

void gelu_backward(float *dx, const float *dout, const float *x, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    double v = x[i], t = tanh(GELU_K * (v + 0.044715 * v * v * v));
    double dt = (1 - t * t) * GELU_K * (1 + 3 * 0.044715 * v * v);
    dx[i] = (float)(dout[i] * (0.5 * (1 + t) + 0.5 * v * dt));
  }
}

void rope_apply_partial(float *x, const float *cos_t, const float *sin_t, int b, int t, int heads,
                        int head_dim, int rot, const int32_t *positions, int inverse) {
  int half = rot / 2;
  float sgn = inverse ? -1.0f : 1.0f;
  int64_t n = (int64_t)b * t;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; r++) {
    int p = positions ? positions[r] : (int)(r % t);
    if (p < 0) p = 0;
    const float *cs = cos_t + (int64_t)p * half, *sn = sin_t + (int64_t)p * half;
    for (int h = 0; h < heads; h++) {
      float *v = x + (r * heads + h) * head_dim;
      for (int i = 0; i < half; i++) {
        float x1 = v[i], x2 = v[i + half], s = sgn * sn[i];
        v[i] = x1 * cs[i] - x2 * s;
        v[i + half] = x2 * cs[i] + x1 * s;
      }
    }
  }
}
