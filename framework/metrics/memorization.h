/* memorization — how much of a target the model reproduces token for
 * token, as open-unlearning (OU) measures it: exact memorisation (EM) and
 * extraction strength (ES).
 *
 * Both read teacher-forced predictions: pred[t] is the argmax of the
 * model's next-token distribution at the position that predicts target
 * token t (given the prompt and the true targets before t), label[t] the
 * target itself. OU selects the labelled tokens minus the last one; which
 * tokens the arrays hold is the caller's choice. Pure functions, no
 * allocation. Not here: running the model or the argmax; MIA (mia.h).
 * Sources and pinned numbers: docs/metrics.md. */
#ifndef LETHE_METRICS_MEMORIZATION_H
#define LETHE_METRICS_MEMORIZATION_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* EM (Tirumala et al. 2022): the fraction of the n positions where
 * pred == label. Fails when n == 0 (OU records None and leaves the example
 * out of the mean). */
int memorization_exact(const int32_t *pred, const int32_t *label, size_t n, double *em,
                       lethe_err *err);

/* ES (after Carlini et al. 2021): 1 - k/n for the smallest k such that
 * every position from k on is predicted right, i.e. the share of the target
 * a greedy continuation reproduces from the shortest prefix that suffices.
 * As OU's loop computes it, k never exceeds n - 1, so when even the last
 * token is wrong ES is 1/n, not 0: ES = max(1, r) / n with r the length of
 * the correct suffix. 0 when n == 0 (OU's value). */
double memorization_extraction_strength(const int32_t *pred, const int32_t *label, size_t n);

#endif
