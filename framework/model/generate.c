/* generate — KV-cache inference and greedy decoding (see generate.h). */
#include "model/generate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/llama_ops.h"
#include "model/lora.h"
#include "tensor/tensor.h"

void llama_kv_init(llama_kv_cache *c, const llama_model *m, int B, int S_cap, int n_cap) {
  const llama_config *cf = &m->cfg;
  memset(c, 0, sizeof *c);
  size_t L = (size_t)cf->num_hidden_layers, C = (size_t)cf->hidden_size;
  size_t QD = (size_t)cf->num_attention_heads * cf->head_dim;
  size_t KVD = (size_t)cf->num_key_value_heads * cf->head_dim, F = (size_t)cf->intermediate_size;
  size_t BN = (size_t)B * n_cap;
  c->B = c->B_alloc = B;
  c->S_cap = S_cap;
  c->n_cap = n_cap;
  c->k = lethe_alloc_aligned(L * B * S_cap * KVD * sizeof(float));
  c->v = lethe_alloc_aligned(L * B * S_cap * KVD * sizeof(float));
  c->valid = lethe_calloc((size_t)B * S_cap, sizeof *c->valid);
  c->next_pos = lethe_calloc((size_t)B, sizeof *c->next_pos);
  c->slot_pos = lethe_calloc((size_t)B * S_cap, sizeof *c->slot_pos);
  c->pos = lethe_calloc(BN, sizeof *c->pos);
  c->rows = lethe_calloc(BN, sizeof *c->rows);
  c->inv = lethe_calloc(BN, sizeof *c->inv);
  c->ctok = lethe_calloc(BN, sizeof *c->ctok);
  c->cpos = lethe_calloc(BN, sizeof *c->cpos);
  c->x = lethe_alloc_aligned(BN * C * sizeof(float));
  c->xn = lethe_alloc_aligned(BN * C * sizeof(float));
  c->q = lethe_alloc_aligned(BN * QD * sizeof(float));
  c->k_new = lethe_alloc_aligned(BN * KVD * sizeof(float));
  c->v_new = lethe_alloc_aligned(BN * KVD * sizeof(float));
  c->att_out = lethe_alloc_aligned(BN * QD * sizeof(float));
  size_t gate_width = F > (size_t)cf->num_attention_heads ? F : (size_t)cf->num_attention_heads;
  c->gate = lethe_alloc_aligned(BN * gate_width * sizeof(float)); /* also norms' 1/rms */
  c->up = lethe_alloc_aligned(BN * F * sizeof(float));
  c->scores = lethe_alloc_aligned(BN * cf->num_key_value_heads * S_cap * sizeof(float));
  c->logits = lethe_alloc_aligned((size_t)B * cf->vocab_size * sizeof(float)); /* last slot only */
  size_t half = (size_t)cf->rotary_dim / 2;
  c->branch_len = -1;
  c->rope_cos = lethe_alloc_aligned((size_t)S_cap * half * sizeof(float));
  c->rope_sin = lethe_alloc_aligned((size_t)S_cap * half * sizeof(float));
  llama_rope_tables(cf, c->rope_cos, c->rope_sin, S_cap);
  if (m->compute == LLAMA_COMPUTE_BF16) {
    size_t widest = C > QD ? C : QD;
    widest = widest > F ? widest : F;
    c->w16 = m->params_bf16; /* the model's own copy, rounded again per new sequence */
    c->in16 = lethe_alloc_aligned(BN * widest * sizeof(uint16_t));
  }
}

void llama_kv_free(llama_kv_cache *c) {
  void *ptrs[] = {c->k, c->v, c->valid, c->next_pos, c->slot_pos, c->pos, c->x, c->xn, c->q, c->k_new,
                  c->v_new, c->att_out, c->gate, c->up, c->scores, c->logits, c->rope_cos,
                  c->rope_sin, c->in16, c->saved_valid, c->saved_pos, c->rows, c->inv, c->ctok, c->cpos};
  for (size_t i = 0; i < sizeof ptrs / sizeof ptrs[0]; i++) free(ptrs[i]);
  memset(c, 0, sizeof *c);
}

