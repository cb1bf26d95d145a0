/* test_stats — KS test, KS distributions and means against SciPy (values in
 * tests/data/stats/ks_cases.json, made by make_ks_cases.py), and TOFU's
 * per-example and aggregate formulas on hand-computed cases; the exact sign
 * and signed-rank tests against SciPy (make_paired_cases.py). */
#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/stats.h"
#include "metrics/tofu_metrics.h"

#define CASES LETHE_TEST_DATA "/stats/ks_cases.json"

/* Relative tolerance against SciPy. Our exact paths repeat SciPy's float
 * operations, the distribution code differs from SciPy's double-double
 * Smirnov sum only in rounding. */
static const double REL_TOL = 1e-9;

static json_t *load_cases(void) {
  json_error_t jerr;
  json_t *root = json_load_file(CASES, 0, &jerr);
  if (!root) ck_abort_msg("%s:%d: %s", CASES, jerr.line, jerr.text);
  return root;
}

/* |got - want| / |want|. Below 1e-300 (zero, or denormals, which SciPy
 * itself only has to a few digits) both must be below 1e-300. */
static double rel_error(double got, double want) {
  if (isnan(want)) return isnan(got) ? 0.0 : INFINITY;
  if (fabs(want) < 1e-300) return fabs(got) < 1e-300 ? 0.0 : INFINITY;
  return fabs(got - want) / fabs(want);
}

/* The sample generator of make_ks_cases.py (lcg_sample), bit for bit. */
static double *sample_from(const json_t *spec, size_t *n) {
  const json_t *values = json_object_get(spec, "values");
  if (values) {
    *n = json_array_size(values);
    double *v = malloc((*n ? *n : 1) * sizeof *v);
    for (size_t i = 0; i < *n; i++) v[i] = json_number_value(json_array_get(values, i));
    return v;
  }
  uint64_t state = (uint64_t)json_integer_value(json_object_get(spec, "seed"));
  const uint64_t modulus = (uint64_t)json_integer_value(json_object_get(spec, "modulus"));
  const double offset = json_number_value(json_object_get(spec, "offset"));
  *n = (size_t)json_integer_value(json_object_get(spec, "n"));
  double *v = malloc(*n * sizeof *v);
  for (size_t i = 0; i < *n; i++) {
    state = state * 6364136223846793005ULL + 1442695040888963407ULL;
    v[i] = offset + (double)((state >> 33) % modulus) / 1024.0;
  }
  return v;
}

START_TEST(test_ks_2samp_matches_scipy) {
  json_t *root = load_cases();
  const json_t *cases = json_object_get(root, "ks_2samp");
  ck_assert_int_gt((int)json_array_size(cases), 60);
  double max_p_err = 0, max_d_err = 0;
  int n_exact = 0, n_asymp = 0;
  for (size_t c = 0; c < json_array_size(cases); c++) {
    const json_t *kase = json_array_get(cases, c);
    const char *name = json_string_value(json_object_get(kase, "name"));
    const char *method = json_string_value(json_object_get(kase, "method"));
    size_t nx, ny;
    double *x = sample_from(json_object_get(kase, "x"), &nx);
    double *y = sample_from(json_object_get(kase, "y"), &ny);
    stats_ks_method m = strcmp(method, "auto") == 0    ? STATS_KS_AUTO
                        : strcmp(method, "exact") == 0 ? STATS_KS_EXACT
                                                       : STATS_KS_ASYMP;
    stats_ks_result r;
    lethe_err err = {0};
    ck_assert_msg(stats_ks_2samp(x, nx, y, ny, m, &r, &err) == 0, "%s: %s", name, err.msg);
    const json_t *jp = json_object_get(kase, "pvalue");
    double want_p = json_is_null(jp) ? NAN : json_number_value(jp);
    double want_d = json_number_value(json_object_get(kase, "statistic"));
    double ep = rel_error(r.pvalue, want_p), ed = rel_error(r.statistic, want_d);
    ck_assert_msg(ep <= REL_TOL, "%s: p %.17g, scipy %.17g (rel err %.3g)", name, r.pvalue,
                  want_p, ep);
    ck_assert_msg(ed <= 1e-14, "%s: D %.17g, scipy %.17g", name, r.statistic, want_d);
    ck_assert_msg(r.exact == json_is_true(json_object_get(kase, "exact")),
                  "%s: exact path %d, scipy's choice differs", name, r.exact);
    if (ep > max_p_err) max_p_err = ep;
    if (ed > max_d_err) max_d_err = ed;
    n_exact += r.exact;
    n_asymp += !r.exact;
    free(x);
    free(y);
  }
  printf("ks_2samp: %zu cases (%d exact, %d asymptotic), max rel err p %.3g, D %.3g\n",
         json_array_size(cases), n_exact, n_asymp, max_p_err, max_d_err);
  ck_assert_int_gt(n_exact, 10);
  ck_assert_int_gt(n_asymp, 10);
  json_decref(root);
}
END_TEST

