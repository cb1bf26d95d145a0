/* stats — means and the two-sample Kolmogorov–Smirnov test (see stats.h).
 *
 * The exact p-value counts monotone lattice paths from (0, 0) to (n1, n2)
 * that leave the band |x/n1 - y/n2| < D (Hodges 1958). Two counts are used,
 * as in SciPy 1.10: for n1 == n2 a closed alternating sum of binomial ratios,
 * evaluated Horner-style; otherwise a column-by-column recursion that carries
 * the probability of having already left the band (Viehmann 2021), which
 * keeps every number in [0, 1]. The asymptotic fall-back is in ks_dist.c. */
#include "metrics/stats.h"

#include <math.h>
#include <stdlib.h>

/* ---- means -------------------------------------------------------------- */

double stats_mean(const double *x, size_t n) {
  if (n == 0) return NAN;
  double sum = 0.0;
  for (size_t i = 0; i < n; i++) sum += x[i];
  return sum / (double)n;
}

int stats_hmean(const double *x, size_t n, double *out, lethe_err *err) {
  if (n == 0) return lethe_errf(err, LETHE_E_NUMERIC, "harmonic mean of no values");
  double inv_sum = 0.0;
  int has_zero = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(x[i]) || x[i] < 0)
      return lethe_errf(err, LETHE_E_NUMERIC,
                        "harmonic mean: value %zu is %g (must be >= 0)", i, x[i]);
    if (x[i] == 0) has_zero = 1;
    else inv_sum += 1.0 / x[i];
  }
  /* 1 / mean(1/x): a zero gives an infinite mean of reciprocals, hence 0. */
  *out = has_zero ? 0.0 : 1.0 / (inv_sum / (double)n);
  return 0;
}

/* ---- exact two-sided p-values ----------------------------------------- */

/* P(D >= h/n) for two samples of equal size n: 2 * sum_k (-1)^(k+1)
 * C(2n, n - k h) / C(2n, n), written as 2 A1 (1 - A2 (1 - A3 (...))) where
 * A_k = C(2n, n - k h) / C(2n, n - (k-1) h), each a product of h ratios. */
static double ks_equal_size_tail(int64_t n, int64_t h) {
  double total = 0.0;
  for (int64_t k = (int64_t)floor((double)n / (double)h); k >= 0; k--) {
    double ratio = 1.0;
    for (int64_t j = 0; j < h; j++)
      ratio = (double)(n - k * h - j) * ratio / (double)(n + k * h + j + 1);
    total = ratio * (1.0 - total);
  }
  return 2.0 * total;
}

/* P(D >= h/lcm) for sizes m, n with gcd g. Walks the lattice column by
 * column (x = 0..m, larger size on x), keeping for the cells y inside the
 * band |n x - m y| < h g only (a sliding window [lo, hi)) the probability
 * that a uniformly random path through (x, y) has already left the band.
 * Cells outside the band count as "left" (value 1). */
static double ks_unequal_size_tail(int64_t m, int64_t n, int64_t g, int64_t h) {
  if (m < n) {
    int64_t t = m;
    m = n;
    n = t;
  }
  const int64_t m_g = m / g, n_g = n / g;
  int64_t lo = 0, hi = (int64_t)ceil((double)h / (double)m_g);
  if (hi > n + 1) hi = n + 1;
  int64_t width = hi - lo;
  double *col = lethe_malloc((size_t)(n + 2) * sizeof *col); /* (n + 2) */
  for (int64_t j = 0; j < n + 2; j++) col[j] = j < hi ? 0.0 : 1.0;
  double result = 1.0; /* if the band closes, every path has left it */
  int band_empty = 0;
  for (int64_t x = 1; x <= m; x++) {
    const int64_t prev_lo = lo, prev_width = width;
    lo = (int64_t)floor((double)(n_g * x - h) / (double)m_g) + 1;
    if (lo < 0) lo = 0;
    if (lo > n) lo = n;
    hi = (int64_t)ceil((double)(n_g * x + h) / (double)m_g);
    if (hi > n + 1) hi = n + 1;
    if (hi <= lo) {
      band_empty = 1;
      break;
    }
    /* Below the window (lo > 0) the cell is outside the band: value 1. */
    double below = lo == 0 ? 0.0 : 1.0;
    for (int64_t k = 0; k < hi - lo; k++) {
      const int64_t y = lo + k;
      /* A path reaches (x, y) from (x-1, y) with weight x/(x+y) and from
       * (x, y-1) with weight y/(x+y). */
      below = (col[k + lo - prev_lo] * (double)x + below * (double)y) / (double)(x + y);
      col[k] = below;
    }
    width = hi - lo;
    /* Cells that slid out of the window above it are outside the band. */
    for (int64_t k = width; k < prev_width; k++) col[k] = 1.0;
  }
  if (!band_empty) result = col[hi - lo - 1];
  free(col);
  return result;
}

