/* objective_parts — the forget and retain parts' gradients of a method step
 * (method ABI 1.3, LETHE_CAP_PART_GRADS; see objective.h).
 *
 * After the plugin's call on the whole batch, each non-empty segment's rows
 * run forward and backward on their own, from the plugin's dL/dlogp
 * (dL/dlogits, dL/dhidden) of those rows: the forget and idk segments give
 * the forget part, the retain segment the retain part. A backward consumes
 * its forward's activations (the head turns the logits into their
 * gradient), so each part needs a forward of its own; by segment, that is
 * one forward over the batch more than a plain step, and no activation
 * memory more. Memory: three buffers of the trainable floats (the
 * accumulated gradients, the forget part, the combined update); the retain
 * part stays in the model's gradients. Not here: the plugin call
 * (objective.c), the combination's math (the plugin's combine()).
 */
#include "train/objective_parts.h"

#include <stdlib.h>
#include <string.h>

#include "core/dist.h"

void objective_parts_init(objective *o) {
  objective_parts *pp = &o->parts;
  size_t bytes = o->policy->n_trainable * sizeof(float), k = (size_t)o->params.n + 1;
  pp->saved = lethe_alloc_aligned(bytes);
  pp->forget = lethe_alloc_aligned(bytes);
  pp->combined = lethe_alloc_aligned(bytes);
  pp->forget_view = lethe_calloc(k, sizeof *pp->forget_view);
  pp->retain_view = lethe_calloc(k, sizeof *pp->retain_view);
  pp->combined_view = lethe_calloc(k, sizeof *pp->combined_view);
  for (int i = 0; i < o->params.n; i++) {
    size_t at = (size_t)(o->params.refs[i].data - o->policy->grads_memory);
    pp->forget_view[i] = pp->forget + at;
    pp->retain_view[i] = o->policy->grads_memory + at;
    pp->combined_view[i] = pp->combined + at;
  }
}

void objective_parts_free(objective *o) {
  objective_parts *pp = &o->parts;
  free(pp->saved);
  free(pp->forget);
  free(pp->combined);
  free(pp->forget_view);
  free(pp->retain_view);
  free(pp->combined_view);
  free(pp->logp);
  memset(pp, 0, sizeof *pp);
}

/* Rows [row0, row0 + nrows) of b as a batch of their own (a view into b). */
static token_batch rows_view(const token_batch *b, int row0, int nrows) {
  size_t at = (size_t)row0 * b->T;
  token_batch v = {nrows, b->T, b->input_ids + at, b->attn_mask + at, b->labels + at,
                   b->targets + at, b->row_len ? b->row_len + row0 : NULL};
  return v;
}

/* Adds the gradient of segment s's rows, run forward and backward alone, to
 * the policy's gradients (this rank's share of the rows). */
static int segment_backward(objective *o, const token_batch *batch, lethe_segment s,
                            lethe_err *err) {
  if (s.nrows <= 0) return 0;
  objective_parts *pp = &o->parts;
  token_batch rows = rows_view(batch, s.row0, s.nrows);
  size_t at = (size_t)s.row0 * batch->T, n = (size_t)s.nrows * batch->T;
  if (n > pp->logp_cap) {
    free(pp->logp);
    pp->logp = lethe_malloc(n * sizeof(float));
    pp->logp_cap = n;
  }
  if (objective_target_logp(o->policy, &rows, pp->logp, err) != 0) return -1;
  size_t V = (size_t)o->policy->cfg.vocab_size, C = (size_t)o->policy->cfg.hidden_size;
  objective_backward_rows(o, &rows, o->dlogp + at, o->dlogits ? o->dlogits + at * V : NULL,
                          o->dhidden ? o->dhidden + at * C : NULL);
  return 0;
}

int objective_part_grads(objective *o, const token_batch *batch, const lethe_segment *seg,
                         int64_t step, int64_t total_steps, double grad_scale, lethe_err *err) {
  objective_parts *pp = &o->parts;
  float *grads = o->policy->grads_memory;
  size_t n = o->policy->n_trainable, bytes = n * sizeof(float);
  memcpy(pp->saved, grads, bytes);
  memset(grads, 0, bytes);
  if (segment_backward(o, batch, seg[LETHE_SEG_FORGET], err) != 0 ||
      segment_backward(o, batch, seg[LETHE_SEG_IDK], err) != 0)
    return -1;
  memcpy(pp->forget, grads, bytes);
  memset(grads, 0, bytes);
  if (segment_backward(o, batch, seg[LETHE_SEG_RETAIN], err) != 0) return -1;
  dist_allreduce_sum_f32(pp->forget, n); /* the whole batch's parts, on every rank */
  dist_allreduce_sum_f32(grads, n);
  memset(pp->combined, 0, bytes);
  lethe_method_parts parts = {sizeof parts, o->params.n, o->params.views,
                              (const float *const *)pp->forget_view,
                              (const float *const *)pp->retain_view, pp->combined_view,
                              step, total_steps, NULL};
  if (method_instance_combine(o->method, &parts, err) != 0) return -1;
  memcpy(grads, pp->saved, bytes);
  if (dist_is_root()) /* the ranks' gradients are summed: add it once */
    for (size_t i = 0; i < n; i++) grads[i] += (float)grad_scale * pp->combined[i];
  return 0;
}
