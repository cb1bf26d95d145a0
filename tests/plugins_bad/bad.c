/* bad — deliberately broken method plugins for the loader's refusal tests and
 * for showing that the gradient check can fail. One source, one variant per
 * target, chosen by -DBAD_<KIND>: each breaks exactly one rule of
 * lethe/method.h (or, for BAD_DUP / BAD_WRONG_GRAD / BAD_NAN_*, is a
 * valid plugin that misbehaves at a later stage; BAD_OLD_SIZE is a valid
 * plugin built before the descriptor had a title and a colour; BAD_IDS a
 * valid one that reports each row's example id as the metric "example_id";
 * BAD_NO_RESOLVE asks for hidden states without naming a layer,
 * BAD_RESOLVE_EXTRA resolves to a capability it does not declare;
 * BAD_STOPGRAD is a valid stop-gradient method that declares its objective,
 * BAD_STOPGRAD_BARE the same without: the checker must pass the first and
 * fail the second; BAD_NO_COMBINE asks for the forget and retain gradients
 * without a combine(), BAD_COMBINE_NAN has one that writes a NaN). */
#include <math.h>
#include <stddef.h>

#include "lethe/method.h"

typedef struct bad_params {
  double scale;
} bad_params;

static const lethe_param bad_param_table[] = {
#ifdef BAD_PARAM_RANGE
    {"scale", LETHE_PARAM_DOUBLE, offsetof(bad_params, scale), 5.0, 0.0, 1.0,
     "default out of range", 0},
#else
    {"scale", LETHE_PARAM_DOUBLE, offsetof(bad_params, scale), 1.0, 0.0, 10.0, "loss scale", 0},
#endif
};

static int bad_create(const void *params, const lethe_host_api *host, void **state,
                      lethe_method_error *err) {
  (void)params;
  (void)err;
  *state = (void *)host; /* stateless but for the services (BAD_IDS) */
  return 0;
}

#ifdef BAD_RESOLVE_EXTRA
static int bad_resolve(const void *params, lethe_method_needs *needs, lethe_method_error *err) {
  (void)params, (void)err;
  needs->caps |= LETHE_CAP_PARAMS;
  return 0;
}
#endif

#ifdef BAD_UNDEFINED
double bad_symbol_nobody_defines(double);
#endif

#if defined(BAD_STOPGRAD) || defined(BAD_STOPGRAD_BARE)
/* Weighted ascent with stop-gradient weights: L = (1/N) Σ_i w_r(i)·m_i·logp_i
 * over the forget tokens, w_r = σ(row r's mean logp) held constant: dL/dlogp_i
 * = w·m_i/N, which is not the derivative of L itself. The weights come from
 * `base`, the values from `at`. */
static double weighted(const lethe_method_batch *at, const lethe_method_batch *base, float *dlogp) {
  double sum = 0.0, count = 0.0;
  lethe_segment f = at->seg[LETHE_SEG_FORGET];
  for (size_t i = (size_t)f.row0 * at->T; i < (size_t)(f.row0 + f.nrows) * at->T; i++)
    count += at->mask[i];
  for (int r = f.row0; r < f.row0 + f.nrows; r++) {
    double s = 0.0, n = 0.0;
    for (int t = 0; t < at->T; t++) {
      s += (double)base->mask[r * at->T + t] * base->logp[r * at->T + t];
      n += base->mask[r * at->T + t];
    }
    double w = n > 0 ? 1.0 / (1.0 + exp(-s / n)) : 0.0;
    for (int t = 0; t < at->T; t++) {
      size_t i = (size_t)r * at->T + t;
      sum += w * at->mask[i] * at->logp[i] / count;
      if (dlogp) dlogp[i] += (float)(w * at->mask[i] / count);
    }
  }
  return sum;
}

static int bad_stopgrad_loss(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  (void)state, (void)err;
  out->loss = weighted(b, b, out->dlogp);
  return 0;
}
#endif
#ifdef BAD_STOPGRAD
static int bad_objective(const void *state, const lethe_method_batch *at,
                         const lethe_method_batch *base, double *value, lethe_method_error *err) {
  (void)state, (void)err;
  *value = weighted(at, base, NULL);
  return 0;
}
#endif

