/* ks_dist — distributions of the Kolmogorov–Smirnov statistics (stats.h).
 *
 * stats_kstwo_sf is P(D_n >= d) for the one-sample two-sided statistic, with
 * the same choice of method by (n, d) as SciPy 1.10's scipy.stats.kstwo
 * (Simard & L'Ecuyer, "Computing the two-sided Kolmogorov-Smirnov
 * distribution", J. Stat. Softw. 39(11), 2011):
 *   n d <= 1            Ruben–Gambino closed form
 *   n d >= n - 1        2 (1 - d)^n
 *   d >= 1/2            2 P(D_n^+ >= d)   (the two tails cannot both occur)
 *   n <= 140            Durbin's matrix (n d^2 <= 0.754693), Pomeranz's
 *                       recursion (<= 4), else 2 P(D_n^+ >= d)
 *   n > 140             0 (n d^2 >= 370), 2 P(D_n^+ >= d) (>= 2.2), else
 *                       1 - CDF by Durbin's matrix (n <= 1e5, n d^1.5 <= 1.4)
 *                       or the Pelz–Good expansion.
 * stats_smirnov_sf is P(D_n^+ >= d) by the Smirnov / Birnbaum–Tingey sum;
 * SciPy evaluates it in double-double arithmetic, we in long double with the
 * terms taken through logarithms, which agrees to ~1e-13 relative. */
#include "metrics/stats.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const double PI = 3.14159265358979323846;
/* Scale factor for the matrix and recursion methods, whose intermediate
 * values leave the double range: values are kept within 2^+-128 and the
 * exponent is tracked separately. */
static const double SCALE_UP = 0x1p128, SCALE_DOWN = 0x1p-128;
static const int SCALE_EXP = 128;
/* Cephes' MINLOG (log of the smallest denormal): Smirnov's tail is 0 below. */
static const double LOG_TINIEST = -745.13321910194122;

static double clip01(double p) { return p < 0 ? 0 : p > 1 ? 1 : p; }

/* ---- one-sided: Smirnov ---------------------------------------------------- */

double stats_smirnov_sf(int64_t n, double d) {
  if (!(n >= 1 && d >= 0.0 && d <= 1.0)) return NAN;
  if (n == 1) return 1.0 - d;
  if (d == 0.0) return 1.0;
  if (d == 1.0) return 0.0;
  /* n d split into floor and fraction from the exact product (hi + lo). */
  const double nd = (double)n * d, nd_lo = fma((double)n, d, -nd);
  double nd_floor = floor(nd), frac = (nd - nd_floor) + nd_lo;
  if (frac < 0) {
    nd_floor -= 1;
    frac += 1;
  }
  if (frac >= 1) {
    nd_floor += 1;
    frac = 0;
  }
  if (nd_floor == 0 || (nd_floor == 1 && frac == 0)) {
    /* d <= 1/n: P(D+ < d) = d (1 + d)^(n-1). */
    long double below = (long double)d * expl((long double)(n - 1) * log1pl(d));
    return (double)(1.0L - below);
  }
  if (-2.0 * (double)n * d * d < LOG_TINIEST) return 0.0;
  if (nd_floor >= (double)(n - 1)) return (double)expl((long double)n * log1pl(-d));
  if (n > 1000000) /* SciPy's cut-off: Miller's approximation */
    return exp(-pow(6.0 * (double)n * d + 1.0, 2) / 18.0 / (double)n);

  /* sf = d * sum_{v=0}^{n - floor(nd) - 1} C(n,v) (d + v/n)^(v-1) (1 - d - v/n)^(n-v) */
  const int64_t last = n - (int64_t)nd_floor - 1;
  const long double nl = (long double)n, nd_exact = (long double)nd + (long double)nd_lo;
  const long double log_n_fact = lgammal(nl + 1);
  long double sum = 0;
  for (int64_t v = 0; v <= last; v++) {
    long double at = ((long double)v + nd_exact) / nl;              /* d + v/n */
    long double rest = ((long double)(n - v) - nd_exact) / nl;      /* 1 - d - v/n */
    long double log_term = log_n_fact - lgammal((long double)v + 1) -
                           lgammal((long double)(n - v) + 1) +
                           (long double)(v - 1) * logl(at) + (long double)(n - v) * logl(rest);
    sum += expl(log_term);
  }
  return (double)((long double)d * sum);
}

