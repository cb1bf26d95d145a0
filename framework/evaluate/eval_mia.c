/* eval_mia — the teacher-forced pass: each (question, answer) of a set
 * scored on its own and turned into the attack scores of metrics/mia.h and
 * the memorisation numbers of metrics/memorization.h (exact memorisation,
 * extraction strength); each attack's AUC between the forget set (members)
 * and the holdout set (non-members); the reference attack and PrivLeak
 * against the retain model's evaluation.
 *
 * Tokens, as open-unlearning (OU) takes them: the targets are those of
 * every other evaluated answer (answer_tag + answer, then the end token;
 * the prompt masked). LOSS and ZLib read every target; Min-K% and Min-K%++
 * drop the last one (OU's tokenwise_logprobs), and so do EM and ES, which
 * compare the argmax of each of those positions' logits (the first maximum,
 * as torch.argmax) with the target. ZLib's text is the targets
 * decoded with special tokens skipped. Min-K%++ standardises each token by
 * the moments of the model's whole next-token distribution at its
 * position: the LM head runs on the target positions only, a chunk of
 * logits at a time (llama_target_logp_each), and each chunk leaves its
 * positions' argmax and moments behind — no (B, T, V) logits, and none for
 * the prompt.
 * Not here: the formulas (metrics/mia.c), the files (eval_io.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "evaluate/eval_internal.h"
#include "metrics/memorization.h"
#include "metrics/mia.h"
#include "model/token_batch.h"

const char *const *const eval_mia_keys = mia_attack_keys;

/* The first index of the largest of n values (torch.argmax's choice). */
static int32_t argmax(const float *row, int n) {
  int32_t best = 0;
  for (int v = 1; v < n; v++)
    if (row[v] > row[best]) best = v;
  return best;
}

/* What the pass keeps of each position with a target (flat b·T + t) from
 * its whole next-token distribution: the argmax (EM, ES) and the moments of
 * the log-probs (Min-K%++). */
typedef struct position_values {
  int32_t *pred;
  double *mu, *var;
} position_values;

/* llama_logits_fn: one chunk of logits into the positions' values. Each
 * position is its own sums in a fixed order: any thread. */
static void keep_position_values(void *user, const float *logits, const int32_t *pos, int64_t n,
                                 int V) {
  position_values *pv = user;
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; j++) {
    const float *row = logits + j * (int64_t)V;
    pv->pred[pos[j]] = argmax(row, V);
    mia_next_token_moments(row, (size_t)V, &pv->mu[pos[j]], &pv->var[pos[j]]);
  }
}

/* The scores of one row: its n targets ids[], their log-probs lp[], the
 * values at their positions pos[] (flat) and their text (ZLib's). A score
 * the attack refuses (no target, a NaN log-prob) is NaN; Min-K% and
 * Min-K%++ are 0 when only one target is left to drop (OU's values); EM is
 * NaN when no target is left (OU's None). */
static void row_scores(const position_values *pv, const char *text, const int32_t *ids,
                       const float *lp, const int *pos, int n, eval_example *e) {
  lethe_err ignore = {0};
  double *mia = e->mia;
  for (int a = 0; a < EVAL_N_MIA; a++) mia[a] = NAN;
  if (mia_loss_score(lp, (size_t)n, &mia[EVAL_MIA_LOSS], &ignore) != 0) mia[EVAL_MIA_LOSS] = NAN;
  if (mia_zlib_score(lp, (size_t)n, text, strlen(text), &mia[EVAL_MIA_ZLIB], &ignore) != 0)
    mia[EVAL_MIA_ZLIB] = NAN;
  int k = n > 0 ? n - 1 : 0; /* OU: Min-K%, Min-K%++, EM and ES without the last target */
  int32_t *pred = lethe_malloc(sizeof(int32_t) * ((size_t)k + 1));
  double *mu = lethe_malloc(sizeof(double) * ((size_t)k + 1));
  double *var = lethe_malloc(sizeof(double) * ((size_t)k + 1));
  for (int j = 0; j < k; j++)
    pred[j] = pv->pred[pos[j]], mu[j] = pv->mu[pos[j]], var[j] = pv->var[pos[j]];
  if (memorization_exact(pred, ids, (size_t)k, &e->em, &ignore) != 0) e->em = NAN;
  e->es = memorization_extraction_strength(pred, ids, (size_t)k);
  if (k < 1) {
    mia[EVAL_MIA_MIN_K] = mia[EVAL_MIA_MIN_K_PLUS_PLUS] = 0.0;
  } else {
    if (mia_min_k_score(lp, (size_t)k, EVAL_MIA_K, &mia[EVAL_MIA_MIN_K], &ignore) != 0)
      mia[EVAL_MIA_MIN_K] = NAN;
    if (mia_min_k_plus_plus_score(lp, mu, var, (size_t)k, EVAL_MIA_K,
                                  &mia[EVAL_MIA_MIN_K_PLUS_PLUS], &ignore) != 0)
      mia[EVAL_MIA_MIN_K_PLUS_PLUS] = NAN;
  }
  free(pred), free(mu), free(var);
}

