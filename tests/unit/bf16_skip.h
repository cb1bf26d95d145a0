/* bf16_skip — for tests with bfloat16 cases: whether this machine runs bf16
 * matmuls (tensor_backend_get), and if not, one line on stderr saying which
 * case is skipped and what the machine has. */
#ifndef LETHE_TEST_BF16_SKIP_H
#define LETHE_TEST_BF16_SKIP_H

#include <stdio.h>

#include "tensor/tensor.h"

static inline int bf16_runs_here(const char *what) {
  if (tensor_backend_get()->bf16) return 1;
  char machine[512];
  tensor_backend_describe(machine, sizeof machine);
  fprintf(stderr, "skipped: %s (no bf16 matmuls here: %s)\n", what, machine);
  return 0;
}

#endif
