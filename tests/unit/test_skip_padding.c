/* test_skip_padding — llama_set_skip_padding against the model run without
 * it, and against each row run alone without any padding:
 *  - on a batch with padded rows (right-padded rows of several lengths, a
 *    left-padded row, a row without padding), for the six families
 *    (families.h), float32 and bf16, whole and chunked logits: the
 *    log-probs of every target equal those of the run without skipping
 *    (float32 1e-6 relative; bf16 1e-5) and every gradient tensor agrees
 *    (float32 2e-6 relative L2; bf16 1e-4 — the same roundings, another
 *    summation order); whole logits at the skipped positions are 0; with
 *    row quanta 1, 6, 16 and 64 (padded positions computed as fillers),
 *    and with targets at every padded position, which must count for
 *    nothing;
 *  - the same with activation checkpointing, and with the lower layers
 *    frozen (the forward keeps the upper layers only);
 *  - a right-padded batch under skipping equals, row by row, the model run
 *    on each row alone, cut to its tokens (B = 1, no padding at all): the
 *    padding-free truth, float32, log-probs 1e-6 and the summed gradients
 *    2e-6 relative L2;
 *  - a batch without padding gives bit-identical log-probs and gradients
 *    with and without skipping. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "unit/bf16_skip.h"
#include "unit/llama_batch.h"
#include "unit/families.h"

static void make_model(llama_model *m, int family, int T) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 41, cfg.hidden_size = 32, cfg.intermediate_size = 64;
  cfg.num_hidden_layers = 3, cfg.num_attention_heads = 4, cfg.num_key_value_heads = 2;
  cfg.head_dim = 8, cfg.max_position_embeddings = T, cfg.initializer_range = 0.2;
  family_apply(&cfg, family);
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &cfg, 21, &err) == 0, "%s", err.msg);
  lethe_rng rng; /* every parameter (biases, norms) away from its init value */
  lethe_rng_seed(&rng, 8);
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] += (float)(0.05 * lethe_rng_normal(&rng));
  llama_alloc_grads(m);
}


/* Real lengths per row (the rest padding); left = 1 pads row 1 on the left. */
static void make_batch(batch *b, const int *len, int B, int T, int left) {
  size_t n = (size_t)B * T;
  b->B = B, b->T = T;
  b->tok = calloc(n, 4), b->mask = calloc(n, 4), b->tgt = calloc(n, 4), b->g = calloc(n, 4);
  lethe_rng rng;
  lethe_rng_seed(&rng, 5 + (uint64_t)n);
  for (int r = 0; r < B; r++)
    for (int t = 0; t < T; t++) {
      size_t i = (size_t)r * T + t;
      int real = left && r == 1 ? t >= T - len[r] : t < len[r];
      b->tok[i] = real ? (int32_t)lethe_rng_below(&rng, 41) : 0;
      b->mask[i] = real;
    }
  for (size_t i = 0; i < n; i++) {
    int t = (int)(i % T);
    int has = t + 1 < T && b->mask[i] && b->mask[i + 1];
    b->tgt[i] = has ? b->tok[i + 1] : -1;
    b->g[i] = has ? (float)lethe_rng_normal(&rng) : 0.0f;
  }
}


/* Worst relative L2 distance over the gradient tensors of m from want
 * (laid out as m->grads_memory). */
static double worst_grad(const llama_model *m, const float *want, const char *what, double tol) {
  llama_tensor_ref refs[256];
  int count = llama_named_tensors(m, LLAMA_OF_GRADS, refs, 256);
  double worst = 0;
  for (int i = 0; i < count; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    double e = rel_l2(want + (refs[i].data - m->grads_memory), refs[i].data, numel);
    ck_assert_msg(e <= tol, "%s: %s differs by %g relative L2", what, refs[i].name, e);
    worst = fmax(worst, e);
  }
  return worst;
}

static double worst_logp(const batch *b, const float *want, const float *got, const char *what,
                         double tol) {
  double worst = 0;
  for (int i = 0; i < b->B * b->T; i++) {
    if (b->tgt[i] < 0) continue;
    double e = fabs(got[i] - want[i]) / fmax(1.0, fabs(want[i]));
    ck_assert_msg(e <= tol, "%s: log-prob at %d: %g, without skipping %g", what, i, got[i], want[i]);
    worst = fmax(worst, e);
  }
  return worst;
}

enum { PLAIN, CHECKPOINT, UPPER_ONLY };

