/* eval_shared — the shared-prompt path of evaluation (the default).
 * Not here: the pairwise path it falls back to (eval_pairwise.c), choosing
 * between them (evaluate.c). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "evaluate/eval_internal.h"
#include "model/kernels.h"

/* ---- one prompt, every answer ---------------------------------------------
 * All answers of a question (answer, paraphrase, perturbed answers) follow
 * the same prompt tokens, so a batch of questions is evaluated on one KV
 * cache: the prompts are run once, the greedy answer is decoded from there,
 * and each answer variant is appended, scored from the logits at its slots
 * and dropped again (llama_kv_rewind). The numbers are those of scoring each
 * (prompt, answer) sequence on its own — the attention masks make padding
 * and the other rows invisible — for about 60 % of the tokens on TOFU-like
 * data. When a tokenizer does not give every answer the same prompt ids
 * (a merge across the prompt/answer boundary) the pairwise path is used. */

eval_workspace *eval_workspace_new(void) { return lethe_calloc(1, sizeof(eval_workspace)); }

static void drop_ref_rows(eval_workspace *ws) {
  for (size_t i = 0; i < ws->ref_n; i++) free(ws->ref_rows[i]);
  free(ws->ref_rows);
  ws->ref_rows = NULL;
  ws->ref_n = ws->ref_floats = 0;
  ws->ref_model = NULL;
  ws->ref_set = NULL;
}

void eval_workspace_free(eval_workspace *ws) {
  if (!ws) return;
  llama_kv_free(&ws->kv);
  llama_kv_free(&ws->kv_ref);
  free(ws->logits);
  free(ws->first);
  free(ws->base_logits);
  free(ws->base_lp);
  drop_ref_rows(ws);
  free(ws);
}

/* Cached reference rows beyond this many floats are recomputed at every
 * evaluation instead (a 32k vocabulary makes them large). */
#define REF_CACHE_FLOATS ((size_t)64 << 20)

static float *grow(float *p, size_t *cap, size_t want) {
  if (want <= *cap) return p;
  free(p);
  *cap = want;
  return lethe_alloc_aligned(want * sizeof(float));
}

/* log Σ exp(row) in double */
static double row_lse(const float *row, int V) {
  double mx = row[0], sum = 0;
  for (int v = 1; v < V; v++) mx = row[v] > mx ? row[v] : mx;
  for (int v = 0; v < V; v++) sum += exp(row[v] - mx);
  return mx + log(sum);
}

/* Targets of variant v: their count and ids (the answer tokens and EOS). */
static int n_targets(const question_enc *q, int v) { return q->ex[v].len - q->n_prompt; }
static const int32_t *targets_of(const question_enc *q, int v) { return q->ex[v].ids + q->n_prompt; }

/* Logits row predicting answer token i of row b: the prompt's last slot
 * for i = 0, else appended slot i - 1. */
static const float *answer_logits(const eval_workspace *ws, const float *slots, int b, int i,
                                  int n, int V) {
  return i == 0 ? ws->first + (size_t)b * V : slots + ((size_t)b * n + (size_t)(i - 1)) * V;
}

/* Appends, for each of the B questions qs[], the targets from[b] ..
 * A - 2 of its variant k (A = its target count; from = NULL: from 0) as
 * inputs, so the slots predict targets from[b] + 1 .. A - 1; rows without
 * variant k, or with fewer inputs, are padding. Logits (B, n, V) go to
 * *out (grown). Sets *n_out to n, the appended slot count (0: nothing run). */
