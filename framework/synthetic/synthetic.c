/* synthetic — settings, data, pre-training, metrics and the unlearning loop of
 * the paper's synthetic experiment (see synthetic.h). The run directory and
 * the command live in synthetic_run.c, the figures in synthetic_report.c. */
#include "synthetic/synthetic.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "core/json_file.h"
#include "pipeline/experiment.h"

/* Every setting a synthetic experiment file may use, with its default (the
 * paper's α = 1 setting; docs/synthetic.md explains each). */
const char *const synth_schema =
    "version = 1;\n"
    "kind = \"synthetic\";\n"
    "threads = 0;\n"
    "cache_dir = \"\";\n"
    "synthetic = {\n"
    "  alpha = 1.0; dim = 16; features = 128;\n"
    "  n_forget = 200; n_retain = 1000; n_eval_forget = 1000; n_eval_retain = 1000;\n"
    "  seed = 1; steps = 2000; lr = 5e-4; eval_every = 25;\n"
    "  pretrain_lr = 0.05; pretrain_steps = 20000; pretrain_tol = 1e-2;\n"
    "  cache = true; figure = \"\";\n"
    "};\n"
    "method = { name = \"npo\"; };\n";

const char *const synth_open_groups[] = {"method", NULL};

/* ---- settings ----------------------------------------------------------------- */

/* Reads an integer setting in [lo, hi]; errors name file:line. */
static int read_int(const lcfg *c, const char *path, long lo, long hi, long *out, lethe_err *err) {
  long v = lcfg_int(c, path);
  if (v < lo || v > hi) {
    char where[600];
    lcfg_where(lcfg_setting(c, path), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = %ld is outside [%ld, %ld]", where, path, v,
                      lo, hi);
  }
  *out = v;
  return 0;
}

static int read_float(const lcfg *c, const char *path, double lo, double hi, double *out,
                      lethe_err *err) {
  double v = lcfg_float(c, path);
  if (!(v >= lo && v <= hi)) {
    char where[600];
    lcfg_where(lcfg_setting(c, path), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s = %g is outside [%g, %g]", where, path, v, lo,
                      hi);
  }
  *out = v;
  return 0;
}

int synth_settings_read(const lcfg *c, synth_settings *s, lethe_err *err) {
  memset(s, 0, sizeof *s);
  const char *kind = lcfg_string(c, "kind");
  if (lethe_kind_parse(kind) != LETHE_KIND_SYNTHETIC) {
    char where[600];
    lcfg_where(lcfg_setting(c, "kind"), where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: kind = \"%s\": `lethe synthetic` runs only kind = \"synthetic\"", where,
                      kind);
  }
  long dim, features, nf, nr, nef, ner, seed, steps, every, psteps;
  if (read_float(c, "synthetic.alpha", -100.0, 100.0, &s->alpha, err) ||
      read_int(c, "synthetic.dim", 1, 4096, &dim, err) ||
      read_int(c, "synthetic.features", 1, 65536, &features, err) ||
      read_int(c, "synthetic.n_forget", 1, 1000000, &nf, err) ||
      read_int(c, "synthetic.n_retain", 1, 1000000, &nr, err) ||
      read_int(c, "synthetic.n_eval_forget", 1, 1000000, &nef, err) ||
      read_int(c, "synthetic.n_eval_retain", 1, 1000000, &ner, err) ||
      read_int(c, "synthetic.seed", 0, INT64_MAX, &seed, err) ||
      read_int(c, "synthetic.steps", 0, 100000000, &steps, err) ||
      read_float(c, "synthetic.lr", 0.0, 1e6, &s->lr, err) ||
      read_int(c, "synthetic.eval_every", 1, 100000000, &every, err) ||
      read_float(c, "synthetic.pretrain_lr", 0.0, 1e6, &s->pretrain_lr, err) ||
      read_int(c, "synthetic.pretrain_steps", 0, 100000000, &psteps, err) ||
      read_float(c, "synthetic.pretrain_tol", 0.0, INFINITY, &s->pretrain_tol, err))
    return -1;
  const char *figure = lcfg_string(c, "synthetic.figure");
  if (strlen(figure) >= sizeof s->figure)
    return lethe_errf(err, LETHE_E_CONFIG, "synthetic.figure \"%s\" is longer than %zu characters",
                      figure, sizeof s->figure - 1);
  snprintf(s->figure, sizeof s->figure, "%s", figure);
  s->cache = lcfg_bool(c, "synthetic.cache");
  s->dim = (int)dim, s->features = (int)features;
  s->n_forget = (int)nf, s->n_retain = (int)nr, s->n_eval_forget = (int)nef;
  s->n_eval_retain = (int)ner, s->seed = (uint64_t)seed, s->steps = (int)steps;
  s->eval_every = (int)every, s->pretrain_steps = (int)psteps;
  return 0;
}

