/* objective — model + method plugin for one step (see objective.h). */
#include "train/objective.h"

#include <stdlib.h>
#include <string.h>

#include "core/dist.h"

static void parts_init(objective *o); /* LETHE_CAP_PART_GRADS, below */
static void parts_free(objective *o);

/* Whole logits for the models whose logits the method reads. Set at every
 * step: an evaluation in between may have switched a model. */
static void pick_logits(const objective *o) {
  objective_use_logits(o->policy, (o->caps & LETHE_CAP_LOGITS) != 0);
  if (o->ref) objective_use_logits(o->ref, (o->caps & LETHE_CAP_REF_LOGITS) != 0);
  /* Padded positions are skipped unless the method reads that model's
   * logits (a KL term may average over every position, padding included,
   * as open-unlearning's does) or hidden states. */
  llama_set_skip_padding(o->policy, !(o->caps & (LETHE_CAP_LOGITS | LETHE_CAP_HIDDEN)));
  if (o->ref)
    llama_set_skip_padding(o->ref, !(o->caps & (LETHE_CAP_REF_LOGITS | LETHE_CAP_REF_HIDDEN)));
}

/* The trainable tensors' views and, with_ref, the reference's values and
 * the plugin's dL/dθ (objective_params). */
static void params_init(objective_params *op, const llama_model *policy, const llama_model *ref,
                        int with_ref) {
  int cap = llama_trainable_tensors(policy), n_all = 0;
  op->refs = lethe_calloc((size_t)cap + 1, sizeof *op->refs);
  op->n = llama_named_tensors(policy, LLAMA_OF_GRADS, op->refs, cap);
  llama_tensor_ref *all = lethe_calloc(LLAMA_N_PARAM_TENSORS * ((size_t)policy->cfg.num_hidden_layers + 1), sizeof *all);
  n_all = llama_named_tensors(policy, LLAMA_OF_PARAMS, all,
                              LLAMA_N_PARAM_TENSORS * (policy->cfg.num_hidden_layers + 1));
  op->views = lethe_calloc((size_t)op->n + 1, sizeof *op->views);
  op->dparams = lethe_calloc((size_t)op->n + 1, sizeof *op->dparams);
  op->ref_values = with_ref ? lethe_alloc_aligned(policy->n_trainable * sizeof(float)) : NULL;
  op->grads = with_ref ? lethe_alloc_aligned(policy->n_trainable * sizeof(float)) : NULL;
  for (int i = 0; i < op->n; i++) {
    const llama_tensor_ref *r = &op->refs[i];
    size_t at = (size_t)(r->data - policy->grads_memory);
    lethe_param_tensor *v = &op->views[i];
    v->name = r->name;
    v->ndim = r->ndim;
    v->shape[0] = r->shape[0];
    v->shape[1] = r->ndim == 2 ? r->shape[1] : 1;
    v->numel = v->shape[0] * v->shape[1];
    for (int k = 0; k < n_all; k++)
      if (all[k].role == r->role && all[k].layer == r->layer) v->value = all[k].data;
    if (!with_ref) continue;
    llama_read_slice(ref ? ref : policy, r->role, r->layer, op->ref_values + at);
    v->ref_value = op->ref_values + at;
    op->dparams[i] = op->grads + at;
  }
  free(all);
}

static void params_free(objective_params *op) {
  free(op->refs);
  free(op->views);
  free(op->dparams);
  free(op->ref_values);
  free(op->grads);
  memset(op, 0, sizeof *op);
}

