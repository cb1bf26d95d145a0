/* lora — the adapter's buffers, its forward and backward, merging, PEFT
 * names (see lora.h). The files are lora_io.c's. */
#include "model/lora.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "model/llama_dims.h"
#include "tensor/tensor.h"

static const char *const llama_names[LORA_N_MODULES] = {
    "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
static const char *const phi_names[LORA_N_MODULES] = {
    "q_proj", "k_proj", "v_proj", "dense", NULL, "fc1", "fc2"};

const char *lora_module_name(const llama_config *mc, int mod) {
  if (mod < 0 || mod >= LORA_N_MODULES) return NULL;
  return (llama_config_is_phi(mc) ? phi_names : llama_names)[mod];
}

int lora_module_from_name(const llama_config *mc, const char *name) {
  for (int i = 0; i < LORA_N_MODULES; i++) {
    const char *n = mc ? lora_module_name(mc, i) : llama_names[i];
    const char *phi = mc ? NULL : phi_names[i];
    if ((n && !strcmp(n, name)) || (phi && !strcmp(phi, name))) return i;
  }
  return -1;
}

/* The PEFT path of a module below model.layers.{l}. */
static const char *module_path(int mod) { return mod <= LORA_O ? "self_attn" : "mlp"; }

static int targeted(const lora_adapter *lo, int mod) { return (lo->cfg.targets >> mod) & 1u; }

int lora_create(lora_adapter *lo, const llama_config *mc, const lora_config *cfg,
                lethe_err *err) {
  memset(lo, 0, sizeof *lo);
  if (cfg->rank < 1)
    return lethe_errf(err, LETHE_E_CONFIG, "lora: rank must be at least 1, not %d", cfg->rank);
  if (!(cfg->alpha > 0) || !isfinite(cfg->alpha))
    return lethe_errf(err, LETHE_E_CONFIG, "lora: alpha must be positive, not %g", cfg->alpha);
  if (!(cfg->dropout >= 0 && cfg->dropout < 1))
    return lethe_errf(err, LETHE_E_CONFIG, "lora: dropout must be in [0, 1), not %g",
                      cfg->dropout);
  unsigned have = 0;
  for (int i = 0; i < LORA_N_MODULES; i++)
    if (lora_module_name(mc, i)) have |= 1u << i;
  if (!(cfg->targets & have) || (cfg->targets & ~have))
    return lethe_errf(err, LETHE_E_CONFIG, "lora: the target modules must be layers the %s "
                      "family has, and at least one", llama_family_name(mc->family));
  dims d = dims_of(mc);
  int ins[LORA_N_MODULES] = {d.C, d.C, d.C, d.QD, d.C, d.C, d.F};
  int outs[LORA_N_MODULES] = {d.QD, d.KVD, d.KVD, d.C, d.F, d.F, d.C};
  lo->cfg = *cfg;
  lo->L = d.L;
  lo->scale = (float)(cfg->alpha / (cfg->use_rslora ? sqrt((double)cfg->rank) : cfg->rank));
  size_t r = (size_t)cfg->rank;
  for (int i = 0; i < LORA_N_MODULES; i++) {
    lo->in[i] = ins[i];
    lo->out[i] = outs[i];
    if (targeted(lo, i)) lo->n_params += (size_t)d.L * r * (size_t)(ins[i] + outs[i]);
  }
  lo->params = lethe_alloc_aligned(lo->n_params * sizeof(float));
  lethe_rng rng;
  lethe_rng_seed(&rng, cfg->seed);
  float *at = lo->params;
  for (int i = 0; i < LORA_N_MODULES; i++) {
    if (!targeted(lo, i)) continue;
    size_t na = (size_t)d.L * r * ins[i], nb = (size_t)d.L * outs[i] * r;
    double bound = 1.0 / sqrt((double)ins[i]); /* kaiming_uniform(a = √5) on (r, in) */
    lo->a[i] = at;
    for (size_t k = 0; k < na; k++) at[k] = (float)(bound * (2.0 * lethe_rng_uniform(&rng) - 1.0));
    lo->b[i] = at + na;
    memset(lo->b[i], 0, nb * sizeof(float));
    at += na + nb;
  }
  return 0;
}

void lora_free(lora_adapter *lo) {
  free(lo->params);
  free(lo->grads);
  free(lo->work);
  memset(lo, 0, sizeof *lo);
}

void lora_alloc_grads(lora_adapter *lo) {
  if (lo->grads) return;
  lo->grads = lethe_alloc_aligned(lo->n_params * sizeof(float));
  lora_zero_grads(lo);
  for (int i = 0; i < LORA_N_MODULES; i++) {
    lo->ga[i] = lo->a[i] ? lo->grads + (lo->a[i] - lo->params) : NULL;
    lo->gb[i] = lo->b[i] ? lo->grads + (lo->b[i] - lo->params) : NULL;
  }
}

void lora_zero_grads(lora_adapter *lo) {
  if (lo->grads) memset(lo->grads, 0, lo->n_params * sizeof(float));
}

/* The widest input or output of a targeted module, and how many are. */
static size_t widest(const lora_adapter *lo, size_t *n_xa) {
  size_t wide = 0;
  *n_xa = 0;
  for (int i = 0; i < LORA_N_MODULES; i++) {
    if (!targeted(lo, i)) continue;
    if ((size_t)lo->in[i] > wide) wide = (size_t)lo->in[i];
    if ((size_t)lo->out[i] > wide) wide = (size_t)lo->out[i];
    (*n_xa)++;
  }
  return wide;
}

size_t lora_work_bytes(const lora_adapter *lo, int64_t M) {
  size_t n_xa, wide = widest(lo, &n_xa), r = (size_t)lo->cfg.rank;
  return (n_xa * (size_t)lo->L * (size_t)M * r + 3 * (size_t)M * wide + (size_t)M * r) *
         sizeof(float);
}

void lora_reserve(lora_adapter *lo, int64_t M) {
  if (M <= lo->M_max) return;
  free(lo->work);
  size_t r = (size_t)lo->cfg.rank, n_xa, wide = widest(lo, &n_xa);
  size_t per_xa = (size_t)lo->L * (size_t)M * r;
  lo->work = lethe_alloc_aligned(lora_work_bytes(lo, M));
  float *at = lo->work;
  for (int i = 0; i < LORA_N_MODULES; i++) {
    lo->xa[i] = targeted(lo, i) ? at : NULL;
    if (targeted(lo, i)) at += per_xa;
  }
  lo->x_in = at;
  lo->d_in = at + (size_t)M * wide;
  lo->d_out = at + 2 * (size_t)M * wide;
  lo->d_xa = at + 3 * (size_t)M * wide;
  lo->M_max = M;
}

/* splitmix64's finaliser: a counter-based hash for the dropout masks. */
static uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

void lora_set_training(lora_adapter *lo, int on, uint64_t key) {
  lo->training = on;
  lo->mask_key = mix64(lo->cfg.seed ^ mix64(key));
}

static int dropping(const lora_adapter *lo) { return lo->training && lo->cfg.dropout > 0; }

/* v (M, n) *= mask/(1 − p), the mask of (layer, module) under the current
 * key: element i is kept when its hash, as a uniform in [0, 1), is >= p. */
static void apply_mask(const lora_adapter *lo, int l, int mod, float *v, int64_t count) {
  uint64_t base = mix64(lo->mask_key ^ mix64((uint64_t)l * LORA_N_MODULES + (uint64_t)mod));
  double p = lo->cfg.dropout;
  float keep = (float)(1.0 / (1.0 - p));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; i++) {
    double u = (double)(mix64(base + (uint64_t)i) >> 11) * 0x1.0p-53;
    v[i] = u >= p ? v[i] * keep : 0.0f;
  }
}

