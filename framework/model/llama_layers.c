/* llama_layers — the forward and backward passes of every family (see
 * llama.h): llama's layer (RMSNorm, attention, SwiGLU MLP) with what the
 * config switches on — biases, qwen3's q/k norms, partial and scaled rotary —
 * and phi's (one LayerNorm feeding attention and a GELU MLP in parallel).
 * A feature that is off costs nothing: no extra pass, no buffer. Not here:
 * the buffers (llama.c), the kernels (kernels.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/llama.h"
#include "model/llama_dims.h"
#include "model/lora.h"
#include "tensor/tensor.h"

/* Queries per block of the causal attention: query block i only meets keys
 * [0, (i+1)·ATT_BLOCK), so about half of the T×T work is skipped. */
#define ATT_BLOCK 64

static const char *const part_names[LLAMA_N_PARTS] = {
    "embedding", "rmsnorm", "qkv", "rope", "attention mm", "softmax", "wo",
    "gate/up", "swiglu", "down", "head", "copies", "bf16 convert"};

const char *llama_part_name(int part) {
  return part >= 0 && part < LLAMA_N_PARTS ? part_names[part] : "?";
}

/* Adds the time since *t to a part when profiling and restarts the clock. */
static void lap(const llama_model *m, int backward, int part, double *t) {
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

static operand in2(const float *f, const uint16_t *h) {
  operand o = {f, h};
  return o;
}

static int bf16(const llama_model *m) { return m->compute == LLAMA_COMPUTE_BF16; }

/* The bf16 copy of a parameter tensor (a pointer into params_memory). */
static operand weight(const llama_model *m, const float *w) {
  return in2(w, m->params_bf16 ? m->params_bf16 + (w - m->params_memory) : NULL);
}

/* Offsets an operand by n elements. */
static operand shift(operand o, int64_t n) {
  return in2(o.f ? o.f + n : NULL, o.h ? o.h + n : NULL);
}

/* bf16 copy of a float buffer, when computing in bf16 (else a no-op). */
static void to_half(const llama_model *m, uint16_t *dst, const float *src, int64_t n) {
  if (bf16(m)) tensor_to_bf16(dst, src, n);
}

static void mm(const llama_model *m, float *c, tensor_view cv, operand a, tensor_view av,
               operand b, tensor_view bv, float alpha, int accumulate) {
  if (bf16(m))
    tensor_matmul_typed(c, cv, a.h, av, b.h, bv, TENSOR_BF16, alpha, accumulate);
  else
    tensor_matmul(c, cv, a.f, av, b.f, bv, alpha, accumulate);
}

/* Y (M,N) (+)= X·Wᵀ;  dX (M,K) (+)= dY·W;  dW (N,K) += dYᵀ·X */
static void lin_fwd(const llama_model *m, float *y, operand x, const float *w, int64_t M,
                    int64_t K, int64_t N, int accumulate) {
  operand wo = weight(m, w);
  if (bf16(m))
    tensor_linear_forward_typed(y, x.h, wo.h, TENSOR_BF16, M, K, N, accumulate);
  else
    tensor_linear_forward(y, x.f, w, M, K, N, accumulate);
}

static void lin_dx(const llama_model *m, float *dx, operand dy, const float *w, int64_t M,
                   int64_t K, int64_t N, int accumulate) {
  operand wo = weight(m, w);
  if (bf16(m))
    tensor_linear_backward_data_typed(dx, dy.h, wo.h, TENSOR_BF16, M, K, N, accumulate);
  else
    tensor_linear_backward_data(dx, dy.f, w, M, K, N, accumulate);
}

static void lin_dw(const llama_model *m, float *dw, operand dy, operand x, int64_t M, int64_t K,
                   int64_t N) {
  if (m->lora) return; /* the base is frozen under an adapter */
  if (bf16(m))
    tensor_linear_backward_weights_typed(dw, dy.h, x.h, TENSOR_BF16, M, K, N);
  else
    tensor_linear_backward_weights(dw, dy.f, x.f, M, K, N);
}

/* An adapter's branch of module mod (lora.h) on the same input and output as
 * its base projection; nothing without an adapter. */
static void lora_fwd(const llama_model *m, int l, int mod, float *y, operand x, int64_t M) {
  if (m->lora) lora_forward(m->lora, l, mod, y, x.f, bf16(m) ? x.h : NULL, M);
}

/* Its backward: dx += the branch's input gradient, the adapter's gradients. */
static void lora_bwd(const llama_model *m, int l, int mod, float *dx, operand dy, operand x,
                     int64_t M) {
  if (m->lora)
    lora_backward(m->lora, l, mod, dx, dy.f, bf16(m) ? dy.h : NULL, x.f, bf16(m) ? x.h : NULL, M);
}

/* (B,H,n,HD) view of n positions of a (B,T,H,HD) buffer (the caller offsets
 * the pointer to the first position). */
static tensor_view heads_view(int B, int T, int H, int HD, int n) {
  tensor_view v = {4, {B, H, n, HD}, {(int64_t)T * H * HD, HD, (int64_t)H * HD, 1}};
  return v;
}

/* (B,H,rows,cols) view of a block of the (B,H,T,T) scores. */
static tensor_view scores_view(int B, int H, int T, int rows, int cols) {
  tensor_view v = {4, {B, H, rows, cols}, {(int64_t)H * T * T, (int64_t)T * T, T, 1}};
  return v;
}

/* The attention of one layer: q, k, v (B,T,H,HD) with k, v already expanded
 * to H heads; att (B,H,T,T) the probabilities; out / dout (B,T,H,HD). */
typedef struct attn_io {
  operand q, k, v, att;
  float *att_f;     /* float32 scores/probabilities */
  uint16_t *att_h;  /* their bf16 copy (bf16 compute) */
  int B, T, H, HD;
} attn_io;

/* Causal attention forward: att gets the masked softmax of scale·Q·Kᵀ and
 * out = P·V, block by block of queries. */
static void attention_forward(llama_model *m, float *out, const attn_io *io, double *t) {
  int B = io->B, T = io->T, H = io->H, HD = io->HD;
  float scale = 1.0f / sqrtf((float)HD);
  int64_t row = (int64_t)H * HD; /* elements per position */
  for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
    int n = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, kend = r0 + n;
    mm(m, io->att_f + (int64_t)r0 * T, scores_view(B, H, T, n, kend), shift(io->q, r0 * row),
       heads_view(B, T, H, HD, n), io->k, tensor_transposed(heads_view(B, T, H, HD, kend)),
       scale, 0);
  }
  lap(m, 0, LLAMA_PART_ATT_MM, t);
  attention_softmax_blocked(io->att_f, io->att_h, m->attn_mask, B, H, T, ATT_BLOCK,
                            m->cfg.sliding_window);
  lap(m, 0, LLAMA_PART_SOFTMAX, t);
  for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) {
    int n = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, kend = r0 + n;
    mm(m, out + r0 * row, heads_view(B, T, H, HD, n), shift(io->att, (int64_t)r0 * T),
       scores_view(B, H, T, n, kend), io->v, heads_view(B, T, H, HD, kend), 1.0f, 0);
  }
  lap(m, 0, LLAMA_PART_ATT_MM, t);
}

