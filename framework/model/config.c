/* config — read, check and write a Llama model's Hugging Face config.json
 * (see config.h).
 *
 * The reader accepts both rope conventions: transformers ≤ 4 puts `rope_theta`
 * at the top level, transformers 5 nests it in `rope_parameters`. Anything the
 * runtime cannot honour (other activations, biases, rope scaling, another
 * model_type) is an error, never silently ignored. Fields we do not use
 * (dropout, use_cache, …) are ignored. The writer emits both rope forms so
 * either transformers generation loads the result.
 */
#include "model/config.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
  uint64_t layer = 2 * C + QD * C + 2 * KVD * C + C * QD + 3 * F * C;
  return V * C * (c->tie_word_embeddings ? 1 : 2) + L * layer + C;
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
  if (check_positive_real(where, "rms_norm_eps", cfg->rms_norm_eps, err) ||
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

static int has_value(json_t *obj, const char *key) {
  json_t *v = json_object_get(obj, key);
  return v && !json_is_null(v);
}

static int int_value(json_t *v, const char *key, int *out, const char *path, lethe_err *err) {
  if (!json_is_integer(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be an integer", path, key);
  json_int_t x = json_integer_value(v);
  if (x < -2147483647LL || x > 2147483647LL)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" = %lld is out of range", path, key,
                      (long long)x);
  *out = (int)x;
  return 0;
}

/* Integer field: absent or null keeps *out unless required. */
static int get_int(json_t *root, const char *key, int required, int *out, const char *path,
                   lethe_err *err) {
  if (!has_value(root, key)) {
    if (required)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: required field \"%s\" is missing", path, key);
    return 0;
  }
  return int_value(json_object_get(root, key), key, out, path, err);
}

/* Token ids: an integer, null, or a list of integers (the first is used, as
 * Llama 3 lists several end-of-sequence ids). */
static int get_token_id(json_t *root, const char *key, int *out, const char *path,
                        lethe_err *err) {
  json_t *v = json_object_get(root, key);
  if (json_is_array(v)) {
    if (json_array_size(v) == 0)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" is an empty list", path, key);
    return int_value(json_array_get(v, 0), key, out, path, err);
  }
  return get_int(root, key, 0, out, path, err);
}

