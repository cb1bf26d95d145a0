/* test_llama_compute — the fast paths of the Llama runtime against slower
 * independent ones:
 *  - causal block attention (T spans several ragged blocks): the training
 *    forward's logits at every position equal those of the KV-cache path
 *    (generate.c, its own attention loop) fed one token at a time, and the
 *    gradients of the attention weights agree with finite differences;
 *  - bf16 compute against float32 on the same weights and batch, within the
 *    tolerances documented in docs/performance.md (loss 2e-3 relative,
 *    log-probs 5e-2 absolute, each gradient tensor 5e-2 relative L2; KV-cache
 *    logits 5e-2 absolute), and a bf16 KV cache sees weights changed between
 *    sequences;
 *  - determinism: the same inputs give bit-identical logits and gradients
 *    with 1 and with 3 threads (float32 and bf16; on AVX-512 through oneDNN,
 *    elsewhere or with LETHE_ISA=avx2 through lethe's GEMM);
 *  - no matmul falls back to one of oneDNN's reference kernels. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/generate.h"
#include "model/llama.h"
#include "tensor/tensor.h"
#include "unit/bf16_skip.h"

typedef struct setup {
  llama_model m;
  int B, T;
  int32_t *tok, *mask, *tgt;
  float *r, *logp;
} setup;

static void make(setup *s, int hidden, int heads, int kv_heads, int layers, int vocab, int B,
                 int T, double std) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = vocab, cfg.hidden_size = hidden, cfg.intermediate_size = hidden * 3;
  cfg.num_hidden_layers = layers, cfg.num_attention_heads = heads;
  cfg.num_key_value_heads = kv_heads, cfg.head_dim = hidden / heads;
  cfg.max_position_embeddings = T, cfg.initializer_range = std, cfg.rms_norm_eps = 1e-5;
  lethe_err err = {0};
  ck_assert_msg(llama_init(&s->m, &cfg, 5, &err) == 0, "%s", err.msg);
  llama_alloc_grads(&s->m);
  s->B = B, s->T = T;
  size_t n = (size_t)B * T;
  s->tok = calloc(n, 4), s->mask = calloc(n, 4), s->tgt = calloc(n, 4);
  s->r = calloc(n, 4), s->logp = calloc(n, 4);
  lethe_rng rng;
  lethe_rng_seed(&rng, 9);
  for (size_t i = 0; i < n; i++) {
    s->tok[i] = (int32_t)lethe_rng_below(&rng, (uint64_t)vocab);
    s->mask[i] = 1;
    s->r[i] = (float)lethe_rng_normal(&rng);
  }
  for (size_t i = 0; i < n; i++) s->tgt[i] = (i % T == (size_t)T - 1) ? -1 : s->tok[i + 1];
}

static void unmake(setup *s) {
  llama_free(&s->m);
  free(s->tok), free(s->mask), free(s->tgt), free(s->r), free(s->logp);
}

/* L = Σ r·logp; returns L, leaves gradients of L in m.grads when grads != 0. */
static double loss(setup *s, int grads) {
  lethe_err err = {0};
  ck_assert_msg(llama_forward(&s->m, s->tok, s->mask, s->B, s->T, &err) == 0, "%s", err.msg);
  llama_target_logp(&s->m, s->tgt, s->logp);
  double sum = 0;
  for (int i = 0; i < s->B * s->T; i++) sum += (double)s->r[i] * s->logp[i];
  if (grads) {
    llama_zero_grads(&s->m);
    llama_dlogits_from_dlogp(&s->m, s->tgt, s->r, NULL);
    llama_backward(&s->m);
  }
  return sum;
}