/* What the pass gathers per row: the attack scores, ES, EM. */
#define ROW_VALUES (EVAL_N_MIA + 2)

/* One batch: ex[idx[0..B)] forwarded, the LM head on the answer positions
 * only, a chunk at a time; their values to res[b * ROW_VALUES ..]. */
static int score_batch(const eval_set_job *job, const tofu_example *ex, const int *idx, int B,
                       tofu_batch *b, double *res, lethe_err *err) {
  llama_model *m = job->m;
  tofu_batch_fill(b, ex, idx, B, job->fmt, job->ids.pad, job->ids.end);
  token_batch tb;
  token_batch_from_arrays(&tb, b->B, b->T, b->input_ids, b->attention_mask, b->labels,
                          job->ids.pad);
  int T = b->T;
  size_t BT = (size_t)B * T;
  float *logp = lethe_malloc(sizeof(float) * BT), *lp = lethe_malloc(sizeof(float) * BT);
  int32_t *ids = lethe_malloc(sizeof(int32_t) * BT);
  int *pos = lethe_malloc(sizeof(int) * BT), *n = lethe_calloc((size_t)B, sizeof(int));
  char **text = lethe_calloc((size_t)B, sizeof(char *));
  position_values pv = {lethe_malloc(sizeof(int32_t) * BT), lethe_malloc(sizeof(double) * BT),
                        lethe_malloc(sizeof(double) * BT)};
  int rc = llama_forward(m, tb.input_ids, tb.attn_mask, B, T, err);
  if (rc == 0) llama_target_logp_each(m, tb.targets, logp, keep_position_values, &pv);
  for (int r = 0; rc == 0 && r < B; r++) { /* row r's targets at [r·T, r·T + n[r]) */
    size_t at = (size_t)r * T;
    for (int t = 0; t < T; t++)
      if (tb.targets[at + t] >= 0)
        ids[at + n[r]] = tb.targets[at + t], lp[at + n[r]] = logp[at + t],
                    pos[at + n[r]++] = (int)(at + (size_t)t);
    text[r] = tok_decode(job->tok, ids + at, n[r], 1); /* one thread: decoders share state */
  }
  /* rows are independent (each its own sums, in a fixed order): any thread */
#pragma omp parallel for schedule(dynamic, 1) if (rc == 0)
  for (int r = 0; r < B; r++) {
    size_t at = (size_t)r * T;
    eval_example e;
    row_scores(&pv, text[r], ids + at, lp + at, pos + at, n[r], &e);
    double *row = res + (size_t)r * ROW_VALUES;
    memcpy(row, e.mia, sizeof e.mia);
    row[EVAL_N_MIA] = e.es, row[EVAL_N_MIA + 1] = e.em;
  }
  for (int r = 0; r < B; r++) free(text[r]);
  token_batch_free(&tb);
  free(logp), free(lp), free(ids), free(pos), free(n), free(text);
  free(pv.pred), free(pv.mu), free(pv.var);
  return rc;
}

