/* test_gradcheck — finite-difference checks of every layer's backward and of
 * the whole model. Each check compares analytic gradients with central
 * differences (the other families' LayerNorm, GELU and partial rotary too)
 * of a scalar loss L = Σ out·R (R random) and fails beyond
 * |fd − an| > rtol·max(|fd|, |an|) + atol. A control case feeds a gradient
 * that is 5% off and asserts the comparator rejects it, so the tolerance is
 * known to be able to fail. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "model/kernels.h"
#include "model/llama.h"

typedef double (*loss_fn)(void *ctx);

static lethe_rng rng;
static void fill(float *x, size_t n, float scale) {
  for (size_t i = 0; i < n; i++) x[i] = scale * (float)lethe_rng_normal(&rng);
}

/* Returns the number of mismatches between an (analytic) and central
 * differences of f w.r.t. x[idx] for `count` indices (all if count = n). */
static int fd_mismatches(loss_fn f, void *ctx, float *x, const float *an, size_t n, size_t count,
                         float h, double rtol, double atol, const char *what) {
  int bad = 0;
  for (size_t c = 0; c < count; c++) {
    size_t i = count == n ? c : (size_t)lethe_rng_below(&rng, n);
    float keep = x[i];
    x[i] = keep + h;
    double lp = f(ctx);
    x[i] = keep - h;
    double lm = f(ctx);
    x[i] = keep;
    double fd = (lp - lm) / (2.0 * h);
    double tol = rtol * fmax(fabs(fd), fabs(an[i])) + atol;
    if (fabs(fd - an[i]) > tol) {
      if (bad < 3 && what)
        fprintf(stderr, "%s[%zu]: analytic %.6g, finite difference %.6g\n", what, i, an[i], fd);
      bad++;
    }
  }
  return bad;
}

/* ---- RMSNorm ---------------------------------------------------------- */
typedef struct { float *x, *w, *r, *out, *rstd; int n, c; } norm_ctx;
static double norm_loss(void *p) {
  norm_ctx *k = p;
  rmsnorm_forward(k->out, k->rstd, k->x, k->w, k->n, k->c, 1e-5f);
  double s = 0;
  for (int i = 0; i < k->n * k->c; i++) s += (double)k->out[i] * k->r[i];
  return s;
}

START_TEST(test_rmsnorm) {
  lethe_rng_seed(&rng, 1);
  int n = 5, c = 12;
  norm_ctx k = {malloc(4 * n * c), malloc(4 * c), malloc(4 * n * c), malloc(4 * n * c),
                malloc(4 * n), n, c};
  fill(k.x, n * c, 1.0f);
  fill(k.w, c, 1.0f);
  fill(k.r, n * c, 1.0f);
  float *dx = calloc(n * c, 4), *dw = calloc(c, 4);
  norm_loss(&k);
  rmsnorm_backward(dx, dw, k.r, k.x, k.w, k.rstd, n, c);
  ck_assert_int_eq(fd_mismatches(norm_loss, &k, k.x, dx, n * c, n * c, 1e-2f, 1e-2, 1e-3, "rmsnorm dx"), 0);
  ck_assert_int_eq(fd_mismatches(norm_loss, &k, k.w, dw, c, c, 1e-2f, 1e-2, 1e-3, "rmsnorm dw"), 0);
  /* control: a 5% error in the analytic gradient is caught */
  for (int i = 0; i < c; i++) dw[i] *= 1.05f;
  ck_assert_int_gt(fd_mismatches(norm_loss, &k, k.w, dw, c, c, 1e-2f, 1e-2, 1e-3, NULL), c / 2);
  free(k.x), free(k.w), free(k.r), free(k.out), free(k.rstd), free(dx), free(dw);
}
END_TEST

/* ---- LayerNorm with bias (phi) ----------------------------------------- */
typedef struct { float *x, *w, *b, *r, *out, *rstd; int n, c; } ln_ctx;
static double ln_loss(void *p) {
  ln_ctx *k = p;
  layernorm_forward(k->out, k->rstd, k->x, k->w, k->b, k->n, k->c, 1e-5f);
  double s = 0;
  for (int i = 0; i < k->n * k->c; i++) s += (double)k->out[i] * k->r[i];
  return s;
}

