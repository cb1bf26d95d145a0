/* unlearn — one unlearning run of an experiment: the stages it needs
 * (pipeline/prepare.h), the method plugin with its
 * reference log-probs cached once per example, the trainer, evaluation every
 * K steps with the history, best (by forget quality) and final points.
 *
 * A run directory holds: config.cfg (resolved), steps.jsonl (loss, lr and
 * the method's metrics per step), history.jsonl (one evaluation per line),
 * eval.json (final per-example values), summary.json (final, best and
 * utility-constrained best points, target and retain references), model/
 * (optional), DONE when complete. Killed runs resume from checkpoint.safetensors.
 */
#ifndef LETHE_UNLEARN_H
#define LETHE_UNLEARN_H

#include <stdio.h>

#include "lethe/method.h"
#include "model/token_batch.h"
#include "pipeline/prepare.h"
#include "train/trainer.h"

struct json_t;

/* The unlearning run into run_dir.
 * Under MPI (core/dist.h) every rank calls these together: stages and the
 * unlearning steps are data parallel, evaluations split over the ranks, and
 * rank 0 alone writes files (the others wait where they must read them). */
int run_unlearn(const experiment *e, const char *run_dir, lethe_err *err);
/* lethe plan: builds (or finds) the run's stages, prints the memory plan of
 * one unlearning step (train/memplan.h) to out, and fails as the run would
 * when it cannot fit in the memory available. */
int run_plan(const experiment *e, FILE *out, lethe_err *err);

/* On resume: keeps the lines of run_dir/file (steps.jsonl, history.jsonl)
 * whose "step" is at most `step`, rank 0 rewriting the file, and appends
 * them as JSON objects to the array kept. A last line without its newline
 * is a write torn by the kill, and is dropped; any other line that is not a
 * JSON object is an error naming the file and the line. A missing file has
 * no lines. */
int unlearn_truncate_jsonl(const char *run_dir, const char *file, long step, struct json_t *kept,
                           lethe_err *err);

/* ---- a run on rows the caller brings (kind "muse") -----------------------------
 * run_unlearn's loop (method, batches, cached reference log-probs, trainer,
 * checkpoints and resume, steps.jsonl, history.jsonl, evaluations at
 * eval.at_start and every eval.every steps) on forget and retain rows the
 * caller makes, the policy starting from — and the reference being — the
 * model in model_dir, evaluated by the caller. No idk rows: a method that
 * needs them must be refused before (LETHE_CAP_IDK). */
typedef struct unlearn_source {
  const char *name; /* what the rows are, for the progress line ("MUSE forget10") */
  void *ctx;
  /* The forget and retain rows into d, encoded with tok (model_dir's) and
   * fmt (the experiment's); seed (unlearn.seed) pairs them. */
  int (*rows)(void *ctx, const tok_tokenizer *tok, const tofu_format *fmt, uint64_t seed,
              tofu_forget_data *d, lethe_err *err);
  /* Evaluates the policy at `step` (every rank): *point = its numbers, a new
   * JSON object, to which the run adds step, epoch and loss. */
  int (*evaluate)(void *ctx, llama_model *policy, long step, struct json_t **point, lethe_err *err);
  /* Writes the files of the last evaluation (eval.json, ...) into dir (rank 0). */
  int (*write)(void *ctx, const char *dir, lethe_err *err);
} unlearn_source;
/* The run into run_dir: config.cfg, steps.jsonl, history.jsonl, the last
 * evaluation's files, model/ with unlearn.save_model, summary.json (a copy
 * of `summary` with method, forget_split, steps, steps_per_epoch, seconds,
 * eval_seconds, trainable_parameters, trainable_tensors, compute, machine
 * and final added), then DONE. Resumes from the checkpoint with e->resume. */
int run_unlearn_source(const experiment *e, const char *run_dir, const char *model_dir,
                       const unlearn_source *src, struct json_t *summary, lethe_err *err);

/* ---- a session: a run's training alone ----------------------------------------
 * The method, its batches, the cached reference log-probs and the trainer of
 * run_unlearn, on the model in model_dir (with its tokenizer.json) and the
 * data in data_dir, as e's settings say — without stages, evaluations or
 * files. For benchmarks (tests/bench/bench_unlearn_epoch.c times one epoch of
 * it against a PyTorch twin). One process (no MPI). */
typedef struct run_ctx unlearn_session;
/* Opens a session: everything run_unlearn opens before its first step,
 * the reference log-probs computed. *out is freed with unlearn_session_free. */
int unlearn_session_open(unlearn_session **out, const experiment *e, const char *data_dir,
                         const char *model_dir, lethe_err *err);
void unlearn_session_free(unlearn_session *s);
/* The trainer's configuration of the run (no checkpoints): steps, schedule,
 * AdamW settings. Valid while s is. */
const train_config *unlearn_session_train_config(const unlearn_session *s);
/* The packed rows of micro-batch `micro` of optimizer step `step` (0-based),
 * exactly those the step trains on: forget, retain and idk segments as the
 * method needs them. out is the caller's (token_batch_free). */
void unlearn_session_batch(unlearn_session *s, long step, int micro, token_batch *out,
                           lethe_segment seg[LETHE_SEG_COUNT]);
/* Runs every step. after (may be NULL) is called as trainer_run calls it. */
int unlearn_session_train(unlearn_session *s, train_after_fn after, void *ctx, lethe_err *err);
/* The policy (trained in place) and the reference (the starting model,
 * frozen; what the run's evaluations take the forget KL against): borrowed. */
llama_model *unlearn_session_policy(unlearn_session *s);
llama_model *unlearn_session_reference(unlearn_session *s);

#endif