/* ---- data ---------------------------------------------------------------------
 * x ~ N(μ, I) with μ = center·1_d; P(y = 1|x) = σ(slope·Σ_j (x_j − center)/√d + shift).
 * Forget: center α, slope +1, shift +1; retain: center −α, slope −1, shift −1
 * (θ_f = −θ_r = 1_d/√d). */
static void draw_set(synth_set *set, int n, int d, double center, double slope, double shift,
                     lethe_rng *rng) {
  set->n = n;
  set->x = lethe_malloc((size_t)n * d * sizeof(double));
  set->y = lethe_malloc((size_t)n * sizeof(int32_t));
  double inv_sqrt_d = 1.0 / sqrt((double)d);
  for (int i = 0; i < n; i++) {
    double proj = 0.0;
    for (int j = 0; j < d; j++) {
      double noise = lethe_rng_normal(rng);
      set->x[(size_t)i * d + j] = center + noise;
      proj += noise;
    }
    double p1 = 1.0 / (1.0 + exp(-(slope * proj * inv_sqrt_d + shift)));
    set->y[i] = lethe_rng_uniform(rng) < p1 ? 1 : 0;
  }
}

static void featurize(synth_set *set, const rf_model *m) {
  set->phi = lethe_alloc_aligned((size_t)set->n * m->n_features * sizeof(double));
  rf_features(m, set->x, set->n, set->phi);
}

static void set_free(synth_set *set) {
  free(set->x);
  free(set->y);
  free(set->phi);
  memset(set, 0, sizeof *set);
}

/* ---- pre-training: full-batch GD on the mean cross-entropy over sets ---------- */

/* Adds ∇ of mean CE over the sets (n_total rows in all) into m->grad. */
static void ce_gradient(rf_model *m, const synth_set *const *sets, int n_sets, double *dlogp) {
  int n_total = 0;
  for (int k = 0; k < n_sets; k++) n_total += sets[k]->n;
  for (int k = 0; k < n_sets; k++) {
    for (int i = 0; i < sets[k]->n; i++) dlogp[i] = -1.0 / n_total;
    rf_forward(m, sets[k]->phi, sets[k]->n);
    rf_dlogits_from_dlogp(m, sets[k]->y, dlogp, NULL);
    rf_backward(m);
  }
}

/* θ from 0, `steps` GD steps; returns ‖∇‖ at the final θ. */
static double pretrain(rf_model *m, const synth_set *const *sets, int n_sets, double lr,
                       int steps) {
  int n_max = 0;
  for (int k = 0; k < n_sets; k++) n_max = sets[k]->n > n_max ? sets[k]->n : n_max;
  double *dlogp = lethe_malloc((size_t)n_max * sizeof(double));
  memset(m->theta, 0, (size_t)m->n_features * sizeof(double));
  for (int t = 0; t < steps; t++) {
    rf_zero_grad(m);
    ce_gradient(m, sets, n_sets, dlogp);
    rf_gd_step(m, lr);
  }
  rf_zero_grad(m);
  ce_gradient(m, sets, n_sets, dlogp);
  free(dlogp);
  return rf_grad_norm(m);
}

/* (n, 2) log-probs of model on a set's features (malloc'd). */
static double *log_probs(rf_model *m, const synth_set *set) {
  double *out = lethe_malloc((size_t)set->n * RF_CLASSES * sizeof(double));
  rf_forward(m, set->phi, set->n);
  rf_log_softmax(m, out);
  return out;
}

