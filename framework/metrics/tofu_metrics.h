/* tofu_metrics — the formulas of TOFU's evaluation, from per-example
 * length-normalised NLLs to model utility and forget quality.
 *
 * Pure arithmetic on numbers the model side computes: an "average NLL" is
 * an answer's summed negative log-likelihood divided by its number of target
 * tokens (answer tokens plus the one end-of-sequence token), TOFU's
 * avg_gt_loss. The definitions, and the lines of TOFU's code they follow,
 * are written out in docs/metrics.md. No allocation, no globals; every
 * function is safe from any thread. Not here: running a model, generating,
 * ROUGE (rouge.h), the KS test itself (stats.h). */
#ifndef LETHE_EVAL_TOFU_METRICS_H
#define LETHE_EVAL_TOFU_METRICS_H

#include <stddef.h>

#include "core/core.h"

/* The four evaluation sets. Retain, real authors and world facts make up
 * model utility; forget is scored separately and feeds forget quality. */
typedef enum tofu_eval_set {
  TOFU_SET_FORGET = 0,
  TOFU_SET_RETAIN = 1,
  TOFU_SET_REAL_AUTHORS = 2,
  TOFU_SET_WORLD_FACTS = 3,
  TOFU_N_SETS = 4
} tofu_eval_set;
/* Their keys in lethe's JSON files ("forget", "retain", "real_authors",
 * "world_facts") and their titles in reports ("Forget", ...). */
extern const char *const tofu_set_keys[TOFU_N_SETS];
extern const char *const tofu_set_titles[TOFU_N_SETS];

/* ---- per example ------------------------------------------------------- */

/* exp(-avg_nll) = P(answer | question)^(1/|answer|). */
double tofu_answer_prob(double avg_nll);

/* Real authors / world facts: the answer's probability normalised over
 * itself and the n_wrong wrong options, p_true / (p_true + sum_j p_wrong_j)
 * with p = exp(-avg_nll); computed as 1 / (1 + sum_j exp(nll_true -
 * nll_wrong_j)), which equals TOFU's value and stays finite when every p
 * underflows. */
double tofu_option_prob(double true_avg_nll, const double *wrong_avg_nll, size_t n_wrong);

/* R_truth = (geometric mean over j of P(perturbed_j)^(1/|perturbed_j|)) /
 * P(base)^(1/|base|) = exp(base_avg_nll - mean_j perturbed_avg_nll[j]).
 * The base answer is the paraphrased answer for retain and forget, the
 * answer itself for real authors and world facts. n_perturbed >= 1 (with
 * none the mean, and so R, is NaN). TOFU's code stores
 * 1 / R_truth; see docs/metrics.md. */
double tofu_truth_ratio(double base_avg_nll, const double *perturbed_avg_nll,
                        size_t n_perturbed);

/* The per-example truth score of a set: max(0, 1 - R) for retain, real
 * authors and world facts; min(R, 1/R) for forget. */
double tofu_truth_score(tofu_eval_set set, double truth_ratio);

/* ---- aggregates ------------------------------------------------------------ */

/* The three numbers TOFU reports per set: means over its examples. */
typedef struct tofu_set_summary {
  double prob;  /* mean answer probability (option-normalised for RA/WF) */
  double rouge; /* mean ROUGE-L recall of the generated answers */
  double truth; /* mean truth score (tofu_truth_score) */
} tofu_set_summary;

/* Averages n examples of a set: prob[i] (from tofu_answer_prob, or
 * tofu_option_prob for real authors / world facts), rouge[i] (ROUGE-L
 * recall) and truth_ratio[i] (tofu_truth_ratio, scored by the set's rule).
 * Fails if n == 0, a prob or rouge value is outside [0, 1], or a truth ratio
 * is NaN; the message names the example. */
int tofu_summarize(tofu_eval_set set, const double *prob, const double *rouge,
                   const double *truth_ratio, size_t n, tofu_set_summary *out,
                   lethe_err *err);

/* Model utility: the harmonic mean of the nine numbers {prob, rouge, truth}
 * x {retain, real authors, world facts}; 0 if any of them is 0. */
int tofu_model_utility(const tofu_set_summary *retain, const tofu_set_summary *real_authors,
                       const tofu_set_summary *world_facts, double *utility, lethe_err *err);

/* Forget quality: the two-sided two-sample KS p-value (scipy.stats.ks_2samp
 * defaults) between the forget-set truth ratios of the evaluated model and
 * those of the retain model. TOFU feeds 1/R to the test; the p-value is the
 * same because 1/x reverses the order without creating or removing ties. */
int tofu_forget_quality(const double *truth_ratio, size_t n,
                        const double *retain_truth_ratio, size_t n_retain,
                        double *quality, lethe_err *err);

#endif