void llama_kv_ensure(llama_kv_cache *c, const llama_model *m, int B, int S_cap, int n_cap) {
  if (!c->k || B > c->B_alloc || S_cap > c->S_cap || n_cap > c->n_cap ||
      c->w16 != m->params_bf16) { /* another precision (or copy) than at llama_kv_init */
    int nb = B > c->B_alloc ? B : c->B_alloc, ns = S_cap > c->S_cap ? S_cap : c->S_cap;
    int nn = n_cap > c->n_cap ? n_cap : c->n_cap;
    llama_kv_free(c);
    llama_kv_init(c, m, nb, ns, nn);
  }
  c->B = B;
  llama_kv_reset(c);
}

void llama_kv_reset(llama_kv_cache *c) {
  c->len = 0;
  c->branch_len = -1;
  c->clean = 0;
  memset(c->valid, 0, sizeof(int32_t) * c->B_alloc * c->S_cap);
  memset(c->next_pos, 0, sizeof(int32_t) * c->B);
}

/* The real slots of a step run as a multiple of this many rows (fewer
 * distinct matmul shapes, so fewer oneDNN primitives to create). */
#define M_ROUND 8

/* Keys are read in whole blocks of this many slots (the softmax gives the
 * slots past the filled ones weight 0), so the matmul shapes, and with them
 * the oneDNN primitives, change only every KEY_BLOCK generated tokens. */
#define KEY_BLOCK 64

/* Slots of every row the attention reads: the filled ones rounded up to a
 * whole key block. */
static int key_span(const llama_kv_cache *c) {
  int keys = (c->len + KEY_BLOCK - 1) / KEY_BLOCK * KEY_BLOCK;
  return keys < c->S_cap ? keys : c->S_cap;
}

/* Zeroes the V slots past the filled ones that the attention will read (they
 * get weight 0, but may hold another sequence's values, NaN included). */
static void clean_values(llama_kv_cache *c, int layers, int64_t kvd) {
  int keys = key_span(c), from = c->len > c->clean ? c->len : c->clean;
  if (keys <= from) return;
  for (int64_t r = 0; r < (int64_t)layers * c->B; r++)
    memset(c->v + (r * c->S_cap + from) * kvd, 0, sizeof(float) * (keys - from) * kvd);
  c->clean = keys;
}

/* Attention of the n new slots of every row over all filled slots, with
 * oneDNN matmuls: for each of the G query heads that share a kv head,
 * scores (B, NKV, n, keys) = scale·Q·Kᵀ straight from the cache, a masked
 * softmax per query row (with a sliding window: only the real slots whose
 * positions are within the window of the query's), then out = P·V. */
static void attend(const llama_model *m, llama_kv_cache *c, int layer, int n) {
  const llama_config *cf = &m->cfg;
  int NH = cf->num_attention_heads, NKV = cf->num_key_value_heads, HD = cf->head_dim;
  int G = NH / NKV, B = c->B, S = c->S_cap, slot0 = c->len - n, keys = key_span(c);
  int window = cf->sliding_window;
  int64_t KVD = (int64_t)NKV * HD, QD = (int64_t)NH * HD;
  float scale = 1.0f / sqrtf((float)HD);
  const float *kl = c->k + (int64_t)layer * B * S * KVD, *vl = c->v + (int64_t)layer * B * S * KVD;
  /* queries of head kvh·G + g: (B, NKV, n, HD); cache: (B, NKV, slots, HD) */
  tensor_view qv = {4, {B, NKV, n, HD}, {n * QD, (int64_t)G * HD, QD, 1}};
  tensor_view kv = {4, {B, NKV, keys, HD}, {S * KVD, HD, KVD, 1}};
  tensor_view sv = {4, {B, NKV, n, keys}, {(int64_t)NKV * n * keys, (int64_t)n * keys, keys, 1}};
  int64_t rows = (int64_t)B * NKV * n;
  for (int g = 0; g < G; g++) {
    tensor_matmul(c->scores, sv, c->q + g * HD, qv, kl, tensor_transposed(kv), scale, 0);
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
      int b = (int)(r / ((int64_t)NKV * n)), i = (int)(r % n);
      float *row = c->scores + r * keys;
      int seen = slot0 + i + 1, first = 0; /* slots this query sees: [first, seen) */
      const int32_t *valid = c->valid + (int64_t)b * S;
      if (window > 0) { /* real slots at positions > the query's − window */
        const int32_t *pos = c->slot_pos + (int64_t)b * S;
        int oldest = c->pos[(int64_t)b * n + i] - window;
        while (first < seen && (!valid[first] || pos[first] <= oldest)) first++;
        memset(row, 0, sizeof(float) * first);
      }
      softmax_masked_row(row + first, valid + first, seen - first);
      memset(row + seen, 0, sizeof(float) * (keys - seen));
    }
    tensor_matmul(c->att_out + g * HD, qv, c->scores, sv, vl, kv, 1.0f, 0);
  }
}

