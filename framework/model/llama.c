/* llama — parameter, gradient and activation buffers, compute precision
 * (see llama.h). The forward and backward passes are llama_layers.c's. */
#include "model/llama.h"

#include <stdlib.h>
#include <string.h>

#include "model/llama_dims.h"
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

static void fill_param_sizes(llama_model *m) {
  const llama_config *c = &m->cfg;
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
  if (!m->cfg.rotary_dim) m->cfg.rotary_dim = m->cfg.head_dim;
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
  free(m->params_memory);
  lethe_free_lazy(m->grads_memory);
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
  /* lazily zeroed: under an adapter (m->lora) only the norms' and biases'
   * pages are ever written, the frozen matrices' cost nothing */
  m->grads_memory = lethe_alloc_lazy(m->n_params * sizeof(float));
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
  size_t qkn = m->cfg.qk_norm ? 1 : 0, mlp_norm = llama_config_is_phi(&m->cfg) ? 0 : 1;
  float **act_ptrs[] = {&a->resid, &a->attn_xn, &a->attn_rstd, &a->q, &a->k, &a->v,
                        &a->att, &a->att_out, &a->resid_mid, &a->mlp_xn, &a->mlp_rstd,
                        &a->gate, &a->up, &a->swiglu, &a->final_xn, &a->final_rstd,
                        &a->logits, &a->q_raw, &a->k_raw, &a->q_rstd, &a->k_rstd};
  size_t act_sizes[] = {(L + 1) * BT * C, L * BT * C, L * BT, L * BT * d.QD, L * BT * d.KVD,
                        L * BT * d.KVD, L * att, L * BT * d.QD, L * BT * C,
                        mlp_norm * L * BT * C, mlp_norm * L * BT, mlp_norm * L * BT * F,
                        L * BT * F, L * BT * F, BT * C, BT, BT * d.V,
                        qkn * L * BT * d.QD, qkn * L * BT * d.KVD, qkn * L * BT * d.NH,
                        qkn * L * BT * d.NKV};
  m->acts_memory = carve(act_ptrs, act_sizes, (int)(sizeof act_sizes / sizeof act_sizes[0]));
  llama_scratch *s = &m->scratch;
  float **scr_ptrs[] = {&s->d_resid, &s->d_xn, &s->d_q, &s->d_k, &s->d_v, &s->d_att_out,
                        &s->d_att, &s->d_gate, &s->d_up, &s->d_swiglu, &s->k_rep,
                        &s->v_rep, &s->dk_rep, &s->dv_rep, &s->d_q_raw, &s->d_k_raw};
  size_t scr_sizes[] = {BT * C, BT * C, BT * d.QD, BT * d.KVD, BT * d.KVD, BT * d.QD, att,
                        BT * F, BT * F, BT * F, BT * d.QD, BT * d.QD, BT * d.QD, BT * d.QD,
                        qkn * BT * d.QD, qkn * BT * d.KVD};
  m->scratch_memory = carve(scr_ptrs, scr_sizes, (int)(sizeof scr_sizes / sizeof scr_sizes[0]));
  if (m->compute == LLAMA_COMPUTE_BF16) reserve_bf16(m, B, T);
  int t_rope = T > m->cfg.max_position_embeddings ? T : m->cfg.max_position_embeddings;
  m->rope_cos = lethe_alloc_aligned((size_t)t_rope * m->cfg.rotary_dim / 2 * sizeof(float));
  m->rope_sin = lethe_alloc_aligned((size_t)t_rope * m->cfg.rotary_dim / 2 * sizeof(float));
  llama_rope_tables(&m->cfg, m->rope_cos, m->rope_sin, t_rope);
  m->B_max = B;
  m->T_max = T;
}

