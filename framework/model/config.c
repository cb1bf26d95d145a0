/* config — read, check and write a model's Hugging Face config.json (see
 * config.h): the keys every family shares. The family's own keys
 * (model_type, biases, activation, rope rule) are model/arch.c's.
 *
 * The reader accepts both rope conventions: transformers ≤ 4 puts `rope_theta`
 * at the top level, transformers 5 nests it in `rope_parameters`. Anything the
 * runtime cannot honour is an error, never silently ignored. Fields we do not
 * use (dropout, use_cache, …) are ignored. The writer emits both rope forms so
 * either transformers generation loads the result.
 */
#include "model/config.h"

#include <jansson.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "model/arch.h"
#include "model/config_json.h"

#define CONFIG_MAX_FILE_BYTES (1u << 20)
#define LLAMA_MAX_INTERMEDIATE (1 << 20)
#define LLAMA_MAX_POSITIONS (1 << 24)

void llama_config_defaults(llama_config *cfg) {
  memset(cfg, 0, sizeof *cfg);
  cfg->max_position_embeddings = 2048;
  cfg->rms_norm_eps = 1e-6;
  cfg->rope_theta = 10000.0;
  cfg->tie_word_embeddings = 0;
  cfg->bos_token_id = -1;
  cfg->eos_token_id = -1;
  cfg->pad_token_id = -1;
  cfg->initializer_range = 0.02;
  cfg->family = LLAMA_FAMILY_LLAMA;
  cfg->rope_type = LLAMA_ROPE_DEFAULT;
  cfg->rope_factor = 1.0;
}

static int check_range(const char *where, const char *field, long long v, long long lo,
                       long long hi, lethe_err *err) {
  if (v < lo || v > hi)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = %lld is out of range (%lld..%lld)", where,
                      field, v, lo, hi);
  return 0;
}

static int check_positive_real(const char *where, const char *field, double v, lethe_err *err) {
  if (!isfinite(v) || v <= 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = %g must be a finite number > 0", where,
                      field, v);
  return 0;
}

uint64_t llama_config_n_params(const llama_config *c) {
  uint64_t C = (uint64_t)c->hidden_size, F = (uint64_t)c->intermediate_size;
  uint64_t V = (uint64_t)c->vocab_size, L = (uint64_t)c->num_hidden_layers;
  uint64_t QD = (uint64_t)c->num_attention_heads * (uint64_t)c->head_dim;
  uint64_t KVD = (uint64_t)c->num_key_value_heads * (uint64_t)c->head_dim;
  uint64_t HD = (uint64_t)c->head_dim, phi = (uint64_t)llama_config_is_phi(c);
  uint64_t layer = (2 - phi) * C + QD * C + 2 * KVD * C + C * QD + (3 - phi) * F * C;
  layer += c->qkv_bias ? QD + 2 * KVD : 0;
  layer += c->o_bias ? C : 0;
  layer += c->mlp_bias ? (phi ? F + C : 2 * F + C) : 0;
  layer += c->qk_norm ? 2 * HD : 0;
  layer += phi ? C : 0; /* LayerNorm bias */
  return V * C * (c->tie_word_embeddings ? 1 : 2) + L * layer + C * (1 + phi) + V * phi;
}