START_TEST(test_layernorm) {
  lethe_rng_seed(&rng, 11);
  int n = 5, c = 12;
  ln_ctx k = {malloc(4 * n * c), malloc(4 * c), malloc(4 * c), malloc(4 * n * c),
              malloc(4 * n * c), malloc(4 * n), n, c};
  fill(k.x, n * c, 1.0f);
  fill(k.w, c, 1.0f);
  fill(k.b, c, 1.0f);
  fill(k.r, n * c, 1.0f);
  float *dx = calloc(n * c, 4), *dw = calloc(c, 4), *db = calloc(c, 4);
  ln_loss(&k);
  layernorm_backward(dx, dw, db, k.r, k.x, k.w, k.rstd, n, c);
  ck_assert_int_eq(fd_mismatches(ln_loss, &k, k.x, dx, n * c, n * c, 1e-2f, 1e-2, 1e-3, "layernorm dx"), 0);
  ck_assert_int_eq(fd_mismatches(ln_loss, &k, k.w, dw, c, c, 1e-2f, 1e-2, 1e-3, "layernorm dw"), 0);
  ck_assert_int_eq(fd_mismatches(ln_loss, &k, k.b, db, c, c, 1e-2f, 1e-2, 1e-3, "layernorm db"), 0);
  free(k.x), free(k.w), free(k.b), free(k.r), free(k.out), free(k.rstd), free(dx), free(dw), free(db);
}
END_TEST

/* ---- GELU (tanh) and partial rotary ------------------------------------ */
typedef struct { float *x, *r, *out; int n; } gelu_ctx;
static double gelu_loss(void *p) {
  gelu_ctx *k = p;
  gelu_forward(k->out, k->x, k->n);
  double s = 0;
  for (int i = 0; i < k->n; i++) s += (double)k->out[i] * k->r[i];
  return s;
}

START_TEST(test_gelu) {
  lethe_rng_seed(&rng, 12);
  int n = 40;
  gelu_ctx k = {malloc(4 * n), malloc(4 * n), malloc(4 * n), n};
  fill(k.x, n, 2.0f);
  fill(k.r, n, 1.0f);
  float *dx = malloc(4 * n);
  gelu_backward(dx, k.r, k.x, n);
  ck_assert_int_eq(fd_mismatches(gelu_loss, &k, k.x, dx, n, n, 1e-2f, 1e-2, 1e-3, "gelu dx"), 0);
  free(k.x), free(k.r), free(k.out), free(dx);
}
END_TEST

typedef struct { float *x, *tmp, *r, *cs, *sn; int n; } prope_ctx;
static double prope_loss(void *p) {
  prope_ctx *k = p;
  memcpy(k->tmp, k->x, 4 * k->n);
  rope_apply_partial(k->tmp, k->cs, k->sn, 2, 5, 3, 8, 4, NULL, 0); /* (2,5,3,8), 4 rotated */
  double s = 0;
  for (int i = 0; i < k->n; i++) s += (double)k->tmp[i] * k->r[i];
  return s;
}

START_TEST(test_rope_partial) {
  lethe_rng_seed(&rng, 13);
  int n = 2 * 5 * 3 * 8;
  prope_ctx k = {malloc(4 * n), malloc(4 * n), malloc(4 * n), malloc(4 * 5 * 2), malloc(4 * 5 * 2), n};
  rope_tables(k.cs, k.sn, 5, 4, 10000.0);
  fill(k.x, n, 1.0f);
  fill(k.r, n, 1.0f);
  float *dx = malloc(4 * n);
  memcpy(dx, k.r, 4 * n);
  rope_apply_partial(dx, k.cs, k.sn, 2, 5, 3, 8, 4, NULL, 1);
  ck_assert_int_eq(fd_mismatches(prope_loss, &k, k.x, dx, n, n, 1e-2f, 1e-3, 1e-4, "rope partial dx"), 0);
  free(k.x), free(k.tmp), free(k.r), free(k.cs), free(k.sn), free(dx);
}
END_TEST

