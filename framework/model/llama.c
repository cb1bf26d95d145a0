/* llama — parameter, gradient and activation buffers, compute precision
 * (see llama.h). The forward and backward passes are llama_layers.c's. */
#include "model/llama.h"

#include <stdlib.h>
#include <string.h>

#include "model/llama_dims.h"
#include "model/lora.h"
#include "tensor/tensor.h"

int llama_param_role_is_matrix(int role) {
  switch (role) {
  case LLAMA_PARAM_EMBED: case LLAMA_PARAM_WQ: case LLAMA_PARAM_WK: case LLAMA_PARAM_WV:
  case LLAMA_PARAM_WO: case LLAMA_PARAM_W_GATE: case LLAMA_PARAM_W_UP: case LLAMA_PARAM_W_DOWN:
  case LLAMA_PARAM_LM_HEAD:
    return 1;
  default:
    return 0;
  }
}

int llama_param_role_is_layered(int role) {
  switch (role) {
  case LLAMA_PARAM_EMBED: case LLAMA_PARAM_FINAL_NORM: case LLAMA_PARAM_LM_HEAD:
  case LLAMA_PARAM_FINAL_NORM_BIAS: case LLAMA_PARAM_LM_HEAD_BIAS:
    return 0;
  default:
    return 1;
  }
}

int llama_role_slices(const llama_model *m, int role) {
  return llama_param_role_is_layered(role) ? m->cfg.num_hidden_layers : 1;
}

size_t llama_slice_floats(const llama_model *m, int role) {
  return m->param_sizes[role] / (size_t)llama_role_slices(m, role);
}

float *llama_param_slice(const llama_model *m, int role, int layer) {
  size_t at = 0;
  for (int r = 0; r < role; r++) at += m->param_sizes[r];
  return m->params_memory + at + (size_t)layer * llama_slice_floats(m, role);
}

float *llama_grad(const llama_model *m, int role, int layer) {
  if (!m->grads_memory) return NULL;
  if (role == LLAMA_PARAM_LM_HEAD && m->cfg.tie_word_embeddings) role = LLAMA_PARAM_EMBED;
  size_t off = m->grad_offset[role * m->cfg.num_hidden_layers + layer];
  return off == LLAMA_FROZEN ? NULL : m->grads_memory + off;
}

int llama_slice_trains(const llama_model *m, int role, int layer) {
  if (role == LLAMA_PARAM_LM_HEAD && m->cfg.tie_word_embeddings) role = LLAMA_PARAM_EMBED;
  return m->grad_offset &&
         m->grad_offset[role * m->cfg.num_hidden_layers + layer] != LLAMA_FROZEN;
}

int llama_lowest_block(const llama_model *m) {
  int L = m->cfg.num_hidden_layers, lowest = 2 * L;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < (llama_param_role_is_layered(r) ? L : 1); l++) {
      if (!m->param_sizes[r] || !llama_slice_trains(m, r, l)) continue;
      int block;
      switch (r) {
      case LLAMA_PARAM_EMBED: block = -1; break;
      case LLAMA_PARAM_MLP_NORM: case LLAMA_PARAM_W_GATE: case LLAMA_PARAM_W_UP:
      case LLAMA_PARAM_W_DOWN: case LLAMA_PARAM_B_GATE: case LLAMA_PARAM_B_UP:
      case LLAMA_PARAM_B_DOWN: block = 2 * l + 1; break;
      default: block = llama_param_role_is_layered(r) ? 2 * l : 2 * L;
      }
      if (block < lowest) lowest = block;
    }
  for (int mod = 0; mod < LORA_N_MODULES && m->lora; mod++) /* every layer has its branch */
    if (m->lora->a[mod]) {
      int block = mod <= LORA_O ? 0 : 1;
      if (block < lowest) lowest = block;
    }
  return lowest;
}

int llama_runs_backward(const llama_model *m) {
  if (m->lora || !m->grad_offset) return 1;
  size_t n = (size_t)LLAMA_N_PARAM_TENSORS * m->cfg.num_hidden_layers;
  for (size_t i = 0; i < n; i++)
    if (m->grad_offset[i] != LLAMA_FROZEN) return 1;
  return 0;
}

