/* method_check — a plugin checked without a model (see method_check.h). */
#include "method/method_check.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static float target_logp(const float *z, int target) {
  double m = z[0], s = 0.0;
  for (int v = 1; v < CHECK_V; v++) m = z[v] > m ? z[v] : m;
  for (int v = 0; v < CHECK_V; v++) s += exp(z[v] - m);
  return (float)(z[target] - m - log(s));
}

/* b and g as views of cb's own arrays. */
static void point(method_check_batch *cb) {
  cb->params[0] = (lethe_param_tensor){"model.layers.0.mlp.down_proj.weight", 2, {3, 4},
                                       CHECK_P0, cb->value, cb->ref_value};
  cb->params[1] = (lethe_param_tensor){"model.norm.weight", 1, {CHECK_P1, 1}, CHECK_P1,
                                       cb->value + CHECK_P0, cb->ref_value + CHECK_P0};
  cb->dparams[0] = cb->dvalue;
  cb->dparams[1] = cb->dvalue + CHECK_P0;
  cb->b = (lethe_method_batch){
      .struct_size = sizeof(lethe_method_batch), .B = CHECK_B, .T = CHECK_T, .V = CHECK_V,
      .seg = {{0, CHECK_FORGET}, {CHECK_FORGET, CHECK_RETAIN}, {CHECK_FORGET + CHECK_RETAIN, CHECK_IDK}},
      .target = cb->target, .mask = cb->mask, .attn = cb->attn, .logp = cb->logp,
      .ref_logp = cb->ref_logp, .logits = cb->logits, .ref_logits = cb->ref_logits, .step = 3,
      .total_steps = 10, .example_id = cb->example_id, .C = CHECK_C, .hidden = cb->hidden,
      .ref_hidden = cb->ref_hidden, .params = cb->params, .n_params = 2};
  cb->g = (lethe_method_grad){.struct_size = sizeof(lethe_method_grad), .dlogp = cb->dlogp,
                              .dlogits = cb->dlogits, .dhidden = cb->dhidden,
                              .dparams = cb->dparams};
}

method_check_batch *method_check_batch_new(uint64_t seed) {
  method_check_batch *cb = lethe_calloc(1, sizeof *cb);
  lethe_rng rng;
  lethe_rng_seed(&rng, seed);
  for (int r = 0; r < CHECK_B; r++) {
    int len = 3 + (int)lethe_rng_below(&rng, CHECK_T - 2), q = 1 + (int)lethe_rng_below(&rng, 2);
    for (int t = 0; t < CHECK_T; t++) {
      int i = r * CHECK_T + t;
      cb->attn[i] = t < len;
      cb->target[i] = t < len - 1 ? (int32_t)lethe_rng_below(&rng, CHECK_V) : -1;
      cb->mask[i] = (t >= q - 1 && t <= len - 2) ? 1.0f : 0.0f;
      for (int v = 0; v < CHECK_V; v++) {
        cb->logits[i * CHECK_V + v] = (float)(1.5 * lethe_rng_normal(&rng));
        cb->ref_logits[i * CHECK_V + v] =
            cb->logits[i * CHECK_V + v] + (float)(0.4 * lethe_rng_normal(&rng));
      }
      if (cb->target[i] >= 0) {
        cb->logp[i] = target_logp(cb->logits + i * CHECK_V, cb->target[i]);
        cb->ref_logp[i] = target_logp(cb->ref_logits + i * CHECK_V, cb->target[i]);
      }
    }
    cb->example_id[r] = 100 + r;
  }
  for (int i = 0; i < CHECK_B * CHECK_T * CHECK_C; i++) {
    cb->hidden[i] = (float)lethe_rng_normal(&rng);
    cb->ref_hidden[i] = cb->hidden[i] + (float)(0.3 * lethe_rng_normal(&rng));
  }
  for (int i = 0; i < CHECK_P; i++) {
    cb->value[i] = (float)(0.5 * lethe_rng_normal(&rng));
    cb->ref_value[i] = cb->value[i] + (float)(0.2 * lethe_rng_normal(&rng));
  }
  point(cb);
  return cb;
}