static int get_real(json_t *obj, const char *key, const char *shown, double *out,
                    const char *path, lethe_err *err) {
  if (!has_value(obj, key)) return 0;
  json_t *v = json_object_get(obj, key);
  if (!json_is_number(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be a number", path, shown);
  *out = json_number_value(v);
  return 0;
}

static int get_bool(json_t *root, const char *key, int *out, const char *path, lethe_err *err) {
  json_t *v = json_object_get(root, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_boolean(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be true or false", path, key);
  *out = json_is_true(v);
  return 0;
}

/* A string field that, when present, must equal `only`. */
static int expect_string(json_t *obj, const char *key, const char *shown, const char *only,
                         const char *why, const char *path, lethe_err *err) {
  json_t *v = json_object_get(obj, key);
  if (!v || json_is_null(v)) return 0;
  if (!json_is_string(v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"%s\" must be a string", path, shown);
  if (strcmp(json_string_value(v), only) != 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s \"%s\" is not supported (%s)", path, shown,
                      json_string_value(v), why);
  return 0;
}

/* rope_theta (top level, older configs) and rope_parameters (transformers 5),
 * plus a rope_scaling that must be null or default. */
static int read_rope(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  double top = NAN, nested = NAN;
  if (get_real(root, "rope_theta", "rope_theta", &top, path, err)) return -1;
  json_t *params = json_object_get(root, "rope_parameters");
  if (params && !json_is_null(params)) {
    if (!json_is_object(params))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"rope_parameters\" must be an object",
                        path);
    if (get_real(params, "rope_theta", "rope_parameters.rope_theta", &nested, path, err) ||
        expect_string(params, "rope_type", "rope_parameters.rope_type", "default",
                      "only plain rotary embeddings are implemented", path, err))
      return -1;
  }
  json_t *scaling = json_object_get(root, "rope_scaling");
  if (scaling && !json_is_null(scaling)) {
    if (!json_is_object(scaling))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"rope_scaling\" must be an object or null",
                        path);
    const char *type_key = json_object_get(scaling, "rope_type") ? "rope_type" : "type";
    if (!json_object_get(scaling, type_key))
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: rope_scaling without a rope_type is not supported", path);
    if (expect_string(scaling, type_key, "rope_scaling.rope_type", "default",
                      "only plain rotary embeddings are implemented", path, err))
      return -1;
  }
  if (!isnan(top) && !isnan(nested) && top != nested)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: rope_theta (%g) and rope_parameters.rope_theta (%g) disagree", path,
                      top, nested);
  if (!isnan(nested)) cfg->rope_theta = nested;
  else if (!isnan(top)) cfg->rope_theta = top;
  return 0;
}

static int read_fields(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  if (expect_string(root, "model_type", "model_type", "llama", "expected \"llama\"", path, err) ||
      expect_string(root, "hidden_act", "hidden_act", "silu", "only \"silu\" is implemented",
                    path, err))
    return -1;
  static const char *const bias_keys[] = {"attention_bias", "mlp_bias"};
  for (int i = 0; i < 2; i++) {
    int has_bias = 0;
    if (get_bool(root, bias_keys[i], &has_bias, path, err)) return -1;
    if (has_bias)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = true is not supported (no biases)", path,
                        bias_keys[i]);
  }
  if (get_int(root, "vocab_size", 1, &cfg->vocab_size, path, err) ||
      get_int(root, "hidden_size", 1, &cfg->hidden_size, path, err) ||
      get_int(root, "intermediate_size", 1, &cfg->intermediate_size, path, err) ||
      get_int(root, "num_hidden_layers", 1, &cfg->num_hidden_layers, path, err) ||
      get_int(root, "num_attention_heads", 1, &cfg->num_attention_heads, path, err) ||
      get_int(root, "num_key_value_heads", 0, &cfg->num_key_value_heads, path, err) ||
      get_int(root, "head_dim", 0, &cfg->head_dim, path, err) ||
      get_int(root, "max_position_embeddings", 0, &cfg->max_position_embeddings, path, err) ||
      get_real(root, "rms_norm_eps", "rms_norm_eps", &cfg->rms_norm_eps, path, err) ||
      get_real(root, "initializer_range", "initializer_range", &cfg->initializer_range, path,
               err) ||
      get_bool(root, "tie_word_embeddings", &cfg->tie_word_embeddings, path, err) ||
      get_token_id(root, "bos_token_id", &cfg->bos_token_id, path, err) ||
      get_token_id(root, "eos_token_id", &cfg->eos_token_id, path, err) ||
      get_token_id(root, "pad_token_id", &cfg->pad_token_id, path, err))
    return -1;
  if (read_rope(cfg, root, path, err)) return -1;
  /* Fill the derived defaults only once the fields they derive from are sane. */
  if (check_range(path, "num_attention_heads", cfg->num_attention_heads, 1, LLAMA_MAX_HEADS,
                  err) ||
      check_range(path, "hidden_size", cfg->hidden_size, 1, LLAMA_MAX_HIDDEN, err))
    return -1;
  if (!has_value(root, "num_key_value_heads"))
    cfg->num_key_value_heads = cfg->num_attention_heads;
  if (!has_value(root, "head_dim")) {
    if (cfg->hidden_size % cfg->num_attention_heads != 0)
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: hidden_size (%d) is not divisible by num_attention_heads (%d) and "
                        "no head_dim is given",
                        path, cfg->hidden_size, cfg->num_attention_heads);
    cfg->head_dim = cfg->hidden_size / cfg->num_attention_heads;
  }
  return 0;
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

/* A float JSON readers see as a float: whole numbers as "10000.0", others as
 * the shortest decimal that reads back as exactly v ("1e-05"). */
static void format_real(char *buf, size_t cap, double v) {
  if (v == floor(v) && fabs(v) < 1e15) {
    snprintf(buf, cap, "%.1f", v);
    return;
  }
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
}

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
  char eps[64], theta[64], init[64];
  format_real(eps, sizeof eps, cfg->rms_norm_eps);
  format_real(theta, sizeof theta, cfg->rope_theta);
  format_real(init, sizeof init, cfg->initializer_range);
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *fp = af.fp;
  fprintf(fp, "{\n  \"architectures\": [\"LlamaForCausalLM\"],\n");
  fprintf(fp, "  \"attention_bias\": false,\n  \"attention_dropout\": 0.0,\n");
  write_token_id(fp, "bos_token_id", cfg->bos_token_id);
  fprintf(fp, "  \"dtype\": \"%s\",\n", torch_dtype);
  write_token_id(fp, "eos_token_id", cfg->eos_token_id);
  fprintf(fp, "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n", cfg->head_dim);
  fprintf(fp, "  \"hidden_size\": %d,\n  \"initializer_range\": %s,\n", cfg->hidden_size, init);
  fprintf(fp, "  \"intermediate_size\": %d,\n", cfg->intermediate_size);
  fprintf(fp, "  \"max_position_embeddings\": %d,\n", cfg->max_position_embeddings);
  fprintf(fp, "  \"mlp_bias\": false,\n  \"model_type\": \"llama\",\n");
  fprintf(fp, "  \"num_attention_heads\": %d,\n", cfg->num_attention_heads);
  fprintf(fp, "  \"num_hidden_layers\": %d,\n", cfg->num_hidden_layers);
  fprintf(fp, "  \"num_key_value_heads\": %d,\n", cfg->num_key_value_heads);
  write_token_id(fp, "pad_token_id", cfg->pad_token_id);
  fprintf(fp, "  \"pretraining_tp\": 1,\n  \"rms_norm_eps\": %s,\n", eps);
  fprintf(fp, "  \"rope_parameters\": {\"rope_theta\": %s, \"rope_type\": \"default\"},\n", theta);
  fprintf(fp, "  \"rope_theta\": %s,\n", theta);
  fprintf(fp, "  \"tie_word_embeddings\": %s,\n", cfg->tie_word_embeddings ? "true" : "false");
  fprintf(fp, "  \"torch_dtype\": \"%s\",\n  \"use_cache\": true,\n", torch_dtype);
  fprintf(fp, "  \"vocab_size\": %d\n}\n", cfg->vocab_size);
  return lethe_atomic_commit(&af, err);
}
