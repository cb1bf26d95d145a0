/* llama_batch — what the tests that compare two ways of running the model
 * share (test_logits_chunked, test_skip_padding): a batch with per-token
 * dL/dlogp, one forward + log-probs + backward of Σ g·logp, and the relative
 * L2 distance. Test helpers only. */
#ifndef LETHE_TEST_LLAMA_BATCH_H
#define LETHE_TEST_LLAMA_BATCH_H

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "model/llama.h"

typedef struct batch {
  int B, T;
  int32_t *tok, *mask, *tgt;
  float *g; /* dL/dlogp */
} batch;

static inline void free_batch(batch *b) { free(b->tok), free(b->mask), free(b->tgt), free(b->g); }

/* Forward, log-probs into logp, backward of Σ g·logp into fresh gradients. */
static inline void step(llama_model *m, const batch *b, float *logp) {
  lethe_err err = {0};
  ck_assert_msg(llama_forward(m, b->tok, b->mask, b->B, b->T, &err) == 0, "%s", err.msg);
  llama_target_logp(m, b->tgt, logp);
  llama_zero_grads(m);
  llama_dlogits_from_dlogp(m, b->tgt, b->g, NULL);
  llama_backward(m);
}

/* ‖a − b‖ / ‖a‖ (‖a − b‖ when a is 0). */
static inline double rel_l2(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)a[i] * a[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

#endif
