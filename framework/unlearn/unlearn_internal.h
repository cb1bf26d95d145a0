/* unlearn_internal — what the files of the unlearn room share, and nothing
 * outside it includes: the state of one run (run_ctx) and the steps' side of
 * it (unlearn_steps.c: opening the method, data, models and reference cache;
 * the batches of each micro-batch; the trainer's configuration), which the
 * whole run (unlearn.c) and the session of benchmarks (unlearn.h) both use. */
#ifndef LETHE_UNLEARN_INTERNAL_H
#define LETHE_UNLEARN_INTERNAL_H

#include <jansson.h>
#include <stdio.h>

#include "evaluate/evaluate.h"
#include "method/method_host.h"
#include "model/lora.h"
#include "train/objective.h"
#include "unlearn/unlearn.h"

/* A metric the plugin reported during the current step: its mean goes to
 * steps.jsonl. */
typedef struct metric_acc {
  char *name; /* owned */
  double sum;
  long count;
} metric_acc;

/* Reference log-probs of one row, computed once per example. */
typedef struct ref_row {
  float *logp;
  int len;
} ref_row;

typedef struct run_ctx run_ctx;
struct run_ctx {
  const experiment *e;
  const char *run_dir; /* NULL in a session: no files */
  const unlearn_source *source; /* run_unlearn_source's rows and evaluation; NULL: TOFU's */
  method_spec ms;
  llama_model policy; /* trained (its adapter only, with unlearn.lora) */
  lora_adapter lora;  /* unlearn.lora: attached to policy when lora.rank > 0 */
  llama_model ref;    /* frozen target: reference logits for KL terms, forget KL in evaluation */
  tok_tokenizer *tok;
  objective obj;
  method_instance inst;
  uint32_t caps;
  tofu_forget_data fd;
  tofu_format fmt;
  int32_t pad, end; /* tofu_format_ids */
  int bs, accum, n_forget;
  uint64_t seed;
  int *order;
  long epoch;
  tofu_batch fb, rb, ib;
  ref_row *ref_cache[LETHE_SEG_COUNT]; /* per forget index: forget, retain partner, idk */
  float *ref_view;
  size_t ref_view_cap;
  metric_acc *metrics; /* this step's, in the order first reported */
  int n_metrics, metrics_cap;
  /* evaluation */
  eval_data ed;
  eval_options eopt;
  eval_workspace *ews; /* kept across the run's evaluations */
  eval_retain retain; /* the retain model's evaluation: forget quality, reference attack, PrivLeak */
  long eval_every, steps_per_epoch, total_steps;
  int eval_at_start;
  double target_mu, mu_fraction;
  json_t *best, *best_constrained, *final;
  const train_config *tc;
  train_config session_tc; /* a session's (tc points to it) */
  double eval_seconds;     /* time spent evaluating */
};

/* Reads and checks the batch settings (unlearn.batch_size, grad_accum) and
 * resolves the method (before any stage: a wrong name costs nothing). */
int unlearn_ctx_init(run_ctx *c, const experiment *e, lethe_err *err);
/* Tokenizer (model_dir's), prompt format and forget data (the run's rows). */
int unlearn_open_data(run_ctx *c, const char *data_dir, const char *model_dir, lethe_err *err);
/* The memory plan of the run's step (unlearn_plan.h), printed to out (NULL:
 * not printed); fails when it cannot fit in the memory available. Needs the
 * forget data (unlearn_open_data). */
int unlearn_check_memory(run_ctx *c, const char *model_dir, FILE *out, lethe_err *err);
/* Everything the steps need: the data, the memory plan (printed, and the run
 * refused when it cannot fit), policy and reference (model_dir's model), the
 * plugin instance and objective, the settings (read_settings), and the
 * reference log-probs when the method wants them cached. Not the evaluation's
 * data or references. */
int unlearn_open(run_ctx *c, const char *data_dir, const char *model_dir, lethe_err *err);
/* The trainer's configuration (label and checkpoint path borrowed; ckpt may be NULL). */
void unlearn_fill_train_config(const run_ctx *c, const char *label, const char *ckpt,
                               train_config *tc);
/* trainer_run's micro-batch callback (train_micro_fn) for ctx = a run_ctx. */
int unlearn_micro(void *vctx, long step, int micro, double grad_scale, double *loss,
                  double *tokens, lethe_err *err);
/* Forgets the step's metrics (after writing them). */
void unlearn_clear_metrics(run_ctx *c);
/* Frees everything c holds (not c itself). */
void unlearn_ctx_free(run_ctx *c);

#endif