static int append_variant(const llama_model *m, llama_kv_cache *kv, float **out, size_t *cap,
                          question_enc *const *qs, int B, int k, const int *from, int32_t pad,
                          int *n_out, lethe_err *err) {
  int n = 0, V = m->cfg.vocab_size;
  for (int b = 0; b < B; b++)
    if (k < qs[b]->n) {
      int inputs = n_targets(qs[b], k) - 1 - (from ? from[b] : 0);
      n = inputs > n ? inputs : n;
    }
  *n_out = n;
  if (n == 0) return 0;
  int32_t *tok = lethe_malloc(sizeof(int32_t) * (size_t)B * n);
  int32_t *valid = lethe_calloc((size_t)B * n, sizeof(int32_t));
  for (int b = 0; b < B; b++) {
    int f = from ? from[b] : 0;
    for (int i = 0; i < n; i++) {
      int real = k < qs[b]->n && f + i < n_targets(qs[b], k) - 1;
      tok[b * n + i] = real ? targets_of(qs[b], k)[f + i] : pad;
      valid[b * n + i] = real;
    }
  }
  *out = grow(*out, cap, (size_t)B * n * V);
  int rc = llama_kv_step_all(m, kv, tok, valid, n, *out, err);
  free(tok);
  free(valid);
  return rc;
}

/* log p of the targets the n appended slots predict (append_variant with
 * the same qs, k, from): logp (B, n), 0 at padding slots. Returns logp,
 * grown to *cap floats; targets is scratch of the same size. */
static float *slot_logp(const float *slots, question_enc *const *qs, int B, int k, const int *from,
                        int n, int V, float *logp, int32_t **targets, size_t *cap) {
  size_t cells = (size_t)B * (size_t)n + 1;
  if (cells > *cap) {
    free(logp);
    free(*targets);
    logp = lethe_malloc(sizeof(float) * cells);
    *targets = lethe_malloc(sizeof(int32_t) * cells);
    *cap = cells;
  }
  for (int b = 0; b < B; b++)
    for (int i = 0; i < n; i++) {
      int t = (from ? from[b] : 0) + 1 + i, has = k < qs[b]->n && t < n_targets(qs[b], k);
      (*targets)[(size_t)b * n + i] = has ? targets_of(qs[b], k)[t] : -1;
    }
  if (n > 0) logits_target_logp(logp, slots, *targets, (int64_t)B * n, V);
  return logp;
}

/* Fills ws->ref_rows for the forget rows rows[0..B) (variant 0 = the
 * answer) that do not have them, running the reference model. */
static int ref_rows_fill(eval_workspace *ws, const llama_model *ref, const tofu_set *set,
                         question_enc *const *qs, const size_t *rows, int B, int32_t pad,
                         lethe_err *err) {
  if (ws->ref_model != ref || ws->ref_set != set || ws->ref_n != set->n) {
    drop_ref_rows(ws);
    ws->ref_rows = lethe_calloc(set->n ? set->n : 1, sizeof(float *));
    ws->ref_n = set->n;
    ws->ref_model = ref;
    ws->ref_set = set;
  }
  int missing = 0, P = 0, Amax = 0, V = ref->cfg.vocab_size;
  for (int b = 0; b < B; b++) {
    missing += ws->ref_rows[rows[b]] == NULL;
    P = qs[b]->n_prompt > P ? qs[b]->n_prompt : P;
    Amax = n_targets(qs[b], 0) > Amax ? n_targets(qs[b], 0) : Amax;
  }
  if (!missing) return 0;
  const int32_t **prompts = lethe_malloc(sizeof(int32_t *) * (size_t)B);
  int *lens = lethe_malloc(sizeof(int) * (size_t)B), n = 0;
  for (int b = 0; b < B; b++) prompts[b] = qs[b]->ex[0].ids, lens[b] = qs[b]->n_prompt;
  llama_kv_ensure(&ws->kv_ref, ref, B, P + Amax, P > Amax ? P : Amax);
  int rc = llama_kv_prefill(ref, &ws->kv_ref, prompts, lens, err);
  if (rc == 0) {
    ws->first = grow(ws->first, &ws->first_cap, (size_t)B * V);
    memcpy(ws->first, ws->kv_ref.logits, sizeof(float) * (size_t)B * V);
    rc = append_variant(ref, &ws->kv_ref, &ws->logits, &ws->logits_cap, qs, B, 0, NULL, pad, &n,
                        err);
  }
  for (int b = 0; rc == 0 && b < B; b++) {
    if (ws->ref_rows[rows[b]]) continue;
    int A = n_targets(qs[b], 0);
    float *out = lethe_malloc(sizeof(float) * ((size_t)A * V + 1));
    for (int i = 0; i < A; i++) {
      const float *row = answer_logits(ws, ws->logits, b, i, n, V);
      double lse = row_lse(row, V);
      for (int v = 0; v < V; v++) out[(size_t)i * V + v] = (float)(row[v] - lse);
    }
    ws->ref_rows[rows[b]] = out;
    ws->ref_floats += (size_t)A * V;
  }
  free(prompts);
  free(lens);
  return rc;
}

