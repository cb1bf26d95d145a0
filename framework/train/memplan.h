/* memplan — what a training or unlearning run will hold in memory, before it
 * holds it: the weights, their bf16 copy, a frozen reference, gradients and
 * AdamW moments of what trains (a subset or a LoRA adapter), activations
 * (with checkpointing and chunked logits as set), the logits, the
 * reference log-prob cache and the process's own baseline. Every part comes
 * from the same sizing the allocators use (llama_reserve_bytes,
 * llama_trainable_floats, lora_work_bytes), so the plan is the run's
 * allocations, not a rule of thumb. A run that cannot fit is refused before
 * it starts, naming its biggest part.
 * Not here: the settings (pipeline/), the allocations themselves (model/). */
#ifndef LETHE_MEMPLAN_H
#define LETHE_MEMPLAN_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"
#include "model/llama.h"
#include "model/lora.h"

#define MEMPLAN_MAX_PARTS 16

typedef struct memplan_part {
  char name[64];
  size_t bytes;
  int hint; /* what would shrink it (memplan_check's message) */
} memplan_part;

typedef struct memplan {
  memplan_part part[MEMPLAN_MAX_PARTS];
  int n;
} memplan;

/* A training step's inputs to the plan. */
typedef struct memplan_training {
  const llama_model *shell;   /* config and settings (compute, checkpointing, logits mode);
                               * no weights needed (llama_reserve_bytes) */
  int B, T;                   /* the largest batch, rows × tokens */
  const uint8_t *trainable;   /* llama_trainable_mask; NULL = every tensor */
  const lora_config *lora;    /* rank > 0: an adapter trains, the base is frozen */
  const llama_model *ref;     /* a frozen reference copy held besides (settings as the
                               * shell's), NULL = none */
  size_t ref_cache_bytes;     /* cached reference log-probs */
  size_t method_bytes;        /* a method's own buffers (objective.h): reference values
                               * and dL/dθ of the trainable tensors, hidden states */
  size_t runtime_bytes;       /* what the process holds before loading (measured) */
  int method_logits;          /* 1: the method takes whole logits (LETHE_CAP_LOGITS): the
                               * objective's dlogits, B·T·V floats */
  int ref_borrows;            /* 1: the reference reads the policy's weights (llama_borrow,
                               * under LoRA): no float32 copy of its own */
  int frozen_bf16;            /* 1: the frozen matrices are held in bfloat16
                               * (llama_hold_frozen), the policy's and a reference's */
} memplan_training;

/* Fills plan with the parts of t (each named; zero parts left out). */
int memplan_training_parts(const memplan_training *t, memplan *plan, lethe_err *err);
size_t memplan_total(const memplan *plan);
/* The part with the most bytes (index). */
int memplan_biggest(const memplan *plan);
/* The table: one line per part (MiB and share), then the total and, when
 * available > 0, the memory available. */
void memplan_print(const memplan *plan, size_t available, const char *title, FILE *f);
/* The memory a run may use: MemAvailable (/proc/meminfo) plus what this
 * process already holds, capped by a cgroup limit (memory.max); 0 unknown. */
size_t memplan_available(void);
/* What this process holds now (VmRSS), 0 where unknown. */
size_t memplan_resident(void);
/* Fails when the total exceeds available (0: never), naming the biggest part
 * and what would shrink it. */
int memplan_check(const memplan *plan, size_t available, const char *what, lethe_err *err);

#endif