/* Skipping against not skipping on one model and batch, with row quantum
 * q (llama_set_row_quantum): 40 real positions of 65 computed as
 * round_up(40, q) rows, never all 65. In the skipping run every padded
 * position has a target and a nonzero dL/dlogp: that must change nothing
 * (skipped positions and fillers have no log-prob and give no gradient). */
static void compare(int family, int compute, int logits, int variant, int q, double tol_logp,
                    double tol_grad) {
  static const int len[] = {13, 5, 9, 1, 12};
  int B = 5, T = 13, real = 13 + 5 + 9 + 1 + 12;
  llama_model m;
  make_model(&m, family, T);
  llama_set_compute(&m, compute);
  llama_set_logits(&m, logits, 7);
  llama_set_row_quantum(&m, q);
  if (variant == CHECKPOINT) llama_set_checkpointing(&m, 1);
  if (variant == UPPER_ONLY) { /* layers 1 and 2 train; layer 0 and the embedding do not */
    const char *pat[] = {"model\\.layers\\.[12]\\..*"};
    uint8_t *mask = calloc((size_t)LLAMA_N_PARAM_TENSORS * m.cfg.num_hidden_layers, 1);
    lethe_err err = {0};
    ck_assert_msg(llama_trainable_mask(&m.cfg, pat, 1, mask, "test", &err) == 0, "%s", err.msg);
    ck_assert_msg(llama_set_trainable(&m, mask, &err) == 0, "%s", err.msg);
    free(mask);
  }
  batch b;
  make_batch(&b, len, B, T, 1);
  size_t n = (size_t)B * T;
  float *want_logp = calloc(n, 4), *got_logp = calloc(n, 4);
  float *want_grad = malloc(sizeof(float) * m.n_trainable);
  step(&m, &b, want_logp);
  memcpy(want_grad, m.grads_memory, sizeof(float) * m.n_trainable);
  batch padded = b; /* targets and dL/dlogp at the padded positions too */
  padded.tgt = malloc(n * 4), padded.g = malloc(n * 4);
  for (size_t i = 0; i < n; i++) {
    padded.tgt[i] = b.mask[i] ? b.tgt[i] : (int32_t)(i % 41);
    padded.g[i] = b.mask[i] ? b.g[i] : 0.5f;
  }
  llama_set_skip_padding(&m, 1);
  step(&m, &padded, got_logp);
  int rows = (real + q - 1) / q * q;
  ck_assert_int_eq((int)m.rows, rows < B * T ? rows : B * T - 1);
  char what[160];
  snprintf(what, sizeof what, "family %d %s %s variant %d quantum %d", family,
           llama_compute_name(compute), logits == LLAMA_LOGITS_WHOLE ? "whole" : "chunked", variant,
           q);
  for (size_t i = 0; i < n; i++) /* no log-prob at a padded position */
    if (!b.mask[i])
      ck_assert_msg(logits == LLAMA_LOGITS_WHOLE
                        ? fabsf(got_logp[i] + logf((float)m.cfg.vocab_size)) < 1e-5f
                        : got_logp[i] == 0.0f,
                    "%s: log-prob %g at padded position %zu", what, got_logp[i], i);
  if (logits == LLAMA_LOGITS_WHOLE) { /* logits of padded positions: 0 after the backward too */
    lethe_err err = {0};
    ck_assert_msg(llama_forward(&m, b.tok, b.mask, B, T, &err) == 0, "%s", err.msg);
    for (size_t i = 0; i < n; i++)
      if (!b.mask[i])
        for (int v = 0; v < m.cfg.vocab_size; v++)
          ck_assert_msg(m.acts.logits[i * m.cfg.vocab_size + v] == 0.0f, "%s: logit at %zu", what, i);
    step(&m, &padded, got_logp);
  }
  double el = worst_logp(&b, want_logp, got_logp, what, tol_logp);
  double eg = worst_grad(&m, want_grad, what, tol_grad);
  fprintf(stderr, "%s: log-probs %.1e, gradients %.1e\n", what, el, eg);
  free(padded.tgt), free(padded.g);
  free(want_logp), free(got_logp), free(want_grad);
  free_batch(&b);
  llama_free(&m);
}

/* Quanta: 1 (40 rows), 16 (48: 8 fillers), 6 (42; the chunked head's last
 * chunk of 7-row chunks rounded up to 6, a full one capped at 7) and 64
 * (64: every padded position but one). */
