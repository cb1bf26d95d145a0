/* test_synthetic — the random-feature backend (model/rf.h) and the synthetic
 * experiment (run/synthetic.h): rf's backward against finite differences,
 * the unchanged plugin .so files on both backends (rf and the tiny Llama of
 * tests/data/llama-tiny), the float32 plugin view against double-precision
 * math, the paper's qualitative facts on a real-size run, determinism (with
 * and without the pre-training cache), configuration errors and the report. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "report/synthetic_report.h"
#include "synthetic/synthetic.h"
#include "train/objective.h"

static const char *const plugin_names[] = {"ga", "grad_diff", "kl", "npo", "npo_rt",
                                           "npo_kl", "dpo", "idk", "simnpo"};
#define N_PLUGINS 9

/* Settings from the schema with -s style overrides (NULL-terminated). */
static void settings(synth_settings *s, const char *const *over) {
  int n = 0;
  while (over && over[n]) n++;
  lcfg c;
  lethe_err err = {0};
  ck_assert_msg(lcfg_load(&c, synth_schema, synth_open_groups, NULL, over, n, &err) == 0, "%s",
                err.msg);
  ck_assert_msg(synth_settings_read(&c, s, &err) == 0, "%s", err.msg);
  lcfg_free(&c);
}

/* A temporary directory (malloc'd path). */
static char *temp_dir(void) {
  char *t = lethe_strdup("/tmp/lethe_synth_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(t));
  return t;
}

static void remove_tree(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* ---- rf backward against central differences ---------------------------------- */

/* L(θ) = Σ_b w_b·logp_b + Σ_{b,v} u_{b,v}·logits_{b,v} */
static double probe_loss(rf_model *m, const double *phi, int B, const int32_t *y, const double *w,
                         const double *u) {
  double *lp = malloc(sizeof(double) * (size_t)B), loss = 0.0;
  rf_forward(m, phi, B);
  rf_target_logp(m, y, lp);
  for (int b = 0; b < B; b++) {
    loss += w[b] * lp[b];
    for (int v = 0; v < RF_CLASSES; v++) loss += u[b * RF_CLASSES + v] * m->logits[b * RF_CLASSES + v];
  }
  free(lp);
  return loss;
}

START_TEST(test_rf_gradient) {
  enum { D = 5, N = 12, B = 9 };
  lethe_rng rng;
  lethe_rng_seed(&rng, 7);
  rf_model m;
  rf_init(&m, D, N, &rng);
  double x[B * D], phi[B * N], w[B], u[B * RF_CLASSES];
  int32_t y[B];
  for (int i = 0; i < B * D; i++) x[i] = lethe_rng_normal(&rng);
  for (int k = 0; k < N; k++) m.theta[k] = 0.7 * lethe_rng_normal(&rng);
  for (int b = 0; b < B; b++) {
    y[b] = b == 3 ? -1 : (int32_t)(b % 2); /* one row without a target */
    w[b] = lethe_rng_normal(&rng);
    for (int v = 0; v < RF_CLASSES; v++) u[b * RF_CLASSES + v] = 0.3 * lethe_rng_normal(&rng);
  }
  rf_features(&m, x, B, phi);
  for (int b = 0; b < B; b++) /* features are ReLU(Wx) */
    for (int k = 0; k < N; k++) {
      double z = 0;
      for (int j = 0; j < D; j++) z += m.W[k * D + j] * x[b * D + j];
      ck_assert_double_eq_tol(phi[b * N + k], z > 0 ? z : 0, 1e-12);
    }
  probe_loss(&m, phi, B, y, w, u);
  rf_dlogits_from_dlogp(&m, y, w, u);
  rf_zero_grad(&m);
  rf_backward(&m);
  double grad[N];
  memcpy(grad, m.grad, sizeof grad);
  for (int k = 0; k < N; k++) {
    double keep = m.theta[k], h = 1e-5;
    m.theta[k] = keep + h;
    double up = probe_loss(&m, phi, B, y, w, u);
    m.theta[k] = keep - h;
    double down = probe_loss(&m, phi, B, y, w, u);
    m.theta[k] = keep;
    double fd = (up - down) / (2 * h);
    ck_assert_msg(fabs(fd - grad[k]) <= 1e-7 * fmax(1.0, fabs(fd)), "θ[%d]: backward %.12g, FD %.12g",
                  k, grad[k], fd);
  }
  /* GD moves against the gradient */
  double before = m.theta[0];
  rf_gd_step(&m, 0.5);
  ck_assert_double_eq_tol(m.theta[0], before - 0.5 * grad[0], 1e-15);
  rf_free(&m);
}
END_TEST

START_TEST(test_rf_log_probs_extreme) {
  lethe_rng rng;
  lethe_rng_seed(&rng, 1);
  rf_model m;
  rf_init(&m, 1, 1, &rng);
  double phi[4] = {0.0, 1.0, 800.0, 1e-3}, out[8];
  m.theta[0] = -2.0;
  rf_forward(&m, phi, 4);
  rf_log_softmax(&m, out);
  for (int b = 0; b < 4; b++) {
    ck_assert(isfinite(out[2 * b]) && isfinite(out[2 * b + 1]));
    ck_assert_double_eq_tol(exp(out[2 * b]) + exp(out[2 * b + 1]), 1.0, 1e-12);
  }
  ck_assert_double_eq_tol(out[0], log(0.5), 1e-15);
  ck_assert_double_eq_tol(out[4], -1600.0, 1e-9); /* logit −1600 vs 0 */
  rf_free(&m);
}
END_TEST

/* ---- the same .so on both backends --------------------------------------------- */

/* Loads lethe_NAME.so by path, with β and the DPO retain term set. */
static void open_plugin(method_spec *ms, const char *name) {
  char path[1024];
  lethe_err err = {0};
  snprintf(path, sizeof path, "%s/lethe_%s.so", METHOD_PLUGIN_DIR, name);
  memset(ms, 0, sizeof *ms);
  ck_assert_msg(method_plugin_open(&ms->plugin, path, &err) == 0, "%s", err.msg);
  ms->params = method_params_new(ms->plugin.desc);
  const lethe_method_desc *d = ms->plugin.desc;
  for (uint32_t i = 0; i < d->n_params; i++) {
    const char *v = !strcmp(d->params[i].name, "beta") ? "0.5"
                    : !strcmp(d->params[i].name, "retain_coeff") ? "1.0" : NULL;
    if (v) ck_assert_msg(method_params_set(d, ms->params, d->params[i].name, v, "test", &err) == 0, "%s", err.msg);
  }
}

typedef struct first_eval {
  int n;
  double loss;
  synth_point p;
} first_eval;

static void keep_first(void *ctx, const synth_point *p, double loss, const synth_metric *m, int n) {
  (void)m, (void)n;
  first_eval *f = ctx;
  if (f->n++ == 0) f->loss = loss, f->p = *p;
}

START_TEST(test_plugins_run_on_both_backends) {
  const char *name = plugin_names[_i];
  method_spec ms;
  open_plugin(&ms, name);
  lethe_err err = {0};

  /* rf: a small setup, one step */
  synth_settings s;
  settings(&s, (const char *const[]){"synthetic.n_forget=20", "synthetic.n_retain=60",
                                     "synthetic.n_eval_forget=50", "synthetic.n_eval_retain=50",
                                     "synthetic.pretrain_steps=2000", "synthetic.pretrain_tol=0",
                                     "synthetic.steps=1", "synthetic.lr=0.1", NULL});
  synth_setup su;
  ck_assert_msg(synth_setup_build(&su, &s, NULL, &err) == 0, "%s", err.msg);
  first_eval f = {0};
  rf_model after;
  ck_assert_msg(synth_unlearn(&su, &ms, keep_first, &f, &after, &err) == 0, "%s: %s", name, err.msg);
  ck_assert_int_eq(f.n, 2); /* steps 0 and 1 */
  ck_assert_msg(isfinite(f.loss), "%s: rf loss %g", name, f.loss);
  ck_assert_double_eq(f.p.forget_kl, 0.0); /* the run starts at the reference */
  double moved = 0;
  for (int k = 0; k < after.n_features; k++) moved += fabs(after.theta[k] - su.ref.theta[k]);
  ck_assert_msg(moved > 0, "%s: one rf step did not move θ", name);
  /* at θ = θ_ref, NPO-type losses equal (2/β) log 2 and DPO's margin is 0 */
  if (!strcmp(name, "npo")) ck_assert_double_eq_tol(f.loss, (2 / 0.5) * log(2.0), 1e-6);
  if (!strcmp(name, "ga")) {
    double mean_logp = 0;
    rf_forward(&su.ref, su.forget.phi, su.forget.n);
    double *lp = malloc(sizeof(double) * (size_t)su.forget.n);
    rf_target_logp(&su.ref, su.forget.y, lp);
    for (int i = 0; i < su.forget.n; i++) mean_logp += lp[i] / su.forget.n;
    free(lp);
    ck_assert_double_eq_tol(f.loss, mean_logp, 1e-6);
  }
  rf_free(&after);
  synth_setup_free(&su);

  /* Llama: the same loaded plugin through the trainer's objective */
  char dir[512], path[700];
  snprintf(dir, sizeof dir, "%s/llama-tiny", LETHE_TEST_DATA);
  llama_model policy, ref;
  snprintf(path, sizeof path, "%s/model", dir);
  ck_assert_msg(llama_load(&policy, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/ref_model", dir);
  ck_assert_msg(llama_load(&ref, path, &err) == 0, "%s", err.msg);
  token_batch parts[3], batch;
  const char *names[3] = {"forget", "retain", "idk"};
  const token_batch *stack[3];
  for (int k = 0; k < 3; k++) {
    snprintf(path, sizeof path, "%s/%s.jsonl", dir, names[k]);
    ck_assert_msg(token_batch_read_jsonl(&parts[k], path, 0, &err) == 0, "%s", err.msg);
    stack[k] = &parts[k];
  }
  int row0[3], nrows[3];
  token_batch_stack(&batch, stack, 3, 0, 0, row0, nrows);
  lethe_segment seg[3];
  for (int k = 0; k < 3; k++) seg[k].row0 = row0[k], seg[k].nrows = nrows[k];
  method_instance inst;
  objective obj;
  ck_assert_msg(method_instance_create(&inst, &ms.plugin, ms.params, NULL, &err) == 0, "%s", err.msg);
  ck_assert_msg(objective_init(&obj, &policy, &ref, &inst, &err) == 0, "%s", err.msg);
  llama_zero_grads(&policy);
  double loss;
  ck_assert_msg(objective_step(&obj, &batch, seg, NULL, 0, 1, 1.0, &loss, &err) == 0, "%s: %s",
                name, err.msg);
  ck_assert_msg(isfinite(loss), "%s: llama loss %g", name, loss);
  llama_tensor_ref refs[512];
  int n = llama_named_tensors(&policy, LLAMA_OF_GRADS, refs, 512);
  double gsum = 0;
  for (int i = 0; i < n; i++) {
    size_t numel = (size_t)refs[i].shape[0] * (refs[i].ndim == 2 ? refs[i].shape[1] : 1);
    for (size_t j = 0; j < numel; j++) gsum += fabs(refs[i].data[j]);
  }
  ck_assert_msg(isfinite(gsum) && gsum > 0, "%s: llama gradient sum %g", name, gsum);
  objective_free(&obj);
  method_instance_destroy(&inst);
  for (int k = 0; k < 3; k++) token_batch_free(&parts[k]);
  token_batch_free(&batch);
  llama_free(&policy);
  llama_free(&ref);
  method_spec_free(&ms);
}
END_TEST

/* ---- the paper's setting: starting point, GA vs NPO, float32 view --------------- */

typedef struct trace {
  int n;
  synth_point p[128];
} trace;

static void keep_all(void *ctx, const synth_point *p, double loss, const synth_metric *m, int n) {
  (void)loss, (void)m, (void)n;
  trace *t = ctx;
  if (t->n < 128) t->p[t->n++] = *p;
}

static void named_plugin(method_spec *ms, const char *name, const char *beta) {
  lethe_err err = {0};
  char over[64];
  snprintf(over, sizeof over, "method.beta=%s", beta);
  const char *const ov[] = {over};
  ck_assert_msg(method_spec_from_name(ms, name, METHOD_PLUGIN_DIR, ov, beta ? 1 : 0, &err) == 0,
                "%s", err.msg);
}

/* GA (β = 0) or NPO in double precision on the forget rows: the math the
 * plugins do in float32, written out. Returns θ after `steps` GD steps. */
static void double_reference_run(const synth_setup *su, double beta, double lr, int steps,
                                 double *theta) {
  int n = su->forget.n, N = su->ref.n_features;
  rf_model m;
  rf_copy(&m, &su->ref);
  double *ref_lp = malloc(sizeof(double) * n), *lp = malloc(sizeof(double) * n);
  double *g = malloc(sizeof(double) * n);
  rf_forward(&m, su->forget.phi, n);
  rf_target_logp(&m, su->forget.y, ref_lp);
  for (int t = 0; t < steps; t++) {
    rf_forward(&m, su->forget.phi, n);
    rf_target_logp(&m, su->forget.y, lp);
    for (int i = 0; i < n; i++) /* dL/dlogp */
      g[i] = beta > 0 ? 2.0 / n / (1.0 + exp(-beta * (lp[i] - ref_lp[i]))) : 1.0 / n;
    rf_dlogits_from_dlogp(&m, su->forget.y, g, NULL);
    rf_zero_grad(&m);
    rf_backward(&m);
    rf_gd_step(&m, lr);
  }
  memcpy(theta, m.theta, sizeof(double) * N);
  free(ref_lp), free(lp), free(g);
  rf_free(&m);
}

START_TEST(test_paper_setting) {
  synth_settings s;
  settings(&s, (const char *const[]){"synthetic.steps=2000", "synthetic.eval_every=25", NULL});
  synth_setup su;
  lethe_err err = {0};
  ck_assert_msg(synth_setup_build(&su, &s, NULL, &err) == 0, "%s", err.msg);
  ck_assert(su.ref_grad_norm < 1e-2 && su.retrained_grad_norm < 1e-2);

  method_spec ga, npo;
  named_plugin(&ga, "ga", NULL);
  named_plugin(&npo, "npo", "1.0");
  trace tg = {0}, tn = {0};
  su.s.lr = 5e-4;
  ck_assert_msg(synth_unlearn(&su, &ga, keep_all, &tg, NULL, &err) == 0, "%s", err.msg);
  su.s.lr = 5e-3;
  ck_assert_msg(synth_unlearn(&su, &npo, keep_all, &tn, NULL, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(tg.n, 81);
  /* the paper's starting point at α = 1: forget distance ≈ 1.70, retain ≈ 0.02 */
  ck_assert_msg(tg.p[0].forget_distance > 1.4 && tg.p[0].forget_distance < 2.0, "start forget %g",
                tg.p[0].forget_distance);
  ck_assert_msg(tg.p[0].retain_distance > 0.005 && tg.p[0].retain_distance < 0.04,
                "start retain %g", tg.p[0].retain_distance);
  /* GA's forget KL keeps growing; NPO's levels off at a moderate value */
  synth_point ga_end = tg.p[80], npo_end = tn.p[80], npo_mid = tn.p[60];
  ck_assert_msg(ga_end.forget_kl > 15, "GA forget KL at 2000: %g", ga_end.forget_kl);
  ck_assert_msg(ga_end.forget_kl > 1.5 * tg.p[48].forget_kl, "GA forget KL %g at 1200, %g at 2000",
                tg.p[48].forget_kl, ga_end.forget_kl);
  ck_assert_msg(npo_end.forget_kl > 2 && npo_end.forget_kl < 8, "NPO forget KL %g", npo_end.forget_kl);
  ck_assert_msg(npo_end.forget_kl < 1.1 * npo_mid.forget_kl, "NPO forget KL still growing");
  /* both forget; GA wrecks the retain distribution, NPO much less */
  ck_assert(npo_end.forget_distance < 0.005 && tg.p[48].forget_distance < 0.05);
  ck_assert_msg(ga_end.retain_distance > 0.5 && npo_end.retain_distance < 0.3,
                "retain distance GA %g, NPO %g", ga_end.retain_distance, npo_end.retain_distance);

  /* the float32 plugin view against the same math in double: 300 steps */
  int N = su.ref.n_features;
  double *want = malloc(sizeof(double) * N);
  const struct { method_spec *ms; double beta, lr; } cases[] = {{&ga, 0, 5e-4}, {&npo, 1.0, 5e-3}};
  for (int c = 0; c < 2; c++) {
    su.s.steps = 300, su.s.lr = cases[c].lr;
    rf_model got;
    ck_assert_msg(synth_unlearn(&su, cases[c].ms, NULL, NULL, &got, &err) == 0, "%s", err.msg);
    double_reference_run(&su, cases[c].beta, cases[c].lr, 300, want);
    double diff = 0, moved = 0;
    for (int k = 0; k < N; k++) {
      diff = fmax(diff, fabs(got.theta[k] - want[k]));
      moved = fmax(moved, fabs(want[k] - su.ref.theta[k]));
    }
    printf("float32 plugin view vs double, %s, 300 steps: max |Δθ| = %.3g (θ moved %.3g)\n",
           cases[c].beta > 0 ? "NPO" : "GA", diff, moved);
    ck_assert_msg(diff <= 1e-5 * moved, "θ differs by %g after moving %g", diff, moved);
    rf_free(&got);
  }
  free(want);
  method_spec_free(&ga);
  method_spec_free(&npo);
  synth_setup_free(&su);
}
END_TEST

/* ---- runs, determinism, the cache, the report ------------------------------------- */

static char *read_all(const char *dir, const char *file) {
  char *path = lethe_path_join(dir, file), *text;
  size_t len;
  lethe_err err = {0};
  ck_assert_msg(lethe_read_file(path, 1 << 26, &text, &len, &err) == 0, "%s", err.msg);
  free(path);
  return text;
}

/* A small, fast run into base/name; extra: more -s overrides (NULL-terminated). */
static void small_run(const char *base, const char *name, const char *const *extra) {
  const char *over[32] = {"synthetic.n_forget=30", "synthetic.n_retain=90",
                          "synthetic.n_eval_forget=100", "synthetic.n_eval_retain=100",
                          "synthetic.pretrain_steps=3000", "synthetic.steps=100",
                          "synthetic.eval_every=10", "synthetic.lr=5e-3",
                          "synthetic.pretrain_tol=0"};
  int n = 9;
  while (extra && *extra && n < 32) over[n++] = *extra++;
  char *dir = lethe_path_join(base, name);
  lethe_err err = {0};
  ck_assert_msg(synth_run(NULL, over, n, dir, 1, &err) == 0, "%s", err.msg);
  free(dir);
}

START_TEST(test_runs_are_deterministic) {
  char *base = temp_dir(), cache[600];
  snprintf(cache, sizeof cache, "cache_dir=%s/cache", base);
  small_run(base, "a", (const char *const[]){"synthetic.cache=false", "method.name=npo_rt", NULL});
  small_run(base, "b", (const char *const[]){cache, "method.name=npo_rt", NULL}); /* fills */
  small_run(base, "c", (const char *const[]){cache, "method.name=npo_rt", NULL}); /* reads */
  char *cfile = lethe_path_join(base, "cache/synthetic");
  ck_assert_msg(lethe_file_exists(cfile), "no cache directory %s", cfile);
  free(cfile);
  const char *files[] = {"history.jsonl", "summary.json"};
  for (int f = 0; f < 2; f++) {
    char pa[64], pb[64], pc[64];
    snprintf(pa, sizeof pa, "a/%s", files[f]);
    snprintf(pb, sizeof pb, "b/%s", files[f]);
    snprintf(pc, sizeof pc, "c/%s", files[f]);
    char *a = read_all(base, pa), *b = read_all(base, pb), *c = read_all(base, pc);
    ck_assert_msg(!strcmp(a, b) && !strcmp(b, c), "%s differs between runs", files[f]);
    free(a), free(b), free(c);
  }
  char *history = read_all(base, "a/history.jsonl"), *config = read_all(base, "a/config.cfg");
  ck_assert_ptr_nonnull(strstr(history, "\"step\":100,"));
  ck_assert_ptr_nonnull(strstr(history, "\"npo_weight_mean\""));
  ck_assert_ptr_nonnull(strstr(config, "retain_coeff = 1.0;")); /* the method's parameters */
  free(history), free(config);
  char *done = lethe_path_join(base, "a/DONE");
  ck_assert(lethe_file_exists(done));
  free(done);
  remove_tree(base);
  free(base);
}
END_TEST

/* The config loader's and the settings reader's errors. Configuration
 * errors (checked = 1) are synth_check's too, with the same message and
 * nothing written; others (checked = 0) only show when the run runs. */
static void expect_error(const char *file_text, const char *override, const char *needle, int checked) {
  char *base = temp_dir(), *path = lethe_path_join(base, "x.cfg"), *out = lethe_path_join(base, "run");
  lethe_err err = {0}, check_err = {0};
  if (file_text) ck_assert(lethe_write_file_atomic(path, file_text, strlen(file_text), &err) == 0);
  const char *over[] = {override};
  int n_over = override ? 1 : 0;
  ck_assert_int_eq(synth_check(file_text ? path : NULL, over, n_over, &check_err), checked ? -1 : 0);
  ck_assert(!lethe_file_exists(out));
  ck_assert_int_ne(synth_run(file_text ? path : NULL, over, n_over, out, 1, &err), 0);
  ck_assert_msg(strstr(err.msg, needle), "error '%s' does not mention '%s'", err.msg, needle);
  if (checked) ck_assert_str_eq(check_err.msg, err.msg);
  remove_tree(base);
  free(base), free(path), free(out);
}

START_TEST(test_config_errors) {
  expect_error("kind = \"synthetic\";\nsynthetic = { alpah = 1.0; };\n", NULL, "x.cfg:2", 1);
  expect_error("kind = \"tofu\";\n", NULL, "kind = \"tofu\"", 1);
  expect_error(NULL, "synthetic.steps=-5", "synthetic.steps = -5", 1);
  expect_error(NULL, "synthetic.lr=fast", "synthetic.lr", 1);
  expect_error(NULL, "method.name=no_such_method", "no_such_method", 1);
  expect_error(NULL, "method.params.beta=-1", "beta", 1);
  expect_error(NULL, "synthetic.pretrain_steps=10", "did not converge", 0);
  lethe_err err = {0};
  ck_assert_msg(synth_check(NULL, NULL, 0, &err) == 0, "%s", err.msg); /* the defaults */
}
END_TEST

/* A method's label is its plugin's title, with "+RT" when a title without an
 * added term runs with a retain term. */
static void expect_label(const char *name, const char *override, const char *label) {
  method_spec ms = {0};
  lethe_err err = {0};
  const char *over[] = {override};
  ck_assert_msg(method_spec_from_name(&ms, name, NULL, over, override ? 1 : 0, &err) == 0, "%s",
                err.msg);
  char buf[64];
  ck_assert_str_eq(synth_method_label(&ms, buf, sizeof buf), label);
  method_spec_free(&ms);
}

START_TEST(test_method_labels) {
  expect_label("ga", NULL, "GA");
  expect_label("npo_rt", NULL, "NPO+RT");
  expect_label("grad_diff", "method.retain_coeff=2", "GA+RT");
  expect_label("dpo", NULL, "DPO");
  expect_label("dpo", "method.retain_coeff=1", "DPO+RT");
  expect_label("simnpo", "method.retain_coeff=0.5", "SimNPO+RT");
}
END_TEST

START_TEST(test_report) {
  char *base = temp_dir();
  const char *names[] = {"s1_ga", "s2_ga", "s1_npo", "s2_npo", "s1_x"};
  const char *const runs[][5] = {
      {"synthetic.seed=1", "method.name=ga", "synthetic.figure=fig4", NULL},
      {"synthetic.seed=2", "method.name=ga", "synthetic.figure=fig4", NULL},
      {"synthetic.seed=1", "method.name=npo", "method.beta=0.5", "synthetic.figure=fig3", NULL},
      {"synthetic.seed=2", "method.name=npo", "method.beta=0.5", "synthetic.figure=fig3", NULL},
      {"synthetic.seed=1", "method.name=idk", "synthetic.alpha=0", NULL},
  };
  for (int r = 0; r < 5; r++) small_run(base, names[r], runs[r]);
  char *html = lethe_path_join(base, "r.html"), *csv = lethe_path_join(base, "r.csv");
  lethe_err err = {0};
  ck_assert_msg(synth_report(base, html, csv, &err) == 0, "%s", err.msg);
  char *h = read_all(base, "r.html"), *c = read_all(base, "r.csv");
  ck_assert_ptr_nonnull(strstr(h, "Figure 4"));
  ck_assert_ptr_nonnull(strstr(h, "Figure 9"));
  ck_assert_ptr_nonnull(strstr(h, "Figure 3"));
  ck_assert_ptr_nonnull(strstr(h, "NPO β=0.5"));
  ck_assert_ptr_nonnull(strstr(h, "other runs"));
  /* each method in its plugin's colour (summary.json's "colour"), drawn by svg.c */
  ck_assert_ptr_nonnull(strstr(h, "<polyline fill=\"none\" stroke=\"#d55e00\""));
  ck_assert_ptr_nonnull(strstr(h, "<polyline fill=\"none\" stroke=\"#56b4e9\""));
  ck_assert_ptr_nonnull(strstr(h, "<polygon fill=\"#d55e00\" fill-opacity=\"0.18\""));
  ck_assert_ptr_null(strstr(h, "<script")); /* self-contained: no scripts, nothing fetched */
  ck_assert_ptr_null(strstr(h, "src="));
  ck_assert_ptr_nonnull(strstr(c, "figure,alpha,method,beta,lr,steps,seeds,metric,step,mean"));
  ck_assert_ptr_nonnull(strstr(c, "fig4,1,GA,,0.005,100,2,forget_distance,0,"));
  /* a second report of the same runs is byte-identical */
  char *html2 = lethe_path_join(base, "r2.html");
  ck_assert_msg(synth_report(base, html2, csv, &err) == 0, "%s", err.msg);
  char *h2 = read_all(base, "r2.html");
  ck_assert(!strcmp(h, h2));
  free(h), free(h2), free(c), free(html), free(html2), free(csv);
  /* an empty directory is an error */
  char *empty = lethe_path_join(base, "empty"), *x = lethe_path_join(base, "x.html");
  ck_assert(lethe_mkdir_p(empty, &err) == 0);
  ck_assert_int_ne(synth_report(empty, x, x, &err), 0);
  ck_assert_ptr_nonnull(strstr(err.msg, "no synthetic runs"));
  free(empty), free(x);
  remove_tree(base);
  free(base);
}
END_TEST

int main(void) {
  Suite *s = suite_create("synthetic");
  TCase *tc = tcase_create("synthetic");
  tcase_set_timeout(tc, 300);
  tcase_add_test(tc, test_rf_gradient);
  tcase_add_test(tc, test_rf_log_probs_extreme);
  tcase_add_loop_test(tc, test_plugins_run_on_both_backends, 0, N_PLUGINS);
  tcase_add_test(tc, test_paper_setting);
  tcase_add_test(tc, test_runs_are_deterministic);
  tcase_add_test(tc, test_config_errors);
  tcase_add_test(tc, test_method_labels);
  tcase_add_test(tc, test_report);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