/* ---- two-sided: helpers ------------------------------------------------ */

/* log(n! / n^n) by Stirling's series with the n log n term removed:
 * log(n)/2 - n + log(2 pi)/2 + sum_j B_2j / (2j (2j-1) n^(2j-1)), j = 1..8. */
static double log_factorial_over_power(int64_t n) {
  static const double stirling[8] = {
      /* B_2j / (2j (2j - 1)) for j = 8 down to 1 */
      -3617.0 / 122400.0, 7.0 / 1092.0, -691.0 / 360360.0, 1.0 / 1188.0,
      -1.0 / 1680.0,      1.0 / 1260.0, -1.0 / 360.0,      1.0 / 12.0};
  const double inv_n = 1.0 / (double)n, inv_n2 = inv_n / (double)n;
  double series = 0;
  for (int j = 0; j < 8; j++) series = series * inv_n2 + stirling[j];
  return log((double)n) / 2 - (double)n + log(2 * PI) / 2 + inv_n * series;
}

/* CDF for 1/(2n) < d <= 1/n (Ruben & Gambino): n!/n^n (2 n d - 1)^n. */
static double ruben_gambino_cdf(int64_t n, double t) {
  if (t <= 0.5) return 0.0;
  if (n <= 140) {
    double prod = 1.0;
    for (int64_t i = 1; i <= n; i++) prod *= (double)i * (1.0 / (double)n) * (2 * t - 1);
    return prod;
  }
  return exp(log_factorial_over_power(n) + (double)n * log(2 * t - 1));
}

/* ---- Durbin's matrix (Marsaglia, Tsang & Wang 2003) -------------------- */

/* c = a b for m x m row-major matrices (c distinct from a and b). */
static void matmul(double *c, const double *a, const double *b, int m) {
  for (int i = 0; i < m; i++) {
    double *row = c + (size_t)i * m;
    memset(row, 0, (size_t)m * sizeof *row);
    for (int k = 0; k < m; k++) {
      const double aik = a[(size_t)i * m + k];
      const double *brow = b + (size_t)k * m;
      for (int j = 0; j < m; j++) row[j] += aik * brow[j];
    }
  }
}

/* P(D_n < d): write n d = k - h (k integer, 0 <= h < 1); the answer is
 * n!/n^n times the (k, k) entry of H^n for a (2k-1)-square matrix H. */
