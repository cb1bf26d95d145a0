/* eval_pairwise — the pairwise path of evaluation: each (prompt, answer)
 * sequence scored on its own in padded batches, greedy answers generated
 * from the prompts alone, and the forget KL when the shared-prompt path did
 * not take it. The reference the shared-prompt path (eval_shared.c) is
 * checked against, and the path for tokenizers that merge across the
 * prompt/answer boundary. Not here: choosing the path (evaluate.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "evaluate/eval_internal.h"
#include "model/token_batch.h"

size_t eval_n_answers(const tofu_set *set, int has_para) {
  size_t total = 0;
  for (size_t i = 0; i < set->n; i++) total += 1 + (size_t)has_para + (size_t)set->rows[i].n_perturbed;
  return total;
}

void eval_decode_generations(const tok_tokenizer *tok, int32_t end, const int32_t *res,
                             size_t per_row, const size_t *order, size_t n, eval_example *out) {
  for (size_t p = 0; p < n; p++) {
    const int32_t *row = res + p * per_row;
    int g = row[0];
    if (g > 0 && row[g] == end) g--;
    out[order ? order[p] : p].generation = tok_decode(tok, row + 1, g, 1);
  }
}

/* Mean over answer targets of KL(ref‖model) for row r of the last forwards. */
static double row_kl(const float *lp, const float *lr, const int32_t *targets, int T, int V) {
  double total = 0;
  int count = 0;
  for (int t = 0; t < T; t++) {
    if (targets[t] < 0) continue;
    const float *a = lp + (size_t)t * V, *b = lr + (size_t)t * V;
    double ma = a[0], mb = b[0];
    for (int v = 1; v < V; v++) ma = a[v] > ma ? a[v] : ma, mb = b[v] > mb ? b[v] : mb;
    double sa = 0, sb = 0;
    for (int v = 0; v < V; v++) sa += exp(a[v] - ma), sb += exp(b[v] - mb);
    double lza = ma + log(sa), lzb = mb + log(sb), kl = 0;
    for (int v = 0; v < V; v++) {
      double log_ref = b[v] - lzb;
      kl += exp(log_ref) * (log_ref - (a[v] - lza));
    }
    total += kl;
    count++;
  }
  return count ? total / count : 0.0;
}

/* qsort_r order of example indices, longest first (the first batch then
 * sizes the activation buffers once), ties by index. */
static int by_length(const void *a, const void *b, void *examples) {
  const tofu_example *ex = examples;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int li = ex[i].len, lj = ex[j].len;
  return li != lj ? (li < lj) - (li > lj) : (i > j) - (i < j);
}

/* Evaluation over ranks (core/dist.h): the rows of a list are cut into the
 * same batches whatever the number of ranks, each batch is computed whole by
 * one rank (contiguous shares of the batches; `turn` rotates the remainder
 * over successive lists) and the per-row results are gathered. A row's
 * numbers thus never depend on the rank count: N ranks give the results of
 * one process, bit for bit (with the same threads per process). A rank's
 * failure in its batches is agreed on (dist_status) before each gather, so
 * that the ranks skip it together: a rank that fails alone must not go on
 * to the next list's gather, nor to the pairwise path's. */