#ifdef BAD_COMBINE_NAN
/* The forget gradient, with a NaN at the second float of the first tensor. */
static int bad_combine(void *state, const lethe_method_parts *parts, lethe_method_error *err) {
  (void)state;
  (void)err;
  for (int32_t i = 0; i < parts->n_params; i++)
    for (int64_t k = 0; k < parts->params[i].numel; k++)
      parts->out[i][k] = i == 0 && k == 1 ? NAN : parts->forget_grad[i][k];
  return 0;
}
#endif

/* −token-mean of forget logp (GA); BAD_WRONG_GRAD reports 1.5× its gradient. */
__attribute__((unused)) /* unused in the BAD_NULL_CALLBACK variant */
static int bad_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  double sum = 0.0, count = 0.0;
#ifdef BAD_IDS
  const lethe_host_api *host = state;
  for (int r = 0; r < b->B; r++) host->metric(host->ctx, "example_id", (double)b->example_id[r]);
#else
  (void)state;
#endif
  size_t lo = (size_t)b->seg[LETHE_SEG_FORGET].row0 * b->T;
  size_t hi = lo + (size_t)b->seg[LETHE_SEG_FORGET].nrows * b->T;
  for (size_t i = lo; i < hi; i++) {
    sum += (double)b->mask[i] * b->logp[i];
    count += b->mask[i];
  }
  if (!(count > 0)) return lethe_method_fail(err, "no forget tokens");
  double grad_scale = 1.0;
#ifdef BAD_WRONG_GRAD
  grad_scale = 1.5;
#endif
  for (size_t i = lo; i < hi; i++) out->dlogp[i] += (float)(grad_scale * b->mask[i] / count);
  out->loss = sum / count;
#ifdef BAD_NAN_LOSS
  out->loss = NAN;
#endif
#ifdef BAD_NAN_GRAD
  out->dlogp[lo + 1] = INFINITY;
#endif
#ifdef BAD_UNDEFINED
  out->loss = bad_symbol_nobody_defines(out->loss);
#endif
  return 0;
}

static void bad_destroy(void *state) { (void)state; }

static const lethe_method_desc bad_desc = {
#ifdef BAD_ABI
    .abi_major = LETHE_METHOD_ABI_MAJOR + 98,
#else
    .abi_major = LETHE_METHOD_ABI_MAJOR,
#endif
#ifdef BAD_OLD_SIZE /* built before title and colour: the host must not read them */
    .struct_size = offsetof(lethe_method_desc, title),
#else
    .struct_size = sizeof(lethe_method_desc),
#endif
#ifdef BAD_DUP
    .name = "ga",
#else
    .name = BAD_NAME,
#endif
    .version = "0.0.1",
    .summary = "a deliberately broken plugin (tests only)",
#ifdef BAD_CAPS
    .caps = LETHE_CAP_RETAIN | (1u << 12),
#elif defined(BAD_NO_COMBINE) || defined(BAD_COMBINE_NAN)
    .caps = LETHE_CAP_PART_GRADS,
#elif defined(BAD_IDS)
    .caps = LETHE_CAP_EXAMPLE_IDS,
#elif defined(BAD_NO_RESOLVE)
    .caps = LETHE_CAP_HIDDEN,
#else
    .caps = 0,
#endif
    .params = bad_param_table,
    .n_params = 1,
    .params_size = sizeof(bad_params),
    .create = bad_create,
#ifdef BAD_NULL_CALLBACK
    .loss_and_grad = NULL,
#elif defined(BAD_STOPGRAD) || defined(BAD_STOPGRAD_BARE)
    .loss_and_grad = bad_stopgrad_loss,
#else
    .loss_and_grad = bad_loss_and_grad,
#endif
    .destroy = bad_destroy,
#if defined(BAD_COLOUR) || defined(BAD_OLD_SIZE)
    .colour = "red",
#endif
#ifdef BAD_TITLE
    .title = "a title longer than thirty-one bytes",
#endif
#ifdef BAD_RESOLVE_EXTRA
    .resolve = bad_resolve,
#endif
#ifdef BAD_STOPGRAD
    .objective = bad_objective,
#endif
#ifdef BAD_COMBINE_NAN
    .combine = bad_combine,
#endif
};

#ifdef BAD_NOSYM
LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry_misspelt(void) { return &bad_desc; }
#else
LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &bad_desc; }
#endif