static double durbin_matrix_cdf(int64_t n, double d) {
  if (d >= 1.0) return 1.0;
  const double nd = (double)n * d;
  if (nd <= 0.5) return 0.0;
  const int k = (int)ceil(nd), m = 2 * k - 1;
  const double h = k - nd;
  const size_t mm = (size_t)m * m;
  double *mat = lethe_calloc(mm, sizeof *mat);  /* H (m, m), squared in place */
  double *pw = lethe_calloc(mm, sizeof *pw);    /* accumulated power (m, m) */
  double *tmp = lethe_calloc(mm, sizeof *tmp);  /* product scratch (m, m) */
  double *first_col = lethe_malloc((size_t)m * sizeof *first_col); /* (m) */
  double *inv_fact = lethe_malloc((size_t)m * sizeof *inv_fact);   /* 1/j!, (m) */

  double fact = 1.0;
  for (int j = 1; j <= m; j++) {
    inv_fact[j - 1] = fact; /* 1/(j-1)! */
    fact /= j;              /* 1/j! */
    first_col[j - 1] = (1.0 - pow(h, j)) * fact;
  }
  const double corner = pow(fmax(2 * h - 1, 0), m) - 2 * pow(h, m);
  first_col[m - 1] = (1.0 + corner) * fact;
  /* Columns 1..m-1: 1/(r - c + 1)! on and below the superdiagonal. */
  for (int c = 1; c < m; c++)
    for (int r = c - 1; r < m; r++) mat[(size_t)r * m + c] = inv_fact[r - (c - 1)];
  for (int r = 0; r < m; r++) mat[(size_t)r * m] = first_col[r];
  for (int c = 0; c < m; c++) mat[(size_t)(m - 1) * m + c] = first_col[m - 1 - c];
  for (int i = 0; i < m; i++) pw[(size_t)i * m + i] = 1.0;

  /* H^n by repeated squaring; pw carries 2^pw_exp, mat carries 2^mat_exp. */
  long pw_exp = 0, mat_exp = 0;
  for (int64_t left = n; left > 0; left /= 2) {
    if (left % 2) {
      matmul(tmp, pw, mat, m);
      memcpy(pw, tmp, mm * sizeof *pw);
      pw_exp += mat_exp;
    }
    if (left / 2 == 0) break; /* the last square would go unused */
    matmul(tmp, mat, mat, m);
    memcpy(mat, tmp, mm * sizeof *mat);
    mat_exp *= 2;
    if (fabs(mat[(size_t)(k - 1) * m + (k - 1)]) > SCALE_UP) {
      for (size_t i = 0; i < mm; i++) mat[i] *= SCALE_DOWN;
      mat_exp += SCALE_EXP;
    }
  }
  double p = pw[(size_t)(k - 1) * m + (k - 1)];
  for (int64_t i = 1; i <= n; i++) { /* times n!/n^n */
    p = (double)i * p / (double)n;
    if (fabs(p) < SCALE_DOWN) {
      p *= SCALE_UP;
      pw_exp -= SCALE_EXP;
    }
  }
  free(mat);
  free(pw);
  free(tmp);
  free(first_col);
  free(inv_fact);
  return clip01(ldexp(p, (int)pw_exp));
}

/* ---- Pomeranz's recursion (1974) ------------------------------------- */

/* Index range [lo, hi] of the non-zero entries of row i (of 2n + 2). */
static void pomeranz_row_range(int64_t i, int64_t n, int64_t whole, int frac_pos,
                               int frac_above_half, int64_t *lo, int64_t *hi) {
  int64_t a, b;
  if (i == 0) {
    a = -whole - frac_pos - 1;
    b = whole + frac_pos - 1;
  } else {
    const int64_t half = (i + 1) / 2;
    if ((i + 1) % 2 == 0) { /* i odd */
      if (half == n + 1) {
        a = n - whole - frac_pos - 1;
        b = n + whole + frac_pos - 1;
      } else {
        a = half - 1 - whole - frac_above_half - 1;
        b = half + whole - 1 + frac_pos - 1;
      }
    } else {
      a = half - 1 - whole - 1;
      b = half + whole + frac_above_half - 1;
    }
  }
  *lo = a + 2 > 0 ? a + 2 : 0;
  *hi = b < n ? b : n;
}

/* P(D_n < d). Rows of a (2n+2)-step recursion; each row is the previous
 * one convolved with one of three truncated Poisson-like weight sequences
 * ((g/n)^j/j!, (2g/n)^j/j!, ((1-2g)/n)^j/j!, g the distance of n d to the
 * nearest integer). The answer is n! times the last entry of the last row. */
