/* muse_run — an experiment of kind "muse" (MUSE, Shi et al. 2024, on the
 * embedded world): the MUSE-like corpus cut from the world (data/muse.h),
 * the base model (stages.h), the target (base fine-tuned on the raw forget,
 * retain1 and retain2 documents, whole-sequence language modelling) and the
 * retain model (on retain1 and retain2 only), each evaluated with MUSE's
 * metrics (evaluate/eval_muse.h): VerbMem, KnowMem forget and retain, and
 * the target's PrivLeak against the retain model's Min-K% AUC.
 *
 * A run directory holds config.cfg, corpus/ (the corpus in MUSE's layout,
 * read back through muse_load), retain/ and target/ (eval.json and
 * summary.json each), summary.json ({"kind": "muse", "forget_split",
 * "target": {...}, "retain": {...}}) and DONE.
 * Not here (issue 21, open): unlearning runs on the corpus. */
#ifndef LETHE_MUSE_RUN_H
#define LETHE_MUSE_RUN_H

#include "pipeline/experiment.h"

/* Checks everything run_muse reads before any work: kind "muse", the muse
 * group, the forget split, the evaluation's token counts. */
int muse_check(const experiment *e, lethe_err *err);
/* The run into run_dir (made if needed); stages come from the cache. */
int run_muse(const experiment *e, const char *run_dir, lethe_err *err);

#endif
