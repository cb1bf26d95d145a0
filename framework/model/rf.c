/* rf — the random-feature classifier: forward, log-probs, backward, GD (see rf.h).
 * Plain loops in double: the model is 128×16, far too small for oneDNN. The
 * dot products keep four partial sums in a fixed order, which lets the
 * compiler vectorise them without changing results between runs. */
#include "model/rf.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void rf_init(rf_model *m, int d, int n_features, lethe_rng *rng) {
  memset(m, 0, sizeof *m);
  m->d = d;
  m->n_features = n_features;
  size_t nw = (size_t)n_features * (size_t)d;
  m->W = lethe_alloc_aligned(nw * sizeof(double));
  m->theta = lethe_alloc_aligned((size_t)n_features * sizeof(double));
  m->grad = lethe_alloc_aligned((size_t)n_features * sizeof(double));
  double scale = 1.0 / sqrt((double)d);
  for (size_t i = 0; i < nw; i++) m->W[i] = scale * lethe_rng_normal(rng);
}

void rf_copy(rf_model *dst, const rf_model *src) {
  memset(dst, 0, sizeof *dst);
  dst->d = src->d;
  dst->n_features = src->n_features;
  size_t nw = (size_t)src->n_features * (size_t)src->d, nf = (size_t)src->n_features;
  dst->W = lethe_alloc_aligned(nw * sizeof(double));
  dst->theta = lethe_alloc_aligned(nf * sizeof(double));
  dst->grad = lethe_alloc_aligned(nf * sizeof(double));
  memcpy(dst->W, src->W, nw * sizeof(double));
  memcpy(dst->theta, src->theta, nf * sizeof(double));
}

void rf_free(rf_model *m) {
  free(m->W);
  free(m->theta);
  free(m->grad);
  free(m->logits);
  memset(m, 0, sizeof *m);
}

/* Σ_i a[i]·b[i] with four interleaved partial sums, combined in a fixed order. */
static double dot(const double *a, const double *b, int n) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  int i = 0;
  for (; i + 4 <= n; i += 4) {
    s0 += a[i] * b[i];
    s1 += a[i + 1] * b[i + 1];
    s2 += a[i + 2] * b[i + 2];
    s3 += a[i + 3] * b[i + 3];
  }
  for (; i < n; i++) s0 += a[i] * b[i];
  return (s0 + s1) + (s2 + s3);
}

void rf_features(const rf_model *m, const double *x, int n, double *phi) {
  int N = m->n_features, d = m->d;
  for (int r = 0; r < n; r++)
    for (int k = 0; k < N; k++) {
      double z = dot(m->W + (size_t)k * d, x + (size_t)r * d, d);
      phi[(size_t)r * N + k] = z > 0.0 ? z : 0.0;
    }
}

void rf_forward(rf_model *m, const double *phi, int B) {
  if (B > m->B_cap) {
    free(m->logits);
    m->logits = lethe_alloc_aligned((size_t)B * RF_CLASSES * sizeof(double));
    m->B_cap = B;
  }
  m->B = B;
  m->phi = phi;
  int N = m->n_features;
  for (int b = 0; b < B; b++) {
    m->logits[b * RF_CLASSES] = dot(phi + (size_t)b * N, m->theta, N);
    m->logits[b * RF_CLASSES + 1] = 0.0;
  }
}

/* log softmax of one row of two logits with one exp and one log1p: with
 * t = z0 − z1, the larger class gets −log1p(e^−|t|), the other −|t| − that. */
static void log_softmax2(const double *z, double *out) {
  double t = z[0] - z[1], l = log1p(exp(-fabs(t)));
  out[0] = t >= 0.0 ? -l : t - l;
  out[1] = t >= 0.0 ? -t - l : -l;
}

void rf_log_softmax(const rf_model *m, double *out) {
  for (int b = 0; b < m->B; b++) log_softmax2(m->logits + b * RF_CLASSES, out + b * RF_CLASSES);
}

void rf_target_logp(const rf_model *m, const int32_t *targets, double *out) {
  for (int b = 0; b < m->B; b++) {
    double lp[RF_CLASSES];
    log_softmax2(m->logits + b * RF_CLASSES, lp);
    out[b] = targets[b] >= 0 ? lp[targets[b]] : 0.0;
  }
}

void rf_dlogits_from_dlogp(rf_model *m, const int32_t *targets, const double *dlogp,
                           const double *extra_dlogits) {
  for (int b = 0; b < m->B; b++) {
    double *z = m->logits + b * RF_CLASSES;
    /* softmax of two logits: p0 = σ(z0 − z1), one exp, stable either way */
    double t = z[0] - z[1], e = exp(-fabs(t));
    double hi = 1.0 / (1.0 + e), lo = e / (1.0 + e);
    double p[RF_CLASSES] = {t >= 0.0 ? hi : lo, t >= 0.0 ? lo : hi};
    for (int v = 0; v < RF_CLASSES; v++) {
      double g = 0.0;
      if (targets[b] >= 0) g = dlogp[b] * ((v == targets[b] ? 1.0 : 0.0) - p[v]);
      z[v] = g + (extra_dlogits ? extra_dlogits[b * RF_CLASSES + v] : 0.0);
    }
  }
}

void rf_backward(rf_model *m) {
  int N = m->n_features;
  for (int b = 0; b < m->B; b++) {
    double g = m->logits[b * RF_CLASSES]; /* the second logit is a constant */
    if (g == 0.0) continue;
    const double *row = m->phi + (size_t)b * N;
    for (int k = 0; k < N; k++) m->grad[k] += g * row[k];
  }
}

void rf_zero_grad(rf_model *m) { memset(m->grad, 0, (size_t)m->n_features * sizeof(double)); }

void rf_gd_step(rf_model *m, double lr) {
  for (int k = 0; k < m->n_features; k++) m->theta[k] -= lr * m->grad[k];
}

double rf_grad_norm(const rf_model *m) { return sqrt(dot(m->grad, m->grad, m->n_features)); }
