/* loss_terms — the math every method plugin shares, compiled into each
 * plugin (each .so stays self-contained; these symbols stay hidden).
 *
 * Conventions follow the NPO/TOFU code (see docs/writing-a-method.md):
 * token-mean NLL over whole segments (HF `outputs.loss`), per-sequence sums
 * of masked log-probs, and KL(π_ref ‖ π_θ) averaged over positions. Every
 * `add_*` function adds coeff × (the term's gradient) into the host-zeroed
 * output buffers and returns the term's value, unscaled. Sums run in double.
 * Not here: any one method's combination of terms (that is the plugin).
 */
#ifndef LETHE_LOSS_TERMS_H
#define LETHE_LOSS_TERMS_H

#include <stddef.h>

#include "lethe/method.h"

/* ---- instance state: a copy of the parameters and the host services ---- */
typedef struct lt_instance {
  const lethe_host_api *host; /* valid until destroy */
  void *params;               /* copy of the host-filled struct (NULL if none) */
} lt_instance;

/* create/destroy callbacks shared by all plugins (params_size as declared). */
int lt_create(const void *params, size_t params_size, const lethe_host_api *host, void **state,
              lethe_method_error *err);
void lt_destroy(void *state);
/* Reports a named per-step metric through the host, when it offers that service. */
void lt_metric(const lt_instance *inst, const char *name, double value);
/* The same through batch->host (ABI 1.2: plugins without create()). */
void lt_batch_metric(const lethe_method_batch *b, const char *name, double value);

/* ---- scalar helpers (stable for any x) ---- */
double lt_log_sigmoid(double x); /* log σ(x) = −softplus(−x) */
double lt_sigmoid(double x);

/* Σ_t mask[b,t]·x[b,t] over one row. */
double lt_row_sum(const lethe_method_batch *b, const float *x, int row);

/* Rows [seg.row0, seg.row0+nrows) of each segment whose bit (1 << LETHE_SEG_*)
 * is in seg_bits, as one token set: returns NLL_mean = −Σ mask·logp / Σ mask
 * in *nll and adds coeff·∂NLL_mean/∂logp into dlogp. Fails when the rows hold
 * no counted token. */
int lt_add_nll_mean(const lethe_method_batch *b, unsigned seg_bits, double coeff, float *dlogp,
                    double *nll, lethe_method_error *err);

/* NPO on the forget rows: ℓ_i = Σ_t mask·(logp − ref_logp) (= log πθ/πref),
 * returns (2/β)·mean_i softplus(β·ℓ_i) in *loss and the mean of
 * W_i = 2σ(β·ℓ_i) in *mean_w; adds coeff·W_i·mask/n into dlogp. */
int lt_add_npo(const lethe_method_batch *b, double beta, double coeff, float *dlogp, double *loss,
               double *mean_w, lethe_method_error *err);

/* KL(π_ref ‖ π_θ) on the retain rows, per position Σ_v p_ref·(log p_ref − log p_θ),
 * averaged over every position of the retain rows (answer_only = 0, the
 * original code) or over mask-weighted answer positions (answer_only = 1).
 * Adds coeff·(p_θ − p_ref)/N into dlogits. */
int lt_add_kl_retain(const lethe_method_batch *b, int answer_only, double coeff, float *dlogits,
                     double *kl, lethe_method_error *err);

#endif
