/* lora_io — PEFT adapter directories: adapter_config.json (what LoraConfig
 * needs to load it) and adapter_model.safetensors (see lora.h; notes §8). */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "model/llama.h"
#include "model/lora.h"
#include "model/safetensors.h"

#define MAX_RANK 4096
#define MAX_CONFIG_BYTES (1u << 20)

static int field_error(lethe_err *err, const char *path, const char *field, const char *what) {
  return lethe_errf(err, LETHE_E_FORMAT, "%s: field '%s' %s", path, field, what);
}

/* A field lethe does not implement must be absent, null, false or empty. */
static int unsupported_field(const json_t *root, const char *path, const char *field,
                             lethe_err *err) {
  const json_t *v = json_object_get(root, field);
  int empty = !v || json_is_null(v) || json_is_false(v) ||
              (json_is_object(v) && json_object_size(v) == 0) ||
              (json_is_array(v) && json_array_size(v) == 0);
  return empty ? 0 : field_error(err, path, field, "is not supported by lethe (only null, "
                                 "false or empty)");
}

static int number_field(const json_t *root, const char *path, const char *field, double dflt,
                        double *out, lethe_err *err) {
  const json_t *v = json_object_get(root, field);
  *out = dflt;
  if (!v || json_is_null(v)) return 0;
  if (!json_is_number(v)) return field_error(err, path, field, "must be a number");
  *out = json_number_value(v);
  return 0;
}

static int targets_field(const json_t *root, const llama_config *mc, const char *path,
                         unsigned *targets, lethe_err *err) {
  const json_t *v = json_object_get(root, "target_modules");
  *targets = 0;
  if (!v || json_is_null(v)) { /* PEFT's default for every family here */
    *targets = 1u << LORA_Q | 1u << LORA_V;
    return 0;
  }
  if (json_is_string(v))
    return field_error(err, path, "target_modules", "is a regular expression; lethe reads a "
                       "list of module names");
  if (!json_is_array(v) || json_array_size(v) == 0)
    return field_error(err, path, "target_modules", "must be a non-empty list of names");
  size_t i;
  const json_t *name;
  json_array_foreach(v, i, name) {
    int mod = json_is_string(name) ? lora_module_from_name(mc, json_string_value(name)) : -1;
    if (mod < 0) {
      char what[160];
      snprintf(what, sizeof what, "entry %zu is not a linear layer of a %s model (q_proj, "
               "k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj)", i,
               llama_family_name(mc->family));
      return field_error(err, path, "target_modules", what);
    }
    *targets |= 1u << mod;
  }
  return 0;
}

int lora_config_parse(lora_config *cfg, const llama_config *mc, const char *text, size_t len,
                      const char *path, lethe_err *err) {
  memset(cfg, 0, sizeof *cfg);
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d:%d: %s", path, jerr.line, jerr.column,
                      jerr.text);
  int rc = -1;
  const json_t *peft = json_object_get(root, "peft_type");
  const json_t *r = json_object_get(root, "r");
  const json_t *rs = json_object_get(root, "use_rslora");
  const json_t *bias = json_object_get(root, "bias");
  static const char *const unsupported[] = {
      "fan_in_fan_out", "use_dora", "lora_bias", "rank_pattern", "alpha_pattern",
      "layers_to_transform", "modules_to_save", "exclude_modules"};
  if (!json_is_object(root)) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: not a JSON object", path);
  } else if (!json_is_string(peft) || strcmp(json_string_value(peft), "LORA") != 0) {
    field_error(err, path, "peft_type", "must be \"LORA\"");
  } else if (r && !(json_is_integer(r) && json_integer_value(r) >= 1 &&
                    json_integer_value(r) <= MAX_RANK)) {
    field_error(err, path, "r", "must be an integer from 1 to 4096");
  } else if (rs && !json_is_null(rs) && !json_is_boolean(rs)) {
    field_error(err, path, "use_rslora", "must be true or false");
  } else if (bias && !json_is_null(bias) &&
             !(json_is_string(bias) && !strcmp(json_string_value(bias), "none"))) {
    field_error(err, path, "bias", "must be \"none\" (lethe trains no biases)");
  } else if (number_field(root, path, "lora_alpha", 8.0, &cfg->alpha, err) == 0 &&
             number_field(root, path, "lora_dropout", 0.0, &cfg->dropout, err) == 0 &&
             targets_field(root, mc, path, &cfg->targets, err) == 0) {
    rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof unsupported / sizeof unsupported[0]; i++)
      rc = unsupported_field(root, path, unsupported[i], err);
    cfg->rank = r ? (int)json_integer_value(r) : 8;
    cfg->use_rslora = json_is_true(rs);
    if (rc == 0 && !(cfg->alpha > 0 && isfinite(cfg->alpha)))
      rc = field_error(err, path, "lora_alpha", "must be a positive number");
    if (rc == 0 && !(cfg->dropout >= 0 && cfg->dropout < 1))
      rc = field_error(err, path, "lora_dropout", "must be in [0, 1)");
  }
  json_decref(root);
  return rc;
}

