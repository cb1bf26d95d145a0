/* mia — exact ROC AUC, the per-example attack scores and PrivLeak (see
 * mia.h for the orientation of every number and docs/metrics.md for the
 * sources). */
#include "metrics/mia.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <zlib.h>

const char *const mia_attack_keys[MIA_N_ATTACKS] = {"loss", "zlib", "min_k", "min_k_plus_plus",
                                                    "reference"};

/* ---- ROC AUC ------------------------------------------------------------- */

typedef struct labelled_score {
  double score;
  int positive; /* 1 for the positive side, 0 for the negative */
} labelled_score;

static int by_score(const void *a, const void *b) {
  const double x = ((const labelled_score *)a)->score, y = ((const labelled_score *)b)->score;
  return (x > y) - (x < y);
}

static int refuse_nan(const double *x, size_t n, const char *side, lethe_err *err) {
  for (size_t i = 0; i < n; i++)
    if (isnan(x[i])) return lethe_errf(err, LETHE_E_NUMERIC, "ROC AUC: %s score %zu is NaN", side, i);
  return 0;
}

int mia_roc_auc(const double *positive, size_t n_positive, const double *negative,
                size_t n_negative, double *auc, lethe_err *err) {
  if (n_positive == 0 || n_negative == 0)
    return lethe_errf(err, LETHE_E_NUMERIC,
                      "ROC AUC: %zu positive and %zu negative scores (needs at least one of each)",
                      n_positive, n_negative);
  if (refuse_nan(positive, n_positive, "positive", err) ||
      refuse_nan(negative, n_negative, "negative", err))
    return -1;
  const size_t n = n_positive + n_negative;
  labelled_score *all = lethe_malloc(n * sizeof *all); /* (n) */
  for (size_t i = 0; i < n_positive; i++) all[i] = (labelled_score){positive[i], 1};
  for (size_t i = 0; i < n_negative; i++) all[n_positive + i] = (labelled_score){negative[i], 0};
  qsort(all, n, sizeof *all, by_score);
  /* U = sum over positives of (negatives below it + half the negatives tied
   * with it), walking the groups of equal scores in ascending order. Every
   * term is a multiple of 1/2, so U is exact up to 2^52 pairs. */
  double u = 0.0;
  size_t negatives_below = 0;
  for (size_t i = 0; i < n;) {
    size_t end = i, positives_here = 0;
    while (end < n && all[end].score == all[i].score) positives_here += (size_t)all[end++].positive;
    const size_t negatives_here = end - i - positives_here;
    u += (double)positives_here * ((double)negatives_below + 0.5 * (double)negatives_here);
    negatives_below += negatives_here;
    i = end;
  }
  free(all);
  *auc = u / ((double)n_positive * (double)n_negative);
  return 0;
}

int mia_auc(const double *member, size_t n_member, const double *nonmember,
            size_t n_nonmember, double *auc, lethe_err *err) {
  /* loss-like scores: the non-members are the side expected to score higher */
  return mia_roc_auc(nonmember, n_nonmember, member, n_member, auc, err);
}

/* ---- attack scores ------------------------------------------------------- */

/* n > 0 and no NaN among logp[0..n); the message names the attack. */
static int check_tokens(const char *attack, const float *logp, size_t n, lethe_err *err) {
  if (n == 0) return lethe_errf(err, LETHE_E_NUMERIC, "%s score: no target tokens", attack);
  for (size_t t = 0; t < n; t++)
    if (isnan(logp[t]))
      return lethe_errf(err, LETHE_E_NUMERIC, "%s score: token %zu log-prob is NaN", attack, t);
  return 0;
}

static double mean_nll(const float *logp, size_t n) {
  double sum = 0.0;
  for (size_t t = 0; t < n; t++) sum += logp[t];
  return -sum / (double)n;
}

int mia_loss_score(const float *logp, size_t n, double *score, lethe_err *err) {
  if (check_tokens("LOSS", logp, n, err)) return -1;
  *score = mean_nll(logp, n);
  return 0;
}

int mia_zlib_length(const char *text, size_t len, size_t *out, lethe_err *err) {
  uLongf compressed_len = compressBound((uLong)len);
  Bytef *compressed = lethe_malloc(compressed_len);
  int rc = compress2(compressed, &compressed_len, (const Bytef *)text, (uLong)len,
                     Z_DEFAULT_COMPRESSION);
  free(compressed);
  if (rc != Z_OK)
    return lethe_errf(err, LETHE_E_NUMERIC, "zlib: compressing %zu bytes failed (%s)", len,
                      zError(rc));
  *out = (size_t)compressed_len;
  return 0;
}

int mia_zlib_score(const float *logp, size_t n, const char *text, size_t len, double *score,
                   lethe_err *err) {
  size_t zlib_len;
  if (check_tokens("ZLib", logp, n, err) || mia_zlib_length(text, len, &zlib_len, err))
    return -1;
  *score = mean_nll(logp, n) / (double)zlib_len;
  return 0;
}

