/* objective_parts — what objective.c and objective_parts.c share (private to
 * the objective; callers use objective.h): the forget and retain parts'
 * gradients of a step (method ABI 1.3, LETHE_CAP_PART_GRADS) and the
 * backward of a batch's rows from a method's gradients. */
#ifndef LETHE_OBJECTIVE_PARTS_H
#define LETHE_OBJECTIVE_PARTS_H

#include "train/objective.h"

/* Allocates o->parts for the trainable tensors of o->params (set first). */
void objective_parts_init(objective *o);
void objective_parts_free(objective *o);
/* After the plugin's call on the whole batch (o->dlogp, o->dlogits,
 * o->dhidden hold its gradients, unscaled): each part's gradient, combine(),
 * and the policy's gradients = before + grad_scale·combined (rank 0 adds). */
int objective_part_grads(objective *o, const token_batch *batch, const lethe_segment *seg,
                         int64_t step, int64_t total_steps, double grad_scale, lethe_err *err);
/* This rank's backward of batch (after its forward) from the whole batch's
 * dL/dlogp (B,T), dL/dlogits (B,T,V or NULL) and dL/dhidden at the method's
 * layer (B,T,C or NULL); without a gradient on the logits, from that layer. */
void objective_backward_rows(objective *o, const token_batch *batch, const float *dlogp,
                             const float *dlogits, const float *dhidden);

#endif
