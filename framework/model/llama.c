/* llama — parameter/activation buffers, forward and backward (see llama.h). */
#include "model/llama.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "tensor/tensor.h"

/* Derived sizes used everywhere below. */
typedef struct dims {
  int V, C, F, L, NH, NKV, HD, QD, KVD; /* QD = NH*HD, KVD = NKV*HD */
} dims;

static dims dims_of(const llama_config *c) {
  dims d = {c->vocab_size, c->hidden_size, c->intermediate_size, c->num_hidden_layers,
            c->num_attention_heads, c->num_key_value_heads, c->head_dim, 0, 0};
  d.QD = d.NH * d.HD;
  d.KVD = d.NKV * d.HD;
  return d;
}

static void point_params(llama_params *p, float *mem, const size_t *sizes, int tied) {
  float **ptrs[LLAMA_N_PARAM_TENSORS] = {
      [LLAMA_PARAM_EMBED] = &p->embed,   [LLAMA_PARAM_ATTN_NORM] = &p->attn_norm,
      [LLAMA_PARAM_WQ] = &p->wq,         [LLAMA_PARAM_WK] = &p->wk,
      [LLAMA_PARAM_WV] = &p->wv,         [LLAMA_PARAM_WO] = &p->wo,
      [LLAMA_PARAM_MLP_NORM] = &p->mlp_norm, [LLAMA_PARAM_W_GATE] = &p->w_gate,
      [LLAMA_PARAM_W_UP] = &p->w_up,     [LLAMA_PARAM_W_DOWN] = &p->w_down,
      [LLAMA_PARAM_FINAL_NORM] = &p->final_norm, [LLAMA_PARAM_LM_HEAD] = &p->lm_head};
  for (int i = 0; i < LLAMA_N_PARAM_TENSORS; i++) {
    *ptrs[i] = mem;
    mem += sizes[i];
  }
  if (tied) p->lm_head = p->embed;
}

static void fill_param_sizes(llama_model *m) {
  dims d = dims_of(&m->cfg);
  size_t L = (size_t)d.L, C = (size_t)d.C;
  size_t sizes[LLAMA_N_PARAM_TENSORS] = {
      (size_t)d.V * C, L * C, L * d.QD * C, L * d.KVD * C, L * d.KVD * C, L * C * d.QD,
      L * C, L * d.F * C, L * d.F * C, L * C * d.F, C,
      m->cfg.tie_word_embeddings ? 0 : (size_t)d.V * C};
  m->n_params = 0;
  for (int i = 0; i < LLAMA_N_PARAM_TENSORS; i++) {
    m->param_sizes[i] = sizes[i];
    m->n_params += sizes[i];
  }
}

/* Allocates parameter storage (zeroed) for a validated config. */
static void alloc_params(llama_model *m, const llama_config *cfg) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  fill_param_sizes(m);
  m->params_memory = lethe_alloc_aligned(m->n_params * sizeof(float));
  point_params(&m->params, m->params_memory, m->param_sizes, cfg->tie_word_embeddings);
}

int llama_alloc(llama_model *m, const llama_config *cfg, lethe_err *err) {
  if (llama_config_validate(cfg, "model config", err) != 0) return -1;
  alloc_params(m, cfg);
  return 0;
}

int llama_init(llama_model *m, const llama_config *cfg, uint64_t seed, lethe_err *err) {
  if (llama_alloc(m, cfg, err) != 0) return -1;
  lethe_rng rng;
  lethe_rng_seed(&rng, seed);
  dims d = dims_of(cfg);
  float std = (float)cfg->initializer_range;
  llama_params *p = &m->params;
  float *normal[] = {p->embed, p->wq, p->wk, p->wv, p->wo, p->w_gate, p->w_up, p->w_down,
                     p->lm_head};
  const size_t *sz = m->param_sizes;
  size_t counts[] = {sz[LLAMA_PARAM_EMBED], sz[LLAMA_PARAM_WQ],     sz[LLAMA_PARAM_WK],
                     sz[LLAMA_PARAM_WV],    sz[LLAMA_PARAM_WO],     sz[LLAMA_PARAM_W_GATE],
                     sz[LLAMA_PARAM_W_UP],  sz[LLAMA_PARAM_W_DOWN], sz[LLAMA_PARAM_LM_HEAD]};
  for (size_t t = 0; t < sizeof normal / sizeof normal[0]; t++)
    for (size_t i = 0; i < counts[t]; i++) normal[t][i] = std * (float)lethe_rng_normal(&rng);
  for (size_t i = 0; i < (size_t)d.L * d.C; i++) p->attn_norm[i] = p->mlp_norm[i] = 1.0f;
  for (int i = 0; i < d.C; i++) p->final_norm[i] = 1.0f;
  return 0;
}

