/* llama_layers — the forward and backward passes of every family (see
 * llama.h): llama's layer (RMSNorm, attention, SwiGLU MLP) with what the
 * config switches on — biases, qwen3's q/k norms, partial and scaled rotary —
 * and phi's (one LayerNorm feeding attention and a GELU MLP in parallel).
 * A feature that is off costs nothing: no extra pass, no buffer. Not here:
 * the buffers (llama.c), the final norm and LM head (llama_head.c), the
 * kernels (kernels.h). */
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/llama.h"
#include "model/llama_dims.h"
#include "model/llama_ops.h"
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
  int64_t BT = (int64_t)B * T, li = act_layer(m, l);
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  float *k = a->k + li * BT * d.KVD, *v = a->v + li * BT * d.KVD;
  if (expand && d.NKV != d.NH) {
    gqa_expand(s->k_rep, k, BT, d.NH, d.NKV, d.HD);
    gqa_expand(s->v_rep, v, BT, d.NH, d.NKV, d.HD);
    k = s->k_rep;
    v = s->v_rep;
    lap(m, backward, LLAMA_PART_COPY, t);
  }
  int64_t off = li * BT * d.QD, att_off = li * (int64_t)B * d.NH * T * T;
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
  int64_t BT = m->rows, li = act_layer(m, l); /* packed rows when skipping padding */
  llama_params *p = &m->params;
  float *xn = m->acts.attn_xn + li * BT * d.C, *rstd = m->acts.attn_rstd + li * BT;
  uint16_t *xn16 = bf16(m) ? m->acts_bf16.attn_xn + li * BT * d.C : NULL;
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
  int64_t BT = (int64_t)m->B * m->T, R = m->rows, li = act_layer(m, l);
  int packed = llama_rows_packed(m);
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  operand xn = in2(a->attn_xn + li * R * d.C, bf16(m) ? m->acts_bf16.attn_xn + li * R * d.C : NULL);
  float *q = a->q + li * BT * d.QD, *k = a->k + li * BT * d.KVD, *v = a->v + li * BT * d.KVD;
  int qkn = m->cfg.qk_norm;
  float *qp = qkn ? a->q_raw + li * BT * d.QD : q, *kp = qkn ? a->k_raw + li * BT * d.KVD : k;
  /* the projections of the packed rows, then into the (B,T) layout */
  float *oq = packed ? m->rows_tmp : qp, *ok = packed ? oq + R * d.QD : kp;
  float *ov = packed ? ok + R * d.KVD : v;
  lin_fwd(m, oq, xn, p->wq + (int64_t)l * d.QD * d.C, R, d.C, d.QD, 0);
  lin_fwd(m, ok, xn, p->wk + (int64_t)l * d.KVD * d.C, R, d.C, d.KVD, 0);
  lin_fwd(m, ov, xn, p->wv + (int64_t)l * d.KVD * d.C, R, d.C, d.KVD, 0);
  lora_fwd(m, l, LORA_Q, oq, xn, R);
  lora_fwd(m, l, LORA_K, ok, xn, R);
  lora_fwd(m, l, LORA_V, ov, xn, R);
  if (p->bq) {
    bias_forward(oq, p->bq + (int64_t)l * d.QD, R, d.QD);
    bias_forward(ok, p->bk + (int64_t)l * d.KVD, R, d.KVD);
    bias_forward(ov, p->bv + (int64_t)l * d.KVD, R, d.KVD);
  }
  lap(m, 0, LLAMA_PART_QKV, t);
  if (packed) {
    llama_rows_scatter(m, qp, oq, d.QD);
    llama_rows_scatter(m, kp, ok, d.KVD);
    llama_rows_scatter(m, v, ov, d.KVD);
    lap(m, 0, LLAMA_PART_COPY, t);
  }
  if (qkn) {
    float eps = (float)m->cfg.rms_norm_eps;
    rmsnorm_forward(q, a->q_rstd + li * BT * d.NH, qp, p->q_norm + l * d.HD, BT * d.NH, d.HD, eps);
    rmsnorm_forward(k, a->k_rstd + li * BT * d.NKV, kp, p->k_norm + l * d.HD, BT * d.NKV, d.HD,
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
  int64_t BT = (int64_t)m->B * m->T, R = m->rows, li = act_layer(m, l);
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  int half = bf16(m), packed = llama_rows_packed(m);
  float *x_mid = a->resid_mid + li * R * d.C, *att_out = a->att_out + li * R * d.QD;
  uint16_t *att_out16 = half ? m->acts_bf16.att_out + li * R * d.QD : NULL;
  attn_norm_forward(m, l, x, t);
  qkv_forward(m, l, t);
  attn_io io = layer_attention(m, l, 1, t, 0);
  if (half) {
    tensor_to_bf16((uint16_t *)io.q.h, a->q + li * BT * d.QD, BT * d.QD);
    tensor_to_bf16((uint16_t *)io.k.h, io.k.f, BT * d.QD);
    tensor_to_bf16((uint16_t *)io.v.h, io.v.f, BT * d.QD);
    lap(m, 0, LLAMA_PART_CONVERT, t);
  }
  attention_forward(m, packed ? m->rows_tmp : att_out, &io, t);
  if (packed) llama_rows_gather(m, att_out, m->rows_tmp, d.QD);
  lap(m, 0, LLAMA_PART_COPY, t);
  to_half(m, att_out16, att_out, R * d.QD);
  lap(m, 0, LLAMA_PART_CONVERT, t);
  memcpy(x_mid, x, sizeof(float) * R * d.C);
  lap(m, 0, LLAMA_PART_COPY, t);
  lin_fwd(m, x_mid, in2(att_out, att_out16), p->wo + (int64_t)l * d.C * d.QD, R, d.QD, d.C, 1);
  lora_fwd(m, l, LORA_O, x_mid, in2(att_out, att_out16), R);
  if (p->bo) bias_forward(x_mid, p->bo + (int64_t)l * d.C, R, d.C);
  lap(m, 0, LLAMA_PART_WO, t);
}

/* The MLP's activation silu(gate)·up (phi: gelu(fc1)) into acts.swiglu
 * (and its bf16 copy); one layer's buffer, so backward calls this again
 * for the down projection's weight gradient (the same bits: the same kernel
 * on the same gate and up). */
static void mlp_activation(llama_model *m, const float *gate, const float *up, double *t) {
  int64_t n = m->rows * m->cfg.intermediate_size;
  float *sw = m->acts.swiglu;
  uint16_t *sw16 = bf16(m) ? m->acts_bf16.swiglu : NULL;
  if (llama_config_is_phi(&m->cfg)) {
    gelu_forward(sw, up, n);
    to_half(m, sw16, sw, n);
  } else if (sw16) {
    swiglu_forward_bf16(sw16, gate, up, n);
  } else {
    swiglu_forward(sw, gate, up, n);
  }
  lap(m, 0, LLAMA_PART_SWIGLU, t);
}

/* MLP block of layer l: x_next = x_mid + mlp(norm(x_mid)); phi's MLP reads
 * the attention's input norm (parallel residual) and is fc2(gelu(fc1)). */
static void mlp_block_forward(llama_model *m, int l, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = m->rows, li = act_layer(m, l); /* packed rows when skipping padding */
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  int half = bf16(m), phi = llama_config_is_phi(&m->cfg);
  float eps = (float)m->cfg.rms_norm_eps;
  float *x_mid = a->resid_mid + li * BT * d.C, *x_next = a->resid + (l + 1) * BT * d.C;
  float *gate = phi ? NULL : a->gate + li * BT * d.F, *up = a->up + li * BT * d.F;
  float *sw = a->swiglu; /* one layer's: backward computes it again (mlp_activation) */
  uint16_t *sw16 = half ? h->swiglu : NULL;
  operand in = phi ? in2(a->attn_xn + li * BT * d.C, half ? h->attn_xn + li * BT * d.C : NULL)
                   : in2(a->mlp_xn + li * BT * d.C, half ? h->mlp_xn + li * BT * d.C : NULL);
  if (!phi) {
    if (half)
      rmsnorm_forward_bf16((uint16_t *)in.h, a->mlp_rstd + li * BT, x_mid, p->mlp_norm + l * d.C,
                           BT, d.C, eps);
    else
      rmsnorm_forward((float *)in.f, a->mlp_rstd + li * BT, x_mid, p->mlp_norm + l * d.C, BT, d.C,
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
  mlp_activation(m, gate, up, t);
  memcpy(x_next, x_mid, sizeof(float) * BT * d.C);
  lap(m, 0, LLAMA_PART_COPY, t);
  lin_fwd(m, x_next, in2(sw, sw16), p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 1);
  lora_fwd(m, l, LORA_DOWN, x_next, in2(sw, sw16), BT);
  if (p->b_down) bias_forward(x_next, p->b_down + (int64_t)l * d.C, BT, d.C);
  lap(m, 0, LLAMA_PART_DOWN, t);
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
  if ((!m->checkpointing && llama_first_trained_layer(m) != m->acts_from) ||
      llama_runs_backward(m) != m->acts_backward)
    m->B_max = m->T_max = 0; /* what trains changed: lay the activations out again */
  llama_reserve(m, B, T);
  m->logits_chunk_row0 = -1;
  if (m->lora) lora_reserve(m->lora, BT);
  m->B = B;
  m->T = T;
  m->tokens = tokens;
  m->attn_mask = attn_mask;
  llama_rows_plan(m, tokens, attn_mask);
  int64_t R = m->rows;
  double t = m->profile ? lethe_now() : 0.0;
  if (bf16(m)) {
    llama_round_params(m, m->params_bf16);
    lap(m, 0, LLAMA_PART_CONVERT, &t);
  }
  llama_embed_rows(m, m->acts.resid, llama_rows_packed(m) ? m->row_tokens : tokens, R); /* (R,C) */
  lap(m, 0, LLAMA_PART_EMBED, &t);
  for (int l = 0; l < d.L; l++) {
    attention_block_forward(m, l, m->acts.resid + l * R * d.C, &t);
    mlp_block_forward(m, l, &t);
  }
  llama_head_forward(m, &t);
  return 0;
}

/* MLP block backward of layer l from d_resid (∂L/∂x_next = ∂L/∂x_mid through
 * the residual). llama: adds the norm's input gradient into d_resid; phi:
 * leaves ∂L/∂attn_xn of the MLP in d_xn for the attention block. Without
 * need_dx (nothing below trains) neither is computed. */
static void mlp_block_backward(llama_model *m, int l, int need_dx, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = m->rows, li = act_layer(m, l); /* packed rows when skipping padding */
  llama_params *p = &m->params;
  float *g_down = llama_grad(m, LLAMA_PARAM_W_DOWN, l), *g_b_down = llama_grad(m, LLAMA_PARAM_B_DOWN, l);
  float *g_gate = llama_grad(m, LLAMA_PARAM_W_GATE, l), *g_b_gate = llama_grad(m, LLAMA_PARAM_B_GATE, l);
  float *g_up = llama_grad(m, LLAMA_PARAM_W_UP, l), *g_b_up = llama_grad(m, LLAMA_PARAM_B_UP, l);
  float *g_norm = llama_grad(m, LLAMA_PARAM_MLP_NORM, l);
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  int half = bf16(m), phi = llama_config_is_phi(&m->cfg), need_xn = need_dx || g_norm;
  operand d_resid = in2(s->d_resid, h->d_resid);
  float *gate = a->gate ? a->gate + li * BT * d.F : NULL, *up = a->up + li * BT * d.F;
  operand in = phi ? in2(a->attn_xn + li * BT * d.C, half ? h->attn_xn + li * BT * d.C : NULL)
                   : in2(a->mlp_xn + li * BT * d.C, half ? h->mlp_xn + li * BT * d.C : NULL);
  operand sw = in2(a->swiglu, half ? h->swiglu : NULL);
  if (g_down || (m->lora && m->lora->a[LORA_DOWN])) mlp_activation(m, gate, up, t);
  to_half(m, h->d_resid, s->d_resid, BT * d.C);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  lin_dx(m, s->d_swiglu, d_resid, p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 0);
  if (g_down) lin_dw(m, g_down, d_resid, sw, BT, d.F, d.C);
  lora_bwd(m, l, LORA_DOWN, s->d_swiglu, d_resid, sw, BT);
  if (g_b_down) bias_backward(g_b_down, s->d_resid, BT, d.C);
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
  if (g_b_up) bias_backward(g_b_up, s->d_up, BT, d.F);
  if (g_b_gate) bias_backward(g_b_gate, s->d_gate, BT, d.F);
  if (need_xn && !phi)
    lin_dx(m, s->d_xn, d_gate, p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
  if (need_xn) lin_dx(m, s->d_xn, d_up, p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, !phi);
  if (g_gate) lin_dw(m, g_gate, d_gate, in, BT, d.C, d.F);
  if (g_up) lin_dw(m, g_up, d_up, in, BT, d.C, d.F);
  if (!phi) lora_bwd(m, l, LORA_GATE, s->d_xn, d_gate, in, BT);
  lora_bwd(m, l, LORA_UP, s->d_xn, d_up, in, BT);
  lap(m, 1, LLAMA_PART_GATE_UP, t);
  if (phi || !need_xn) return;
  rmsnorm_backward(s->d_resid, g_norm, s->d_xn, a->resid_mid + li * BT * d.C,
                   p->mlp_norm + l * d.C, a->mlp_rstd + li * BT, BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

/* From ∂L/∂q, ∂L/∂k after rotary (s->d_q, s->d_k) back to the projection
 * outputs: inverse rotary, q/k norms, biases. Returns the float buffers
 * holding ∂L/∂(x·Wqᵀ), ∂L/∂(x·Wkᵀ) in dq, dk. */
static void qkv_backward(llama_model *m, int l, float **dq, float **dk, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T, li = act_layer(m, l);
  llama_params *p = &m->params;
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
    rmsnorm_backward(s->d_q_raw, llama_grad(m, LLAMA_PARAM_Q_NORM, l), s->d_q, a->q_raw + li * BT * d.QD,
                     p->q_norm + l * d.HD, a->q_rstd + li * BT * d.NH, BT * d.NH, d.HD);
    rmsnorm_backward(s->d_k_raw, llama_grad(m, LLAMA_PARAM_K_NORM, l), s->d_k, a->k_raw + li * BT * d.KVD,
                     p->k_norm + l * d.HD, a->k_rstd + li * BT * d.NKV, BT * d.NKV, d.HD);
    *dq = s->d_q_raw;
    *dk = s->d_k_raw;
    lap(m, 1, LLAMA_PART_NORM, t);
  }
  float *g_bq = llama_grad(m, LLAMA_PARAM_BQ, l), *g_bk = llama_grad(m, LLAMA_PARAM_BK, l);
  float *g_bv = llama_grad(m, LLAMA_PARAM_BV, l);
  if (g_bq) bias_backward(g_bq, *dq, BT, d.QD);
  if (g_bk) bias_backward(g_bk, *dk, BT, d.KVD);
  if (g_bv) bias_backward(g_bv, s->d_v, BT, d.KVD);
  lap(m, 1, LLAMA_PART_QKV, t);
}

/* Whether an attached adapter has a branch on module mod (lora.h). */
static int lora_targets(const llama_model *m, int mod) { return m->lora && m->lora->a[mod]; }

/* Whether anything between layer l's attention input norm and its wo
 * trains (q, k, v projections, their biases, the q/k norms, an adapter's
 * branches on q, k, v). */
static int qkv_trains(const llama_model *m, int l) {
  static const int roles[] = {LLAMA_PARAM_WQ, LLAMA_PARAM_WK, LLAMA_PARAM_WV, LLAMA_PARAM_BQ,
                              LLAMA_PARAM_BK, LLAMA_PARAM_BV, LLAMA_PARAM_Q_NORM, LLAMA_PARAM_K_NORM};
  for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
    if (llama_grad(m, roles[i], l)) return 1;
  return lora_targets(m, LORA_Q) || lora_targets(m, LORA_K) || lora_targets(m, LORA_V);
}

/* Attention block backward of layer l: adds ∂L/∂x into d_resid when need_dx
 * (d_xn holds the MLP's share of ∂L/∂attn_xn for phi); without it, only what
 * the block's trainable tensors need. */
static void attention_block_backward(llama_model *m, int l, int need_dx, double *t) {
  dims d = dims_of(&m->cfg);
  int64_t BT = (int64_t)m->B * m->T, R = m->rows, li = act_layer(m, l);
  int packed = llama_rows_packed(m);
  llama_params *p = &m->params;
  float *g_norm = llama_grad(m, LLAMA_PARAM_ATTN_NORM, l);
  float *g_norm_bias = llama_grad(m, LLAMA_PARAM_ATTN_NORM_BIAS, l);
  float *g_wo = llama_grad(m, LLAMA_PARAM_WO, l), *g_bo = llama_grad(m, LLAMA_PARAM_BO, l);
  float *g_wq = llama_grad(m, LLAMA_PARAM_WQ, l), *g_wk = llama_grad(m, LLAMA_PARAM_WK, l);
  float *g_wv = llama_grad(m, LLAMA_PARAM_WV, l);
  int need_xn = need_dx || g_norm || g_norm_bias;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  int half = bf16(m), gqa = d.NKV != d.NH, phi = llama_config_is_phi(&m->cfg);
  operand d_resid = in2(s->d_resid, h->d_resid);
  float *x = a->resid + l * R * d.C;
  operand xn = in2(a->attn_xn + li * R * d.C, half ? h->attn_xn + li * R * d.C : NULL);
  operand att_out = in2(a->att_out + li * R * d.QD, half ? h->att_out + li * R * d.QD : NULL);
  float *d_ao = packed ? m->rows_tmp : s->d_att_out; /* packed rows, then (B,T) */
  to_half(m, h->d_resid, s->d_resid, R * d.C);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  lin_dx(m, d_ao, d_resid, p->wo + (int64_t)l * d.C * d.QD, R, d.QD, d.C, 0);
  if (g_wo) lin_dw(m, g_wo, d_resid, att_out, R, d.QD, d.C);
  lora_bwd(m, l, LORA_O, d_ao, d_resid, att_out, R);
  if (g_bo) bias_backward(g_bo, s->d_resid, R, d.C);
  lap(m, 1, LLAMA_PART_WO, t);
  if (!need_xn && !qkv_trains(m, l)) return;
  if (packed) llama_rows_scatter(m, s->d_att_out, d_ao, d.QD);
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
  float *dqf, *dkf, *dvf = s->d_v;
  qkv_backward(m, l, &dqf, &dkf, t);
  if (packed) { /* the computed positions' rows, for the projections */
    float *pq = m->rows_tmp, *pk = pq + R * d.QD, *pv = pk + R * d.KVD;
    llama_rows_gather(m, pq, dqf, d.QD);
    llama_rows_gather(m, pk, dkf, d.KVD);
    llama_rows_gather(m, pv, dvf, d.KVD);
    dqf = pq, dkf = pk, dvf = pv;
    lap(m, 1, LLAMA_PART_COPY, t);
  }
  to_half(m, h->d_q, dqf, R * d.QD);
  to_half(m, h->d_k, dkf, R * d.KVD);
  to_half(m, h->d_v, dvf, R * d.KVD);
  lap(m, 1, LLAMA_PART_CONVERT, t);
  operand dq = in2(dqf, h->d_q), dk = in2(dkf, h->d_k), dv = in2(dvf, h->d_v);
  if (need_xn) {
    lin_dx(m, s->d_xn, dq, p->wq + (int64_t)l * d.QD * d.C, R, d.C, d.QD, phi);
    lin_dx(m, s->d_xn, dk, p->wk + (int64_t)l * d.KVD * d.C, R, d.C, d.KVD, 1);
    lin_dx(m, s->d_xn, dv, p->wv + (int64_t)l * d.KVD * d.C, R, d.C, d.KVD, 1);
  }
  if (g_wq) lin_dw(m, g_wq, dq, xn, R, d.C, d.QD);
  if (g_wk) lin_dw(m, g_wk, dk, xn, R, d.C, d.KVD);
  if (g_wv) lin_dw(m, g_wv, dv, xn, R, d.C, d.KVD);
  lora_bwd(m, l, LORA_Q, s->d_xn, dq, xn, R);
  lora_bwd(m, l, LORA_K, s->d_xn, dk, xn, R);
  lora_bwd(m, l, LORA_V, s->d_xn, dv, xn, R);
  lap(m, 1, LLAMA_PART_QKV, t);
  if (!need_xn) return;
  if (phi)
    layernorm_backward(s->d_resid, g_norm, g_norm_bias, s->d_xn, x, p->attn_norm + l * d.C,
                       a->attn_rstd + li * R, R, d.C);
  else
    rmsnorm_backward(s->d_resid, g_norm, s->d_xn, x, p->attn_norm + l * d.C,
                     a->attn_rstd + li * R, R, d.C);
  lap(m, 1, LLAMA_PART_NORM, t);
}

/* Backward through the blocks from layer `top` down to the lowest that
 * trains, d_resid = ∂L/∂resid[top + 1] on entry; dhidden (B,T,C; may be
 * NULL) is added to ∂L/∂resid[layer + 1] when the walk reaches it. */
static void blocks_backward(llama_model *m, int top, int layer, const float *dhidden,
                            int lowest, double *t) {
  int64_t BT = m->rows, C = m->cfg.hidden_size; /* packed rows when skipping padding */
  for (int l = top; l >= 0 && 2 * l + 1 >= lowest; l--) {
    if (dhidden && l == layer)
      for (int64_t i = 0; i < BT * C; i++) m->scratch.d_resid[i] += dhidden[i];
    if (m->checkpointing) { /* layer l's activations again, from its saved input */
      attention_block_forward(m, l, m->acts.resid + l * BT * C, t);
      mlp_block_forward(m, l, t);
    }
    mlp_block_backward(m, l, 2 * l + 1 > lowest, t);
    if (2 * l >= lowest) attention_block_backward(m, l, 2 * l > lowest, t);
  }
  float *g_embed = llama_grad(m, LLAMA_PARAM_EMBED, 0);
  if (g_embed)
    embedding_backward(g_embed, m->scratch.d_resid,
                       llama_rows_packed(m) ? m->row_tokens : m->tokens, BT, (int)C);
  lap(m, 1, LLAMA_PART_EMBED, t);
}

/* The lowest block that trains, after checking that the forward kept its
 * activations (aborts otherwise: a programming error). */
static int checked_lowest(const llama_model *m) {
  int L = m->cfg.num_hidden_layers, lowest = llama_lowest_block(m);
  if ((!m->checkpointing && lowest / 2 < m->acts_from && lowest < 2 * L) || !m->acts_backward) {
    /* the forward kept no activations for a layer that now trains: the
     * trainable set changed between llama_forward and llama_backward */
    fprintf(stderr, "lethe: internal error: llama_backward needs layer %d's activations, but "
            "the forward kept layers %d.. only (set what trains before llama_forward)\n",
            lowest < 0 ? 0 : lowest / 2, m->acts_from);
    abort();
  }
  return lowest;
}

void llama_backward(llama_model *m) { llama_backward_hidden(m, -1, NULL, 1); }

/* Hidden states speak (B,T,C): a forward that skipped padding has none. */
static void check_unpacked(const llama_model *m, const char *what) {
  if (!llama_rows_packed(m)) return;
  fprintf(stderr, "lethe: internal error: %s after a forward that skipped padding "
          "(llama_set_skip_padding)\n", what);
  abort();
}

void llama_backward_hidden(llama_model *m, int layer, const float *dhidden, int head) {
  double t = m->profile ? lethe_now() : 0.0;
  if (dhidden) check_unpacked(m, "llama_backward_hidden");
  int L = m->cfg.num_hidden_layers;
  if (!llama_runs_backward(m)) return; /* nothing trains */
  int lowest = checked_lowest(m);
  if (head) {
    llama_head_backward(m, lowest < 2 * L, &t);
    blocks_backward(m, L - 1, layer, dhidden, lowest, &t);
  } else if (2 * layer + 1 >= lowest) { /* something at or below the layer trains */
    memcpy(m->scratch.d_resid, dhidden, sizeof(float) * (size_t)m->B * m->T * m->cfg.hidden_size);
    blocks_backward(m, layer, -1, NULL, lowest, &t);
  }
}

const float *llama_hidden(const llama_model *m, int layer) {
  check_unpacked(m, "llama_hidden");
  return m->acts.resid + (size_t)(layer + 1) * m->B * m->T * m->cfg.hidden_size;
}