static double pomeranz_cdf(int64_t n, double d) {
  const double t = (double)n * d;
  const int64_t whole = (int64_t)floor(t);
  const double f = t - (double)whole, g = fmin(f, 1.0 - f);
  const int frac_pos = f > 0, frac_above_half = f > 0.5;
  const int64_t len = 2 * (whole + 1);
  double *w_g = lethe_malloc((size_t)len * sizeof(double));    /* (len) */
  double *w_2g = lethe_malloc((size_t)len * sizeof(double));   /* (len) */
  double *w_1m2g = lethe_malloc((size_t)len * sizeof(double)); /* (len) */
  double *prev = lethe_calloc((size_t)len, sizeof(double));    /* (len) */
  double *cur = lethe_calloc((size_t)len, sizeof(double));     /* (len) */
  w_g[0] = w_2g[0] = w_1m2g[0] = 1.0;
  for (int64_t j = 1; j < len; j++) {
    w_g[j] = w_g[j - 1] * (g / (double)n) / (double)j;
    w_2g[j] = w_2g[j - 1] * (2 * g / (double)n) / (double)j;
    w_1m2g[j] = w_1m2g[j - 1] * ((1 - 2 * g) / (double)n) / (double)j;
  }
  cur[0] = 1.0;
  int64_t prev_start = 0, cur_start = 0; /* row index held in element 0 */
  long expo = 0;
  int64_t lo, hi;
  pomeranz_row_range(0, n, whole, frac_pos, frac_above_half, &lo, &hi);
  for (int64_t i = 1; i < 2 * n + 2; i++) {
    const int64_t prev_lo = lo;
    double *swap = prev;
    prev = cur;
    cur = swap;
    int64_t s = prev_start;
    prev_start = cur_start;
    cur_start = s;
    memset(cur, 0, (size_t)len * sizeof *cur);
    pomeranz_row_range(i, n, whole, frac_pos, frac_above_half, &lo, &hi);
    const double *weights = (i == 1 || i == 2 * n + 1) ? w_g : (i % 2 ? w_2g : w_1m2g);
    const int64_t span = hi - prev_lo + 1;
    if (span <= 0) continue;
    /* Full convolution of prev[prev_lo ..] (src_len entries) with weights
     * (wt_len entries); keep outputs lo - prev_lo .. hi - prev_lo. */
    const int64_t src_off = prev_lo - prev_start;
    const int64_t src_len = span < len - src_off ? span : len - src_off;
    const int64_t wt_len = span < len ? span : len;
    const int64_t out_first = lo - prev_lo, out_len = hi - lo + 1;
    double top = 0;
    for (int64_t o = 0; o < out_len; o++) {
      const int64_t c = out_first + o;
      double acc = 0;
      for (int64_t a = c - wt_len + 1 > 0 ? c - wt_len + 1 : 0; a <= c && a < src_len; a++)
        acc += prev[src_off + a] * weights[c - a];
      cur[o] = acc;
      if (acc > top) top = acc;
    }
    if (top > 0 && top < SCALE_DOWN) {
      for (int64_t o = 0; o < len; o++) cur[o] *= SCALE_UP;
      expo -= SCALE_EXP;
    }
    cur_start = prev_start + lo - prev_lo;
  }
  double ans = cur[n - cur_start];
  for (int64_t j = 1; j <= n; j++) { /* times n! */
    if (fabs(ans) > SCALE_UP) {
      ans *= SCALE_DOWN;
      expo += SCALE_EXP;
    }
    ans *= (double)j;
  }
  free(w_g);
  free(w_2g);
  free(w_1m2g);
  free(prev);
  free(cur);
  return clip01(ldexp(ans, (int)expo));
}

/* ---- Pelz & Good (1976) ------------------------------------------------ */

/* P(D_n <= d) ~ K0(z) + K1(z)/sqrt(n) + K2(z)/n + K3(z)/n^1.5, z = d sqrt(n),
 * each K_i in its theta-function form that converges fast for small z. */
