/* undial — self-distillation with an adjusted teacher (UNDIAL, Dong et al. 2024):
 *   L = forget_coeff · mean_{forget answer positions} H(q, p_θ) + retain_coeff · NLL_mean(retain)
 * q = softmax(z_ref − β·e_y): the frozen reference's logits with the target
 * token's logit lowered by β; p_θ = softmax(z). dL/dz = forget_coeff·(p_θ − q)/N.
 * With retain_coeff = 0 (the default) it takes no retain rows. See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct undial_params {
  double beta;
  double forget_coeff;
  double retain_coeff;
} undial_params;

static const lethe_param undial_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(undial_params, beta), 10.0, 0.0, 1000.0,
     "how far the target token's teacher logit is lowered (β; di_strength in the original)", 0},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(undial_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the distillation term (γ)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(undial_params, retain_coeff), 0.0, 0.0,
     INFINITY, "weight of NLL_mean(retain) (α; 0 = no retain rows)", 0},
};

static int undial_resolve(const void *params, lethe_method_needs *needs, lethe_method_error *err) {
  (void)err;
  if (((const undial_params *)params)->retain_coeff == 0.0) needs->caps &= ~LETHE_CAP_RETAIN;
  return 0;
}

/* One position: H(q, p) with q = softmax(ref − β·e_y), adding coeff·(p − q) into d. */
static double soft_ce(const float *z, const float *ref, int y, int V, double beta, double coeff,
                      float *d) {
  double zmax = z[0], rmax = ref[0] - (y == 0 ? beta : 0.0);
  for (int v = 1; v < V; v++) {
    zmax = z[v] > zmax ? z[v] : zmax;
    double r = ref[v] - (v == y ? beta : 0.0);
    rmax = r > rmax ? r : rmax;
  }
  double zs = 0.0, rs = 0.0;
  for (int v = 0; v < V; v++) {
    zs += exp(z[v] - zmax);
    rs += exp(ref[v] - (v == y ? beta : 0.0) - rmax);
  }
  double log_zs = log(zs), h = 0.0;
  for (int v = 0; v < V; v++) {
    double q = exp(ref[v] - (v == y ? beta : 0.0) - rmax) / rs;
    double logp = z[v] - zmax - log_zs;
    h -= q * logp;
    d[v] += (float)(coeff * (exp(logp) - q));
  }
  return h;
}

static int undial_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                lethe_method_error *err) {
  const undial_params *p = state; /* the host's copy */
  lethe_segment f = b->seg[LETHE_SEG_FORGET];
  double n = 0.0;
  for (size_t i = (size_t)f.row0 * b->T; i < (size_t)(f.row0 + f.nrows) * b->T; i++) n += b->mask[i];
  if (!(n > 0)) return lethe_method_fail(err, "no counted target tokens in the forget rows");
  double sum = 0.0, coeff = p->forget_coeff / n, retain_nll = 0.0;
  for (size_t i = (size_t)f.row0 * b->T; i < (size_t)(f.row0 + f.nrows) * b->T; i++) {
    if (b->mask[i] == 0.0f || b->target[i] < 0) continue;
    size_t at = i * (size_t)b->V;
    sum += b->mask[i] * soft_ce(b->logits + at, b->ref_logits + at, b->target[i], b->V, p->beta,
                                coeff * b->mask[i], out->dlogits + at);
  }
  if (p->retain_coeff != 0.0 &&
      lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
    return -1;
  out->loss = p->forget_coeff * sum / n + p->retain_coeff * retain_nll;
  lt_batch_metric(b, "forget_distill", sum / n);
  if (p->retain_coeff != 0.0) lt_batch_metric(b, "retain_nll", retain_nll);
  return 0;
}

LETHE_METHOD_DEFINE(.name = "undial",
                    .version = "1.0.0",
                    .summary = "UNDIAL: distil the reference's logits with the target's logit lowered by β",
                    .caps = LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS | LETHE_CAP_RETAIN,
                    LETHE_METHOD_PARAMS(undial_param_table, undial_params),
                    .loss_and_grad = undial_loss_and_grad,
                    .title = "UNDIAL",
                    .colour = "#aa4499",
                    .resolve = undial_resolve);