void method_check_batch_copy(method_check_batch *dst, const method_check_batch *src) {
  memcpy(dst, src, sizeof *dst);
  point(dst);
  dst->b.step = src->b.step;
  dst->b.hidden_layer = src->b.hidden_layer;
}

int method_check_step(method_instance *mi, method_check_batch *cb, double *loss, lethe_err *err) {
  memset(cb->dlogp, 0, sizeof cb->dlogp);
  memset(cb->dlogits, 0, sizeof cb->dlogits);
  memset(cb->dhidden, 0, sizeof cb->dhidden);
  memset(cb->dvalue, 0, sizeof cb->dvalue);
  cb->b.hidden_layer = mi->needs.hidden_layer;
  if (method_instance_step(mi, &cb->b, &cb->g, err) != 0) return -1;
  *loss = cb->g.loss;
  return 0;
}

/* The declared scalar at `at` (stop-gradient parts at `base`). */
static int objective_at(method_instance *mi, method_check_batch *at, const method_check_batch *base,
                        double *value, lethe_err *err) {
  const lethe_method_desc *d = mi->plugin->desc;
  if (!LETHE_HAS_FIELD(d, lethe_method_desc, objective) || !d->objective)
    return method_check_step(mi, at, value, err);
  lethe_method_error perr = {0, ""};
  at->b.hidden_layer = mi->needs.hidden_layer;
  if (d->objective(mi->state, &at->b, &base->b, value, &perr))
    return lethe_errf(err, LETHE_E_PLUGIN, "method '%s': objective failed: %s", d->name,
                      perr.msg[0] ? perr.msg : "no message");
  if (!isfinite(*value))
    return lethe_errf(err, LETHE_E_NUMERIC, "method '%s': objective is %g", d->name, *value);
  return 0;
}

int method_check_fd(method_instance *mi, method_check_batch *cb, float *x, const float *analytic,
                    size_t n, char *report, size_t report_n, lethe_err *err) {
  const double h = 1e-3, atol = 1e-7, rtol = 1e-4;
  double loss;
  if (method_check_step(mi, cb, &loss, err) != 0) return -1;
  float *grad = lethe_malloc(n * sizeof *grad);
  memcpy(grad, analytic, n * sizeof *grad);
  method_check_batch *at = lethe_malloc(sizeof *at);
  method_check_batch_copy(at, cb);
  float *xa = (float *)((char *)at + ((char *)x - (char *)cb)); /* x's array in the copy */
  int bad = 0;
  double worst = 0.0;
  snprintf(report, report_n, "all %zu entries match", n);
  for (size_t i = 0; i < n && bad >= 0; i++) {
    float x0 = xa[i], xp = (float)(x0 + h), xm = (float)(x0 - h);
    double vp, vm;
    xa[i] = xp;
    int rc = objective_at(mi, at, cb, &vp, err);
    xa[i] = xm;
    if (rc == 0) rc = objective_at(mi, at, cb, &vm, err);
    xa[i] = x0;
    if (rc != 0) {
      bad = -1;
      break;
    }
    double numeric = (vp - vm) / ((double)xp - (double)xm);
    double diff = fabs(numeric - grad[i]), allowed = atol + rtol * fabs(numeric);
    if (!(diff <= allowed)) {
      bad++;
      if (diff / allowed > worst || isnan(diff)) {
        worst = diff / allowed;
        snprintf(report, report_n, "%d mismatches; worst at %zu: analytic %.9g numeric %.9g", bad,
                 i, grad[i], numeric);
      }
    }
  }
  free(at);
  free(grad);
  return bad;
}

/* ---- the checks -------------------------------------------------------------------- */
typedef struct checker {
  const method_plugin *p;
  const void *params;
  uint64_t seed;
  int logits_masked, failed, run;
  FILE *out;
} checker;

static void verdict(checker *c, const char *what, int ok, const char *detail) {
  fprintf(c->out, "%-4s  %s%s%s\n", ok ? "ok" : "FAIL", what, detail && *detail ? ": " : "",
          detail ? detail : "");
  c->failed += !ok;
  c->run++;
}