int llama_config_validate(const llama_config *cfg, const char *where, lethe_err *err) {
  if (check_range(where, "vocab_size", cfg->vocab_size, 1, LLAMA_MAX_VOCAB, err) ||
      check_range(where, "hidden_size", cfg->hidden_size, 1, LLAMA_MAX_HIDDEN, err) ||
      check_range(where, "intermediate_size", cfg->intermediate_size, 1, LLAMA_MAX_INTERMEDIATE,
                  err) ||
      check_range(where, "num_hidden_layers", cfg->num_hidden_layers, 1, LLAMA_MAX_LAYERS, err) ||
      check_range(where, "num_attention_heads", cfg->num_attention_heads, 1, LLAMA_MAX_HEADS,
                  err) ||
      check_range(where, "num_key_value_heads", cfg->num_key_value_heads, 1,
                  cfg->num_attention_heads, err) ||
      check_range(where, "head_dim", cfg->head_dim, 2, LLAMA_MAX_HIDDEN, err) ||
      check_range(where, "max_position_embeddings", cfg->max_position_embeddings, 1,
                  LLAMA_MAX_POSITIONS, err))
    return -1;
  if (cfg->num_attention_heads % cfg->num_key_value_heads != 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: num_attention_heads (%d) must be divisible by num_key_value_heads (%d)",
                      where, cfg->num_attention_heads, cfg->num_key_value_heads);
  if (cfg->head_dim % 2 != 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: head_dim = %d must be even (rotary embeddings rotate halves)", where,
                      cfg->head_dim);
  if ((long long)cfg->num_attention_heads * cfg->head_dim > LLAMA_MAX_HIDDEN)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: num_attention_heads x head_dim = %lld exceeds %d", where,
                      (long long)cfg->num_attention_heads * cfg->head_dim, LLAMA_MAX_HIDDEN);
  /* each size is bounded above, so this product cannot overflow */
  if (llama_config_n_params(cfg) > LLAMA_MAX_PARAMS)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: the model would have %llu parameters, more than the %llu supported",
                      where, (unsigned long long)llama_config_n_params(cfg),
                      (unsigned long long)LLAMA_MAX_PARAMS);
  if (arch_validate(cfg, where, err) ||
      check_positive_real(where, "rms_norm_eps", cfg->rms_norm_eps, err) ||
      check_positive_real(where, "rope_theta", cfg->rope_theta, err))
    return -1;
  if (!isfinite(cfg->initializer_range) || cfg->initializer_range < 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: initializer_range = %g must be >= 0", where,
                      cfg->initializer_range);
  if (cfg->tie_word_embeddings != 0 && cfg->tie_word_embeddings != 1)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: tie_word_embeddings must be 0 or 1", where);
  const struct { const char *name; int id; } ids[] = {
      {"bos_token_id", cfg->bos_token_id},
      {"eos_token_id", cfg->eos_token_id},
      {"pad_token_id", cfg->pad_token_id}};
  for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++)
    if (check_range(where, ids[i].name, ids[i].id, -1, (long long)cfg->vocab_size - 1, err))
      return -1;
  return 0;
}

/* ---- reading ---------------------------------------------------------------- */

/* Token ids: an integer, null, or a list of integers (the first is used, as
 * Llama 3 lists several end-of-sequence ids). */
/* A token id, or a list of them: the first in *out, up to `cap` more in
 * more[] (*n_more of them; a list longer than 1 + cap is refused). */
static int get_token_ids(json_t *root, const char *key, int *out, int *more, int cap, int *n_more,
                         const char *path, lethe_err *err) {
  json_t *v = json_object_get(root, key);
  if (n_more) *n_more = 0;
  if (!json_is_array(v)) return cj_int(root, key, key, 0, out, path, err);
  size_t n = json_array_size(v);
  if (n == 0) return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" is an empty list", path, key);
  if (n > (size_t)cap + 1)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" lists %zu ids; at most %d are read",
                      path, key, n, cap + 1);
  for (size_t i = 0; i < n; i++) {
    json_t *one = json_object();
    json_object_set(one, key, json_array_get(v, i));
    int rc = cj_int(one, key, key, 0, i ? &more[i - 1] : out, path, err);
    json_decref(one);
    if (rc != 0) return rc;
  }
  *n_more = (int)n - 1;
  return 0;
}

static int get_token_id(json_t *root, const char *key, int *out, const char *path,
                        lethe_err *err) {
  return get_token_ids(root, key, out, NULL, 0, NULL, path, err);
}

static int read_fields(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  static const struct {
    const char *key;
    int required;
    size_t offset;
  } ints[] = {{"vocab_size", 1, offsetof(llama_config, vocab_size)},
              {"hidden_size", 1, offsetof(llama_config, hidden_size)},
              {"intermediate_size", 1, offsetof(llama_config, intermediate_size)},
              {"num_hidden_layers", 1, offsetof(llama_config, num_hidden_layers)},
              {"num_attention_heads", 1, offsetof(llama_config, num_attention_heads)},
              {"num_key_value_heads", 0, offsetof(llama_config, num_key_value_heads)},
              {"head_dim", 0, offsetof(llama_config, head_dim)},
              {"max_position_embeddings", 0, offsetof(llama_config, max_position_embeddings)}};
  for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
    if (cj_int(root, ints[i].key, ints[i].key, ints[i].required,
               (int *)((char *)cfg + ints[i].offset), path, err))
      return -1;
  if (cj_real(root, "rms_norm_eps", "rms_norm_eps", &cfg->rms_norm_eps, path, err) ||
      cj_real(root, "initializer_range", "initializer_range", &cfg->initializer_range, path,
              err) ||
      cj_bool(root, "tie_word_embeddings", "tie_word_embeddings", &cfg->tie_word_embeddings, path,
              err) ||
      get_token_id(root, "bos_token_id", &cfg->bos_token_id, path, err) ||
      get_token_ids(root, "eos_token_id", &cfg->eos_token_id, cfg->more_eos_ids,
                    LLAMA_MAX_EOS_IDS - 1, &cfg->n_more_eos_ids, path, err) ||
      get_token_id(root, "pad_token_id", &cfg->pad_token_id, path, err))
    return -1;
  /* Fill the derived defaults only once the fields they derive from are sane. */
  if (check_range(path, "num_attention_heads", cfg->num_attention_heads, 1, LLAMA_MAX_HEADS,
                  err) ||
      check_range(path, "hidden_size", cfg->hidden_size, 1, LLAMA_MAX_HIDDEN, err))
    return -1;
  if (!cj_has(root, "num_key_value_heads"))
    cfg->num_key_value_heads = cfg->num_attention_heads;
  if (!cj_has(root, "head_dim")) {
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: hidden_size (%d) is not divisible by num_attention_heads (%d) and "
                        "no head_dim is given",
                        path, cfg->hidden_size, cfg->num_attention_heads);
    cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
  }
  return arch_read(cfg, root, path, err);
}