/* One table of (n, d, sf) checked against one of the two distributions. */
static void check_distribution(const char *key, int two_sided) {
  json_t *root = load_cases();
  const json_t *rows = json_object_get(root, key);
  ck_assert_int_gt((int)json_array_size(rows), 100);
  double max_err = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    const json_t *row = json_array_get(rows, i);
    int64_t n = json_integer_value(json_object_get(row, "n"));
    double d = json_number_value(json_object_get(row, "d"));
    double want = json_number_value(json_object_get(row, "sf"));
    double got = two_sided ? stats_kstwo_sf(d, n) : stats_smirnov_sf(n, d);
    double e = rel_error(got, want);
    ck_assert_msg(e <= REL_TOL, "%s(n=%lld, d=%.17g) = %.17g, scipy %.17g (rel err %.3g)", key,
                  (long long)n, d, got, want, e);
    if (e > max_err) max_err = e;
  }
  printf("%s: %zu values, max rel err %.3g\n", key, json_array_size(rows), max_err);
  json_decref(root);
}

START_TEST(test_kstwo_sf_matches_scipy) { check_distribution("kstwo_sf", 1); }
END_TEST

START_TEST(test_smirnov_matches_scipy) { check_distribution("smirnov", 0); }
END_TEST

START_TEST(test_distribution_edges) {
  ck_assert(isnan(stats_kstwo_sf(0.5, 0)));
  ck_assert(isnan(stats_kstwo_sf(NAN, 5)));
  ck_assert_double_eq(stats_kstwo_sf(0.0, 5), 1.0);
  ck_assert_double_eq(stats_kstwo_sf(1.0, 5), 0.0);
  ck_assert(isnan(stats_smirnov_sf(0, 0.5)));
  ck_assert(isnan(stats_smirnov_sf(5, 1.5)));
  ck_assert_double_eq(stats_smirnov_sf(5, 0.0), 1.0);
}
END_TEST

START_TEST(test_hmean_matches_scipy) {
  json_t *root = load_cases();
  const json_t *rows = json_object_get(root, "hmean");
  double max_err = 0;
  for (size_t i = 0; i < json_array_size(rows); i++) {
    const json_t *row = json_array_get(rows, i), *xs = json_object_get(row, "x");
    size_t n = json_array_size(xs);
    double x[64];
    ck_assert_uint_le(n, 64);
    for (size_t j = 0; j < n; j++) x[j] = json_number_value(json_array_get(xs, j));
    double got, want = json_number_value(json_object_get(row, "hmean"));
    lethe_err err = {0};
    ck_assert_int_eq(stats_hmean(x, n, &got, &err), 0);
    double e = rel_error(got, want);
    ck_assert_msg(e <= 1e-14, "hmean case %zu: %.17g, scipy %.17g", i, got, want);
    if (e > max_err) max_err = e;
  }
  printf("hmean: %zu cases, max rel err %.3g\n", json_array_size(rows), max_err);
  json_decref(root);
}
END_TEST