/* src (n) bfloat16 widened to float32. */
static void widen(float *dst, const uint16_t *src, int64_t n) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    union { uint32_t u; float f; } v = {(uint32_t)src[i] << 16};
    dst[i] = v.f;
  }
}

/* x' (M, in): x itself, or widened / dropped out into lo->x_in. */
static const float *branch_input(lora_adapter *lo, int l, int mod, const float *x,
                                 const uint16_t *x16, int64_t M) {
  int64_t n = M * lo->in[mod];
  if (!x16 && !dropping(lo)) return x;
  if (x16) widen(lo->x_in, x16, n);
  else memcpy(lo->x_in, x, (size_t)n * sizeof(float));
  if (dropping(lo)) apply_mask(lo, l, mod, lo->x_in, n);
  return lo->x_in;
}

void lora_forward(lora_adapter *lo, int l, int mod, float *y, const float *x, const uint16_t *x16,
                  int64_t M) {
  if (!targeted(lo, mod)) return;
  int64_t r = lo->cfg.rank, in = lo->in[mod], out = lo->out[mod];
  const float *xin = branch_input(lo, l, mod, x, x16, M);
  float *xa = lo->xa[mod] + (int64_t)l * lo->M_max * r;
  tensor_linear_forward(xa, xin, lo->a[mod] + l * r * in, M, in, r, 0);
  float s = lo->scale;
  for (int64_t i = 0; i < M * r; i++) xa[i] *= s;
  tensor_linear_forward(y, xa, lo->b[mod] + l * out * r, M, r, out, 1);
}