/* Mean over the answer positions of row b of KL(ref‖model), the model's
 * logits being those of the variant just appended (n slots). */
static double answer_kl(const eval_workspace *ws, const float *slots, const float *ref_rows, int b,
                        int A, int n, int V) {
  double total = 0;
  for (int i = 0; i < A; i++) {
    const float *a = answer_logits(ws, slots, b, i, n, V), *lr = ref_rows + (size_t)i * V;
    double lza = row_lse(a, V), kl = 0;
    for (int v = 0; v < V; v++) kl += exp((double)lr[v]) * ((double)lr[v] - (a[v] - lza));
    total += kl;
  }
  return A ? total / A : 0.0;
}

/* Encodes every variant of every question of the set, each followed by the
 * end target when batching would add it (tofu_batch_fill: not after a row
 * cut at max_length), so that ids[n_prompt..len) are exactly the targets. */
int eval_questions_encode(const eval_set_job *job, eval_questions *qs, lethe_err *err) {
  const tofu_set *set = job->set;
  int has_para = job->has_para;
  int32_t end = job->ids.end;
  qs->n = set->n;
  qs->q = lethe_calloc(set->n ? set->n : 1, sizeof *qs->q);
  for (size_t i = 0; i < set->n; i++) {
    const tofu_qa *row = &set->rows[i];
    question_enc *q = &qs->q[i];
    q->ex = lethe_calloc((size_t)(1 + has_para + row->n_perturbed), sizeof(tofu_example));
    const char *text[2] = {row->answer, row->paraphrased_answer};
    for (int k = 0; k < 1 + has_para + row->n_perturbed; k++) {
      const char *a = k <= has_para ? text[k] : row->perturbed[k - 1 - has_para];
      if (tofu_encode(job->tok, job->fmt, row->question, a, &q->ex[k], err) != 0)
        return lethe_err_prefix(err, "row %zu", i + 1);
      q->n = k + 1;
      tofu_example *t = &q->ex[k];
      if (t->len < job->fmt->max_length) {
        t->ids = lethe_realloc(t->ids, sizeof(int32_t) * ((size_t)t->len + 1));
        t->ids[t->len++] = end;
      }
    }
    q->n_prompt = q->ex[0].n_prompt;
  }
  return 0;
}

int eval_questions_share_prompts(const eval_questions *qs) {
  for (size_t i = 0; i < qs->n; i++) {
    const tofu_example *e0 = &qs->q[i].ex[0];
    for (int k = 0; k < qs->q[i].n; k++) {
      const tofu_example *e = &qs->q[i].ex[k];
      if (e->n_prompt < 1 || e->n_prompt != e0->n_prompt ||
          memcmp(e->ids, e0->ids, sizeof(int32_t) * (size_t)e->n_prompt) != 0)
        return 0;
    }
  }
  return 1;
}

void eval_questions_free(eval_questions *qs) {
  for (size_t i = 0; qs->q && i < qs->n; i++) {
    for (int k = 0; k < qs->q[i].n; k++) tofu_example_free(&qs->q[i].ex[k]);
    free(qs->q[i].ex);
  }
  free(qs->q);
  memset(qs, 0, sizeof *qs);
}

