/* npo — Negative Preference Optimization (Zhang et al. 2024, code `npo`):
 *   L = forget_coeff · (2/β) · mean_i softplus(β · log(π_θ(y_i|x_i) / π_ref(y_i|x_i)))
 * with sequence log-probs (sums over answer tokens). Logs the mean of the
 * adaptive weight W = 2σ(β·log π_θ/π_ref) as "npo_weight_mean". See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct npo_params {
  double beta;
  double forget_coeff;
} npo_params;

static const lethe_param npo_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(npo_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the NPO loss", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_params, forget_coeff), 1.0, 0.0, INFINITY,
     "weight of the NPO term", 0},
};

static int npo_create(const void *params, const lethe_host_api *host, void **state,
                      lethe_method_error *err) {
  return lt_create(params, sizeof(npo_params), host, state, err);
}

static int npo_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  const lt_instance *inst = state;
  const npo_params *p = inst->params;
  double npo, mean_w;
  if (lt_add_npo(b, p->beta, p->forget_coeff, out->dlogp, &npo, &mean_w, err)) return -1;
  out->loss = p->forget_coeff * npo;
  lt_metric(inst, "npo_weight_mean", mean_w);
  return 0;
}

static const lethe_method_desc npo_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "npo",
    .version = "1.0.0",
    .summary = "NPO: (2/β)·mean softplus(β·log π_θ/π_ref) on forget answers",
    .caps = LETHE_CAP_REF_LOGP,
    .params = npo_param_table,
    .n_params = sizeof npo_param_table / sizeof npo_param_table[0],
    .params_size = sizeof(npo_params),
    .create = npo_create,
    .loss_and_grad = npo_loss_and_grad,
    .destroy = lt_destroy,
    .title = "NPO",
    .colour = "#7b4ea3",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &npo_desc; }
