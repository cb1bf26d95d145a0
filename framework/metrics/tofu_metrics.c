/* tofu_metrics — TOFU's per-example and aggregate formulas (see
 * tofu_metrics.h and docs/metrics.md). */
#include "metrics/tofu_metrics.h"

#include <assert.h>
#include <math.h>

#include "metrics/stats.h"

const char *const tofu_set_keys[TOFU_N_SETS] = {"forget", "retain", "real_authors", "world_facts"};
const char *const tofu_set_titles[TOFU_N_SETS] = {"Forget", "Retain", "Real authors", "World facts"};
/* in error messages: "world facts set, example 1: ..." */
static const char *const set_names[TOFU_N_SETS] = {"forget", "retain", "real authors", "world facts"};

double tofu_answer_prob(double avg_nll) { return exp(-avg_nll); }

double tofu_option_prob(double true_avg_nll, const double *wrong_avg_nll, size_t n_wrong) {
  double ratio_sum = 0.0; /* sum_j p_wrong_j / p_true */
  for (size_t j = 0; j < n_wrong; j++) ratio_sum += exp(true_avg_nll - wrong_avg_nll[j]);
  return 1.0 / (1.0 + ratio_sum);
}

double tofu_truth_ratio(double base_avg_nll, const double *perturbed_avg_nll,
                        size_t n_perturbed) {
  return exp(base_avg_nll - stats_mean(perturbed_avg_nll, n_perturbed));
}

double tofu_truth_score(tofu_eval_set set, double truth_ratio) {
  if (set == TOFU_SET_FORGET) return fmin(truth_ratio, 1.0 / truth_ratio);
  return fmax(0.0, 1.0 - truth_ratio);
}

int tofu_summarize(tofu_eval_set set, const double *prob, const double *rouge,
                   const double *truth_ratio, size_t n, tofu_set_summary *out,
                   lethe_err *err) {
  assert(set >= 0 && set < TOFU_N_SETS);
  const char *name = set_names[set];
  if (n == 0) return lethe_errf(err, LETHE_E_NUMERIC, "%s set: no examples to average", name);
  double prob_sum = 0, rouge_sum = 0, truth_sum = 0;
  for (size_t i = 0; i < n; i++) {
    if (!(prob[i] >= 0 && prob[i] <= 1))
      return lethe_errf(err, LETHE_E_NUMERIC, "%s set, example %zu: probability %g not in [0, 1]",
                        name, i, prob[i]);
    if (!(rouge[i] >= 0 && rouge[i] <= 1))
      return lethe_errf(err, LETHE_E_NUMERIC, "%s set, example %zu: ROUGE-L %g not in [0, 1]",
                        name, i, rouge[i]);
    if (isnan(truth_ratio[i]))
      return lethe_errf(err, LETHE_E_NUMERIC, "%s set, example %zu: truth ratio is NaN", name, i);
    prob_sum += prob[i];
    rouge_sum += rouge[i];
    truth_sum += tofu_truth_score(set, truth_ratio[i]);
  }
  out->prob = prob_sum / (double)n;
  out->rouge = rouge_sum / (double)n;
  out->truth = truth_sum / (double)n;
  return 0;
}

int tofu_model_utility(const tofu_set_summary *retain, const tofu_set_summary *real_authors,
                       const tofu_set_summary *world_facts, double *utility, lethe_err *err) {
  const tofu_set_summary *sets[3] = {retain, real_authors, world_facts};
  double nine[9];
  for (int s = 0; s < 3; s++) {
    nine[3 * s] = sets[s]->prob;
    nine[3 * s + 1] = sets[s]->rouge;
    nine[3 * s + 2] = sets[s]->truth;
  }
  if (stats_hmean(nine, 9, utility, err)) return lethe_err_prefix(err, "model utility");
  return 0;
}

int tofu_forget_quality(const double *truth_ratio, size_t n,
                        const double *retain_truth_ratio, size_t n_retain,
                        double *quality, lethe_err *err) {
  stats_ks_result ks;
  if (stats_ks_2samp(truth_ratio, n, retain_truth_ratio, n_retain, STATS_KS_AUTO, &ks, err))
    return lethe_err_prefix(err, "forget quality");
  *quality = ks.pvalue;
  return 0;
}
