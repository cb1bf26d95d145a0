/* llama_frozen — frozen matrices held in bfloat16 (see llama.h): holding
 * and releasing them, finding a held weight, and the matmuls, embedding
 * lookups and bf16 rounding that read them (llama_ops.h). Not here: which
 * tensors train (llama_trainable.c), the layers (llama_layers.c). */
#include <stdlib.h>
#include <string.h>

#include "model/kernels.h"
#include "model/llama.h"
#include "model/llama_dims.h"
#include "model/llama_ops.h"

/* The widening buffer holds at most this many floats (rows of a larger
 * weight, an embedding, are widened a block at a time). */
#define WIDEN_MAX_FLOATS ((size_t)1 << 24)

/* 1 when a slice can be held: a matrix (or embedding) that does not
 * train, with storage of its own (not a tied lm_head). */
static int holdable(const llama_config *cfg, const size_t *sizes, const uint8_t *mask, int r,
                    int l) {
  if (!llama_param_role_is_matrix(r) || !sizes[r]) return 0;
  return !mask || !mask[r * cfg->num_hidden_layers + l];
}

/* The trainable mask of m as bytes (NULL when what trains is not chosen:
 * nothing can be held then). */
static uint8_t *mask_of(const llama_model *m) {
  if (!m->grad_offset) return NULL;
  size_t n = (size_t)LLAMA_N_PARAM_TENSORS * m->cfg.num_hidden_layers;
  uint8_t *mask = lethe_malloc(n);
  for (size_t i = 0; i < n; i++) mask[i] = m->grad_offset[i] != LLAMA_FROZEN;
  return mask;
}

/* The floats of the slices a hold would take for the mask, and the
 * largest slice among them. */
static size_t holdable_floats(const llama_config *cfg, const uint8_t *mask, size_t *largest) {
  size_t sizes[LLAMA_N_PARAM_TENSORS], n = 0;
  int L = cfg->num_hidden_layers;
  llama_param_sizes_of(cfg, sizes);
  *largest = 0;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++) {
    int slices = llama_param_role_is_layered(r) ? L : 1;
    size_t one = sizes[r] / (size_t)slices;
    for (int l = 0; l < slices; l++)
      if (holdable(cfg, sizes, mask, r, l)) {
        n += one;
        *largest = one > *largest ? one : *largest;
      }
  }
  return n;
}

size_t llama_frozen_matrix_floats(const llama_config *cfg, const uint8_t *mask) {
  size_t largest;
  return holdable_floats(cfg, mask, &largest);
}

size_t llama_widen_bytes(const llama_config *cfg, const uint8_t *mask) {
  size_t largest;
  holdable_floats(cfg, mask, &largest);
  return (largest < WIDEN_MAX_FLOATS ? largest : WIDEN_MAX_FLOATS) * sizeof(float);
}

/* 1 when every value of x is a bfloat16 (its low 16 bits are zero). */
static int is_bf16_exact(const float *x, size_t n) {
  for (size_t i = 0; i < n; i++) {
    uint32_t bits;
    memcpy(&bits, &x[i], sizeof bits);
    if (bits & 0xFFFFu) return 0;
  }
  return 1;
}

/* dst (n) = src widened to float32 (exact). */
static void widen(float *dst, const uint16_t *src, int64_t n) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; i++) {
    uint32_t bits = (uint32_t)src[i] << 16;
    memcpy(&dst[i], &bits, sizeof bits);
  }
}