int llama_first_trained_layer(const llama_model *m) {
  if (!m->grad_offset && !m->lora) return 0; /* not chosen: llama_alloc_grads trains all */
  int lowest = llama_lowest_block(m);
  return lowest < 0 ? 0 : lowest / 2;
}

/* Points each role at its place in mem; roles of size 0 get NULL. */
static void point_params(llama_params *p, float *mem, const size_t *sizes, int tied) {
  float **ptrs[LLAMA_N_PARAM_TENSORS] = {
      [LLAMA_PARAM_EMBED] = &p->embed,   [LLAMA_PARAM_ATTN_NORM] = &p->attn_norm,
      [LLAMA_PARAM_WQ] = &p->wq,         [LLAMA_PARAM_WK] = &p->wk,
      [LLAMA_PARAM_WV] = &p->wv,         [LLAMA_PARAM_WO] = &p->wo,
      [LLAMA_PARAM_MLP_NORM] = &p->mlp_norm, [LLAMA_PARAM_W_GATE] = &p->w_gate,
      [LLAMA_PARAM_W_UP] = &p->w_up,     [LLAMA_PARAM_W_DOWN] = &p->w_down,
      [LLAMA_PARAM_FINAL_NORM] = &p->final_norm, [LLAMA_PARAM_LM_HEAD] = &p->lm_head,
      [LLAMA_PARAM_BQ] = &p->bq,         [LLAMA_PARAM_BK] = &p->bk,
      [LLAMA_PARAM_BV] = &p->bv,         [LLAMA_PARAM_BO] = &p->bo,
      [LLAMA_PARAM_Q_NORM] = &p->q_norm, [LLAMA_PARAM_K_NORM] = &p->k_norm,
      [LLAMA_PARAM_ATTN_NORM_BIAS] = &p->attn_norm_bias, [LLAMA_PARAM_B_GATE] = &p->b_gate,
      [LLAMA_PARAM_B_UP] = &p->b_up,     [LLAMA_PARAM_B_DOWN] = &p->b_down,
      [LLAMA_PARAM_FINAL_NORM_BIAS] = &p->final_norm_bias,
      [LLAMA_PARAM_LM_HEAD_BIAS] = &p->lm_head_bias};
  for (int i = 0; i < LLAMA_N_PARAM_TENSORS; i++) {
    *ptrs[i] = sizes[i] ? mem : NULL;
    mem += sizes[i];
  }
  if (tied) p->lm_head = p->embed;
}

void llama_param_sizes_of(const llama_config *c, size_t *out) {
  dims d = dims_of(c);
  size_t L = (size_t)d.L, C = (size_t)d.C, F = (size_t)d.F;
  int phi = llama_config_is_phi(c), gated_bias = c->mlp_bias && !phi;
  size_t sizes[LLAMA_N_PARAM_TENSORS] = {
      (size_t)d.V * C, L * C, L * d.QD * C, L * d.KVD * C, L * d.KVD * C, L * C * d.QD,
      phi ? 0 : L * C, phi ? 0 : L * F * C, L * F * C, L * C * F, C,
      c->tie_word_embeddings ? 0 : (size_t)d.V * C,
      c->qkv_bias ? L * d.QD : 0, c->qkv_bias ? L * d.KVD : 0, c->qkv_bias ? L * d.KVD : 0,
      c->o_bias ? L * C : 0, c->qk_norm ? L * d.HD : 0, c->qk_norm ? L * d.HD : 0,
      phi ? L * C : 0, gated_bias ? L * F : 0, c->mlp_bias ? L * F : 0, c->mlp_bias ? L * C : 0,
      phi ? C : 0, phi ? (size_t)d.V : 0};
  memcpy(out, sizes, sizeof sizes);
}

static void fill_param_sizes(llama_model *m) {
  llama_param_sizes_of(&m->cfg, m->param_sizes);
  m->n_params = 0;
  for (int i = 0; i < LLAMA_N_PARAM_TENSORS; i++) m->n_params += m->param_sizes[i];
}

/* A model of a validated config with nothing allocated: config (rotary_dim
 * defaulted) and sizes. */
static void size_model(llama_model *m, const llama_config *cfg) {
  memset(m, 0, sizeof *m);
  m->cfg = *cfg;
  if (!m->cfg.rotary_dim) m->cfg.rotary_dim = m->cfg.head_dim;
  fill_param_sizes(m);
}