/* A matmul input in the cache's precision: x itself, or x rounded into in16. */
static const void *mm_input(llama_kv_cache *c, const float *x, int64_t n) {
  if (!c->w16) return x;
  tensor_to_bf16(c->in16, x, n);
  return c->in16;
}

/* y (M,N) (+)= x·Wᵀ with x from mm_input and w a parameter tensor: module
 * mod (LORA_*, -1 for the head) of layer l, plus an attached adapter's
 * branch (model/lora.h). */
static void kv_linear(const llama_model *m, const llama_kv_cache *c, float *y, const void *x,
                      const float *w, int64_t M, int64_t K, int64_t N, int accumulate, int l,
                      int mod) {
  operand in = in2(c->w16 ? NULL : x, c->w16 ? x : NULL);
  llama_linear_forward(m, c->w16 != NULL, y, in, c->w16, w, M, K, N, accumulate);
  if (m->lora && mod >= 0) {
    lora_reserve(m->lora, M);
    lora_forward(m->lora, l, mod, y, c->w16 ? NULL : x, c->w16 ? x : NULL, M);
  }
}

/* Offset in c->k / c->v of layer l's slot for new token r = b·n + i of a
 * step of n tokens starting at slot slot0. */
static int64_t slot_offset(const llama_kv_cache *c, int l, int64_t r, int n, int slot0,
                           int64_t kvd) {
  return (((int64_t)l * c->B + r / n) * c->S_cap + slot0 + r % n) * kvd;
}

/* y (Mr, N) += bias (N) when the model has that bias. */
static void kv_bias(float *y, const float *bias, int64_t Mr, int n) {
  if (bias) bias_forward(y, bias, Mr, n);
}

/* The model's norm of x (Mr, C) into out: RMSNorm, or phi's LayerNorm with
 * bias; c->gate holds the 1/rms scratch. */
static void kv_norm(const llama_model *m, llama_kv_cache *c, float *out, const float *x,
                    const float *w, const float *b, int64_t Mr) {
  const llama_config *cf = &m->cfg;
  if (llama_config_is_phi(cf))
    layernorm_forward(out, c->gate, x, w, b, Mr, cf->hidden_size, (float)cf->rms_norm_eps);
  else
    rmsnorm_forward(out, c->gate, x, w, Mr, cf->hidden_size, (float)cf->rms_norm_eps);
}

/* Rotary on x (Mr, heads, HD) at the compact rows' positions. */
static void kv_rope(const llama_model *m, const llama_kv_cache *c, float *x, int64_t Mr,
                    int heads) {
  const llama_config *cf = &m->cfg;
  if (cf->rotary_dim == cf->head_dim)
    rope_apply(x, c->rope_cos, c->rope_sin, 1, (int)Mr, heads, cf->head_dim, c->cpos, 0);
  else
    rope_apply_partial(x, c->rope_cos, c->rope_sin, 1, (int)Mr, heads, cf->head_dim,
                       cf->rotary_dim, c->cpos, 0);
}

