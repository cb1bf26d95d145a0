/* npo_kl — NPO plus a KL anchor on retain (code `npo_KL`, NPO+KL):
 *   L = forget_coeff · L_NPO + retain_coeff · KL(π_ref ‖ π_θ; retain)
 * L_NPO as in the npo plugin, the KL as in the kl plugin; logs
 * "npo_weight_mean". See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct npo_kl_params {
  double beta;
  double forget_coeff;
  double retain_coeff;
  int32_t kl_answer_only;
} npo_kl_params;

static const lethe_param npo_kl_param_table[] = {
    {"beta", LETHE_PARAM_DOUBLE, offsetof(npo_kl_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the NPO loss", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_kl_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the NPO term (npo_coeff in the original)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(npo_kl_params, retain_coeff), 1.0, 0.0,
     INFINITY, "weight of KL(π_ref ‖ π_θ) on retain (KL_coeff in the original)", 0},
    {"kl_answer_only", LETHE_PARAM_BOOL, offsetof(npo_kl_params, kl_answer_only), 0.0, 0.0, 1.0,
     "average the KL over answer tokens only (false: every padded position, as the original)", 0},
};

static int npo_kl_create(const void *params, const lethe_host_api *host, void **state,
                         lethe_method_error *err) {
  return lt_create(params, sizeof(npo_kl_params), host, state, err);
}

static int npo_kl_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                lethe_method_error *err) {
  const lt_instance *inst = state;
  const npo_kl_params *p = inst->params;
  double npo, mean_w, retain_kl;
  if (lt_add_npo(b, p->beta, p->forget_coeff, out->dlogp, &npo, &mean_w, err) ||
      lt_add_kl_retain(b, p->kl_answer_only, p->retain_coeff, out->dlogits, &retain_kl, err))
    return -1;
  out->loss = p->forget_coeff * npo + p->retain_coeff * retain_kl;
  lt_metric(inst, "npo_weight_mean", mean_w);
  lt_metric(inst, "forget_npo", npo);
  lt_metric(inst, "retain_kl", retain_kl);
  return 0;
}

static const lethe_method_desc npo_kl_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "npo_kl",
    .version = "1.0.0",
    .summary = "NPO+KL: NPO on forget + KL(π_ref‖π_θ) on retain (code npo_KL)",
    .caps = LETHE_CAP_REF_LOGP | LETHE_CAP_RETAIN | LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS,
    .params = npo_kl_param_table,
    .n_params = sizeof npo_kl_param_table / sizeof npo_kl_param_table[0],
    .params_size = sizeof(npo_kl_params),
    .create = npo_kl_create,
    .loss_and_grad = npo_kl_loss_and_grad,
    .destroy = lt_destroy,
    .title = "NPO+KL",
    .colour = "#999933",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &npo_kl_desc; }