/* Causal attention backward from dout: io->att_f/att_h hold the forward's
 * probabilities; datt_f/datt_h (B,H,T,T) are scratch; dq, dk, dv (B,T,H,HD)
 * are overwritten. Only the blocks the forward computed are touched. */
static void attention_backward(llama_model *m, float *dq, float *dk, float *dv, float *datt_f,
                               uint16_t *datt_h, operand dout, const attn_io *io, double *t) {
  int B = io->B, T = io->T, H = io->H, HD = io->HD;
  float scale = 1.0f / sqrtf((float)HD);
  int64_t row = (int64_t)H * HD;
  for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) { /* dP = dO·Vᵀ, per query block */
    int n = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, kend = r0 + n;
    mm(m, datt_f + (int64_t)r0 * T, scores_view(B, H, T, n, kend), shift(dout, r0 * row),
       heads_view(B, T, H, HD, n), io->v, tensor_transposed(heads_view(B, T, H, HD, kend)),
       1.0f, 0);
  }
  for (int c0 = 0; c0 < T; c0 += ATT_BLOCK) { /* dV = Pᵀ·dO, per key block */
    int n = T - c0 < ATT_BLOCK ? T - c0 : ATT_BLOCK, rows = T - c0;
    mm(m, dv + c0 * row, heads_view(B, T, H, HD, n), shift(io->att, (int64_t)c0 * T + c0),
       tensor_transposed(scores_view(B, H, T, rows, n)), shift(dout, c0 * row),
       heads_view(B, T, H, HD, rows), 1.0f, 0);
  }
  lap(m, 1, LLAMA_PART_ATT_MM, t);
  attention_softmax_backward_blocked(datt_f, datt_h, io->att_f, B, H, T, ATT_BLOCK);
  lap(m, 1, LLAMA_PART_SOFTMAX, t);
  operand ds = in2(datt_f, datt_h);
  for (int r0 = 0; r0 < T; r0 += ATT_BLOCK) { /* dQ = scale·dS·K */
    int n = T - r0 < ATT_BLOCK ? T - r0 : ATT_BLOCK, kend = r0 + n;
    mm(m, dq + r0 * row, heads_view(B, T, H, HD, n), shift(ds, (int64_t)r0 * T),
       scores_view(B, H, T, n, kend), io->k, heads_view(B, T, H, HD, kend), scale, 0);
  }
  for (int c0 = 0; c0 < T; c0 += ATT_BLOCK) { /* dK = scale·dSᵀ·Q */
    int n = T - c0 < ATT_BLOCK ? T - c0 : ATT_BLOCK, rows = T - c0;
    mm(m, dk + c0 * row, heads_view(B, T, H, HD, n), shift(ds, (int64_t)c0 * T + c0),
       tensor_transposed(scores_view(B, H, T, rows, n)), shift(io->q, c0 * row),
       heads_view(B, T, H, HD, rows), scale, 0);
  }
  lap(m, 1, LLAMA_PART_ATT_MM, t);
}

