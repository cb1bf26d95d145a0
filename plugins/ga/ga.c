/* ga — gradient ascent on the forget answers (TOFU `grad_ascent`):
 *   L = −forget_coeff · NLL_mean(forget)
 * The loss math only; see README.md for the source and the reduction. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct ga_params {
  double forget_coeff;
} ga_params;

static const lethe_param ga_param_table[] = {
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(ga_params, forget_coeff), 1.0, 0.0, INFINITY,
     "weight of the ascent term −NLL_mean(forget)", 0},
};

static int ga_create(const void *params, const lethe_host_api *host, void **state,
                     lethe_method_error *err) {
  return lt_create(params, sizeof(ga_params), host, state, err);
}

static int ga_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                            lethe_method_error *err) {
  const ga_params *p = ((const lt_instance *)state)->params;
  double forget_nll;
  if (lt_add_nll_mean(b, 1u << LETHE_SEG_FORGET, -p->forget_coeff, out->dlogp, &forget_nll, err))
    return -1;
  out->loss = -p->forget_coeff * forget_nll;
  return 0;
}

static const lethe_method_desc ga_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "ga",
    .version = "1.0.0",
    .summary = "gradient ascent: −NLL_mean(forget) (TOFU grad_ascent)",
    .caps = 0,
    .params = ga_param_table,
    .n_params = sizeof ga_param_table / sizeof ga_param_table[0],
    .params_size = sizeof(ga_params),
    .create = ga_create,
    .loss_and_grad = ga_loss_and_grad,
    .destroy = lt_destroy,
    .title = "GA",
    .colour = "#d55e00",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &ga_desc; }
