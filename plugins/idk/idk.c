/* idk — fine-tune on "I don't know" answers plus retain (TOFU `idk`, IDK+RT):
 *   L = NLL_mean(idk rows ∪ retain rows)
 * one token mean over both sets together, as the original concatenates the
 * two batches before taking the HF loss. No parameters. See README.md. */
#include <stddef.h>

#include "loss_terms.h"

static int idk_create(const void *params, const lethe_host_api *host, void **state,
                      lethe_method_error *err) {
  return lt_create(params, 0, host, state, err);
}

static int idk_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  (void)state;
  double nll;
  unsigned rows = (1u << LETHE_SEG_IDK) | (1u << LETHE_SEG_RETAIN);
  if (lt_add_nll_mean(b, rows, 1.0, out->dlogp, &nll, err)) return -1;
  out->loss = nll;
  return 0;
}

static const lethe_method_desc idk_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "idk",
    .version = "1.0.0",
    .summary = "IDK+RT: one token-mean NLL over idk answers and retain rows (TOFU idk)",
    .caps = LETHE_CAP_IDK | LETHE_CAP_RETAIN,
    .params = NULL,
    .n_params = 0,
    .params_size = 0,
    .create = idk_create,
    .loss_and_grad = idk_loss_and_grad,
    .destroy = lt_destroy,
    .title = "IDK+RT",
    .colour = "#56b4e9",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &idk_desc; }