/* qsort_r order of questions: longest prompt first, ties by index. */
static int by_prompt(const void *a, const void *b, void *qs_) {
  const question_enc *qs = qs_;
  size_t i = *(const size_t *)a, j = *(const size_t *)b;
  int li = qs[i].n_prompt, lj = qs[j].n_prompt;
  return li != lj ? (li < lj) - (li > lj) : (i > j) - (i < j);
}

/* Average NLL of variant v (a perturbed answer) of the B questions, which
 * share with the base variant (its nb slots in the cache after the prompts,
 * its logits in ws->base_logits, its target log-probs in ws->base_lp) the
 * first l targets: those log-probs are the base's, target l is read from the
 * base's logits at slot l - 1 (the prompt's at l = 0), and only the targets
 * after it are appended, on a branch that hides the base's slots from l on.
 * Writes res[b * rec + v]. */
static int score_branch(const llama_model *m, eval_workspace *ws, question_enc *const *qs, int B,
                        int v, int base, int nb, int P, int32_t pad, double *res, size_t rec,
                        lethe_err *err) {
  int V = m->cfg.vocab_size, ns = 0;
  int *keep = lethe_malloc(sizeof(int) * (size_t)B), *from = lethe_malloc(sizeof(int) * (size_t)B);
  for (int b = 0; b < B; b++) {
    from[b] = 0;
    if (v < qs[b]->n) {
      int Av = n_targets(qs[b], v), Ab = n_targets(qs[b], base), l = 0;
      const int32_t *tv = targets_of(qs[b], v), *tb = targets_of(qs[b], base);
      while (l < Av && l < Ab && tv[l] == tb[l]) l++;
      if (l > Ab - 1) l = Ab > 0 ? Ab - 1 : 0; /* the base's slots predict up to target Ab - 1 */
      from[b] = l;
    }
    keep[b] = P + from[b];
  }
  llama_kv_branch(&ws->kv, keep);
  int rc = append_variant(m, &ws->kv, &ws->logits, &ws->logits_cap, qs, B, v, from, pad, &ns, err);
  int32_t *targets = NULL;
  size_t cap = 0;
  float *logp = rc == 0 ? slot_logp(ws->logits, qs, B, v, from, ns, V, NULL, &targets, &cap) : NULL;
  for (int b = 0; rc == 0 && b < B; b++) {
    if (v >= qs[b]->n) continue;
    int Av = n_targets(qs[b], v), l = from[b];
    double sum = 0;
    for (int i = 0; i < l; i++) sum -= ws->base_lp[(size_t)b * (nb + 1) + i];
    if (l < Av) {
      float lp;
      const float *row = answer_logits(ws, ws->base_logits, b, l, nb, V);
      logits_target_logp(&lp, row, targets_of(qs[b], v) + l, 1, V);
      sum -= lp;
    }
    for (int t = l + 1; t < Av; t++) sum -= logp[(size_t)b * ns + (t - l - 1)];
    res[(size_t)b * rec + (size_t)v] = Av > 0 ? sum / Av : 0.0;
  }
  llama_kv_unbranch(&ws->kv);
  free(targets);
  free(logp);
  free(keep);
  free(from);
  return rc;
}

/* Scratch of one eval_set_shared call, sized for a batch of bs questions. */
typedef struct shared_scratch {
  question_enc **bq;      /* the batch's questions */
  size_t *rows;           /* their rows in the set */
  const int32_t **prompts;
  int *lens, *n_gen;
  int32_t *gen;           /* (bs, max_new) greedy ids */
  int32_t *targets;       /* slot_logp's scratch */
  float *logp;
  size_t tcap;
} shared_scratch;

/* The answers scored from the prompts (variants 0 .. base): their average
 * NLLs go to scores[b * rec + v], the answer's KL (with a reference) to
 * scores[b * rec + K]. The last of them (the paraphrase, or the answer
 * without one) stays in the cache as the base the perturbed answers branch
 * from; *nb gets its slot count. */