/* Average NLL (and optionally the KL to ref) of n (question, answer) pairs. */
static int score_pairs(llama_model *m, llama_model *ref, const tok_tokenizer *tok,
                       const tofu_format *fmt, tofu_ids ids, const char *const *q, const char *const *a, size_t n,
                       int bs, long *turn, double *avg_nll, double *kl, lethe_err *err) {
  tofu_example *ex = lethe_calloc(n ? n : 1, sizeof *ex);
  int rc = 0;
  size_t encoded = 0;
  for (; encoded < n && rc == 0; encoded++)
    rc = tofu_encode(tok, fmt, q[encoded], a[encoded], &ex[encoded], err);
  if (rc != 0) encoded--;
  /* batch rows of similar length together: less padding */
  size_t *order = lethe_malloc(sizeof(size_t) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) order[i] = i;
  if (rc == 0) qsort_r(order, n, sizeof *order, by_length, ex);
  long n_batches = (long)((n + (size_t)bs - 1) / (size_t)bs), first, count;
  dist_share(n_batches, *turn, &first, &count);
  /* (n_batches·bs, 2): average NLL and KL per position in `order` */
  double *res = lethe_calloc((size_t)n_batches * (size_t)bs * 2 + 1, sizeof(double));
  tofu_batch b = {0};
  int *idx = lethe_malloc(sizeof(int) * (size_t)bs);
  float *logp = NULL;
  size_t logp_cap = 0;
  int V = m->cfg.vocab_size;
  int whole = ref && kl; /* the KL reads both models' logits; the NLL only log-probs */
  if (ref) llama_set_logits(ref, whole ? LLAMA_LOGITS_WHOLE : LLAMA_LOGITS_CHUNKED, 0);
  llama_set_logits(m, whole ? LLAMA_LOGITS_WHOLE : LLAMA_LOGITS_CHUNKED, 0);
  llama_set_skip_padding(m, 1); /* targets only where the mask is 1 */
  if (ref) llama_set_skip_padding(ref, 1);
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs);
    for (int j = 0; j < B; j++) idx[j] = (int)order[start + (size_t)j];
    tofu_batch_fill(&b, ex, idx, B, fmt, ids.pad, ids.end);
    token_batch tb;
    token_batch_from_arrays(&tb, b.B, b.T, b.input_ids, b.attention_mask, b.labels, ids.pad);
    size_t cells = (size_t)B * b.T;
    if (cells > logp_cap) {
      free(logp);
      logp = lethe_malloc(cells * sizeof(float));
      logp_cap = cells;
    }
    if (ref) rc = llama_forward(ref, tb.input_ids, tb.attn_mask, B, b.T, err);
    if (rc == 0) rc = llama_forward(m, tb.input_ids, tb.attn_mask, B, b.T, err);
    if (rc == 0) llama_target_logp(m, tb.targets, logp);
    for (int r = 0; rc == 0 && r < B; r++) {
      double s = 0;
      int c = 0;
      for (int t = 0; t < b.T; t++)
        if (tb.targets[r * b.T + t] >= 0) s -= logp[r * b.T + t], c++;
      double *row = res + 2 * (start + (size_t)r);
      row[0] = c ? s / c : 0.0;
      if (ref && kl)
        row[1] = row_kl(m->acts.logits + (size_t)r * b.T * V, ref->acts.logits + (size_t)r * b.T * V,
                        tb.targets + r * b.T, b.T, V);
    }
    token_batch_free(&tb);
  }
  rc = dist_status(rc, err);
  if (rc == 0) {
    dist_allgather_shares(res, sizeof(double) * 2 * (size_t)bs, n_batches, *turn);
    for (size_t p = 0; p < n; p++) {
      avg_nll[order[p]] = res[2 * p];
      if (ref && kl) kl[order[p]] = res[2 * p + 1];
    }
  }
  *turn += n_batches;
  free(res);
  free(logp);
  free(idx);
  free(order);
  tofu_batch_free(&b);
  tofu_examples_free(ex, encoded);
  return rc;
}