static int64_t gcd_i64(int64_t a, int64_t b) {
  while (b) {
    int64_t t = a % b;
    a = b;
    b = t;
  }
  return a;
}

/* ---- order ------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  if (isnan(x) || isnan(y)) return isnan(x) - isnan(y); /* NaNs last */
  return (x > y) - (x < y);
}

void stats_sort(double *x, size_t n) {
  if (n > 1) qsort(x, n, sizeof *x, cmp_double);
}

double stats_median_sort(double *x, size_t n) {
  if (n == 0) return NAN;
  stats_sort(x, n);
  return n % 2 ? x[n / 2] : 0.5 * (x[n / 2 - 1] + x[n / 2]);
}

/* ---- the test ----------------------------------------------------------- */

static double *sorted_copy(const double *v, size_t n) {
  double *s = lethe_malloc(n * sizeof *s);
  for (size_t i = 0; i < n; i++) s[i] = v[i];
  stats_sort(s, n);
  return s;
}

/* D as ks_2samp computes it: the pooled values are every value of both
 * samples; at each, the difference of the right-continuous empirical CDFs
 * (count of values <= v, divided by the sample size). D is the larger of
 * max(diff) and max(-diff) clipped to [0, 1]. */
static double ks_statistic(const double *a, size_t na, const double *b, size_t nb) {
  double max_diff = -INFINITY, min_diff = INFINITY;
  size_t ia = 0, ib = 0;
  while (ia < na || ib < nb) {
    double v = ib == nb || (ia < na && a[ia] <= b[ib]) ? a[ia] : b[ib];
    while (ia < na && a[ia] <= v) ia++;
    while (ib < nb && b[ib] <= v) ib++;
    double diff = (double)ia / (double)na - (double)ib / (double)nb;
    if (diff > max_diff) max_diff = diff;
    if (diff < min_diff) min_diff = diff;
  }
  double neg = -min_diff;
  if (neg < 0) neg = 0;
  if (neg > 1) neg = 1;
  return neg > max_diff ? neg : max_diff;
}

int stats_ks_2samp(const double *x, size_t nx, const double *y, size_t ny,
                   stats_ks_method method, stats_ks_result *out, lethe_err *err) {
  if (nx == 0 || ny == 0)
    return lethe_errf(err, LETHE_E_NUMERIC, "KS test: sample %d is empty", nx == 0 ? 1 : 2);
  for (size_t i = 0; i < nx + ny; i++) {
    double v = i < nx ? x[i] : y[i - nx];
    if (isnan(v))
      return lethe_errf(err, LETHE_E_NUMERIC, "KS test: value %zu of sample %d is NaN",
                        i < nx ? i : i - nx, i < nx ? 1 : 2);
  }
  double *a = sorted_copy(x, nx), *b = sorted_copy(y, ny);
  double d = ks_statistic(a, nx, b, ny);
  free(a);
  free(b);

  const int64_t n1 = (int64_t)nx, n2 = (int64_t)ny, g = gcd_i64(n1, n2);
  int exact = 0;
  if (method == STATS_KS_AUTO) {
    exact = (n1 > n2 ? n1 : n2) <= 10000;
  } else if (method == STATS_KS_EXACT) {
    /* SciPy gives up on the exact count when lcm(n1, n2) may overflow int32. */
    exact = (double)(n1 / g) < 2147483647.0 / (double)(n2 / g);
  }
  double p = NAN;
  if (exact) {
    const int64_t lcm = (n1 / g) * n2;
    const int64_t h = (int64_t)nearbyint(d * (double)lcm);
    d = (double)h / (double)lcm;
    if (h == 0) p = 1.0;
    else if (n1 == n2) p = ks_equal_size_tail(n1, h);
    else p = ks_unequal_size_tail(n1, n2, g, h);
    /* A rounding error can push the count just outside [0, 1]; SciPy then
     * switches to the asymptotic p-value (with D already on the lattice). */
    if (!(p >= 0.0 && p <= 1.0)) exact = 0;
  }
  if (!exact) {
    double big = (double)(n1 > n2 ? n1 : n2), small = (double)(n1 > n2 ? n2 : n1);
    double effective_n = nearbyint(big * small / (big + small));
    p = effective_n >= 1 ? stats_kstwo_sf(d, (int64_t)effective_n) : NAN;
  }
  if (p < 0) p = 0;
  if (p > 1) p = 1;
  out->statistic = d;
  out->pvalue = p;
  out->exact = exact;
  return 0;
}

