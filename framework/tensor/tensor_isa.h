/* tensor_isa — the code lethe compiles once per x86-64 level, and its names.
 *
 * Files under framework/<module>/isa/ are built three times (CMake:
 * lethe_isa_sources), with -march=x86-64 (baseline), x86-64-v3 (avx2) and
 * x86-64-v4 (avx512), each defining LETHE_ISA_SUFFIX; LETHE_ISA_NAME(f)
 * gives the variant's name (f_baseline, f_avx2, f_avx512). The caller picks
 * a variant with tensor_isa_level() (tensor.h). Internal to lethe. */
#ifndef LETHE_TENSOR_ISA_H
#define LETHE_TENSOR_ISA_H

#include <stdint.h>

#define LETHE_ISA_CAT2(a, b) a##b
#define LETHE_ISA_CAT(a, b) LETHE_ISA_CAT2(a, b)
#ifdef LETHE_ISA_SUFFIX
#define LETHE_ISA_NAME(f) LETHE_ISA_CAT(f, LETHE_ISA_SUFFIX)
#endif

/* Declares f_baseline, f_avx2 and f_avx512 with one parameter list. */
#define LETHE_ISA_DECLARE(ret, f, params) \
  ret f##_baseline params;                \
  ret f##_avx2 params;                    \
  ret f##_avx512 params

/* One float32 product for lethe's own GEMM (isa/gemm.c): for each of
 * `batch` = outer·inner batch entries, C (m,n) = alpha·A (m,k)·B (k,n)
 * (+ C when accumulate). Strides in elements; sa_b etc. are the strides of
 * the two batch dimensions (outer, inner). */
typedef struct tensor_gemm_args {
  float *c;
  const float *a, *b;
  int64_t m, n, k, batch, batch_inner;
  int64_t sam, sak, sbk, sbn, scm, scn;
  int64_t sa_b[2], sb_b[2], sc_b[2];
  float alpha;
  int accumulate;
} tensor_gemm_args;

LETHE_ISA_DECLARE(void, tensor_gemm, (const tensor_gemm_args *g));
/* dst (n) = src rounded to bfloat16, one chunk (no threads). */
LETHE_ISA_DECLARE(void, tensor_bf16_chunk, (uint16_t *dst, const float *src, int64_t n));

#endif
