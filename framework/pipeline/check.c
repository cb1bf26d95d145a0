/* check — a command's inputs checked before any work (see check.h). */
#include "pipeline/check.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "method/method_host.h"

/* path must be a file this process can read; `what` says what it is for. */
static int check_path(const char *path, const char *what, lethe_err *err) {
  struct stat st;
  if (stat(path, &st) != 0 || access(path, R_OK) != 0)
    return lethe_errf(err, LETHE_E_IO, "%s: cannot read %s (%s)", path, what, strerror(errno));
  if (S_ISDIR(st.st_mode))
    return lethe_errf(err, LETHE_E_IO, "%s: %s is a directory, not a file", path, what);
  return 0;
}

static int check_file(const char *dir, const char *name, const char *what, lethe_err *err) {
  char *path = lethe_path_join(dir, name);
  int rc = check_path(path, what, err);
  free(path);
  return rc;
}

static int check_dir(const char *dir, const char *what, lethe_err *err) {
  struct stat st;
  if (stat(dir, &st) != 0)
    return lethe_errf(err, LETHE_E_IO, "%s: cannot open %s (%s)", dir, what, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return lethe_errf(err, LETHE_E_IO, "%s: %s is not a directory", dir, what);
  return 0;
}

/* dir exists and is writable, or its nearest existing ancestor is a
 * directory where it can be created. */
static int check_writable_dir(const char *dir, const char *what, lethe_err *err) {
  char *at = lethe_strdup(*dir ? dir : ".");
  struct stat st;
  int rc = 0;
  while (stat(at, &st) != 0 && errno == ENOENT) {
    char *slash = strrchr(at, '/');
    if (!slash) {
      strcpy(at, ".");
    } else {
      if (slash == at) slash++; /* "/x" → "/" */
      *slash = '\0';
    }
  }
  if (stat(at, &st) != 0)
    rc = lethe_errf(err, LETHE_E_IO, "%s: %s cannot be created (%s: %s)", dir, what, at, strerror(errno));
  else if (!S_ISDIR(st.st_mode))
    rc = lethe_errf(err, LETHE_E_IO, "%s: %s cannot be created (%s is not a directory)", dir, what, at);
  else if (access(at, W_OK | X_OK) != 0)
    rc = lethe_errf(err, LETHE_E_IO, "%s: %s cannot be written (%s: %s)", dir, what, at, strerror(errno));
  free(at);
  return rc;
}

/* An integer setting in [min, max], with its file:line on error. */
static int check_range(const experiment *e, const char *key, long min, long max, lethe_err *err) {
  long v = lcfg_int(&e->cfg, key);
  if (v >= min && v <= max) return 0;
  char where[600];
  lcfg_where(lcfg_setting(&e->cfg, key), where, sizeof where);
  return lethe_errf(err, LETHE_E_CONFIG, "%s: %s must be in [%ld, %ld], not %ld", where, key, min,
                    max, v);
}

/* The four eval sets of a forget split (evaluate.h's eval_data_load). */
static int check_eval_sets(const char *dir, const char *split, lethe_err *err) {
  char forget[96];
  snprintf(forget, sizeof forget, "%s_perturbed.json", split);
  const char *files[] = {forget, "retain_perturbed.json", "real_authors_perturbed.json",
                         "world_facts_perturbed.json"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
    if (check_file(dir, files[i], "an eval set", err) != 0) return -1;
  return 0;
}

/* Which models are trained here rather than given by path. */
typedef struct trained {
  int base, target, retain, replay; /* replay: fine-tuning reads pretrain.json */
} trained;

static trained trained_models(const experiment *e) {
  stage_givens g = stage_given_models(e);
  trained t;
  t.target = !g.target;
  t.retain = !g.retain;
  t.base = (t.target || t.retain) && !g.base;
  t.replay = (t.target || t.retain) && lcfg_bool(&e->cfg, "finetune.replay");
  return t;
}

/* base.path, target.path, retain.path (each a model directory) and
 * retain.eval (a file or a directory with eval.json), where set. */
static int check_given_models(const experiment *e, lethe_err *err) {
  static const char *const keys[] = {"base.path", "target.path", "retain.path"};
  char where[700], what[800];
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
    const char *dir = lcfg_string(&e->cfg, keys[i]);
    if (!*dir) continue;
    lcfg_where(lcfg_setting(&e->cfg, keys[i]), where, sizeof where);
    snprintf(what, sizeof what, "%s (%s)", keys[i], where);
    if (stage_model_dir_check(dir, what, 1, err) != 0) return -1;
  }
  const char *eval = lcfg_string(&e->cfg, "retain.eval");
  if (*eval) {
    char *file = stage_retain_eval_file(eval);
    int rc = check_path(file, "retain.eval (the retain model's eval.json)", err);
    free(file);
    if (rc != 0) return -1;
  }
  return 0;
}

/* The TOFU files the stages and the run in `what` read from data.dir. */
static int check_data_dir(const char *dir, const char *split, const char *retain, unsigned what,
                          trained t, lethe_err *err) {
  char forget_file[96], retain_file[96];
  snprintf(forget_file, sizeof forget_file, "%s.json", split);
  snprintf(retain_file, sizeof retain_file, "%s.json", retain);
  if (check_dir(dir, "data.dir", err) != 0) return -1;
  if (t.base && check_file(dir, "tokenizer.json", "the data's tokenizer", err) != 0) return -1;
  if ((t.base || t.replay) && check_file(dir, "pretrain.json", "the base model's data", err) != 0)
    return -1;
  if ((what & EXPERIMENT_CHECK_TARGET) && t.target &&
      check_file(dir, "full.json", "the target's data", err) != 0)
    return -1;
  if ((what & (EXPERIMENT_CHECK_RETAIN | EXPERIMENT_CHECK_METHOD)) &&
      check_file(dir, retain_file, "the retain split", err) != 0)
    return -1;
  if ((what & EXPERIMENT_CHECK_RETAIN) && check_eval_sets(dir, split, err) != 0) return -1;
  if ((what & EXPERIMENT_CHECK_METHOD) &&
      (check_file(dir, forget_file, "the forget split", err) != 0 ||
       check_file(dir, "idontknow.jsonl", "the idk answers", err) != 0))
    return -1;
  return 0;
}

static int trained_config(const experiment *e, int unlearning, llama_config *cfg, lethe_err *err);

/* What the method's needs ask of the model it will unlearn (method ABI
 * 1.2, 1.3): a hidden layer it has, its own trainable tensors, no adapter
 * for a method that regularises the model's parameters or combines their
 * forget and retain gradients. */
static int check_needs(const experiment *e, const method_spec *ms, lethe_err *err) {
  const lethe_method_needs *n = &ms->needs;
  const char *name = ms->plugin.desc->name;
  if ((n->caps & (LETHE_CAP_PARAMS | LETHE_CAP_PART_GRADS)) &&
      lcfg_int(&e->cfg, "unlearn.lora.rank") > 0)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "method %s %s the trainable parameters; with an adapter "
                      "(unlearn.lora.rank > 0) the adapter trains: set unlearn.params instead",
                      name,
                      (n->caps & LETHE_CAP_PARAMS) ? "reads and regularises"
                                                   : "combines the forget and retain gradients of");
  llama_config cfg;
  if (trained_config(e, 1, &cfg, err) != 0) return -1;
  if ((n->caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) && n->hidden_layer >= cfg.num_hidden_layers)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "method %s reads the hidden states after layer %d, but the model has %d "
                      "layers (0..%d)", name, n->hidden_layer, cfg.num_hidden_layers,
                      cfg.num_hidden_layers - 1);
  uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * (cfg.num_hidden_layers + 1));
  int rc = experiment_method_trainable_mask(e, name, n, &cfg, mask, err);
  free(mask);
  return rc;
}