/* Layer l's attention inputs; in f32 compute with GQA, k and v are expanded
 * into the scratch copies first. */
static attn_io layer_attention(llama_model *m, int l, int expand, double *t, int backward) {
  dims d = dims_of(&m->cfg);
  int B = m->B, T = m->T;
  int64_t BT = (int64_t)B * T;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  float *k = a->k + l * BT * d.KVD, *v = a->v + l * BT * d.KVD;
  if (expand && d.NKV != d.NH) {
    gqa_expand(s->k_rep, k, BT, d.NH, d.NKV, d.HD);
    gqa_expand(s->v_rep, v, BT, d.NH, d.NKV, d.HD);
    k = s->k_rep;
    v = s->v_rep;
    lap(m, backward, LLAMA_PART_COPY, t);
  }
  int64_t off = l * BT * d.QD, att_off = l * (int64_t)B * d.NH * T * T;
  attn_io io = {in2(a->q + off, h->q ? h->q + off : NULL), in2(k, h->k ? h->k + off : NULL),
                in2(v, h->v ? h->v + off : NULL),
                in2(a->att + att_off, h->att ? h->att + att_off : NULL), a->att + att_off,
                h->att ? h->att + att_off : NULL, B, T, d.NH, d.HD};
  return io;
}

/* Rotary on x (B,T,heads,HD) at positions 0..T-1 (all dims, or the first
 * rotary_dim ones). */
static void rope_heads(const llama_model *m, float *x, int heads, int inverse) {
  const llama_config *c = &m->cfg;
  if (c->rotary_dim == c->head_dim)
    rope_apply(x, m->rope_cos, m->rope_sin, m->B, m->T, heads, c->head_dim, NULL, inverse);
  else
    rope_apply_partial(x, m->rope_cos, m->rope_sin, m->B, m->T, heads, c->head_dim,
                       c->rotary_dim, NULL, inverse);
}