/* One gradient against finite differences, on a fresh batch. */
static void check_gradient(checker *c, method_instance *mi, const char *what, size_t at_x,
                           size_t at_grad, size_t n) {
  method_check_batch *cb = method_check_batch_new(c->seed);
  char report[256];
  lethe_err err = {0};
  int bad = method_check_fd(mi, cb, (float *)((char *)cb + at_x), (float *)((char *)cb + at_grad), n,
                            report, sizeof report, &err);
  verdict(c, what, bad == 0, bad < 0 ? err.msg : report);
  free(cb);
}

/* The outputs of a and b have the same bits. */
static int same_outputs(const method_check_batch *a, const method_check_batch *b) {
  return !memcmp(&a->g.loss, &b->g.loss, sizeof a->g.loss) &&
         !memcmp(a->dlogp, b->dlogp, sizeof a->dlogp) &&
         !memcmp(a->dlogits, b->dlogits, sizeof a->dlogits) &&
         !memcmp(a->dhidden, b->dhidden, sizeof a->dhidden) &&
         !memcmp(a->dvalue, b->dvalue, sizeof a->dvalue);
}

/* Same inputs, same bits; a second instance agrees with the first. */
static void check_determinism(checker *c, method_instance *mi) {
  method_check_batch *x = method_check_batch_new(c->seed + 1), *y = method_check_batch_new(c->seed + 1);
  method_instance twin;
  lethe_err err = {0};
  double l;
  int rc = method_check_step(mi, x, &l, &err);
  if (rc == 0) rc = method_check_step(mi, y, &l, &err);
  int same = rc == 0 && same_outputs(x, y);
  if (rc == 0 && method_instance_create(&twin, c->p, c->params, NULL, &err) == 0) {
    rc = method_check_step(&twin, y, &l, &err);
    same = same && rc == 0 && same_outputs(x, y);
    method_instance_destroy(&twin);
  } else {
    rc = -1;
  }
  verdict(c, "determinism (twice, and a second instance)", rc == 0 && same,
          rc ? err.msg : same ? "" : "the outputs differ");
  free(x);
  free(y);
}

/* Log-probs (and, with logits_masked, logits) at mask-0 positions change
 * nothing and get no gradient. */
static void check_zero_mask(checker *c, method_instance *mi) {
  method_check_batch *x = method_check_batch_new(c->seed + 2), *y = method_check_batch_new(c->seed + 2);
  lethe_rng rng;
  lethe_rng_seed(&rng, c->seed + 3);
  for (int i = 0; i < CHECK_B * CHECK_T; i++) {
    if (x->mask[i] != 0.0f) continue;
    y->logp[i] = (float)(-10.0 * lethe_rng_uniform(&rng));
    y->ref_logp[i] = (float)(-10.0 * lethe_rng_uniform(&rng));
    for (int v = 0; c->logits_masked && v < CHECK_V; v++) {
      y->logits[i * CHECK_V + v] += (float)lethe_rng_normal(&rng);
      y->ref_logits[i * CHECK_V + v] += (float)lethe_rng_normal(&rng);
    }
  }
  lethe_err err = {0};
  double l;
  int rc = method_check_step(mi, x, &l, &err);
  if (rc == 0) rc = method_check_step(mi, y, &l, &err);
  const char *why = rc ? err.msg : "";
  if (!rc && (memcmp(&x->g.loss, &y->g.loss, sizeof l) || memcmp(x->dlogp, y->dlogp, sizeof x->dlogp)))
    why = "the loss or dL/dlogp moved with inputs at mask-0 positions";
  for (int i = 0; !rc && !*why && i < CHECK_B * CHECK_T; i++)
    if (x->mask[i] == 0.0f && x->dlogp[i] != 0.0f) why = "dL/dlogp is not 0 at a mask-0 position";
  if (!rc && !*why && c->logits_masked && memcmp(x->dlogits, y->dlogits, sizeof x->dlogits))
    why = "dL/dlogits moved with logits at mask-0 positions";
  verdict(c, "mask-0 positions change nothing", !*why, why);
  free(x);
  free(y);
}

