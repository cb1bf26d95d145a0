/* stats — the statistics behind lethe's evaluation.
 *
 * The two-sample Kolmogorov–Smirnov test with the semantics of SciPy 1.10's
 * scipy.stats.ks_2samp (two-sided; method 'auto', 'exact' or 'asymp'), the
 * distribution it falls back on (scipy.stats.kstwo, the one-sample two-sided
 * KS statistic, and scipy.special.smirnov, the one-sided one), and the plain
 * and harmonic means used by TOFU's aggregates, and the exact paired tests
 * the report's claims rest on (sign test, Wilcoxon signed-rank). Double
 * precision throughout.
 *
 * Every function here is pure: no globals, no I/O, safe to call from any
 * thread. Memory a function needs is allocated and freed inside the call.
 * The lattice-path counts and the distribution code live in ks_dist.c.
 * Not here: anything that knows about models, examples or files. */
#ifndef LETHE_EVAL_STATS_H
#define LETHE_EVAL_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* ---- means -------------------------------------------------------------- */

/* Arithmetic mean of x[0..n); NaN when n == 0. */
double stats_mean(const double *x, size_t n);

/* Sorts x[0..n) ascending in place (NaNs last) and returns its median: the
 * middle value, or the mean of the two middle values when n is even; NaN
 * when n == 0. */
double stats_median_sort(double *x, size_t n);
/* Sorts x[0..n) ascending in place, NaNs last. */
void stats_sort(double *x, size_t n);

/* Harmonic mean with scipy.stats.hmean's semantics: 1 / mean(1 / x).
 * Any zero makes the result 0 (1/0 = inf); an infinite value contributes 0
 * to the sum of reciprocals. Fails (returns -1, err filled) when n == 0 or a
 * value is negative or NaN, where scipy raises or returns NaN. */
int stats_hmean(const double *x, size_t n, double *out, lethe_err *err);

/* ---- two-sample Kolmogorov–Smirnov test --------------------------------- */

typedef enum stats_ks_method {
  STATS_KS_AUTO = 0,  /* scipy's default: exact if max(n1, n2) <= 10000, else asymptotic */
  STATS_KS_EXACT = 1, /* exact unless lcm(n1, n2) is too large (then asymptotic) */
  STATS_KS_ASYMP = 2  /* always the asymptotic distribution */
} stats_ks_method;

typedef struct stats_ks_result {
  /* D = max |F1(v) - F2(v)| over the pooled values v, empirical CDFs taken
   * with ties counted on the right (searchsorted side='right'). Whenever
   * the exact path is tried, D is rounded to the lattice, h / lcm(n1, n2),
   * as SciPy reports it. */
  double statistic;
  double pvalue; /* two-sided p-value, clipped to [0, 1] */
  int exact;     /* 1 if the exact lattice-path computation produced pvalue */
} stats_ks_result;

/* Two-sided two-sample KS test of x[0..nx) against y[0..ny) (the inputs are
 * not modified and need not be sorted). Follows scipy.stats.ks_2samp
 * (SciPy 1.10) step by step, including its fall-back from the exact to the
 * asymptotic p-value when the exact result is not a probability, and the
 * asymptotic p-value kstwo.sf(D, round(n1*n2/(n1+n2))) (NaN when that rounds
 * to 0, as SciPy). Fails on an empty sample or a NaN value. */
int stats_ks_2samp(const double *x, size_t nx, const double *y, size_t ny,
                   stats_ks_method method, stats_ks_result *out, lethe_err *err);

/* ---- KS distributions ------------------------------------------------------
 * Survival function P(D_n >= d) of the one-sample two-sided statistic D_n:
 * scipy.stats.kstwo.sf(d, n), computed with the same method choice (Simard &
 * L'Ecuyer 2011: Ruben–Gambino, Durbin's matrix, Pomeranz's recursion,
 * Pelz–Good, 2 * Smirnov). 1 for d <= 0.5/n, 0 for d >= 1; NaN for n < 1. */
double stats_kstwo_sf(double d, int64_t n);

/* Survival function P(D_n^+ >= d) of the one-sided statistic:
 * scipy.special.smirnov(n, d). NaN outside n >= 1, 0 <= d <= 1. */
double stats_smirnov_sf(int64_t n, double d);

/* ---- exact paired tests (one-sided) -------------------------------------- */

/* Exact sign test: P(X >= k) for X ~ Binomial(n, 1/2), i.e.
 * scipy.stats.binomtest(k, n, 0.5, alternative='greater').pvalue. 1 when
 * k == 0; 0 when k > n. */
double stats_sign_test_greater(size_t k, size_t n);

typedef struct stats_signed_rank {
  double statistic; /* W+: the sum of the (mid)ranks of |d| over d > 0 */
  double p_greater; /* P(W+ >= statistic): the differences tend to be > 0 */
  double p_less;    /* P(W+ <= statistic): the differences tend to be < 0 */
  size_t n;         /* non-zero differences the test used */
} stats_signed_rank;

/* Exact Wilcoxon signed-rank test of the paired differences d[0..n): zeros
 * are dropped (scipy's zero_method='wilcox'), the others ranked by |d| with
 * tied values sharing their mean rank, and both one-sided p-values taken
 * from the exact permutation distribution of W+ (each sign + or - with
 * probability 1/2). Without ties this is scipy.stats.wilcoxon(d,
 * alternative=..., method='exact'); with ties scipy 1.10 falls back to the
 * normal approximation, while this stays exact. With no non-zero
 * difference both p-values are 1. Fails on a NaN. d is not modified. */
int stats_wilcoxon_exact(const double *d, size_t n, stats_signed_rank *out, lethe_err *err);

#endif