size_t llama_hold_frozen(llama_model *m, int mode) {
  if (mode == LLAMA_HOLD_F32 || m->frozen16 || m->borrowed || !m->params_memory ||
      !m->grad_offset)
    return 0;
  int L = m->cfg.num_hidden_layers;
  uint8_t *mask = mask_of(m);
  size_t n_off = (size_t)LLAMA_N_PARAM_TENSORS * L, total = 0;
  m->frozen16_off = lethe_malloc(n_off * sizeof(size_t));
  for (size_t i = 0; i < n_off; i++) m->frozen16_off[i] = LLAMA_FROZEN;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < llama_role_slices(m, r); l++) {
      size_t n = llama_slice_floats(m, r);
      if (!holdable(&m->cfg, m->param_sizes, mask, r, l)) continue;
      if (mode == LLAMA_HOLD_AUTO && !is_bf16_exact(llama_param_slice(m, r, l), n)) continue;
      m->frozen16_off[r * L + l] = total;
      total += n;
    }
  free(mask);
  if (!total) {
    free(m->frozen16_off);
    m->frozen16_off = NULL;
    return 0;
  }
  m->frozen16 = lethe_alloc_aligned(total * sizeof(uint16_t));
  size_t most = 0;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < llama_role_slices(m, r); l++) {
      size_t off = m->frozen16_off[r * L + l], n = llama_slice_floats(m, r);
      if (off == LLAMA_FROZEN) continue;
      float *f = llama_param_slice(m, r, l);
      tensor_to_bf16(m->frozen16 + off, f, (int64_t)n);
      lethe_pages_drop(f, n * sizeof(float));
      if (n > most) most = n;
    }
  m->widen_floats = most < WIDEN_MAX_FLOATS ? most : WIDEN_MAX_FLOATS;
  m->widen = lethe_pages_alloc(m->widen_floats * sizeof(float)); /* untouched in bf16 compute */
  return total;
}

void llama_release_frozen(llama_model *m) {
  if (!m->frozen16) return;
  int L = m->cfg.num_hidden_layers;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < llama_role_slices(m, r); l++) {
      size_t off = m->frozen16_off[r * L + l], n = llama_slice_floats(m, r);
      if (off == LLAMA_FROZEN) continue;
      float *f = llama_param_slice(m, r, l);
      lethe_pages_restore(f, n * sizeof(float));
      widen(f, m->frozen16 + off, (int64_t)n);
    }
  free(m->frozen16);
  free(m->frozen16_off);
  lethe_pages_free(m->widen, m->widen_floats * sizeof(float));
  m->frozen16 = NULL;
  m->frozen16_off = NULL;
  m->widen = NULL;
  m->widen_floats = 0;
}

int llama_hold_from_name(const char *name, int *mode, lethe_err *err) {
  if (!strcmp(name, "auto")) *mode = LLAMA_HOLD_AUTO;
  else if (!strcmp(name, "f32")) *mode = LLAMA_HOLD_F32;
  else if (!strcmp(name, "bf16")) *mode = LLAMA_HOLD_BF16;
  else
    return lethe_errf(err, LETHE_E_CONFIG, "memory.frozen_weights must be \"auto\" (bfloat16 "
                      "where that loses nothing), \"f32\" or \"bf16\", not \"%s\"", name);
  return 0;
}

int llama_hold_planned(int mode, const char *config_path) {
  return mode == LLAMA_HOLD_BF16 || (mode == LLAMA_HOLD_AUTO && llama_config_says_bf16(config_path));
}

/* The model whose weights m reads (its owner for a view). */
static const llama_model *source(const llama_model *m) { return m->owner ? m->owner : m; }

const uint16_t *llama_held16(const llama_model *m, const float *w) {
  const llama_model *s = source(m);
  if (!s->frozen16 || w < s->params_memory || w >= s->params_memory + s->n_params) return NULL;
  size_t at = (size_t)(w - s->params_memory), start = 0;
  int r = 0;
  while (r < LLAMA_N_PARAM_TENSORS - 1 && at >= start + s->param_sizes[r]) start += s->param_sizes[r++];
  size_t slice = llama_slice_floats(s, r), l = (at - start) / slice;
  size_t off = s->frozen16_off[r * s->cfg.num_hidden_layers + (int)l];
  return off == LLAMA_FROZEN ? NULL : s->frozen16 + off + (at - start - l * slice);
}

/* Rows of W (N, K) widened per block: as many as the buffer holds. */
static int64_t block_rows(const llama_model *s, int64_t K) {
  int64_t rows = (int64_t)(s->widen_floats / (size_t)K);
  return rows > 0 ? rows : 1;
}

