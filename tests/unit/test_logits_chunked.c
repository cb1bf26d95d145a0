/* test_logits_chunked — the chunked LM head (llama_set_logits) against whole
 * logits on the same weights and batch:
 *  - per-token log-probs and the gradient of every parameter tensor agree
 *    (float32: log-probs 1e-6 relative, gradients 2e-6 relative L2 per
 *    tensor; bf16: 1e-5 and 1e-4 — the same roundings, another summation
 *    order) for llama with tied and untied heads and
 *    phi (LayerNorm, lm_head bias), with B·T not a multiple of the chunk,
 *    padded positions (attention mask 0) and targets −1 (whole rows of them);
 *  - the activations of chunked mode have no B·T·V term: growing the batch
 *    costs the same bytes whatever the vocabulary, and the automatic chunk
 *    holds at most LLAMA_LOGITS_CHUNK_BYTES of logits. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "unit/bf16_skip.h"
#include "unit/llama_batch.h"

enum { HEAD_TIED, HEAD_UNTIED, HEAD_PHI };

static void model_config(llama_config *cfg, int head, int vocab, int T) {
  llama_config_defaults(cfg);
  cfg->vocab_size = vocab, cfg->hidden_size = 32, cfg->intermediate_size = 64;
  cfg->num_hidden_layers = 2, cfg->num_attention_heads = 4, cfg->num_key_value_heads = 2;
  cfg->head_dim = 8, cfg->max_position_embeddings = T, cfg->initializer_range = 0.2;
  cfg->tie_word_embeddings = head == HEAD_TIED;
  if (head == HEAD_PHI) {
    cfg->family = LLAMA_FAMILY_PHI;
    cfg->num_key_value_heads = 4;
    cfg->qkv_bias = cfg->o_bias = cfg->mlp_bias = 1;
    cfg->rotary_dim = 4;
  }
}

/* A model whose every parameter (biases too) is perturbed away from
 * llama_init's values, so that no term vanishes. */
static void make_model(llama_model *m, int head, int vocab, int T) {
  llama_config cfg;
  model_config(&cfg, head, vocab, T);
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &cfg, 11, &err) == 0, "%s", err.msg);
  lethe_rng rng;
  lethe_rng_seed(&rng, 4);
  for (size_t i = 0; i < m->n_params; i++)
    m->params_memory[i] += (float)(0.05 * lethe_rng_normal(&rng));
  llama_alloc_grads(m);
}


/* Random tokens; row 1 (if any) ends in padding; about a fifth of the
 * targets are −1, and so is all of the last row (no target at all). */
static void make_batch(batch *b, int B, int T, int vocab) {
  size_t n = (size_t)B * T;
  b->B = B, b->T = T;
  b->tok = calloc(n, 4), b->mask = calloc(n, 4), b->tgt = calloc(n, 4), b->g = calloc(n, 4);
  lethe_rng rng;
  lethe_rng_seed(&rng, 7 + (uint64_t)n);
  for (size_t i = 0; i < n; i++) {
    int row = (int)(i / T), t = (int)(i % T);
    b->tok[i] = (int32_t)lethe_rng_below(&rng, (uint64_t)vocab);
    b->mask[i] = !(row == 1 && t >= T - 3);
    b->g[i] = (float)lethe_rng_normal(&rng);
  }
  for (size_t i = 0; i < n; i++) {
    int row = (int)(i / T), t = (int)(i % T);
    int none = t == T - 1 || !b->mask[i] || (B > 2 && row == B - 1) || lethe_rng_below(&rng, 5) == 0;
    b->tgt[i] = none ? -1 : b->tok[i + 1];
    if (none) b->g[i] = 0.0f;
  }
}


/* Whole against chunked (rows per chunk) on one model and batch. */
static void compare(int head, int compute, int B, int T, int vocab, int rows, double tol_logp,
                    double tol_grad) {
  llama_model m;
  make_model(&m, head, vocab, T);
  llama_set_compute(&m, compute);
  batch b;
  make_batch(&b, B, T, vocab);
  size_t n = (size_t)B * T;
  float *logp_whole = calloc(n, 4), *logp_chunked = calloc(n, 4);
  float *grad_whole = malloc(sizeof(float) * m.n_params);
  step(&m, &b, logp_whole);
  ck_assert_ptr_nonnull(m.acts.logits);
  memcpy(grad_whole, m.grads_memory, sizeof(float) * m.n_trainable);
  llama_set_logits(&m, LLAMA_LOGITS_CHUNKED, rows);
  step(&m, &b, logp_chunked);
  ck_assert_ptr_null(m.acts.logits);
  ck_assert_ptr_nonnull(m.acts.logits_chunk);
  double worst_logp = 0;
  for (size_t i = 0; i < n; i++) {
    if (b.tgt[i] < 0) ck_assert_float_eq(logp_chunked[i], 0.0f);
    double e = fabs(logp_chunked[i] - logp_whole[i]) / fmax(1.0, fabs(logp_whole[i]));
    worst_logp = fmax(worst_logp, e);
  }
  ck_assert_msg(worst_logp <= tol_logp, "head %d compute %d (%d,%d,V %d, rows %d): log-probs differ by %g",
                head, compute, B, T, vocab, rows, worst_logp);
  llama_tensor_ref refs[256];
  int count = llama_named_tensors(&m, LLAMA_OF_GRADS, refs, 256);
  double worst_grad = 0;
  for (int i = 0; i < count; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    double e = rel_l2(grad_whole + (refs[i].data - m.grads_memory), refs[i].data, numel);
    ck_assert_msg(e <= tol_grad, "head %d compute %d (%d,%d,V %d, rows %d): %s differs by %g relative L2",
                  head, compute, B, T, vocab, rows, refs[i].name, e);
    worst_grad = fmax(worst_grad, e);
  }
  fprintf(stderr, "head %d %s (%d,%d) V %d rows %d: log-probs %.1e, gradients %.1e (%d tensors)\n",
          head, llama_compute_name(compute), B, T, vocab, rows, worst_logp, worst_grad, count);
  free(logp_whole), free(logp_chunked), free(grad_whole);
  free_batch(&b);
  llama_free(&m);
}