/* ---- the pre-training cache ------------------------------------------------------
 * π_ref and π_retr depend only on the training data and the pre-training
 * settings, not on the method: a suite of 90 runs over 10 (α, seed) pairs
 * pre-trains 10 times. The file holds the exact doubles (17 digits), so a
 * cached run gives the same bytes as a fresh one. A file that does not match
 * is recomputed and replaced. */
#define SYNTH_CACHE_FORMAT 1

/* The text that identifies a pre-training; its hash names the file. */
static void pretrain_identity(const synth_settings *s, char *buf, size_t n) {
  snprintf(buf, n,
           "synthetic-pretrain format=%d dim=%d features=%d n_forget=%d n_retain=%d seed=%llu "
           "alpha=%.17g lr=%.17g steps=%d",
           SYNTH_CACHE_FORMAT, s->dim, s->features, s->n_forget, s->n_retain,
           (unsigned long long)s->seed, s->alpha, s->pretrain_lr, s->pretrain_steps);
}

static char *cache_path(const char *cache_dir, const char *identity) {
  char name[64];
  snprintf(name, sizeof name, "synthetic/pretrain-%016llx.json",
           (unsigned long long)lethe_hash_str(identity, 1469598103934665603ULL));
  return lethe_path_join(cache_dir, name);
}

/* Copies a JSON array of n finite numbers into out; 0 on success. */
static int read_vector(const json_t *a, int n, double *out) {
  if (!json_is_array(a) || json_array_size(a) != (size_t)n) return -1;
  for (int i = 0; i < n; i++) {
    const json_t *v = json_array_get(a, (size_t)i);
    if (!json_is_number(v) || !isfinite(json_number_value(v))) return -1;
    out[i] = json_number_value(v);
  }
  return 0;
}

static int cache_load(const char *path, const char *identity, synth_setup *su) {
  json_t *o = json_load_file(path, 0, NULL);
  int N = su->ref.n_features, rc = -1;
  const json_t *id = json_object_get(o, "identity");
  const json_t *gr = json_object_get(o, "ref_grad_norm"), *gt = json_object_get(o, "retrained_grad_norm");
  if (o && json_is_string(id) && !strcmp(json_string_value(id), identity) && json_is_number(gr) &&
      json_is_number(gt) && !read_vector(json_object_get(o, "theta_ref"), N, su->ref.theta) &&
      !read_vector(json_object_get(o, "theta_retrained"), N, su->retrained.theta)) {
    su->ref_grad_norm = json_number_value(gr);
    su->retrained_grad_norm = json_number_value(gt);
    rc = 0;
  }
  json_decref(o);
  return rc;
}

static json_t *vector_json(const double *x, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_real(x[i]));
  return a;
}

/* Best effort: a cache that cannot be written only costs time. */
static void cache_store(const char *cache_dir, const char *path, const char *identity,
                        const synth_setup *su) {
  lethe_err err = {0};
  char *dir = lethe_path_join(cache_dir, "synthetic");
  int ok = lethe_mkdir_p(dir, &err) == 0;
  free(dir);
  json_t *o = json_object();
  int N = su->ref.n_features;
  json_object_set_new(o, "identity", json_string(identity));
  json_object_set_new(o, "ref_grad_norm", json_real(su->ref_grad_norm));
  json_object_set_new(o, "retrained_grad_norm", json_real(su->retrained_grad_norm));
  json_object_set_new(o, "theta_ref", vector_json(su->ref.theta, N));
  json_object_set_new(o, "theta_retrained", vector_json(su->retrained.theta, N));
  if (ok)
    ok = lethe_json_write_atomic(path, o, JSON_REAL_PRECISION(17) | JSON_COMPACT,
                                 LETHE_JSON_NO_NEWLINE, &err) == 0;
  json_decref(o);
  if (!ok) lethe_log(LETHE_LOG_WARN, "synthetic: pre-training not cached: %s", err.msg);
}