static int score_from_prompts(eval_workspace *ws, const eval_set_job *job, shared_scratch *sc,
                              int B, int K, int base, int P, double *scores, size_t rec, int *nb,
                              lethe_err *err) {
  const llama_model *m = job->m;
  int V = m->cfg.vocab_size, rc = 0;
  int32_t pad = job->ids.pad;
  question_enc *const *bq = sc->bq;
  for (int v = 0; rc == 0 && v <= base; v++) {
    int ns = 0;
    float **buf = v == base ? &ws->base_logits : &ws->logits;
    rc = append_variant(m, &ws->kv, buf, v == base ? &ws->base_logits_cap : &ws->logits_cap, bq,
                        B, v, NULL, pad, &ns, err);
    if (rc != 0) break;
    /* log p of every target: the first from the prompt's logits */
    sc->logp = slot_logp(*buf, bq, B, v, NULL, ns, V, sc->logp, &sc->targets, &sc->tcap);
    if (v == base) ws->base_lp = grow(ws->base_lp, &ws->base_lp_cap, (size_t)B * (ns + 1));
    for (int b = 0; b < B; b++) {
      int A = n_targets(bq[b], v);
      double sum = 0;
      for (int i = 0; i < A; i++) {
        float lp;
        if (i == 0) logits_target_logp(&lp, ws->first + (size_t)b * V, targets_of(bq[b], v), 1, V);
        else lp = sc->logp[(size_t)b * ns + i - 1];
        sum -= lp;
        if (v == base) ws->base_lp[(size_t)b * (ns + 1) + i] = lp;
      }
      double *r = scores + (size_t)b * rec;
      r[v] = A > 0 ? sum / A : 0.0;
      if (v == 0 && job->ref) r[K] = answer_kl(ws, *buf, ws->ref_rows[sc->rows[b]], b, A, ns, V);
    }
    if (v != base) llama_kv_rewind(&ws->kv, P);
    *nb = ns;
  }
  return rc;
}

/* One batch of B questions (sc->bq, sc->rows): runs the prompts once, the
 * greedy answer from there, then every variant. scores (B rows of K + 1:
 * the K average NLLs, the KL) and gens (B rows of 1 + max_new: the
 * generated count, the ids) are the batch's rows of the gathered records. */
static int shared_batch(eval_workspace *ws, const eval_set_job *job, shared_scratch *sc, int B,
                        int K, double *scores, int32_t *gens, lethe_err *err) {
  const llama_model *m = job->m;
  int max_new = job->opt->max_new_tokens, V = m->cfg.vocab_size, P = 0, Amax = 0;
  int32_t pad = job->ids.pad;
  size_t rec = (size_t)K + 1, grec = (size_t)max_new + 1;
  for (int b = 0; b < B; b++) {
    sc->prompts[b] = sc->bq[b]->ex[0].ids;
    sc->lens[b] = sc->bq[b]->n_prompt;
    P = sc->lens[b] > P ? sc->lens[b] : P;
    for (int v = 0; v < sc->bq[b]->n; v++)
      Amax = n_targets(sc->bq[b], v) > Amax ? n_targets(sc->bq[b], v) : Amax;
  }
  int rc = job->ref ? ref_rows_fill(ws, job->ref, job->set, sc->bq, sc->rows, B, pad, err) : 0;
  if (rc != 0) return rc;
  int grow_to = 2 * Amax > max_new ? 2 * Amax : max_new; /* base + a branch, or generation */
  llama_kv_ensure(&ws->kv, m, B, P + grow_to, P > Amax ? P : Amax);
  rc = llama_kv_prefill(m, &ws->kv, sc->prompts, sc->lens, err);
  if (rc != 0) return rc;
  ws->first = grow(ws->first, &ws->first_cap, (size_t)B * V);
  memcpy(ws->first, ws->kv.logits, sizeof(float) * (size_t)B * V);
  if (max_new > 0) {
    rc = llama_kv_greedy(m, &ws->kv, max_new, job->ids.end, sc->gen, sc->n_gen, err);
    llama_kv_rewind(&ws->kv, P);
  }
  for (int b = 0; rc == 0 && b < B; b++) {
    int32_t *g = gens + (size_t)b * grec;
    scores[(size_t)b * rec + (size_t)K] = NAN;
    g[0] = max_new > 0 ? sc->n_gen[b] : 0;
    memcpy(g + 1, sc->gen + (size_t)b * max_new, sizeof(int32_t) * (size_t)g[0]);
  }
  int base = job->has_para ? 1 : 0, nb = 0;
  if (rc == 0) rc = score_from_prompts(ws, job, sc, B, K, base, P, scores, rec, &nb, err);
  for (int v = base + 1; rc == 0 && v < K; v++)
    rc = score_branch(m, ws, sc->bq, B, v, base, nb, P, pad, scores, rec, err);
  if (job->ref && ws->ref_floats > REF_CACHE_FLOATS) drop_ref_rows(ws);
  return rc;
}

