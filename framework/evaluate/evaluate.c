/* evaluate — the model side of TOFU's evaluation (see evaluate.h). */
#include "evaluate/evaluate.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "core/json_file.h"
#include "metrics/rouge.h"
#include "metrics/stats.h"
#include "model/generate.h"
#include "model/kernels.h"
#include "model/token_batch.h"


int eval_data_load(eval_data *d, const char *dir, const char *forget_split, int max_rows,
                   lethe_err *err) {
  memset(d, 0, sizeof *d);
  char forget_name[96];
  snprintf(forget_name, sizeof forget_name, "%s_perturbed", forget_split);
  const char *names[TOFU_N_SETS] = {forget_name, "retain_perturbed", "real_authors_perturbed",
                                    "world_facts_perturbed"};
  unsigned need[TOFU_N_SETS] = {TOFU_F_PARA_A | TOFU_F_PERTURBED, TOFU_F_PARA_A | TOFU_F_PERTURBED,
                                TOFU_F_PERTURBED, TOFU_F_PERTURBED};
  for (int s = 0; s < TOFU_N_SETS; s++) {
    if (tofu_load_split(dir, names[s], need[s], &d->sets[s], err) != 0) {
      eval_data_free(d);
      return -1;
    }
    /* the first max_rows rows, as TOFU's code */
    for (size_t i = (size_t)max_rows; i < d->sets[s].n; i++) tofu_qa_free(&d->sets[s].rows[i]);
    if (d->sets[s].n > (size_t)max_rows) d->sets[s].n = (size_t)max_rows;
  }
  d->forget_split = lethe_strdup(forget_split);
  return 0;
}

