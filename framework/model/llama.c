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
  float **ptrs[LLAMA_N_PARAM_TENSORS] = {&p->embed, &p->attn_norm, &p->wq, &p->wk,
                                         &p->wv, &p->wo, &p->mlp_norm, &p->w_gate,
                                         &p->w_up, &p->w_down, &p->final_norm, &p->lm_head};
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
  size_t counts[] = {m->param_sizes[0], m->param_sizes[2], m->param_sizes[3],
                     m->param_sizes[4], m->param_sizes[5], m->param_sizes[7],
                     m->param_sizes[8], m->param_sizes[9], m->param_sizes[11]};
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

/* Carves `count` tensors of the given sizes out of one allocation. */
static float *carve(float ***ptrs, const size_t *sizes, int count) {
  size_t total = 0;
  for (int i = 0; i < count; i++) total += (sizes[i] + 15) & ~(size_t)15;
  float *mem = lethe_alloc_aligned(total * sizeof(float));
  float *at = mem;
  for (int i = 0; i < count; i++) {
    *ptrs[i] = at;
    at += (sizes[i] + 15) & ~(size_t)15;
  }
  return mem;
}

void llama_reserve(llama_model *m, int B, int T) {
  if (B <= m->B_max && T <= m->T_max) return;
  if (B < m->B_max) B = m->B_max;
  if (T < m->T_max) T = m->T_max;
  free(m->acts_memory);
  free(m->scratch_memory);
  free(m->rope_cos);
  free(m->rope_sin);
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
  int t_rope = T > m->cfg.max_position_embeddings ? T : m->cfg.max_position_embeddings;
  m->rope_cos = lethe_alloc_aligned((size_t)t_rope * d.HD / 2 * sizeof(float));
  m->rope_sin = lethe_alloc_aligned((size_t)t_rope * d.HD / 2 * sizeof(float));
  rope_tables(m->rope_cos, m->rope_sin, t_rope, d.HD, m->cfg.rope_theta);
  m->B_max = B;
  m->T_max = T;
}

/* Views of the (B,T,H,HD) layout as (B,H,T,HD), and the scores (B,H,T,T). */
static tensor_view heads_view(int B, int T, int H, int HD) {
  tensor_view v = {4, {B, H, T, HD}, {(int64_t)T * H * HD, HD, (int64_t)H * HD, 1}};
  return v;
}