/* The method's plugin and parameters, resolved as run_unlearn will; with
 * `needs`, also what they ask of the model (after the given models are
 * checked: it reads target.path's config.json). */
static int check_method(const experiment *e, int needs, lethe_err *err) {
  method_spec ms = {0};
  if (method_spec_from_config(&ms, lcfg_setting(&e->cfg, "method"),
                              (const char *const *)e->method_overrides, e->n_method_overrides,
                              err) != 0)
    return -1;
  int rc = needs ? check_needs(e, &ms, err) : 0;
  method_spec_free(&ms);
  return rc;
}

/* The architecture of the model a group trains: a given model's
 * config.json (target.path for unlearning, base.path), else the `model`
 * group's (the vocabulary, unknown before the tokenizer, names no tensor). */
static int trained_config(const experiment *e, int unlearning, llama_config *cfg, lethe_err *err) {
  const char *keys[] = {"target.path", "base.path"};
  for (int i = unlearning ? 0 : 1; i < 2; i++) {
    const char *dir = lcfg_string(&e->cfg, keys[i]);
    if (!*dir) continue;
    char *path = lethe_path_join(dir, "config.json");
    int rc = llama_config_read(cfg, path, err);
    free(path);
    return rc;
  }
  experiment_model_config(e, 1, 0, 0, -1, cfg);
  return 0;
}