/* combine() (ABI 1.3) of the check batch's two parameter tensors with
 * random forget and retain gradients into out (CHECK_P floats). */
static int combine_random(method_instance *mi, uint64_t seed, float *out, lethe_err *err) {
  method_check_batch *cb = method_check_batch_new(seed);
  float forget[CHECK_P], retain[CHECK_P];
  lethe_rng rng;
  lethe_rng_seed(&rng, seed + 7);
  for (int i = 0; i < CHECK_P; i++) {
    forget[i] = (float)lethe_rng_normal(&rng);
    retain[i] = (float)lethe_rng_normal(&rng);
  }
  memset(out, 0, CHECK_P * sizeof *out);
  const float *fv[2] = {forget, forget + CHECK_P0}, *rv[2] = {retain, retain + CHECK_P0};
  float *ov[2] = {out, out + CHECK_P0};
  lethe_method_parts parts = {sizeof parts, 2, cb->params, fv, rv, ov, 0, 1, NULL};
  int rc = method_instance_combine(mi, &parts, err);
  free(cb);
  return rc;
}

/* combine() runs, its output is finite, and the same gradients give the
 * same bits (twice, and a second instance). */
static void check_combine(checker *c, method_instance *mi) {
  float x[CHECK_P], y[CHECK_P], z[CHECK_P];
  method_instance twin;
  lethe_err err = {0};
  int rc = combine_random(mi, c->seed + 4, x, &err);
  if (rc == 0) rc = combine_random(mi, c->seed + 4, y, &err);
  if (rc == 0 && (rc = method_instance_create(&twin, c->p, c->params, NULL, &err)) == 0) {
    rc = combine_random(&twin, c->seed + 4, z, &err);
    method_instance_destroy(&twin);
  }
  int same = rc == 0 && !memcmp(x, y, sizeof x) && !memcmp(x, z, sizeof x);
  verdict(c, "combine() finite and deterministic (twice, and a second instance)", same,
          rc ? err.msg : same ? "" : "the combined gradients differ");
}

int method_check_all(const method_plugin *p, const void *params, uint64_t seed, int logits_masked,
                     FILE *out, lethe_err *err) {
  method_instance mi;
  if (method_instance_create(&mi, p, params, NULL, err) != 0) return -1;
  checker c = {p, params, seed, logits_masked, 0, 0, out};
  uint32_t caps = mi.needs.caps;
  char needs[256];
  fprintf(out, "method %s %s (%s), needs %s\n", p->desc->name, p->desc->version, p->path,
          method_caps_string(caps, needs, sizeof needs));
  if (LETHE_HAS_FIELD(p->desc, lethe_method_desc, objective) && p->desc->objective)
    fprintf(out, "      (finite differences of its declared objective, not of its loss)\n");
#define AT(field) offsetof(method_check_batch, field)
  check_gradient(&c, &mi, "dL/dlogp against finite differences", AT(logp), AT(dlogp),
                 CHECK_B * CHECK_T);
  if (caps & LETHE_CAP_LOGITS)
    check_gradient(&c, &mi, "dL/dlogits against finite differences", AT(logits), AT(dlogits),
                   CHECK_B * CHECK_T * CHECK_V);
  if (caps & LETHE_CAP_HIDDEN)
    check_gradient(&c, &mi, "dL/dhidden against finite differences", AT(hidden), AT(dhidden),
                   CHECK_B * CHECK_T * CHECK_C);
  if (caps & LETHE_CAP_PARAMS)
    check_gradient(&c, &mi, "dL/dθ against finite differences", AT(value), AT(dvalue), CHECK_P);
#undef AT
  check_determinism(&c, &mi);
  check_zero_mask(&c, &mi);
  if (caps & LETHE_CAP_PART_GRADS) check_combine(&c, &mi);
  method_instance_destroy(&mi);
  fprintf(out, "%d of %d checks failed\n", c.failed, c.run);
  return c.failed;
}