/* (B, T, V, rows): B·T not a multiple of rows; one chunk of all rows;
 * chunks of one row; rows = 0 (automatic: one chunk at these sizes). */
static const int shapes[][4] = {{3, 37, 53, 16}, {2, 20, 301, 7}, {4, 9, 64, 36}, {1, 6, 29, 1},
                                {3, 11, 97, 0}};

static void compare_all(int compute, double tol_logp, double tol_grad) {
  for (int head = HEAD_TIED; head <= HEAD_PHI; head++)
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
      compare(head, compute, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], tol_logp,
              tol_grad);
}

START_TEST(test_chunked_equals_whole_f32) { compare_all(LLAMA_COMPUTE_F32, 1e-6, 2e-6); }
END_TEST

START_TEST(test_chunked_equals_whole_bf16) {
  if (bf16_runs_here("chunked logits in bf16")) compare_all(LLAMA_COMPUTE_BF16, 1e-5, 1e-4);
}
END_TEST

/* Activation bytes llama_reserve allocates for (B, T). */
static size_t acts_bytes(int head, int compute, int logits, int vocab, int B, int T) {
  llama_model m;
  llama_config cfg;
  model_config(&cfg, head, vocab, 64);
  lethe_err err = {0};
  ck_assert_msg(llama_alloc(&m, &cfg, &err) == 0, "%s", err.msg);
  llama_set_compute(&m, compute);
  llama_set_logits(&m, logits, 8);
  llama_reserve(&m, B, T);
  size_t bytes = m.acts_bytes;
  llama_free(&m);
  return bytes;
}

START_TEST(test_chunked_memory_has_no_btv_term) {
  for (int compute = LLAMA_COMPUTE_F32; compute <= LLAMA_COMPUTE_BF16; compute++)
    for (int head = HEAD_TIED; head <= HEAD_PHI; head++) {
      /* growing B·T from 64 to 256 positions, at two vocabularies */
      size_t grow_small = acts_bytes(head, compute, LLAMA_LOGITS_CHUNKED, 1000, 8, 32) -
                          acts_bytes(head, compute, LLAMA_LOGITS_CHUNKED, 1000, 2, 32);
      size_t grow_large = acts_bytes(head, compute, LLAMA_LOGITS_CHUNKED, 50000, 8, 32) -
                          acts_bytes(head, compute, LLAMA_LOGITS_CHUNKED, 50000, 2, 32);
      ck_assert_msg(grow_small == grow_large,
                    "chunked: 192 more positions cost %zu bytes at V = 1000, %zu at V = 50000",
                    grow_small, grow_large);
      size_t whole = acts_bytes(head, compute, LLAMA_LOGITS_WHOLE, 50000, 8, 32);
      size_t chunked = acts_bytes(head, compute, LLAMA_LOGITS_CHUNKED, 50000, 8, 32);
      size_t logits = (size_t)(256 - 8) * 50000 * (compute == LLAMA_COMPUTE_BF16 ? 6 : 4);
      /* whole logits (less one chunk) are what chunks save, but for a few
       * (B·T)- and (rows·C)-sized buffers of their own */
      ck_assert_msg(whole - chunked >= logits - logits / 100, "whole %zu bytes, chunked %zu",
                    whole, chunked);
    }
  /* automatic rows: at most LLAMA_LOGITS_CHUNK_BYTES of logits, in rows of 16 */
  llama_model m;
  llama_config cfg;
  model_config(&cfg, HEAD_TIED, 128256, 64);
  lethe_err err = {0};
  ck_assert_msg(llama_alloc(&m, &cfg, &err) == 0, "%s", err.msg);
  llama_set_logits(&m, LLAMA_LOGITS_CHUNKED, 0);
  ck_assert_int_eq(m.logits_rows % 16, 0);
  ck_assert_int_gt(m.logits_rows, 0);
  ck_assert_uint_le((size_t)m.logits_rows * 128256 * sizeof(float), LLAMA_LOGITS_CHUNK_BYTES);
  llama_free(&m);
}
END_TEST

int main(void) {
  Suite *su = suite_create("logits_chunked");
  TCase *tc = tcase_create("chunked");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_chunked_equals_whole_f32);
  tcase_add_test(tc, test_chunked_equals_whole_bf16);
  tcase_add_test(tc, test_chunked_memory_has_no_btv_term);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
