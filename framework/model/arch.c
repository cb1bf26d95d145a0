/* arch — the model families behind config.json's model_type: one table row
 * per family ({model_type, architectures class, read its keys, write its
 * keys}), the rotary rules (default, linear, llama3; partial rotary) and
 * their tables. Not here: the keys every family shares (config.c) or the
 * math of a layer (llama_layers.c). Definitions: shared notes
 * real-checkpoints.md §2-§4. */
#include "model/arch.h"

#include <math.h>
#include <string.h>

#include "model/config_json.h"
#include "model/kernels.h"
#include "model/llama.h"

typedef struct family_info {
  const char *model_type;
  const char *architecture; /* the *ForCausalLM class transformers builds */
  int (*read)(llama_config *cfg, json_t *root, const char *path, lethe_err *err);
  void (*write)(const llama_config *cfg, FILE *fp);
} family_info;

/* A boolean key that must be false (or absent): `what` says why. */
static int refuse_true(json_t *root, const char *key, const char *what, const char *path,
                       lethe_err *err) {
  int on = 0;
  if (cj_bool(root, key, key, &on, path, err)) return -1;
  if (on)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = true is not supported (%s)", path, key,
                      what);
  return 0;
}

static int read_silu(json_t *root, const char *path, lethe_err *err) {
  const char *act;
  if (cj_string(root, "hidden_act", "hidden_act", &act, path, err)) return -1;
  if (act && strcmp(act, "silu") != 0 && strcmp(act, "swish") != 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: hidden_act \"%s\" is not supported (this family uses \"silu\")", path,
                      act);
  return 0;
}

static int read_llama(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  int attention_bias = 0, mlp_bias = 0;
  if (read_silu(root, path, err) ||
      cj_bool(root, "attention_bias", "attention_bias", &attention_bias, path, err) ||
      cj_bool(root, "mlp_bias", "mlp_bias", &mlp_bias, path, err))
    return -1;
  cfg->qkv_bias = cfg->o_bias = attention_bias;
  cfg->mlp_bias = mlp_bias;
  return 0;
}

static int read_mistral(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  if (read_silu(root, path, err) ||
      cj_int(root, "sliding_window", "sliding_window", 0, &cfg->sliding_window, path, err))
    return -1;
  if (cfg->sliding_window < 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: sliding_window = %d must be >= 0 or null", path,
                      cfg->sliding_window);
  return 0;
}

static int read_qwen(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  if (read_silu(root, path, err) ||
      refuse_true(root, "use_sliding_window", "qwen's per-layer window is not implemented",
                  path, err))
    return -1;
  if (cfg->family == LLAMA_FAMILY_QWEN2) {
    cfg->qkv_bias = 1; /* q/k/v always have biases, o never */
    return 0;
  }
  int attention_bias = 0;
  if (cj_bool(root, "attention_bias", "attention_bias", &attention_bias, path, err)) return -1;
  cfg->qkv_bias = cfg->o_bias = attention_bias;
  cfg->qk_norm = 1;
  return 0;
}

static int read_phi(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  const char *act;
  double partial = 0.5;
  cfg->rms_norm_eps = 1e-5;
  if (cj_string(root, "hidden_act", "hidden_act", &act, path, err) ||
      cj_real(root, "layer_norm_eps", "layer_norm_eps", &cfg->rms_norm_eps, path, err) ||
      cj_real(root, "partial_rotary_factor", "partial_rotary_factor", &partial, path, err) ||
      refuse_true(root, "qk_layernorm", "no LayerNorm on q and k is implemented", path, err))
    return -1;
  if (act && strcmp(act, "gelu_new") != 0 && strcmp(act, "gelu_pytorch_tanh") != 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: hidden_act \"%s\" is not supported (phi: \"gelu_new\" or "
                      "\"gelu_pytorch_tanh\")",
                      path, act);
  if (cj_has(root, "head_dim"))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: phi has no head_dim key (head_dim is "
                      "hidden_size / num_attention_heads)", path);
  if (!(partial > 0 && partial <= 1))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: partial_rotary_factor = %g must be in (0, 1]",
                      path, partial);
  cfg->rotary_dim = (int)(cfg->head_dim * partial); /* as int(D * factor) in Python */
  cfg->qkv_bias = cfg->o_bias = cfg->mlp_bias = 1;
  return 0;
}

static void write_bool(FILE *fp, const char *key, int v) {
  fprintf(fp, "  \"%s\": %s,\n", key, v ? "true" : "false");
}

static void write_eps(FILE *fp, const char *key, double v) {
  char buf[64];
  cj_format_real(buf, sizeof buf, v);
  fprintf(fp, "  \"%s\": %s,\n", key, buf);
}

