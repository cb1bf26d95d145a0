/* experiment — the schema, typed views and cache keys (see experiment.h). */
#include "pipeline/experiment.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lethe/version.h"

/* Every setting an experiment file may use, with its default. Documented in
 * docs/configuration.md (keep them in step). */
const char *const experiment_schema =
    "version = 1;\n"
    "kind = \"tofu\";\n"
    "compute = \"auto\";\n"
    "calibration = true;\n"
    "seed = 0;\n"
    "threads = 0;\n"
    "cache_dir = \"\";\n"
    "world = { seed = 0; };\n"
    "muse = { };\n"
    "data = {\n"
    "  dir = \"\";\n"
    "  forget_split = \"forget10\";\n"
    "  format = \"\";\n"
    "  system_prompt = \"\";\n"
    "  question_start = \"[INST] \";\n"
    "  question_end = \" [/INST]\";\n"
    "  answer_tag = \"\";\n"
    "  answer_end = \"\";\n"
    "  max_length = 256;\n"
    "};\n"
    "model = {\n"
    "  hidden_size = 256; intermediate_size = 704; num_hidden_layers = 4;\n"
    "  num_attention_heads = 4; num_key_value_heads = 4; rope_theta = 10000.0;\n"
    "  rms_norm_eps = 1e-5; tie_word_embeddings = false; initializer_range = 0.02;\n"
    "  max_position_embeddings = 256;\n"
    "};\n"
    "base = { path = \"\"; epochs = 30; batch_size = 32; lr = 2e-3; weight_decay = 0.01;\n"
    "  warmup_ratio = 0.1; seed = 0; };\n"
    "target = { path = \"\"; };\n"
    "retain = { path = \"\"; eval = \"\"; };\n"
    "finetune = { epochs = 15; batch_size = 32; lr = 2e-3; weight_decay = 0.01;\n"
    "  warmup_ratio = 0.1; replay = true; seed = 0; params = [];\n"
    "  lora = { rank = 0; alpha = 16.0; dropout = 0.0; use_rslora = false;\n"
    "    target_modules = [\"q_proj\", \"v_proj\"]; }; };\n"
    "unlearn = { epochs = 10; batch_size = 32; grad_accum = 1; lr = 1.5e-4;\n"
    "  weight_decay = 0.01; warmup_epochs = 1.0; max_grad_norm = 0.0; seed = 0;\n"
    "  checkpoint_every = 0; save_model = false; params = [];\n"
    "  lora = { rank = 0; alpha = 16.0; dropout = 0.0; use_rslora = false;\n"
    "    target_modules = [\"q_proj\", \"v_proj\"]; save_merged = true; }; };\n"
    "memory = { checkpoint_activations = false; frozen_weights = \"auto\"; };\n"
    "method = { name = \"npo\"; };\n"
    "eval = { every = 0; at_start = true; max_rows = 300; max_new_tokens = 48;\n"
    "  batch_size = 64; samples = 3; mu_fraction = 0.8; mia = true; verbmem_max_new_tokens = 128;\n"
    "  knowmem_max_new_tokens = 32; };\n";

const char *const experiment_open_groups[] = {"world", "method", "muse", NULL};

/* Replaces compute = "auto" by what it means on this machine, so that
 * stage keys, config.cfg and summaries name the precision actually used. */
static int resolve_compute(experiment *e, lethe_err *err) {
  config_setting_t *s = lcfg_setting(&e->cfg, "compute");
  int mode;
  if (llama_compute_from_name(config_setting_get_string(s), &mode, err) != 0) {
    char where[600];
    lcfg_where(s, where, sizeof where);
    return lethe_err_prefix(err, "%s", where);
  }
  config_setting_set_string(s, llama_compute_name(mode));
  return 0;
}

/* memory.frozen_weights: "auto" (frozen matrices in bfloat16 where their
 * values are bfloat16 already) or "f32"; both give the same results, so
 * no stage key holds it. ("bf16", rounding the rest, would change results:
 * not a setting.) */