START_TEST(test_block_attention_matches_kv_cache) {
  setup s;
  make(&s, 32, 4, 2, 2, 19, 2, 150, 0.2); /* 150 positions: blocks of 64, 64, 22 */
  lethe_err err = {0};
  ck_assert_msg(llama_forward(&s.m, s.tok, s.mask, s.B, s.T, &err) == 0, "%s", err.msg);
  int V = s.m.cfg.vocab_size;
  float *train_logits = malloc(sizeof(float) * s.B * s.T * V);
  memcpy(train_logits, s.m.acts.logits, sizeof(float) * s.B * s.T * V);
  llama_kv_cache c;
  llama_kv_init(&c, &s.m, s.B, s.T, 1);
  int32_t next[2];
  double worst = 0;
  for (int t = 0; t < s.T; t++) {
    for (int b = 0; b < s.B; b++) next[b] = s.tok[b * s.T + t];
    ck_assert_msg(llama_kv_step(&s.m, &c, next, NULL, 1, &err) == 0, "%s", err.msg);
    for (int b = 0; b < s.B; b++)
      for (int j = 0; j < V; j++) {
        double d = fabs(c.logits[b * V + j] - train_logits[((size_t)b * s.T + t) * V + j]);
        if (d > worst) worst = d;
      }
  }
  ck_assert_msg(worst < 1e-4, "block attention and KV cache differ by %g", worst);
  llama_kv_free(&c);
  free(train_logits);

  /* gradients of the attention weights by central differences */
  loss(&s, 1);
  float *tensors[] = {s.m.params.wq, s.m.params.wk, s.m.params.wv};
  float *grads[] = {llama_grad(&s.m, LLAMA_PARAM_WQ, 0), llama_grad(&s.m, LLAMA_PARAM_WK, 0),
                    llama_grad(&s.m, LLAMA_PARAM_WV, 0)};
  size_t sizes[] = {s.m.param_sizes[LLAMA_PARAM_WQ], s.m.param_sizes[LLAMA_PARAM_WK],
                    s.m.param_sizes[LLAMA_PARAM_WV]};
  float *an = malloc(sizeof(float) * sizes[0]);
  lethe_rng rng;
  lethe_rng_seed(&rng, 3);
  for (int k = 0; k < 3; k++) {
    memcpy(an, grads[k], sizeof(float) * sizes[k]);
    for (int c2 = 0; c2 < 12; c2++) {
      size_t i = (size_t)lethe_rng_below(&rng, sizes[k]);
      float keep = tensors[k][i], h = 1e-2f;
      tensors[k][i] = keep + h;
      double lp = loss(&s, 0);
      tensors[k][i] = keep - h;
      double lm = loss(&s, 0);
      tensors[k][i] = keep;
      double fd = (lp - lm) / (2.0 * h);
      ck_assert_msg(fabs(fd - an[i]) <= 2e-2 * fmax(fabs(fd), fabs(an[i])) + 2e-3,
                    "tensor %d [%zu]: analytic %g, finite difference %g", k, i, an[i], fd);
    }
  }
  free(an);
  unmake(&s);
}
END_TEST

