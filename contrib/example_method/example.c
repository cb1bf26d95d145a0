/* example — a complete lethe method plugin in one file, built outside the
 * lethe tree with nothing but the SDK header:
 *
 *   cc -std=c11 -O2 -fPIC -shared -fvisibility=hidden -Wl,--no-undefined \
 *      $(pkg-config --cflags lethe) -o lethe_example.so example.c $(pkg-config --libs lethe)
 *
 * The method: gradient ascent on the forget answers whose weight fades out
 * linearly over the run, plus a retain NLL anchor:
 *
 *   w(s) = 1 − fade · s / total_steps
 *   L = −w(s) · NLL_mean(forget) + retain_coeff · NLL_mean(retain)
 *
 * NLL_mean is one token mean over a segment's counted answer tokens. The host
 * passes per-token log-probs of the targets; we return L and dL/dlogp. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include <lethe/method.h>

typedef struct example_params {
  double fade;         /* how much of the ascent weight is gone by the last step */
  double retain_coeff; /* weight of the retain NLL */
} example_params;

static const lethe_param example_param_table[] = {
    {"fade", LETHE_PARAM_DOUBLE, offsetof(example_params, fade), 0.5, 0.0, 1.0,
     "fraction of the ascent weight removed by the end of the run", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(example_params, retain_coeff), 1.0, 0.0, INFINITY,
     "weight of NLL_mean(retain)", 0},
};

typedef struct example_state {
  example_params params;       /* our own copy: the host's buffer lives only during create */
  const lethe_host_api *host;  /* valid until destroy */
} example_state;

static int example_create(const void *params, const lethe_host_api *host, void **state,
                          lethe_method_error *err) {
  example_state *st = calloc(1, sizeof *st);
  if (!st) return lethe_method_fail(err, "out of memory");
  st->params = *(const example_params *)params;
  st->host = host;
  *state = st;
  return 0;
}

static void example_destroy(void *state) { free(state); }

/* NLL_mean of one segment; adds coeff · dNLL_mean/dlogp into dlogp. */
static int segment_nll(const lethe_method_batch *b, int seg, double coeff, float *dlogp,
                       double *nll, lethe_method_error *err) {
  size_t lo = (size_t)b->seg[seg].row0 * b->T, hi = lo + (size_t)b->seg[seg].nrows * b->T;
  double sum = 0.0, count = 0.0;
  for (size_t i = lo; i < hi; i++) {
    sum += (double)b->mask[i] * b->logp[i];
    count += b->mask[i];
  }
  if (!(count > 0)) return lethe_method_fail(err, "segment %d has no answer tokens", seg);
  *nll = -sum / count;
  for (size_t i = lo; i < hi; i++) dlogp[i] += (float)(-coeff * b->mask[i] / count);
  return 0;
}

static int example_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                                 lethe_method_error *err) {
  example_state *st = state;
  double progress = b->total_steps > 0 ? (double)b->step / (double)b->total_steps : 0.0;
  double w = 1.0 - st->params.fade * progress, forget_nll, retain_nll;
  if (segment_nll(b, LETHE_SEG_FORGET, -w, out->dlogp, &forget_nll, err) ||
      segment_nll(b, LETHE_SEG_RETAIN, st->params.retain_coeff, out->dlogp, &retain_nll, err))
    return -1;
  out->loss = -w * forget_nll + st->params.retain_coeff * retain_nll;
  if (st->host && st->host->metric) st->host->metric(st->host->ctx, "ascent_weight", w);
  return 0;
}

static const lethe_method_desc example_desc = {
    .abi_major = LETHE_METHOD_ABI_MAJOR,
    .struct_size = sizeof(lethe_method_desc),
    .name = "example",
    .version = "0.1.0",
    .summary = "fading gradient ascent + retain NLL (the SDK example)",
    .caps = LETHE_CAP_RETAIN,
    .params = example_param_table,
    .n_params = sizeof example_param_table / sizeof example_param_table[0],
    .params_size = sizeof(example_params),
    .create = example_create,
    .loss_and_grad = example_loss_and_grad,
    .destroy = example_destroy,
    .title = "Example",
    .colour = "#44aa99",
};

LETHE_METHOD_EXPORT const lethe_method_desc *lethe_method_entry(void) { return &example_desc; }