void eval_data_free(eval_data *d) {
  for (int s = 0; s < TOFU_N_SETS; s++) tofu_set_free(&d->sets[s]);
  free(d->forget_split);
  memset(d, 0, sizeof *d);
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
                       const tofu_format *fmt, const char *const *q, const char *const *a, size_t n,
                       int bs, long *turn, double *avg_nll, double *kl, lethe_err *err) {
  tok_special_ids sp = tok_special(tok);
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
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs);
    for (int j = 0; j < B; j++) idx[j] = (int)order[start + (size_t)j];
    tofu_batch_fill(&b, ex, idx, B, fmt, sp.pad, sp.eos);
    token_batch tb;
    token_batch_from_arrays(&tb, b.B, b.T, b.input_ids, b.attention_mask, b.labels, sp.pad);
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
static int generate_answers(const llama_model *m, llama_kv_cache *kv, const tok_tokenizer *tok,
                            const tofu_format *fmt, const tofu_set *set, const eval_options *opt,
                            long *turn, eval_example *out, lethe_err *err) {
  tok_special_ids sp = tok_special(tok);
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
      rc = llama_generate_greedy_kv(m, kv, prompts, lens, B, max_new, sp.eos, gen, n_out, err);
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
    for (size_t i = 0; i < set->n; i++) {
      const int32_t *row = res + i * per_row;
      int n = row[0];
      if (n > 0 && row[n] == sp.eos) n--;
      out[i].generation = tok_decode(tok, row + 1, n, 1);
    }
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

struct eval_workspace {
  llama_kv_cache kv, kv_ref;
  float *logits, *first; /* (B, n, V) of llama_kv_step_all; (B, V) after the prompts */
  float *base_logits;    /* (B, n, V) of the answer the perturbed ones branch from */
  float *base_lp;        /* (B, A) its per-target log-probs */
  size_t logits_cap, first_cap, base_logits_cap, base_lp_cap;
  /* reference log-softmax at each answer position of the forget answers,
   * per forget row (A × V floats); kept while the reference and data stay */
  const llama_model *ref_model;
  const tofu_set *ref_set;
  float **ref_rows;
  size_t ref_n, ref_floats;
};

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

/* The encoded variants of one question: ex[k] for k < n (answer first). */
typedef struct question_enc {
  tofu_example *ex;
  int n, n_prompt;
} question_enc;

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
 * EOS target when batching would add it (tofu_batch_fill: not after a row
 * cut at max_length), so that ids[n_prompt..len) are exactly the targets.
 * Returns 1 when some question's variants do not share their prompt ids
 * (use the pairwise path), -1 on error. */
static int encode_questions(const tok_tokenizer *tok, const tofu_format *fmt, const tofu_set *set,
                            int has_para, question_enc *qs, lethe_err *err) {
  int32_t eos = tok_special(tok).eos;
  int shared = 1;
  for (size_t i = 0; i < set->n; i++) {
    const tofu_qa *row = &set->rows[i];
    question_enc *q = &qs[i];
    q->ex = lethe_calloc((size_t)(1 + has_para + row->n_perturbed), sizeof(tofu_example));
    const char *text[2] = {row->answer, row->paraphrased_answer};
    for (int k = 0; k < 1 + has_para + row->n_perturbed; k++) {
      const char *a = k <= has_para ? text[k] : row->perturbed[k - 1 - has_para];
      if (tofu_encode(tok, fmt, row->question, a, &q->ex[k], err) != 0)
        return lethe_err_prefix(err, "row %zu", i + 1);
      q->n = k + 1;
      tofu_example *t = &q->ex[k];
      if (eos >= 0 && t->len < fmt->max_length) {
        t->ids = lethe_realloc(t->ids, sizeof(int32_t) * ((size_t)t->len + 1));
        t->ids[t->len++] = eos;
      }
      const tofu_example *e0 = &q->ex[0], *e = &q->ex[k];
      if (e->n_prompt < 1 || e->n_prompt != e0->n_prompt ||
          memcmp(e->ids, e0->ids, sizeof(int32_t) * (size_t)e->n_prompt) != 0)
        shared = 0;
    }
    q->n_prompt = q->ex[0].n_prompt;
  }
  return shared ? 0 : 1;
}

static void free_questions(question_enc *qs, size_t n) {
  for (size_t i = 0; i < n; i++) {
    for (int k = 0; k < qs[i].n; k++) tofu_example_free(&qs[i].ex[k]);
    free(qs[i].ex);
  }
  free(qs);
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

/* Scores every variant, generates and (with ref, forget set) takes the KL
 * for set s on the shared-prompt path. Returns 1 (nothing done) when the
 * set needs the pairwise path. nll gets 1 + has_para + n_perturbed values
 * per row in variant order, packed. */
static int eval_set_shared(eval_workspace *ws, const llama_model *m, const llama_model *ref,
                           const tok_tokenizer *tok, const tofu_format *fmt, const tofu_set *set,
                           int has_para, const eval_options *opt, long *turn, double *nll,
                           eval_example *out, lethe_err *err) {
  tok_special_ids sp = tok_special(tok);
  int32_t pad = sp.pad >= 0 ? sp.pad : 0;
  size_t n = set->n;
  question_enc *qs = lethe_calloc(n ? n : 1, sizeof *qs);
  int rc = encode_questions(tok, fmt, set, has_para, qs, err);
  if (rc != 0) {
    free_questions(qs, n);
    return rc;
  }
  int K = 0, bs = opt->batch_size, max_new = opt->max_new_tokens, V = m->cfg.vocab_size;
  for (size_t i = 0; i < n; i++) K = qs[i].n > K ? qs[i].n : K;
  size_t *order = lethe_malloc(sizeof(size_t) * (n ? n : 1));
  for (size_t i = 0; i < n; i++) order[i] = i;
  qsort_r(order, n, sizeof *order, by_prompt, qs);
  /* per row, in `order`: K average NLLs, the KL, the generated count and
   * max_new generated ids (as doubles: exact) */
  size_t rec = (size_t)K + 2 + (size_t)max_new;
  long n_batches = (long)((n + (size_t)bs - 1) / (size_t)bs), first, count;
  dist_share(n_batches, *turn, &first, &count);
  double *res = lethe_calloc((size_t)n_batches * (size_t)bs * rec + 1, sizeof(double));
  question_enc **bq = lethe_malloc(sizeof(question_enc *) * (size_t)bs);
  size_t *rows = lethe_malloc(sizeof(size_t) * (size_t)bs);
  const int32_t **prompts = lethe_malloc(sizeof(int32_t *) * (size_t)bs);
  int *lens = lethe_malloc(sizeof(int) * (size_t)bs), *n_gen = lethe_malloc(sizeof(int) * (size_t)bs);
  int32_t *gen = lethe_malloc(sizeof(int32_t) * ((size_t)bs * (size_t)max_new + 1));
  int32_t *targets = NULL;
  float *logp = NULL;
  size_t tcap = 0;
  for (long k = first; rc == 0 && k < first + count; k++) {
    size_t start = (size_t)k * (size_t)bs;
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs), P = 0, Amax = 0;
    for (int b = 0; b < B; b++) {
      rows[b] = order[start + (size_t)b];
      bq[b] = &qs[rows[b]];
      prompts[b] = bq[b]->ex[0].ids;
      lens[b] = bq[b]->n_prompt;
      P = lens[b] > P ? lens[b] : P;
      for (int v = 0; v < bq[b]->n; v++)
        Amax = n_targets(bq[b], v) > Amax ? n_targets(bq[b], v) : Amax;
    }
    if (ref) rc = ref_rows_fill(ws, ref, set, bq, rows, B, pad, err);
    if (rc != 0) break;
    int grow_to = 2 * Amax > max_new ? 2 * Amax : max_new; /* base + a branch, or generation */
    llama_kv_ensure(&ws->kv, m, B, P + grow_to, P > Amax ? P : Amax);
    rc = llama_kv_prefill(m, &ws->kv, prompts, lens, err);
    if (rc != 0) break;
    ws->first = grow(ws->first, &ws->first_cap, (size_t)B * V);
    memcpy(ws->first, ws->kv.logits, sizeof(float) * (size_t)B * V);
    if (max_new > 0) {
      rc = llama_kv_greedy(m, &ws->kv, max_new, sp.eos, gen, n_gen, err);
      llama_kv_rewind(&ws->kv, P);
    }
    for (int b = 0; rc == 0 && b < B; b++) {
      double *r = res + (start + (size_t)b) * rec;
      r[K] = NAN;
      r[K + 1] = max_new > 0 ? n_gen[b] : 0;
      for (int i = 0; i < (max_new > 0 ? n_gen[b] : 0); i++)
        r[K + 2 + i] = gen[(size_t)b * max_new + i];
    }
    /* the answers scored from the prompts; the last of them (the paraphrase,
     * or the answer without one) stays in the cache as the base the
     * perturbed answers branch from */
    int base = has_para ? 1 : 0, nb = 0;
    for (int v = 0; rc == 0 && v <= base; v++) {
      int ns = 0;
      float **buf = v == base ? &ws->base_logits : &ws->logits;
      rc = append_variant(m, &ws->kv, buf, v == base ? &ws->base_logits_cap : &ws->logits_cap, bq,
                          B, v, NULL, pad, &ns, err);
      if (rc != 0) break;
      /* log p of every target: the first from the prompt's logits */
      logp = slot_logp(*buf, bq, B, v, NULL, ns, V, logp, &targets, &tcap);
      if (v == base) ws->base_lp = grow(ws->base_lp, &ws->base_lp_cap, (size_t)B * (ns + 1));
      for (int b = 0; b < B; b++) {
        int A = n_targets(bq[b], v);
        double sum = 0;
        for (int i = 0; i < A; i++) {
          float lp;
          if (i == 0) logits_target_logp(&lp, ws->first + (size_t)b * V, targets_of(bq[b], v), 1, V);
          else lp = logp[(size_t)b * ns + i - 1];
          sum -= lp;
          if (v == base) ws->base_lp[(size_t)b * (ns + 1) + i] = lp;
        }
        double *r = res + (start + (size_t)b) * rec;
        r[v] = A > 0 ? sum / A : 0.0;
        if (v == 0 && ref) r[K] = answer_kl(ws, *buf, ws->ref_rows[rows[b]], b, A, ns, V);
      }
      if (v != base) llama_kv_rewind(&ws->kv, P);
      nb = ns;
    }
    for (int v = base + 1; rc == 0 && v < K; v++)
      rc = score_branch(m, ws, bq, B, v, base, nb, P, pad, res + start * rec, rec, err);
    if (ref && ws->ref_floats > REF_CACHE_FLOATS) drop_ref_rows(ws);
  }
  rc = dist_status(rc, err);
  if (rc == 0) {
    dist_allgather_shares(res, sizeof(double) * rec * (size_t)bs, n_batches, *turn);
    size_t *at = lethe_malloc(sizeof(size_t) * (n + 1)); /* first packed NLL of each row */
    at[0] = 0;
    for (size_t i = 0; i < n; i++) at[i + 1] = at[i] + (size_t)qs[i].n;
    for (size_t p = 0; p < n; p++) {
      const double *r = res + p * rec;
      size_t i = order[p];
      for (int v = 0; v < qs[i].n; v++) nll[at[i] + (size_t)v] = r[v];
      out[i].kl = r[K];
      int g = (int)r[K + 1];
      int32_t *ids = lethe_malloc(sizeof(int32_t) * ((size_t)g + 1));
      for (int j = 0; j < g; j++) ids[j] = (int32_t)r[K + 2 + j];
      if (g > 0 && ids[g - 1] == sp.eos) g--;
      out[i].generation = tok_decode(tok, ids, g, 1);
      free(ids);
    }
    free(at);
  }
  *turn += n_batches;
  free(res);
  free(bq);
  free(rows);
  free(prompts);
  free(lens);
  free(n_gen);
  free(gen);
  free(targets);
  free(logp);
  free(order);
  free_questions(qs, n);
  return rc;
}

/* Answers scored for a set: per question the answer, the paraphrase (with
 * has_para) and the perturbed answers. */
static size_t n_answers(const tofu_set *set, int has_para) {
  size_t total = 0;
  for (size_t i = 0; i < set->n; i++) total += 1 + (size_t)has_para + (size_t)set->rows[i].n_perturbed;
  return total;
}

/* Average NLL of every answer of every question of a set on the pairwise
 * path (each (prompt, answer) sequence on its own), packed as
 * eval_set_shared's. */
static int pairwise_nll(llama_model *m, const tok_tokenizer *tok, const tofu_format *fmt,
                        const tofu_set *set, int has_para, const eval_options *opt, long *turn,
                        double *nll, lethe_err *err) {
  size_t total = n_answers(set, has_para);
  const char **q = lethe_malloc(sizeof(char *) * (total + 1)), **a = lethe_malloc(sizeof(char *) * (total + 1));
  size_t k = 0;
  for (size_t i = 0; i < set->n; i++) {
    const tofu_qa *row = &set->rows[i];
    q[k] = row->question, a[k++] = row->answer;
    if (has_para) q[k] = row->question, a[k++] = row->paraphrased_answer;
    for (int j = 0; j < row->n_perturbed; j++) q[k] = row->question, a[k++] = row->perturbed[j];
  }
  int rc = score_pairs(m, NULL, tok, fmt, q, a, total, opt->batch_size, turn, nll, NULL, err);
  free(q);
  free(a);
  return rc;
}

/* avg_nll, prob and truth_ratio of every row from the packed NLLs. */
static void fill_scores(const tofu_set *set, int has_para, const double *nll, eval_example *ex) {
  size_t per = 1 + (size_t)has_para;
  for (size_t i = 0, at = 0; i < set->n; i++) {
    int np = set->rows[i].n_perturbed;
    double answer = nll[at], base = has_para ? nll[at + 1] : answer;
    const double *pert = nll + at + per;
    ex[i].avg_nll = answer;
    ex[i].prob = has_para ? tofu_answer_prob(answer) : tofu_option_prob(answer, pert, (size_t)np);
    ex[i].truth_ratio = tofu_truth_ratio(base, pert, (size_t)np);
    at += per + (size_t)np;
  }
}

int evaluate_model(llama_model *m, llama_model *ref, const tok_tokenizer *tok,
                   const tofu_format *fmt, const eval_data *d, const eval_options *opt,
                   const double *retain_tr, size_t n_retain_tr, eval_workspace *ws,
                   eval_report *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  out->forget_quality = out->forget_kl = NAN;
  if (!dist_agree(opt, sizeof *opt)) /* they pick the path, hence the gathers */
    return lethe_errf(err, LETHE_E_USAGE, "evaluation: the ranks were given different options "
                      "(max_rows, max_new_tokens, batch_size, pairwise)");
  rouge_scorer *rs = rouge_scorer_new(err);
  if (!rs) return -1;
  eval_workspace *own = ws ? NULL : eval_workspace_new();
  if (!ws) ws = own;
  int rc = 0, kl_done = 0;
  long turn = 0; /* spreads the batches of successive lists over the ranks */
  for (int s = 0; s < TOFU_N_SETS && rc == 0; s++) {
    const tofu_set *set = &d->sets[s];
    int has_para = s == TOFU_SET_FORGET || s == TOFU_SET_RETAIN;
    out->n[s] = set->n;
    out->ex[s] = lethe_calloc(set->n ? set->n : 1, sizeof(eval_example));
    for (size_t i = 0; i < set->n; i++) out->ex[s][i].kl = NAN;
    double *nll = lethe_malloc(sizeof(double) * (n_answers(set, has_para) + 1));
    const llama_model *kl_ref = s == TOFU_SET_FORGET ? ref : NULL;
    rc = opt->pairwise ? 1
                       : eval_set_shared(ws, m, kl_ref, tok, fmt, set, has_para, opt, &turn, nll,
                                         out->ex[s], err);
    if (rc == 0 && kl_ref) kl_done = 1;
    if (rc == 1) { /* prompts not shared by every answer: one sequence per answer */
      rc = pairwise_nll(m, tok, fmt, set, has_para, opt, &turn, nll, err);
      if (rc == 0) rc = generate_answers(m, &ws->kv, tok, fmt, set, opt, &turn, out->ex[s], err);
    }
    if (rc == 0) fill_scores(set, has_para, nll, out->ex[s]);
    free(nll);
    double *prob = lethe_malloc(sizeof(double) * (set->n + 1)), *rouge = lethe_malloc(sizeof(double) * (set->n + 1));
    double *tr = lethe_malloc(sizeof(double) * (set->n + 1));
    for (size_t i = 0; rc == 0 && i < set->n; i++) {
      rouge_score sc;
      rc = rouge_l(rs, set->rows[i].answer, out->ex[s][i].generation, &sc, err);
      out->ex[s][i].rouge = sc.recall;
      prob[i] = out->ex[s][i].prob, rouge[i] = sc.recall, tr[i] = out->ex[s][i].truth_ratio;
    }
    if (rc == 0) rc = tofu_summarize((tofu_eval_set)s, prob, rouge, tr, set->n, &out->summary[s], err);
    free(prob);
    free(rouge);
    free(tr);
    rc = dist_status(rc, err); /* no rank goes on to the next set's gathers alone */
    if (rc != 0) lethe_err_prefix(err, "evaluating %s", tofu_set_keys[s]);
  }
  if (rc == 0 && ref && !kl_done) { /* forget KL on the forget answers, pairwise */
    const tofu_set *set = &d->sets[TOFU_SET_FORGET];
    const char **q = lethe_malloc(sizeof(char *) * (set->n + 1)), **a = lethe_malloc(sizeof(char *) * (set->n + 1));
    double *nll = lethe_malloc(sizeof(double) * (set->n + 1)), *kl = lethe_malloc(sizeof(double) * (set->n + 1));
    for (size_t i = 0; i < set->n; i++) q[i] = set->rows[i].question, a[i] = set->rows[i].answer;
    rc = score_pairs(m, ref, tok, fmt, q, a, set->n, opt->batch_size, &turn, nll, kl, err);
    for (size_t i = 0; rc == 0 && i < set->n; i++) out->ex[TOFU_SET_FORGET][i].kl = kl[i];
    free(q);
    free(a);
    free(nll);
    free(kl);
  }
  if (rc == 0 && ref) {
    double sum = 0;
    const tofu_set *set = &d->sets[TOFU_SET_FORGET];
    for (size_t i = 0; i < set->n; i++) sum += out->ex[TOFU_SET_FORGET][i].kl;
    if (set->n) out->forget_kl = sum / (double)set->n;
  }
  if (rc == 0)
    rc = tofu_model_utility(&out->summary[TOFU_SET_RETAIN], &out->summary[TOFU_SET_REAL_AUTHORS],
                            &out->summary[TOFU_SET_WORLD_FACTS], &out->model_utility, err);
  if (rc == 0) {
    size_t n;
    double *tr = eval_report_forget_tr(out, &n);
    if (retain_tr && n_retain_tr)
      rc = tofu_forget_quality(tr, n, retain_tr, n_retain_tr, &out->forget_quality, err);
    out->forget_truth_ratio_median = stats_median_sort(tr, n);
    free(tr);
  }
  rouge_scorer_free(rs);
  eval_workspace_free(own);
  if (rc != 0) eval_report_free(out);
  return rc;
}

void eval_report_free(eval_report *r) {
  for (int s = 0; s < TOFU_N_SETS; s++) {
    for (size_t i = 0; r->ex[s] && i < r->n[s]; i++) free(r->ex[s][i].generation);
    free(r->ex[s]);
  }
  memset(r, 0, sizeof *r);
}

double *eval_report_forget_tr(const eval_report *r, size_t *n) {
  *n = r->n[TOFU_SET_FORGET];
  double *tr = lethe_malloc(sizeof(double) * (*n + 1));
  for (size_t i = 0; i < *n; i++) tr[i] = r->ex[TOFU_SET_FORGET][i].truth_ratio;
  return tr;
}

/* JSON numbers: NaN/Inf become null. */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *eval_summary_json(const eval_report *r) {
  json_t *o = json_object();
  json_object_set_new(o, "model_utility", num(r->model_utility));
  json_object_set_new(o, "forget_quality", num(r->forget_quality));
  json_object_set_new(o, "forget_kl", num(r->forget_kl));
  json_object_set_new(o, "forget_truth_ratio_median", num(r->forget_truth_ratio_median));
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *set = json_object();
    json_object_set_new(set, "prob", num(r->summary[s].prob));
    json_object_set_new(set, "rouge", num(r->summary[s].rouge));
    json_object_set_new(set, "truth", num(r->summary[s].truth));
    json_object_set_new(set, "n", json_integer((json_int_t)r->n[s]));
    json_object_set_new(o, tofu_set_keys[s], set);
  }
  return o;
}

