/* llama_ops — what llama_layers.c and llama_head.c share (internal to the
 * model room): profiling laps, matmul operands in either precision, the
 * linear layers' three matmuls, and the two head entry points. */
#ifndef LETHE_MODEL_LLAMA_OPS_H
#define LETHE_MODEL_LLAMA_OPS_H

#include <stdint.h>

#include "model/llama.h"
#include "tensor/tensor.h"

/* Adds the time since *t to a part when profiling and restarts the clock. */
static inline void lap(const llama_model *m, int backward, int part, double *t) {
  if (!m->profile) return;
  double now = lethe_now();
  (backward ? m->profile->bwd : m->profile->fwd)[part] += now - *t;
  *t = now;
}

/* A matmul input: its float32 data (f32 compute) or its bfloat16 copy (bf16
 * compute). Only the one the model's precision uses needs to be valid. */
typedef struct operand {
  const float *f;
  const uint16_t *h;
} operand;

static inline operand in2(const float *f, const uint16_t *h) {
  operand o = {f, h};
  return o;
}

static inline int bf16(const llama_model *m) { return m->compute == LLAMA_COMPUTE_BF16; }

/* ---- frozen weights held in bfloat16 (llama_frozen.c, llama.h) ---- */
/* The bfloat16 values of a held parameter w (a pointer into the
 * parameters, a view's included), NULL when w is not held. */
const uint16_t *llama_held16(const llama_model *m, const float *w);
/* Y (M,N) (+)= X·Wᵀ and dX (M,K) (+)= dY·W for a parameter w (N,K) in the
 * precision `half` says: bf16 (1) reads W from its held values or from
 * copy16 (a bfloat16 copy laid out as params_memory); f32 (0) widens a
 * held W a block of rows at a time. */
void llama_linear_forward(const llama_model *m, int half, float *y, operand x, const uint16_t *copy16,
                          const float *w, int64_t M, int64_t K, int64_t N, int accumulate);
void llama_linear_backward_data(const llama_model *m, int half, float *dx, operand dy,
                                const uint16_t *copy16,
                                const float *w, int64_t M, int64_t K, int64_t N, int accumulate);
/* out (n, C) = the embedding rows of tokens (held or not). */
void llama_embed_rows(const llama_model *m, float *out, const int32_t *tokens, int64_t n);

/* Where layer l's activations are: the one slot that activation
 * checkpointing keeps (llama_set_checkpointing), the slot the layers below
 * the lowest trained one share (slot 0: their backward never runs), or a
 * slot of its own. */
static inline int64_t act_layer(const llama_model *m, int l) {
  if (m->checkpointing || l < m->acts_from) return 0;
  return l - m->acts_from + (m->acts_from > 0);
}

/* Offsets an operand by n elements. */
static inline operand shift(operand o, int64_t n) {
  return in2(o.f ? o.f + n : NULL, o.h ? o.h + n : NULL);
}

/* bf16 copy of a float buffer, when computing in bf16 (else a no-op). */
static inline void to_half(const llama_model *m, uint16_t *dst, const float *src, int64_t n) {
  if (bf16(m)) tensor_to_bf16(dst, src, n);
}

static inline void mm(const llama_model *m, float *c, tensor_view cv, operand a, tensor_view av,
               operand b, tensor_view bv, float alpha, int accumulate) {
  if (bf16(m))
    tensor_matmul_typed(c, cv, a.h, av, b.h, bv, TENSOR_BF16, alpha, accumulate);
  else
    tensor_matmul(c, cv, a.f, av, b.f, bv, alpha, accumulate);
}

/* Y (M,N) (+)= X·Wᵀ;  dX (M,K) (+)= dY·W;  dW (N,K) += dYᵀ·X */
static inline void lin_fwd(const llama_model *m, float *y, operand x, const float *w, int64_t M,
                    int64_t K, int64_t N, int accumulate) {
  llama_linear_forward(m, bf16(m), y, x, m->params_bf16, w, M, K, N, accumulate);
}

static inline void lin_dx(const llama_model *m, float *dx, operand dy, const float *w, int64_t M,
                   int64_t K, int64_t N, int accumulate) {
  llama_linear_backward_data(m, bf16(m), dx, dy, m->params_bf16, w, M, K, N, accumulate);
}

static inline void lin_dw(const llama_model *m, float *dw, operand dy, operand x, int64_t M, int64_t K,
                   int64_t N) {
  if (bf16(m))
    tensor_linear_backward_weights_typed(dw, dy.h, x.h, TENSOR_BF16, M, K, N);
  else
    tensor_linear_backward_weights(dw, dy.f, x.f, M, K, N);
}

/* Rows the chunked head's buffers hold (llama.c: as laid out for the
 * largest (B, T) reserved). */
int64_t llama_chunk_capacity(const llama_model *m);

/* n rounded up to a multiple of the row quantum (llama_set_row_quantum). */
static inline int64_t llama_rows_rounded(const llama_model *m, int64_t n) {
  int64_t q = llama_row_quantum(m);
  return (n + q - 1) / q * q;
}

/* ---- skipping padding (llama_rows.c; llama_set_skip_padding) ----
 * m->rows < B·T means the last forward packed its computed positions: the
 * unmasked ones and the fillers (llama_set_row_quantum), which are masked. */
static inline int llama_rows_packed(const llama_model *m) {
  return m->rows < (int64_t)m->B * m->T;
}
/* Sets m->rows, row_pos, row_of and row_tokens for a forward of (m->B, m->T). */
void llama_rows_plan(llama_model *m, const int32_t *tokens, const int32_t *attn_mask);
/* dst (B·T, width) = the packed rows src (rows, width) at their positions,
 * zeros at the skipped ones. */
void llama_rows_scatter(const llama_model *m, float *dst, const float *src, int64_t width);
/* dst (rows, width) = the computed positions' rows of src (B·T, width). */
void llama_rows_gather(const llama_model *m, float *dst, const float *src, int64_t width);
/* In place on a (B·T, width) buffer whose first rows hold the packed rows:
 * each moves to its position, the masked positions (skipped or fillers)
 * become 0. */
void llama_rows_expand(const llama_model *m, float *buf, int64_t width);
/* In place, the reverse: the computed positions' rows to the front, those
 * of the fillers 0. */
void llama_rows_pack(const llama_model *m, float *buf, int64_t width);

/* Final norm and, with whole logits, the LM head into acts.logits
 * (llama_head.c). */
void llama_head_forward(llama_model *m, double *t);
/* Final norm and head backward: d_resid = ∂L/∂resid[L] when need_dx
 * (something below trains). */
void llama_head_backward(llama_model *m, int need_dx, double *t);

#endif
