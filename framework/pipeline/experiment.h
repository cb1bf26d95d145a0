/* experiment — an experiment's settings (the schema of every known key with
 * its default, layered with the user's file and -s overrides by run/config),
 * typed views of them for each stage, and the stage cache keys.
 * Not here: running stages (stages.h), suites (suite.h). */
#ifndef LETHE_EXPERIMENT_H
#define LETHE_EXPERIMENT_H

#include <stdint.h>

#include "data/data.h"
#include "data/muse.h"
#include "data/world.h"
#include "lethe/method.h"
#include "model/config.h"
#include "model/llama.h"
#include "model/lora.h"
#include "pipeline/config.h"
#include "train/trainer.h"

extern const char *const experiment_schema;
extern const char *const experiment_open_groups[]; /* world, method (validated elsewhere) */

typedef struct experiment {
  lcfg cfg;
  char *cache_dir;   /* resolved stage cache directory */
  int quiet, resume;
  int threads;
  char **method_overrides; /* the "method.*" -s overrides, applied by the method loader */
  int n_method_overrides;
} experiment;

int experiment_load(experiment *e, const char *path, const char *const *overrides, int n_overrides,
                    lethe_err *err);
void experiment_free(experiment *e);

/* The world's settings from the `world` group (keys checked against the
 * world's table, errors with file:line). */
int experiment_world(const experiment *e, world_settings *ws, lethe_err *err);
/* The MUSE corpus settings from the `muse` group (kind "muse"; checked
 * against muse_settings_table, errors with file:line). */
int experiment_muse(const experiment *e, muse_settings *ms, lethe_err *err);
/* The prompt format from `data`. */
void experiment_format(const experiment *e, tofu_format *fmt);
/* Model shape from `model` (vocab from the tokenizer). */
void experiment_model_config(const experiment *e, int vocab, int bos, int eos, int pad,
                             llama_config *cfg);

/* The LoRA settings of a stage ("unlearn" or "finetune": its .lora group)
 * as an adapter config (rank 0: no adapter; the seed from the stage's
 * seed); errors name the setting's file:line. Which names a model family
 * has is checked when the adapter is created (lora_create). */
int experiment_lora(const experiment *e, const char *stage, lora_config *lc, lethe_err *err);

/* Applies the `compute` setting (f32 or bf16 matmuls) to a model. */
void experiment_set_compute(const experiment *e, llama_model *m);
/* Applies the `memory` group (memory.checkpoint_activations) to a model.
 * It changes memory and time, never a result, so no stage key holds it. */
void experiment_set_memory(const experiment *e, llama_model *m);
/* Holds m's frozen matrices in bfloat16 as memory.frozen_weights says
 * (llama_hold_frozen; after what trains is set); returns the floats held.
 * Never changes a result. */
size_t experiment_hold_frozen(const experiment *e, llama_model *m);
/* 1 when a run on the model in model_dir will hold its frozen matrices in
 * bfloat16 ("auto" and a config.json that says bfloat16): for the plan. */
int experiment_plans_frozen_bf16(const experiment *e, const char *model_dir);

/* The trainable tensors `group`.params names (finetune or unlearn: PCRE2
 * patterns over HF tensor names, full match; empty = every tensor) as a
 * mask for a model of cfg (llama_trainable_mask: LLAMA_N_PARAM_TENSORS * L
 * bytes). Fails, naming the setting and its file:line, on an entry that is
 * not a string, a pattern that does not compile or matches nothing. */
int experiment_trainable_mask(const experiment *e, const char *group, const llama_config *cfg,
                              uint8_t *mask, lethe_err *err);
/* What an unlearning run with this method trains: unlearn.params when set
 * (or with an adapter), else the method's own pattern
 * (lethe_method_needs.trainable, "method NAME's trainable tensors" in
 * errors) when it gives one, else every tensor. */
int experiment_method_trainable_mask(const experiment *e, const char *method,
                                     const lethe_method_needs *needs, const llama_config *cfg,
                                     uint8_t *mask, lethe_err *err);
/* The same applied to a model (llama_set_trainable): only those tensors get
 * gradients and optimizer state. */
int experiment_set_trainable(const experiment *e, const char *group, llama_model *m,
                             lethe_err *err);

/* A stable 64-bit key of a settings subtree (canonical text, FNV-1a), mixed
 * with `salt`; stage caches are keyed by the keys of everything a stage
 * depends on, plus the lethe version. */
uint64_t experiment_key(const experiment *e, const char *const *paths, int n, uint64_t salt);
/* The count of a static array of setting paths, for experiment_key. */
#define EXPERIMENT_N_PATHS(paths) ((int)(sizeof(paths) / sizeof((paths)[0])))
uint64_t lethe_hash_bytes(const void *data, size_t n, uint64_t h);
uint64_t lethe_hash_str(const char *s, uint64_t h);

#endif
