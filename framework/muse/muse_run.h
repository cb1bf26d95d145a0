/* muse_run — an experiment of kind "muse" (MUSE, Shi et al. 2024): the
 * corpus (the MUSE-like one cut from the world, data/muse.h, or muse.dir's
 * files in MUSE's layout), the cached stages — base model (stages.h), target
 * (base fine-tuned on the raw forget, retain1 and retain2 documents,
 * whole-sequence language modelling) and retain model (retain1 and retain2
 * only) — and their MUSE evaluations (evaluate/eval_muse.h: VerbMem,
 * KnowMem forget and retain, PrivLeak against the retain model's Min-K%
 * AUC), cached in each stage's directory. Then the method unlearns the
 * target on the forget documents, with retain1's documents as retain rows
 * and the target as reference, through the unlearning run's loop
 * (unlearn.h, run_unlearn_source), evaluated with MUSE's metrics at the
 * points a TOFU run is (eval.at_start, eval.every, the last step).
 *
 * A run directory holds what an unlearning run's does (config.cfg,
 * steps.jsonl, history.jsonl, eval.json and summary.json of the last
 * evaluation, DONE) plus corpus/ (the embedded corpus, read back through
 * muse_load), retain/ and target/ (eval.json and summary.json each, copied
 * from the cache). summary.json: {"kind": "muse", "forget_split",
 * "target": {...}, "retain": {...}, "method", "steps", ..., "final":
 * {verbmem_forget, knowmem_forget, knowmem_retain, privleak, mia_min_k_auc,
 * step, epoch, loss}}. */
#ifndef LETHE_MUSE_RUN_H
#define LETHE_MUSE_RUN_H

#include "pipeline/experiment.h"

/* Checks everything run_muse reads before any work: kind "muse", the muse
 * group, the forget split, the evaluation's token counts. */
int muse_check(const experiment *e, lethe_err *err);
/* The run into run_dir (made if needed); stages come from the cache. */
int run_muse(const experiment *e, const char *run_dir, lethe_err *err);

#endif
