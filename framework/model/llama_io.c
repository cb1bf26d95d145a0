/* llama_io — HF tensor names for the parameter buffers (every family's:
 * notes §4); model directory load/save (config.json + the weights:
 * st_shards.h, llama_storage.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "model/llama_dims.h"
#include "model/safetensors.h"
#include "model/st_shards.h"

/* One (role, layer) slice of the parameters or gradients; NULL without a
 * model (names alone) or for a frozen gradient. */
static float *slice_of(const llama_model *m, int of, int role, int layer) {
  if (!m) return NULL;
  return of == LLAMA_OF_GRADS ? llama_grad(m, role, layer) : llama_param_slice(m, role, layer);
}

/* The HF names of cfg's tensors, with their data in m (NULL: none) when of
 * says so; frozen gradients are left out. */
static int named(const llama_config *c, const llama_model *m, int of, llama_tensor_ref *out,
                 int cap) {
  size_t sizes[LLAMA_N_PARAM_TENSORS];
  llama_param_sizes_of(c, sizes);
  int64_t C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
  int64_t QD = (int64_t)c->num_attention_heads * c->head_dim;
  int64_t KVD = (int64_t)c->num_key_value_heads * c->head_dim;
  int n = 0;
#define ADD(role_, layer_, nd, d0, d1, ...)                         \
  do {                                                              \
    float *data_ = slice_of(m, of, (role_), (layer_));              \
    if (!sizes[role_] || (of == LLAMA_OF_GRADS && !data_)) break;   \
    if (n < cap) {                                                  \
      llama_tensor_ref *r = &out[n];                                \
      snprintf(r->name, sizeof r->name, __VA_ARGS__);               \
      r->data = data_;                                              \
      r->ndim = (nd);                                               \
      r->shape[0] = (d0);                                           \
      r->shape[1] = (d1);                                           \
      r->role = (role_);                                            \
      r->layer = (layer_);                                          \
    }                                                               \
    n++;                                                            \
  } while (0)
  int phi = llama_config_is_phi(c), HD = c->head_dim;
  const char *o = phi ? "dense" : "o_proj", *up = phi ? "fc1" : "up_proj";
  const char *down = phi ? "fc2" : "down_proj";
  ADD(LLAMA_PARAM_EMBED, 0, 2, V, C, "model.embed_tokens.weight");
  for (int l = 0; l < c->num_hidden_layers; l++) {
    ADD(LLAMA_PARAM_ATTN_NORM, l, 1, C, 0, "model.layers.%d.input_layernorm.weight", l);
    ADD(LLAMA_PARAM_ATTN_NORM_BIAS, l, 1, C, 0, "model.layers.%d.input_layernorm.bias", l);
    ADD(LLAMA_PARAM_WQ, l, 2, QD, C, "model.layers.%d.self_attn.q_proj.weight", l);
    ADD(LLAMA_PARAM_WK, l, 2, KVD, C, "model.layers.%d.self_attn.k_proj.weight", l);
    ADD(LLAMA_PARAM_WV, l, 2, KVD, C, "model.layers.%d.self_attn.v_proj.weight", l);
    ADD(LLAMA_PARAM_BQ, l, 1, QD, 0, "model.layers.%d.self_attn.q_proj.bias", l);
    ADD(LLAMA_PARAM_BK, l, 1, KVD, 0, "model.layers.%d.self_attn.k_proj.bias", l);
    ADD(LLAMA_PARAM_BV, l, 1, KVD, 0, "model.layers.%d.self_attn.v_proj.bias", l);
    ADD(LLAMA_PARAM_Q_NORM, l, 1, HD, 0, "model.layers.%d.self_attn.q_norm.weight", l);
    ADD(LLAMA_PARAM_K_NORM, l, 1, HD, 0, "model.layers.%d.self_attn.k_norm.weight", l);
    ADD(LLAMA_PARAM_WO, l, 2, C, QD, "model.layers.%d.self_attn.%s.weight", l, o);
    ADD(LLAMA_PARAM_BO, l, 1, C, 0, "model.layers.%d.self_attn.%s.bias", l, o);
    ADD(LLAMA_PARAM_MLP_NORM, l, 1, C, 0, "model.layers.%d.post_attention_layernorm.weight", l);
    ADD(LLAMA_PARAM_W_GATE, l, 2, F, C, "model.layers.%d.mlp.gate_proj.weight", l);
    ADD(LLAMA_PARAM_B_GATE, l, 1, F, 0, "model.layers.%d.mlp.gate_proj.bias", l);
    ADD(LLAMA_PARAM_W_UP, l, 2, F, C, "model.layers.%d.mlp.%s.weight", l, up);
    ADD(LLAMA_PARAM_B_UP, l, 1, F, 0, "model.layers.%d.mlp.%s.bias", l, up);
    ADD(LLAMA_PARAM_W_DOWN, l, 2, C, F, "model.layers.%d.mlp.%s.weight", l, down);
    ADD(LLAMA_PARAM_B_DOWN, l, 1, C, 0, "model.layers.%d.mlp.%s.bias", l, down);
  }
  ADD(LLAMA_PARAM_FINAL_NORM, 0, 1, C, 0, phi ? "model.final_layernorm.weight" : "model.norm.weight");
  ADD(LLAMA_PARAM_FINAL_NORM_BIAS, 0, 1, C, 0, "model.final_layernorm.bias");
  ADD(LLAMA_PARAM_LM_HEAD, 0, 2, V, C, "lm_head.weight"); /* size 0 when tied */
  ADD(LLAMA_PARAM_LM_HEAD_BIAS, 0, 1, V, 0, "lm_head.bias");
#undef ADD
  return n;
}