/* Layer l's pre-attention norm of x into attn_xn (and its bf16 copy). */
static void attn_norm_forward(llama_model *m, int l, const float *x, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params;
  float *xn = m->acts.attn_xn + l * BT * d.C, *rstd = m->acts.attn_rstd + l * BT;
  uint16_t *xn16 = bf16(m) ? m->acts_bf16.attn_xn + l * BT * d.C : NULL;
  float eps = (float)m->cfg.rms_norm_eps;
  if (llama_config_is_phi(&m->cfg)) {
    layernorm_forward(xn, rstd, x, p->attn_norm + l * d.C, p->attn_norm_bias + l * d.C, BT, d.C,
                      eps);
    to_half(m, xn16, xn, BT * d.C);
  } else if (xn16) {
    rmsnorm_forward_bf16(xn16, rstd, x, p->attn_norm + l * d.C, BT, d.C, eps);
  } else {
    rmsnorm_forward(xn, rstd, x, p->attn_norm + l * d.C, BT, d.C, eps);
  }
  lap(m, 0, LLAMA_PART_NORM, t);
}

/* q, k, v of layer l: projections (+ biases), q/k norms, rotary. */
static void qkv_forward(llama_model *m, int l, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  operand xn = in2(a->attn_xn + l * BT * d.C, bf16(m) ? m->acts_bf16.attn_xn + l * BT * d.C : NULL);
  float *q = a->q + l * BT * d.QD, *k = a->k + l * BT * d.KVD, *v = a->v + l * BT * d.KVD;
  int qkn = m->cfg.qk_norm;
  float *qp = qkn ? a->q_raw + l * BT * d.QD : q, *kp = qkn ? a->k_raw + l * BT * d.KVD : k;
  lin_fwd(m, qp, xn, p->wq + (int64_t)l * d.QD * d.C, BT, d.C, d.QD, 0);
  lin_fwd(m, kp, xn, p->wk + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
  lin_fwd(m, v, xn, p->wv + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
  lora_fwd(m, l, LORA_Q, qp, xn, BT);
  lora_fwd(m, l, LORA_K, kp, xn, BT);
  lora_fwd(m, l, LORA_V, v, xn, BT);
  if (p->bq) {
    bias_forward(qp, p->bq + (int64_t)l * d.QD, BT, d.QD);
    bias_forward(kp, p->bk + (int64_t)l * d.KVD, BT, d.KVD);
    bias_forward(v, p->bv + (int64_t)l * d.KVD, BT, d.KVD);
  }
  lap(m, 0, LLAMA_PART_QKV, t);
  if (qkn) {
    float eps = (float)m->cfg.rms_norm_eps;
    rmsnorm_forward(q, a->q_rstd + l * BT * d.NH, qp, p->q_norm + l * d.HD, BT * d.NH, d.HD, eps);
    rmsnorm_forward(k, a->k_rstd + l * BT * d.NKV, kp, p->k_norm + l * d.HD, BT * d.NKV, d.HD,
                    eps);
    lap(m, 0, LLAMA_PART_NORM, t);
  }
  rope_heads(m, q, d.NH, 0);
  rope_heads(m, k, d.NKV, 0);
  lap(m, 0, LLAMA_PART_ROPE, t);
}

/* Attention block of layer l: x_mid = x + attention(attn_xn)·Woᵀ (+ bo). */
static void attention_block_forward(llama_model *m, int l, const float *x, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  int half = bf16(m);
  float *x_mid = a->resid_mid + l * BT * d.C, *att_out = a->att_out + l * BT * d.QD;
  uint16_t *att_out16 = half ? m->acts_bf16.att_out + l * BT * d.QD : NULL;
  attn_norm_forward(m, l, x, t);
  qkv_forward(m, l, t);
  attn_io io = layer_attention(m, l, 1, t, 0);
  if (half) {
    tensor_to_bf16((uint16_t *)io.q.h, a->q + l * BT * d.QD, BT * d.QD);
    tensor_to_bf16((uint16_t *)io.k.h, io.k.f, BT * d.QD);
    tensor_to_bf16((uint16_t *)io.v.h, io.v.f, BT * d.QD);
    lap(m, 0, LLAMA_PART_CONVERT, t);
  }
  attention_forward(m, att_out, &io, t);
  to_half(m, att_out16, att_out, BT * d.QD);
  lap(m, 0, LLAMA_PART_CONVERT, t);
  memcpy(x_mid, x, sizeof(float) * BT * d.C);
  lap(m, 0, LLAMA_PART_COPY, t);
  lin_fwd(m, x_mid, in2(att_out, att_out16), p->wo + (int64_t)l * d.C * d.QD, BT, d.QD, d.C, 1);
  lora_fwd(m, l, LORA_O, x_mid, in2(att_out, att_out16), BT);
  if (p->bo) bias_forward(x_mid, p->bo + (int64_t)l * d.C, BT, d.C);
  lap(m, 0, LLAMA_PART_WO, t);
}

/* MLP block of layer l: x_next = x_mid + mlp(norm(x_mid)); phi's MLP reads
 * the attention's input norm (parallel residual) and is fc2(gelu(fc1)). */
static void mlp_block_forward(llama_model *m, int l, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  int half = bf16(m), phi = llama_config_is_phi(&m->cfg);
  float eps = (float)m->cfg.rms_norm_eps;
  float *x_mid = a->resid_mid + l * BT * d.C, *x_next = a->resid + (l + 1) * BT * d.C;
  float *gate = phi ? NULL : a->gate + l * BT * d.F, *up = a->up + l * BT * d.F;
  float *sw = a->swiglu + l * BT * d.F;
  uint16_t *sw16 = half ? h->swiglu + l * BT * d.F : NULL;
  operand in = phi ? in2(a->attn_xn + l * BT * d.C, half ? h->attn_xn + l * BT * d.C : NULL)
                   : in2(a->mlp_xn + l * BT * d.C, half ? h->mlp_xn + l * BT * d.C : NULL);
  if (!phi) {
    if (half)
      rmsnorm_forward_bf16((uint16_t *)in.h, a->mlp_rstd + l * BT, x_mid, p->mlp_norm + l * d.C,
                           BT, d.C, eps);
    else
      rmsnorm_forward((float *)in.f, a->mlp_rstd + l * BT, x_mid, p->mlp_norm + l * d.C, BT, d.C,
                      eps);
    lap(m, 0, LLAMA_PART_NORM, t);
    lin_fwd(m, gate, in, p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    lora_fwd(m, l, LORA_GATE, gate, in, BT);
    if (p->b_gate) bias_forward(gate, p->b_gate + (int64_t)l * d.F, BT, d.F);
  }
  lin_fwd(m, up, in, p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
  lora_fwd(m, l, LORA_UP, up, in, BT);
  if (p->b_up) bias_forward(up, p->b_up + (int64_t)l * d.F, BT, d.F);
  lap(m, 0, LLAMA_PART_GATE_UP, t);
  if (phi) {
    gelu_forward(sw, up, BT * d.F);
    to_half(m, sw16, sw, BT * d.F);
  } else if (half) {
    swiglu_forward_bf16(sw16, gate, up, BT * d.F);
  } else {
    swiglu_forward(sw, gate, up, BT * d.F);
  }
  lap(m, 0, LLAMA_PART_SWIGLU, t);
  memcpy(x_next, x_mid, sizeof(float) * BT * d.C);
  lap(m, 0, LLAMA_PART_COPY, t);
  lin_fwd(m, x_next, in2(sw, sw16), p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 1);
  lora_fwd(m, l, LORA_DOWN, x_next, in2(sw, sw16), BT);
  if (p->b_down) bias_forward(x_next, p->b_down + (int64_t)l * d.C, BT, d.C);
  lap(m, 0, LLAMA_PART_DOWN, t);
}

/* Final norm and LM head (+ bias) into logits. */
static void head_forward(llama_model *m, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
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
  lin_fwd(m, a->logits, in2(a->final_xn, h->final_xn), p->lm_head, BT, d.C, d.V, 0);
  if (p->lm_head_bias) bias_forward(a->logits, p->lm_head_bias, BT, d.V);
  lap(m, 0, LLAMA_PART_HEAD, t);
}

int llama_forward(llama_model *m, const int32_t *tokens, const int32_t *attn_mask, int B, int T,
                  lethe_err *err) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)B * T;
  for (int64_t i = 0; i < BT; i++)
    if (tokens[i] < 0 || tokens[i] >= d.V)
      return lethe_errf(err, LETHE_E_FORMAT,
                        "token id %d at row %lld position %lld is outside the vocabulary [0, %d)",
                        tokens[i], (long long)(i / T), (long long)(i % T), d.V);
  llama_reserve(m, B, T);
  if (m->lora) lora_reserve(m->lora, BT);
  m->B = B;
  m->T = T;
  m->tokens = tokens;
  m->attn_mask = attn_mask;
  double t = m->profile ? lethe_now() : 0.0;
  if (bf16(m)) {
    tensor_to_bf16(m->params_bf16, m->params_memory, (int64_t)m->n_params);
    lap(m, 0, LLAMA_PART_CONVERT, &t);
  }
  embedding_forward(m->acts.resid, m->params.embed, tokens, BT, d.C); /* (B,T,C) */
  lap(m, 0, LLAMA_PART_EMBED, &t);
  for (int l = 0; l < d.L; l++) {
    attention_block_forward(m, l, m->acts.resid + l * BT * d.C, &t);
    mlp_block_forward(m, l, &t);
  }
  head_forward(m, &t);
  return 0;
}

void llama_target_logp(const llama_model *m, const int32_t *targets, float *out) {
  logits_target_logp(out, m->acts.logits, targets, (int64_t)m->B * m->T, m->cfg.vocab_size);
}

void llama_dlogits_from_dlogp(llama_model *m, const int32_t *targets, const float *dlogp,
                              const float *extra_dlogits) {
  logits_to_dlogits(m->acts.logits, targets, dlogp, extra_dlogits, (int64_t)m->B * m->T,
                    m->cfg.vocab_size);
}

/* Final norm and head backward: d_resid = ∂L/∂resid[L]. */
static void head_backward(llama_model *m, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params, *g = &m->grads;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  to_half(m, h->d_logits, a->logits, BT * d.V);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  operand dlogits = in2(a->logits, h->d_logits);
  lin_dx(m, s->d_xn, dlogits, p->lm_head, BT, d.C, d.V, 0);
  lin_dw(m, g->lm_head, dlogits, in2(a->final_xn, h->final_xn), BT, d.C, d.V);
  if (g->lm_head_bias) bias_backward(g->lm_head_bias, a->logits, BT, d.V);
  lap(m, 1, LLAMA_PART_HEAD, t);
  memset(s->d_resid, 0, sizeof(float) * BT * d.C);
  float *x_last = a->resid + d.L * BT * d.C;
  if (llama_config_is_phi(&m->cfg))
    layernorm_backward(s->d_resid, g->final_norm, g->final_norm_bias, s->d_xn, x_last,
                       p->final_norm, a->final_rstd, BT, d.C);
  else
    rmsnorm_backward(s->d_resid, g->final_norm, s->d_xn, x_last, p->final_norm, a->final_rstd,
                     BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

/* MLP block backward of layer l from d_resid (∂L/∂x_next = ∂L/∂x_mid through
 * the residual). llama: adds the norm's input gradient into d_resid; phi:
 * leaves ∂L/∂attn_xn of the MLP in d_xn for the attention block. */
static void mlp_block_backward(llama_model *m, int l, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params, *g = &m->grads;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  int half = bf16(m), phi = llama_config_is_phi(&m->cfg);
  operand d_resid = in2(s->d_resid, h->d_resid);
  float *gate = a->gate ? a->gate + l * BT * d.F : NULL, *up = a->up + l * BT * d.F;
  operand in = phi ? in2(a->attn_xn + l * BT * d.C, half ? h->attn_xn + l * BT * d.C : NULL)
                   : in2(a->mlp_xn + l * BT * d.C, half ? h->mlp_xn + l * BT * d.C : NULL);
  operand sw = in2(a->swiglu + l * BT * d.F, half ? h->swiglu + l * BT * d.F : NULL);
  to_half(m, h->d_resid, s->d_resid, BT * d.C);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  lin_dx(m, s->d_swiglu, d_resid, p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 0);
  lin_dw(m, g->w_down + (int64_t)l * d.C * d.F, d_resid, sw, BT, d.F, d.C);
  lora_bwd(m, l, LORA_DOWN, s->d_swiglu, d_resid, sw, BT);
  if (g->b_down) bias_backward(g->b_down + (int64_t)l * d.C, s->d_resid, BT, d.C);
  lap(m, 1, LLAMA_PART_DOWN, t);
  if (phi) {
    gelu_backward(s->d_up, s->d_swiglu, up, BT * d.F);
  } else if (half && !p->b_gate) {
    swiglu_backward_bf16(h->d_gate, h->d_up, s->d_swiglu, gate, up, BT * d.F);
  } else {
    swiglu_backward(s->d_gate, s->d_up, s->d_swiglu, gate, up, BT * d.F);
    to_half(m, h->d_gate, s->d_gate, BT * d.F);
  }
  if (phi || p->b_gate) to_half(m, h->d_up, s->d_up, BT * d.F);
  lap(m, 1, LLAMA_PART_SWIGLU, t);
  operand d_gate = in2(s->d_gate, h->d_gate), d_up = in2(s->d_up, h->d_up);
  if (g->b_up) bias_backward(g->b_up + (int64_t)l * d.F, s->d_up, BT, d.F);
  if (g->b_gate) bias_backward(g->b_gate + (int64_t)l * d.F, s->d_gate, BT, d.F);
  if (!phi) lin_dx(m, s->d_xn, d_gate, p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
  lin_dx(m, s->d_xn, d_up, p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, !phi);
  if (!phi) lin_dw(m, g->w_gate + (int64_t)l * d.F * d.C, d_gate, in, BT, d.C, d.F);
  lin_dw(m, g->w_up + (int64_t)l * d.F * d.C, d_up, in, BT, d.C, d.F);
  if (!phi) lora_bwd(m, l, LORA_GATE, s->d_xn, d_gate, in, BT);
  lora_bwd(m, l, LORA_UP, s->d_xn, d_up, in, BT);
  lap(m, 1, LLAMA_PART_GATE_UP, t);
  if (phi) return;
  rmsnorm_backward(s->d_resid, g->mlp_norm + l * d.C, s->d_xn, a->resid_mid + l * BT * d.C,
                   p->mlp_norm + l * d.C, a->mlp_rstd + l * BT, BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

/* From ∂L/∂q, ∂L/∂k after rotary (s->d_q, s->d_k) back to the projection
 * outputs: inverse rotary, q/k norms, biases. Returns the float buffers
 * holding ∂L/∂(x·Wqᵀ), ∂L/∂(x·Wkᵀ) in dq, dk. */
static void qkv_backward(llama_model *m, int l, float **dq, float **dk, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params, *g = &m->grads;
  llama_acts *a = &m->acts;
  llama_scratch *s = &m->scratch;
  rope_heads(m, s->d_q, d.NH, 1);
  rope_heads(m, s->d_k, d.NKV, 1);
  lap(m, 1, LLAMA_PART_ROPE, t);
  *dq = s->d_q;
  *dk = s->d_k;
  if (m->cfg.qk_norm) {
    memset(s->d_q_raw, 0, sizeof(float) * BT * d.QD);
    memset(s->d_k_raw, 0, sizeof(float) * BT * d.KVD);
    rmsnorm_backward(s->d_q_raw, g->q_norm + l * d.HD, s->d_q, a->q_raw + l * BT * d.QD,
                     p->q_norm + l * d.HD, a->q_rstd + l * BT * d.NH, BT * d.NH, d.HD);
    rmsnorm_backward(s->d_k_raw, g->k_norm + l * d.HD, s->d_k, a->k_raw + l * BT * d.KVD,
                     p->k_norm + l * d.HD, a->k_rstd + l * BT * d.NKV, BT * d.NKV, d.HD);
    *dq = s->d_q_raw;
    *dk = s->d_k_raw;
    lap(m, 1, LLAMA_PART_NORM, t);
  }
  if (g->bq) {
    bias_backward(g->bq + (int64_t)l * d.QD, *dq, BT, d.QD);
    bias_backward(g->bk + (int64_t)l * d.KVD, *dk, BT, d.KVD);
    bias_backward(g->bv + (int64_t)l * d.KVD, s->d_v, BT, d.KVD);
    lap(m, 1, LLAMA_PART_QKV, t);
  }
}

/* Attention block backward of layer l: adds ∂L/∂x into d_resid (d_xn holds
 * the MLP's share of ∂L/∂attn_xn for phi). */
static void attention_block_backward(llama_model *m, int l, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T;
  llama_params *p = &m->params, *g = &m->grads;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  int half = bf16(m), gqa = d.NKV != d.NH, phi = llama_config_is_phi(&m->cfg);
  operand d_resid = in2(s->d_resid, h->d_resid);
  float *x = a->resid + l * BT * d.C;
  operand xn = in2(a->attn_xn + l * BT * d.C, half ? h->attn_xn + l * BT * d.C : NULL);
  operand att_out = in2(a->att_out + l * BT * d.QD, half ? h->att_out + l * BT * d.QD : NULL);
  to_half(m, h->d_resid, s->d_resid, BT * d.C);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  lin_dx(m, s->d_att_out, d_resid, p->wo + (int64_t)l * d.C * d.QD, BT, d.QD, d.C, 0);
  lin_dw(m, g->wo + (int64_t)l * d.C * d.QD, d_resid, att_out, BT, d.QD, d.C);
  lora_bwd(m, l, LORA_O, s->d_att_out, d_resid, att_out, BT);
  if (g->bo) bias_backward(g->bo + (int64_t)l * d.C, s->d_resid, BT, d.C);
  lap(m, 1, LLAMA_PART_WO, t);
  to_half(m, h->d_att_out, s->d_att_out, BT * d.QD);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  attn_io io = layer_attention(m, l, !half, t, 1);
  float *dkr = gqa ? s->dk_rep : s->d_k, *dvr = gqa ? s->dv_rep : s->d_v;
  attention_backward(m, s->d_q, dkr, dvr, s->d_att, h->d_att, in2(s->d_att_out, h->d_att_out),
                     &io, t);
  if (gqa) {
    gqa_reduce(s->d_k, s->dk_rep, BT, d.NH, d.NKV, d.HD);
    gqa_reduce(s->d_v, s->dv_rep, BT, d.NH, d.NKV, d.HD);
    lap(m, 1, LLAMA_PART_COPY, t);
  }
  float *dqf, *dkf;
  qkv_backward(m, l, &dqf, &dkf, t);
  to_half(m, h->d_q, dqf, BT * d.QD);
  to_half(m, h->d_k, dkf, BT * d.KVD);
  to_half(m, h->d_v, s->d_v, BT * d.KVD);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  operand dq = in2(dqf, h->d_q), dk = in2(dkf, h->d_k), dv = in2(s->d_v, h->d_v);
  lin_dx(m, s->d_xn, dq, p->wq + (int64_t)l * d.QD * d.C, BT, d.C, d.QD, phi);
  lin_dx(m, s->d_xn, dk, p->wk + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 1);
  lin_dx(m, s->d_xn, dv, p->wv + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 1);
  lin_dw(m, g->wq + (int64_t)l * d.QD * d.C, dq, xn, BT, d.C, d.QD);
  lin_dw(m, g->wk + (int64_t)l * d.KVD * d.C, dk, xn, BT, d.C, d.KVD);
  lin_dw(m, g->wv + (int64_t)l * d.KVD * d.C, dv, xn, BT, d.C, d.KVD);
  lora_bwd(m, l, LORA_Q, s->d_xn, dq, xn, BT);
  lora_bwd(m, l, LORA_K, s->d_xn, dk, xn, BT);
  lora_bwd(m, l, LORA_V, s->d_xn, dv, xn, BT);
  lap(m, 1, LLAMA_PART_QKV, t);
  if (phi)
    layernorm_backward(s->d_resid, g->attn_norm + l * d.C, g->attn_norm_bias + l * d.C, s->d_xn,
                       x, p->attn_norm + l * d.C, a->attn_rstd + l * BT, BT, d.C);
  else
    rmsnorm_backward(s->d_resid, g->attn_norm + l * d.C, s->d_xn, x, p->attn_norm + l * d.C,
                     a->attn_rstd + l * BT, BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

void llama_backward(llama_model *m) {
  double t = m->profile ? lethe_now() : 0.0;
  head_backward(m, &t);
  for (int l = m->cfg.num_hidden_layers - 1; l >= 0; l--) {
    mlp_block_backward(m, l, &t);
    attention_block_backward(m, l, &t);
  }
  if (!m->lora)
    embedding_backward(m->grads.embed, m->scratch.d_resid, m->tokens,
                       (int64_t)m->B * m->T, m->cfg.hidden_size);
  lap(m, 1, LLAMA_PART_EMBED, &t);
}