int eval_set_shared(eval_workspace *ws, const eval_set_job *job, const eval_questions *qs,
                    long *turn, double *nll, eval_example *out, lethe_err *err) {
  size_t n = qs->n;
  int K = 0, bs = job->opt->batch_size, max_new = job->opt->max_new_tokens, rc = 0;
  for (size_t i = 0; i < n; i++) K = qs->q[i].n > K ? qs->q[i].n : K;
  size_t *order = lethe_malloc(sizeof(size_t) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) order[i] = i;
  qsort_r(order, n, sizeof *order, by_prompt, qs->q);
  /* per row, in `order`: K average NLLs and the KL; the generated count and
   * max_new generated ids */
  size_t rec = (size_t)K + 1, grec = (size_t)max_new + 1;
  long n_batches = (long)((n + (size_t)bs - 1) / (size_t)bs), first, count;
  dist_share(n_batches, *turn, &first, &count);
  double *scores = lethe_calloc((size_t)n_batches * (size_t)bs * rec + 1, sizeof(double));
  int32_t *gens = lethe_calloc((size_t)n_batches * (size_t)bs * grec + 1, sizeof(int32_t));
  shared_scratch sc = {
      .bq = lethe_malloc(sizeof(question_enc *) * (size_t)bs),
      .rows = lethe_malloc(sizeof(size_t) * (size_t)bs),
      .prompts = lethe_malloc(sizeof(int32_t *) * (size_t)bs),
      .lens = lethe_malloc(sizeof(int) * (size_t)bs),
      .n_gen = lethe_malloc(sizeof(int) * (size_t)bs),
      .gen = lethe_malloc(sizeof(int32_t) * ((size_t)bs * (size_t)max_new + 1))};
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs);
    for (int b = 0; b < B; b++) {
      sc.rows[b] = order[start + (size_t)b];
      sc.bq[b] = &qs->q[sc.rows[b]];
    }
    rc = shared_batch(ws, job, &sc, B, K, scores + start * rec, gens + start * grec, err);
  }
  rc = dist_status(rc, err);
  if (rc == 0) {
    dist_allgather_shares(scores, sizeof(double) * rec * (size_t)bs, n_batches, *turn);
    dist_allgather_shares(gens, sizeof(int32_t) * grec * (size_t)bs, n_batches, *turn);
    size_t *at = lethe_malloc(sizeof(size_t) * (n + 1)); /* first packed NLL of each row */
    at[0] = 0;
    for (size_t i = 0; i < n; i++) at[i + 1] = at[i] + (size_t)qs->q[i].n;
    for (size_t p = 0; p < n; p++) {
      const double *r = scores + p * rec;
      size_t i = order[p];
      for (int v = 0; v < qs->q[i].n; v++) nll[at[i] + (size_t)v] = r[v];
      out[i].kl = r[K];
    }
    eval_decode_generations(job->tok, job->ids.end, gens, grec, order, n, out);
    free(at);
  }
  *turn += n_batches;
  free(scores);
  free(gens);
  free(sc.bq);
  free(sc.rows);
  free(sc.prompts);
  free(sc.lens);
  free(sc.n_gen);
  free(sc.gen);
  free(sc.targets);
  free(sc.logp);
  free(order);
  return rc;
}
