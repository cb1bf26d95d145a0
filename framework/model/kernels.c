/* kernels — fused element-wise layer math (see kernels.h). */
#include "model/kernels.h"

#include <math.h>
#include <string.h>

void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t n, int c,
                     float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float *xi = x + i * c;
    double ss = 0;
    for (int j = 0; j < c; j++) ss += (double)xi[j] * xi[j];
    float r = (float)(1.0 / sqrt(ss / c + eps));
    rstd[i] = r;
    float *oi = out + i * c;
    for (int j = 0; j < c; j++) oi[j] = w[j] * (xi[j] * r);
  }
}

void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int64_t n, int c) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    const float *xi = x + i * c, *gi = dout + i * c;
    float r = rstd[i];
    double dot = 0; /* Σ_j g_j w_j x_j */
    for (int j = 0; j < c; j++) dot += (double)gi[j] * w[j] * xi[j];
    float k = (float)(dot * r * r * r / c);
    float *dxi = dx + i * c;
    for (int j = 0; j < c; j++) dxi[j] += gi[j] * w[j] * r - xi[j] * k;
  }
  /* dw_j = Σ_i g_ij x_ij r_i: parallel over channels so the sum order is fixed */
#pragma omp parallel for schedule(static)
  for (int j = 0; j < c; j++) {
    double acc = 0;
    for (int64_t i = 0; i < n; i++) acc += (double)dout[i * c + j] * x[i * c + j] * rstd[i];
    dw[j] += (float)acc;
  }
}

void rope_tables(float *cos_t, float *sin_t, int t_max, int head_dim, double theta) {
  int half = head_dim / 2;
  for (int i = 0; i < half; i++) {
    /* as HF: inv_freq computed in float32 from an int64 arange */
    float inv_freq = (float)(1.0 / pow(theta, (double)(2 * i) / head_dim));
    for (int p = 0; p < t_max; p++) {
      float angle = (float)p * inv_freq;
      cos_t[p * half + i] = cosf(angle);
      sin_t[p * half + i] = sinf(angle);
    }
  }
}

void rope_apply(float *x, const float *cos_t, const float *sin_t, int b, int t, int heads,
                int head_dim, const int32_t *positions, int inverse) {
  int half = head_dim / 2;
  float sgn = inverse ? -1.0f : 1.0f;
#pragma omp parallel for collapse(2) schedule(static)
  for (int bi = 0; bi < b; bi++)
    for (int ti = 0; ti < t; ti++) {
      int p = positions ? positions[(int64_t)bi * t + ti] : ti;
      if (p < 0) p = 0;
      const float *cs = cos_t + (int64_t)p * half, *sn = sin_t + (int64_t)p * half;
      for (int h = 0; h < heads; h++) {
        float *v = x + (((int64_t)bi * t + ti) * heads + h) * head_dim;
        for (int i = 0; i < half; i++) {
          float x1 = v[i], x2 = v[i + half], s = sgn * sn[i];
          v[i] = x1 * cs[i] - x2 * s;
          v[i + half] = x2 * cs[i] + x1 * s;
        }
      }
    }
}

void swiglu_forward(float *out, const float *gate, const float *up, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i];
    out[i] = g / (1.0f + expf(-g)) * up[i];
  }
}

void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float g = gate[i], s = 1.0f / (1.0f + expf(-g));
    dup[i] = dout[i] * g * s;
    dgate[i] = dout[i] * up[i] * s * (1.0f + g * (1.0f - s));
  }
}

