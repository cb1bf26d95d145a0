/* test_tensor — the matmul layer on every ISA level this CPU has:
 *  - lethe's GEMM (tensor/isa/gemm.c) gives, bit for bit, the documented
 *    value of every element — one multiply-add chain over k in order (fused
 *    on avx2/avx512, separate on baseline), then alpha·acc (+ C) — computed
 *    here by plain scalar loops, for ragged shapes, k across several blocks,
 *    k = 0, transposed and strided views, 4-D batches, alpha and
 *    accumulation, any thread count and misaligned pointers: so no value
 *    depends on M, N, the batch, the threads or the alignment;
 *  - tensor_matmul (whichever backend this machine uses) agrees with a
 *    double-precision product;
 *  - the command line: `lethe --version` says what runs here, LETHE_ISA
 *    caps lethe's level (avx2: lethe's GEMM, no bf16), a bad LETHE_ISA or
 *    LETHE_MATMUL is refused naming the variable, and compute = "bf16" on a
 *    machine without bf16 fails before any work, saying what to use. */
#include <check.h>
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"
#include "tensor/tensor_isa.h"

typedef void (*gemm_fn)(const tensor_gemm_args *);
static const gemm_fn variants[3] = {tensor_gemm_baseline, tensor_gemm_avx2, tensor_gemm_avx512};

/* One product: dims (outer, inner, m, n, k) and which operands are
 * transposed views; buffers with room for any layout plus an offset. */
typedef struct product {
  int64_t outer, inner, m, n, k;
  int a_t, b_t; /* A stored (k, m) / B stored (n, k) */
  float alpha;
  int accumulate;
} product;

static float lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return (float)((int32_t)(*s >> 8) - (1 << 23)) / (float)(1 << 23);
}

/* The args of p over buffers a, b, c (each batch entry packed densely,
 * batch dims outer-major). */
static tensor_gemm_args args_of(const product *p, float *c, const float *a, const float *b) {
  tensor_gemm_args g;
  memset(&g, 0, sizeof g);
  g.c = c, g.a = a, g.b = b;
  g.m = p->m, g.n = p->n, g.k = p->k, g.batch = p->outer * p->inner, g.batch_inner = p->inner;
  g.sam = p->a_t ? 1 : p->k, g.sak = p->a_t ? p->m : 1;
  g.sbk = p->b_t ? 1 : p->n, g.sbn = p->b_t ? p->k : 1;
  g.scm = p->n, g.scn = 1;
  g.sa_b[1] = p->m * p->k, g.sa_b[0] = p->inner * g.sa_b[1];
  g.sb_b[1] = p->k * p->n, g.sb_b[0] = p->inner * g.sb_b[1];
  g.sc_b[1] = p->m * p->n, g.sc_b[0] = p->inner * g.sc_b[1];
  g.alpha = p->alpha, g.accumulate = p->accumulate;
  return g;
}

/* The documented value of every element, by scalar loops. */
static void reference(const tensor_gemm_args *g, int fused, float *c) {
  for (int64_t bi = 0; bi < g->batch; bi++) {
    int64_t b1 = bi / g->batch_inner, b2 = bi % g->batch_inner;
    const float *a = g->a + b1 * g->sa_b[0] + b2 * g->sa_b[1];
    const float *b = g->b + b1 * g->sb_b[0] + b2 * g->sb_b[1];
    float *cb = c + b1 * g->sc_b[0] + b2 * g->sc_b[1];
    for (int64_t i = 0; i < g->m; i++)
      for (int64_t j = 0; j < g->n; j++) {
        float acc = 0.0f;
        for (int64_t k = 0; k < g->k; k++) {
          float x = a[i * g->sam + k * g->sak], y = b[k * g->sbk + j * g->sbn];
          if (fused) {
            acc = fmaf(x, y, acc);
          } else {
            volatile float prod = x * y; /* rounded on its own, as baseline does */
            acc = acc + prod;
          }
        }
        float *out = cb + i * g->scm + j * g->scn;
        volatile float scaled = g->alpha * acc;
        *out = g->accumulate ? *out + scaled : scaled;
      }
  }
}

static const product products[] = {
    {1, 1, 1, 1, 1, 0, 0, 1.0f, 0},       {1, 1, 7, 17, 300, 0, 1, 1.0f, 0},
    {1, 1, 13, 33, 5, 1, 0, 0.125f, 1},   {1, 1, 100, 40, 0, 0, 0, 1.0f, 1},
    {1, 1, 100, 40, 0, 0, 1, 1.0f, 0},    {1, 1, 389, 270, 70, 0, 1, 1.0f, 0},
    {1, 1, 64, 300, 520, 1, 0, 1.0f, 1},  {2, 3, 9, 24, 16, 0, 1, 0.25f, 0},
    {2, 3, 30, 8, 33, 1, 1, 1.0f, 1},     {1, 5, 6, 16, 257, 1, 0, 1.0f, 0},
    {1, 1, 2048, 24, 8, 1, 0, 1.0f, 1},
    /* the AVX-512 tile (12 rows, 32 columns, k blocks of 128): a row past
     * two tiles, a half panel, k one past a block; transposed A (packed by
     * k-rows) in whole and partial slivers over several blocks */
    {1, 1, 25, 48, 129, 0, 1, 1.0f, 0},   {1, 1, 12, 32, 128, 1, 0, 1.0f, 0},
    {1, 1, 200, 70, 300, 1, 0, 1.0f, 1},  {1, 1, 37, 300, 256, 1, 1, 0.5f, 0},
};

