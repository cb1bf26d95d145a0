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

#include <stdint.h>

#define TENSOR_MAX_DIMS 4

typedef struct tensor_view {
  int ndim;
  int64_t dims[TENSOR_MAX_DIMS];
  int64_t strides[TENSOR_MAX_DIMS]; /* in elements */
} tensor_view;

/* Dense row-major 2-D view (rows, cols). */
tensor_view tensor_view2(int64_t rows, int64_t cols);
/* The transpose of v (last two dims swapped); no data moves. */
tensor_view tensor_transposed(tensor_view v);

/* C = alpha · A·B, or C += alpha · A·B when accumulate is non-zero.
 * A: (..., M, K), B: (..., K, N), C: (..., M, N); batch dims equal.
 * Aborts with a message on a oneDNN failure (shapes are the caller's bug). */
void tensor_matmul(float *c, tensor_view cv, const float *a, tensor_view av, const float *b,
                   tensor_view bv, float alpha, int accumulate);

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

/* Primitive-cache statistics (for tests and benchmarks). */
typedef struct tensor_cache_stats {
  long hits, misses, entries;
} tensor_cache_stats;
tensor_cache_stats tensor_cache_stats_get(void);
/* Implementation name oneDNN chose for the most recently created primitive. */
const char *tensor_last_impl(void);

#endif
