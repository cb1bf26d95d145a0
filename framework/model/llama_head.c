/* llama_head — the final norm and the LM head, forward and backward, with
 * whole logits (B·T rows at once) or chunked ones (llama_set_logits: only
 * the positions with a target, a chunk of rows at a time, recomputed in
 * backward), and the per-token log-probs taken from them (see llama.h).
 * Not here: the layers (llama_layers.c), the buffers (llama.c). */
#include <assert.h>
#include <string.h>

#include "model/kernels.h"
#include "model/llama.h"
#include "model/llama_dims.h"
#include "model/llama_ops.h"

/* Final norm of the last residual into final_xn (and its bf16 copy). */
static void final_norm_forward(llama_model *m, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = m->rows; /* packed rows when skipping padding */
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  float *x_last = a->resid + d.L * BT * d.C, eps = (float)m->cfg.rms_norm_eps;
  if (llama_config_is_phi(&m->cfg)) {
    layernorm_forward(a->final_xn, a->final_rstd, x_last, p->final_norm, p->final_norm_bias, BT,
                      d.C, eps);
    to_half(m, h->final_xn, a->final_xn, BT * d.C);
  } else if (bf16(m)) {
    rmsnorm_forward_bf16(h->final_xn, a->final_rstd, x_last, p->final_norm, BT, d.C, eps);
  } else {
    rmsnorm_forward(a->final_xn, a->final_rstd, x_last, p->final_norm, BT, d.C, eps);
  }
  lap(m, 0, LLAMA_PART_NORM, t);
}

/* LM head (+ bias): logits (n, V) of the n rows xn (n, C). */
static void head_logits(const llama_model *m, float *logits, operand xn, int64_t n) {
  dims d = dims_of(&m->cfg);
  lin_fwd(m, logits, xn, m->params.lm_head, n, d.C, d.V, 0);
  if (m->params.lm_head_bias) bias_forward(logits, m->params.lm_head_bias, n, d.V);
}

/* Final norm and, with whole logits, the LM head into acts.logits. */
void llama_head_forward(llama_model *m, double *t) {
  final_norm_forward(m, t);
  if (m->logits_mode != LLAMA_LOGITS_WHOLE) return; /* llama_target_logp runs the chunks */
  head_logits(m, m->acts.logits, in2(m->acts.final_xn, m->acts_bf16.final_xn), m->rows);
  lap(m, 0, LLAMA_PART_HEAD, t);
  if (llama_rows_packed(m)) llama_rows_expand(m, m->acts.logits, m->cfg.vocab_size);
  lap(m, 0, LLAMA_PART_COPY, t);
}

/* Chunked logits: the computed positions with a target into m->head_rows
 * and their rows of final_xn into m->head_src; returns their count. */
static int64_t head_positions(llama_model *m, const int32_t *targets) {
  int64_t BT = (int64_t)m->B * m->T, n = 0;
  int packed = llama_rows_packed(m);
  for (int64_t i = 0; i < BT; i++) {
    int32_t src = packed ? m->row_of[i] : (int32_t)i;
    if (targets[i] < 0 || src < 0 || (packed && !m->attn_mask[i])) continue; /* or a filler */
    m->head_rows[n] = (int32_t)i;
    m->head_src[n++] = src;
  }
  return n;
}

/* Rows of the chunk that starts at entry c0 of count positions. */
static int64_t chunk_rows(const llama_model *m, int64_t c0, int64_t count) {
  return count - c0 < m->logits_rows ? count - c0 : m->logits_rows;
}

/* Rows the head's matmuls run on for a chunk of n: n rounded up to the
 * row quantum (llama_set_row_quantum) within the rows the chunk buffers
 * hold (chunk_rows() <= that), the extra ones zero. */
static int64_t chunk_mm_rows(const llama_model *m, int64_t n) {
  int64_t up = llama_rows_rounded(m, n), cap = llama_chunk_capacity(m);
  return up < cap ? up : cap;
}

/* The final_xn rows rows[0..n) (their bf16 copy in bf16 compute) gathered
 * into head_xn (n, C), then zero rows up to mm: one chunk's input. */