int synth_setup_build(synth_setup *su, const synth_settings *s, const char *cache_dir,
                      lethe_err *err) {
  memset(su, 0, sizeof *su);
  su->s = *s;
  lethe_rng rng;
  lethe_rng_seed(&rng, s->seed);
  int d = s->dim;
  rf_init(&su->ref, d, s->features, &rng);
  draw_set(&su->retain, s->n_retain, d, -s->alpha, -1.0, -1.0, &rng);
  draw_set(&su->forget, s->n_forget, d, s->alpha, 1.0, 1.0, &rng);
  su->idk = lethe_malloc((size_t)s->n_forget * sizeof(int32_t));
  for (int i = 0; i < s->n_forget; i++) su->idk[i] = lethe_rng_uniform(&rng) < 0.5 ? 1 : 0;
  draw_set(&su->eval_retain, s->n_eval_retain, d, -s->alpha, -1.0, -1.0, &rng);
  draw_set(&su->eval_forget, s->n_eval_forget, d, s->alpha, 1.0, 1.0, &rng);
  synth_set *all[] = {&su->forget, &su->retain, &su->eval_forget, &su->eval_retain};
  for (int k = 0; k < 4; k++) featurize(all[k], &su->ref);

  rf_copy(&su->retrained, &su->ref);
  char identity[512], *path = NULL;
  pretrain_identity(s, identity, sizeof identity);
  if (cache_dir) path = cache_path(cache_dir, identity);
  if (!path || cache_load(path, identity, su) != 0) {
    const synth_set *both[] = {&su->retain, &su->forget};
    su->ref_grad_norm = pretrain(&su->ref, both, 2, s->pretrain_lr, s->pretrain_steps);
    su->retrained_grad_norm = pretrain(&su->retrained, both, 1, s->pretrain_lr, s->pretrain_steps);
    if (path) cache_store(cache_dir, path, identity, su);
  }
  free(path);
  su->ref_eval_forget = log_probs(&su->ref, &su->eval_forget);
  su->ref_eval_retain = log_probs(&su->ref, &su->eval_retain);
  su->retr_eval_forget = log_probs(&su->retrained, &su->eval_forget);
  su->retr_eval_retain = log_probs(&su->retrained, &su->eval_retain);
  double worst = fmax(su->ref_grad_norm, su->retrained_grad_norm);
  if (s->pretrain_tol > 0 && !(worst <= s->pretrain_tol)) {
    lethe_errf(err, LETHE_E_NUMERIC,
               "seed %llu: pre-training did not converge: ‖∇‖ = %.3g (reference) and %.3g "
               "(retrained) after %d steps at lr %g; synthetic.pretrain_tol is %g",
               (unsigned long long)s->seed, su->ref_grad_norm, su->retrained_grad_norm,
               s->pretrain_steps, s->pretrain_lr, s->pretrain_tol);
    synth_setup_free(su);
    return -1;
  }
  return 0;
}

void synth_setup_free(synth_setup *su) {
  set_free(&su->forget);
  set_free(&su->retain);
  set_free(&su->eval_forget);
  set_free(&su->eval_retain);
  free(su->idk);
  rf_free(&su->ref);
  rf_free(&su->retrained);
  free(su->ref_eval_forget);
  free(su->ref_eval_retain);
  free(su->retr_eval_forget);
  free(su->retr_eval_retain);
  memset(su, 0, sizeof *su);
}

/* ---- metrics ------------------------------------------------------------------ */

/* mean over rows of KL(p ‖ q) = Σ_v e^{p_v}(p_v − q_v), p and q (n, 2) log-probs. */
static double mean_kl(const double *p, const double *q, int n) {
  double sum = 0.0;
  for (int i = 0; i < n; i++)
    for (int v = 0; v < RF_CLASSES; v++) {
      double lp = p[i * RF_CLASSES + v];
      sum += exp(lp) * (lp - q[i * RF_CLASSES + v]);
    }
  return sum / n;
}

void synth_evaluate(const synth_setup *su, rf_model *model, synth_point *p) {
  double *f = log_probs(model, &su->eval_forget), *r = log_probs(model, &su->eval_retain);
  int nf = su->eval_forget.n, nr = su->eval_retain.n;
  p->forget_distance = mean_kl(su->retr_eval_forget, f, nf);
  p->retain_distance = mean_kl(su->retr_eval_retain, r, nr);
  p->forget_kl = mean_kl(su->ref_eval_forget, f, nf);
  p->retain_kl = mean_kl(su->ref_eval_retain, r, nr);
  free(f);
  free(r);
}

/* ---- unlearning ------------------------------------------------------------------ */

#define SYNTH_MAX_METRICS 16