static void write_llama(const llama_config *cfg, FILE *fp) {
  write_bool(fp, "attention_bias", cfg->qkv_bias);
  write_bool(fp, "mlp_bias", cfg->mlp_bias);
  fprintf(fp, "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n", cfg->head_dim);
  fprintf(fp, "  \"pretraining_tp\": 1,\n");
  write_eps(fp, "rms_norm_eps", cfg->rms_norm_eps);
}

static void write_mistral(const llama_config *cfg, FILE *fp) {
  fprintf(fp, "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n", cfg->head_dim);
  if (cfg->sliding_window > 0) fprintf(fp, "  \"sliding_window\": %d,\n", cfg->sliding_window);
  else fprintf(fp, "  \"sliding_window\": null,\n");
  write_eps(fp, "rms_norm_eps", cfg->rms_norm_eps);
}

static void write_qwen(const llama_config *cfg, FILE *fp) {
  if (cfg->family == LLAMA_FAMILY_QWEN3) write_bool(fp, "attention_bias", cfg->o_bias);
  fprintf(fp, "  \"head_dim\": %d,\n  \"hidden_act\": \"silu\",\n", cfg->head_dim);
  fprintf(fp, "  \"max_window_layers\": %d,\n", cfg->num_hidden_layers);
  write_eps(fp, "rms_norm_eps", cfg->rms_norm_eps);
  fprintf(fp, "  \"sliding_window\": null,\n  \"use_sliding_window\": false,\n");
}

static void write_phi(const llama_config *cfg, FILE *fp) {
  fprintf(fp, "  \"embd_pdrop\": 0.0,\n  \"hidden_act\": \"gelu_new\",\n");
  write_eps(fp, "layer_norm_eps", cfg->rms_norm_eps);
  int rot = cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim;
  write_eps(fp, "partial_rotary_factor", (double)rot / cfg->head_dim);
  fprintf(fp, "  \"qk_layernorm\": false,\n  \"resid_pdrop\": 0.0,\n");
}

static const family_info families[LLAMA_N_FAMILIES] = {
    [LLAMA_FAMILY_LLAMA] = {"llama", "LlamaForCausalLM", read_llama, write_llama},
    [LLAMA_FAMILY_MISTRAL] = {"mistral", "MistralForCausalLM", read_mistral, write_mistral},
    [LLAMA_FAMILY_QWEN2] = {"qwen2", "Qwen2ForCausalLM", read_qwen, write_qwen},
    [LLAMA_FAMILY_QWEN3] = {"qwen3", "Qwen3ForCausalLM", read_qwen, write_qwen},
    [LLAMA_FAMILY_PHI] = {"phi", "PhiForCausalLM", read_phi, write_phi},
};

const char *llama_family_name(int family) {
  return family >= 0 && family < LLAMA_N_FAMILIES ? families[family].model_type : "?";
}

int llama_config_is_phi(const llama_config *cfg) { return cfg->family == LLAMA_FAMILY_PHI; }

/* model_type (absent = llama) and architectures[0], which must name the
 * family's class. */
static int read_family(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  const char *type;
  if (cj_string(root, "model_type", "model_type", &type, path, err)) return -1;
  cfg->family = -1;
  for (int f = 0; f < LLAMA_N_FAMILIES; f++)
    if (!type || !strcmp(type, families[f].model_type)) {
      cfg->family = f;
      break;
    }
  if (cfg->family < 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: model_type \"%s\" is not supported (supported: llama, mistral, qwen2, "
                      "qwen3, phi)",
                      path, type);
  json_t *archs = json_object_get(root, "architectures");
  if (!archs || json_is_null(archs)) return 0;
  const char *want = families[cfg->family].architecture;
  json_t *first = json_is_array(archs) ? json_array_get(archs, 0) : NULL;
  if (!json_is_array(archs) || (json_array_size(archs) > 0 && !json_is_string(first)))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"architectures\" must be a list of strings",
                      path);
  if (first && strcmp(json_string_value(first), want) != 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: architectures[0] \"%s\" does not match model_type \"%s\" (expected "
                      "\"%s\")",
                      path, json_string_value(first), families[cfg->family].model_type, want);
  return 0;
}

/* The rope_type object: rope_parameters when it names a type (transformers
 * 5), else rope_scaling (transformers 4; key rope_type or legacy type). */
