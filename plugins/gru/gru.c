/* gru — gradient-rectified unlearning (Wang et al. 2025, "GRU: Mitigating
 * the Trade-off between Unlearning and Retention for LLMs"), on gradient
 * ascent or NPO, through ABI 1.3's separate forget and retain gradients:
 *   g_f = forget_coeff·∇L_forget   (L_forget = −NLL_mean(forget), or L_NPO)
 *   g_r = ∇NLL_mean(retain)
 *   update = g_f − min(0, ⟨g_f, g_r⟩)/‖g_r‖² · g_r + retain_coeff·g_r
 * over all trainable tensors as one vector: where the forget step would
 * raise the retain loss, it is projected onto the plane normal to g_r.
 * Logs "gru_cosine" (cos(g_f, g_r)) and "gru_projected" (1 when it
 * projected). See README.md. */
#include <math.h>
#include <stddef.h>

#include "loss_terms.h"

typedef struct gru_params {
  int32_t npo;
  double beta;
  double forget_coeff;
  double retain_coeff;
  int32_t project;
} gru_params;

static const lethe_param gru_param_table[] = {
    {"npo", LETHE_PARAM_BOOL, offsetof(gru_params, npo), 0.0, 0.0, 1.0,
     "the forget term is NPO (β) instead of gradient ascent −NLL_mean(forget)", 0},
    {"beta", LETHE_PARAM_DOUBLE, offsetof(gru_params, beta), 0.1, 0.0, 1000.0,
     "inverse temperature β of the NPO term (with npo)", LETHE_PARAM_MIN_EXCLUSIVE},
    {"forget_coeff", LETHE_PARAM_DOUBLE, offsetof(gru_params, forget_coeff), 1.0, 0.0, INFINITY,
     "weight of the forget term", 0},
    {"retain_coeff", LETHE_PARAM_DOUBLE, offsetof(gru_params, retain_coeff), 0.0, 0.0, INFINITY,
     "weight of the retain gradient added to the update (0: it only steers, as GRU)", 0},
    {"project", LETHE_PARAM_BOOL, offsetof(gru_params, project), 1.0, 0.0, 1.0,
     "rectify the forget gradient (false: the plain sum g_f + retain_coeff·g_r)", 0},
};

/* Retain rows unless they change nothing (no projection, no retain term). */
static int gru_resolve(const void *params, lethe_method_needs *needs, lethe_method_error *err) {
  (void)err;
  const gru_params *p = params;
  if (!p->npo) needs->caps &= ~LETHE_CAP_REF_LOGP;
  if (!p->project && p->retain_coeff == 0.0) needs->caps &= ~LETHE_CAP_RETAIN;
  return 0;
}

static int has_retain(const lethe_method_batch *b) { return b->seg[LETHE_SEG_RETAIN].nrows > 0; }

/* dlogp: forget_coeff·∂L_forget on the forget rows, ∂NLL_mean(retain) (weight
 * 1: the retain part's gradient is g_r itself) on the retain rows. */
static int gru_loss_and_grad(void *state, const lethe_method_batch *b, lethe_method_grad *out,
                             lethe_method_error *err) {
  const gru_params *p = state; /* the host's copy */
  double forget, retain_nll = 0.0, mean_w;
  if (p->npo ? lt_add_npo(b, p->beta, p->forget_coeff, out->dlogp, &forget, &mean_w, err)
             : lt_add_nll_mean(b, 1u << LETHE_SEG_FORGET, -p->forget_coeff, out->dlogp, &forget,
                               err))
    return -1;
  if (!p->npo) forget = -forget;
  if (has_retain(b) &&
      lt_add_nll_mean(b, 1u << LETHE_SEG_RETAIN, 1.0, out->dlogp, &retain_nll, err))
    return -1;
  out->loss = p->forget_coeff * forget + p->retain_coeff * retain_nll;
  lt_batch_metric(b, p->npo ? "forget_npo" : "forget_nll", p->npo ? forget : -forget);
  if (has_retain(b)) lt_batch_metric(b, "retain_nll", retain_nll);
  return 0;
}

/* NLL_mean over one segment's counted tokens (the value of lt_add_nll_mean). */
static double nll_mean(const lethe_method_batch *b, int seg) {
  double sum = 0.0, count = 0.0;
  for (int r = b->seg[seg].row0; r < b->seg[seg].row0 + b->seg[seg].nrows; r++) {
    sum -= lt_row_sum(b, b->logp, r);
    for (int t = 0; t < b->T; t++) count += b->mask[(size_t)r * b->T + t];
  }
  return count > 0 ? sum / count : 0.0;
}

/* The scalar whose derivative dlogp is: forget_coeff·L_forget + NLL_mean(retain). */
static int gru_objective(const void *state, const lethe_method_batch *at,
                         const lethe_method_batch *base, double *value, lethe_method_error *err) {
  (void)base; (void)err;
  const gru_params *p = state;
  double forget = 0.0;
  if (p->npo) {
    lethe_segment f = at->seg[LETHE_SEG_FORGET];
    for (int r = f.row0; r < f.row0 + f.nrows; r++) {
      double ratio = lt_row_sum(at, at->logp, r) - lt_row_sum(at, at->ref_logp, r);
      forget -= (2.0 / p->beta) * lt_log_sigmoid(-p->beta * ratio) / f.nrows;
    }
  } else {
    forget = -nll_mean(at, LETHE_SEG_FORGET);
  }
  *value = p->forget_coeff * forget + nll_mean(at, LETHE_SEG_RETAIN);
  return 0;
}

/* out = g_f − min(0, ⟨g_f, g_r⟩)/‖g_r‖²·g_r + retain_coeff·g_r (sums in double). */
static int gru_combine(void *state, const lethe_method_parts *parts, lethe_method_error *err) {
  (void)err;
  const gru_params *p = state;
  double dot = 0.0, rr = 0.0, ff = 0.0;
  for (int32_t i = 0; i < parts->n_params; i++)
    for (int64_t k = 0; k < parts->params[i].numel; k++) {
      double f = parts->forget_grad[i][k], r = parts->retain_grad[i][k];
      dot += f * r;
      rr += r * r;
      ff += f * f;
    }
  double shift = p->project && dot < 0.0 && rr > 0.0 ? -dot / rr : 0.0;
  double rc = p->retain_coeff + shift;
  for (int32_t i = 0; i < parts->n_params; i++)
    for (int64_t k = 0; k < parts->params[i].numel; k++)
      parts->out[i][k] = (float)(parts->forget_grad[i][k] + rc * parts->retain_grad[i][k]);
  if (parts->host && parts->host->metric) {
    double cosine = ff > 0 && rr > 0 ? dot / sqrt(ff * rr) : 0.0;
    parts->host->metric(parts->host->ctx, "gru_cosine", cosine);
    parts->host->metric(parts->host->ctx, "gru_projected", shift > 0.0 ? 1.0 : 0.0);
  }
  return 0;
}

LETHE_METHOD_DEFINE(.name = "gru",
                    .version = "1.0.0",
                    .summary = "GRU: GA or NPO with the forget gradient projected off the retain "
                               "gradient where they conflict",
                    .caps = LETHE_CAP_RETAIN | LETHE_CAP_REF_LOGP | LETHE_CAP_PART_GRADS,
                    LETHE_METHOD_PARAMS(gru_param_table, gru_params),
                    .loss_and_grad = gru_loss_and_grad,
                    .title = "GRU",
                    .colour = "#ddcc77",
                    .resolve = gru_resolve,
                    .objective = gru_objective,
                    .combine = gru_combine);
