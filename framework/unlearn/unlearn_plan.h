/* unlearn_plan — the memory plan (train/memplan.h) of one step of an
 * unlearning run, internal to the unlearn room. */
#ifndef LETHE_UNLEARN_PLAN_H
#define LETHE_UNLEARN_PLAN_H

#include <stdint.h>

#include "data/data.h"
#include "lethe/method.h"
#include "pipeline/experiment.h"
#include "train/memplan.h"

/* The method needs the run hands the reference model to the objective for
 * (train/objective.h); the run loads it in any case (forget KL). */
#define UNLEARN_REF_CAPS (LETHE_CAP_REF_LOGITS | LETHE_CAP_REF_HIDDEN | LETHE_CAP_PARAMS)

/* The memory plan of a training step of the run (train/memplan.h), before
 * any model is loaded: the target's config.json with the run's settings
 * (compute, memory, unlearn.params or unlearn.lora, the method's logits),
 * the packed batch of batch_size forget rows (and as many retain and idk
 * rows as the method takes) at the data's longest row, the reference copy
 * the run holds, the cached reference log-probs. Not in it: evaluation
 * batches (their forward reuses the training buffers when not longer). */
int unlearn_plan(const experiment *e, const char *method, const lethe_method_needs *needs,
                 const tofu_forget_data *fd, int bs, const char *target_dir, memplan *plan,
                 lethe_err *err);

#endif
