/* simnpo — SimNPO, reference-free NPO on length-normalised NLL (Fan et al.
 * 2024, as open-unlearning's SimNPO trainer):
 *   a_i = NLL_sum(y_i)/n_i − δ   (n_i = counted tokens of forget row i)
 *   L = forget_coeff · (−2/β) · mean_i log σ(β·a_i) + retain_coeff · NLL_mean(retain)
 * See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct simnpo_params {
  double beta;
  double delta;
  double forget_coeff;
  double retain_coeff;
} simnpo_params;

static const lethe_param simnpo_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(simnpo_params, beta), 4.5, 0.0, 1000.0,
     "inverse temperature β", LETHE_PARAM_MIN_EXCLUSIVE},
    {"delta", LETHE_PARAM_DOUBLE, offsetof(simnpo_params, delta), 0.0, -INFINITY, INFINITY,
     "margin δ subtracted from the per-token forget NLL", 0},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(simnpo_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the SimNPO term (open-unlearning's gamma)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(simnpo_params, retain_coeff), 0.0, 0.0,
     INFINITY, "weight of NLL_mean(retain) (open-unlearning's alpha)", 0},
};

static int simnpo_create(const void *params, const lethe_host_api *host, void **state,
                         lethe_method_error *err) {
  return lt_create(params, sizeof(simnpo_params), host, state, err);
}

static int simnpo_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                lethe_method_error *err) {
  const lt_instance *inst = state;
  const simnpo_params *p = inst->params;
  lethe_segment f = b->seg[LETHE_SEG_FORGET];
  if (f.nrows <= 0) return lethe_method_fail(err, "the forget segment is empty");
  double simnpo = 0.0;
  for (int r = f.row0; r < f.row0 + f.nrows; r++) {
    const float *mask = b->mask + (size_t)r * b->T;
    double n_tokens = 0.0;
    for (int t = 0; t < b->T; t++) n_tokens += mask[t];
    if (!(n_tokens > 0)) return lethe_method_fail(err, "forget row %d has no counted tokens", r);
    double a = -lt_row_sum(b, b->logp, r) / n_tokens - p->delta;
    simnpo += -(2.0 / p->beta) * lt_log_sigmoid(p->beta * a);
    /* dL/da = −2σ(−βa)·forget_coeff/n_rows and da/dlogp_t = −mask_t/n_tokens */
    double g = 2.0 * lt_sigmoid(-p->beta * a) * p->forget_coeff / (f.nrows * n_tokens);
    for (int t = 0; t < b->T; t++) out->dlogp[(size_t)r * b->T + t] += (float)(g * mask[t]);
  }
  simnpo /= f.nrows;
  out->loss = p->forget_coeff * simnpo;
  if (p->retain_coeff > 0) {
    double retain_nll;
    if (lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
      return -1;
    out->loss += p->retain_coeff * retain_nll;
    lt_metric(inst, "retain_nll", retain_nll);
  }
  return 0;
}

static const lethe_method_desc simnpo_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "simnpo",
    .version = "1.0.0",
    .summary = "SimNPO: reference-free NPO on length-normalised forget NLL; optional retain NLL",
    .caps = LETHE_CAP_RETAIN,
    .params = simnpo_param_table,
    .n_params = sizeof simnpo_param_table / sizeof simnpo_param_table[0],
    .params_size = sizeof(simnpo_params),
    .create = simnpo_create,
    .loss_and_grad = simnpo_loss_and_grad,
    .destroy = lt_destroy,
    .title = "SimNPO",
    .colour = "#882255",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &simnpo_desc; }
