/* rmu — Representation Misdirection for Unlearning (Li et al. 2024, WMDP),
 * in OpenUnlearning's masked form, on ABI 1.2's hidden states after `layer`:
 *   L = mean_b∈forget  (1/n_b) Σ_t m_bt (1/C)‖h_bt − c·u‖²
 *     + α · mean_b∈retain (1/n_b) Σ_t m_bt (1/C)‖h_bt − h^ref_bt‖²
 * u = r/‖r‖, r_j ~ U[0,1) drawn from `seed` (fixed for the run); m_bt = 1 at
 * the positions holding an answer token (the mask shifted by one: position t
 * holds the token that position t−1 predicts); n_b = Σ_t m_bt. Only
 * dL/dhidden: the host's backward starts at the layer. It trains that
 * layer's MLP alone (resolve()'s trainable pattern; unlearn.params, when
 * set, decides instead). With alpha = 0 it takes no retain rows and no
 * reference. See README.md. */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "loss_terms.h"

typedef struct rmu_params {
  int32_t layer;
  double steering_coeff;
  double alpha;
  int32_t seed;
} rmu_params;

static const lethe_param rmu_param_table[] = {
    {"layer", LETHE_PARAM_INT, offsetof(rmu_params, layer), 1.0, 0.0, 1023.0,
     "decoder block (0-based) whose output is steered (HF hidden_states[layer + 1])", 0},
    {"steering_coeff", LETHE_PARAM_DOUBLE, offsetof(rmu_params, steering_coeff), 2.0, 0.0,
     INFINITY, "c: the norm of the forget activations' target c·u", 0},
    {"alpha", LETHE_PARAM_DOUBLE, offsetof(rmu_params, alpha), 1.0, 0.0, INFINITY,
     "α: weight of the retain activations' MSE to the reference's (0 = no retain rows)", 0},
    {"seed", LETHE_PARAM_INT, offsetof(rmu_params, seed), 0.0, 0.0, 2147483647.0,
     "seed of the random direction u", 0},
};

static int rmu_resolve(const void *params, lethe_method_needs *needs, lethe_method_error *err) {
  (void)err;
  const rmu_params *p = params;
  needs->hidden_layer = p->layer;
  if (LETHE_HAS_FIELD(needs, lethe_method_needs, trainable))
    snprintf(needs->trainable, sizeof needs->trainable, "model\\.layers\\.%d\\.mlp\\..*",
             (int)p->layer);
  if (p->alpha == 0.0) needs->caps &= ~(LETHE_CAP_RETAIN | LETHE_CAP_REF_HIDDEN);
  return 0;
}

/* r_j ∈ [0, 1): the top 53 bits of splitmix64 of (seed, j), so u needs no storage. */
static double uniform_at(uint64_t seed, uint64_t j) {
  uint64_t z = seed * 0x9e3779b97f4a7c15ull + (j + 1) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (double)(z >> 11) * 0x1.0p-53;
}

/* One segment's masked per-row mean of (1/C)‖h − target‖², target = c·u
 * (target_scale = c/‖r‖, ref NULL) or the reference's hidden states;
 * adds coeff·its gradient into dh. rows counts the rows with answer tokens. */
static double add_mse(const lethe_method_batch *b, int seg, const float *ref, uint64_t seed,
                      double target_scale, double coeff, float *dh, int *rows) {
  lethe_segment s = b->seg[seg];
  int C = b->C, counted = 0;
  double total = 0.0;
  for (int r = s.row0; r < s.row0 + s.nrows; r++) {
    double n = 0.0;
    for (int t = 1; t < b->T; t++) n += b->mask[(size_t)r * b->T + t - 1];
    counted += n > 0;
  }
  for (int r = s.row0; r < s.row0 + s.nrows; r++) {
    double n = 0.0, row = 0.0;
    for (int t = 1; t < b->T; t++) n += b->mask[(size_t)r * b->T + t - 1];
    if (!(n > 0)) continue;
    for (int t = 1; t < b->T; t++) {
      double m = b->mask[(size_t)r * b->T + t - 1];
      if (m == 0.0) continue;
      size_t at = ((size_t)r * b->T + t) * (size_t)C;
      double sq = 0.0, g = coeff * m * 2.0 / (C * n * counted);
      for (int j = 0; j < C; j++) {
        double target = ref ? ref[at + j] : target_scale * uniform_at(seed, (uint64_t)j);
        double d = (double)b->hidden[at + j] - target;
        sq += d * d;
        dh[at + j] += (float)(g * d);
      }
      row += m * sq / C;
    }
    total += row / n;
  }
  *rows = counted;
  return counted ? total / counted : 0.0;
}

static int rmu_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  const rmu_params *p = state; /* the host's copy */
  uint64_t seed = (uint64_t)p->seed;
  double norm = 0.0;
  for (int j = 0; j < b->C; j++) norm += uniform_at(seed, (uint64_t)j) * uniform_at(seed, (uint64_t)j);
  int n_forget, n_retain = 0;
  double forget = add_mse(b, LETHE_SEG_FORGET, NULL, seed, p->steering_coeff / sqrt(norm), 1.0,
                          out->dhidden, &n_forget);
  if (!n_forget) return lethe_method_fail(err, "no answer tokens in the forget rows");
  double retain = 0.0;
  if (p->alpha != 0.0) {
    retain = add_mse(b, LETHE_SEG_RETAIN, b->ref_hidden, seed, 0.0, p->alpha, out->dhidden,
                     &n_retain);
    if (!n_retain) return lethe_method_fail(err, "no answer tokens in the retain rows");
  }
  out->loss = forget + p->alpha * retain;
  lt_batch_metric(b, "forget_mse", forget);
  if (p->alpha != 0.0) lt_batch_metric(b, "retain_mse", retain);
  return 0;
}

LETHE_METHOD_DEFINE(.name = "rmu",
                    .version = "1.0.0",
                    .summary = "RMU: steer forget activations at a layer to c·u, keep retain ones at the reference's",
                    .caps = LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN | LETHE_CAP_RETAIN,
                    LETHE_METHOD_PARAMS(rmu_param_table, rmu_params),
                    .loss_and_grad = rmu_loss_and_grad,
                    .title = "RMU",
                    .colour = "#332288",
                    .resolve = rmu_resolve);