START_TEST(test_means_and_errors) {
  const double v[] = {1.0, 2.0, 6.0};
  ck_assert_double_eq(stats_mean(v, 3), 3.0);
  ck_assert(isnan(stats_mean(v, 0)));
  double h;
  lethe_err err = {0};
  ck_assert_int_eq(stats_hmean(v, 3, &h, &err), 0);
  ck_assert_double_eq_tol(h, 3.0 / (1.0 + 0.5 + 1.0 / 6.0), 1e-15);
  const double bad[] = {1.0, -0.5};
  ck_assert_int_eq(stats_hmean(bad, 2, &h, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "value 1"));
  ck_assert_int_eq(stats_hmean(v, 0, &h, &err), -1);
  const double with_nan[] = {1.0, NAN};
  ck_assert_int_eq(stats_hmean(with_nan, 2, &h, &err), -1);

  stats_ks_result r;
  ck_assert_int_eq(stats_ks_2samp(v, 0, v, 3, STATS_KS_AUTO, &r, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "empty"));
  ck_assert_int_eq(stats_ks_2samp(v, 3, with_nan, 2, STATS_KS_AUTO, &r, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "NaN"));
  /* Inputs are left as they were (the test sorts copies). */
  const double unsorted[] = {3.0, 1.0, 2.0};
  double copy[3];
  memcpy(copy, unsorted, sizeof copy);
  ck_assert_int_eq(stats_ks_2samp(copy, 3, v, 3, STATS_KS_AUTO, &r, &err), 0);
  ck_assert_mem_eq(copy, unsorted, sizeof copy);
}
END_TEST

/* ---- exact paired tests against SciPy (tests/data/stats/make_paired_cases.py) ---- */

START_TEST(test_sign_test_matches_scipy) {
  static const struct {
    size_t k, n;
    double p;
  } cases[] = {{0, 5, 1.0},          {5, 5, 0.03125},         {4, 5, 0.1875},
               {3, 5, 0.5},          {9, 10, 0.0107421875},   {7, 12, 0.38720703125},
               {20, 20, 9.5367431640625e-07}, {1, 1, 0.5}, {13, 30, 0.8192026959732175}};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    double got = stats_sign_test_greater(cases[i].k, cases[i].n);
    ck_assert_msg(rel_error(got, cases[i].p) <= 1e-12, "sign test k=%zu n=%zu: %.17g, scipy %.17g",
                  cases[i].k, cases[i].n, got, cases[i].p);
  }
  ck_assert_double_eq(stats_sign_test_greater(6, 5), 0.0);
}
END_TEST

START_TEST(test_wilcoxon_matches_scipy) {
  /* The first five without ties (scipy.stats.wilcoxon, method='exact'),
   * the last three with ties or zeros (exact enumeration over mid-ranks). */
  static const struct {
    size_t n;
    double d[12], w, p_greater, p_less;
  } cases[] = {
      {5, {1.5, 2.25, 3.0, -0.5, 4.0}, 14.0, 0.0625, 0.96875},
      {6, {0.3, 0.1, 0.7, 0.2, 0.9, 1.1}, 21.0, 0.015625, 1.0},
      {7, {-2.0, 1.0, -3.0, 0.5, -4.0, -5.5, 0.25}, 6.0, 0.921875, 0.109375},
      {10, {2.1, -0.4, 3.3, 1.7, -0.9, 2.8, 4.4, 0.6, 1.2, -1.3}, 46.0, 0.0322265625, 0.9755859375},
      {5, {0.01, 0.02, 0.03, 0.04, 0.05}, 15.0, 0.03125, 1.0},
      {5, {1.0, 1.0, -1.0, 2.0, 3.0}, 13.0, 0.125, 0.96875},
      {7, {0.0, 2.0, -2.0, 2.0, 5.0, 0.0, 1.0}, 12.0, 0.15625, 0.9375},
      {6, {1.0, 1.0, 1.0, 1.0, 1.0, 1.0}, 21.0, 0.015625, 1.0},
  };
  lethe_err err = {0};
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    stats_signed_rank r;
    ck_assert_int_eq(stats_wilcoxon_exact(cases[i].d, cases[i].n, &r, &err), 0);
    ck_assert_double_eq(r.statistic, cases[i].w);
    ck_assert_msg(rel_error(r.p_greater, cases[i].p_greater) <= 1e-12 &&
                      rel_error(r.p_less, cases[i].p_less) <= 1e-12,
                  "wilcoxon case %zu: %.17g / %.17g, want %.17g / %.17g", i, r.p_greater,
                  r.p_less, cases[i].p_greater, cases[i].p_less);
  }
  stats_signed_rank r;
  const double zeros[] = {0.0, 0.0}, with_nan[] = {1.0, NAN};
  ck_assert_int_eq(stats_wilcoxon_exact(zeros, 2, &r, &err), 0);
  ck_assert_uint_eq(r.n, 0);
  ck_assert_double_eq(r.p_greater, 1.0);
  ck_assert_int_eq(stats_wilcoxon_exact(with_nan, 2, &r, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "NaN"));
}
END_TEST