static operand head_gather(llama_model *m, const int32_t *rows, int64_t n, int64_t mm) {
  int C = m->cfg.hidden_size;
  if (!bf16(m)) {
    embedding_forward(m->acts.head_xn, m->acts.final_xn, rows, n, C);
    memset(m->acts.head_xn + n * C, 0, sizeof(float) * (size_t)(mm - n) * C);
    return in2(m->acts.head_xn, NULL);
  }
  uint16_t *dst = m->acts_bf16.head_xn;
  const uint16_t *src = m->acts_bf16.final_xn;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; j++)
    memcpy(dst + j * C, src + (int64_t)rows[j] * C, sizeof(uint16_t) * C);
  memset(dst + n * C, 0, sizeof(uint16_t) * (size_t)(mm - n) * C);
  return in2(NULL, dst);
}

void llama_target_logp(llama_model *m, const int32_t *targets, float *out) {
  if (m->logits_mode == LLAMA_LOGITS_WHOLE) {
    logits_target_logp(out, m->acts.logits, targets, (int64_t)m->B * m->T, m->cfg.vocab_size);
    return;
  }
  llama_target_logp_each(m, targets, out, NULL, NULL);
}

void llama_target_logp_each(llama_model *m, const int32_t *targets, float *out,
                            llama_logits_fn fn, void *user) {
  assert(m->logits_mode != LLAMA_LOGITS_WHOLE);
  int64_t BT = (int64_t)m->B * m->T;
  int V = m->cfg.vocab_size;
  double t = m->profile ? lethe_now() : 0.0;
  memset(out, 0, sizeof(float) * BT); /* positions without a target */
  int64_t count = head_positions(m, targets);
  for (int64_t c0 = 0; c0 < count; c0 += m->logits_rows) {
    int64_t n = chunk_rows(m, c0, count), mm = chunk_mm_rows(m, n);
    const int32_t *rows = m->head_rows + c0;
    head_logits(m, m->acts.logits_chunk, head_gather(m, m->head_src + c0, n, mm), mm); /* (mm, V) */
    logits_target_logp_rows(out, m->acts.logits_chunk, targets, rows, n, V);
    if (fn) fn(user, m->acts.logits_chunk, rows, n, V);
    m->logits_chunk_row0 = c0;
  }
  m->head_targets = targets;
  lap(m, 0, LLAMA_PART_HEAD, &t);
}

void llama_dlogits_from_dlogp(llama_model *m, const int32_t *targets, const float *dlogp,
                              const float *extra_dlogits) {
  if (m->logits_mode != LLAMA_LOGITS_WHOLE) {
    assert(!extra_dlogits); /* whole logits only: objective.c picks the mode */
    if (targets != m->head_targets) m->logits_chunk_row0 = -1; /* other positions */
    m->head_targets = targets;
    m->head_dlogp = dlogp;
    return;
  }
  logits_to_dlogits(m->acts.logits, targets, dlogp, extra_dlogits, (int64_t)m->B * m->T,
                    m->cfg.vocab_size);
}

/* The head's matmuls backward for n rows xn (n, C) given their dlogits
 * (n, V): dxn (n, C) = dlogits·W (dxn NULL: not needed); dW += dlogitsᵀ·xn
 * when the head trains. */
static void head_matmuls_backward(llama_model *m, float *dxn, float *dlogits, operand xn,
                                  int64_t n, double *t) {
  dims d = dims_of(&m->cfg);
  llama_params *p = &m->params;
  llama_acts_bf16 *h = &m->acts_bf16;
  float *g_head = llama_grad(m, LLAMA_PARAM_LM_HEAD, 0);
  float *g_head_bias = llama_grad(m, LLAMA_PARAM_LM_HEAD_BIAS, 0);
  to_half(m, h->d_logits, dlogits, n * d.V);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  operand dz = in2(dlogits, h->d_logits);
  if (dxn) lin_dx(m, dxn, dz, p->lm_head, n, d.C, d.V, 0);
  if (g_head) lin_dw(m, g_head, dz, xn, n, d.C, d.V);
  if (g_head_bias) bias_backward(g_head_bias, dlogits, n, d.V);
  lap(m, 1, LLAMA_PART_HEAD, t);
}

