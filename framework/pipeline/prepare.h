/* prepare — the stages one unlearning run stands on, built (or found in the
 * cache) in order: data, base model, retain model and its evaluation on the
 * forget split, target model and its evaluation (scored against the retain
 * model's truth ratios). Each stage itself is in stages.h; this file only
 * orders them and evaluates the two reference models.
 * Under MPI (core/dist.h) every rank calls these together. */
#ifndef LETHE_PREPARE_H
#define LETHE_PREPARE_H

#include "evaluate/evaluate.h"
#include "pipeline/stages.h"

/* The retain split that matches a forget split ("forget10" → "retain90");
 * NULL if the name is not forgetNN. Returns buf. */
const char *forget_split_retain(const char *forget_split, char *buf, size_t n);

/* Which stages run_prepare/run_stages build: everything (data, base, retain
 * model and its evaluation, target model and its evaluation and, with
 * `calibration = true`, a second retain model and its evaluation), or only
 * up to the base, the target, the retain model and its evaluation, or the
 * second retain model (so that a suite can train them in parallel). */
typedef enum {
  STAGES_ALL = 0,
  STAGES_BASE,
  STAGES_TARGET,
  STAGES_RETAIN,
  STAGES_REPLICA
} stage_set;
/* Parses "all", "base", "target", "retain", "replica"; -1 otherwise. */
int stage_set_parse(const char *s);

/* Builds (or reuses) the stages the experiment needs and prints their
 * directories; no unlearning. */
int run_prepare(const experiment *e, stage_set which, lethe_err *err);
/* The same without printing (suites). */
int run_stages(const experiment *e, stage_set which, lethe_err *err);

/* The stages of one run, kept (directories owned; prepared_free). */
typedef struct prepared {
  stage_out data, base, target, retain;
  /* the calibration's second retain model: the retain split again, another
   * data-order seed; its evaluation's forget quality is measured against
   * the retain model (NULL dir without `calibration`) */
  stage_out replica;
  char *retain_eval, *target_eval, *replica_eval; /* eval directories (summary.json, eval.json) */
} prepared;
int prepare_stages(const experiment *e, stage_set which, prepared *p, lethe_err *err);
void prepared_free(prepared *p);

/* The experiment's eval group as evaluation options (every field set). */
void experiment_eval_options(const experiment *e, eval_options *o);
#endif
