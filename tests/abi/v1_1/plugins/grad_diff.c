/* grad_diff — gradient ascent on forget plus descent on retain (TOFU `grad_diff`, GA+RT):
 *   L = −forget_coeff · NLL_mean(forget) + retain_coeff · NLL_mean(retain)
 * The loss math only; see README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct grad_diff_params {
  double forget_coeff;
  double retain_coeff;
} grad_diff_params;

static const lethe_param grad_diff_param_table[] = {
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(grad_diff_params, forget_coeff), 1.0, 0.0,
     INFINITY, "weight of the ascent term −NLL_mean(forget)", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(grad_diff_params, retain_coeff), 1.0, 0.0,
     INFINITY, "weight of the retain term NLL_mean(retain)", 0},
};

static int grad_diff_create(const void *params, const lethe_host_api *host, void **state,
                            lethe_method_error *err) {
  return lt_create(params, sizeof(grad_diff_params), host, state, err);
}

static int grad_diff_loss_and_grad(void *state, const lethe_method_batch *b,
                                   lethe_method_grad *out, lethe_method_error *err) {
  const lt_instance *inst = state;
  const grad_diff_params *p = inst->params;
  double forget_nll, retain_nll;
  if (lt_add_nll_mean(b, 1u << LETHE_SEG_FORGET, -p->forget_coeff, out->dlogp, &forget_nll, err) ||
      lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, p->retain_coeff, out->dlogp, &retain_nll, err))
    return -1;
  out->loss = -p->forget_coeff * forget_nll + p->retain_coeff * retain_nll;
  lt_metric(inst, "forget_nll", forget_nll);
  lt_metric(inst, "retain_nll", retain_nll);
  return 0;
}

static const lethe_method_desc grad_diff_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "grad_diff",
    .version = "1.0.0",
    .summary = "GA+RT: −NLL_mean(forget) + NLL_mean(retain) (TOFU grad_diff)",
    .caps = LETHE_CAP_RETAIN,
    .params = grad_diff_param_table,
    .n_params = sizeof grad_diff_param_table / sizeof grad_diff_param_table[0],
    .params_size = sizeof(grad_diff_params),
    .create = grad_diff_create,
    .loss_and_grad = grad_diff_loss_and_grad,
    .destroy = lt_destroy,
    .title = "GA+RT",
    .colour = "#e69f00",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &grad_diff_desc; }