static void compare_all(int compute, double tol_logp, double tol_grad) {
  static const int quanta[] = {1, 16, 6, 64};
  for (int family = 0; family < N_FAMILIES; family++)
    for (int logits = LLAMA_LOGITS_WHOLE; logits <= LLAMA_LOGITS_CHUNKED; logits++)
      for (int k = 0; k < 4; k++)
        compare(family, compute, logits, PLAIN, quanta[k], tol_logp, tol_grad);
  compare(4, compute, LLAMA_LOGITS_CHUNKED, CHECKPOINT, 16, tol_logp, tol_grad);
  compare(0, compute, LLAMA_LOGITS_WHOLE, CHECKPOINT, 16, tol_logp, tol_grad);
  compare(0, compute, LLAMA_LOGITS_CHUNKED, UPPER_ONLY, 16, tol_logp, tol_grad);
  compare(5, compute, LLAMA_LOGITS_WHOLE, UPPER_ONLY, 16, tol_logp, tol_grad);
}

START_TEST(test_skip_equals_full_f32) { compare_all(LLAMA_COMPUTE_F32, 1e-6, 2e-6); }
END_TEST

START_TEST(test_skip_equals_full_bf16) {
  if (bf16_runs_here("skipping padding in bf16")) compare_all(LLAMA_COMPUTE_BF16, 1e-5, 1e-4);
}
END_TEST

/* The padding-free truth: each right-padded row alone, cut to its length. */
START_TEST(test_skip_equals_rows_alone) {
  static const int len[] = {11, 4, 7, 2};
  int B = 4, T = 11;
  for (int family = 0; family < N_FAMILIES; family++) {
    llama_model m;
    make_model(&m, family, T);
    llama_set_logits(&m, LLAMA_LOGITS_CHUNKED, 0);
    batch b;
    make_batch(&b, len, B, T, 0);
    size_t n = (size_t)B * T;
    float *want_logp = calloc(n, 4), *got_logp = calloc(n, 4);
    float *want_grad = calloc(m.n_trainable, sizeof(float));
    for (int r = 0; r < B; r++) { /* row r alone: (1, len[r]), no mask zero */
      batch one = {1, len[r], b.tok + r * T, b.mask + r * T, b.tgt + r * T, b.g + r * T};
      step(&m, &one, want_logp + r * T);
      for (size_t i = 0; i < m.n_trainable; i++) want_grad[i] += m.grads_memory[i];
    }
    llama_set_skip_padding(&m, 1);
    step(&m, &b, got_logp);
    char what[64];
    snprintf(what, sizeof what, "family %d, rows alone", family);
    double el = worst_logp(&b, want_logp, got_logp, what, 1e-6);
    double eg = worst_grad(&m, want_grad, what, 2e-6);
    fprintf(stderr, "%s: log-probs %.1e, gradients %.1e\n", what, el, eg);
    free(want_logp), free(got_logp), free(want_grad);
    free_batch(&b);
    llama_free(&m);
  }
}
END_TEST

START_TEST(test_no_padding_is_bitwise) {
  static const int len[] = {9, 9, 9};
  for (int compute = LLAMA_COMPUTE_F32; compute <= LLAMA_COMPUTE_BF16; compute++) {
    if (compute == LLAMA_COMPUTE_BF16 && !bf16_runs_here("no padding in bf16")) continue;
    llama_model m;
    make_model(&m, 0, 9);
    llama_set_compute(&m, compute);
    batch b;
    make_batch(&b, len, 3, 9, 0);
    float *want_logp = calloc(27, 4), *got_logp = calloc(27, 4);
    float *want_grad = malloc(sizeof(float) * m.n_trainable);
    step(&m, &b, want_logp);
    memcpy(want_grad, m.grads_memory, sizeof(float) * m.n_trainable);
    llama_set_skip_padding(&m, 1);
    step(&m, &b, got_logp);
    ck_assert_int_eq((int)m.rows, 27);
    ck_assert(memcmp(want_logp, got_logp, 27 * sizeof(float)) == 0);
    ck_assert(memcmp(want_grad, m.grads_memory, m.n_trainable * sizeof(float)) == 0);
    free(want_logp), free(got_logp), free(want_grad);
    free_batch(&b);
    llama_free(&m);
  }
}
END_TEST

int main(void) {
  Suite *su = suite_create("skip_padding");
  TCase *tc = tcase_create("skip_padding");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_skip_equals_full_f32);
  tcase_add_test(tc, test_skip_equals_full_bf16);
  tcase_add_test(tc, test_skip_equals_rows_alone);
  tcase_add_test(tc, test_no_padding_is_bitwise);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
