/* dpo — DPO with the "I don't know" answer preferred over the forget answer
 * (code `dpo`; with retain_coeff > 0 it is `dpo_grad_diff`, DPO+RT):
 *   m_i = [ℓ_θ(idk_i) − ℓ_θ(y_i)] − [ℓ_ref(idk_i) − ℓ_ref(y_i)],  ℓ = Σ_t mask·logp
 *   L = forget_coeff · (−2/β) · mean_i log σ(β·m_i) + retain_coeff · NLL_mean(retain)
 * idk row i pairs with forget row i. Logs "dpo_margin_mean". See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct dpo_params {
  double beta;
  double forget_coeff;
  double retain_coeff;
} dpo_params;

static const lethe_param dpo_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(dpo_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the DPO loss", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(dpo_params, forget_coeff), 1.0, 0.0, INFINITY,
     "weight of the DPO term", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(dpo_params, retain_coeff), 0.0, 0.0, INFINITY,
     "weight of NLL_mean(retain); > 0 gives DPO+RT (dpo_grad_diff)", 0},
};

static int dpo_create(const void *params, const lethe_host_api *host, void **state,
                      lethe_method_error *err) {
  return lt_create(params, sizeof(dpo_params), host, state, err);
}

static int dpo_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  const lt_instance *inst = state;
  const dpo_params *p = inst->params;
  lethe_segment f = b->seg[LETHE_SEG_FORGET], idk = b->seg[LETHE_SEG_IDK];
  if (f.nrows <= 0) return lethe_method_fail(err, "the forget segment is empty");
  if (idk.nrows != f.nrows)
    return lethe_method_fail(err, "%d idk rows for %d forget rows (one idk answer per forget row)",
                             idk.nrows, f.nrows);
  double dpo = 0.0, margin_sum = 0.0;
  for (int i = 0; i < f.nrows; i++) {
    int fr = f.row0 + i, ir = idk.row0 + i;
    double margin = (lt_row_sum(b, b->logp, ir) - lt_row_sum(b, b->logp, fr)) -
                    (lt_row_sum(b, b->ref_logp, ir) - lt_row_sum(b, b->ref_logp, fr));
    dpo += -(2.0 / p->beta) * lt_log_sigmoid(p->beta * margin);
    margin_sum += margin;
    /* dL/dm_i = −2σ(−β m_i)·forget_coeff/n; m_i rises with the idk row's log-prob
     * and falls with the forget row's */
    double g = -2.0 * lt_sigmoid(-p->beta * margin) * p->forget_coeff / f.nrows;
    for (int t = 0; t < b->T; t++) {
      size_t at_idk = (size_t)ir * b->T + t, at_forget = (size_t)fr * b->T + t;
      out->dlogp[at_idk] += (float)(g * b->mask[at_idk]);
      out->dlogp[at_forget] -= (float)(g * b->mask[at_forget]);
    }
  }
  dpo /= f.nrows;
  out->loss = p->forget_coeff * dpo;
  if (p->retain_coeff > 0) {
    double retain_nll;
    if (lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
      return -1;
    out->loss += p->retain_coeff * retain_nll;
    lt_metric(inst, "retain_nll", retain_nll);
  }
  lt_metric(inst, "dpo_margin_mean", margin_sum / f.nrows);
  return 0;
}

static const lethe_method_desc dpo_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "dpo",
    .version = "1.0.0",
    .summary = "DPO: prefer the idk answer over the forget answer; optional retain NLL (DPO+RT)",
    .caps = LETHE_CAP_IDK | LETHE_CAP_REF_LOGP | LETHE_CAP_RETAIN,
    .params = dpo_param_table,
    .n_params = sizeof dpo_param_table / sizeof dpo_param_table[0],
    .params_size = sizeof(dpo_params),
    .create = dpo_create,
    .loss_and_grad = dpo_loss_and_grad,
    .destroy = lt_destroy,
    .title = "DPO",
    .colour = "#0072b2",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &dpo_desc; }