/* ---- rotary ----------------------------------------------------------- */
typedef struct { float *x, *tmp, *r, *cs, *sn; int b, t, h, hd; } rope_ctx;
static double rope_loss(void *p) {
  rope_ctx *k = p;
  int n = k->b * k->t * k->h * k->hd;
  memcpy(k->tmp, k->x, 4 * n);
  rope_apply(k->tmp, k->cs, k->sn, k->b, k->t, k->h, k->hd, NULL, 0);
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)k->tmp[i] * k->r[i];
  return s;
}

START_TEST(test_rope) {
  lethe_rng_seed(&rng, 2);
  rope_ctx k = {0};
  k.b = 2, k.t = 5, k.h = 3, k.hd = 8;
  int n = k.b * k.t * k.h * k.hd;
  k.x = malloc(4 * n), k.tmp = malloc(4 * n), k.r = malloc(4 * n);
  k.cs = malloc(4 * k.t * k.hd / 2), k.sn = malloc(4 * k.t * k.hd / 2);
  rope_tables(k.cs, k.sn, k.t, k.hd, 10000.0);
  fill(k.x, n, 1.0f);
  fill(k.r, n, 1.0f);
  float *dx = malloc(4 * n);
  memcpy(dx, k.r, 4 * n);
  rope_apply(dx, k.cs, k.sn, k.b, k.t, k.h, k.hd, NULL, 1);
  ck_assert_int_eq(fd_mismatches(rope_loss, &k, k.x, dx, n, n, 1e-2f, 1e-3, 1e-4, "rope dx"), 0);
  free(k.x), free(k.tmp), free(k.r), free(k.cs), free(k.sn), free(dx);
}
END_TEST

/* ---- SwiGLU ----------------------------------------------------------- */
typedef struct { float *g, *u, *r, *out; int n; } swiglu_ctx;
static double swiglu_loss(void *p) {
  swiglu_ctx *k = p;
  swiglu_forward(k->out, k->g, k->u, k->n);
  double s = 0;
  for (int i = 0; i < k->n; i++) s += (double)k->out[i] * k->r[i];
  return s;
}

START_TEST(test_swiglu) {
  lethe_rng_seed(&rng, 3);
  int n = 40;
  swiglu_ctx k = {malloc(4 * n), malloc(4 * n), malloc(4 * n), malloc(4 * n), n};
  fill(k.g, n, 2.0f);
  fill(k.u, n, 1.0f);
  fill(k.r, n, 1.0f);
  float *dg = malloc(4 * n), *du = malloc(4 * n);
  swiglu_backward(dg, du, k.r, k.g, k.u, n);
  ck_assert_int_eq(fd_mismatches(swiglu_loss, &k, k.g, dg, n, n, 1e-2f, 1e-2, 1e-3, "dgate"), 0);
  ck_assert_int_eq(fd_mismatches(swiglu_loss, &k, k.u, du, n, n, 1e-2f, 1e-2, 1e-3, "dup"), 0);
  free(k.g), free(k.u), free(k.r), free(k.out), free(dg), free(du);
}
END_TEST

/* ---- masked softmax ------------------------------------------------------ */
typedef struct { float *s, *p, *r; int32_t *mask; int b, h, t; } softmax_ctx;
static double softmax_loss(void *ctx) {
  softmax_ctx *k = ctx;
  int n = k->b * k->h * k->t * k->t;
  memcpy(k->p, k->s, 4 * n);
  attention_softmax(k->p, k->mask, k->b, k->h, k->t);
  double s = 0;
  for (int i = 0; i < n; i++) s += (double)k->p[i] * k->r[i];
  return s;
}

