/* trainer — the optimisation loop shared by every stage: micro-batches with
 * gradient accumulation, a NaN/Inf guard, optional clipping, AdamW with
 * linear warm-up then linear decay (Hugging Face's schedule), checkpoints
 * written atomically every N steps, resume to the same result, progress.
 *
 * What a step computes is the caller's: a callback runs one micro-batch
 * (forward, loss, backward adding into the model's gradients). The data order
 * must be a function of the step index (not of hidden state), so a resumed
 * run sees exactly the batches an uninterrupted run would.
 *
 * What is optimised: the model's parameters (m->params_memory with
 * m->grads_memory), or, when an adapter is attached (m->lora, model/lora.h),
 * only the adapter's (its params/grads buffers; the base stays frozen and
 * bit-identical). AdamW state, clipping, the guard, the all-reduce and the
 * checkpoints then cover the adapter alone, under PEFT's tensor names; its
 * dropout is on during the micro-batches only, keyed by (step, micro-batch).
 *
 * Data parallelism (core/dist.h): every rank runs trainer_run with the same
 * callbacks; a micro-batch callback adds its rank's share of the gradient
 * and returns the whole micro-batch's loss (the same on every rank). After
 * the micro-batches of a step the gradients are summed over ranks (one
 * all-reduce of the flat buffer), so the guard, clipping and AdamW see the
 * same numbers everywhere and every rank keeps the same parameters (checked
 * at the end). Only the model's trainable tensors (llama_set_trainable)
 * have gradients and optimizer state; the others stay as they are. Rank 0 alone writes checkpoints; every rank reads them on
 * resume (they must be on a shared filesystem).
 * Not here: losses, data, evaluation (callbacks), file layout of stages.
 */
#ifndef LETHE_TRAINER_H
#define LETHE_TRAINER_H

#include "model/llama.h"
#include "train/adamw.h"

typedef struct train_config {
  adamw_config opt;     /* lr is the peak learning rate */
  long total_steps;     /* optimizer steps */
  long warmup_steps;    /* linear warm-up from 0 over these steps */
  int grad_accum;       /* micro-batches per optimizer step (>= 1) */
  double max_grad_norm; /* 0 = no clipping (the original's default) */
  int decay_norms;      /* 1 = weight decay on norm weights too (torch default); 0 = matrices only (HF Trainer) */
  const char *label;    /* for progress and errors, e.g. "unlearn npo" */
  const char *checkpoint_path; /* NULL = no checkpoints */
  long checkpoint_every;       /* steps; 0 = only at the end (if path set) */
  int resume;                  /* continue from checkpoint_path if it exists */
  int quiet;
  double epochs; /* passes over the data that total_steps make, for progress; 0 = unknown */
} train_config;

/* Runs micro-batch `micro` (0..grad_accum-1) of optimizer step `step`
 * (0-based): adds grad_scale × dL/dθ into the model's gradients and returns
 * the micro-batch loss and its token count. */
typedef int (*train_micro_fn)(void *ctx, long step, int micro, double grad_scale, double *loss,
                              double *tokens, lethe_err *err);
/* Called after optimizer step `steps_done` (1-based) and once before the
 * first step with 0 (unless resuming); may evaluate, log, etc. Under MPI
 * every rank calls it and the trainer agrees on its status afterwards; one
 * that communicates itself agrees before each of its collectives (see
 * core/dist.h). */
typedef int (*train_after_fn)(void *ctx, long steps_done, double loss, lethe_err *err);

typedef struct train_result {
  long steps;        /* steps completed */
  long resumed_from; /* 0 unless resumed */
  double last_loss;
  size_t state_bytes; /* gradients and AdamW moments: 12 bytes per trainable float */
} train_result;

/* The learning rate at optimizer step `step` (0-based), as Hugging Face's
 * get_linear_schedule_with_warmup: lr·step/warmup during warm-up, then
 * lr·(total − step)/(total − warmup). */
double train_lr_at(const train_config *tc, long step);

int trainer_run(llama_model *m, const train_config *tc, train_micro_fn micro, train_after_fn after,
                void *ctx, train_result *res, lethe_err *err);

/* What a run on m optimises, as trainer_run takes it: the model's trainable
 * tensors or, with an adapter attached (m->lora, the base frozen), the
 * adapter's; gradients allocated. Their gradients as one buffer (checks,
 * clipping, all-reduce, zeroing) and AdamW's runs, decayed when their role
 * is a matrix or an embedding (HF's usual recipe) or, with decay_norms,
 * every one; an adapter's A and B are matrices. */
typedef struct train_params {
  float *grads;
  size_t n;
  adamw_span *spans;   /* owned: train_params_free; what the ranks must agree on after the run */
  int n_spans;
} train_params;
void train_params_of(llama_model *m, int decay_norms, train_params *out);
void train_params_free(train_params *p);

/* Checkpoint files (safetensors): the model's parameters under HF names
 * (or an adapter's under PEFT's) plus the AdamW moments (of what trains),
 * the step and which tensors train in the metadata; loading refuses a
 * checkpoint written for another subset or for/without an adapter. */
int train_checkpoint_save(const char *path, const llama_model *m, const adamw_state *opt,
                          lethe_err *err);
int train_checkpoint_load(const char *path, llama_model *m, adamw_state *opt, lethe_err *err);

#endif
