/* loss_terms — shared loss math for the method plugins (see loss_terms.h). */
#include "loss_terms.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int lt_create(const void *params, size_t params_size, const lethe_host_api *host, void **state,
              lethe_method_error *err) {
  lt_instance *inst = calloc(1, sizeof *inst);
  if (!inst) return lethe_method_fail(err, "out of memory");
  if (params_size) {
    inst->params = malloc(params_size);
    if (!inst->params) {
      free(inst);
      return lethe_method_fail(err, "out of memory");
    }
    memcpy(inst->params, params, params_size);
  }
  inst->host = host;
  *state = inst;
  return 0;
}

void lt_destroy(void *state) {
  lt_instance *inst = state;
  if (!inst) return;
  free(inst->params);
  free(inst);
}

static void host_metric(const lethe_host_api *h, const char *name, double value) {
  size_t need = offsetof(lethe_host_api, metric) + sizeof h->metric;
  if (h && h->struct_size >= need && h->metric) h->metric(h->ctx, name, value);
}

void lt_metric(const lt_instance *inst, const char *name, double value) {
  host_metric(inst->host, name, value);
}

#ifdef LETHE_HAS_FIELD /* a 1.2 header (the ABI test builds these terms against 1.1's) */
void lt_batch_metric(const lethe_method_batch *b, const char *name, double value) {
  if (LETHE_HAS_FIELD(b, lethe_method_batch, host)) host_metric(b->host, name, value);
}
#endif

double lt_log_sigmoid(double x) {
  return x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x));
}

double lt_sigmoid(double x) {
  if (x >= 0) return 1.0 / (1.0 + exp(-x));
  double e = exp(x);
  return e / (1.0 + e);
}

double lt_row_sum(const lethe_method_batch *b, const float *x, int row) {
  const float *xr = x + (size_t)row * b->T, *mr = b->mask + (size_t)row * b->T;
  double s = 0.0;
  for (int t = 0; t < b->T; t++) s += (double)mr[t] * xr[t];
  return s;
}

int lt_add_nll_mean(const lethe_method_batch *b, unsigned seg_bits, double coeff, float *dlogp,
                    double *nll, lethe_method_error *err) {
  double sum = 0.0, count = 0.0;
  for (int k = 0; k < LETHE_SEG_COUNT; k++) {
    if (!(seg_bits & (1u << k))) continue;
    for (int r = b->seg[k].row0; r < b->seg[k].row0 + b->seg[k].nrows; r++) {
      const float *mr = b->mask + (size_t)r * b->T;
      for (int t = 0; t < b->T; t++) count += mr[t];
      sum += lt_row_sum(b, b->logp, r);
    }
  }
  if (!(count > 0)) {
    static const char *const seg_names[] = {"forget", "retain", "idk"};
    char which[32] = "";
    for (int k = 0; k < LETHE_SEG_COUNT; k++)
      if (seg_bits & (1u << k))
        snprintf(which + strlen(which), sizeof which - strlen(which), "%s%s", which[0] ? "+" : "",
                 seg_names[k]);
    return lethe_method_fail(err, "no counted target tokens in the %s rows", which);
  }
  *nll = -sum / count;
  float g = (float)(-coeff / count);
  for (int k = 0; k < LETHE_SEG_COUNT; k++) {
    if (!(seg_bits & (1u << k))) continue;
    size_t lo = (size_t)b->seg[k].row0 * b->T, hi = lo + (size_t)b->seg[k].nrows * b->T;
    for (size_t i = lo; i < hi; i++) dlogp[i] += g * b->mask[i];
  }
  return 0;
}

int lt_add_npo(const lethe_method_batch *b, double beta, double coeff, float *dlogp, double *loss,
               double *mean_w, lethe_method_error *err) {
  lethe_segment f = b->seg[LETHE_SEG_FORGET];
  if (f.nrows <= 0) return lethe_method_fail(err, "the forget segment is empty");
  double total = 0.0, w_sum = 0.0;
  for (int r = f.row0; r < f.row0 + f.nrows; r++) {
    double log_ratio = lt_row_sum(b, b->logp, r) - lt_row_sum(b, b->ref_logp, r);
    double w = 2.0 * lt_sigmoid(beta * log_ratio);
    total += -(2.0 / beta) * lt_log_sigmoid(-beta * log_ratio);
    w_sum += w;
    float g = (float)(coeff * w / f.nrows);
    for (int t = 0; t < b->T; t++) dlogp[(size_t)r * b->T + t] += g * b->mask[(size_t)r * b->T + t];
  }
  *loss = total / f.nrows;
  *mean_w = w_sum / f.nrows;
  return 0;
}

/* log Σ_v exp(z_v) in double */
static double log_sum_exp(const float *z, int V) {
  double m = z[0];
  for (int v = 1; v < V; v++)
    if (z[v] > m) m = z[v];
  double s = 0.0;
  for (int v = 0; v < V; v++) s += exp(z[v] - m);
  return m + log(s);
}

int lt_add_kl_retain(const lethe_method_batch *b, int answer_only, double coeff, float *dlogits,
                     double *kl, lethe_method_error *err) {
  lethe_segment s = b->seg[LETHE_SEG_RETAIN];
  size_t lo = (size_t)s.row0 * b->T, hi = lo + (size_t)s.nrows * b->T;
  double count = 0.0;
  for (size_t i = lo; i < hi; i++) count += answer_only ? b->mask[i] : 1.0;
  if (!(count > 0))
    return lethe_method_fail(err, "KL term: no %s in the retain rows",
                             answer_only ? "answer positions" : "positions");
  double total = 0.0;
  int V = b->V;
  for (size_t i = lo; i < hi; i++) {
    double weight = answer_only ? b->mask[i] : 1.0;
    if (weight == 0.0) continue;
    const float *z = b->logits + i * V, *r = b->ref_logits + i * V;
    float *dz = dlogits + i * V;
    double lse_z = log_sum_exp(z, V), lse_r = log_sum_exp(r, V), pos_kl = 0.0;
    double g = coeff * weight / count;
    for (int v = 0; v < V; v++) {
      double log_pr = r[v] - lse_r, log_pz = z[v] - lse_z, p_ref = exp(log_pr);
      pos_kl += p_ref * (log_pr - log_pz);
      dz[v] += (float)(g * (exp(log_pz) - p_ref));
    }
    total += weight * pos_kl;
  }
  *kl = total / count;
  return 0;
}
