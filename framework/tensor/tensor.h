/* tensor — the oneDNN engine/stream and strided (batched) matmul.
 *
 * Every product training needs is one call: C = alpha · A·B (+ C when
 * accumulating), where A, B and C are row-major views with explicit strides,
 * up to 4 dimensions (leading dimensions are batch dimensions). Transposes are
 * stride swaps, never copies. Primitives are created once per distinct
 * (shape, strides, alpha, accumulate) and reused; data pointers are swapped in
 * at every call.
 *
 * The engine, stream and primitive cache are process-wide and lazily created;
 * calls must come from one thread at a time (oneDNN 2.6 as packaged uses a
 * global scratchpad). Not here: element-wise kernels (model/kernels.h).
 */
#ifndef LETHE_TENSOR_H
#define LETHE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

#define TENSOR_MAX_DIMS 4

/* The x86-64 level lethe's own kernels run at (tensor/isa.c): the CPU's,
 * asked with cpuid, capped by the environment variable LETHE_ISA
 * (baseline | avx2 | avx512), so that an AVX-512 machine can run the code an
 * AVX2-only one runs. Other architectures are baseline. */
typedef enum tensor_isa { TENSOR_ISA_BASELINE = 0, TENSOR_ISA_AVX2 = 1, TENSOR_ISA_AVX512 = 2 } tensor_isa;
/* Fails (naming the variable and what it accepts) on a bad LETHE_ISA or
 * LETHE_MATMUL; call it before any computation (the program's start). */
int tensor_env_check(lethe_err *err);
tensor_isa tensor_isa_level(void); /* min(the CPU's level, LETHE_ISA) */
tensor_isa tensor_isa_cpu(void);   /* the CPU's own level */
int tensor_isa_cpu_bf16(void);     /* the CPU has AVX512_BF16 (whatever the cap) */
const char *tensor_isa_name(tensor_isa isa);

/* What runs the matmuls here, decided once by asking oneDNN for a probe
 * primitive of each type and reading its implementation name:
 * - float32: oneDNN when its f32 matmul is a brgemm kernel (AVX-512 CPUs);
 *   otherwise lethe's own GEMM (tensor/isa/gemm.c), whose results do not
 *   depend on the thread count or the batch shape, as oneDNN's gemm:jit's
 *   (AVX2) do;
 * - bfloat16: only where oneDNN has a native bf16 kernel (AVX512_BF16 or
 *   AMX) and the level is avx512; there is no other bf16 path.
 * LETHE_MATMUL=onednn or =lethe forces the float32 choice (benchmarks
 * compare the two in one run). */
typedef struct tensor_backend {
  int f32_onednn;       /* 1: f32 on oneDNN; 0: lethe's GEMM */
  int bf16;             /* 1: bf16 matmuls available */
  char onednn_isa[48];  /* oneDNN's effective ISA (after ONEDNN_MAX_CPU_ISA) */
  char f32_impl[96];    /* oneDNN's f32 implementation, or why there is none */
  char bf16_impl[96];   /* the same for bf16 */
} tensor_backend;
const tensor_backend *tensor_backend_get(void);
/* One line saying what runs here, e.g. "lethe avx2 kernels; f32 matmul:
 * lethe gemm (avx2); bf16: not available (oneDNN avx2: unimplemented)". */
void tensor_backend_describe(char *buf, size_t size);

typedef struct tensor_view {
  int ndim;
  int64_t dims[TENSOR_MAX_DIMS];
  int64_t strides[TENSOR_MAX_DIMS]; /* in elements */
} tensor_view;

/* Dense row-major 2-D view (rows, cols). */
tensor_view tensor_view2(int64_t rows, int64_t cols);
/* The transpose of v (last two dims swapped); no data moves. */
tensor_view tensor_transposed(tensor_view v);

/* Element type of matmul inputs. Products always accumulate and store in
 * float32; bfloat16 inputs (the upper 16 bits of a float32) run about twice
 * as fast on CPUs with AVX512_BF16. A and B share one type (oneDNN 2.6 has
 * no mixed float32·bfloat16 product). */
typedef enum tensor_dtype { TENSOR_F32 = 0, TENSOR_BF16 = 1 } tensor_dtype;

/* C = alpha · A·B, or C += alpha · A·B when accumulate is non-zero.
 * A: (..., M, K), B: (..., K, N), C: (..., M, N); batch dims equal.
 * Aborts with a message on a oneDNN failure (shapes are the caller's bug). */
void tensor_matmul(float *c, tensor_view cv, const float *a, tensor_view av, const float *b,
                   tensor_view bv, float alpha, int accumulate);

/* The same with A and B of type `in` (float or uint16_t bfloat16 data). */
void tensor_matmul_typed(float *c, tensor_view cv, const void *a, tensor_view av, const void *b,
                         tensor_view bv, tensor_dtype in, float alpha, int accumulate);

/* dst (n) = src rounded to bfloat16 (nearest even; NaN stays NaN), in
 * parallel. */
void tensor_to_bf16(uint16_t *dst, const float *src, int64_t n);
/* One value, for element-wise kernels that write bfloat16 directly. */
static inline uint16_t tensor_bf16_round(float f) {
  union { float f; uint32_t u; } v = {f};
  if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u); /* NaN */
  return (uint16_t)((v.u + 0x7fffu + ((v.u >> 16) & 1u)) >> 16);
}

/* The three linear-layer products, for X (M,K), W (N,K) in PyTorch layout:
 *   Y (M,N)  = X·Wᵀ                 tensor_linear_forward
 *   dX (M,K) (+)= dY·W               tensor_linear_backward_data
 *   dW (N,K) += dYᵀ·X                tensor_linear_backward_weights */
void tensor_linear_forward(float *y, const float *x, const float *w, int64_t m, int64_t k,
                           int64_t n, int accumulate);
void tensor_linear_backward_data(float *dx, const float *dy, const float *w, int64_t m,
                                 int64_t k, int64_t n, int accumulate);
void tensor_linear_backward_weights(float *dw, const float *dy, const float *x, int64_t m,
                                    int64_t k, int64_t n);
/* The same with inputs of type `in` (outputs stay float32). */
void tensor_linear_forward_typed(float *y, const void *x, const void *w, tensor_dtype in,
                                 int64_t m, int64_t k, int64_t n, int accumulate);
void tensor_linear_backward_data_typed(float *dx, const void *dy, const void *w, tensor_dtype in,
                                       int64_t m, int64_t k, int64_t n, int accumulate);
void tensor_linear_backward_weights_typed(float *dw, const void *dy, const void *x,
                                          tensor_dtype in, int64_t m, int64_t k, int64_t n);

/* Primitive-cache statistics (for tests and benchmarks). `slow` counts
 * primitives for which oneDNN fell back to a reference implementation
 * ("ref:..."), which runs ~1000x slower: it must stay 0. */
typedef struct tensor_cache_stats {
  long hits, misses, entries;
  long slow;
} tensor_cache_stats;
tensor_cache_stats tensor_cache_stats_get(void);
/* Implementation name oneDNN chose for the most recently created primitive. */
const char *tensor_last_impl(void);

#endif
