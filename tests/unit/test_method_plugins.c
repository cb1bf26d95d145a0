/* test_method_plugins — every method plugin's math, through the real .so and
 * the host's checked step: the checker `lethe check-method` runs
 * (method/method_check.h: finite differences of every gradient, determinism,
 * zero-mask invariance) on every plugin and several settings, and closed
 * forms (GA = −token-mean NLL, NPO/DPO at π_θ = π_ref = (2/β)·log 2, ...).
 * The checker is shown to fail on a plugin with a wrong gradient. The nine
 * plugins built against ABI 1.1's header give the same bits in this host.
 * With LETHE_METHOD_EXTERNAL=path.so the "external" case runs the generic
 * checks on that plugin (the out-of-tree test uses it). */
#include <check.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "method/method_check.h"

enum { N_FORGET = CHECK_FORGET, N_RETAIN = CHECK_RETAIN, N_IDK = CHECK_IDK, B = CHECK_B,
       T = CHECK_T, V = CHECK_V };

/* The checker's random batch (method/method_check.h): rows forget [0,3),
 * retain [3,5), idk [5,8), each with 1–2 question positions, then answer
 * targets, then padding. */
typedef method_check_batch rnd_batch;
#define rnd_batch_new method_check_batch_new

/* ---- running a plugin --------------------------------------------------------- */
typedef struct metrics {
  int n;
  char name[8][64];
  double value[8];
} metrics;

static void record_metric(void *ctx, const char *name, double value) {
  metrics *m = ctx;
  if (m->n < 8) {
    snprintf(m->name[m->n], sizeof m->name[0], "%s", name);
    m->value[m->n++] = value;
  }
}

static double metric(const metrics *m, const char *name) {
  for (int i = 0; i < m->n; i++)
    if (!strcmp(m->name[i], name)) return m->value[i];
  ck_abort_msg("metric %s was not logged", name);
  return NAN;
}

typedef struct runner {
  method_spec spec;
  method_instance inst;
  metrics log;
} runner;