void llama_linear_forward(const llama_model *m, int half, float *y, operand x, const uint16_t *copy16,
                          const float *w, int64_t M, int64_t K, int64_t N, int accumulate) {
  const uint16_t *held = llama_held16(m, w);
  if (half) {
    const uint16_t *wh = held ? held : copy16 + (w - source(m)->params_memory);
    tensor_linear_forward_typed(y, x.h, wh, TENSOR_BF16, M, K, N, accumulate);
    return;
  }
  if (!held) {
    tensor_linear_forward(y, x.f, w, M, K, N, accumulate);
    return;
  }
  const llama_model *s = source(m);
  int64_t nb = block_rows(s, K);
  for (int64_t n0 = 0; n0 < N; n0 += nb) { /* y[:, n0:n0+rows] (+)= x · W[n0:n0+rows]ᵀ */
    int64_t rows = N - n0 < nb ? N - n0 : nb;
    widen(s->widen, held + n0 * K, rows * K);
    tensor_view yv = {2, {M, rows}, {N, 1}};
    tensor_matmul(y + n0, yv, x.f, tensor_view2(M, K), s->widen,
                  tensor_transposed(tensor_view2(rows, K)), 1.0f, accumulate);
  }
}

void llama_linear_backward_data(const llama_model *m, int half, float *dx, operand dy,
                                const uint16_t *copy16,
                                const float *w, int64_t M, int64_t K, int64_t N, int accumulate) {
  const uint16_t *held = llama_held16(m, w);
  if (half) {
    const uint16_t *wh = held ? held : copy16 + (w - source(m)->params_memory);
    tensor_linear_backward_data_typed(dx, dy.h, wh, TENSOR_BF16, M, K, N, accumulate);
    return;
  }
  if (!held) {
    tensor_linear_backward_data(dx, dy.f, w, M, K, N, accumulate);
    return;
  }
  const llama_model *s = source(m);
  int64_t nb = block_rows(s, K);
  for (int64_t n0 = 0; n0 < N; n0 += nb) { /* dx (+)= dy[:, n0:n0+rows] · W[n0:n0+rows] */
    int64_t rows = N - n0 < nb ? N - n0 : nb;
    widen(s->widen, held + n0 * K, rows * K);
    tensor_view dyv = {2, {M, rows}, {N, 1}};
    tensor_matmul(dx, tensor_view2(M, K), dy.f + n0, dyv, s->widen, tensor_view2(rows, K), 1.0f,
                  accumulate || n0 > 0);
  }
}

void llama_embed_rows(const llama_model *m, float *out, const int32_t *tokens, int64_t n) {
  int C = m->cfg.hidden_size;
  const uint16_t *held = llama_held16(m, m->params.embed);
  if (!held) {
    embedding_forward(out, m->params.embed, tokens, n, C);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) widen(out + i * C, held + (int64_t)tokens[i] * C, C);
}

void llama_round_params(const llama_model *m, uint16_t *dst) {
  const llama_model *s = source(m);
  if (!s->frozen16) {
    tensor_to_bf16(dst, s->params_memory, (int64_t)s->n_params);
    return;
  }
  int L = s->cfg.num_hidden_layers;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < llama_role_slices(s, r); l++) {
      if (s->frozen16_off[r * L + l] != LLAMA_FROZEN) continue;
      float *f = llama_param_slice(s, r, l);
      tensor_to_bf16(dst + (f - s->params_memory), f, (int64_t)llama_slice_floats(s, r));
    }
}

void llama_read_slice(const llama_model *m, int role, int layer, float *dst) {
  const llama_model *s = source(m);
  const float *f = llama_param_slice(s, role, layer);
  size_t n = llama_slice_floats(s, role);
  const uint16_t *held = llama_held16(m, f);
  if (held) widen(dst, held, (int64_t)n);
  else memcpy(dst, f, n * sizeof(float));
}