/* q (into qc), and this step's k, v (into the cache) of layer l. */
static void kv_qkv(const llama_model *m, llama_kv_cache *c, int l, float *qc, int64_t M,
                   int64_t Mr, int n, int slot0) {
  const llama_config *cf = &m->cfg;
  const llama_params *p = &m->params;
  int C = cf->hidden_size, NH = cf->num_attention_heads, NKV = cf->num_key_value_heads;
  int HD = cf->head_dim;
  int64_t QD = (int64_t)NH * HD, KVD = (int64_t)NKV * HD;
  const void *in = mm_input(c, c->xn, Mr * C);
  kv_linear(m, c, qc, in, p->wq + (int64_t)l * QD * C, Mr, C, QD, 0, l, LORA_Q);
  kv_linear(m, c, c->k_new, in, p->wk + (int64_t)l * KVD * C, Mr, C, KVD, 0, l, LORA_K);
  kv_linear(m, c, c->v_new, in, p->wv + (int64_t)l * KVD * C, Mr, C, KVD, 0, l, LORA_V);
  if (p->bq) {
    bias_forward(qc, p->bq + (int64_t)l * QD, Mr, (int)QD);
    bias_forward(c->k_new, p->bk + (int64_t)l * KVD, Mr, (int)KVD);
    bias_forward(c->v_new, p->bv + (int64_t)l * KVD, Mr, (int)KVD);
  }
  if (cf->qk_norm) { /* in place, per head */
    float eps = (float)cf->rms_norm_eps;
    rmsnorm_forward(qc, c->gate, qc, p->q_norm + (int64_t)l * HD, Mr * NH, HD, eps);
    rmsnorm_forward(c->k_new, c->gate, c->k_new, p->k_norm + (int64_t)l * HD, Mr * NKV, HD, eps);
  }
  kv_rope(m, c, qc, Mr, NH);
  kv_rope(m, c, c->k_new, Mr, NKV);
  for (int64_t j = 0; j < M; j++) {
    int64_t at = slot_offset(c, l, c->rows[j], n, slot0, KVD);
    memcpy(c->k + at, c->k_new + j * KVD, sizeof(float) * KVD);
    memcpy(c->v + at, c->v_new + j * KVD, sizeof(float) * KVD);
  }
}

/* The MLP of layer l on the Mr compact rows, added into c->x. phi reads the
 * attention's input norm (still in c->xn): fc2(gelu(fc1)). */
static void kv_mlp(const llama_model *m, llama_kv_cache *c, int l, int64_t Mr) {
  const llama_config *cf = &m->cfg;
  const llama_params *p = &m->params;
  int C = cf->hidden_size, F = cf->intermediate_size, phi = llama_config_is_phi(cf);
  if (!phi) kv_norm(m, c, c->xn, c->x, p->mlp_norm + (int64_t)l * C, NULL, Mr);
  const void *in = mm_input(c, c->xn, Mr * C);
  kv_linear(m, c, c->up, in, p->w_up + (int64_t)l * F * C, Mr, C, F, 0, l, LORA_UP);
  kv_bias(c->up, p->b_up ? p->b_up + (int64_t)l * F : NULL, Mr, F);
  if (phi) {
    gelu_forward(c->up, c->up, Mr * F);
  } else {
    kv_linear(m, c, c->gate, in, p->w_gate + (int64_t)l * F * C, Mr, C, F, 0, l,
              LORA_GATE);
    kv_bias(c->gate, p->b_gate ? p->b_gate + (int64_t)l * F : NULL, Mr, F);
    swiglu_forward(c->up, c->gate, c->up, Mr * F);
  }
  kv_linear(m, c, c->x, mm_input(c, c->up, Mr * F), p->w_down + (int64_t)l * C * F, Mr, F, C, 1,
            l, LORA_DOWN);
  kv_bias(c->x, p->b_down ? p->b_down + (int64_t)l * C : NULL, Mr, C);
}

/* Layer l on this step's M real slots (Mr compact rows); the attention
 * works on the (B, n) layout, padding slots getting zero K/V. */