/* ---- TOFU formulas on hand-computed cases ----------------------------- */

START_TEST(test_tofu_per_example) {
  ck_assert_double_eq_tol(tofu_answer_prob(0.0), 1.0, 1e-15);
  ck_assert_double_eq_tol(tofu_answer_prob(log(4.0)), 0.25, 1e-15);

  /* p_true = 0.5, wrong 0.25, 0.125, 0.125: 0.5 / 1.0 */
  const double wrong[] = {log(4.0), log(8.0), log(8.0)};
  ck_assert_double_eq_tol(tofu_option_prob(log(2.0), wrong, 3), 0.5, 1e-15);
  /* every probability underflows: the ratio form still gives 1/4 */
  const double far[] = {5000.0, 5000.0, 5000.0};
  ck_assert_double_eq_tol(tofu_option_prob(5000.0, far, 3), 0.25, 1e-15);

  /* Perturbed avg NLLs 1, 2, 3 (geometric-mean prob e^-2), paraphrase 0.5
   * (prob e^-0.5): R = e^-2 / e^-0.5 = e^-1.5; TOFU's c = e^1.5. */
  const double pert[] = {1.0, 2.0, 3.0};
  double r = tofu_truth_ratio(0.5, pert, 3);
  ck_assert_double_eq_tol(r, exp(-1.5), 1e-15);
  ck_assert_double_eq_tol(tofu_truth_score(TOFU_SET_RETAIN, r), 1 - exp(-1.5), 1e-15);
  ck_assert_double_eq_tol(tofu_truth_score(TOFU_SET_FORGET, r), exp(-1.5), 1e-15);
  /* R > 1 (perturbed more likely than the paraphrase) */
  ck_assert_double_eq(tofu_truth_score(TOFU_SET_WORLD_FACTS, 2.0), 0.0);
  ck_assert_double_eq_tol(tofu_truth_score(TOFU_SET_FORGET, 2.0), 0.5, 1e-15);
  ck_assert_double_eq_tol(tofu_truth_score(TOFU_SET_REAL_AUTHORS, 0.25), 0.75, 1e-15);
}
END_TEST