static tensor_view scores_view(int B, int H, int T) {
  tensor_view v = {4, {B, H, T, T}, {(int64_t)H * T * T, (int64_t)T * T, T, 1}};
  return v;
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
  llama_scratch *s = &m->scratch;
  float eps = (float)m->cfg.rms_norm_eps, scale = 1.0f / sqrtf((float)d.HD);
  int gqa = d.NKV != d.NH;

  embedding_forward(a->resid, p->embed, tokens, BT, d.C); /* (B,T,C) */
  for (int l = 0; l < d.L; l++) {
    float *x = a->resid + l * BT * d.C, *x_mid = a->resid_mid + l * BT * d.C;
    float *xn = a->attn_xn + l * BT * d.C, *q = a->q + l * BT * d.QD;
    float *k = a->k + l * BT * d.KVD, *v = a->v + l * BT * d.KVD;
    float *att = a->att + l * (int64_t)B * d.NH * T * T, *att_out = a->att_out + l * BT * d.QD;
    rmsnorm_forward(xn, a->attn_rstd + l * BT, x, p->attn_norm + l * d.C, BT, d.C, eps);
    tensor_linear_forward(q, xn, p->wq + (int64_t)l * d.QD * d.C, BT, d.C, d.QD, 0);
    tensor_linear_forward(k, xn, p->wk + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
    tensor_linear_forward(v, xn, p->wv + (int64_t)l * d.KVD * d.C, BT, d.C, d.KVD, 0);
    rope_apply(q, m->rope_cos, m->rope_sin, B, T, d.NH, d.HD, NULL, 0);
    rope_apply(k, m->rope_cos, m->rope_sin, B, T, d.NKV, d.HD, NULL, 0);
    const float *kr = k, *vr = v;
    if (gqa) {
      gqa_expand(s->k_rep, k, BT, d.NH, d.NKV, d.HD);
      gqa_expand(s->v_rep, v, BT, d.NH, d.NKV, d.HD);
      kr = s->k_rep;
      vr = s->v_rep;
    }
    tensor_view hv = heads_view(B, T, d.NH, d.HD), sv = scores_view(B, d.NH, T);
    tensor_matmul(att, sv, q, hv, kr, tensor_transposed(hv), scale, 0); /* (B,NH,T,T) */
    attention_softmax(att, attn_mask, B, d.NH, T);
    tensor_matmul(att_out, hv, att, sv, vr, hv, 1.0f, 0); /* (B,T,NH,HD) */
    memcpy(x_mid, x, sizeof(float) * BT * d.C);
    tensor_linear_forward(x_mid, att_out, p->wo + (int64_t)l * d.C * d.QD, BT, d.QD, d.C, 1);

    float *mxn = a->mlp_xn + l * BT * d.C, *gate = a->gate + l * BT * d.F;
    float *up = a->up + l * BT * d.F, *sw = a->swiglu + l * BT * d.F;
    float *x_next = a->resid + (l + 1) * BT * d.C;
    rmsnorm_forward(mxn, a->mlp_rstd + l * BT, x_mid, p->mlp_norm + l * d.C, BT, d.C, eps);
    tensor_linear_forward(gate, mxn, p->w_gate + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    tensor_linear_forward(up, mxn, p->w_up + (int64_t)l * d.F * d.C, BT, d.C, d.F, 0);
    swiglu_forward(sw, gate, up, BT * d.F);
    memcpy(x_next, x_mid, sizeof(float) * BT * d.C);
    tensor_linear_forward(x_next, sw, p->w_down + (int64_t)l * d.C * d.F, BT, d.F, d.C, 1);
  }
  rmsnorm_forward(a->final_xn, a->final_rstd, a->resid + d.L * BT * d.C, p->final_norm, BT, d.C,
                  eps);
  tensor_linear_forward(a->logits, a->final_xn, p->lm_head, BT, d.C, d.V, 0);
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
  llama_scratch *s = &m->scratch;
  float scale = 1.0f / sqrtf((float)d.HD);
  int gqa = d.NKV != d.NH;

  /* head and final norm: d_resid = ∂L/∂resid[L] */
  tensor_linear_backward_data(s->d_xn, a->logits, p->lm_head, BT, d.C, d.V, 0);
  tensor_linear_backward_weights(g->lm_head, a->logits, a->final_xn, BT, d.C, d.V);
  memset(s->d_resid, 0, sizeof(float) * BT * d.C);
  rmsnorm_backward(s->d_resid, g->final_norm, s->d_xn, a->resid + d.L * BT * d.C,
                   p->final_norm, a->final_rstd, BT, d.C);

  for (int l = d.L - 1; l >= 0; l--) {
    /* MLP: resid[l+1] = x_mid + swiglu·Wdᵀ */
    float *x_mid = a->resid_mid + l * BT * d.C, *mxn = a->mlp_xn + l * BT * d.C;
    float *gate = a->gate + l * BT * d.F, *up = a->up + l * BT * d.F;
    float *w_down = p->w_down + (int64_t)l * d.C * d.F;
    tensor_linear_backward_data(s->d_swiglu, s->d_resid, w_down, BT, d.F, d.C, 0);
    tensor_linear_backward_weights(g->w_down + (int64_t)l * d.C * d.F, s->d_resid,
                                   a->swiglu + l * BT * d.F, BT, d.F, d.C);
    swiglu_backward(s->d_gate, s->d_up, s->d_swiglu, gate, up, BT * d.F);
    float *w_gate = p->w_gate + (int64_t)l * d.F * d.C, *w_up = p->w_up + (int64_t)l * d.F * d.C;
    tensor_linear_backward_data(s->d_xn, s->d_gate, w_gate, BT, d.C, d.F, 0);
    tensor_linear_backward_data(s->d_xn, s->d_up, w_up, BT, d.C, d.F, 1);
    tensor_linear_backward_weights(g->w_gate + (int64_t)l * d.F * d.C, s->d_gate, mxn, BT, d.C,
                                   d.F);
    tensor_linear_backward_weights(g->w_up + (int64_t)l * d.F * d.C, s->d_up, mxn, BT, d.C, d.F);
    rmsnorm_backward(s->d_resid, g->mlp_norm + l * d.C, s->d_xn, x_mid, p->mlp_norm + l * d.C,
                     a->mlp_rstd + l * BT, BT, d.C);

    /* attention: x_mid = resid[l] + att_out·Woᵀ */
    float *x = a->resid + l * BT * d.C, *xn = a->attn_xn + l * BT * d.C;
    float *q = a->q + l * BT * d.QD, *k = a->k + l * BT * d.KVD, *v = a->v + l * BT * d.KVD;
    float *att = a->att + l * (int64_t)B * d.NH * T * T, *att_out = a->att_out + l * BT * d.QD;
    float *wo = p->wo + (int64_t)l * d.C * d.QD;
    tensor_linear_backward_data(s->d_att_out, s->d_resid, wo, BT, d.QD, d.C, 0);
    tensor_linear_backward_weights(g->wo + (int64_t)l * d.C * d.QD, s->d_resid, att_out, BT,
                                   d.QD, d.C);
    const float *kr = k, *vr = v;
    float *dkr = s->d_k, *dvr = s->d_v;
    if (gqa) {
      gqa_expand(s->k_rep, k, BT, d.NH, d.NKV, d.HD);
      gqa_expand(s->v_rep, v, BT, d.NH, d.NKV, d.HD);
      kr = s->k_rep;
      vr = s->v_rep;
      dkr = s->dk_rep;
      dvr = s->dv_rep;
    }
    tensor_view hv = heads_view(B, T, d.NH, d.HD), sv = scores_view(B, d.NH, T);
    tensor_matmul(s->d_att, sv, s->d_att_out, hv, vr, tensor_transposed(hv), 1.0f, 0);
    tensor_matmul(dvr, hv, att, tensor_transposed(sv), s->d_att_out, hv, 1.0f, 0);
    attention_softmax_backward(s->d_att, att, B, d.NH, T);
    tensor_matmul(s->d_q, hv, s->d_att, sv, kr, hv, scale, 0);
    tensor_matmul(dkr, hv, s->d_att, tensor_transposed(sv), q, hv, scale, 0);
    if (gqa) {
      gqa_reduce(s->d_k, s->dk_rep, BT, d.NH, d.NKV, d.HD);
      gqa_reduce(s->d_v, s->dv_rep, BT, d.NH, d.NKV, d.HD);
    }
    rope_apply(s->d_q, m->rope_cos, m->rope_sin, B, T, d.NH, d.HD, NULL, 1);
    rope_apply(s->d_k, m->rope_cos, m->rope_sin, B, T, d.NKV, d.HD, NULL, 1);
    float *wq = p->wq + (int64_t)l * d.QD * d.C, *wk = p->wk + (int64_t)l * d.KVD * d.C;
    float *wv = p->wv + (int64_t)l * d.KVD * d.C;
    tensor_linear_backward_data(s->d_xn, s->d_q, wq, BT, d.C, d.QD, 0);
    tensor_linear_backward_data(s->d_xn, s->d_k, wk, BT, d.C, d.KVD, 1);
    tensor_linear_backward_data(s->d_xn, s->d_v, wv, BT, d.C, d.KVD, 1);
    tensor_linear_backward_weights(g->wq + (int64_t)l * d.QD * d.C, s->d_q, xn, BT, d.C, d.QD);
    tensor_linear_backward_weights(g->wk + (int64_t)l * d.KVD * d.C, s->d_k, xn, BT, d.C,
                                   d.KVD);
    tensor_linear_backward_weights(g->wv + (int64_t)l * d.KVD * d.C, s->d_v, xn, BT, d.C,
                                   d.KVD);
    rmsnorm_backward(s->d_resid, g->attn_norm + l * d.C, s->d_xn, x, p->attn_norm + l * d.C,
                     a->attn_rstd + l * BT, BT, d.C);
  }
  embedding_backward(g->embed, s->d_resid, m->tokens, BT, d.C);
}