static void kv_layer(const llama_model *m, llama_kv_cache *c, int l, int64_t M, int64_t Mr,
                     int n, int slot0) {
  const llama_config *cf = &m->cfg;
  const llama_params *p = &m->params;
  int C = cf->hidden_size;
  int64_t QD = (int64_t)cf->num_attention_heads * cf->head_dim;
  int64_t KVD = (int64_t)cf->num_key_value_heads * cf->head_dim, BN = (int64_t)c->B * n;
  int dense = M == BN;
  for (int64_t r = 0; !dense && r < BN; r++) /* padding slots: zero keys and values */
    if (c->inv[r] < 0) {
      int64_t at = slot_offset(c, l, r, n, slot0, KVD);
      memset(c->k + at, 0, sizeof(float) * KVD);
      memset(c->v + at, 0, sizeof(float) * KVD);
    }
  if (M == 0) return;
  float *qc = dense ? c->q : c->att_out; /* compact queries before the scatter */
  kv_norm(m, c, c->xn, c->x, p->attn_norm + (int64_t)l * C,
          p->attn_norm_bias ? p->attn_norm_bias + (int64_t)l * C : NULL, Mr);
  kv_qkv(m, c, l, qc, M, Mr, n, slot0);
  if (!dense) { /* queries to the (B, n) layout */
    for (int64_t r = 0; r < BN; r++)
      if (c->inv[r] < 0) memset(c->q + r * QD, 0, sizeof(float) * QD);
    for (int64_t j = 0; j < M; j++)
      memcpy(c->q + (int64_t)c->rows[j] * QD, qc + j * QD, sizeof(float) * QD);
  }
  attend(m, c, l, n);
  for (int64_t j = 0; !dense && j < M; j++) /* back to compact rows (rows[j] >= j) */
    if (c->rows[j] != j)
      memcpy(c->att_out + j * QD, c->att_out + (int64_t)c->rows[j] * QD, sizeof(float) * QD);
  kv_linear(m, c, c->x, mm_input(c, c->att_out, Mr * QD), p->wo + (int64_t)l * C * QD, Mr, QD,
            C, 1, l, LORA_O);
  kv_bias(c->x, p->bo ? p->bo + (int64_t)l * C : NULL, Mr, C);
  kv_mlp(m, c, l, Mr);
}

/* Final norm and head (+ bias) on rows rows of x into logits. */
static void kv_head(const llama_model *m, llama_kv_cache *c, float *logits, float *out,
                    const float *x, int64_t rows) {
  const llama_params *p = &m->params;
  int C = m->cfg.hidden_size, V = m->cfg.vocab_size;
  kv_norm(m, c, out, x, p->final_norm, p->final_norm_bias, rows);
  kv_linear(m, c, logits, mm_input(c, out, rows * C), p->lm_head, rows, C, V, 0, -1, -1);
  kv_bias(logits, p->lm_head_bias, rows, V);
}

/* Appends n slots per row and runs the layers; the head runs on each row's
 * last new slot into c->logits, or, when all_logits is non-NULL, on every
 * new slot into all_logits (B, n, V). */
static int kv_forward(const llama_model *m, llama_kv_cache *c, const int32_t *tokens,
                      const int32_t *valid, int n, float *all_logits, lethe_err *err) {
  const llama_config *cf = &m->cfg;
  int B = c->B, C = cf->hidden_size, V = cf->vocab_size;
  int64_t KVD = (int64_t)cf->num_key_value_heads * cf->head_dim, BN = (int64_t)B * n;
  if (n < 1 || n > c->n_cap || c->len + n > c->S_cap)
    return lethe_errf(err, LETHE_E_USAGE, "KV cache full: %d + %d slots exceed %d (or step %d > %d)",
                      c->len, n, c->S_cap, n, c->n_cap);
  for (int64_t i = 0; i < BN; i++)
    if (tokens[i] < 0 || tokens[i] >= V)
      return lethe_errf(err, LETHE_E_FORMAT, "token id %d outside the vocabulary [0, %d)",
                        tokens[i], V);
  for (int b = 0; b < B; b++)
    for (int i = 0; i < n; i++) {
      int real = valid ? valid[b * n + i] != 0 : 1;
      c->valid[(int64_t)b * c->S_cap + c->len + i] = real;
      c->pos[b * n + i] = real ? c->next_pos[b]++ : 0;
      c->slot_pos[(int64_t)b * c->S_cap + c->len + i] = c->pos[b * n + i];
    }
  if (c->w16 && c->len == 0) /* a new sequence: see the current weights */
    llama_round_params(m, c->w16);
  c->len += n;
  clean_values(c, cf->num_hidden_layers, KVD);
  int S = c->S_cap, slot0 = c->len - n;
  /* Only the real new slots go through the linear layers and the MLP, as
   * M compact rows (padding and finished rows cost nothing there). */
  int64_t M = 0;
  for (int64_t r = 0; r < BN; r++) {
    int b = (int)(r / n), i = (int)(r % n);
    c->inv[r] = -1;
    if (!c->valid[(int64_t)b * S + slot0 + i]) continue;
    c->rows[M] = (int32_t)r, c->ctok[M] = tokens[r], c->cpos[M] = c->pos[r];
    c->inv[r] = (int32_t)M++;
  }
  int dense = M == BN;
  int64_t Mr = M; /* M rounded up (within BN) so that few matmul shapes occur */
  if (!dense && M > 0) {
    Mr = (M + M_ROUND - 1) / M_ROUND * M_ROUND;
    if (Mr > BN) Mr = BN;
    for (int64_t j = M; j < Mr; j++) c->ctok[j] = 0, c->cpos[j] = 0; /* rows computed, unused */
  }
  if (M > 0) llama_embed_rows(m, c->x, c->ctok, Mr);
  for (int l = 0; l < cf->num_hidden_layers; l++) kv_layer(m, c, l, M, Mr, n, slot0);
  if (all_logits) { /* final norm and head on every real new slot */
    if (M == 0) return 0;
    kv_head(m, c, all_logits, c->xn, c->x, Mr);
    for (int64_t j = M - 1; !dense && j >= 0; j--) /* to (B, n) rows; padding rows unspecified */
      if (c->rows[j] != j)
        memcpy(all_logits + (int64_t)c->rows[j] * V, all_logits + j * V, sizeof(float) * V);
    return 0;
  }
  /* final norm and head on each row's last new slot only (zeros for a
   * padding slot: its logits are not used) */
  for (int b = 0; b < B; b++) {
    int32_t j = c->inv[(int64_t)b * n + n - 1];
    if (j >= 0) memmove(c->xn + (int64_t)b * C, c->x + (int64_t)j * C, sizeof(float) * C);
    else memset(c->xn + (int64_t)b * C, 0, sizeof(float) * C);
  }
  kv_head(m, c, c->logits, c->x, c->xn, B);
  return 0;
}