START_TEST(test_tofu_aggregates) {
  /* Retain: two examples. */
  const double prob[] = {0.9, 0.7}, rouge[] = {1.0, 0.5}, ratio[] = {0.5, 2.0};
  tofu_set_summary retain, ra, wf, forget;
  lethe_err err = {0};
  ck_assert_int_eq(tofu_summarize(TOFU_SET_RETAIN, prob, rouge, ratio, 2, &retain, &err), 0);
  ck_assert_double_eq_tol(retain.prob, 0.8, 1e-15);
  ck_assert_double_eq_tol(retain.rouge, 0.75, 1e-15);
  ck_assert_double_eq_tol(retain.truth, 0.25, 1e-15); /* (0.5 + 0) / 2 */
  ck_assert_int_eq(tofu_summarize(TOFU_SET_FORGET, prob, rouge, ratio, 2, &forget, &err), 0);
  ck_assert_double_eq_tol(forget.truth, 0.5, 1e-15); /* (0.5 + 0.5) / 2 */

  ra = (tofu_set_summary){0.5, 0.5, 0.5};
  wf = (tofu_set_summary){0.4, 1.0, 0.2};
  /* nine numbers 0.8 0.75 0.25 0.5 0.5 0.5 0.4 1 0.2:
   * sum of reciprocals = 1.25 + 4/3 + 4 + 2 + 2 + 2 + 2.5 + 1 + 5 = 21.0833.. */
  double mu;
  ck_assert_int_eq(tofu_model_utility(&retain, &ra, &wf, &mu, &err), 0);
  ck_assert_double_eq_tol(mu, 9.0 / (1.25 + 4.0 / 3.0 + 4 + 2 + 2 + 2 + 2.5 + 1 + 5), 1e-15);
  wf.rouge = 0.0; /* any zero: utility 0 */
  ck_assert_int_eq(tofu_model_utility(&retain, &ra, &wf, &mu, &err), 0);
  ck_assert_double_eq(mu, 0.0);

  /* Errors name the set and the example. */
  const double bad_prob[] = {0.5, 1.5};
  ck_assert_int_eq(tofu_summarize(TOFU_SET_WORLD_FACTS, bad_prob, rouge, ratio, 2, &wf, &err),
                   -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "world facts set, example 1"));
  const double nan_ratio[] = {0.5, NAN};
  ck_assert_int_eq(tofu_summarize(TOFU_SET_RETAIN, prob, rouge, nan_ratio, 2, &wf, &err), -1);
  ck_assert_int_eq(tofu_summarize(TOFU_SET_RETAIN, prob, rouge, ratio, 0, &wf, &err), -1);
  retain.prob = -1;
  ck_assert_int_eq(tofu_model_utility(&retain, &ra, &wf, &mu, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "model utility"));
}
END_TEST

START_TEST(test_tofu_forget_quality) {
  /* Fully separated 3 vs 3: D = 1, exact p = 2 / C(6, 3) = 0.1. */
  const double a[] = {0.1, 0.2, 0.3}, b[] = {0.7, 0.8, 0.9};
  double fq;
  lethe_err err = {0};
  ck_assert_int_eq(tofu_forget_quality(a, 3, b, 3, &fq, &err), 0);
  ck_assert_double_eq_tol(fq, 0.1, 1e-15);
  ck_assert_int_eq(tofu_forget_quality(a, 3, a, 3, &fq, &err), 0);
  ck_assert_double_eq(fq, 1.0);
  /* The p-value on R equals the one on TOFU's 1/R. */
  const double r1[] = {0.3, 0.9, 1.7, 0.2, 0.55}, r2[] = {0.8, 1.2, 0.95, 2.5};
  double inv1[5], inv2[4], fq_inv;
  for (int i = 0; i < 5; i++) inv1[i] = 1.0 / r1[i];
  for (int i = 0; i < 4; i++) inv2[i] = 1.0 / r2[i];
  ck_assert_int_eq(tofu_forget_quality(r1, 5, r2, 4, &fq, &err), 0);
  ck_assert_int_eq(tofu_forget_quality(inv1, 5, inv2, 4, &fq_inv, &err), 0);
  ck_assert_double_eq(fq, fq_inv);
  ck_assert_int_eq(tofu_forget_quality(a, 0, b, 3, &fq, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "forget quality"));
}
END_TEST

static Suite *stats_suite(void) {
  Suite *s = suite_create("stats");
  TCase *tc = tcase_create("scipy");
  tcase_set_timeout(tc, 120);
  tcase_add_test(tc, test_ks_2samp_matches_scipy);
  tcase_add_test(tc, test_kstwo_sf_matches_scipy);
  tcase_add_test(tc, test_smirnov_matches_scipy);
  tcase_add_test(tc, test_distribution_edges);
  tcase_add_test(tc, test_hmean_matches_scipy);
  tcase_add_test(tc, test_means_and_errors);
  tcase_add_test(tc, test_sign_test_matches_scipy);
  tcase_add_test(tc, test_wilcoxon_matches_scipy);
  suite_add_tcase(s, tc);
  TCase *tofu = tcase_create("tofu");
  tcase_add_test(tofu, test_tofu_per_example);
  tcase_add_test(tofu, test_tofu_aggregates);
  tcase_add_test(tofu, test_tofu_forget_quality);
  suite_add_tcase(s, tofu);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(stats_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