/* The plugin's per-step metrics, collected through the host service table. */
typedef struct metric_sink {
  synth_metric items[SYNTH_MAX_METRICS];
  int n;
} metric_sink;

static void sink_metric(void *ctx, const char *name, double value) {
  metric_sink *s = ctx;
  for (int i = 0; i < s->n; i++)
    if (!strcmp(s->items[i].name, name)) {
      s->items[i].value = value;
      return;
    }
  if (s->n == SYNTH_MAX_METRICS) return;
  snprintf(s->items[s->n].name, sizeof s->items[s->n].name, "%s", name);
  s->items[s->n++].value = value;
}

static void sink_log(void *ctx, int level, const char *msg) {
  (void)ctx;
  lethe_log(level, "%s", msg);
}

/* One full batch in the plugin's layout: forget rows, then retain and idk rows
 * when the method asks for them; features, targets and the constant views. */
typedef struct synth_batch {
  int B;
  lethe_segment seg[LETHE_SEG_COUNT];
  double *phi;        /* (B, N) */
  int32_t *target;    /* (B) */
  float *mask;        /* (B) all 1 */
  int32_t *attn;      /* (B) all 1 */
  float *logp, *ref_logp;        /* (B) */
  float *logits, *ref_logits;    /* (B, 2) when the method asks for them */
  float *dlogp, *dlogits;        /* plugin outputs */
  double *logp64, *dlogp64, *dlogits64;
} synth_batch;

static void append_rows(synth_batch *b, int seg, const synth_set *set, const int32_t *labels,
                        int N) {
  int at = b->B;
  b->seg[seg].row0 = at;
  b->seg[seg].nrows = set->n;
  memcpy(b->phi + (size_t)at * N, set->phi, (size_t)set->n * N * sizeof(double));
  memcpy(b->target + at, labels, (size_t)set->n * sizeof(int32_t));
  b->B += set->n;
}

static void batch_build(synth_batch *b, const synth_setup *su, uint32_t caps) {
  memset(b, 0, sizeof *b);
  int N = su->ref.n_features, rows = su->forget.n;
  if (caps & LETHE_CAP_RETAIN) rows += su->retain.n;
  if (caps & LETHE_CAP_IDK) rows += su->forget.n;
  b->phi = lethe_alloc_aligned((size_t)rows * N * sizeof(double));
  b->target = lethe_calloc((size_t)rows, sizeof(int32_t));
  append_rows(b, LETHE_SEG_FORGET, &su->forget, su->forget.y, N);
  if (caps & LETHE_CAP_RETAIN) append_rows(b, LETHE_SEG_RETAIN, &su->retain, su->retain.y, N);
  if (caps & LETHE_CAP_IDK) append_rows(b, LETHE_SEG_IDK, &su->forget, su->idk, N);
  size_t n = (size_t)b->B, nv = n * RF_CLASSES;
  b->mask = lethe_malloc(n * sizeof(float));
  b->attn = lethe_malloc(n * sizeof(int32_t));
  for (size_t i = 0; i < n; i++) b->mask[i] = 1.0f, b->attn[i] = 1;
  b->logp = lethe_calloc(n, sizeof(float));
  b->ref_logp = lethe_calloc(n, sizeof(float));
  b->dlogp = lethe_calloc(n, sizeof(float));
  b->logp64 = lethe_calloc(n, sizeof(double));
  b->dlogp64 = lethe_calloc(n, sizeof(double));
  if (caps & LETHE_CAP_LOGITS) {
    b->logits = lethe_calloc(nv, sizeof(float));
    b->dlogits = lethe_calloc(nv, sizeof(float));
    b->dlogits64 = lethe_calloc(nv, sizeof(double));
  }
  if (caps & LETHE_CAP_REF_LOGITS) b->ref_logits = lethe_calloc(nv, sizeof(float));
}

static void batch_free(synth_batch *b) {
  void *bufs[] = {b->phi,    b->target,  b->mask,       b->attn,   b->logp,
                  b->ref_logp, b->logits, b->ref_logits, b->dlogp, b->dlogits,
                  b->logp64, b->dlogp64, b->dlogits64};
  for (size_t i = 0; i < sizeof bufs / sizeof bufs[0]; i++) free(bufs[i]);
  memset(b, 0, sizeof *b);
}