int objective_init(objective *o, llama_model *policy, llama_model *ref, method_instance *method,
                   lethe_err *err) {
  memset(o, 0, sizeof *o);
  o->policy = policy;
  o->ref = ref;
  o->method = method;
  o->caps = method->needs.caps;
  o->hidden_layer = method->needs.hidden_layer;
  const char *name = method->plugin->desc->name;
  if ((o->caps & (LETHE_CAP_REF_LOGITS | LETHE_CAP_REF_HIDDEN)) && !ref)
    return lethe_errf(err, LETHE_E_USAGE, "method %s needs reference %s: give a reference model",
                      name, (o->caps & LETHE_CAP_REF_LOGITS) ? "logits" : "hidden states");
  if ((o->caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) &&
      o->hidden_layer >= policy->cfg.num_hidden_layers)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "method %s reads the hidden states after layer %d, but the model has %d "
                      "layers (0..%d)", name, o->hidden_layer, policy->cfg.num_hidden_layers,
                      policy->cfg.num_hidden_layers - 1);
  if ((o->caps & (LETHE_CAP_PARAMS | LETHE_CAP_PART_GRADS)) && policy->lora)
    return lethe_errf(err, LETHE_E_USAGE,
                      "method %s %s the trainable parameters; with an adapter "
                      "(unlearn.lora) the adapter trains: train the model's own tensors "
                      "(unlearn.params) instead", name,
                      (o->caps & LETHE_CAP_PARAMS) ? "reads and regularises"
                                                   : "combines the forget and retain gradients of");
  if (ref && ref->cfg.vocab_size != policy->cfg.vocab_size)
    return lethe_errf(err, LETHE_E_USAGE,
                      "reference model vocabulary (%d) differs from the policy's (%d)",
                      ref->cfg.vocab_size, policy->cfg.vocab_size);
  const char *force = getenv("LETHE_LOGITS");
  if (force && *force && strcmp(force, "whole") && strcmp(force, "chunked"))
    return lethe_errf(err, LETHE_E_USAGE,
                      "LETHE_LOGITS must be \"whole\" or \"chunked\" (or unset), not \"%s\"",
                      force);
  llama_alloc_grads(policy);
  pick_logits(o);
  if (o->caps & (LETHE_CAP_PARAMS | LETHE_CAP_PART_GRADS))
    params_init(&o->params, policy, ref, (o->caps & LETHE_CAP_PARAMS) != 0);
  if (o->caps & LETHE_CAP_PART_GRADS) parts_init(o);
  return 0;
}

void objective_use_logits(llama_model *m, int whole) {
  const char *force = getenv("LETHE_LOGITS");
  if (force && !strcmp(force, "whole")) whole = 1;
  llama_set_logits(m, whole ? LLAMA_LOGITS_WHOLE : LLAMA_LOGITS_CHUNKED, 0);
}

/* The per-batch buffers reserve() sizes. */
static void free_buffers(objective *o) {
  free(o->logp);
  free(o->ref_logp);
  free(o->mask);
  free(o->dlogp);
  free(o->dlogits);
  free(o->logits_all);
  free(o->ref_logits_all);
  free(o->hidden_all);
  free(o->ref_hidden_all);
  free(o->dhidden);
  free(o->no_ids);
}

void objective_free(objective *o) {
  free_buffers(o);
  parts_free(o);
  params_free(&o->params);
  memset(o, 0, sizeof *o);
}

