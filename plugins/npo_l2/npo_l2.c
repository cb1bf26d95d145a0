/* npo_l2 — NPO with an L2 pull of the trainable weights to the reference's
 * (a weight-space regulariser, through ABI 1.2's parameter tensors):
 *   L = forget_coeff · L_NPO + (l2/2)·Σ_i ‖θ_i − θ_ref,i‖² + retain_coeff · NLL_mean(retain)
 * dL/dθ = l2·(θ − θ_ref) on every trainable tensor; L_NPO as in the npo
 * plugin. With retain_coeff = 0 (the default) it takes no retain rows.
 * Logs "npo_weight_mean" and "l2_distance" (‖θ − θ_ref‖). See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct npo_l2_params {
  double beta;
  double forget_coeff;
  double l2;
  double retain_coeff;
} npo_l2_params;

static const lethe_param npo_l2_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(npo_l2_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the NPO loss", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_l2_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the NPO term", 0},
    {"l2", LETHE_PARAM_DOUBLE, offsetof(npo_l2_params, l2), 1.0, 0.0, INFINITY,
     "λ of the pull (λ/2)·‖θ − θ_ref‖² of the trainable weights to the reference's", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_l2_params, retain_coeff), 0.0, 0.0,
     INFINITY, "weight of NLL_mean(retain) (0 = no retain rows)", 0},
};

static int npo_l2_resolve(const void *params, lethe_method_needs *needs, lethe_method_error *err) {
  (void)err;
  const npo_l2_params *p = params;
  if (p->retain_coeff == 0.0) needs->caps &= ~LETHE_CAP_RETAIN;
  if (p->l2 == 0.0) needs->caps &= ~LETHE_CAP_PARAMS;
  return 0;
}

/* Σ_i ‖θ_i − θ_ref,i‖², adding l2·(θ − θ_ref) into dparams. */
static double add_l2_pull(const lethe_method_batch *b, double l2, float *const *dparams) {
  double sq = 0.0;
  for (int32_t i = 0; i < b->n_params; i++) {
    const lethe_param_tensor *t = &b->params[i];
    for (int64_t k = 0; k < t->numel; k++) {
      double d = (double)t->value[k] - t->ref_value[k];
      sq += d * d;
      dparams[i][k] += (float)(l2 * d);
    }
  }
  return sq;
}

static int npo_l2_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                lethe_method_error *err) {
  const npo_l2_params *p = state; /* the host's copy */
  double npo, mean_w, retain_nll = 0.0, sq = 0.0;
  if (lt_add_npo(b, p->beta, p->forget_coeff, out->dlogp, &npo, &mean_w, err)) return -1;
  if (p->retain_coeff != 0.0 &&
      lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
    return -1;
  if (p->l2 != 0.0) sq = add_l2_pull(b, p->l2, out->dparams);
  out->loss = p->forget_coeff * npo + 0.5 * p->l2 * sq + p->retain_coeff * retain_nll;
  lt_batch_metric(b, "npo_weight_mean", mean_w);
  lt_batch_metric(b, "l2_distance", sqrt(sq));
  return 0;
}

LETHE_METHOD_DEFINE(.name = "npo_l2",
                    .version = "1.0.0",
                    .summary = "NPO + (λ/2)·‖θ − θ_ref‖² pulling the trained weights to the reference's",
                    .caps = LETHE_CAP_REF_LOGP | LETHE_CAP_PARAMS | LETHE_CAP_RETAIN,
                    LETHE_METHOD_PARAMS(npo_l2_param_table, npo_l2_params),
                    .loss_and_grad = npo_l2_loss_and_grad,
                    .title = "NPO+L2",
                    .colour = "#88ccee",
                    .resolve = npo_l2_resolve);
