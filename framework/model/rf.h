/* rf — the random-feature classifier of the NPO paper's synthetic experiment
 * (§4): π_θ(·|x) = softmax([θᵀφ(x), 0]) with φ(x) = ReLU(W x), W (N, d) fixed
 * with N(0, 1/d) entries and θ (N) trained, K = 2 classes. All math is in
 * double precision (the paper uses float64).
 *
 * It is a backend with the same shape of interface as model/llama.h, so the
 * host drives a method plugin on it exactly as on Llama: rf_forward (logits,
 * here (B, T = 1, V = 2)), rf_target_logp (the per-row log-prob of the
 * label), rf_dlogits_from_dlogp (g·(onehot − softmax) plus any extra
 * dL/dlogits), rf_backward (adds into the gradient of θ). Optimisation is
 * full-batch plain gradient descent (rf_gd_step).
 *
 * Class layout follows the paper's code: the first logit is θᵀφ, the second a
 * fixed 0, so π_θ(y = 0|x) = σ(θᵀφ(x)).
 *
 * Features are computed once per data set (rf_features) and passed to
 * rf_forward by pointer: the model borrows them until the next rf_forward.
 * Not here: data, losses, metrics, files (synthetic/synthetic.h).
 */
#ifndef LETHE_RF_H
#define LETHE_RF_H

#include <stdint.h>

#include "core/core.h"

#define RF_CLASSES 2

typedef struct rf_model {
  int d;          /* input dimension */
  int n_features; /* N, the number of random features */
  double *W;      /* (N, d) fixed first layer, owned */
  double *theta;  /* (N) trained weights: logit 0 = θᵀφ, owned */
  double *grad;   /* (N) dL/dθ, added to by rf_backward, owned */
  /* the batch of the last rf_forward */
  int B;              /* rows */
  const double *phi;  /* (B, N) features, borrowed from the caller */
  double *logits;     /* (B, 1, 2) logits; after rf_dlogits_from_dlogp: dL/dlogits */
  int B_cap;          /* capacity of logits in rows */
} rf_model;

/* Allocates a model with W drawn from rng (N(0, 1/d), row by row) and θ = 0. */
void rf_init(rf_model *m, int d, int n_features, lethe_rng *rng);
/* A second model sharing nothing with src but equal to it (W, θ copied). */
void rf_copy(rf_model *dst, const rf_model *src);
void rf_free(rf_model *m);

/* phi (n, N) = ReLU(x W ᵀ) for x (n, d). */
void rf_features(const rf_model *m, const double *x, int n, double *phi);

/* Forward over B rows of features phi (B, N): fills m->logits (B, 1, 2).
 * phi must stay valid until rf_backward returns. */
void rf_forward(rf_model *m, const double *phi, int B);
/* out[b] = log softmax(logits[b])[targets[b]] (0 where targets[b] < 0). */
void rf_target_logp(const rf_model *m, const int32_t *targets, double *out);
/* out (B, 2) = log softmax(logits[b]) for every row. */
void rf_log_softmax(const rf_model *m, double *out);
/* Turns dL/dlogp (B) into dL/dlogits in place of m->logits:
 * dlogits = g·(onehot(target) − softmax(logits)), plus extra_dlogits (B, 1, 2)
 * when non-NULL. Rows with targets < 0 get only the extra term. */
void rf_dlogits_from_dlogp(rf_model *m, const int32_t *targets, const double *dlogp,
                           const double *extra_dlogits);
/* Backward from dL/dlogits (in m->logits): grad += Σ_b dlogits[b, 0]·phi[b]. */
void rf_backward(rf_model *m);
void rf_zero_grad(rf_model *m);
/* θ −= lr·grad (plain gradient descent; the gradient is left as is). */
void rf_gd_step(rf_model *m, double lr);
/* ‖grad‖₂. */
double rf_grad_norm(const rf_model *m);

#endif