static int frozen_mode(const experiment *e, int *mode, lethe_err *err) {
  config_setting_t *s = lcfg_setting(&e->cfg, "memory.frozen_weights");
  const char *name = config_setting_get_string(s);
  if (name && (!strcmp(name, "auto") || !strcmp(name, "f32")))
    return llama_hold_from_name(name, mode, err);
  char where[600];
  lcfg_where(s, where, sizeof where);
  return lethe_errf(err, LETHE_E_CONFIG, "%s: memory.frozen_weights must be \"auto\" (frozen "
                    "matrices held in bfloat16 where that loses nothing: a bf16 checkpoint) or "
                    "\"f32\"", where);
}

/* The prompt format's settings as written (no preset applied yet). */
static void format_settings(const experiment *e, tofu_format *fmt) {
  tofu_format_default(fmt);
  struct {
    char *field;
    const char *path;
  } strings[] = {{fmt->format, "data.format"},
                 {fmt->system_prompt, "data.system_prompt"},
                 {fmt->question_start, "data.question_start"},
                 {fmt->question_end, "data.question_end"},
                 {fmt->answer_tag, "data.answer_tag"},
                 {fmt->answer_end, "data.answer_end"}};
  for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++)
    snprintf(strings[i].field, DATA_SETTING_STRLEN, "%s", lcfg_string(&e->cfg, strings[i].path));
  fmt->max_length = (int)lcfg_int(&e->cfg, "data.max_length");
  fmt->pad_to_max_length = 0;
}

/* Checks the prompt format once, at load, so that experiment_format cannot fail. */
static int check_format(const experiment *e, lethe_err *err) {
  tofu_format fmt;
  format_settings(e, &fmt);
  for (const char *const *k = (const char *const[]){"data.format", "data.system_prompt",
                                                    "data.question_start", "data.question_end",
                                                    "data.answer_tag", "data.answer_end", NULL};
       *k; k++)
    if (strlen(lcfg_string(&e->cfg, *k)) >= DATA_SETTING_STRLEN) {
      char where[600];
      lcfg_where(lcfg_setting(&e->cfg, *k), where, sizeof where);
      return lethe_errf(err, LETHE_E_CONFIG, "%s: %s is longer than %d bytes", where, *k,
                        DATA_SETTING_STRLEN - 1);
    }
  if (tofu_format_resolve(&fmt, err) != 0) {
    char where[600];
    lcfg_where(lcfg_setting(&e->cfg, "data.format"), where, sizeof where);
    return lethe_err_prefix(err, "%s", where);
  }
  return 0;
}

void experiment_format(const experiment *e, tofu_format *fmt) {
  format_settings(e, fmt);
  lethe_err err = {0};
  int rc = tofu_format_resolve(fmt, &err);
  assert(rc == 0 && "checked by experiment_load");
  (void)rc;
}

int experiment_load(experiment *e, const char *path, const char *const *overrides, int n_overrides,
                    lethe_err *err) {
  memset(e, 0, sizeof *e);
  /* method.* overrides go to the method loader (it knows the parameter table) */
  const char **rest = lethe_calloc((size_t)n_overrides + 1, sizeof *rest);
  int n_rest = 0;
  e->method_overrides = lethe_calloc((size_t)n_overrides + 1, sizeof *e->method_overrides);
  for (int i = 0; i < n_overrides; i++) {
    if (!strncmp(overrides[i], "method.", 7))
      e->method_overrides[e->n_method_overrides++] = lethe_strdup(overrides[i]);
    else
      rest[n_rest++] = overrides[i];
  }
  int rc = lcfg_load(&e->cfg, experiment_schema, experiment_open_groups, path, rest, n_rest, err);
  free(rest);
  if (rc != 0) {
    experiment_free(e);
    return -1;
  }
  const char *cache = lcfg_string(&e->cfg, "cache_dir");
  if (*cache) {
    e->cache_dir = lethe_strdup(cache);
  } else if (getenv("LETHE_CACHE_DIR") && *getenv("LETHE_CACHE_DIR")) {
    e->cache_dir = lethe_strdup(getenv("LETHE_CACHE_DIR"));
  } else {
    const char *home = getenv("HOME");
    e->cache_dir = lethe_path_join(home && *home ? home : "/tmp", ".cache/lethe");
  }
  e->threads = (int)lcfg_int(&e->cfg, "threads");
  int hold;
  if (resolve_compute(e, err) != 0 || frozen_mode(e, &hold, err) != 0) {
    experiment_free(e);
    return -1;
  }
  world_settings ws;
  if (experiment_world(e, &ws, err) != 0 || check_format(e, err) != 0) {
    experiment_free(e);
    return -1;
  }
  return 0;
}

