/* kl — gradient ascent on forget plus a KL anchor on retain (TOFU `KL`, GA+KL):
 *   L = −forget_coeff · NLL_mean(forget) + retain_coeff · KL(π_ref ‖ π_θ; retain)
 * KL averaged over every position of the padded retain rows (the original),
 * or over answer tokens only with kl_answer_only. See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct kl_params {
  double forget_coeff;
  double retain_coeff;
  int32_t kl_answer_only;
} kl_params;

static const lethe_param kl_param_table[] = {
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(kl_params, forget_coeff), 1.0, 0.0, INFINITY,
     "weight of the ascent term −NLL_mean(forget)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(kl_params, retain_coeff), 1.0, 0.0, INFINITY,
     "weight of the retain term KL(π_ref ‖ π_θ)", 0},
    {"kl_answer_only", LETHE_PARAM_BOOL, offsetof(kl_params, kl_answer_only), 0.0, 0.0, 1.0,
     "average the KL over answer tokens only (false: every padded position, as the original)", 0},
};

static int kl_create(const void *params, const lethe_host_api *host, void **state,
                     lethe_method_error *err) {
  return lt_create(params, sizeof(kl_params), host, state, err);
}

static int kl_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                            lethe_method_error *err) {
  const lt_instance *inst = state;
  const kl_params *p = inst->params;
  double forget_nll, retain_kl;
  if (lt_add_nll_mean(b, 1u << LETHE_SEG_FORGET, -p->forget_coeff, out->dlogp, &forget_nll, err) ||
      lt_add_kl_retain(b, p->kl_answer_only, p->retain_coeff, out->dlogits, &retain_kl, err))
    return -1;
  out->loss = -p->forget_coeff * forget_nll + p->retain_coeff * retain_kl;
  lt_metric(inst, "forget_nll", forget_nll);
  lt_metric(inst, "retain_kl", retain_kl);
  return 0;
}

static const lethe_method_desc kl_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "kl",
    .version = "1.0.0",
    .summary = "GA+KL: −NLL_mean(forget) + KL(π_ref‖π_θ) on retain (TOFU KL)",
    .caps = LETHE_CAP_RETAIN | LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS,
    .params = kl_param_table,
    .n_params = sizeof kl_param_table / sizeof kl_param_table[0],
    .params_size = sizeof(kl_params),
    .create = kl_create,
    .loss_and_grad = kl_loss_and_grad,
    .destroy = lt_destroy,
    .title = "GA+KL",
    .colour = "#cc79a7",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &kl_desc; }
