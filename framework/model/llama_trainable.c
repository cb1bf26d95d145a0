/* llama_trainable — which (role, layer) slices of a model train: the mask
 * from name patterns, the gradient buffer of the trainable slices alone, and
 * the views the backward pass and the optimizer read (see llama.h). Not
 * here: skipping work in backward (llama_layers.c), the optimizer (train/). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <assert.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "model/llama_dims.h"

/* Frees the gradients and lays out the offsets of the mask's slices (NULL:
 * every one) in storage order; returns their floats (n_trainable). */
static size_t place_grads(llama_model *m, const uint8_t *mask) {
  int L = m->cfg.num_hidden_layers;
  free(m->grads_memory);
  free(m->grad_offset);
  m->grads_memory = NULL;
  m->grad_offset = lethe_malloc(sizeof(size_t) * LLAMA_N_PARAM_TENSORS * (size_t)L);
  size_t at = 0;
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < L; l++) {
      size_t *off = &m->grad_offset[r * L + l];
      *off = LLAMA_FROZEN;
      if (l >= llama_role_slices(m, r) || !m->param_sizes[r] || (mask && !mask[r * L + l])) continue;
      *off = at;
      at += llama_slice_floats(m, r);
    }
  m->n_trainable = at;
  return at;
}

int llama_set_trainable(llama_model *m, const uint8_t *mask, lethe_err *err) {
  size_t n = place_grads(m, mask);
  if (!n) {
    free(m->grad_offset);
    m->grad_offset = NULL;
    return lethe_errf(err, LETHE_E_CONFIG, "the trainable subset is empty: no tensor would train");
  }
  if (m->params_memory) /* a shell (llama_shell) gets the offsets alone */
    m->grads_memory = lethe_alloc_aligned(n * sizeof(float)); /* zero-filled */
  return 0;
}

void llama_freeze(llama_model *m) {
  uint8_t *none = lethe_calloc((size_t)LLAMA_N_PARAM_TENSORS * m->cfg.num_hidden_layers, 1);
  place_grads(m, none);
  free(none);
}

void llama_attach_lora(llama_model *m, struct lora_adapter *lo) {
  m->lora = lo;
  if (lo) llama_freeze(m);
}

void llama_alloc_grads(llama_model *m) {
  if (m->grad_offset) return; /* chosen: llama_set_trainable or llama_freeze */
  int rc = llama_set_trainable(m, NULL, NULL);
  assert(rc == 0 && "every model has an embedding to train");
  (void)rc;
}

void llama_zero_grads(llama_model *m) {
  if (m->grads_memory) memset(m->grads_memory, 0, m->n_trainable * sizeof(float));
}

int llama_trainable_spans(const llama_model *m, llama_span *out, int cap) {
  int n = 0;
  llama_span last = {0};
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++)
    for (int l = 0; l < llama_role_slices(m, r); l++) {
      float *g = llama_grad(m, r, l), *p = llama_param_slice(m, r, l);
      if (!g || !m->param_sizes[r]) continue;
      if (n && last.role == r && last.params + last.n == p && last.grads + last.n == g) {
        last.n += llama_slice_floats(m, r); /* the next layer of the same role */
      } else {
        last = (llama_span){r, p, g, llama_slice_floats(m, r)};
        n++;
      }
      if (n <= cap) out[n - 1] = last;
    }
  return n;
}

size_t llama_trainable_floats(const llama_config *cfg, const uint8_t *mask) {
  size_t sizes[LLAMA_N_PARAM_TENSORS], n = 0;
  int L = cfg->num_hidden_layers;
  llama_param_sizes_of(cfg, sizes);
  for (int r = 0; r < LLAMA_N_PARAM_TENSORS; r++) {
    int slices = llama_param_role_is_layered(r) ? L : 1;
    for (int l = 0; l < slices; l++)
      if (!mask || mask[r * L + l]) n += sizes[r] / (size_t)slices;
  }
  return n;
}

int llama_trainable_tensors(const llama_model *m) {
  return llama_named_tensors(m, LLAMA_OF_GRADS, NULL, 0);
}

/* Compiles one pattern to match whole names; NULL with PCRE2's message. */
static pcre2_code *compile_full(const char *pattern, const char *setting, lethe_err *err) {
  int code;
  PCRE2_SIZE at;
  pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED,
                                 PCRE2_ANCHORED | PCRE2_ENDANCHORED, &code, &at, NULL);
  if (!re) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    lethe_errf(err, LETHE_E_CONFIG, "%s: \"%s\" is not a valid regular expression: %s (at offset "
               "%zu)", setting, pattern, (const char *)msg, (size_t)at);
  }
  return re;
}

int llama_trainable_mask(const llama_config *cfg, const char *const *patterns, int n,
                         uint8_t *mask, const char *setting, lethe_err *err) {
  int L = cfg->num_hidden_layers;
  memset(mask, n ? 0 : 1, (size_t)LLAMA_N_PARAM_TENSORS * L);
  if (!n) return 0;
  int count = llama_tensor_names(cfg, NULL, 0), rc = 0;
  llama_tensor_ref *names = lethe_calloc((size_t)count + 1, sizeof *names);
  llama_tensor_names(cfg, names, count);
  for (int p = 0; p < n && rc == 0; p++) {
    pcre2_code *re = compile_full(patterns[p], setting, err);
    if (!re) {
      rc = -1;
      break;
    }
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(re, NULL);
    int matched = 0;
    for (int i = 0; i < count; i++)
      if (pcre2_match(re, (PCRE2_SPTR)names[i].name, PCRE2_ZERO_TERMINATED, 0, 0, md, NULL) >= 0) {
        mask[names[i].role * L + names[i].layer] = 1;
        matched++;
      }
    pcre2_match_data_free(md);
    pcre2_code_free(re);
    if (!matched)
      rc = lethe_errf(err, LETHE_E_CONFIG, "%s: \"%s\" matches no tensor of the model (names are "
                      "Hugging Face's, e.g. \"%s\" or \"%s\")", setting, patterns[p], names[0].name,
                      count > 1 ? names[1].name : names[0].name);
  }
  free(names);
  return rc;
}