static runner *runner_new(const char *name, const char *const *overrides, int n_overrides) {
  runner *r = calloc(1, sizeof *r);
  lethe_err err = {0};
  int rc = method_spec_from_name(&r->spec, name, METHOD_PLUGIN_DIR, overrides, n_overrides, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  lethe_host_api host = {.ctx = &r->log, .metric = record_metric};
  rc = method_instance_create(&r->inst, &r->spec.plugin, r->spec.params, &host, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  return r;
}

static runner *runner_from_path(const char *path, const char *const *overrides, int n_overrides) {
  runner *r = calloc(1, sizeof *r);
  lethe_err err = {0};
  int rc = method_plugin_open(&r->spec.plugin, path, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  r->spec.params = method_params_new(r->spec.plugin.desc);
  for (int i = 0; i < n_overrides; i++) {
    rc = method_params_override(r->spec.plugin.desc, r->spec.params, overrides[i], &err);
    ck_assert_msg(rc == 0, "%s", err.msg);
  }
  lethe_host_api host = {.ctx = &r->log, .metric = record_metric};
  rc = method_instance_create(&r->inst, &r->spec.plugin, r->spec.params, &host, &err);
  ck_assert_msg(rc == 0, "%s", err.msg);
  return r;
}

static void runner_free(runner *r) {
  method_instance_destroy(&r->inst);
  method_spec_free(&r->spec);
  free(r);
}

static uint32_t caps(const runner *r) { return r->spec.plugin.desc->caps; }

/* One checked step with zeroed outputs; returns the loss. */
static double step(runner *r, rnd_batch *rb) {
  r->log.n = 0;
  lethe_err err = {0};
  double loss;
  ck_assert_msg(method_check_step(&r->inst, rb, &loss, &err) == 0, "%s", err.msg);
  return loss;
}

/* ---- the checker (method_check_all, as `lethe check-method` runs it) ------------- */
/* Runs every check of r's plugin and parameters; returns the failures, with
 * the report in text (the caller frees it). */
static int check_all(runner *r, uint64_t seed, int logits_masked, char **text) {
  size_t len;
  FILE *out = open_memstream(text, &len);
  lethe_err err = {0};
  int failed = method_check_all(&r->spec.plugin, r->spec.params, seed, logits_masked, out, &err);
  fclose(out);
  ck_assert_msg(failed >= 0, "%s", err.msg);
  return failed;
}

static void check_passes(runner *r, uint64_t seed, int logits_masked) {
  char *text;
  int failed = check_all(r, seed, logits_masked, &text);
  ck_assert_msg(failed == 0, "%s: %d checks failed:\n%s", r->spec.plugin.desc->name, failed, text);
  free(text);
}

/* ---- every plugin, several parameter settings --------------------------------------- */
typedef struct config_case {
  const char *name;
  const char *overrides[3];
} config_case;

static const config_case cases[] = {
    {"ga", {NULL}},
    {"grad_diff", {"method.forget_coeff=0.7", "method.retain_coeff=1.3", NULL}},
    {"kl", {NULL}},
    {"kl", {"method.kl_answer_only=true", "method.retain_coeff=2", NULL}},
    {"dpo", {NULL}},
    {"dpo", {"method.retain_coeff=1.5", "method.beta=1", NULL}},
    {"npo", {NULL}},
    {"npo", {"method.beta=2", "method.forget_coeff=0.5", NULL}},
    {"npo_rt", {"method.retain_coeff=2", NULL}},
    {"npo_kl", {NULL}},
    {"npo_kl", {"method.kl_answer_only=true", "method.beta=0.5", NULL}},
    {"idk", {NULL}},
    {"simnpo", {NULL}},
    {"simnpo", {"method.beta=0.5", "method.delta=1.5", "method.retain_coeff=0.5"}},
    {"undial", {NULL}},
    {"undial", {"method.beta=2", "method.retain_coeff=0.5", "method.forget_coeff=1.5"}},
    {"npo_l2", {"method.l2=0", "method.retain_coeff=0.5", NULL}}, /* its log-prob terms */
    {"gru", {NULL}},
    {"gru", {"method.npo=true", "method.beta=0.5", "method.retain_coeff=0.5"}},
};
enum { N_CASES = sizeof cases / sizeof cases[0] };

static int n_overrides(const config_case *c) {
  int n = 0;
  while (n < 3 && c->overrides[n]) n++;
  return n;
}

static runner *case_runner(int i) {
  return runner_new(cases[i].name, cases[i].overrides, n_overrides(&cases[i]));
}

static int answer_only(const runner *r) {
  for (uint32_t i = 0; i < r->spec.plugin.desc->n_params; i++)
    if (!strcmp(r->spec.plugin.desc->params[i].name, "kl_answer_only"))
      return method_param_value(r->spec.plugin.desc, r->spec.params, i) != 0.0;
  return 0;
}

/* Every check (gradients by finite differences, determinism, mask-0
 * positions) on two batches. */
START_TEST(test_conformance) {
  runner *r = case_runner(_i);
  int masked = answer_only(r) || !(caps(r) & LETHE_CAP_LOGITS);
  check_passes(r, 1000 + (uint64_t)_i, masked);
  check_passes(r, 2000 + (uint64_t)_i, masked);
  runner_free(r);
}
END_TEST

static runner *test_plugin(const char *kind) {
  char file[64];
  snprintf(file, sizeof file, "lethe_bad_%s.so", kind);
  char *path = lethe_path_join(METHOD_BAD_DIR, file);
  runner *r = runner_from_path(path, NULL, 0);
  free(path);
  return r;
}

/* A wrong gradient fails, and the other checks are still run and reported;
 * a stop-gradient method passes on its declared objective and fails without. */
START_TEST(test_checker_can_fail) {
  runner *r = test_plugin("wrong_grad");
  char *text;
  ck_assert_int_eq(check_all(r, 5, 1, &text), 1);
  ck_assert_msg(strstr(text, "FAIL  dL/dlogp against finite differences: ") &&
                strstr(text, "ok    determinism") && strstr(text, "ok    mask-0"), "%s", text);
  free(text);
  runner_free(r);
  r = test_plugin("stopgrad");
  ck_assert_int_eq(check_all(r, 5, 1, &text), 0);
  ck_assert_msg(strstr(text, "declared objective") != NULL, "%s", text);
  free(text);
  runner_free(r);
  r = test_plugin("stopgrad_bare");
  ck_assert_int_eq(check_all(r, 5, 1, &text), 1);
  ck_assert_msg(strstr(text, "FAIL  dL/dlogp") != NULL, "%s", text);
  free(text);
  runner_free(r);
}
END_TEST

/* ---- closed forms --------------------------------------------------------------- */
/* −Σ mask·logp / Σ mask over the rows [r0, r1) (independent of the plugins' code). */
static double nll_mean_rows(const rnd_batch *rb, int r0, int r1, double *count) {
  double s = 0.0, n = 0.0;
  for (int i = r0 * T; i < r1 * T; i++) {
    s += (double)rb->mask[i] * rb->logp[i];
    n += rb->mask[i];
  }
  if (count) *count = n;
  return -s / n;
}

static double row_sum(const float *x, const float *mask, int row) {
  double s = 0.0;
  for (int t = 0; t < T; t++) s += (double)mask[row * T + t] * x[row * T + t];
  return s;
}

START_TEST(test_ga_is_negative_token_mean_nll) {
  runner *r = runner_new("ga", NULL, 0);
  rnd_batch *rb = rnd_batch_new(31);
  double n_tokens, nll = nll_mean_rows(rb, 0, N_FORGET, &n_tokens);
  ck_assert_double_eq_tol(step(r, rb), -nll, 1e-12);
  for (int i = 0; i < B * T; i++)
    ck_assert_float_eq_tol(rb->dlogp[i], i < N_FORGET * T ? rb->mask[i] / n_tokens : 0.0, 1e-7);
  free(rb);
  runner_free(r);
}
END_TEST

START_TEST(test_grad_diff_and_idk_token_means) {
  runner *gd = runner_new("grad_diff", NULL, 0), *idk = runner_new("idk", NULL, 0);
  rnd_batch *rb = rnd_batch_new(37);
  double forget = nll_mean_rows(rb, 0, N_FORGET, NULL);
  double retain = nll_mean_rows(rb, N_FORGET, N_FORGET + N_RETAIN, NULL);
  ck_assert_double_eq_tol(step(gd, rb), -forget + retain, 1e-12);
  ck_assert_double_eq_tol(metric(&gd->log, "retain_nll"), retain, 1e-12);
  /* idk: one mean over the idk and retain rows together (they are adjacent here) */
  ck_assert_double_eq_tol(step(idk, rb), nll_mean_rows(rb, N_FORGET, B, NULL), 1e-12);
  for (int i = 0; i < N_FORGET * T; i++) ck_assert_float_eq(rb->dlogp[i], 0.0f);
  free(rb);
  runner_free(gd);
  runner_free(idk);
}
END_TEST

START_TEST(test_npo_at_reference) {
  static const char *const betas[] = {"method.beta=0.1", "method.beta=1", "method.beta=2.5"};
  static const double beta_values[] = {0.1, 1.0, 2.5};
  for (int k = 0; k < 3; k++) {
    runner *r = runner_new("npo", &betas[k], 1);
    rnd_batch *rb = rnd_batch_new(41);
    memcpy(rb->ref_logp, rb->logp, sizeof rb->logp);
    ck_assert_double_eq_tol(step(r, rb), (2.0 / beta_values[k]) * log(2.0), 1e-12);
    ck_assert_double_eq_tol(metric(&r->log, "npo_weight_mean"), 1.0, 1e-12);
    for (int i = 0; i < B * T; i++)
      ck_assert_float_eq_tol(rb->dlogp[i], i < N_FORGET * T ? rb->mask[i] / N_FORGET : 0.0, 1e-7);
    free(rb);
    runner_free(r);
  }
}
END_TEST

START_TEST(test_npo_general_value) {
  runner *r = runner_new("npo", (const char *[]){"method.beta=0.7"}, 1);
  rnd_batch *rb = rnd_batch_new(43);
  double expect = 0.0, w = 0.0;
  for (int i = 0; i < N_FORGET; i++) {
    double ratio = row_sum(rb->logp, rb->mask, i) - row_sum(rb->ref_logp, rb->mask, i);
    expect += (2.0 / 0.7) * log1p(exp(0.7 * ratio)) / N_FORGET;
    w += 2.0 / (1.0 + exp(-0.7 * ratio)) / N_FORGET;
  }
  ck_assert_double_eq_tol(step(r, rb), expect, 1e-12);
  ck_assert_double_eq_tol(metric(&r->log, "npo_weight_mean"), w, 1e-12);
  free(rb);
  runner_free(r);
}
END_TEST

START_TEST(test_dpo_zero_margin) {
  runner *r = runner_new("dpo", NULL, 0);
  rnd_batch *rb = rnd_batch_new(47);
  memcpy(rb->ref_logp, rb->logp, sizeof rb->logp);
  ck_assert_double_eq_tol(step(r, rb), (2.0 / 0.1) * log(2.0), 1e-12);
  ck_assert_double_eq_tol(metric(&r->log, "dpo_margin_mean"), 0.0, 1e-12);
  int idk0 = (N_FORGET + N_RETAIN) * T;
  for (int i = 0; i < B * T; i++) {
    double expect = i < N_FORGET * T ? rb->mask[i] / N_FORGET
                    : i >= idk0      ? -rb->mask[i] / N_FORGET
                                     : 0.0; /* retain_coeff 0: retain rows untouched */
    ck_assert_float_eq_tol(rb->dlogp[i], expect, 1e-7);
  }
  free(rb);
  runner_free(r);
}
END_TEST

/* KL(ref‖policy) at one position, straight from the definition. */
static double kl_at(const rnd_batch *rb, int i) {
  double zs = 0.0, rs = 0.0, k = 0.0;
  for (int v = 0; v < V; v++) {
    zs += exp(rb->logits[i * V + v]);
    rs += exp(rb->ref_logits[i * V + v]);
  }
  for (int v = 0; v < V; v++) {
    double pr = exp(rb->ref_logits[i * V + v]) / rs, pz = exp(rb->logits[i * V + v]) / zs;
    k += pr * log(pr / pz);
  }
  return k;
}

START_TEST(test_kl_definition) {
  runner *all = runner_new("kl", NULL, 0);
  runner *ans = runner_new("kl", (const char *[]){"method.kl_answer_only=true"}, 1);
  runner *npo_kl = runner_new("npo_kl", NULL, 0), *npo = runner_new("npo", NULL, 0);
  rnd_batch *rb = rnd_batch_new(53);
  double sum_all = 0.0, sum_ans = 0.0, n_ans = 0.0;
  for (int i = N_FORGET * T; i < (N_FORGET + N_RETAIN) * T; i++) {
    sum_all += kl_at(rb, i); /* every padded position counts */
    sum_ans += rb->mask[i] * kl_at(rb, i);
    n_ans += rb->mask[i];
  }
  double ga = -nll_mean_rows(rb, 0, N_FORGET, NULL);
  ck_assert_double_eq_tol(step(all, rb), ga + sum_all / (N_RETAIN * T), 1e-9);
  ck_assert_double_eq_tol(step(ans, rb), ga + sum_ans / n_ans, 1e-9);
  ck_assert_double_eq_tol(step(npo_kl, rb), step(npo, rb) + sum_all / (N_RETAIN * T), 1e-9);
  /* policy == reference: the KL term and its gradient vanish */
  memcpy(rb->ref_logits, rb->logits, sizeof rb->logits);
  ck_assert_double_eq_tol(step(all, rb), ga, 1e-12);
  for (int i = 0; i < B * T * V; i++) ck_assert_float_eq_tol(rb->dlogits[i], 0.0f, 1e-9);
  free(rb);
  runner_free(all);
  runner_free(ans);
  runner_free(npo_kl);
  runner_free(npo);
}
END_TEST

START_TEST(test_simnpo_definition) {
  const char *ov[] = {"method.beta=0.5", "method.delta=1.5"};
  runner *r = runner_new("simnpo", ov, 2);
  rnd_batch *rb = rnd_batch_new(59);
  double expect = 0.0;
  for (int i = 0; i < N_FORGET; i++) {
    double n = 0.0;
    for (int t = 0; t < T; t++) n += rb->mask[i * T + t];
    double a = -row_sum(rb->logp, rb->mask, i) / n - 1.5;
    expect += (2.0 / 0.5) * log1p(exp(-0.5 * a)) / N_FORGET;
  }
  ck_assert_double_eq_tol(step(r, rb), expect, 1e-12);
  free(rb);
  runner_free(r);
}
END_TEST

START_TEST(test_npo_rt_sum_of_terms) {
  runner *rt = runner_new("npo_rt", (const char *[]){"method.retain_coeff=2.5"}, 1);
  runner *npo = runner_new("npo", NULL, 0);
  rnd_batch *rb = rnd_batch_new(61);
  double retain = nll_mean_rows(rb, N_FORGET, N_FORGET + N_RETAIN, NULL);
  ck_assert_double_eq_tol(step(rt, rb), step(npo, rb) + 2.5 * retain, 1e-12);
  free(rb);
  runner_free(rt);
  runner_free(npo);
}
END_TEST

/* UNDIAL (a plugin without create(): host-owned parameters, services through
 * batch->host): γ·mean over forget answer targets of H(softmax(z_ref − β·e_y), p_θ). */
START_TEST(test_undial_definition) {
  const char *ov[] = {"method.beta=2.5", "method.forget_coeff=0.8"};
  runner *r = runner_new("undial", ov, 2);
  ck_assert_ptr_null(r->spec.plugin.desc->create);
  rnd_batch *rb = rnd_batch_new(67);
  double sum = 0.0, n = 0.0;
  for (int i = 0; i < N_FORGET * T; i++) {
    if (rb->mask[i] == 0.0f) continue;
    const float *z = rb->logits + i * V, *zr = rb->ref_logits + i * V;
    double lse = 0.0, qs = 0.0, h = 0.0;
    for (int v = 0; v < V; v++) {
      lse += exp(z[v]);
      qs += exp(zr[v] - (v == rb->target[i] ? 2.5 : 0.0));
    }
    for (int v = 0; v < V; v++)
      h -= exp(zr[v] - (v == rb->target[i] ? 2.5 : 0.0)) / qs * (z[v] - log(lse));
    sum += h;
    n += 1.0;
  }
  double loss = step(r, rb);
  ck_assert_double_eq_tol(loss, 0.8 * sum / n, 1e-10);
  ck_assert_double_eq_tol(metric(&r->log, "forget_distill"), sum / n, 1e-10);
  free(rb);
  runner_free(r);
}
END_TEST

/* ---- ABI compatibility ------------------------------------------------------------ */
/* The nine plugins of ABI 1.1, built from their 1.1 sources against that
 * release's header (tests/abi/v1_1): they load in this host (descriptor
 * shorter by the 1.2 fields, none of them read) and give the bits today's
 * sources give, at the defaults and at a retain coefficient > 0. At
 * retain_coeff = 0 today's plugins resolve() to no retain rows (and, for the
 * KL terms, no logits); given the same rows they give the same loss and
 * gradient values (the old ones wrote 0·x, which may be −0). */
typedef struct abi_case {
  const char *name;
  const char *retain; /* NULL: defaults only */
  uint32_t dropped;   /* caps today's plugin drops at retain_coeff = 0 */
} abi_case;

static const abi_case abi_v1_1_plugins[] = {
    {"ga", NULL, 0},
    {"grad_diff", "method.retain_coeff", LETHE_CAP_RETAIN},
    {"kl", "method.retain_coeff", LETHE_CAP_RETAIN | LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS},
    {"npo", NULL, 0},
    {"npo_rt", "method.retain_coeff", LETHE_CAP_RETAIN},
    {"npo_kl", "method.retain_coeff", LETHE_CAP_RETAIN | LETHE_CAP_LOGITS | LETHE_CAP_REF_LOGITS},
    {"dpo", "method.retain_coeff", LETHE_CAP_RETAIN},
    {"idk", NULL, 0},
    {"simnpo", "method.retain_coeff", LETHE_CAP_RETAIN},
};
enum { N_ABI_CASES = sizeof abi_v1_1_plugins / sizeof abi_v1_1_plugins[0] };

/* Values equal element by element (0 == −0). */
static void check_same_values(const char *what, const float *a, const float *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    ck_assert_msg(a[i] == b[i], "%s[%zu]: %.9g (1.1) vs %.9g", what, i, a[i], b[i]);
}

/* _i: plugin (_i / 3) at the defaults (0), retain_coeff = 0.7 (1) or 0 (2). */
START_TEST(test_abi_v1_1_plugins_unchanged) {
  const abi_case *c = &abi_v1_1_plugins[_i / 3];
  int setting = _i % 3;
  if (setting && !c->retain) return; /* no retain coefficient to set */
  char path[1024], over[64];
  snprintf(path, sizeof path, "%s/lethe_%s.so", METHOD_ABI_V1_1_DIR, c->name);
  snprintf(over, sizeof over, "%s=%s", c->retain ? c->retain : "", setting == 2 ? "0" : "0.7");
  const char *ov[] = {over};
  int n_ov = setting ? 1 : 0;
  runner *old = runner_from_path(path, ov, n_ov), *now = runner_new(c->name, ov, n_ov);
  const lethe_method_desc *od = old->spec.plugin.desc, *nd = now->spec.plugin.desc;
  ck_assert_uint_eq(od->struct_size, offsetof(lethe_method_desc, resolve));
  ck_assert_uint_gt(nd->struct_size, od->struct_size);
  ck_assert_str_eq(od->name, nd->name);
  ck_assert_uint_eq(od->caps, nd->caps);
  ck_assert_uint_eq(old->inst.needs.caps, od->caps); /* no resolve(): caps as declared */
  ck_assert_int_eq(old->inst.needs.hidden_layer, -1);
  ck_assert_str_eq(method_desc_title(od), method_desc_title(nd));
  rnd_batch *a = rnd_batch_new(91), *b = rnd_batch_new(91);
  double la = step(old, a), lb = step(now, b);
  ck_assert_msg(memcmp(&la, &lb, sizeof la) == 0, "%s: loss %.17g (1.1) vs %.17g", c->name, la, lb);
  int dropped = setting == 2 || (setting == 0 && (now->inst.needs.caps & LETHE_CAP_RETAIN) == 0);
  if (!dropped) {
    ck_assert_uint_eq(now->inst.needs.caps, nd->caps);
    ck_assert_msg(memcmp(a->dlogp, b->dlogp, sizeof a->dlogp) == 0, "%s: dlogp differs", c->name);
    ck_assert_msg(memcmp(a->dlogits, b->dlogits, sizeof a->dlogits) == 0, "%s: dlogits differs",
                  c->name);
  } else {
    ck_assert_uint_eq(now->inst.needs.caps, nd->caps & ~c->dropped);
    check_same_values("dlogp", a->dlogp, b->dlogp, B * T);
    check_same_values("dlogits", a->dlogits, b->dlogits, B * T * V);
  }
  free(a);
  free(b);
  runner_free(old);
  runner_free(now);
}
END_TEST

/* ---- an external plugin (LETHE_METHOD_EXTERNAL) ---------------------------------- */
START_TEST(test_external_plugin) {
  runner *r = runner_from_path(getenv("LETHE_METHOD_EXTERNAL"), NULL, 0);
  check_passes(r, 77, !(caps(r) & LETHE_CAP_LOGITS));
  runner_free(r);
}
END_TEST

static Suite *plugins_suite(void) {
  Suite *s = suite_create("method_plugins");
  TCase *conf = tcase_create("conformance");
  tcase_add_loop_test(conf, test_conformance, 0, N_CASES);
  tcase_add_test(conf, test_checker_can_fail);
  suite_add_tcase(s, conf);
  TCase *closed = tcase_create("closed_forms");
  tcase_add_test(closed, test_ga_is_negative_token_mean_nll);
  tcase_add_test(closed, test_grad_diff_and_idk_token_means);
  tcase_add_test(closed, test_npo_at_reference);
  tcase_add_test(closed, test_npo_general_value);
  tcase_add_test(closed, test_dpo_zero_margin);
  tcase_add_test(closed, test_kl_definition);
  tcase_add_test(closed, test_simnpo_definition);
  tcase_add_test(closed, test_npo_rt_sum_of_terms);
  tcase_add_test(closed, test_undial_definition);
  suite_add_tcase(s, closed);
  TCase *abi = tcase_create("abi");
  tcase_add_loop_test(abi, test_abi_v1_1_plugins_unchanged, 0, 3 * N_ABI_CASES);
  suite_add_tcase(s, abi);
  if (getenv("LETHE_METHOD_EXTERNAL")) {
    TCase *ext = tcase_create("external");
    tcase_add_test(ext, test_external_plugin);
    suite_add_tcase(s, ext);
  }
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(plugins_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