static void reserve(objective *o, int B, int T) {
  if (B <= o->B_cap && T <= o->T_cap) return;
  size_t n = (size_t)B * T, V = (size_t)o->policy->cfg.vocab_size;
  free_buffers(o);
  o->logp = lethe_alloc_aligned(n * sizeof(float));
  o->ref_logp = lethe_alloc_aligned(n * sizeof(float));
  o->mask = lethe_alloc_aligned(n * sizeof(float));
  o->dlogp = lethe_alloc_aligned(n * sizeof(float));
  o->dlogits = (o->caps & LETHE_CAP_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  int gather = dist_size() > 1; /* one rank's logits are its shard: gather the whole batch */
  o->logits_all = gather && (o->caps & LETHE_CAP_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  o->ref_logits_all =
      gather && (o->caps & LETHE_CAP_REF_LOGITS) ? lethe_alloc_aligned(n * V * sizeof(float)) : NULL;
  size_t nc = n * (size_t)o->policy->cfg.hidden_size * sizeof(float);
  int hidden = (o->caps & LETHE_CAP_HIDDEN) != 0, ref_hidden = (o->caps & LETHE_CAP_REF_HIDDEN) != 0;
  o->hidden_all = gather && hidden ? lethe_alloc_aligned(nc) : NULL;
  o->ref_hidden_all = gather && ref_hidden ? lethe_alloc_aligned(nc) : NULL;
  o->dhidden = hidden ? lethe_alloc_aligned(nc) : NULL;
  o->no_ids = lethe_malloc((size_t)B * sizeof(int64_t));
  for (int b = 0; b < B; b++) o->no_ids[b] = -1;
  o->B_cap = B;
  o->T_cap = T;
}

int objective_target_logp(llama_model *model, const token_batch *batch, float *out, lethe_err *err) {
  long first, count;
  dist_share(batch->B, 0, &first, &count);
  size_t at = (size_t)first * batch->T;
  int rc = 0;
  if (count > 0) {
    rc = llama_forward(model, batch->input_ids + at, batch->attn_mask + at, (int)count, batch->T, err);
    if (rc == 0) llama_target_logp(model, batch->targets + at, out + at);
  }
  if (dist_status(rc, err) != 0) return -1; /* every rank gathers, or none */
  dist_allgather_shares(out, sizeof(float) * (size_t)batch->T, batch->B, 0);
  return 0;
}

void objective_backward(llama_model *model, const token_batch *batch, const float *dlogp,
                        const float *dlogits) {
  long first, count;
  dist_share(batch->B, 0, &first, &count);
  if (count == 0) return;
  size_t at = (size_t)first * batch->T;
  llama_dlogits_from_dlogp(model, batch->targets + at, dlogp + at,
                           dlogits ? dlogits + at * (size_t)model->cfg.vocab_size : NULL);
  llama_backward(model);
}

/* The whole batch's rows of `row` floats each (B rows: logits (T·V) or
 * hidden states (T·C)) from this rank's `mine`: mine itself when one process
 * ran all rows, else every rank's shard gathered into all. */
static const float *batch_rows(const float *mine, float *all, int B, size_t row) {
  if (!all) return mine;
  long first, count;
  dist_share(B, 0, &first, &count);
  if (count > 0) memcpy(all + (size_t)first * row, mine, sizeof(float) * row * (size_t)count);
  dist_allgather_shares(all, sizeof(float) * row, B, 0);
  return all;
}

/* The whole batch's logits (B,T,V) after objective_target_logp on m. */
static const float *batch_logits(const llama_model *m, float *all, int B, int T) {
  return batch_rows(m->acts.logits, all, B, (size_t)T * m->cfg.vocab_size);
}

/* The whole batch's hidden states (B,T,C) after the method's layer. */
static const float *batch_hidden(const objective *o, const llama_model *m, float *all, int B, int T) {
  return batch_rows(llama_hidden(m, o->hidden_layer), all, B, (size_t)T * m->cfg.hidden_size);
}

/* This rank's backward of batch (after its forward) from the whole batch's
 * dL/dlogp (B,T), dL/dlogits (B,T,V or NULL) and dL/dhidden at the method's
 * layer (B,T,C or NULL); without a gradient on the logits, from that layer. */
static void backward_rows(objective *o, const token_batch *batch, const float *dlogp,
                          const float *dlogits, const float *dhidden) {
  if (!dhidden) {
    objective_backward(o->policy, batch, dlogp, dlogits);
    return;
  }
  long first, count;
  dist_share(batch->B, 0, &first, &count);
  if (count == 0) return;
  size_t at = (size_t)first * batch->T, n = (size_t)count * batch->T;
  int head = dlogits != NULL;
  for (size_t i = 0; !head && i < n; i++) head = dlogp[at + i] != 0.0f;
  llama_model *m = o->policy;
  if (head)
    llama_dlogits_from_dlogp(m, batch->targets + at, dlogp + at,
                             dlogits ? dlogits + at * (size_t)m->cfg.vocab_size : NULL);
  llama_backward_hidden(m, o->hidden_layer, dhidden + at * (size_t)m->cfg.hidden_size, head);
}

/* ---- the forget and retain parts' gradients (method ABI 1.3) ----------------
 * LETHE_CAP_PART_GRADS: after the plugin's call on the whole batch, each
 * non-empty segment's rows run forward and backward on their own, from the
 * plugin's dL/dlogp (dL/dlogits, dL/dhidden) of those rows: the forget and
 * idk segments give the forget part, the retain segment the retain part. A
 * backward consumes its forward's activations (the head turns the logits
 * into their gradient), so each part needs a forward of its own; by
 * segment, that is one forward over the batch more than a plain step, and
 * no activation memory more. Memory: three buffers of the trainable floats
 * (the accumulated gradients, the forget part, the combined update); the
 * retain part stays in the model's gradients. */
static void parts_init(objective *o) {
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

static void parts_free(objective *o) {
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
  backward_rows(o, &rows, o->dlogp + at, o->dlogits ? o->dlogits + at * V : NULL,
                o->dhidden ? o->dhidden + at * C : NULL);
  return 0;
}

static int part_grads(objective *o, const token_batch *batch, const lethe_segment *seg,
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

/* Scales this rank's rows of a (B,T,width) buffer. */
static void scale_rows(float *x, int B, int T, size_t width, float s) {
  long first, count;
  dist_share(B, 0, &first, &count);
  for (size_t i = (size_t)first * T * width; i < (size_t)(first + count) * T * width; i++) x[i] *= s;
}

int objective_step(objective *o, const token_batch *batch, const lethe_segment *seg,
                   const float *ref_logp_cache, int64_t step, int64_t total_steps,
                   double grad_scale, double *loss, lethe_err *err) {
  int B = batch->B, T = batch->T, V = o->policy->cfg.vocab_size;
  size_t n = (size_t)B * T;
  reserve(o, B, T);
  pick_logits(o);
  int need_ref_logp = (o->caps & LETHE_CAP_REF_LOGP) != 0;
  int need_ref_logits = (o->caps & LETHE_CAP_REF_LOGITS) != 0;
  int need_ref_hidden = (o->caps & LETHE_CAP_REF_HIDDEN) != 0;
  const float *ref_logp = need_ref_logp ? ref_logp_cache : NULL, *ref_logits = NULL;
  const float *ref_hidden = NULL;
  if ((need_ref_logp && !ref_logp_cache) || need_ref_logits || need_ref_hidden) {
    if (!o->ref)
      return lethe_errf(err, LETHE_E_USAGE, "method %s needs a reference: none given",
                        o->method->plugin->desc->name);
    if (objective_target_logp(o->ref, batch, o->ref_logp, err) != 0) return -1;
    if (need_ref_logp && !ref_logp_cache) ref_logp = o->ref_logp;
    /* the reference's activations stay in o->ref->acts until its next forward */
    if (need_ref_logits) ref_logits = batch_logits(o->ref, o->ref_logits_all, B, T);
    if (need_ref_hidden) ref_hidden = batch_hidden(o, o->ref, o->ref_hidden_all, B, T);
  }
  if (objective_target_logp(o->policy, batch, o->logp, err) != 0) return -1;
  for (size_t i = 0; i < n; i++) o->mask[i] = batch->targets[i] >= 0 ? 1.0f : 0.0f;
  memset(o->dlogp, 0, n * sizeof(float));
  if (o->dlogits) memset(o->dlogits, 0, n * V * sizeof(float));
  size_t C = (size_t)o->policy->cfg.hidden_size;
  if (o->dhidden) memset(o->dhidden, 0, n * C * sizeof(float));
  if (o->params.grads) memset(o->params.grads, 0, o->policy->n_trainable * sizeof(float));

  /* every rank calls the plugin on the whole batch (its math is O(B·T)) */
  lethe_method_batch view = {0};
  view.struct_size = sizeof view;
  view.B = B, view.T = T, view.V = V;
  memcpy(view.seg, seg, sizeof view.seg);
  view.target = batch->targets;
  view.mask = o->mask;
  view.attn = batch->attn_mask;
  view.logp = o->logp;
  view.ref_logp = ref_logp;
  view.logits = (o->caps & LETHE_CAP_LOGITS) ? batch_logits(o->policy, o->logits_all, B, T) : NULL;
  view.ref_logits = ref_logits;
  view.step = step;
  view.total_steps = total_steps;
  if (o->caps & LETHE_CAP_EXAMPLE_IDS) view.example_id = o->example_id ? o->example_id : o->no_ids;
  view.C = (o->caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) ? (int32_t)C : 0;
  view.hidden_layer = o->hidden_layer;
  if (o->dhidden) view.hidden = batch_hidden(o, o->policy, o->hidden_all, B, T);
  view.ref_hidden = ref_hidden;
  int with_params = (o->caps & LETHE_CAP_PARAMS) != 0;
  view.params = with_params ? o->params.views : NULL;
  view.n_params = with_params ? o->params.n : 0;
  lethe_method_grad out = {sizeof out, 0.0, o->dlogp, o->dlogits, o->dhidden,
                           with_params ? o->params.dparams : NULL};
  if (method_instance_step(o->method, &view, &out, err) != 0) return -1;
  o->last_loss = out.loss;
  if (loss) *loss = out.loss;

  if (o->caps & LETHE_CAP_PART_GRADS) { /* each part on its own, combined by the plugin */
    if (part_grads(o, batch, seg, step, total_steps, grad_scale, err) != 0) return -1;
  } else if (grad_scale != 1.0) { /* this rank's rows are the only ones it backpropagates */
    float s = (float)grad_scale;
    scale_rows(o->dlogp, B, T, 1, s);
    if (o->dlogits) scale_rows(o->dlogits, B, T, V, s);
    if (o->dhidden) scale_rows(o->dhidden, B, T, C, s);
  }
  if (o->params.grads && dist_is_root()) /* the ranks' gradients are summed: add it once */
    for (size_t i = 0; i < o->policy->n_trainable; i++)
      o->policy->grads_memory[i] += (float)grad_scale * o->params.grads[i];
  if (!(o->caps & LETHE_CAP_PART_GRADS))
    backward_rows(o, batch, o->dlogp, o->dlogits, o->dhidden);
  return 0;
}
