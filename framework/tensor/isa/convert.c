/* convert — float32 to bfloat16 in one chunk, compiled once per ISA level
 * (tensor_isa.h); the loop is plain integer arithmetic the compiler
 * vectorises. tensor.c spreads the chunks over threads. */
#include "tensor/tensor.h"
#include "tensor/tensor_isa.h"

void LETHE_ISA_NAME(tensor_bf16_chunk)(uint16_t *dst, const float *src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dst[i] = tensor_bf16_round(src[i]);
}