void experiment_free(experiment *e) {
  for (int i = 0; i < e->n_method_overrides; i++) free(e->method_overrides[i]);
  free(e->method_overrides);
  lcfg_free(&e->cfg);
  free(e->cache_dir);
  memset(e, 0, sizeof *e);
}

/* The integer settings of an open group (every key but "seed") set on obj
 * through its settings table; errors name the setting's file:line. */
static int open_group(const experiment *e, const char *group, const data_setting *table, size_t n,
                      void *obj, lethe_err *err) {
  config_setting_t *g = lcfg_setting(&e->cfg, group);
  for (int i = 0; g && i < config_setting_length(g); i++) {
    config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    const char *name = config_setting_name(s);
    if (!strcmp(name, "seed")) continue;
    char where[600], number[64];
    lcfg_where(s, where, sizeof where);
    int is_string = 0; /* what the table says the setting is (unknown names: an integer) */
    for (size_t k = 0; k < n; k++)
      if (!strcmp(table[k].name, name)) is_string = table[k].type == DATA_SETTING_STRING;
    int type = config_setting_type(s);
    if (is_string ? type != CONFIG_TYPE_STRING : type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: %s.%s must be %s", where, group, name,
                        is_string ? "a string" : "an integer");
    snprintf(number, sizeof number, "%lld", is_string ? 0LL : (long long)config_setting_get_int64(s));
    const char *value = is_string ? config_setting_get_string(s) : number;
    if (data_settings_set(table, n, obj, group, name, value, err) != 0)
      return lethe_err_prefix(err, "%s", where);
  }
  return 0;
}

int experiment_world(const experiment *e, world_settings *ws, lethe_err *err) {
  world_settings_default(ws);
  return open_group(e, "world", world_settings_table, world_n_settings, ws, err);
}

int experiment_muse(const experiment *e, muse_settings *ms, lethe_err *err) {
  muse_settings_default(ms);
  return open_group(e, "muse", muse_settings_table, muse_n_settings, ms, err);
}

void experiment_model_config(const experiment *e, int vocab, int bos, int eos, int pad,
                             llama_config *cfg) {
  const lcfg *c = &e->cfg;
  llama_config_defaults(cfg);
  cfg->vocab_size = vocab;
  cfg->hidden_size = (int)lcfg_int(c, "model.hidden_size");
  cfg->intermediate_size = (int)lcfg_int(c, "model.intermediate_size");
  cfg->num_hidden_layers = (int)lcfg_int(c, "model.num_hidden_layers");
  cfg->num_attention_heads = (int)lcfg_int(c, "model.num_attention_heads");
  cfg->num_key_value_heads = (int)lcfg_int(c, "model.num_key_value_heads");
  cfg->head_dim = cfg->num_attention_heads > 0 ? cfg->hidden_size / cfg->num_attention_heads : 0;
  cfg->rope_theta = lcfg_float(c, "model.rope_theta");
  cfg->rms_norm_eps = lcfg_float(c, "model.rms_norm_eps");
  cfg->tie_word_embeddings = lcfg_bool(c, "model.tie_word_embeddings");
  cfg->initializer_range = lcfg_float(c, "model.initializer_range");
  cfg->max_position_embeddings = (int)lcfg_int(c, "model.max_position_embeddings");
  cfg->bos_token_id = bos;
  cfg->eos_token_id = eos;
  cfg->pad_token_id = pad;
}

uint64_t lethe_hash_bytes(const void *data, size_t n, uint64_t h) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