/* finetune.params / unlearn.params against the model they choose from. */
static int check_params(const experiment *e, const char *group, int unlearning, lethe_err *err) {
  char key[64];
  snprintf(key, sizeof key, "%s.params", group);
  if (!config_setting_length(lcfg_setting(&e->cfg, key))) return 0;
  llama_config cfg;
  if (trained_config(e, unlearning, &cfg, err) != 0) return -1;
  uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * (cfg.num_hidden_layers + 1));
  int rc = experiment_trainable_mask(e, group, &cfg, mask, err);
  free(mask);
  return rc;
}

unsigned experiment_check_stages(stage_set which) {
  switch (which) {
  case STAGES_BASE: return EXPERIMENT_CHECK_BASE;
  case STAGES_TARGET: return EXPERIMENT_CHECK_BASE | EXPERIMENT_CHECK_TARGET;
  case STAGES_RETAIN:
  case STAGES_REPLICA: return EXPERIMENT_CHECK_BASE | EXPERIMENT_CHECK_RETAIN;
  default: return EXPERIMENT_CHECK_TRAIN;
  }
}

int experiment_check(const experiment *e, const char *out_dir, unsigned what, lethe_err *err) {
  const char *split = lcfg_string(&e->cfg, "data.forget_split"), *data_dir = lcfg_string(&e->cfg, "data.dir");
  char retain[32];
  if (!forget_split_retain(split, retain, sizeof retain)) {
    char where[600];
    lcfg_where(lcfg_setting(&e->cfg, "data.forget_split"), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: data.forget_split must be forgetNN (e.g. forget10), not '%s'", where, split);
  }
  if ((what & EXPERIMENT_CHECK_METHOD) && check_method(e, 0, err) != 0) return -1;
  const struct {
    unsigned bit;
    const char *key;
  } batches[] = {{EXPERIMENT_CHECK_BASE, "base.batch_size"},
                 {EXPERIMENT_CHECK_TARGET | EXPERIMENT_CHECK_RETAIN, "finetune.batch_size"},
                 {EXPERIMENT_CHECK_RETAIN | EXPERIMENT_CHECK_METHOD, "eval.batch_size"},
                 {EXPERIMENT_CHECK_METHOD, "unlearn.batch_size"}};
  for (size_t i = 0; i < sizeof batches / sizeof batches[0]; i++)
    if ((what & batches[i].bit) && check_range(e, batches[i].key, 1, STAGE_MAX_BATCH, err) != 0)
      return -1;
  if ((what & EXPERIMENT_CHECK_METHOD) && check_range(e, "unlearn.grad_accum", 1, 1L << 30, err) != 0)
    return -1;
  lora_config lc;
  if ((what & EXPERIMENT_CHECK_METHOD) && experiment_lora(e, "unlearn", &lc, err) != 0) return -1;
  if ((what & (EXPERIMENT_CHECK_TARGET | EXPERIMENT_CHECK_RETAIN)) &&
      experiment_lora(e, "finetune", &lc, err) != 0)
    return -1;
  if (what && check_given_models(e, err) != 0) return -1;
  trained t = trained_models(e);
  if ((what & (EXPERIMENT_CHECK_TARGET | EXPERIMENT_CHECK_RETAIN)) && (t.target || t.retain) &&
      check_params(e, "finetune", 0, err) != 0)
    return -1;
  if ((what & EXPERIMENT_CHECK_METHOD) &&
      (check_params(e, "unlearn", 1, err) != 0 || check_method(e, 1, err) != 0))
    return -1;
  if (*data_dir && check_data_dir(data_dir, split, retain, what, t, err) != 0)
    return -1;
  if (what && check_writable_dir(e->cache_dir, "the stage cache", err) != 0) return -1;
  if (out_dir && check_writable_dir(out_dir, "the output directory", err) != 0) return -1;
  return 0;
}

int eval_inputs_check(const eval_inputs *in, lethe_err *err) {
  const char *models[] = {in->model_dir, in->ref_dir};
  for (int i = 0; i < 2; i++)
    if (models[i] && stage_model_dir_check(models[i], i ? "--ref" : "--model", 0, err) != 0)
      return -1;
  if (check_dir(in->data_dir, "the data directory", err) != 0 ||
      check_eval_sets(in->data_dir, in->split, err) != 0)
    return -1;
  if (in->retain_eval && check_path(in->retain_eval, "the retain model's eval.json", err) != 0)
    return -1;
  return check_writable_dir(in->out_dir, "the output directory", err);
}
