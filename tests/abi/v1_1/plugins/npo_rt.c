/* npo_rt — NPO plus a retain NLL term (code `npo_grad_diff`, NPO+RT):
 *   L = forget_coeff · L_NPO + retain_coeff · NLL_mean(retain)
 * L_NPO as in the npo plugin; logs "npo_weight_mean". See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct npo_rt_params {
  double beta;
  double forget_coeff;
  double retain_coeff;
} npo_rt_params;

static const lethe_param npo_rt_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(npo_rt_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the NPO loss", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_rt_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the NPO term (npo_coeff in the original)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_rt_params, retain_coeff), 1.0, 0.0,
     INFINITY, "weight of NLL_mean(retain) (grad_diff_coeff in the original)", 0},
};

static int npo_rt_create(const void *params, const lethe_host_api *host, void **state,
                         lethe_method_error *err) {
  return lt_create(params, sizeof(npo_rt_params), host, state, err);
}

static int npo_rt_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                lethe_method_error *err) {
  const lt_instance *inst = state;
  const npo_rt_params *p = inst->params;
  double npo, mean_w, retain_nll;
  if (lt_add_npo(b, p->beta, p->forget_coeff, out->dlogp, &npo, &mean_w, err) ||
      lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
    return -1;
  out->loss = p->forget_coeff * npo + p->retain_coeff * retain_nll;
  lt_metric(inst, "npo_weight_mean", mean_w);
  lt_metric(inst, "forget_npo", npo);
  lt_metric(inst, "retain_nll", retain_nll);
  return 0;
}

static const lethe_method_desc npo_rt_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "npo_rt",
    .version = "1.0.0",
    .summary = "NPO+RT: NPO on forget + NLL_mean(retain) (code npo_grad_diff)",
    .caps = LETHE_CAP_REF_LOGP | LETHE_CAP_RETAIN,
    .params = npo_rt_param_table,
    .n_params = sizeof npo_rt_param_table / sizeof npo_rt_param_table[0],
    .params_size = sizeof(npo_rt_params),
    .create = npo_rt_create,
    .loss_and_grad = npo_rt_loss_and_grad,
    .destroy = lt_destroy,
    .title = "NPO+RT",
    .colour = "#117733",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &npo_rt_desc; }