uint64_t lethe_hash_str(const char *s, uint64_t h) { return lethe_hash_bytes(s, strlen(s) + 1, h); }

/* Canonical text of a setting: name, type and value, recursively. */
static uint64_t hash_setting(const config_setting_t *s, uint64_t h) {
  const char *name = config_setting_name(s);
  h = lethe_hash_str(name ? name : "", h);
  char buf[64];
  switch (config_setting_type(s)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64:
  case CONFIG_TYPE_FLOAT: /* 2 and 2.0 are the same setting */
    snprintf(buf, sizeof buf, "n%.17g",
             config_setting_type(s) == CONFIG_TYPE_FLOAT ? config_setting_get_float(s)
                                                         : (double)config_setting_get_int64(s));
    return lethe_hash_str(buf, h);
  case CONFIG_TYPE_BOOL: return lethe_hash_str(config_setting_get_bool(s) ? "btrue" : "bfalse", h);
  case CONFIG_TYPE_STRING: return lethe_hash_str(config_setting_get_string(s), lethe_hash_str("s", h));
  default: {
    /* groups hash their members sorted by name, so key order doesn't matter */
    int n = config_setting_length(s);
    const config_setting_t **kids = lethe_calloc((size_t)n + 1, sizeof *kids);
    for (int i = 0; i < n; i++) kids[i] = config_setting_get_elem(s, (unsigned)i);
    if (config_setting_is_group(s))
      for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(config_setting_name(kids[j - 1]), config_setting_name(kids[j])) > 0; j--) {
          const config_setting_t *t = kids[j];
          kids[j] = kids[j - 1];
          kids[j - 1] = t;
        }
    h = lethe_hash_str("{", h);
    for (int i = 0; i < n; i++) h = hash_setting(kids[i], h);
    free(kids);
    return lethe_hash_str("}", h);
  }
  }
}

uint64_t experiment_key(const experiment *e, const char *const *paths, int n, uint64_t salt) {
  uint64_t h = lethe_hash_str(LETHE_VERSION_STRING, 1469598103934665603ULL ^ salt);
  for (int i = 0; i < n; i++) {
    config_setting_t *s = lcfg_setting(&e->cfg, paths[i]);
    h = lethe_hash_str(paths[i], h);
    if (s) h = hash_setting(s, h);
  }
  return h;
}

/* A lora setting's error: file:line, the setting, what is wrong. */
static int lora_error(const experiment *e, const char *key, const char *what, lethe_err *err) {
  char where[600];
  lcfg_where(lcfg_setting(&e->cfg, key), where, sizeof where);
  return lethe_errf(err, LETHE_E_CONFIG, "%s: %s %s", where, key, what);
}

int experiment_lora(const experiment *e, const char *stage, lora_config *lc, lethe_err *err) {
  char key[64];
  memset(lc, 0, sizeof *lc);
#define LORA_KEY(name) (snprintf(key, sizeof key, "%s.lora.%s", stage, name), key)
  long rank = lcfg_int(&e->cfg, LORA_KEY("rank"));
  if (rank < 0 || rank > 4096) return lora_error(e, key, "must be in [0, 4096] (0 = off)", err);
  lc->rank = (int)rank;
  lc->alpha = lcfg_float(&e->cfg, LORA_KEY("alpha"));
  if (!(lc->alpha > 0)) return lora_error(e, key, "must be positive", err);
  lc->dropout = lcfg_float(&e->cfg, LORA_KEY("dropout"));
  if (!(lc->dropout >= 0 && lc->dropout < 1)) return lora_error(e, key, "must be in [0, 1)", err);
  lc->use_rslora = lcfg_bool(&e->cfg, LORA_KEY("use_rslora"));
  config_setting_t *targets = lcfg_setting(&e->cfg, LORA_KEY("target_modules"));
  for (int i = 0; i < config_setting_length(targets); i++) {
    const char *name = config_setting_get_string_elem(targets, i);
    int mod = name ? lora_module_from_name(NULL, name) : -1;
    if (mod < 0)
      return lora_error(e, key, "lists the linear layers to adapt: q_proj, k_proj, v_proj, "
                        "o_proj, gate_proj, up_proj, down_proj (phi: dense, fc1, fc2)", err);
    lc->targets |= 1u << mod;
  }
  if (!lc->targets) return lora_error(e, key, "must name at least one layer", err);
  snprintf(key, sizeof key, "%s.params", stage);
  if (lc->rank > 0 && config_setting_length(lcfg_setting(&e->cfg, key)) > 0)
    return lora_error(e, key, "must be empty with an adapter (lora.rank > 0): only the adapter "
                      "trains, the base stays frozen", err);
  snprintf(key, sizeof key, "%s.seed", stage);
  lc->seed = lethe_hash_str("lora", (uint64_t)lcfg_int(&e->cfg, key));
#undef LORA_KEY
  return 0;
}