void attention_softmax(float *scores, const int32_t *key_mask, int b, int h, int t) {
#pragma omp parallel for collapse(2) schedule(static)
  for (int bi = 0; bi < b; bi++)
    for (int hi = 0; hi < h; hi++) {
      const int32_t *km = key_mask ? key_mask + (int64_t)bi * t : NULL;
      for (int i = 0; i < t; i++) {
        float *row = scores + (((int64_t)bi * h + hi) * t + i) * t;
        float mx = -INFINITY;
        for (int j = 0; j <= i; j++)
          if ((!km || km[j]) && row[j] > mx) mx = row[j];
        if (mx == -INFINITY) { /* no visible key */
          memset(row, 0, sizeof(float) * t);
          continue;
        }
        double sum = 0;
        for (int j = 0; j <= i; j++) {
          float e = (!km || km[j]) ? expf(row[j] - mx) : 0.0f;
          row[j] = e;
          sum += e;
        }
        float inv = (float)(1.0 / sum);
        for (int j = 0; j <= i; j++) row[j] *= inv;
        for (int j = i + 1; j < t; j++) row[j] = 0.0f;
      }
    }
}

void attention_softmax_backward(float *datt, const float *att, int b, int h, int t) {
  int64_t rows = (int64_t)b * h * t;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int i = (int)(r % t);
    float *d = datt + r * t;
    const float *p = att + r * t;
    double dot = 0;
    for (int j = 0; j <= i; j++) dot += (double)d[j] * p[j];
    float fd = (float)dot;
    for (int j = 0; j <= i; j++) d[j] = p[j] * (d[j] - fd);
    for (int j = i + 1; j < t; j++) d[j] = 0.0f;
  }
}

void gqa_expand(float *out, const float *kv, int64_t bt, int nh, int nkv, int hd) {
  int group = nh / nkv;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bt; r++)
    for (int h = 0; h < nh; h++)
      memcpy(out + (r * nh + h) * hd, kv + (r * nkv + h / group) * hd, sizeof(float) * hd);
}

void gqa_reduce(float *dkv, const float *dout, int64_t bt, int nh, int nkv, int hd) {
  int group = nh / nkv;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bt; r++)
    for (int g = 0; g < nkv; g++) {
      float *dst = dkv + (r * nkv + g) * hd;
      memset(dst, 0, sizeof(float) * hd);
      for (int k = 0; k < group; k++) {
        const float *src = dout + (r * nh + g * group + k) * hd;
        for (int d = 0; d < hd; d++) dst[d] += src[d];
      }
    }
}

void embedding_forward(float *out, const float *embed, const int32_t *tokens, int64_t n, int c) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++)
    memcpy(out + i * c, embed + (int64_t)tokens[i] * c, sizeof(float) * c);
}

void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int64_t n,
                        int c) {
  /* each thread owns a slice of channels, so repeated tokens never race */
#pragma omp parallel for schedule(static)
  for (int j = 0; j < c; j++)
    for (int64_t i = 0; i < n; i++) dembed[(int64_t)tokens[i] * c + j] += dout[i * c + j];
}

static double row_logsumexp(const float *row, int v) {
  float mx = row[0];
  for (int j = 1; j < v; j++)
    if (row[j] > mx) mx = row[j];
  double s = 0;
  for (int j = 0; j < v; j++) s += exp((double)row[j] - mx);
  return mx + log(s);
}

void logits_target_logp(float *logp, const float *logits, const int32_t *targets, int64_t n,
                        int v) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    if (targets[i] < 0) {
      logp[i] = 0.0f;
      continue;
    }
    const float *row = logits + i * v;
    logp[i] = (float)((double)row[targets[i]] - row_logsumexp(row, v));
  }
}

void logits_to_dlogits(float *logits, const int32_t *targets, const float *g,
                       const float *extra, int64_t n, int v) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float *row = logits + i * v;
    const float *ex = extra ? extra + i * v : NULL;
    float gi = (targets[i] >= 0) ? g[i] : 0.0f;
    if (gi != 0.0f) {
      double lse = row_logsumexp(row, v);
      for (int j = 0; j < v; j++) row[j] = -gi * (float)exp((double)row[j] - lse);
      row[targets[i]] += gi;
    } else {
      memset(row, 0, sizeof(float) * v);
    }
    if (ex)
      for (int j = 0; j < v; j++) row[j] += ex[j];
  }
}