void llama_free(llama_model *m) {
  free(m->params_memory);
  free(m->grads_memory);
  free(m->acts_memory);
  free(m->scratch_memory);
  free(m->rope_cos);
  free(m->rope_sin);
  free(m->params_bf16);
  free(m->acts_bf16_memory);
  llama_storage_free(&m->storage);
  memset(m, 0, sizeof *m);
}

void llama_alloc_grads(llama_model *m) {
  if (m->grads_memory) return;
  m->grads_memory = lethe_alloc_aligned(m->n_params * sizeof(float));
  point_params(&m->grads, m->grads_memory, m->param_sizes, m->cfg.tie_word_embeddings);
}

void llama_zero_grads(llama_model *m) {
  if (m->grads_memory) memset(m->grads_memory, 0, m->n_params * sizeof(float));
}

/* Offsets (in elements, each a multiple of `align`) of `count` tensors of
 * the given sizes packed into one allocation; returns the total. */
static size_t pack(size_t *off, const size_t *sizes, int count, size_t align) {
  size_t total = 0;
  for (int i = 0; i < count; i++) {
    off[i] = total;
    total += (sizes[i] + align - 1) / align * align;
  }
  return total;
}

#define MAX_CARVE 32

/* Carves `count` float tensors out of one 64-byte aligned allocation. */
static float *carve(float ***ptrs, const size_t *sizes, int count) {
  size_t off[MAX_CARVE];
  float *mem = lethe_alloc_aligned(pack(off, sizes, count, 16) * sizeof(float));
  for (int i = 0; i < count; i++) *ptrs[i] = mem + off[i];
  return mem;
}

/* The same for bfloat16 tensors. */
static uint16_t *carve16(uint16_t ***ptrs, const size_t *sizes, int count) {
  size_t off[MAX_CARVE];
  uint16_t *mem = lethe_alloc_aligned(pack(off, sizes, count, 32) * sizeof(uint16_t));
  for (int i = 0; i < count; i++) *ptrs[i] = mem + off[i];
  return mem;
}

/* bf16 copies of the matmul inputs for (B, T) (see llama_acts_bf16). */
static void reserve_bf16(llama_model *m, int B, int T) {
  dims d = dims_of(&m->cfg);
  size_t L = (size_t)d.L, BT = (size_t)B * T, C = (size_t)d.C, F = (size_t)d.F;
  size_t att = (size_t)B * d.NH * T * T;
  llama_acts_bf16 *h = &m->acts_bf16;
  uint16_t **ptrs[] = {&h->attn_xn, &h->q,     &h->k,         &h->v,        &h->att,
                       &h->att_out, &h->mlp_xn, &h->swiglu,   &h->final_xn, &h->d_logits,
                       &h->d_resid, &h->d_att_out, &h->d_q,   &h->d_k,      &h->d_v,
                       &h->d_att,   &h->d_gate, &h->d_up};
  size_t sizes[] = {L * BT * C, L * BT * d.QD, L * BT * d.QD, L * BT * d.QD, L * att,
                    L * BT * d.QD, L * BT * C, L * BT * F, BT * C, BT * d.V,
                    BT * C, BT * d.QD, BT * d.QD, BT * d.QD, BT * d.QD,
                    att, BT * F, BT * F};
  m->acts_bf16_memory = carve16(ptrs, sizes, (int)(sizeof sizes / sizeof sizes[0]));
}

void llama_set_compute(llama_model *m, int mode) {
  if (mode == m->compute) return;
  m->compute = mode;
  free(m->params_bf16);
  m->params_bf16 = NULL;
  if (mode == LLAMA_COMPUTE_BF16)
    m->params_bf16 = lethe_alloc_aligned(m->n_params * sizeof(uint16_t));
  m->B_max = m->T_max = 0; /* the next forward reallocates the activations */
}

