/* mia — membership-inference attacks as open-unlearning (OU) scores them,
 * the exact ROC AUC that turns their scores into one number, and MUSE's
 * PrivLeak built on that AUC.
 *
 * Orientation, once for the whole file. Every attack score here is
 * loss-like, the number OU writes per example: HIGHER = the model finds the
 * text LESS familiar = more likely a NON-member. mia_auc(members,
 * non-members) is then P(score of a non-member > score of a member), ties
 * counted as half: sklearn.metrics.roc_auc_score with members (the forget
 * set) labelled 0 and non-members (the holdout set) labelled 1, as OU's
 * mia_auc. It is the same number as the textbook AUC with members positive
 * and member-high scores (-score). 1 = the members are recognised (the forget
 * set is still memorised), 0.5 = no better than chance, < 0.5 = the forget
 * set looks less familiar than unseen text (over-unlearning). MUSE's own
 * AUC is 1 - this one (docs/metrics.md).
 *
 * Which tokens an array holds is the caller's business: OU passes every
 * labelled target token to LOSS, ZLib and the reference attack, and drops
 * the last one for Min-K% and Min-K%++. Per-token inputs are float (the
 * model's log-probs); every sum is accumulated in double.
 *
 * Pure functions: no globals, no I/O, safe from any thread; scratch memory
 * is allocated and freed inside a call. Not here: running a model, choosing
 * or decoding tokens, extraction strength and exact memorisation
 * (memorization.h). The sources and the numbers the tests pin are in
 * docs/metrics.md. */
#ifndef LETHE_METRICS_MIA_H
#define LETHE_METRICS_MIA_H

#include <stddef.h>

#include "core/core.h"

/* The attacks by the names results files give them (eval.json "mia_" +
 * key, summary.json "mia_" + key + "_auc" and "privleak_" + key), shared
 * by the evaluation that writes them and the reports that read them. The
 * reference attack: mia_reference_score. */
enum { MIA_LOSS, MIA_ZLIB, MIA_MIN_K, MIA_MIN_K_PLUS_PLUS, MIA_REFERENCE, MIA_N_ATTACKS };
extern const char *const mia_attack_keys[MIA_N_ATTACKS]; /* "loss", "zlib", "min_k", ... */
/* The attack MUSE's and open-unlearning's PrivLeak use: Min-K% at k = 0.4. */
#define MIA_PRIVLEAK_ATTACK MIA_MIN_K

/* ---- ROC AUC ------------------------------------------------------------- */

/* Exact area under the ROC curve of a score that should be higher for the
 * positive class: P(p > q) + P(p == q) / 2 over all pairs (p from positive,
 * q from negative) — the Mann–Whitney U over n_pos * n_neg, computed by
 * sorting (O(n log n)). Equals sklearn.metrics.roc_auc_score(y, s) with y = 1
 * for positive[], 0 for negative[]. Infinite scores are ranked like any
 * other (sklearn refuses them). Fails when either side is empty or a score
 * is NaN. */
int mia_roc_auc(const double *positive, size_t n_positive, const double *negative,
                size_t n_negative, double *auc, lethe_err *err);

/* The AUC of an attack in OU's convention (see the top of this file): the
 * loss-like scores of the members (forget) and non-members (holdout);
 * mia_roc_auc with the non-members as the positive side. */
int mia_auc(const double *member, size_t n_member, const double *nonmember,
            size_t n_nonmember, double *auc, lethe_err *err);

/* ---- attack scores, one example ------------------------------------------
 * logp[0..n) are the log-probabilities the model gives the example's target
 * tokens (teacher-forced). Each function fails on n == 0 (OU writes NaN for
 * LOSS and ZLib there, 0 for Min-K% and Min-K%++) and on a NaN input. */

/* LOSS (Yeom et al. 2018): the mean NLL, -(1/n) sum_t logp[t]. */
int mia_loss_score(const float *logp, size_t n, double *score, lethe_err *err);

/* Bytes of zlib.compress(text) — zlib's default level, zlib wrapper — of
 * the len bytes at text (UTF-8, no terminator needed). 8 for empty text. */
int mia_zlib_length(const char *text, size_t len, size_t *out, lethe_err *err);

/* ZLib (Carlini et al. 2021): mean NLL / mia_zlib_length(text), where text
 * is the decoded target (TOFU: the answer, special tokens skipped). */
int mia_zlib_score(const float *logp, size_t n, const char *text, size_t len, double *score,
                   lethe_err *err);

/* How many of n values Min-K% averages: max(1, floor(n * k)), the product
 * taken in double as OU's Python does (so 100 * 0.29 gives 28, not 29).
 * n >= 1 and 0 < k <= 1; the result is in [1, n]. */
size_t mia_min_k_count(size_t n, double k);

/* Min-K% (Shi et al. 2024): minus the mean of the mia_min_k_count(n, k)
 * smallest logp. Fails unless 0 < k <= 1 (OU's default k is 0.4). */
int mia_min_k_score(const float *logp, size_t n, double k, double *score, lethe_err *err);

/* Min-K%++ (Zhang et al. 2024): each token standardised against the model's
 * next-token distribution at its position, s_t = (logp[t] - mu[t]) /
 * sqrt(max(var[t], 1e-6)) (OU's clamp), mu and var from
 * mia_next_token_moments; the score is minus the mean of the
 * mia_min_k_count(n, k) smallest s_t. Fails unless 0 < k <= 1. */
int mia_min_k_plus_plus_score(const float *logp, const double *mu, const double *var, size_t n,
                              double k, double *score, lethe_err *err);

/* The moments of log p under the next-token distribution p = softmax(logits)
 * of one position: mu = sum_v p_v log p_v and var = sum_v p_v (log p_v)^2 -
 * mu^2 (never negative). One pass for the maximum, one for the sums, in
 * double. vocab >= 1; a non-finite logit makes both NaN. */
void mia_next_token_moments(const float *logits, size_t vocab, double *mu, double *var);

/* Reference attack (OU's ReferenceAttack): the mean NLL under the evaluated
 * model minus the mean NLL of the same tokens under a reference model
 * (ref_logp[0..n)): lower = the evaluated model prefers the text more than
 * the reference does. */
int mia_reference_score(const float *logp, const float *ref_logp, size_t n, double *score,
                        lethe_err *err);

/* ---- PrivLeak ------------------------------------------------------------ */

/* MUSE's PrivLeak, in percent, from two AUCs in OU's convention (mia_auc of
 * the same attack, normally Min-K% with k = 0.4, on the same forget and
 * holdout sets): the unlearned model's and the retain model's. MUSE takes
 * its AUCs the other way round, a = 1 - auc, and reports
 *     100 * (a_unlearned - a_retain) / a_retain,
 * which is computed here. 0 = like the retain model; toward -100 = the
 * forget set is still recognised (under-unlearning); positive = it looks
 * less familiar than unseen text (over-unlearning). Fails when an AUC is
 * outside [0, 1] or NaN, or auc_retain == 1 (a_retain = 0; OU adds 1e-10 to
 * the denominator instead). */
int mia_privleak(double auc_unlearned, double auc_retain, double *privleak, lethe_err *err);

#endif