void lora_backward(lora_adapter *lo, int l, int mod, float *dx, const float *dy,
                   const uint16_t *dy16, const float *x, const uint16_t *x16, int64_t M) {
  if (!targeted(lo, mod)) return;
  int64_t r = lo->cfg.rank, in = lo->in[mod], out = lo->out[mod];
  const float *a = lo->a[mod] + l * r * in, *b = lo->b[mod] + l * out * r;
  const float *xa = lo->xa[mod] + (int64_t)l * lo->M_max * r;
  if (dy16) {
    widen(lo->d_out, dy16, M * out);
    dy = lo->d_out;
  }
  const float *xin = branch_input(lo, l, mod, x, x16, M);
  tensor_linear_backward_weights(lo->gb[mod] + l * out * r, dy, xa, M, r, out);
  tensor_linear_backward_data(lo->d_xa, dy, b, M, r, out, 0);
  float s = lo->scale;
  for (int64_t i = 0; i < M * r; i++) lo->d_xa[i] *= s;
  tensor_linear_backward_weights(lo->ga[mod] + l * r * in, lo->d_xa, xin, M, in, r);
  if (!dropping(lo)) {
    tensor_linear_backward_data(dx, lo->d_xa, a, M, in, r, 1);
    return;
  }
  tensor_linear_backward_data(lo->d_in, lo->d_xa, a, M, in, r, 0);
  apply_mask(lo, l, mod, lo->d_in, M * in);
  for (int64_t i = 0; i < M * in; i++) dx[i] += lo->d_in[i];
}

/* Layer l's base weight of module mod in m's parameters. */
static float *base_weight(llama_model *m, int mod, int l, int64_t per_layer) {
  llama_params *p = &m->params;
  float *w[LORA_N_MODULES] = {p->wq, p->wk, p->wv, p->wo, p->w_gate, p->w_up, p->w_down};
  return w[mod] + l * per_layer;
}

void lora_merge(llama_model *m, const lora_adapter *lo) {
  int64_t r = lo->cfg.rank;
  for (int mod = 0; mod < LORA_N_MODULES; mod++) {
    if (!targeted(lo, mod)) continue;
    int64_t in = lo->in[mod], out = lo->out[mod];
    for (int l = 0; l < lo->L; l++)
      tensor_matmul(base_weight(m, mod, l, out * in), tensor_view2(out, in),
                    lo->b[mod] + l * out * r, tensor_view2(out, r), lo->a[mod] + l * r * in,
                    tensor_view2(r, in), lo->scale, 1);
  }
}

int lora_named_tensors(const lora_adapter *lo, const llama_config *mc, int grads,
                       llama_tensor_ref *out, int cap) {
  int n = 0;
  int64_t r = lo->cfg.rank;
  for (int l = 0; l < lo->L; l++)
    for (int mod = 0; mod < LORA_N_MODULES; mod++) {
      if (!targeted(lo, mod)) continue;
      int64_t in = lo->in[mod], o = lo->out[mod];
      for (int which = 0; which < 2; which++, n++) { /* lora_A, then lora_B */
        if (n >= cap) continue;
        llama_tensor_ref *t = &out[n];
        const float *base = which ? (grads ? lo->gb : lo->b)[mod] : (grads ? lo->ga : lo->a)[mod];
        snprintf(t->name, sizeof t->name, "base_model.model.model.layers.%d.%s.%s.lora_%c.weight",
                 l, module_path(mod), lora_module_name(mc, mod), which ? 'B' : 'A');
        t->data = base ? (float *)base + l * r * (which ? o : in) : NULL;
        t->ndim = 2;
        t->shape[0] = which ? o : r;
        t->shape[1] = which ? r : in;
      }
    }
  return n;
}