START_TEST(test_attention_softmax) {
  lethe_rng_seed(&rng, 4);
  softmax_ctx k = {0};
  k.b = 2, k.h = 2, k.t = 6;
  int n = k.b * k.h * k.t * k.t;
  int32_t mask[12] = {1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1};
  k.mask = mask;
  k.s = malloc(4 * n), k.p = malloc(4 * n), k.r = malloc(4 * n);
  fill(k.s, n, 1.0f);
  fill(k.r, n, 1.0f);
  softmax_loss(&k);
  /* rows sum to 1 over visible keys, masked keys get 0 */
  for (int row = 0; row < k.b * k.h * k.t; row++) {
    double sum = 0;
    int bi = row / (k.h * k.t), qi = row % k.t;
    for (int j = 0; j < k.t; j++) {
      float v = k.p[row * k.t + j];
      if (j > qi || !mask[bi * k.t + j]) ck_assert_float_eq(v, 0.0f);
      sum += v;
    }
    ck_assert_double_eq_tol(sum, 1.0, 1e-6);
  }
  float *ds = malloc(4 * n);
  memcpy(ds, k.r, 4 * n);
  attention_softmax_backward(ds, k.p, k.b, k.h, k.t);
  ck_assert_int_eq(fd_mismatches(softmax_loss, &k, k.s, ds, n, n, 1e-2f, 1e-2, 1e-3, "softmax"), 0);
  free(k.s), free(k.p), free(k.r), free(ds);
}
END_TEST

/* ---- GQA expand/reduce are adjoint; embedding backward ------------------ */
START_TEST(test_gqa_and_embedding) {
  lethe_rng_seed(&rng, 5);
  int bt = 4, nh = 6, nkv = 2, hd = 3;
  float kv[4 * 2 * 3], r[4 * 6 * 3], out[4 * 6 * 3], dkv[4 * 2 * 3];
  fill(kv, bt * nkv * hd, 1.0f);
  fill(r, bt * nh * hd, 1.0f);
  gqa_expand(out, kv, bt, nh, nkv, hd);
  gqa_reduce(dkv, r, bt, nh, nkv, hd);
  double lhs = 0, rhs = 0; /* <expand(kv), r> = <kv, reduce(r)> */
  for (int i = 0; i < bt * nh * hd; i++) lhs += (double)out[i] * r[i];
  for (int i = 0; i < bt * nkv * hd; i++) rhs += (double)kv[i] * dkv[i];
  ck_assert_double_eq_tol(lhs, rhs, 1e-4);
  float embed[5 * 3] = {0}, demb[5 * 3] = {0}, dout[4 * 3];
  int32_t tok[4] = {2, 0, 2, 4};
  fill(dout, 12, 1.0f);
  embedding_backward(demb, dout, tok, 4, 3);
  for (int j = 0; j < 3; j++) {
    ck_assert_float_eq_tol(demb[2 * 3 + j], dout[0 * 3 + j] + dout[2 * 3 + j], 1e-6);
    ck_assert_float_eq(demb[1 * 3 + j], 0.0f);
  }
  embedding_forward(out, embed, tok, 4, 3);
}
END_TEST

/* ---- dL/dlogp → dL/dlogits --------------------------------------------- */
typedef struct { float *logits, *g, *logp; int32_t *tgt; int n, v; } ce_ctx;
static double ce_loss(void *p) {
  ce_ctx *k = p;
  logits_target_logp(k->logp, k->logits, k->tgt, k->n, k->v);
  double s = 0;
  for (int i = 0; i < k->n; i++) s += (double)k->g[i] * k->logp[i];
  return s;
}