static void to_float(float *dst, const double *src, size_t n) {
  for (size_t i = 0; i < n; i++) dst[i] = (float)src[i];
}

/* The reference's log-probs and logits on the batch are constants: once. */
static void batch_reference(synth_batch *b, rf_model *ref) {
  rf_forward(ref, b->phi, b->B);
  rf_target_logp(ref, b->target, b->logp64);
  to_float(b->ref_logp, b->logp64, (size_t)b->B);
  if (b->ref_logits) to_float(b->ref_logits, ref->logits, (size_t)b->B * RF_CLASSES);
}

/* Forward, plugin, chain rule, backward, GD step: one unlearning step. */
static int unlearn_step(rf_model *m, synth_batch *b, method_instance *mi, int64_t step,
                        int64_t total, double lr, double *loss, lethe_err *err) {
  size_t n = (size_t)b->B, nv = n * RF_CLASSES;
  rf_forward(m, b->phi, b->B);
  rf_target_logp(m, b->target, b->logp64);
  to_float(b->logp, b->logp64, n);
  if (b->logits) to_float(b->logits, m->logits, nv);
  memset(b->dlogp, 0, n * sizeof(float));
  if (b->dlogits) memset(b->dlogits, 0, nv * sizeof(float));
  lethe_method_batch view = {0};
  view.struct_size = sizeof view;
  view.B = b->B, view.T = 1, view.V = RF_CLASSES;
  memcpy(view.seg, b->seg, sizeof view.seg);
  view.target = b->target;
  view.mask = b->mask;
  view.attn = b->attn;
  view.logp = b->logp;
  view.ref_logp = (mi->needs.caps & LETHE_CAP_REF_LOGP) ? b->ref_logp : NULL;
  view.logits = b->logits;
  view.ref_logits = b->ref_logits;
  view.step = step;
  view.total_steps = total;
  lethe_method_grad out = {.struct_size = sizeof out, .dlogp = b->dlogp, .dlogits = b->dlogits};
  if (method_instance_step(mi, &view, &out, err) != 0) return -1;
  *loss = out.loss;
  for (size_t i = 0; i < n; i++) b->dlogp64[i] = b->dlogp[i];
  for (size_t i = 0; b->dlogits && i < nv; i++) b->dlogits64[i] = b->dlogits[i];
  rf_dlogits_from_dlogp(m, b->target, b->dlogp64, b->dlogits ? b->dlogits64 : NULL);
  rf_zero_grad(m);
  rf_backward(m);
  rf_gd_step(m, lr);
  return 0;
}

int synth_unlearn(const synth_setup *su, const method_spec *ms, synth_eval_fn on_eval, void *ctx,
                  rf_model *out, lethe_err *err) {
  const synth_settings *s = &su->s;
  metric_sink sink = {0};
  lethe_host_api host = {sizeof host, &sink, sink_metric, sink_log};
  method_instance mi;
  if (method_instance_create(&mi, &ms->plugin, ms->params, &host, err) != 0) return -1;
  synth_batch b;
  batch_build(&b, su, mi.needs.caps);
  rf_model ref, policy;
  rf_copy(&ref, &su->ref);
  rf_copy(&policy, &su->ref);
  batch_reference(&b, &ref);
  int rc = 0;
  for (int64_t step = 0; step <= s->steps; step++) {
    /* evaluate θ_step, then take the step from it (its loss and metrics
     * belong to the same θ) */
    int evaluate = on_eval && (step % s->eval_every == 0 || step == s->steps);
    synth_point p = {0};
    p.step = step;
    if (evaluate) synth_evaluate(su, &policy, &p);
    double loss = NAN;
    sink.n = 0;
    if (step < s->steps &&
        unlearn_step(&policy, &b, &mi, step, s->steps, s->lr, &loss, err) != 0) {
      rc = -1;
      break;
    }
    if (evaluate) on_eval(ctx, &p, loss, sink.items, sink.n);
  }
  if (rc == 0 && out) rf_copy(out, &policy);
  rf_free(&ref);
  rf_free(&policy);
  batch_free(&b);
  method_instance_destroy(&mi);
  return rc;
}
