/* memorization — exact memorisation and extraction strength (see
 * memorization.h). */
#include "metrics/memorization.h"

int memorization_exact(const int32_t *pred, const int32_t *label, size_t n, double *em,
                       lethe_err *err) {
  if (n == 0)
    return lethe_errf(err, LETHE_E_NUMERIC, "exact memorisation: no target tokens");
  size_t right = 0;
  for (size_t t = 0; t < n; t++) right += pred[t] == label[t];
  *em = (double)right / (double)n;
  return 0;
}

double memorization_extraction_strength(const int32_t *pred, const int32_t *label, size_t n) {
  if (n == 0) return 0.0;
  size_t suffix = 0; /* r: how many trailing positions are predicted right */
  while (suffix < n && pred[n - 1 - suffix] == label[n - 1 - suffix]) suffix++;
  return (double)(suffix ? suffix : 1) / (double)n;
}