int llama_config_says_bf16(const char *path) {
  json_t *root = json_load_file(path, 0, NULL);
  const char *dtype = json_string_value(json_object_get(root, "torch_dtype"));
  if (!dtype) dtype = json_string_value(json_object_get(root, "dtype"));
  int bf16 = dtype && !strcmp(dtype, "bfloat16");
  json_decref(root);
  return bf16;
}

int llama_config_read(llama_config *cfg, const char *path, lethe_err *err) {
  llama_config_defaults(cfg);
  char *text = NULL;
  size_t len = 0;
  if (lethe_read_file(path, CONFIG_MAX_FILE_BYTES, &text, &len, err) != 0) return -1;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!root)
    return lethe_errf(err, LETHE_E_CONFIG, "%s:%d:%d: not valid JSON: %s", path, jerr.line,
                      jerr.column, jerr.text);
  int rc;
  if (!json_is_object(root))
    rc = lethe_errf(err, LETHE_E_CONFIG, "%s: must be a JSON object", path);
  else
    rc = read_fields(cfg, root, path, err);
  json_decref(root);
  if (rc == 0) rc = llama_config_validate(cfg, path, err);
  return rc;
}

/* ---- writing ---------------------------------------------------------------- */

static void write_token_id(FILE *fp, const char *key, int id) {
  if (id < 0) fprintf(fp, "  \"%s\": null,\n", key);
  else fprintf(fp, "  \"%s\": %d,\n", key, id);
}

int llama_config_write(const llama_config *cfg, const char *path, lethe_err *err) {
  return llama_config_write_dtype(cfg, path, "float32", err);
}

int llama_config_write_dtype(const llama_config *cfg, const char *path, const char *torch_dtype,
                             lethe_err *err) {
  if (llama_config_validate(cfg, path, err) != 0) return -1;
  char theta[64], init[64];
  cj_format_real(theta, sizeof theta, cfg->rope_theta);
  cj_format_real(init, sizeof init, cfg->initializer_range);
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *fp = af.fp;
  fprintf(fp, "{\n");
  arch_write(cfg, fp, theta);
  fprintf(fp, "  \"attention_dropout\": 0.0,\n");
  write_token_id(fp, "bos_token_id", cfg->bos_token_id);
  fprintf(fp, "  \"dtype\": \"%s\",\n", torch_dtype);
  if (cfg->n_more_eos_ids > 0) {
    fprintf(fp, "  \"eos_token_id\": [%d", cfg->eos_token_id);
    for (int i = 0; i < cfg->n_more_eos_ids; i++) fprintf(fp, ", %d", cfg->more_eos_ids[i]);
    fprintf(fp, "],\n");
  } else {
    write_token_id(fp, "eos_token_id", cfg->eos_token_id);
  }
  fprintf(fp, "  \"hidden_size\": %d,\n  \"initializer_range\": %s,\n", cfg->hidden_size, init);
  fprintf(fp, "  \"intermediate_size\": %d,\n", cfg->intermediate_size);
  fprintf(fp, "  \"max_position_embeddings\": %d,\n", cfg->max_position_embeddings);
  fprintf(fp, "  \"num_attention_heads\": %d,\n", cfg->num_attention_heads);
  fprintf(fp, "  \"num_hidden_layers\": %d,\n", cfg->num_hidden_layers);
  fprintf(fp, "  \"num_key_value_heads\": %d,\n", cfg->num_key_value_heads);
  write_token_id(fp, "pad_token_id", cfg->pad_token_id);
  fprintf(fp, "  \"rope_theta\": %s,\n", theta);
  fprintf(fp, "  \"tie_word_embeddings\": %s,\n", cfg->tie_word_embeddings ? "true" : "false");
  fprintf(fp, "  \"torch_dtype\": \"%s\",\n  \"use_cache\": true,\n", torch_dtype);
  fprintf(fp, "  \"vocab_size\": %d\n}\n", cfg->vocab_size);
  return lethe_atomic_commit(&af, err);
}