/* Relative L2 distance of b from a. */
static double rel_l2(const float *a, const float *b, size_t n) {
  double num = 0, den = 0;
  for (size_t i = 0; i < n; i++) {
    num += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
    den += (double)a[i] * a[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

START_TEST(test_bf16_close_to_f32) {
  if (!bf16_runs_here("bf16 against f32")) return;
  setup s;
  make(&s, 128, 2, 2, 3, 97, 4, 96, 0.05);
  size_t n = (size_t)s.B * s.T, np = s.m.n_params;
  double loss32 = loss(&s, 1);
  float *logp32 = malloc(sizeof(float) * n), *grad32 = malloc(sizeof(float) * np);
  memcpy(logp32, s.logp, sizeof(float) * n);
  memcpy(grad32, s.m.grads_memory, sizeof(float) * np);
  llama_set_compute(&s.m, LLAMA_COMPUTE_BF16);
  double loss16 = loss(&s, 1);
  double worst_logp = 0;
  for (size_t i = 0; i < n; i++) worst_logp = fmax(worst_logp, fabs(s.logp[i] - logp32[i]));
  ck_assert_msg(fabs(loss16 - loss32) <= 2e-3 * fabs(loss32), "loss f32 %.8g, bf16 %.8g", loss32,
                loss16);
  ck_assert_msg(worst_logp <= 5e-2, "log-probs differ by up to %g", worst_logp);
  llama_tensor_ref grefs[64];
  int count = llama_named_tensors(&s.m, LLAMA_OF_GRADS, grefs, 64);
  double worst_grad = 0;
  for (int i = 0; i < count; i++) {
    size_t numel = (size_t)grefs[i].shape[0] * (grefs[i].ndim == 2 ? grefs[i].shape[1] : 1);
    const float *g32 = grad32 + (grefs[i].data - s.m.grads_memory);
    double e = rel_l2(g32, grefs[i].data, numel);
    ck_assert_msg(e <= 5e-2, "%s: bf16 gradient relative L2 error %g", grefs[i].name, e);
    worst_grad = fmax(worst_grad, e);
  }
  fprintf(stderr, "bf16 vs f32: loss %.2e relative, log-probs %.2e absolute, gradients %.2e "
                  "relative L2 (worst tensor)\n",
          fabs(loss16 - loss32) / fabs(loss32), worst_logp, worst_grad);
  free(logp32);
  free(grad32);
  unmake(&s);
}
END_TEST

/* Logits (B,V) after feeding the first n tokens of each row through a fresh
 * KV-cache sequence (one prefill step). */
static void kv_logits(setup *s, llama_kv_cache *c, int n, float *out) {
  lethe_err err = {0};
  int32_t *tok = malloc(sizeof(int32_t) * s->B * n);
  for (int b = 0; b < s->B; b++) memcpy(tok + b * n, s->tok + b * s->T, sizeof(int32_t) * n);
  llama_kv_ensure(c, &s->m, s->B, s->T, n);
  ck_assert_msg(llama_kv_step(&s->m, c, tok, NULL, n, &err) == 0, "%s", err.msg);
  memcpy(out, c->logits, sizeof(float) * s->B * s->m.cfg.vocab_size);
  free(tok);
}

START_TEST(test_bf16_generation) {
  if (!bf16_runs_here("bf16 KV-cache generation")) return;
  setup s;
  make(&s, 128, 2, 2, 3, 97, 4, 96, 0.05);
  size_t n = (size_t)s.B * s.m.cfg.vocab_size;
  float *l32 = malloc(sizeof(float) * n), *l16 = malloc(sizeof(float) * n);
  float *l16x2 = malloc(sizeof(float) * n);
  llama_kv_cache c;
  memset(&c, 0, sizeof c);
  kv_logits(&s, &c, 40, l32);
  ck_assert_ptr_null(c.w16);
  llama_set_compute(&s.m, LLAMA_COMPUTE_BF16);
  kv_logits(&s, &c, 40, l16); /* the cache follows the new precision */
  ck_assert_ptr_nonnull(c.w16);
  double worst = 0;
  for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(l16[i] - l32[i]));
  ck_assert_msg(worst <= 5e-2, "bf16 and f32 KV-cache logits differ by %g", worst);
  fprintf(stderr, "bf16 vs f32 KV-cache logits: %.2e absolute\n", worst);
  /* weights changed between sequences are seen: doubling the head (exact in
   * bf16) doubles every logit exactly */
  for (size_t i = 0; i < s.m.param_sizes[LLAMA_PARAM_LM_HEAD]; i++) s.m.params.lm_head[i] *= 2.0f;
  kv_logits(&s, &c, 40, l16x2);
  for (size_t i = 0; i < n; i++) ck_assert_float_eq(l16x2[i], 2.0f * l16[i]);
  llama_kv_free(&c);
  free(l32), free(l16), free(l16x2);
  unmake(&s);
}
END_TEST

static void check_repeatable(int compute) {
  setup s;
  make(&s, 64, 2, 1, 2, 41, 3, 80, 0.1);
  llama_set_compute(&s.m, compute);
  size_t n = (size_t)s.B * s.T * s.m.cfg.vocab_size, np = s.m.n_params;
  int threads = omp_get_max_threads();
  omp_set_num_threads(1);
  loss(&s, 1);
  float *logits = malloc(sizeof(float) * n), *grads = malloc(sizeof(float) * np);
  memcpy(logits, s.m.acts.logits, sizeof(float) * n); /* dlogits after backward */
  memcpy(grads, s.m.grads_memory, sizeof(float) * np);
  omp_set_num_threads(3);
  loss(&s, 1);
  omp_set_num_threads(threads);
  ck_assert_msg(!memcmp(logits, s.m.acts.logits, sizeof(float) * n), "logits differ (1 vs 3 threads)");
  ck_assert_msg(!memcmp(grads, s.m.grads_memory, sizeof(float) * np), "gradients differ (1 vs 3 threads)");
  free(logits);
  free(grads);
  unmake(&s);
}

START_TEST(test_repeatable_f32) { check_repeatable(LLAMA_COMPUTE_F32); }
END_TEST
START_TEST(test_repeatable_bf16) {
  if (bf16_runs_here("bf16 repeatability")) check_repeatable(LLAMA_COMPUTE_BF16);
}
END_TEST

/* Every matmul shape the runtime uses (training f32/bf16 with GQA and several
 * attention blocks, KV-cache prefill and decoding) has a fast oneDNN kernel. */
START_TEST(test_no_reference_kernels) {
  setup s;
  make(&s, 64, 4, 2, 1, 23, 2, 130, 0.1);
  for (int compute = LLAMA_COMPUTE_F32; compute <= LLAMA_COMPUTE_BF16; compute++) {
    if (compute == LLAMA_COMPUTE_BF16 && !bf16_runs_here("bf16 kernels")) break;
    llama_set_compute(&s.m, compute);
    loss(&s, 1);
    llama_kv_cache c;
    memset(&c, 0, sizeof c);
    float *logits = malloc(sizeof(float) * s.B * s.m.cfg.vocab_size);
    kv_logits(&s, &c, 70, logits);
    lethe_err err = {0};
    int32_t next[2] = {1, 2};
    ck_assert_msg(llama_kv_step(&s.m, &c, next, NULL, 1, &err) == 0, "%s", err.msg);
    llama_kv_free(&c);
    free(logits);
  }
  tensor_cache_stats st = tensor_cache_stats_get();
  ck_assert_msg(st.slow == 0, "%ld matmul primitives use a reference kernel (last: %s)", st.slow,
                tensor_last_impl());
  unmake(&s);
}
END_TEST

int main(void) {
  Suite *su = suite_create("llama_compute");
  TCase *tc = tcase_create("compute");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_block_attention_matches_kv_cache);
  tcase_add_test(tc, test_bf16_close_to_f32);
  tcase_add_test(tc, test_bf16_generation);
  tcase_add_test(tc, test_repeatable_f32);
  tcase_add_test(tc, test_repeatable_bf16);
  tcase_add_test(tc, test_no_reference_kernels);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