static json_t *config_json(const lora_adapter *lo, const llama_config *mc, const char *base) {
  json_t *targets = json_array();
  for (int i = 0; i < LORA_N_MODULES; i++)
    if (lo->a[i]) json_array_append_new(targets, json_string(lora_module_name(mc, i)));
  json_t *o = json_object();
  json_object_set_new(o, "peft_type", json_string("LORA"));
  json_object_set_new(o, "task_type", json_string("CAUSAL_LM"));
  json_object_set_new(o, "base_model_name_or_path", base ? json_string(base) : json_null());
  json_object_set_new(o, "revision", json_null());
  json_object_set_new(o, "r", json_integer(lo->cfg.rank));
  json_object_set_new(o, "lora_alpha", json_real(lo->cfg.alpha));
  json_object_set_new(o, "lora_dropout", json_real(lo->cfg.dropout));
  json_object_set_new(o, "target_modules", targets);
  json_object_set_new(o, "bias", json_string("none"));
  json_object_set_new(o, "fan_in_fan_out", json_false());
  json_object_set_new(o, "use_rslora", json_boolean(lo->cfg.use_rslora));
  json_object_set_new(o, "use_dora", json_false());
  json_object_set_new(o, "init_lora_weights", json_true());
  json_object_set_new(o, "inference_mode", json_true());
  json_object_set_new(o, "modules_to_save", json_null());
  json_object_set_new(o, "layers_to_transform", json_null());
  json_object_set_new(o, "layers_pattern", json_null());
  json_object_set_new(o, "rank_pattern", json_object());
  json_object_set_new(o, "alpha_pattern", json_object());
  return o;
}

static llama_tensor_ref *adapter_tensors(const lora_adapter *lo, const llama_config *mc,
                                         int *n) {
  *n = lora_named_tensors(lo, mc, 0, NULL, 0);
  llama_tensor_ref *refs = lethe_calloc((size_t)*n + 1, sizeof *refs);
  lora_named_tensors(lo, mc, 0, refs, *n);
  return refs;
}

int lora_save(const lora_adapter *lo, const llama_config *mc, const char *dir, const char *base,
              lethe_err *err) {
  if (lethe_mkdir_p(dir, err) != 0) return -1;
  int n;
  llama_tensor_ref *refs = adapter_tensors(lo, mc, &n);
  st_entry *entries = lethe_calloc((size_t)n + 1, sizeof *entries);
  for (int i = 0; i < n; i++)
    entries[i] = (st_entry){.name = refs[i].name, .ndim = 2, .data = refs[i].data,
                            .shape = {refs[i].shape[0], refs[i].shape[1]}};
  static const char *const meta[] = {"format", "pt"};
  char *st_path = lethe_path_join(dir, "adapter_model.safetensors");
  char *cfg_path = lethe_path_join(dir, "adapter_config.json");
  int rc = st_write_f32(st_path, entries, n, meta, 1, err);
  if (rc == 0) {
    json_t *o = config_json(lo, mc, base);
    rc = lethe_json_write_atomic(cfg_path, o, JSON_INDENT(2) | JSON_SORT_KEYS,
                                 LETHE_JSON_NEWLINE, err);
    json_decref(o);
  }
  free(cfg_path);
  free(st_path);
  free(entries);
  free(refs);
  return rc;
}

/* Every tensor of the file is one the config implies (a stray lora_B.bias
 * or a module outside target_modules would be silently dropped). */
static int no_stray_tensors(const st_file *f, const llama_tensor_ref *refs, int n,
                            lethe_err *err) {
  for (int i = 0; i < f->n_tensors; i++) {
    int known = 0;
    for (int k = 0; k < n && !known; k++) known = !strcmp(f->tensors[i].name, refs[k].name);
    if (!known)
      return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is not one of the adapter's "
                        "(lora_A/lora_B of the target_modules of adapter_config.json)",
                        f->path, f->tensors[i].name);
  }
  return 0;
}

int lora_load(lora_adapter *lo, const llama_config *mc, const char *dir, lethe_err *err) {
  memset(lo, 0, sizeof *lo);
  char *cfg_path = lethe_path_join(dir, "adapter_config.json");
  char *st_path = lethe_path_join(dir, "adapter_model.safetensors");
  char *text = NULL;
  size_t len = 0;
  lora_config cfg;
  st_file f = {0};
  int rc = -1;
  if (lethe_read_file(cfg_path, MAX_CONFIG_BYTES, &text, &len, err) != 0 ||
      lora_config_parse(&cfg, mc, text, len, cfg_path, err) != 0)
    goto done;
  if (lora_create(lo, mc, &cfg, err) != 0) {
    lethe_err_prefix(err, "%s", cfg_path);
    goto done;
  }
  if (st_open(&f, st_path, err) != 0) goto done;
  int n;
  llama_tensor_ref *refs = adapter_tensors(lo, mc, &n);
  rc = no_stray_tensors(&f, refs, n, err);
  for (int i = 0; rc == 0 && i < n; i++)
    rc = st_load_f32(&f, refs[i].name, 2, refs[i].shape, refs[i].data, err);
  for (size_t i = 0; rc == 0 && i < lo->n_params; i++)
    if (!isfinite(lo->params[i]))
      rc = lethe_errf(err, LETHE_E_NUMERIC, "%s: an adapter weight is not finite", st_path);
  free(refs);
done:
  if (rc != 0) {
    lethe_err_prefix(err, "loading adapter %s", dir);
    lora_free(lo);
  }
  st_close(&f);
  free(text);
  free(st_path);
  free(cfg_path);
  return rc;
}