int llama_named_tensors(const llama_model *m, int of, llama_tensor_ref *out, int cap) {
  return named(&m->cfg, m, of, out, cap);
}

int llama_tensor_names(const llama_config *cfg, llama_tensor_ref *out, int cap) {
  return named(cfg, NULL, LLAMA_OF_PARAMS, out, cap);
}

static llama_tensor_ref *all_tensors(const llama_model *m, int of, int *n) {
  *n = llama_named_tensors(m, of, NULL, 0);
  llama_tensor_ref *refs = lethe_calloc((size_t)*n + 1, sizeof *refs);
  llama_named_tensors(m, of, refs, *n);
  return refs;
}

/* A weight that is NaN or infinite is refused at load, naming the tensor
 * (it would otherwise only show up as a NaN loss steps later). */
static int check_finite(const llama_tensor_ref *r, const char *path, lethe_err *err) {
  size_t numel = (size_t)r->shape[0] * (r->ndim == 2 ? (size_t)r->shape[1] : 1);
  for (size_t i = 0; i < numel; i++)
    if (!isfinite(r->data[i]))
      return lethe_errf(err, LETHE_E_NUMERIC, "%s: tensor '%s' holds a non-finite value (%g at "
                        "flat index %zu)", path, r->name, r->data[i], i);
  return 0;
}

