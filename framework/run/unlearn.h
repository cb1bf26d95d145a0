/* unlearn — one unlearning run of an experiment: the stages it needs (data,
 * base, target, retain model, their evaluations), the method plugin with its
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

#include "run/experiment.h"

/* The retain split that matches a forget split ("forget10" → "retain90");
 * NULL if the name is not forgetNN. Returns buf. */
const char *unlearn_retain_split(const char *forget_split, char *buf, size_t n);

/* Which stages run_prepare/run_stages build: everything (data, base, retain
 * model and its evaluation, target model and its evaluation), or only up to
 * the base, the target, or the retain model and its evaluation (so that a
 * suite can train the target and the retain models in parallel). */
typedef enum { STAGES_ALL = 0, STAGES_BASE, STAGES_TARGET, STAGES_RETAIN } stage_set;
/* Parses "all", "base", "target", "retain"; -1 otherwise. */
int stage_set_parse(const char *s);

/* Builds (or reuses) the stages the experiment needs and prints their
 * directories; no unlearning. */
int run_prepare(const experiment *e, stage_set which, lethe_err *err);
/* The same without printing (suites). */
int run_stages(const experiment *e, stage_set which, lethe_err *err);
/* The unlearning run into run_dir.
 * Under MPI (core/dist.h) every rank calls these together: stages and the
 * unlearning steps are data parallel, evaluations split over the ranks, and
 * rank 0 alone writes files (the others wait where they must read them). */
int run_unlearn(const experiment *e, const char *run_dir, lethe_err *err);

#endif