int llama_compute_from_name(const char *name, int *mode, lethe_err *err) {
  int bf16 = tensor_backend_get()->bf16;
  if (!strcmp(name, "auto")) *mode = bf16 ? LLAMA_COMPUTE_BF16 : LLAMA_COMPUTE_F32;
  else if (!strcmp(name, "f32")) *mode = LLAMA_COMPUTE_F32;
  else if (!strcmp(name, "bf16")) *mode = LLAMA_COMPUTE_BF16;
  else return lethe_errf(err, LETHE_E_CONFIG, "compute must be \"auto\", \"f32\" or \"bf16\", not \"%s\"", name);
  if (*mode == LLAMA_COMPUTE_BF16 && !bf16) {
    char machine[512];
    tensor_backend_describe(machine, sizeof machine);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "compute = \"bf16\" needs native bfloat16 matmuls (AVX512_BF16 or AMX), which "
                      "this machine does not have (%s); use compute = \"auto\" (bf16 where the CPU "
                      "has it, f32 elsewhere) or \"f32\"",
                      machine);
  }
  return 0;
}

const char *llama_compute_name(int mode) { return mode == LLAMA_COMPUTE_BF16 ? "bf16" : "f32"; }

void llama_reserve(llama_model *m, int B, int T) {
  if (B <= m->B_max && T <= m->T_max) return;
  if (B < m->B_max) B = m->B_max;
  if (T < m->T_max) T = m->T_max;
  free(m->acts_memory);
  free(m->scratch_memory);
  free(m->rope_cos);
  free(m->rope_sin);
  free(m->acts_bf16_memory);
  m->acts_bf16_memory = NULL;
  memset(&m->acts_bf16, 0, sizeof m->acts_bf16);
  dims d = dims_of(&m->cfg);
  size_t L = (size_t)d.L, BT = (size_t)B * T, C = (size_t)d.C, F = (size_t)d.F;
  size_t att = (size_t)B * d.NH * T * T;
  llama_acts *a = &m->acts;
  float **act_ptrs[] = {&a->resid, &a->attn_xn, &a->attn_rstd, &a->q, &a->k, &a->v,
                        &a->att, &a->att_out, &a->resid_mid, &a->mlp_xn, &a->mlp_rstd,
                        &a->gate, &a->up, &a->swiglu, &a->final_xn, &a->final_rstd,
                        &a->logits};
  size_t act_sizes[] = {(L + 1) * BT * C, L * BT * C, L * BT, L * BT * d.QD, L * BT * d.KVD,
                        L * BT * d.KVD, L * att, L * BT * d.QD, L * BT * C, L * BT * C,
                        L * BT, L * BT * F, L * BT * F, L * BT * F, BT * C, BT,
                        BT * d.V};
  m->acts_memory = carve(act_ptrs, act_sizes, (int)(sizeof act_sizes / sizeof act_sizes[0]));
  llama_scratch *s = &m->scratch;
  float **scr_ptrs[] = {&s->d_resid, &s->d_xn, &s->d_q, &s->d_k, &s->d_v, &s->d_att_out,
                        &s->d_att, &s->d_gate, &s->d_up, &s->d_swiglu, &s->k_rep,
                        &s->v_rep, &s->dk_rep, &s->dv_rep};
  size_t scr_sizes[] = {BT * C, BT * C, BT * d.QD, BT * d.KVD, BT * d.KVD, BT * d.QD, att,
                        BT * F, BT * F, BT * F, BT * d.QD, BT * d.QD, BT * d.QD, BT * d.QD};
  m->scratch_memory = carve(scr_ptrs, scr_sizes, (int)(sizeof scr_sizes / sizeof scr_sizes[0]));
  if (m->compute == LLAMA_COMPUTE_BF16) reserve_bf16(m, B, T);
  int t_rope = T > m->cfg.max_position_embeddings ? T : m->cfg.max_position_embeddings;
  m->rope_cos = lethe_alloc_aligned((size_t)t_rope * d.HD / 2 * sizeof(float));
  m->rope_sin = lethe_alloc_aligned((size_t)t_rope * d.HD / 2 * sizeof(float));
  rope_tables(m->rope_cos, m->rope_sin, t_rope, d.HD, m->cfg.rope_theta);
  m->B_max = B;
  m->T_max = T;
}

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
  if (bf16(m))
    tensor_linear_backward_weights_typed(dw, dy.h, x.h, TENSOR_BF16, M, K, N);
  else
    tensor_linear_backward_weights(dw, dy.f, x.f, M, K, N);
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
  attention_softmax_blocked(io->att_f, io->att_h, m->attn_mask, B, H, T, ATT_BLOCK);
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
  m->B = B;
  m->T = T;
  m->tokens = tokens;
  m->attn_mask = attn_mask;
  llama_params *p = &m->params;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  float eps = (float)m->cfg.rms_norm_eps;
  int half = bf16(m);
  double t = m->profile ? lethe_now() : 0.0;

  if (half) {
    tensor_to_bf16(m->params_bf16, m->params_memory, (int64_t)m->n_params);
    lap(m, 0, LLAMA_PART_CONVERT, &t);
  }
  embedding_forward(a->resid, p->embed, tokens, BT, d.C); /* (B,T,C) */
  lap(m, 0, LLAMA_PART_EMBED, &t);
  for (int l = 0; l < d.L; l++) {
    float *x = a->resid + l * BT * d.C, *x_mid = a->resid_mid + l * BT * d.C;
    float *xn = a->attn_xn + l * BT * d.C, *q = a->q + l * BT * d.QD;
    float *k = a->k + l * BT * d.KVD, *v = a->v + l * BT * d.KVD;
    float *att_out = a->att_out + l * BT * d.QD;
    uint16_t *xn16 = half ? h->attn_xn + l * BT * d.C : NULL;
    uint16_t *att_out16 = half ? h->att_out + l * BT * d.QD : NULL;
    if (half)
      rmsnorm_forward_bf16(xn16, a->attn_rstd + l * BT, x, p->attn_norm + l * d.C, BT, d.C, eps);
    else
      rmsnorm_forward(xn, a->attn_rstd + l * BT, x, p->attn_norm + l * d.C, BT, d.C, eps);
    lap(m, 0, LLAMA_PART_NORM, &t);
    lin_fwd(m, q, in2(xn, xn16), p->wq + (int64_t)l * d.QD * d.C, BT, d.C, d.QD, 0);
    lin_fwd(m, k, in2(xn, xn16), p->wk + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
    lin_fwd(m, v, in2(xn, xn16), p->wv + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
    lap(m, 0, LLAMA_PART_QKV, &t);
    rope_apply(q, m->rope_cos, m->rope_sin, B, T, d.NH, d.HD, NULL, 0);
    rope_apply(k, m->rope_cos, m->rope_sin, B, T, d.NKV, d.HD, NULL, 0);
    lap(m, 0, LLAMA_PART_ROPE, &t);
    attn_io io = layer_attention(m, l, 1, &t, 0);
    if (half) {
      tensor_to_bf16((uint16_t *)io.q.h, q, BT * d.QD);
      tensor_to_bf16((uint16_t *)io.k.h, io.k.f, BT * d.QD);
      tensor_to_bf16((uint16_t *)io.v.h, io.v.f, BT * d.QD);
      lap(m, 0, LLAMA_PART_CONVERT, &t);
    }
    attention_forward(m, att_out, &io, &t);
    to_half(m, att_out16, att_out, BT * d.QD);
    lap(m, 0, LLAMA_PART_CONVERT, &t);
    memcpy(x_mid, x, sizeof(float) * BT * d.C);
    lap(m, 0, LLAMA_PART_COPY, &t);
    lin_fwd(m, x_mid, in2(att_out, att_out16), p->wo + (int64_t)l * d.C * d.QD, BT, d.QD, d.C,
            1);
    lap(m, 0, LLAMA_PART_WO, &t);

    float *mxn = a->mlp_xn + l * BT * d.C, *gate = a->gate + l * BT * d.F;
    float *up = a->up + l * BT * d.F, *sw = a->swiglu + l * BT * d.F;
    float *x_next = a->resid + (l + 1) * BT * d.C;
    uint16_t *mxn16 = half ? h->mlp_xn + l * BT * d.C : NULL;
    uint16_t *sw16 = half ? h->swiglu + l * BT * d.F : NULL;
    if (half)
      rmsnorm_forward_bf16(mxn16, a->mlp_rstd + l * BT, x_mid, p->mlp_norm + l * d.C, BT, d.C,
                           eps);
    else
      rmsnorm_forward(mxn, a->mlp_rstd + l * BT, x_mid, p->mlp_norm + l * d.C, BT, d.C, eps);
    lap(m, 0, LLAMA_PART_NORM, &t);
    lin_fwd(m, gate, in2(mxn, mxn16), p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    lin_fwd(m, up, in2(mxn, mxn16), p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    lap(m, 0, LLAMA_PART_GATE_UP, &t);
    if (half)
      swiglu_forward_bf16(sw16, gate, up, BT * d.F);
    else
      swiglu_forward(sw, gate, up, BT * d.F);
    lap(m, 0, LLAMA_PART_SWIGLU, &t);
    memcpy(x_next, x_mid, sizeof(float) * BT * d.C);
    lap(m, 0, LLAMA_PART_COPY, &t);
    lin_fwd(m, x_next, in2(sw, sw16), p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 1);
    lap(m, 0, LLAMA_PART_DOWN, &t);
  }
  float *x_last = a->resid + d.L * BT * d.C;
  if (half)
    rmsnorm_forward_bf16(h->final_xn, a->final_rstd, x_last, p->final_norm, BT, d.C, eps);
  else
    rmsnorm_forward(a->final_xn, a->final_rstd, x_last, p->final_norm, BT, d.C, eps);
  lap(m, 0, LLAMA_PART_NORM, &t);
  lin_fwd(m, a->logits, in2(a->final_xn, h->final_xn), p->lm_head, BT, d.C, d.V, 0);
  lap(m, 0, LLAMA_PART_HEAD, &t);
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

void llama_backward(llama_model *m) {
  dims d = dims_of(&m->cfg);
  int B = m->B, T = m->T;
  int64_t BT = (int64_t)B * T;
  llama_params *p = &m->params, *g = &m->grads;
  llama_acts *a = &m->acts;
  llama_acts_bf16 *h = &m->acts_bf16;
  llama_scratch *s = &m->scratch;
  int half = bf16(m), gqa = d.NKV != d.NH;
  double t = m->profile ? lethe_now() : 0.0;
  operand d_resid = in2(s->d_resid, h->d_resid);

  /* head and final norm: d_resid = ∂L/∂resid[L] */
  to_half(m, h->d_logits, a->logits, BT * d.V);
  lap(m, 1, LLAMA_PART_CONVERT, &t);
  operand dlogits = in2(a->logits, h->d_logits);
  lin_dx(m, s->d_xn, dlogits, p->lm_head, BT, d.C, d.V, 0);
  lin_dw(m, g->lm_head, dlogits, in2(a->final_xn, h->final_xn), BT, d.C, d.V);
  lap(m, 1, LLAMA_PART_HEAD, &t);
  memset(s->d_resid, 0, sizeof(float) * BT * d.C);
  rmsnorm_backward(s->d_resid, g->final_norm, s->d_xn, a->resid + d.L * BT * d.C,
                   p->final_norm, a->final_rstd, BT, d.C);
  lap(m, 1, LLAMA_PART_NORM, &t);

  for (int l = d.L - 1; l >= 0; l--) {
    /* MLP: resid[l+1] = x_mid + swiglu·Wdᵀ */
    float *x_mid = a->resid_mid + l * BT * d.C;
    float *gate = a->gate + l * BT * d.F, *up = a->up + l * BT * d.F;
    operand mxn = in2(a->mlp_xn + l * BT * d.C, half ? h->mlp_xn + l * BT * d.C : NULL);
    operand sw = in2(a->swiglu + l * BT * d.F, half ? h->swiglu + l * BT * d.F : NULL);
    to_half(m, h->d_resid, s->d_resid, BT * d.C);
    lap(m, 1, LLAMA_PART_CONVERT, &t);
    lin_dx(m, s->d_swiglu, d_resid, p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 0);
    lin_dw(m, g->w_down + (int64_t)l * d.C * d.F, d_resid, sw, BT, d.F, d.C);
    lap(m, 1, LLAMA_PART_DOWN, &t);
    if (half)
      swiglu_backward_bf16(h->d_gate, h->d_up, s->d_swiglu, gate, up, BT * d.F);
    else
      swiglu_backward(s->d_gate, s->d_up, s->d_swiglu, gate, up, BT * d.F);
    lap(m, 1, LLAMA_PART_SWIGLU, &t);
    operand d_gate = in2(s->d_gate, h->d_gate), d_up = in2(s->d_up, h->d_up);
    lin_dx(m, s->d_xn, d_gate, p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    lin_dx(m, s->d_xn, d_up, p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, 1);
    lin_dw(m, g->w_gate + (int64_t)l * d.F * d.C, d_gate, mxn, BT, d.C, d.F);
    lin_dw(m, g->w_up + (int64_t)l * d.F * d.C, d_up, mxn, BT, d.C, d.F);
    lap(m, 1, LLAMA_PART_GATE_UP, &t);
    rmsnorm_backward(s->d_resid, g->mlp_norm + l * d.C, s->d_xn, x_mid, p->mlp_norm + l * d.C,
                     a->mlp_rstd + l * BT, BT, d.C);
    lap(m, 1, LLAMA_PART_NORM, &t);

    /* attention: x_mid = resid[l] + att_out·Woᵀ */
    float *x = a->resid + l * BT * d.C;
    operand xn = in2(a->attn_xn + l * BT * d.C, half ? h->attn_xn + l * BT * d.C : NULL);
    operand att_out = in2(a->att_out + l * BT * d.QD, half ? h->att_out + l * BT * d.QD : NULL);
    to_half(m, h->d_resid, s->d_resid, BT * d.C);
    lap(m, 1, LLAMA_PART_CONVERT, &t);
    lin_dx(m, s->d_att_out, d_resid, p->wo + (int64_t)l * d.C * d.QD, BT, d.QD, d.C, 0);
    lin_dw(m, g->wo + (int64_t)l * d.C * d.QD, d_resid, att_out, BT, d.QD, d.C);
    lap(m, 1, LLAMA_PART_WO, &t);
    to_half(m, h->d_att_out, s->d_att_out, BT * d.QD);
    lap(m, 1, LLAMA_PART_CONVERT, &t);
    attn_io io = layer_attention(m, l, !half, &t, 1);
    float *dkr = gqa ? s->dk_rep : s->d_k, *dvr = gqa ? s->dv_rep : s->d_v;
    attention_backward(m, s->d_q, dkr, dvr, s->d_att, h->d_att, in2(s->d_att_out, h->d_att_out),
                       &io, &t);
    if (gqa) {
      gqa_reduce(s->d_k, s->dk_rep, BT, d.NH, d.NKV, d.HD);
      gqa_reduce(s->d_v, s->dv_rep, BT, d.NH, d.NKV, d.HD);
      lap(m, 1, LLAMA_PART_COPY, &t);
    }
    rope_apply(s->d_q, m->rope_cos, m->rope_sin, B, T, d.NH, d.HD, NULL, 1);
    rope_apply(s->d_k, m->rope_cos, m->rope_sin, B, T, d.NKV, d.HD, NULL, 1);
    lap(m, 1, LLAMA_PART_ROPE, &t);
    to_half(m, h->d_q, s->d_q, BT * d.QD);
    to_half(m, h->d_k, s->d_k, BT * d.KVD);
    to_half(m, h->d_v, s->d_v, BT * d.KVD);
    lap(m, 1, LLAMA_PART_CONVERT, &t);
    operand dq = in2(s->d_q, h->d_q), dk = in2(s->d_k, h->d_k), dv = in2(s->d_v, h->d_v);
    lin_dx(m, s->d_xn, dq, p->wq + (int64_t)l * d.QD * d.C, BT, d.C, d.QD, 0);
    lin_dx(m, s->d_xn, dk, p->wk + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 1);
    lin_dx(m, s->d_xn, dv, p->wv + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 1);
    lin_dw(m, g->wq + (int64_t)l * d.QD * d.C, dq, xn, BT, d.C, d.QD);
    lin_dw(m, g->wk + (int64_t)l * d.KVD * d.C, dk, xn, BT, d.C, d.KVD);
    lin_dw(m, g->wv + (int64_t)l * d.KVD * d.C, dv, xn, BT, d.C, d.KVD);
    lap(m, 1, LLAMA_PART_QKV, &t);
    rmsnorm_backward(s->d_resid, g->attn_norm + l * d.C, s->d_xn, x, p->attn_norm + l * d.C,
                     a->attn_rstd + l * BT, BT, d.C);
    lap(m, 1, LLAMA_PART_NORM, &t);
  }
  embedding_backward(g->embed, s->d_resid, m->tokens, BT, d.C);
  lap(m, 1, LLAMA_PART_EMBED, &t);
}