int llama_load(llama_model *m, const char *dir, lethe_err *err) {
  memset(m, 0, sizeof *m);
  char *cfg_path = lethe_path_join(dir, "config.json");
  llama_config cfg;
  st_set set = {0};
  int rc = -1;
  if (llama_config_read(&cfg, cfg_path, err) != 0) goto done;
  if (st_set_open(&set, dir, err) != 0) goto done;
  /* Every parameter needs at least 2 bytes (BF16/F16) of the files: a config
   * asking for more is refused before anything is allocated from it. */
  uint64_t numel = llama_config_n_params(&cfg);
  if (numel > set.data_bytes / 2) {
    lethe_errf(err, LETHE_E_FORMAT,
               "%s asks for %llu parameters, but %s holds only %llu bytes of tensor data",
               cfg_path, (unsigned long long)numel, set.path, (unsigned long long)set.data_bytes);
    goto done;
  }
  if (llama_alloc(m, &cfg, err) != 0) goto done;
  int n;
  llama_tensor_ref *refs = all_tensors(m, LLAMA_OF_PARAMS, &n);
  for (int i = 0; i < n; i++) {
    int file = 0;
    st_set_find(&set, refs[i].name, &file);
    if (st_set_load_f32(&set, refs[i].name, refs[i].ndim, refs[i].shape, refs[i].data, err) != 0 ||
        check_finite(&refs[i], set.files[file].path, err) != 0) {
      free(refs);
      goto done;
    }
  }
  llama_storage_remember(&m->storage, &set, refs, n);
  free(refs);
  rc = 0;
done:
  if (rc != 0) {
    lethe_err_prefix(err, "loading model %s", dir);
    llama_free(m);
  }
  st_set_close(&set);
  free(cfg_path);
  return rc;
}

int llama_write_safetensors(const llama_model *m, int of, const char *path,
                            const st_entry *extra, int n_extra, const char *const *meta_kv,
                            int n_meta, lethe_err *err) {
  int n;
  llama_tensor_ref *refs = all_tensors(m, of, &n);
  st_entry *entries = lethe_calloc((size_t)(n + n_extra), sizeof *entries);
  for (int i = 0; i < n; i++) {
    entries[i].name = refs[i].name;
    entries[i].ndim = refs[i].ndim;
    entries[i].shape[0] = refs[i].shape[0];
    entries[i].shape[1] = refs[i].shape[1];
    entries[i].data = refs[i].data;
  }
  for (int i = 0; i < n_extra; i++) entries[n + i] = extra[i];
  int rc = st_write_f32(path, entries, n + n_extra, meta_kv, n_meta, err);
  free(entries);
  free(refs);
  return rc;
}

int llama_save_as(const llama_model *m, const char *dir, const llama_storage *how,
                  lethe_err *err) {
  if (lethe_mkdir_p(dir, err) != 0) return -1;
  int n;
  llama_tensor_ref *refs = all_tensors(m, LLAMA_OF_PARAMS, &n);
  st_entry *entries = lethe_calloc((size_t)n + 1, sizeof *entries);
  int *shard_of = lethe_calloc((size_t)n + 1, sizeof *shard_of);
  st_layout layout;
  static const char *const meta[] = {"format", "pt"};
  int rc = llama_storage_plan(how, refs, n, entries, shard_of, &layout, dir, err);
  if (rc == 0) rc = st_set_write(dir, entries, n, &layout, meta, 1, err);
  if (rc == 0) {
    char *cfg_path = lethe_path_join(dir, "config.json");
    rc = llama_config_write_dtype(&m->cfg, cfg_path, llama_storage_torch_dtype(entries, n), err);
    free(cfg_path);
  }
  free(shard_of);
  free(entries);
  free(refs);
  return rc;
}

int llama_save(const llama_model *m, const char *dir, lethe_err *err) {
  return llama_save_as(m, dir, &m->storage, err);
}

int llama_init_dir(const char *config_path, const char *dir, uint64_t seed, const llama_storage *how,
                   lethe_err *err) {
  llama_config cfg;
  llama_model m;
  if (llama_config_read(&cfg, config_path, err) != 0 || llama_init(&m, &cfg, seed, err) != 0)
    return -1;
  if (cfg.pad_token_id >= 0) /* HF zeroes the padding_idx row of the embedding */
    memset(m.params.embed + (size_t)cfg.pad_token_id * cfg.hidden_size, 0,
           sizeof(float) * (size_t)cfg.hidden_size);
  int rc = how ? llama_save_as(&m, dir, how, err) : llama_save(&m, dir, err);
  llama_free(&m);
  return rc;
}