int llama_kv_step(const llama_model *m, llama_kv_cache *c, const int32_t *tokens,
                  const int32_t *valid, int n, lethe_err *err) {
  return kv_forward(m, c, tokens, valid, n, NULL, err);
}

int llama_kv_step_all(const llama_model *m, llama_kv_cache *c, const int32_t *tokens,
                      const int32_t *valid, int n, float *logits, lethe_err *err) {
  return kv_forward(m, c, tokens, valid, n, logits, err);
}

/* Masks row b's filled slots from `from` (0 <= from <= len) on; its next
 * token then takes the position after its last real slot before `from`
 * (positions of a row's real slots are 0, 1, 2, ...). */
static void hide_slots(llama_kv_cache *c, int b, int from) {
  int32_t *row = c->valid + (int64_t)b * c->S_cap;
  int real = 0;
  for (int i = 0; i < from; i++) real += row[i] != 0;
  memset(row + from, 0, sizeof(int32_t) * (size_t)(c->len - from));
  c->next_pos[b] = real;
}

void llama_kv_branch(llama_kv_cache *c, const int *keep) {
  size_t cells = (size_t)c->B_alloc * c->S_cap;
  if (!c->saved_valid) {
    c->saved_valid = lethe_malloc(sizeof(int32_t) * cells);
    c->saved_pos = lethe_malloc(sizeof(int32_t) * (size_t)c->B_alloc);
  }
  memcpy(c->saved_valid, c->valid, sizeof(int32_t) * cells);
  memcpy(c->saved_pos, c->next_pos, sizeof(int32_t) * (size_t)c->B);
  c->branch_len = c->len;
  for (int b = 0; b < c->B; b++)
    hide_slots(c, b, keep[b] < 0 ? 0 : keep[b] > c->len ? c->len : keep[b]);
}

void llama_kv_unbranch(llama_kv_cache *c) {
  if (c->branch_len < 0) return;
  memcpy(c->valid, c->saved_valid, sizeof(int32_t) * (size_t)c->B_alloc * c->S_cap);
  memcpy(c->next_pos, c->saved_pos, sizeof(int32_t) * (size_t)c->B);
  if (c->len > c->branch_len) c->clean = c->branch_len; /* the branch's slots hold values */
  c->len = c->branch_len;
  c->branch_len = -1;
}