/* Chunked head backward into d_xn (zero at positions without a target;
 * need_xn 0: no d_xn, the head's weight gradients only): each chunk's
 * logits are recomputed (but for the last chunk, still there from
 * llama_target_logp) and turned into dlogits first. */
static void head_backward_chunked(llama_model *m, int need_xn, double *t) {
  int C = m->cfg.hidden_size;
  llama_scratch *s = &m->scratch;
  if (need_xn) memset(s->d_xn, 0, sizeof(float) * m->rows * C);
  int64_t count = head_positions(m, m->head_targets);
  for (int64_t c0 = (count - 1) / m->logits_rows * m->logits_rows; c0 >= 0 && count > 0;
       c0 -= m->logits_rows) {
    int64_t n = chunk_rows(m, c0, count), mm = chunk_mm_rows(m, n), V = m->cfg.vocab_size;
    const int32_t *rows = m->head_rows + c0, *src = m->head_src + c0;
    operand xn = head_gather(m, src, n, mm);
    if (c0 != m->logits_chunk_row0) head_logits(m, m->acts.logits_chunk, xn, mm);
    m->logits_chunk_row0 = -1; /* the buffer turns into dlogits */
    logits_to_dlogits_rows(m->acts.logits_chunk, m->head_targets, m->head_dlogp, rows, n, (int)V);
    memset(m->acts.logits_chunk + n * V, 0, sizeof(float) * (size_t)(mm - n) * V);
    head_matmuls_backward(m, need_xn ? s->d_head_xn : NULL, m->acts.logits_chunk, xn, mm, t);
    if (!need_xn) continue;
#pragma omp parallel for schedule(static)
    for (int64_t j = 0; j < n; j++)
      memcpy(s->d_xn + (int64_t)src[j] * C, s->d_head_xn + j * C, sizeof(float) * C);
  }
}

/* Final norm and head backward: d_resid = ∂L/∂resid[L] when need_dx
 * (something below trains). */
void llama_head_backward(llama_model *m, int need_dx, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = m->rows; /* packed rows when skipping padding */
  llama_params *p = &m->params;
  float *g_norm = llama_grad(m, LLAMA_PARAM_FINAL_NORM, 0);
  float *g_norm_bias = llama_grad(m, LLAMA_PARAM_FINAL_NORM_BIAS, 0);
  float *g_head = llama_grad(m, LLAMA_PARAM_LM_HEAD, 0);
  float *g_head_bias = llama_grad(m, LLAMA_PARAM_LM_HEAD_BIAS, 0);
  int need_xn = need_dx || g_norm || g_norm_bias;
  llama_acts *a = &m->acts;
  llama_scratch *s = &m->scratch;
  if (!need_xn && !g_head && !g_head_bias) return;
  if (m->logits_mode == LLAMA_LOGITS_WHOLE && llama_rows_packed(m)) {
    llama_rows_pack(m, a->logits, d.V); /* dlogits of the computed positions */
    lap(m, 1, LLAMA_PART_COPY, t);
  }
  if (m->logits_mode == LLAMA_LOGITS_WHOLE)
    head_matmuls_backward(m, need_xn ? s->d_xn : NULL, a->logits,
                          in2(a->final_xn, m->acts_bf16.final_xn), BT, t);
  else
    head_backward_chunked(m, need_xn, t);
  if (!need_xn) return;
  memset(s->d_resid, 0, sizeof(float) * BT * d.C);
  float *x_last = a->resid + d.L * BT * d.C;
  if (llama_config_is_phi(&m->cfg))
    layernorm_backward(s->d_resid, g_norm, g_norm_bias, s->d_xn, x_last, p->final_norm,
                       a->final_rstd, BT, d.C);
  else
    rmsnorm_backward(s->d_resid, g_norm, s->d_xn, x_last, p->final_norm, a->final_rstd, BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