/* Allocates parameter storage (zeroed) for a validated config. */
static void alloc_params(llama_model *m, const llama_config *cfg) {
  size_model(m, cfg);
  m->params_memory = lethe_pages_alloc(m->n_params * sizeof(float)); /* llama_hold_frozen drops pages */
  point_params(&m->params, m->params_memory, m->param_sizes, cfg->tie_word_embeddings);
}

int llama_shell(llama_model *m, const llama_config *cfg, lethe_err *err) {
  if (llama_config_validate(cfg, "model config", err) != 0) return -1;
  size_model(m, cfg);
  return 0;
}

void llama_borrow(llama_model *view, const llama_model *owner) {
  size_model(view, &owner->cfg);
  view->params_memory = owner->params_memory;
  view->borrowed = 1;
  view->owner = owner;
  point_params(&view->params, view->params_memory, view->param_sizes,
               view->cfg.tie_word_embeddings);
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
  float std = (float)cfg->initializer_range;
  llama_params *p = &m->params;
  float *at = m->params_memory; /* roles in storage order; biases stay 0 */
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; at += m->param_sizes[r], r++)
    if (llama_param_role_is_matrix(r))
      for (size_t i = 0; i < m->param_sizes[r]; i++) at[i] = std * (float)lethe_rng_normal(&rng);
  float *ones[] = {p->attn_norm, p->mlp_norm, p->final_norm, p->q_norm, p->k_norm};
  size_t counts[] = {m->param_sizes[LLAMA_PARAM_ATTN_NORM], m->param_sizes[LLAMA_PARAM_MLP_NORM],
                     m->param_sizes[LLAMA_PARAM_FINAL_NORM], m->param_sizes[LLAMA_PARAM_Q_NORM],
                     m->param_sizes[LLAMA_PARAM_K_NORM]};
  for (size_t t = 0; t < sizeof ones / sizeof ones[0]; t++)
    for (size_t i = 0; i < counts[t]; i++) ones[t][i] = 1.0f;
  return 0;
}