/* Greedy answers to the questions of a set, decoded to text. */
static int generate_answers(llama_kv_cache *kv, const eval_set_job *job, long *turn,
                            eval_example *out, lethe_err *err) {
  const tok_tokenizer *tok = job->tok;
  const tofu_format *fmt = job->fmt;
  const tofu_set *set = job->set;
  const eval_options *opt = job->opt;
  int bs = opt->batch_size, max_new = opt->max_new_tokens, rc = 0;
  long n_batches = (long)((set->n + (size_t)bs - 1) / (size_t)bs), first, count;
  dist_share(n_batches, *turn, &first, &count);
  /* per row: the number of generated tokens, then max_new token slots */
  size_t per_row = (size_t)max_new + 1;
  int32_t *res = lethe_calloc((size_t)n_batches * (size_t)bs * per_row + 1, sizeof(int32_t));
  int32_t *gen = lethe_malloc(sizeof(int32_t) * (size_t)bs * max_new);
  int *n_out = lethe_malloc(sizeof(int) * (size_t)bs), *lens = lethe_malloc(sizeof(int) * (size_t)bs);
  const int32_t **prompts = lethe_calloc((size_t)bs, sizeof *prompts);
  tofu_example *ex = lethe_calloc((size_t)bs, sizeof *ex);
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(set->n - start < (size_t)bs ? set->n - start : (size_t)bs), enc = 0;
    for (; enc < B && rc == 0; enc++) {
      memset(&ex[enc], 0, sizeof ex[enc]);
      rc = tofu_encode(tok, fmt, set->rows[start + enc].question, set->rows[start + enc].answer,
                       &ex[enc], err);
      prompts[enc] = ex[enc].ids;
      lens[enc] = ex[enc].n_prompt;
    }
    if (rc == 0)
      rc = llama_generate_greedy_kv(job->m, kv, prompts, lens, B, max_new, job->ids.end, gen, n_out, err);
    for (int j = 0; rc == 0 && j < B; j++) {
      int32_t *row = res + (start + (size_t)j) * per_row;
      row[0] = n_out[j];
      memcpy(row + 1, gen + (size_t)j * max_new, sizeof(int32_t) * (size_t)n_out[j]);
    }
    for (int j = 0; j < enc; j++) tofu_example_free(&ex[j]);
  }
  rc = dist_status(rc, err);
  if (rc == 0) {
    dist_allgather_shares(res, sizeof(int32_t) * per_row * (size_t)bs, n_batches, *turn);
    eval_decode_generations(tok, job->ids.end, res, per_row, NULL, set->n, out);
  }
  *turn += n_batches;
  free(res);
  free(ex);
  free(prompts);
  free(gen);
  free(n_out);
  free(lens);
  return rc;
}

int eval_set_pairwise(llama_kv_cache *kv, const eval_set_job *job, long *turn, double *nll,
                      eval_example *out, lethe_err *err) {
  const tofu_set *set = job->set;
  size_t total = eval_n_answers(set, job->has_para);
  const char **q = lethe_malloc(sizeof(char *) * (total + 1)), **a = lethe_malloc(sizeof(char *) * (total + 1));
  size_t k = 0;
  for (size_t i = 0; i < set->n; i++) {
    const tofu_qa *row = &set->rows[i];
    q[k] = row->question, a[k++] = row->answer;
    if (job->has_para) q[k] = row->question, a[k++] = row->paraphrased_answer;
    for (int j = 0; j < row->n_perturbed; j++) q[k] = row->question, a[k++] = row->perturbed[j];
  }
  int rc = score_pairs(job->m, NULL, job->tok, job->fmt, job->ids, q, a, total, job->opt->batch_size, turn,
                       nll, NULL, err);
  free(q);
  free(a);
  if (rc == 0) rc = generate_answers(kv, job, turn, out, err);
  return rc;
}

int eval_forget_kl_pairwise(const eval_set_job *job, long *turn, double *kl, lethe_err *err) {
  const tofu_set *set = job->set;
  const char **q = lethe_malloc(sizeof(char *) * (set->n + 1)), **a = lethe_malloc(sizeof(char *) * (set->n + 1));
  double *nll = lethe_malloc(sizeof(double) * (set->n + 1));
  for (size_t i = 0; i < set->n; i++) q[i] = set->rows[i].question, a[i] = set->rows[i].answer;
  int rc = score_pairs(job->m, job->ref, job->tok, job->fmt, job->ids, q, a, set->n, job->opt->batch_size,
                       turn, nll, kl, err);
  free(q);
  free(a);
  free(nll);
  return rc;
}
