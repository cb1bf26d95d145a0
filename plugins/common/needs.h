/* needs — resolve() (ABI 1.2) for the plugins whose retain term has a
 * coefficient: at retain_coeff = 0 the method takes no retain rows, so the
 * host packs none, refuses --retain, and loads nothing the retain term alone
 * reads (the KL terms' logits). Header-only: a plugin built against ABI 1.1
 * (tests/abi/v1_1) never includes it.
 */
#ifndef LETHE_PLUGIN_NEEDS_H
#define LETHE_PLUGIN_NEEDS_H

#include <stdint.h>

#include "lethe/method.h"

/* Clears LETHE_CAP_RETAIN and retain_only_caps (what only the retain term
 * needs) from needs->caps when retain_coeff is 0. */
static inline void lt_needs_retain(double retain_coeff, uint32_t retain_only_caps,
                                   lethe_method_needs *needs) {
  if (retain_coeff == 0.0) needs->caps &= ~(LETHE_CAP_RETAIN | retain_only_caps);
}

#endif