static int read_rope_type(llama_config *cfg, json_t *obj, const char *name, const char *path,
                          lethe_err *err) {
  const char *key = json_object_get(obj, "rope_type") ? "rope_type" : "type";
  char shown[96], f[4][96];
  snprintf(shown, sizeof shown, "%s.%s", name, key);
  const char *type;
  if (cj_string(obj, key, shown, &type, path, err)) return -1;
  if (!type)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s without a rope_type is not supported", path,
                      name);
  if (!strcmp(type, "default")) return 0;
  static const char *const keys[4] = {"factor", "low_freq_factor", "high_freq_factor",
                                      "original_max_position_embeddings"};
  for (int i = 0; i < 4; i++) snprintf(f[i], sizeof f[i], "%s.%s", name, keys[i]);
  int is_llama3 = !strcmp(type, "llama3");
  if (strcmp(type, "linear") != 0 && !is_llama3)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: %s \"%s\" is not supported (supported: default, linear, llama3)", path,
                      shown, type);
  cfg->rope_type = is_llama3 ? LLAMA_ROPE_LLAMA3 : LLAMA_ROPE_LINEAR;
  for (int i = 0; i < (is_llama3 ? 4 : 1); i++)
    if (!cj_has(obj, keys[i]))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: %s \"%s\" needs %s", path, shown, type, f[i]);
  if (cj_real(obj, keys[0], f[0], &cfg->rope_factor, path, err)) return -1;
  if (!is_llama3) return 0;
  return cj_real(obj, keys[1], f[1], &cfg->rope_low_freq_factor, path, err) ||
         cj_real(obj, keys[2], f[2], &cfg->rope_high_freq_factor, path, err) ||
         cj_int(obj, keys[3], f[3], 1, &cfg->rope_original_max_positions, path, err);
}

/* rope_theta (top level, older configs) or rope_parameters.rope_theta
 * (transformers 5), and the frequency rule. */
static int read_rope(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  double top = NAN, nested = NAN;
  if (cj_real(root, "rope_theta", "rope_theta", &top, path, err)) return -1;
  json_t *params = json_object_get(root, "rope_parameters");
  json_t *scaling = json_object_get(root, "rope_scaling");
  if (params && !json_is_null(params) && !json_is_object(params))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"rope_parameters\" must be an object",
                      path);
  if (scaling && !json_is_null(scaling) && !json_is_object(scaling))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: field \"rope_scaling\" must be an object or null",
                      path);
  if (json_is_object(params) &&
      cj_real(params, "rope_theta", "rope_parameters.rope_theta", &nested, path, err))
    return -1;
  int params_typed = json_is_object(params) && (json_object_get(params, "rope_type") ||
                                                json_object_get(params, "type"));
  if (json_is_object(scaling) && read_rope_type(cfg, scaling, "rope_scaling", path, err))
    return -1;
  if (params_typed) { /* transformers 5's form wins, but both must say the same */
    llama_config legacy = *cfg;
    if (read_rope_type(cfg, params, "rope_parameters", path, err)) return -1;
    if (json_is_object(scaling) &&
        (legacy.rope_type != cfg->rope_type || legacy.rope_factor != cfg->rope_factor ||
         legacy.rope_low_freq_factor != cfg->rope_low_freq_factor ||
         legacy.rope_high_freq_factor != cfg->rope_high_freq_factor ||
         legacy.rope_original_max_positions != cfg->rope_original_max_positions))
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: rope_scaling and rope_parameters describe different rotary rules",
                        path);
  }
  if (!isnan(top) && !isnan(nested) && top != nested)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: rope_theta (%g) and rope_parameters.rope_theta (%g) disagree", path,
                      top, nested);
  if (!isnan(nested)) cfg->rope_theta = nested;
  else if (!isnan(top)) cfg->rope_theta = top;
  return 0;
}

int arch_read(llama_config *cfg, json_t *root, const char *path, lethe_err *err) {
  if (read_family(cfg, root, path, err) || read_rope(cfg, root, path, err)) return -1;
  cfg->rotary_dim = cfg->head_dim;
  return families[cfg->family].read(cfg, root, path, err);
}