/* Runs variant v on product p with `threads` threads and the operands
 * `shift` floats off their allocation; returns 1 when every element equals
 * the reference bit for bit. */
static int exact(int v, const product *p, int threads, int shift) {
  size_t na = (size_t)(p->outer * p->inner * p->m * p->k), nb = (size_t)(p->outer * p->inner * p->k * p->n);
  size_t nc = (size_t)(p->outer * p->inner * p->m * p->n);
  float *a = malloc(sizeof(float) * (na + 8)), *b = malloc(sizeof(float) * (nb + 8));
  float *c = malloc(sizeof(float) * (nc + 8)), *want = malloc(sizeof(float) * (nc + 8));
  uint32_t seed = (uint32_t)(p->m * 131 + p->n * 7 + p->k);
  for (size_t i = 0; i < na + 8; i++) a[i] = lcg(&seed);
  for (size_t i = 0; i < nb + 8; i++) b[i] = lcg(&seed);
  for (size_t i = 0; i < nc + 8; i++) c[i] = want[i] = lcg(&seed);
  tensor_gemm_args g = args_of(p, c + shift, a + shift, b + shift);
  reference(&g, v > 0, want + shift);
  omp_set_num_threads(threads);
  variants[v](&g);
  int same = !memcmp(c, want, sizeof(float) * (nc + 8));
  free(a), free(b), free(c), free(want);
  return same;
}

START_TEST(test_gemm_exact_order) {
  int levels = (int)tensor_isa_cpu() + 1, n = (int)(sizeof products / sizeof products[0]);
  for (int v = 0; v < levels; v++)
    for (int i = 0; i < n; i++)
      for (int threads = 1; threads <= 3; threads += 2)
        for (int shift = 0; shift <= 1; shift++)
          ck_assert_msg(exact(v, &products[i], threads, shift),
                        "%s: product %d (m %lld n %lld k %lld) with %d threads, shift %d differs "
                        "from the documented order",
                        tensor_isa_name((tensor_isa)v), i, (long long)products[i].m,
                        (long long)products[i].n, (long long)products[i].k, threads, shift);
  omp_set_num_threads(2);
}
END_TEST

/* A row's values do not depend on which rows are computed with it. */
START_TEST(test_gemm_rows_independent_of_m) {
  int levels = (int)tensor_isa_cpu() + 1;
  const int64_t M = 50, N = 37, K = 600;
  float *a = malloc(sizeof(float) * M * K), *b = malloc(sizeof(float) * K * N);
  float *all = calloc((size_t)(M * N), sizeof(float)), *one = calloc((size_t)N, sizeof(float));
  uint32_t seed = 3;
  for (int64_t i = 0; i < M * K; i++) a[i] = lcg(&seed);
  for (int64_t i = 0; i < K * N; i++) b[i] = lcg(&seed);
  product p = {1, 1, M, N, K, 0, 1, 1.0f, 0};
  for (int v = 0; v < levels; v++) {
    tensor_gemm_args g = args_of(&p, all, a, b);
    variants[v](&g);
    for (int64_t r = 0; r < M; r += 7) {
      product p1 = {1, 1, 1, N, K, 0, 1, 1.0f, 0};
      tensor_gemm_args g1 = args_of(&p1, one, a + r * K, b);
      variants[v](&g1);
      ck_assert_msg(!memcmp(one, all + r * N, sizeof(float) * (size_t)N), "%s: row %lld alone differs",
                    tensor_isa_name((tensor_isa)v), (long long)r);
    }
  }
  free(a), free(b), free(all), free(one);
}
END_TEST

/* C (outer, inner, m, n) through tensor_matmul with A a transposed view and
 * B a view into a (m... ) buffer with gaps, against double sums. */