/* ---- exact paired tests ------------------------------------------------- */

double stats_sign_test_greater(size_t k, size_t n) {
  if (k == 0) return 1.0;
  if (k > n) return 0.0;
  /* sum_{i=k..n} C(n, i) / 2^n, each term from lgamma (n is a seed count) */
  double p = 0.0;
  for (size_t i = k; i <= n; i++)
    p += exp(lgamma((double)n + 1) - lgamma((double)i + 1) - lgamma((double)(n - i) + 1) -
             (double)n * log(2.0));
  return p > 1.0 ? 1.0 : p;
}

static int abs_less(const void *a, const void *b) {
  double x = fabs(*(const double *)a), y = fabs(*(const double *)b);
  return (x > y) - (x < y);
}

int stats_wilcoxon_exact(const double *d, size_t n, stats_signed_rank *out, lethe_err *err) {
  *out = (stats_signed_rank){0.0, 1.0, 1.0, 0};
  double *nz = lethe_malloc((n ? n : 1) * sizeof *nz); /* (n) the non-zero differences */
  size_t m = 0;
  for (size_t i = 0; i < n; i++) {
    if (isnan(d[i])) {
      free(nz);
      return lethe_errf(err, LETHE_E_NUMERIC, "signed-rank test: difference %zu is NaN", i);
    }
    if (d[i] != 0.0) nz[m++] = d[i];
  }
  qsort(nz, m, sizeof *nz, abs_less);
  /* Doubled mid-ranks are integers: rank2[i] = 2 × the mean rank of |nz[i]|'s ties. */
  long *rank2 = lethe_malloc((m ? m : 1) * sizeof *rank2); /* (m) */
  long w2 = 0, total2 = 0;
  for (size_t i = 0; i < m;) {
    size_t j = i;
    while (j < m && fabs(nz[j]) == fabs(nz[i])) j++;
    for (size_t k = i; k < j; k++) rank2[k] = (long)(i + 1 + j); /* 2 × (i+1 + j)/2 */
    i = j;
  }
  for (size_t i = 0; i < m; i++) {
    total2 += rank2[i];
    if (nz[i] > 0) w2 += rank2[i];
  }
  /* prob[s]: P(2 W+ = s) under random signs, built one rank at a time. */
  double *prob = lethe_calloc((size_t)total2 + 1, sizeof *prob); /* (total2 + 1) */
  prob[0] = 1.0;
  long reach = 0;
  for (size_t i = 0; i < m; i++) {
    for (long s = reach + rank2[i]; s >= 0; s--)
      prob[s] = 0.5 * prob[s] + (s >= rank2[i] ? 0.5 * prob[s - rank2[i]] : 0.0);
    reach += rank2[i];
  }
  double greater = 0.0, less = 0.0;
  for (long s = 0; s <= total2; s++) {
    if (s >= w2) greater += prob[s];
    if (s <= w2) less += prob[s];
  }
  out->statistic = 0.5 * (double)w2;
  out->n = m;
  if (m) {
    out->p_greater = greater > 1.0 ? 1.0 : greater;
    out->p_less = less > 1.0 ? 1.0 : less;
  }
  free(prob);
  free(rank2);
  free(nz);
  return 0;
}