static double pelz_good_cdf(int64_t n, double d) {
  if (d <= 0.0) return 0.0;
  if (d >= 1.0) return 1.0;
  const double pi2 = PI * PI, pi4 = pi2 * pi2, pi6 = pi4 * pi2;
  const double z = sqrt((double)n) * d;
  const double z2 = z * z, z3 = z2 * z, z4 = z2 * z2, z6 = z4 * z2;
  const double log_q = -pi2 / 8 / z2;
  if (log_q < -708) return 0.0;
  const double q = exp(log_q);
  const double k1a = -z2, k1b = pi2 / 4;
  const double k2a = 6 * z6 + 2 * z4, k2b = (2 * z4 - 5 * z2) * pi2 / 4,
               k2c = pi4 * (1 - 2 * z2) / 16;
  const double k3d = pi6 * (5 - 30 * z2) / 64, k3c = pi4 * (-60 * z2 + 212 * z4) / 16,
               k3b = pi2 * (135 * z4 - 96 * z6) / 4, k3a = -30 * z6 - 90 * pow(z, 8);
  double terms[4] = {0, 0, 0, 0};
  /* sum over odd m = 2k - 1 of c_i(m) q^(m^2), Horner in q^(8k). */
  const int64_t kmax = (int64_t)ceil(16 * z / PI);
  for (int64_t k = kmax; k >= 1; k--) {
    const double odd = (double)(2 * k - 1), o2 = odd * odd, o4 = o2 * o2, o6 = o4 * o2;
    const double step = pow(q, (double)(8 * k));
    const double coef[4] = {1.0, k1a + k1b * o2, k2a + k2b * o2 + k2c * o4,
                            k3a + k3b * o2 + k3c * o4 + k3d * o6};
    for (int i = 0; i < 4; i++) terms[i] = terms[i] * step + coef[i];
  }
  const double denom[4] = {z, 6 * z4, 72 * pow(z, 7), 6480 * pow(z, 10)};
  for (int i = 0; i < 4; i++) terms[i] = terms[i] * q * sqrt(2 * PI) / denom[i];
  /* The remaining sums run over all integers k: q2^(k^2) terms. */
  const double q2 = exp(-pi2 / 2 / z2), sqrt3z = sqrt(3.0) * z;
  double extra2 = 0, extra3 = 0;
  for (int64_t k = kmax; k >= 1; k--) {
    const double kk = (double)(k * k), kpi = PI * (double)k, w = pow(q2, kk);
    extra2 += kk * w;
    extra3 += (sqrt3z + kpi) * (sqrt3z - kpi) * kk * w;
  }
  terms[2] += extra2 * pi2 * sqrt(2 * PI) / (-36 * z3);
  terms[3] += extra3 * pi2 * sqrt(2 * PI) / (216 * z6);
  double cdf = 0;
  for (int i = 0; i < 4; i++) cdf += terms[i] / pow((double)n, i / 2.0);
  return cdf;
}

/* ---- two-sided survival function -------------------------------------- */

double stats_kstwo_sf(double d, int64_t n) {
  if (n < 1 || isnan(d)) return NAN;
  if (d <= 0.5 / (double)n) return 1.0; /* below the support */
  if (d >= 1.0) return 0.0;
  const double t = (double)n * d;
  if (t <= 1.0) return clip01(1.0 - ruben_gambino_cdf(n, t));
  if (t >= (double)(n - 1)) return clip01(2 * pow(1.0 - d, (double)n));
  if (d >= 0.5) return clip01(2 * stats_smirnov_sf(n, d));
  const double ndd = t * d;
  if (n <= 140) {
    if (ndd <= 0.754693) return clip01(1.0 - durbin_matrix_cdf(n, d));
    if (ndd <= 4) return clip01(1.0 - pomeranz_cdf(n, d));
    return clip01(2 * stats_smirnov_sf(n, d));
  }
  if (ndd >= 370.0) return 0.0;
  if (ndd >= 2.2) return clip01(2 * stats_smirnov_sf(n, d));
  double cdf;
  if (ndd >= 18.0) cdf = 1.0;
  else if (n <= 100000 && (double)n * pow(d, 1.5) <= 1.4) cdf = durbin_matrix_cdf(n, d);
  else cdf = pelz_good_cdf(n, d);
  return clip01(1.0 - clip01(cdf));
}