static int write_json(const char *dir, const char *name, json_t *j, lethe_err *err) {
  char *path = lethe_path_join(dir, name);
  int rc = lethe_json_write_atomic(path, j, JSON_INDENT(1) | JSON_ENSURE_ASCII, LETHE_JSON_NEWLINE,
                                   err);
  free(path);
  return rc;
}

int eval_report_write(const eval_report *r, const eval_data *d, const char *dir, lethe_err *err) {
  if (lethe_mkdir_p(dir, err) != 0) return -1;
  json_t *all = json_object();
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n[s]; i++) {
      const eval_example *e = &r->ex[s][i];
      json_t *o = json_object();
      json_object_set_new(o, "question", json_string(d->sets[s].rows[i].question));
      json_object_set_new(o, "answer", json_string(d->sets[s].rows[i].answer));
      json_object_set_new(o, "generation", json_string(e->generation ? e->generation : ""));
      json_object_set_new(o, "avg_nll", num(e->avg_nll));
      json_object_set_new(o, "prob", num(e->prob));
      json_object_set_new(o, "truth_ratio", num(e->truth_ratio));
      json_object_set_new(o, "rouge", num(e->rouge));
      if (isfinite(e->kl)) json_object_set_new(o, "kl", num(e->kl));
      json_array_append_new(arr, o);
    }
    json_object_set_new(all, tofu_set_keys[s], arr);
  }
  json_t *summary = eval_summary_json(r);
  json_object_set_new(summary, "forget_split", json_string(d->forget_split));
  int rc = write_json(dir, "eval.json", all, err);
  if (rc == 0) rc = write_json(dir, "summary.json", summary, err);
  json_decref(all);
  json_decref(summary);
  return rc;
}

int eval_read_forget_tr(const char *eval_json, double **tr, size_t *n, lethe_err *err) {
  json_error_t jerr;
  json_t *root = json_load_file(eval_json, 0, &jerr);
  *tr = NULL;
  *n = 0;
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: %s", eval_json, jerr.line, jerr.text);
  json_t *forget = json_object_get(root, "forget");
  if (!json_is_array(forget) || json_array_size(forget) == 0) {
    json_decref(root);
    return lethe_errf(err, LETHE_E_FORMAT, "%s: no \"forget\" array of examples", eval_json);
  }
  *n = json_array_size(forget);
  *tr = lethe_malloc(sizeof(double) * *n);
  for (size_t i = 0; i < *n; i++) {
    json_t *v = json_object_get(json_array_get(forget, i), "truth_ratio");
    if (!json_is_number(v)) {
      free(*tr);
      *tr = NULL;
      json_decref(root);
      return lethe_errf(err, LETHE_E_FORMAT, "%s: forget example %zu has no numeric truth_ratio",
                        eval_json, i);
    }
    (*tr)[i] = json_number_value(v);
  }
  json_decref(root);
  return 0;
}