void experiment_set_compute(const experiment *e, llama_model *m) {
  /* resolved and checked by experiment_load */
  llama_set_compute(m, strcmp(lcfg_string(&e->cfg, "compute"), "bf16") ? LLAMA_COMPUTE_F32
                                                                       : LLAMA_COMPUTE_BF16);
}

void experiment_set_memory(const experiment *e, llama_model *m) {
  llama_set_checkpointing(m, lcfg_bool(&e->cfg, "memory.checkpoint_activations"));
}

size_t experiment_hold_frozen(const experiment *e, llama_model *m) {
  int mode = LLAMA_HOLD_F32;
  frozen_mode(e, &mode, NULL); /* checked by experiment_load */
  return llama_hold_frozen(m, mode);
}

int experiment_plans_frozen_bf16(const experiment *e, const char *model_dir) {
  int mode = LLAMA_HOLD_F32;
  frozen_mode(e, &mode, NULL);
  char *path = lethe_path_join(model_dir, "config.json");
  int held = llama_hold_planned(mode, path);
  free(path);
  return held;
}

int experiment_trainable_mask(const experiment *e, const char *group, const llama_config *cfg,
                              uint8_t *mask, lethe_err *err) {
  char path[64], where[600], setting[700];
  snprintf(path, sizeof path, "%s.params", group);
  config_setting_t *s = lcfg_setting(&e->cfg, path);
  lcfg_where(s, where, sizeof where);
  snprintf(setting, sizeof setting, "%s (%s)", path, where);
  int n = config_setting_length(s);
  const char **patterns = lethe_calloc((size_t)n + 1, sizeof *patterns);
  for (int i = 0; i < n; i++) {
    patterns[i] = config_setting_get_string(config_setting_get_elem(s, (unsigned)i));
    if (!patterns[i]) {
      free(patterns);
      return lethe_errf(err, LETHE_E_CONFIG, "%s: every entry must be a string (a regular "
                        "expression over tensor names), entry %d is not", setting, i + 1);
    }
  }
  int rc = llama_trainable_mask(cfg, patterns, n, mask, setting, err);
  free(patterns);
  return rc;
}

int experiment_method_trainable_mask(const experiment *e, const char *method,
                                     const lethe_method_needs *needs, const llama_config *cfg,
                                     uint8_t *mask, lethe_err *err) {
  if (!needs->trainable[0] || lcfg_int(&e->cfg, "unlearn.lora.rank") > 0 ||
      config_setting_length(lcfg_setting(&e->cfg, "unlearn.params")) > 0)
    return experiment_trainable_mask(e, "unlearn", cfg, mask, err);
  char setting[400];
  snprintf(setting, sizeof setting, "method %s's trainable tensors (unlearn.params is empty)",
           method);
  const char *pattern = needs->trainable;
  return llama_trainable_mask(cfg, &pattern, 1, mask, setting, err);
}

int experiment_set_trainable(const experiment *e, const char *group, llama_model *m,
                             lethe_err *err) {
  uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * m->cfg.num_hidden_layers);
  int rc = experiment_trainable_mask(e, group, &m->cfg, mask, err);
  if (rc == 0) rc = llama_set_trainable(m, mask, err);
  free(mask);
  return rc;
}