START_TEST(test_dlogits_from_dlogp) {
  lethe_rng_seed(&rng, 6);
  int n = 4, v = 9;
  int32_t tgt[4] = {3, -1, 0, 8};
  ce_ctx k = {malloc(4 * n * v), malloc(4 * n), malloc(4 * n), tgt, n, v};
  fill(k.logits, n * v, 2.0f);
  fill(k.g, n, 1.0f);
  float *d = malloc(4 * n * v), *extra = malloc(4 * n * v);
  memcpy(d, k.logits, 4 * n * v);
  memset(extra, 0, 4 * n * v);
  logits_to_dlogits(d, tgt, k.g, extra, n, v);
  ck_assert_int_eq(fd_mismatches(ce_loss, &k, k.logits, d, n * v, n * v, 1e-2f, 1e-2, 1e-3, "dlogits"), 0);
  free(k.logits), free(k.g), free(k.logp), free(d), free(extra);
}
END_TEST

/* ---- the whole model -------------------------------------------------- */
typedef struct { llama_model *m; int32_t *tok, *mask, *tgt; float *r, *logp; int b, t; } model_ctx;
static double model_loss(void *p) {
  model_ctx *k = p;
  lethe_err err;
  llama_forward(k->m, k->tok, k->mask, k->b, k->t, &err);
  llama_target_logp(k->m, k->tgt, k->logp);
  double s = 0;
  for (int i = 0; i < k->b * k->t; i++) s += (double)k->r[i] * k->logp[i];
  return s;
}

static void check_model(int nh, int nkv, int tied) {
  lethe_rng_seed(&rng, 7 + nkv + tied);
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 13, cfg.hidden_size = 16, cfg.intermediate_size = 24;
  cfg.num_hidden_layers = 2, cfg.num_attention_heads = nh, cfg.num_key_value_heads = nkv;
  cfg.head_dim = 16 / nh, cfg.tie_word_embeddings = tied, cfg.initializer_range = 0.3;
  cfg.max_position_embeddings = 16, cfg.rope_theta = 10000.0, cfg.rms_norm_eps = 1e-5;
  llama_model m;
  lethe_err err = {0};
  ck_assert_msg(llama_init(&m, &cfg, 11, &err) == 0, "%s", err.msg);
  int B = 2, T = 6;
  int32_t tok[12] = {1, 5, 7, 2, 9, 3, 1, 4, 4, 12, 0, 0};
  int32_t mask[12] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0};
  int32_t tgt[12] = {5, 7, 2, 9, 3, -1, 4, 4, 12, -1, -1, -1};
  float r[12], logp[12];
  fill(r, 12, 1.0f);
  model_ctx k = {&m, tok, mask, tgt, r, logp, B, T};
  model_loss(&k);
  llama_alloc_grads(&m);
  llama_zero_grads(&m);
  llama_dlogits_from_dlogp(&m, tgt, r, NULL);
  llama_backward(&m);
  llama_tensor_ref refs[64];
  int n = llama_named_tensors(&m, LLAMA_OF_PARAMS, refs, 64);
  llama_tensor_ref grefs[64];
  llama_named_tensors(&m, LLAMA_OF_GRADS, grefs, 64);
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    int bad = fd_mismatches(model_loss, &k, refs[i].data, grefs[i].data, numel,
                            numel < 24 ? numel : 24, 1e-2f, 2e-2, 2e-3, refs[i].name);
    ck_assert_msg(bad == 0, "%s: %d of 24 entries disagree with finite differences", refs[i].name, bad);
  }
  llama_free(&m);
}

START_TEST(test_model_gqa_untied) { check_model(4, 2, 0); }
END_TEST
START_TEST(test_model_mha_tied) { check_model(2, 2, 1); }
END_TEST

int main(void) {
  Suite *s = suite_create("gradcheck");
  TCase *tc = tcase_create("layers");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_rmsnorm);
  tcase_add_test(tc, test_layernorm);
  tcase_add_test(tc, test_gelu);
  tcase_add_test(tc, test_rope_partial);
  tcase_add_test(tc, test_rope);
  tcase_add_test(tc, test_swiglu);
  tcase_add_test(tc, test_attention_softmax);
  tcase_add_test(tc, test_gqa_and_embedding);
  tcase_add_test(tc, test_dlogits_from_dlogp);
  tcase_add_test(tc, test_model_gqa_untied);
  tcase_add_test(tc, test_model_mha_tied);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