void llama_kv_rewind(llama_kv_cache *c, int len) {
  if (len < 0 || len >= c->len) return;
  for (int b = 0; b < c->B; b++) hide_slots(c, b, len);
  c->len = len;
  c->clean = len; /* the dropped slots still hold values */
}

static int argmax(const float *row, int v) {
  int best = 0;
  for (int j = 1; j < v; j++)
    if (row[j] > row[best]) best = j;
  return best;
}

int llama_generate_greedy(const llama_model *m, const int32_t *const *prompts, const int *lens,
                          int B, int max_new, int eos_id, int32_t *out, int *n_out,
                          lethe_err *err) {
  llama_kv_cache c;
  memset(&c, 0, sizeof c);
  int rc = llama_generate_greedy_kv(m, &c, prompts, lens, B, max_new, eos_id, out, n_out, err);
  llama_kv_free(&c);
  return rc;
}

int llama_kv_greedy(const llama_model *m, llama_kv_cache *c, int max_new, int eos_id, int32_t *out,
                    int *n_out, lethe_err *err) {
  int B = c->B, V = m->cfg.vocab_size, rc = 0;
  if (max_new > 0 && c->len + max_new - 1 > c->S_cap)
    return lethe_errf(err, LETHE_E_USAGE, "KV cache full: %d + %d slots exceed %d", c->len,
                      max_new - 1, c->S_cap);
  int32_t *tok = lethe_calloc((size_t)B, sizeof *tok), *valid = lethe_calloc((size_t)B, sizeof *valid);
  int *done = lethe_calloc((size_t)B, sizeof *done);
  for (int b = 0; b < B; b++) n_out[b] = 0;
  for (int s = 0; rc == 0 && s < max_new; s++) {
    int active = 0;
    for (int b = 0; b < B; b++) {
      int next = argmax(c->logits + (int64_t)b * V, V);
      out[b * max_new + s] = done[b] ? -1 : next;
      if (!done[b]) {
        n_out[b]++;
        if (next == eos_id) done[b] = 1;
      }
      active += !done[b];
      tok[b] = next;
      valid[b] = !done[b];
    }
    if (!active || s + 1 == max_new) break;
    rc = llama_kv_step(m, c, tok, valid, 1, err);
  }
  for (int b = 0; b < B && rc == 0; b++)
    for (int s = n_out[b]; s < max_new; s++) out[b * max_new + s] = -1;
  free(tok);
  free(valid);
  free(done);
  return rc;
}

/* The longest of B prompt lengths, or -1 (err set) when one is empty. */
static int longest_prompt(const int *lens, int B, lethe_err *err) {
  int P = 0;
  for (int b = 0; b < B; b++) {
    if (lens[b] < 1) return lethe_errf(err, LETHE_E_USAGE, "prompt %d is empty", b);
    if (lens[b] > P) P = lens[b];
  }
  return P;
}

int llama_kv_prefill(const llama_model *m, llama_kv_cache *c, const int32_t *const *prompts,
                     const int *lens, lethe_err *err) {
  int B = c->B, P = longest_prompt(lens, B, err);
  if (P < 0) return -1;
  int32_t *tok = lethe_calloc((size_t)B * P, sizeof *tok);
  int32_t *valid = lethe_calloc((size_t)B * P, sizeof *valid);
  for (int b = 0; b < B; b++) { /* left padding */
    int pad = P - lens[b];
    for (int i = 0; i < lens[b]; i++) {
      tok[b * P + pad + i] = prompts[b][i];
      valid[b * P + pad + i] = 1;
    }
  }
  int rc = llama_kv_step(m, c, tok, valid, P, err);
  free(tok);
  free(valid);
  return rc;
}

int llama_generate_greedy_kv(const llama_model *m, llama_kv_cache *kv, const int32_t *const *prompts,
                             const int *lens, int B, int max_new, int eos_id, int32_t *out,
                             int *n_out, lethe_err *err) {
  int P = longest_prompt(lens, B, err);
  if (P < 0) return -1;
  llama_kv_ensure(kv, m, B, P + max_new, P);
  int rc = llama_kv_prefill(m, kv, prompts, lens, err);
  if (rc == 0) rc = llama_kv_greedy(m, kv, max_new, eos_id, out, n_out, err);
  return rc;
}