size_t mia_min_k_count(size_t n, double k) {
  assert(n >= 1 && k > 0 && k <= 1);
  size_t count = (size_t)floor((double)n * k);
  return count < 1 ? 1 : count;
}

static int ascending(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Minus the mean of the mia_min_k_count(n, k) smallest of values[0..n);
 * reorders values. */
static double minus_mean_of_lowest(double *values, size_t n, double k) {
  qsort(values, n, sizeof *values, ascending);
  const size_t count = mia_min_k_count(n, k);
  double sum = 0.0;
  for (size_t i = 0; i < count; i++) sum += values[i];
  return -sum / (double)count;
}

static int check_k(const char *attack, double k, lethe_err *err) {
  if (!(k > 0 && k <= 1))
    return lethe_errf(err, LETHE_E_NUMERIC, "%s score: k = %g is not in (0, 1]", attack, k);
  return 0;
}

int mia_min_k_score(const float *logp, size_t n, double k, double *score, lethe_err *err) {
  if (check_k("Min-K%", k, err) || check_tokens("Min-K%", logp, n, err)) return -1;
  double *values = lethe_malloc(n * sizeof *values); /* (n) */
  for (size_t t = 0; t < n; t++) values[t] = logp[t];
  *score = minus_mean_of_lowest(values, n, k);
  free(values);
  return 0;
}

/* OU's floor on the variance of log p (a near one-hot distribution has ~0). */
static const double MIN_K_PP_MIN_VAR = 1e-6;

int mia_min_k_plus_plus_score(const float *logp, const double *mu, const double *var, size_t n,
                              double k, double *score, lethe_err *err) {
  if (check_k("Min-K%++", k, err) || check_tokens("Min-K%++", logp, n, err)) return -1;
  for (size_t t = 0; t < n; t++)
    if (isnan(mu[t]) || isnan(var[t]))
      return lethe_errf(err, LETHE_E_NUMERIC, "Min-K%%++ score: token %zu: mean %g, variance %g",
                        t, mu[t], var[t]);
  double *standardised = lethe_malloc(n * sizeof *standardised); /* (n) */
  for (size_t t = 0; t < n; t++)
    standardised[t] = ((double)logp[t] - mu[t]) / sqrt(fmax(var[t], MIN_K_PP_MIN_VAR));
  *score = minus_mean_of_lowest(standardised, n, k);
  free(standardised);
  return 0;
}

void mia_next_token_moments(const float *logits, size_t vocab, double *mu, double *var) {
  assert(vocab >= 1);
  double max = -INFINITY;
  for (size_t v = 0; v < vocab; v++)
    if (logits[v] > max) max = logits[v];
  /* With d_v = logit_v - max and e_v = exp(d_v): p_v = e_v / S and
   * log p_v = d_v - log S, S = sum e_v. The variance of log p is that of d
   * (a shift), so both moments come from sum e, sum e d and sum e d^2. The
   * rounding error of E[d^2] - E[d]^2 is about E[d^2] * 2^-52 (~1e-14 for
   * any real vocabulary), far below the 1e-6 floor Min-K%++ puts on it. */
  double sum = 0.0, sum_d = 0.0, sum_d2 = 0.0;
  for (size_t v = 0; v < vocab; v++) {
    const double d = (double)logits[v] - max, e = exp(d);
    sum += e;
    sum_d += e * d;
    sum_d2 += e * d * d;
  }
  const double mean_d = sum_d / sum;
  *mu = mean_d - log(sum);
  *var = sum_d2 / sum - mean_d * mean_d;
  if (*var < 0) *var = 0; /* rounding; a NaN stays NaN */
}

int mia_reference_score(const float *logp, const float *ref_logp, size_t n, double *score,
                        lethe_err *err) {
  if (check_tokens("reference", logp, n, err) || check_tokens("reference (ref)", ref_logp, n, err))
    return -1;
  *score = mean_nll(logp, n) - mean_nll(ref_logp, n);
  return 0;
}

/* ---- PrivLeak ------------------------------------------------------------ */

int mia_privleak(double auc_unlearned, double auc_retain, double *privleak, lethe_err *err) {
  if (!(auc_unlearned >= 0 && auc_unlearned <= 1) || !(auc_retain >= 0 && auc_retain <= 1))
    return lethe_errf(err, LETHE_E_NUMERIC,
                      "PrivLeak: AUCs must be in [0, 1] (unlearned %g, retain %g)", auc_unlearned,
                      auc_retain);
  if (auc_retain == 1)
    return lethe_errf(err, LETHE_E_NUMERIC,
                      "PrivLeak: the retain model's AUC is 1 (MUSE's 0), the ratio is undefined");
  const double muse_unlearned = 1 - auc_unlearned, muse_retain = 1 - auc_retain;
  *privleak = 100.0 * (muse_unlearned - muse_retain) / muse_retain;
  return 0;
}