START_TEST(test_matmul_against_double) {
  const int64_t O = 2, I = 3, M = 19, N = 21, K = 70, GAP = 5;
  float *a = malloc(sizeof(float) * O * I * K * M), *b = malloc(sizeof(float) * O * I * K * (N + GAP));
  float *c = malloc(sizeof(float) * O * I * M * N);
  uint32_t seed = 11;
  for (int64_t i = 0; i < O * I * K * M; i++) a[i] = lcg(&seed);
  for (int64_t i = 0; i < O * I * K * (N + GAP); i++) b[i] = lcg(&seed);
  tensor_view av = {4, {O, I, M, K}, {I * K * M, K * M, 1, M}};                /* stored (k, m) */
  tensor_view bv = {4, {O, I, K, N}, {I * K * (N + GAP), K * (N + GAP), N + GAP, 1}};
  tensor_view cv = {4, {O, I, M, N}, {I * M * N, M * N, N, 1}};
  tensor_matmul(c, cv, a, av, b, bv, 0.5f, 0);
  double worst = 0;
  for (int64_t o = 0; o < O; o++)
    for (int64_t q = 0; q < I; q++)
      for (int64_t i = 0; i < M; i++)
        for (int64_t j = 0; j < N; j++) {
          double s = 0;
          for (int64_t k = 0; k < K; k++)
            s += (double)a[o * av.strides[0] + q * av.strides[1] + i + k * M] *
                 b[o * bv.strides[0] + q * bv.strides[1] + k * (N + GAP) + j];
          worst = fmax(worst, fabs(0.5 * s - c[o * cv.strides[0] + q * cv.strides[1] + i * N + j]));
        }
  char machine[512];
  tensor_backend_describe(machine, sizeof machine);
  ck_assert_msg(worst < 2e-5, "max |error| %g (%s)", worst, machine);
  free(a), free(b), free(c);
}
END_TEST

/* oneDNN's primitive cache is keyed by the views' bytes: two calls with the
 * same shapes must hit, whatever garbage the callers' views carry in their
 * padding and unused dimensions (valgrind once saw it hashed). */
static tensor_view garbage_view(unsigned char fill, int64_t rows, int64_t cols) {
  tensor_view v;
  memset(&v, fill, sizeof v);
  v.ndim = 2;
  v.dims[0] = rows, v.dims[1] = cols;
  v.strides[0] = cols, v.strides[1] = 1;
  return v;
}

START_TEST(test_cache_key_ignores_padding) {
  setenv("LETHE_MATMUL", "onednn", 1); /* this forked test's process only */
  float a[4 * 3], b[3 * 5], c[4 * 5];
  uint32_t seed = 5;
  for (int i = 0; i < 12; i++) a[i] = lcg(&seed);
  for (int i = 0; i < 15; i++) b[i] = lcg(&seed);
  tensor_cache_stats before = tensor_cache_stats_get();
  for (int round = 0; round < 2; round++) {
    unsigned char fill = round ? 0xA5 : 0x3C;
    tensor_matmul(c, garbage_view(fill, 4, 5), a, garbage_view(fill, 4, 3), b,
                  garbage_view(fill, 3, 5), 1.0f, 0);
  }
  tensor_cache_stats after = tensor_cache_stats_get();
  ck_assert_int_eq(after.misses - before.misses, 1);
  ck_assert_int_eq(after.hits - before.hits, 1);
}
END_TEST

/* Output of a shell command (stdout and stderr), and its exit status. */
static char *run(const char *cmd, int *status) {
  char full[1024];
  snprintf(full, sizeof full, "%s 2>&1", cmd);
  FILE *f = popen(full, "r");
  ck_assert_ptr_nonnull(f);
  char *out = calloc(1, 65536);
  size_t n = fread(out, 1, 65535, f);
  out[n] = '\0';
  *status = pclose(f);
  return out;
}

#define LETHE LETHE_BINARY_DIR "/framework/lethe"

START_TEST(test_command_line) {
  int st;
  char *out = run("LETHE_ISA=avx2 " LETHE " --version", &st);
  ck_assert_msg(st == 0 && strstr(out, "f32 matmul: lethe gemm avx2") &&
                    strstr(out, "bf16 matmul: not available"),
                "%s", out);
  free(out);
  out = run("LETHE_ISA=baseline " LETHE " --version", &st);
  ck_assert_msg(st == 0 && strstr(out, "lethe kernels baseline"), "%s", out);
  free(out);
  out = run("LETHE_ISA=avx9 " LETHE " --version", &st);
  ck_assert_msg(st != 0 && strstr(out, "LETHE_ISA is 'avx9'") && strstr(out, "baseline, avx2 or avx512"),
                "%s", out);
  free(out);
  out = run("LETHE_MATMUL=blas " LETHE " --version", &st);
  ck_assert_msg(st != 0 && strstr(out, "LETHE_MATMUL is 'blas'"), "%s", out);
  free(out);
  /* bf16 where there is none: refused up front, with what to use */
  out = run("cd /tmp && LETHE_ISA=avx2 LETHE_CACHE_DIR=/nonexistent/never " LETHE
            " train -s 'compute=\"bf16\"'",
            &st);
  ck_assert_msg(st != 0 && strstr(out, "compute = \"bf16\" needs native bfloat16 matmuls") &&
                    strstr(out, "compute = \"auto\""),
                "%s", out);
  free(out);
}
END_TEST

int main(void) {
  Suite *su = suite_create("tensor");
  TCase *tc = tcase_create("tensor");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_gemm_exact_order);
  tcase_add_test(tc, test_gemm_rows_independent_of_m);
  tcase_add_test(tc, test_matmul_against_double);
  tcase_add_test(tc, test_cache_key_ignores_padding);
  tcase_add_test(tc, test_command_line);
  suite_add_tcase(su, tc);
  SRunner *sr = srunner_create(su);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
