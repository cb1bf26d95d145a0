/* lora — LoRA adapters on a llama_model's linear layers, as PEFT defines
 * them (shared notes, real-checkpoints.md §8): for a targeted module with
 * base weight W (out, in),
 *     y = x·Wᵀ + s·dropout(x)·Aᵀ·Bᵀ,   A (r, in), B (out, r),
 * s = alpha/r (alpha/√r with use_rslora). A starts kaiming-uniform with
 * a = √5, i.e. U(−1/√in, 1/√in), B at 0, so a new adapter changes nothing.
 *
 * An adapter is attached to a model by setting m->lora (borrowed): the
 * forward adds the low-rank branch to each targeted projection, the
 * backward adds into the adapter's gradients, and the base is frozen — no
 * base weight-gradient matmul runs (llama_layers.c). The adapter's
 * parameters and gradients are each one buffer (the trainer's parameter
 * set, train/trainer.h): per targeted module in LORA_* order, A stacked over
 * layers (L, r, in), then B (L, out, r). The small low-rank matmuls run in
 * float32 in both compute precisions (bf16 inputs are widened).
 *
 * Dropout (p > 0) runs only in training mode (lora_set_training), with a
 * mask that is a hash of (seed, the caller's key, layer, module, element):
 * the same key gives the same mask, backward rebuilds it instead of storing
 * it; p = 0 does no mask work at all.
 * Files (lora_io.c): DIR/adapter_config.json + DIR/adapter_model.safetensors
 * with PEFT's names, loadable by peft. Not here: settings (pipeline/), the
 * optimizer (train/). */
#ifndef LETHE_LORA_H
#define LETHE_LORA_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "model/config.h"

/* The linear layers an adapter may target, in storage order. */
enum {
  LORA_Q, LORA_K, LORA_V, LORA_O, LORA_GATE, LORA_UP, LORA_DOWN, LORA_N_MODULES
};

typedef struct lora_config {
  int rank;          /* r >= 1 (0 = no adapter, for settings) */
  double alpha;      /* lora_alpha */
  double dropout;    /* lora_dropout in [0, 1) */
  int use_rslora;    /* scale alpha/√r instead of alpha/r */
  unsigned targets;  /* bit 1u << LORA_* per targeted module */
  uint64_t seed;     /* A's initialisation and the dropout masks */
} lora_config;

typedef struct lora_adapter {
  lora_config cfg;
  float scale;                    /* s */
  int L;                          /* layers */
  int in[LORA_N_MODULES], out[LORA_N_MODULES]; /* each module's (out, in) */
  size_t n_params;                /* floats in params (and grads) */
  float *params;                  /* owned, see above */
  float *grads;                   /* owned; NULL until lora_alloc_grads */
  float *a[LORA_N_MODULES], *b[LORA_N_MODULES];   /* into params; NULL = not targeted */
  float *ga[LORA_N_MODULES], *gb[LORA_N_MODULES]; /* into grads */
  /* forward state for backward, and scratch, for up to M_max rows */
  int64_t M_max;
  float *work;                    /* owned: the buffers below */
  float *xa[LORA_N_MODULES];      /* (L, M_max, r) s·x'·Aᵀ of the last forward */
  float *x_in, *d_in;             /* (M_max, max in) x' and dx' */
  float *d_out;                   /* (M_max, max out) dy widened from bf16 */
  float *d_xa;                    /* (M_max, r) */
  int training;                   /* dropout on (lora_set_training) */
  uint64_t mask_key;
} lora_adapter;

/* PEFT's name of module `mod` ("q_proj", ... "down_proj"; phi: "dense",
 * "fc1", "fc2") for the model family, NULL when the family has no such
 * layer (phi's gate). */
const char *lora_module_name(const llama_config *mc, int mod);
/* The module a PEFT name means for the family (mc NULL: in any family),
 * -1 if none. */
int lora_module_from_name(const llama_config *mc, const char *name);

/* A new adapter for the model config mc: checks cfg (rank >= 1, alpha > 0,
 * 0 <= dropout < 1, at least one target the family has), allocates, A from
 * the seeded RNG, B = 0. */
int lora_create(lora_adapter *lo, const llama_config *mc, const lora_config *cfg, lethe_err *err);
void lora_free(lora_adapter *lo);
void lora_alloc_grads(lora_adapter *lo);
void lora_zero_grads(lora_adapter *lo);
/* Room for M rows (the model's B·T); reallocates only when growing. */
void lora_reserve(lora_adapter *lo, int64_t M);
/* The bytes lora_reserve(lo, M) allocates (forward state and scratch). */
size_t lora_work_bytes(const lora_adapter *lo, int64_t M);
/* Dropout on (with the mask of `key`: a step and micro-batch, say) or off. */
void lora_set_training(lora_adapter *lo, int on, uint64_t key);

/* The branch of module mod in layer l: y (M, out) += s·x'·Aᵀ·Bᵀ, keeping
 * s·x'·Aᵀ for backward. The input is x (M, in) float32, or x16 bfloat16
 * when non-NULL. No-op for a module the adapter does not target. */
void lora_forward(lora_adapter *lo, int l, int mod, float *y, const float *x, const uint16_t *x16,
                  int64_t M);
/* Its backward from dy (M, out) (float32, or dy16 when non-NULL) and the
 * forward's input: gB += dyᵀ·(s·x'Aᵀ), d(x'Aᵀ) = s·dy·B, gA += d(x'Aᵀ)ᵀ·x',
 * dx (M, in) += dropout'(d(x'Aᵀ)·A). Needs lora_alloc_grads. */
void lora_backward(lora_adapter *lo, int l, int mod, float *dx, const float *dy,
                   const uint16_t *dy16, const float *x, const uint16_t *x16, int64_t M);

/* W ← W + s·B·A for every targeted module of every layer of m's weights
 * (float32 master copy): the adapted model without its adapter. */
struct llama_model;
void lora_merge(struct llama_model *m, const lora_adapter *lo);

/* Every adapter tensor under its PEFT name
 * (base_model.model.model.layers.{l}.self_attn.q_proj.lora_A.weight, ...),
 * pointing into params (grads = 0) or grads (1); returns the count (out may
 * be NULL with cap 0). */
struct llama_tensor_ref;
int lora_named_tensors(const lora_adapter *lo, const llama_config *mc, int grads,
                       struct llama_tensor_ref *out, int cap);

/* ---- files (lora_io.c) ---- */
/* Parses adapter_config.json text (len bytes; path names it in errors) into
 * cfg for model config mc: peft_type "LORA", r, lora_alpha, lora_dropout,
 * target_modules (a list of names the family has), use_rslora; refuses what
 * lethe does not implement (fan_in_fan_out, bias other than "none", DoRA,
 * rank/alpha patterns, layer subsets, modules_to_save, lora_bias, regex
 * targets), naming the file and field. */
int lora_config_parse(lora_config *cfg, const llama_config *mc, const char *text, size_t len,
                      const char *path, lethe_err *err);
/* Writes DIR/adapter_config.json (base_model_name_or_path = base, may be
 * NULL) and DIR/adapter_model.safetensors (F32), creating DIR. Atomic. */
int lora_save(const lora_adapter *lo, const llama_config *mc, const char *dir, const char *base,
              lethe_err *err);
/* Reads an adapter directory for a model of config mc (shapes checked
 * against it). */
int lora_load(lora_adapter *lo, const llama_config *mc, const char *dir, lethe_err *err);

#endif