int eval_mia_set(const eval_set_job *job, long *turn, eval_example *out, lethe_err *err) {
  const tofu_set *set = job->set;
  size_t n = set->n;
  tofu_example *ex = lethe_calloc(n ? n : 1, sizeof *ex);
  int rc = 0, longest = 1;
  size_t encoded = 0;
  for (; rc == 0 && encoded < n; encoded++) {
    rc = tofu_encode(job->tok, job->fmt, set->rows[encoded].question, set->rows[encoded].answer,
                     &ex[encoded], err);
    if (rc == 0 && ex[encoded].len + 1 > longest) longest = ex[encoded].len + 1;
  }
  if (rc != 0) encoded--, lethe_err_prefix(err, "row %zu", encoded + 1);
  /* the batch count depends on the data only: every rank cuts the same batches */
  long bs = job->opt->batch_size < 1 ? 1 : job->opt->batch_size;
  long n_batches = (long)((n + (size_t)bs - 1) / (size_t)bs), first, count;
  dist_share(n_batches, *turn, &first, &count);
  double *res = lethe_calloc((size_t)n_batches * (size_t)bs * ROW_VALUES + 1, sizeof(double));
  int *idx = lethe_malloc(sizeof(int) * (size_t)bs);
  tofu_batch b = {0};
  llama_set_logits(job->m, LLAMA_LOGITS_CHUNKED, 0); /* the answer positions only */
  llama_set_skip_padding(job->m, 1); /* targets only where the mask is 1 */
  llama_reserve(job->m, (int)bs, longest); /* one layout for every batch, not one per longer batch */
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs);
    for (int j = 0; j < B; j++) idx[j] = (int)(start + (size_t)j);
    rc = score_batch(job, ex, idx, B, &b, res + start * ROW_VALUES, err);
  }
  rc = dist_status(rc, err);
  if (rc == 0) {
    dist_allgather_shares(res, sizeof(double) * ROW_VALUES * (size_t)bs, n_batches, *turn);
    for (size_t i = 0; i < n; i++) {
      const double *row = res + i * ROW_VALUES;
      memcpy(out[i].mia, row, sizeof out[i].mia);
      out[i].es = row[EVAL_N_MIA], out[i].em = row[EVAL_N_MIA + 1];
    }
  }
  *turn += n_batches;
  free(res);
  free(idx);
  tofu_batch_free(&b);
  tofu_examples_free(ex, encoded);
  return rc;
}

void eval_mia_auc(const eval_example *forget, size_t n_forget, const eval_example *holdout,
                  size_t n_holdout, double auc[EVAL_N_MIA]) {
  double *member = lethe_malloc(sizeof(double) * (n_forget + 1));
  double *nonmember = lethe_malloc(sizeof(double) * (n_holdout + 1));
  for (int a = 0; a < EVAL_N_MIA; a++) {
    for (size_t i = 0; i < n_forget; i++) member[i] = forget[i].mia[a];
    for (size_t i = 0; i < n_holdout; i++) nonmember[i] = holdout[i].mia[a];
    lethe_err ignore = {0}; /* an empty set or a NaN score: no AUC */
    if (mia_auc(member, n_forget, nonmember, n_holdout, &auc[a], &ignore) != 0) auc[a] = NAN;
  }
  free(member);
  free(nonmember);
}

/* The reference attack of n examples: LOSS minus the reference's LOSS. */
static void reference_scores(eval_example *ex, const eval_example *ref, size_t n) {
  for (size_t i = 0; i < n; i++)
    ex[i].mia[EVAL_MIA_REFERENCE] = ex[i].mia[EVAL_MIA_LOSS] - ref[i].mia[EVAL_MIA_LOSS];
}

void eval_retain_self_reference(eval_retain *ret) {
  reference_scores(ret->forget, ret->forget, ret->n_forget);
  reference_scores(ret->holdout, ret->holdout, ret->n_holdout);
  eval_mia_auc(ret->forget, ret->n_forget, ret->holdout, ret->n_holdout, ret->mia_auc);
}

int eval_report_against_retain(eval_report *r, const eval_retain *ret, lethe_err *err) {
  if (!r->holdout) return 0;
  size_t n_forget = r->n[TOFU_SET_FORGET];
  if (ret->n_forget != n_forget || ret->n_holdout != r->n_holdout)
    return lethe_errf(err, LETHE_E_USAGE,
                      "the retain model's evaluation has %zu forget and %zu holdout examples, "
                      "this one %zu and %zu: not the same rows (data, split, max_rows)",
                      ret->n_forget, ret->n_holdout, n_forget, r->n_holdout);
  reference_scores(r->ex[TOFU_SET_FORGET], ret->forget, n_forget);
  reference_scores(r->holdout, ret->holdout, r->n_holdout);
  eval_mia_auc(r->ex[TOFU_SET_FORGET], n_forget, r->holdout, r->n_holdout, r->mia_auc);
  for (int a = 0; a < EVAL_N_MIA; a++) {
    lethe_err ignore = {0}; /* a missing AUC, or the retain model's at 1: no PrivLeak */
    if (mia_privleak(r->mia_auc[a], ret->mia_auc[a], &r->privleak[a], &ignore) != 0)
      r->privleak[a] = NAN;
  }
  r->against_retain = 1;
  return 0;
}