int arch_validate(const llama_config *cfg, const char *where, lethe_err *err) {
  if (cfg->family < 0 || cfg->family >= LLAMA_N_FAMILIES)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: unknown model family %d", where, cfg->family);
  if (cfg->rotary_dim != 0 &&
      (cfg->rotary_dim < 2 || cfg->rotary_dim > cfg->head_dim || cfg->rotary_dim % 2 != 0))
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: the rotary dims (%d = head_dim x partial_rotary_factor) must be even "
                      "and in 2..head_dim (%d)",
                      where, cfg->rotary_dim, cfg->head_dim);
  if (cfg->family == LLAMA_FAMILY_PHI &&
      cfg->head_dim * cfg->num_attention_heads != cfg->hidden_size)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: phi needs head_dim x heads = hidden_size", where);
  if (cfg->sliding_window < 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: sliding_window must be >= 0", where);
  if (cfg->rope_type == LLAMA_ROPE_DEFAULT) return 0;
  double lo = cfg->rope_low_freq_factor, hi = cfg->rope_high_freq_factor;
  if (!isfinite(cfg->rope_factor) || cfg->rope_factor <= 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: rope factor = %g must be > 0", where,
                      cfg->rope_factor);
  if (cfg->rope_type == LLAMA_ROPE_LLAMA3 &&
      (!isfinite(lo) || !isfinite(hi) || lo <= 0 || hi <= lo ||
       cfg->rope_original_max_positions < 1))
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: llama3 rope needs 0 < low_freq_factor < high_freq_factor and "
                      "original_max_position_embeddings >= 1",
                      where);
  return 0;
}

/* rope_parameters (transformers 5) and rope_scaling (transformers 4) for
 * the frequency rule; the caller writes rope_theta itself. */
static void write_rope(const llama_config *cfg, FILE *fp, const char *theta) {
  char scaling[512] = "", factor[64], lo[64], hi[64];
  cj_format_real(factor, sizeof factor, cfg->rope_factor);
  cj_format_real(lo, sizeof lo, cfg->rope_low_freq_factor);
  cj_format_real(hi, sizeof hi, cfg->rope_high_freq_factor);
  if (cfg->rope_type == LLAMA_ROPE_LINEAR)
    snprintf(scaling, sizeof scaling, "\"factor\": %s, \"rope_type\": \"linear\"", factor);
  else if (cfg->rope_type == LLAMA_ROPE_LLAMA3)
    snprintf(scaling, sizeof scaling,
             "\"factor\": %s, \"high_freq_factor\": %s, \"low_freq_factor\": %s, "
             "\"original_max_position_embeddings\": %d, \"rope_type\": \"llama3\"",
             factor, hi, lo, cfg->rope_original_max_positions);
  if (scaling[0]) {
    fprintf(fp, "  \"rope_parameters\": {%s, \"rope_theta\": %s},\n", scaling, theta);
    fprintf(fp, "  \"rope_scaling\": {%s},\n", scaling);
  } else {
    fprintf(fp, "  \"rope_parameters\": {\"rope_theta\": %s, \"rope_type\": \"default\"},\n",
            theta);
    fprintf(fp, "  \"rope_scaling\": null,\n");
  }
}

void arch_write(const llama_config *cfg, FILE *fp, const char *theta) {
  const family_info *f = &families[cfg->family];
  fprintf(fp, "  \"architectures\": [\"%s\"],\n  \"model_type\": \"%s\",\n", f->architecture,
          f->model_type);
  f->write(cfg, fp);
  write_rope(cfg, fp, theta);
}

/* Notes §3.5: inv_freq over the rotated dims, then the scaling rule. */
static double scaled_inv_freq(const llama_config *c, int i) {
  int rot = c->rotary_dim ? c->rotary_dim : c->head_dim;
  double f = (float)(1.0 / pow(c->rope_theta, (double)(2 * i) / rot));
  if (c->rope_type == LLAMA_ROPE_LINEAR) return f / c->rope_factor;
  if (c->rope_type != LLAMA_ROPE_LLAMA3) return f;
  double n = c->rope_original_max_positions, wavelength = 2 * M_PI / f;
  double lo = c->rope_low_freq_factor, hi = c->rope_high_freq_factor;
  if (wavelength < n / hi) return f;
  if (wavelength > n / lo) return f / c->rope_factor;
  double s = (n / wavelength - lo) / (hi - lo);
  return (1 - s) * f / c->rope_factor + s * f;
}

void llama_rope_tables(const llama_config *cfg, float *cos_t, float *sin_t, int t_max) {
  int rot = cfg->rotary_dim ? cfg->rotary_dim : cfg->head_dim, half = rot / 2;
  if (cfg->rope_type == LLAMA_ROPE_DEFAULT) {
    rope_tables(cos_t, sin_t, t_max, rot, cfg->rope_theta);
    return;
  }
  for (int i = 0; i < half; i++) {
    float inv_freq = (float)scaled_inv_freq(cfg, i);
    for (int p = 0; p < t_max; p++) {
      float angle = (float)p * inv_freq;
      cos_t[(int64_t)p * half + i] = cosf(angle);
      sin_t[(int64_t)p * half + i] = sinf(angle);
    }
  }
}