void llama_free(llama_model *m) {
  if (!m->borrowed) lethe_pages_free(m->params_memory, m->n_params * sizeof(float));
  free(m->frozen16);
  free(m->frozen16_off);
  lethe_pages_free(m->widen, m->widen_floats * sizeof(float));
  free(m->grads_memory);
  free(m->grad_offset);
  lethe_pages_free(m->acts_memory, m->acts_cap);
  lethe_pages_free(m->scratch_memory, m->scratch_cap);
  free(m->rope_cos);
  free(m->rope_sin);
  lethe_pages_free(m->params_bf16, m->n_params * sizeof(uint16_t));
  lethe_pages_free(m->acts_bf16_memory, m->acts_bf16_cap);
  free(m->head_rows);
  free(m->row_pos);
  llama_storage_free(&m->storage);
  memset(m, 0, sizeof *m);
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

/* Carves `count` float tensors out of one 64-byte aligned allocation; adds
 * the bytes allocated to *bytes. dry: only counts them (NULL, no pointer
 * written). */
/* The memory of a layout of `bytes` in *mem: kept when its capacity *cap
 * holds it, else replaced by a fresh (zeroed) block. Keeping it means that a
 * re-layout for the same or a smaller need (a logits mode switch, a change
 * of what trains or of the compute) touches no new page: a fresh block of
 * tens of MiB costs its page faults every time (the evaluation's
 * teacher-forced pass switches to whole logits and back at every evaluation
 * of a run). A new block is mapped, not written: pages a pass never touches
 * (a forward-only pass leaves the backward scratch alone) cost nothing. No
 * reader relies on the contents of a layout's buffers. */
static void *layout_block(void **mem, size_t *cap, size_t bytes) {
  if (!*mem || bytes > *cap) {
    lethe_pages_free(*mem, *cap);
    *mem = lethe_pages_alloc(bytes); /* zero pages, mapped when first touched */
    *cap = bytes;
  }
  return *mem;
}

/* Lays out `count` tensors of the given sizes (elements) in *mem (capacity
 * *cap bytes, see layout_block), pointing *ptrs[i] at each, and adds their
 * bytes to *bytes; dry only counts. */
static void carve(float ***ptrs, const size_t *sizes, int count, float **mem, size_t *cap,
                  size_t *bytes, int dry) {
  size_t off[MAX_CARVE], n = pack(off, sizes, count, 16);
  *bytes += n * sizeof(float);
  if (dry) return;
  float *base = layout_block((void **)mem, cap, n * sizeof(float));
  for (int i = 0; i < count; i++) *ptrs[i] = base + off[i];
}

/* The same for bfloat16 tensors. */
static void carve16(uint16_t ***ptrs, const size_t *sizes, int count, uint16_t **mem,
                    size_t *cap, size_t *bytes, int dry) {
  size_t off[MAX_CARVE], n = pack(off, sizes, count, 32);
  *bytes += n * sizeof(uint16_t);
  if (dry) return;
  uint16_t *base = layout_block((void **)mem, cap, n * sizeof(uint16_t));
  for (int i = 0; i < count; i++) *ptrs[i] = base + off[i];
}

/* The layer slots of activations (act_layer in llama_ops.h): one with
 * activation checkpointing, else one per layer from acts_from up, plus one
 * the layers below it share. */
static size_t kept_layers(const llama_model *m) {
  if (m->checkpointing) return 1;
  return (size_t)(m->cfg.num_hidden_layers - m->acts_from) + (m->acts_from > 0);
}

/* Rows of logits the activations hold for B·T positions: all of them
 * (whole), or one chunk (llama_set_logits). */
static size_t logits_rows(const llama_model *m, size_t bt) {
  if (m->logits_mode == LLAMA_LOGITS_WHOLE) return bt;
  return (size_t)m->logits_rows < bt ? (size_t)m->logits_rows : bt;
}

/* Rows of one chunk of logits: logits_rows(), 0 with whole logits. */
static size_t chunked_rows(const llama_model *m, size_t bt) {
  return m->logits_mode == LLAMA_LOGITS_WHOLE ? 0 : logits_rows(m, bt);
}

int64_t llama_chunk_capacity(const llama_model *m) {
  return (int64_t)chunked_rows(m, (size_t)m->B_max * m->T_max);
}

/* bf16 copies of the matmul inputs for (B, T) (see llama_acts_bf16). */
static void reserve_bf16(llama_model *m, int B, int T, int dry) {
  dims d = dims_of(&m->cfg);
  size_t L = kept_layers(m), BT = (size_t)B * T, C = (size_t)d.C, F = (size_t)d.F;
  size_t att = (size_t)B * d.NH * T * T;
  llama_acts_bf16 *h = &m->acts_bf16;
  uint16_t **ptrs[] = {&h->attn_xn, &h->q,     &h->k,         &h->v,        &h->att,
                       &h->att_out, &h->mlp_xn, &h->swiglu,   &h->final_xn, &h->d_logits,
                       &h->d_resid, &h->d_att_out, &h->d_q,   &h->d_k,      &h->d_v,
                       &h->d_att,   &h->d_gate, &h->d_up,     &h->head_xn};
  size_t bw = (size_t)m->acts_backward; /* the backward scratch, when a backward runs */
  size_t sizes[] = {L * BT * C, L * BT * d.QD, L * BT * d.QD, L * BT * d.QD, L * att,
                    L * BT * d.QD, L * BT * C, BT * F, BT * C, bw * logits_rows(m, BT) * d.V,
                    bw * BT * C, bw * BT * d.QD, bw * BT * d.QD, bw * BT * d.QD, bw * BT * d.QD,
                    bw * att, bw * BT * F, bw * BT * F, chunked_rows(m, BT) * C};
  carve16(ptrs, sizes, (int)(sizeof sizes / sizeof sizes[0]), &m->acts_bf16_memory,
          &m->acts_bf16_cap, &m->acts_bytes, dry);
}

void llama_set_compute(llama_model *m, int mode) {
  if (mode == m->compute) return;
  m->compute = mode;
  lethe_pages_free(m->params_bf16, m->n_params * sizeof(uint16_t));
  m->params_bf16 = NULL;
  if (mode == LLAMA_COMPUTE_BF16 && m->params_memory) /* not for a shell (llama_shell) */
    m->params_bf16 = lethe_pages_alloc(m->n_params * sizeof(uint16_t)); /* held slices: untouched */
  m->B_max = m->T_max = 0; /* the next forward reallocates the activations */
}

void llama_set_checkpointing(llama_model *m, int on) {
  if (!on == !m->checkpointing) return;
  m->checkpointing = !!on;
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

void llama_set_skip_padding(llama_model *m, int on) {
  const char *env = getenv("LETHE_SKIP_PADDING");
  if (env && !strcmp(env, "0")) on = 0; /* for comparison: compute every position */
  if (!on == !m->skip_pad) return;
  m->skip_pad = !!on;
  m->B_max = m->T_max = 0; /* the next forward reallocates the activations */
}

void llama_set_row_quantum(llama_model *m, int q) { m->row_quantum = q > 0 ? q : 0; }

int llama_row_quantum(const llama_model *m) {
  if (m->row_quantum > 0) return m->row_quantum;
  const char *env = getenv("LETHE_ROW_QUANTUM"); /* for benchmarks: another default */
  if (env && atoi(env) > 0) return atoi(env);
  return m->compute == LLAMA_COMPUTE_BF16 || tensor_backend_get()->f32_onednn ? 16 : 1;
}

void llama_set_logits(llama_model *m, int mode, int rows) {
  if (mode == LLAMA_LOGITS_CHUNKED && rows <= 0) {
    size_t fit = LLAMA_LOGITS_CHUNK_BYTES / (sizeof(float) * (size_t)m->cfg.vocab_size) / 16 * 16;
    rows = fit < 16 ? 16 : fit > (1 << 20) ? (1 << 20) : (int)fit;
  }
  if (mode == LLAMA_LOGITS_WHOLE) rows = 0;
  if (mode == m->logits_mode && rows == m->logits_rows) return;
  m->logits_mode = mode;
  m->logits_rows = rows;
  m->B_max = m->T_max = 0; /* the next forward reallocates the activations */
}

/* The buffers of (B, T): laid out in m's blocks (grown where they are too
 * small, see layout_block), or (dry, on a copy of the model) only counted
 * into m->acts_bytes. */
static void lay_out(llama_model *m, int B, int T, int dry) {
  if (!dry) {
    free(m->rope_cos);
    free(m->rope_sin);
    if (m->compute != LLAMA_COMPUTE_BF16) { /* no bf16 copies: give their block back */
      lethe_pages_free(m->acts_bf16_memory, m->acts_bf16_cap);
      m->acts_bf16_memory = NULL;
      m->acts_bf16_cap = 0;
    }
    free(m->head_rows);
    free(m->row_pos);
    m->head_rows = m->head_src = m->row_pos = m->row_of = m->row_tokens = NULL;
    m->rows_tmp = NULL;
    memset(&m->acts_bf16, 0, sizeof m->acts_bf16);
  }
  dims d = dims_of(&m->cfg);
  m->acts_from = m->checkpointing ? 0 : llama_first_trained_layer(m);
  m->acts_backward = llama_runs_backward(m);
  size_t bw = (size_t)m->acts_backward; /* forward-only: no backward scratch */
  size_t L = kept_layers(m), BT = (size_t)B * T, C = (size_t)d.C, F = (size_t)d.F;
  size_t att = (size_t)B * d.NH * T * T;
  llama_acts *a = &m->acts;
  size_t qkn = m->cfg.qk_norm ? 1 : 0, mlp_norm = llama_config_is_phi(&m->cfg) ? 0 : 1;
  float **act_ptrs[] = {&a->resid, &a->attn_xn, &a->attn_rstd, &a->q, &a->k, &a->v,
                        &a->att, &a->att_out, &a->resid_mid, &a->mlp_xn, &a->mlp_rstd,
                        &a->gate, &a->up, &a->swiglu, &a->final_xn, &a->final_rstd,
                        &a->logits, &a->logits_chunk, &a->q_raw, &a->k_raw, &a->q_rstd,
                        &a->k_rstd, &a->head_xn, &m->rows_tmp};
  size_t whole = m->logits_mode == LLAMA_LOGITS_WHOLE, head = logits_rows(m, BT) * d.V;
  size_t act_sizes[] = {((size_t)d.L + 1) * BT * C, /* every layer's input, always */
                         L * BT * C, L * BT, L * BT * d.QD, L * BT * d.KVD,
                        L * BT * d.KVD, L * att, L * BT * d.QD, L * BT * C,
                        mlp_norm * L * BT * C, mlp_norm * L * BT, mlp_norm * L * BT * F,
                        L * BT * F, BT * F /* swiglu: one layer's */, BT * C, BT, whole * head, (1 - whole) * head,
                        qkn * L * BT * d.QD, qkn * L * BT * d.KVD, qkn * L * BT * d.NH,
                        qkn * L * BT * d.NKV, chunked_rows(m, BT) * C,
                        (m->skip_pad ? BT : 0) * (d.QD + 2 * (size_t)d.KVD)};
  m->acts_bytes = 0;
  carve(act_ptrs, act_sizes, (int)(sizeof act_sizes / sizeof act_sizes[0]), &m->acts_memory,
        &m->acts_cap, &m->acts_bytes, dry);
  if (whole) a->logits_chunk = NULL; /* the mode's other buffer: none (llama_set_logits) */
  else a->logits = NULL;
  llama_scratch *s = &m->scratch;
  float **scr_ptrs[] = {&s->d_resid, &s->d_xn, &s->d_q, &s->d_k, &s->d_v, &s->d_att_out,
                        &s->d_att, &s->d_gate, &s->d_up, &s->d_swiglu, &s->k_rep,
                        &s->v_rep, &s->dk_rep, &s->dv_rep, &s->d_q_raw, &s->d_k_raw,
                        &s->d_head_xn};
  size_t scr_sizes[] = {bw * BT * C, bw * BT * C, bw * BT * d.QD, bw * BT * d.KVD,
                        bw * BT * d.KVD, bw * BT * d.QD, bw * att, bw * BT * F, bw * BT * F,
                        bw * BT * F, BT * d.QD, BT * d.QD, /* k_rep, v_rep: forward too */
                        bw * BT * d.QD, bw * BT * d.QD, bw * qkn * BT * d.QD,
                        bw * qkn * BT * d.KVD, bw * chunked_rows(m, BT) * C};
  carve(scr_ptrs, scr_sizes, (int)(sizeof scr_sizes / sizeof scr_sizes[0]), &m->scratch_memory,
        &m->scratch_cap, &m->acts_bytes, dry);
  if (m->logits_mode != LLAMA_LOGITS_WHOLE) { /* head_rows, head_src */
    if (!dry) m->head_rows = lethe_alloc_aligned(2 * BT * sizeof(int32_t));
    if (!dry) m->head_src = m->head_rows + BT;
    m->acts_bytes += 2 * BT * sizeof(int32_t);
  }
  if (m->skip_pad) { /* row_pos, row_of, row_tokens */
    if (!dry) m->row_pos = lethe_alloc_aligned(3 * BT * sizeof(int32_t));
    if (!dry) m->row_of = m->row_pos + BT, m->row_tokens = m->row_pos + 2 * BT;
    m->acts_bytes += 3 * BT * sizeof(int32_t);
  }
  if (m->compute == LLAMA_COMPUTE_BF16) reserve_bf16(m, B, T, dry);
  int t_rope = T > m->cfg.max_position_embeddings ? T : m->cfg.max_position_embeddings;
  size_t rope_bytes = (size_t)t_rope * m->cfg.rotary_dim / 2 * sizeof(float);
  m->acts_bytes += 2 * rope_bytes;
  if (dry) return;
  m->rope_cos = lethe_alloc_aligned(rope_bytes);
  m->rope_sin = lethe_alloc_aligned(rope_bytes);
  llama_rope_tables(&m->cfg, m->rope_cos, m->rope_sin, t_rope);
}

void llama_reserve(llama_model *m, int B, int T) {
  if (B <= m->B_max && T <= m->T_max) return;
  if (B < m->B_max) B = m->B_max;
  if (T < m->T_max) T = m->T_max;
  lay_out(m, B, T, 0);
  m->B_max = B;
  m->T_max = T;
}

size_t llama_reserve_bytes(const llama_model *m, int B, int T) {
  llama_model copy = *m; /* lay_out(dry) writes acts_bytes alone */
  lay_out(&copy, B, T, 1);
  return copy.acts_bytes;
}

