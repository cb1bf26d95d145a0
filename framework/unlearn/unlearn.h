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

#include "pipeline/prepare.h"

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
struct json_t;
int unlearn_truncate_jsonl(const char *run_dir, const char *file, long step, struct json_t *kept,
                           lethe_err *err);

#endif
