/* eval_muse — MUSE's VerbMem, KnowMem and PrivLeak of one model (see
 * eval_muse.h): greedy generation in batches, ROUGE-L F1 without stemming,
 * Min-K% of whole documents; and the two files. */
#include "evaluate/eval_muse.h"

#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "evaluate/evaluate.h"
#include "metrics/mia.h"
#include "model/generate.h"
#include "model/token_batch.h"

/* MUSE cuts VerbMem's ground truth to its first 128 token ids (BOS counted). */
#define MUSE_GT_TOKENS 128

char *muse_knowmem_prompt(const tofu_set *icl, const char *question) {
  size_t len = strlen(question) + 32;
  for (size_t i = 0; i < icl->n; i++)
    len += strlen(icl->rows[i].question) + strlen(icl->rows[i].answer) + 32;
  char *p = lethe_malloc(len);
  size_t at = 0;
  for (size_t i = 0; i < icl->n; i++)
    at += (size_t)snprintf(p + at, len - at, "Question: %s\nAnswer: %s\n\n", icl->rows[i].question,
                           icl->rows[i].answer);
  snprintf(p + at, len - at, "Question: %s\nAnswer: ", question);
  return p;
}

size_t muse_knowmem_cut(const char *output) {
  static const char *const stops[] = {"\n\n", "\nQuestion", "Question:"};
  size_t cut = strlen(output);
  for (size_t i = 0; i < sizeof stops / sizeof stops[0]; i++) {
    const char *at = strstr(output, stops[i]);
    if (at && (size_t)(at - output) < cut) cut = (size_t)(at - output);
  }
  return cut;
}

int muse_rouge_f1(rouge_scorer *s, const char *reference, const char *prediction, double *f1,
                  lethe_err *err) {
  rouge_scorer_set_stemming(s, 0);
  rouge_score sc;
  if (rouge_l(s, reference, prediction, &sc, err)) return -1;
  *f1 = sc.fmeasure;
  return 0;
}

/* Greedy outputs of the n prompts (BOS + text, whole), decoded without
 * special tokens and without the end token: out[i] malloc'd. */
static int generate_all(llama_model *m, const tok_tokenizer *tok, int32_t end, char *const *prompts, size_t n, int max_new, int bs,
                        char **out, lethe_err *err) {
  int32_t *gen = lethe_malloc(sizeof(int32_t) * (size_t)bs * (size_t)max_new);
  int *n_out = lethe_malloc(sizeof(int) * (size_t)bs), *lens = lethe_malloc(sizeof(int) * (size_t)bs);
  const int32_t **ids = lethe_calloc((size_t)bs, sizeof *ids);
  tofu_example *ex = lethe_calloc((size_t)bs, sizeof *ex);
  llama_kv_cache kv = {0};
  int rc = 0;
  for (size_t start = 0; rc == 0 && start < n; start += (size_t)bs) {
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs), enc = 0;
    for (; rc == 0 && enc < B; enc++) { /* never cut: the question is at the end */
      rc = tok_encode(tok, prompts[start + (size_t)enc], 1, &ex[enc].ids, &ex[enc].len, NULL, err);
      ids[enc] = ex[enc].ids;
      lens[enc] = ex[enc].len;
    }
    if (rc == 0)
      rc = llama_generate_greedy_kv(m, &kv, ids, lens, B, max_new, end, gen, n_out, err);
    for (int j = 0; rc == 0 && j < B; j++) {
      const int32_t *row = gen + (size_t)j * (size_t)max_new;
      int g = n_out[j];
      if (g > 0 && row[g - 1] == end) g--;
      out[start + (size_t)j] = tok_decode(tok, row, g, 1);
    }
    for (int j = 0; j < enc; j++) tofu_example_free(&ex[j]);
  }
  llama_kv_free(&kv);
  free(gen), free(n_out), free(lens), free(ids), free(ex);
  return rc;
}

/* VerbMem's reference: gt with BOS, its first MUSE_GT_TOKENS ids, decoded. */
static int verbmem_reference(const tok_tokenizer *tok, const char *gt, char **out, lethe_err *err) {
  int32_t *ids;
  int n;
  if (tok_encode(tok, gt, 1, &ids, &n, NULL, err)) return -1;
  *out = tok_decode(tok, ids, n < MUSE_GT_TOKENS ? n : MUSE_GT_TOKENS, 1);
  free(ids);
  return 0;
}

/* Generates every item's output from prompts[] and scores it against its
 * reference (set by the caller); knowmem cuts the output first. */
static int score_items(llama_model *m, const tok_tokenizer *tok, int32_t end, rouge_scorer *rs, char *const *prompts, muse_item *items,
                       size_t n, int max_new, int bs, int knowmem, double *mean, lethe_err *err) {
  char **outs = lethe_calloc(n ? n : 1, sizeof *outs);
  int rc = generate_all(m, tok, end, prompts, n, max_new, bs, outs, err);
  double sum = 0;
  for (size_t i = 0; i < n; i++) {
    items[i].output = outs[i];
    if (!outs[i]) continue;
    size_t cut = knowmem ? muse_knowmem_cut(outs[i]) : strlen(outs[i]);
    items[i].generation = lethe_malloc(cut + 1);
    memcpy(items[i].generation, outs[i], cut);
    items[i].generation[cut] = '\0';
    if (rc == 0) rc = muse_rouge_f1(rs, items[i].reference, items[i].generation, &items[i].rouge_f1, err);
    sum += items[i].rouge_f1;
  }
  free(outs);
  *mean = n ? sum / (double)n : NAN;
  return rc;
}

static int knowmem(llama_model *m, const tok_tokenizer *tok, int32_t end,
                   rouge_scorer *rs, const tofu_set *qa, const tofu_set *icl,
                   const muse_eval_options *opt, muse_item **items, size_t *n, double *mean,
                   lethe_err *err) {
  *n = qa->n;
  *items = lethe_calloc(qa->n ? qa->n : 1, sizeof **items);
  char **prompts = lethe_calloc(qa->n ? qa->n : 1, sizeof *prompts);
  for (size_t i = 0; i < qa->n; i++) {
    prompts[i] = muse_knowmem_prompt(icl, qa->rows[i].question);
    (*items)[i].reference = lethe_strdup(qa->rows[i].answer);
  }
  int rc = score_items(m, tok, end, rs, prompts, *items, qa->n, opt->knowmem_max_new_tokens,
                       opt->batch_size, 1, mean, err);
  for (size_t i = 0; i < qa->n; i++) free(prompts[i]);
  free(prompts);
  return rc;
}

/* Min-40% of each document: targets = every token after BOS (the end
 * target batching appends is not one of them), the last one dropped. */
static int min_k_scores(llama_model *m, const tok_tokenizer *tok, const tofu_format *fmt,
                        int32_t pad, int32_t end, const muse_texts *docs, int bs, double *out,
                        lethe_err *err) {
  size_t n = docs->n;
  tofu_example *ex = lethe_calloc(n ? n : 1, sizeof *ex);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) rc = tofu_encode_text(tok, fmt, docs->text[i], &ex[i], err);
  int *idx = lethe_malloc(sizeof(int) * (size_t)bs);
  tofu_batch b = {0};
  llama_set_logits(m, LLAMA_LOGITS_CHUNKED, 0);
  llama_set_skip_padding(m, 1); /* targets only where the mask is 1 */
  for (size_t start = 0; rc == 0 && start < n; start += (size_t)bs) {
    int B = (int)(n - start < (size_t)bs ? n - start : (size_t)bs);
    for (int j = 0; j < B; j++) idx[j] = (int)(start + (size_t)j);
    tofu_batch_fill(&b, ex, idx, B, fmt, pad, end);
    token_batch tb;
    token_batch_from_arrays(&tb, b.B, b.T, b.input_ids, b.attention_mask, b.labels, pad);
    float *logp = lethe_malloc(sizeof(float) * (size_t)B * (size_t)b.T);
    rc = llama_forward(m, tb.input_ids, tb.attn_mask, B, b.T, err);
    if (rc == 0) llama_target_logp(m, tb.targets, logp);
    for (int r = 0; rc == 0 && r < B; r++) {
      int k = ex[idx[r]].len - 2; /* targets 1..len-1, without the last */
      lethe_err ignore = {0};
      out[idx[r]] = NAN;
      if (k >= 1 && mia_min_k_score(logp + (size_t)r * b.T, (size_t)k, EVAL_MIA_K,
                                    &out[idx[r]], &ignore) != 0)
        out[idx[r]] = NAN;
    }
    free(logp);
    token_batch_free(&tb);
  }
  tofu_batch_free(&b);
  free(idx);
  tofu_examples_free(ex, n);
  return rc;
}

static int privleak(llama_model *m, const tok_tokenizer *tok, const tofu_format *fmt,
                    const tofu_ids *ids, const muse_corpus *c, const muse_eval_options *opt,
                    double retain_auc, muse_report *r, lethe_err *err) {
  r->n_min_k_forget = c->privleak_forget.n;
  r->n_min_k_holdout = c->privleak_holdout.n;
  r->min_k_forget = lethe_calloc(r->n_min_k_forget + 1, sizeof(double));
  r->min_k_holdout = lethe_calloc(r->n_min_k_holdout + 1, sizeof(double));
  if (min_k_scores(m, tok, fmt, ids->pad, ids->end, &c->privleak_forget, opt->batch_size,
                   r->min_k_forget, err) ||
      min_k_scores(m, tok, fmt, ids->pad, ids->end, &c->privleak_holdout, opt->batch_size,
                   r->min_k_holdout, err))
    return -1;
  lethe_err ignore = {0}; /* a NaN score or an empty side: no AUC */
  if (mia_auc(r->min_k_forget, r->n_min_k_forget, r->min_k_holdout, r->n_min_k_holdout,
              &r->privleak_auc, &ignore) != 0)
    r->privleak_auc = NAN;
  if (!isfinite(retain_auc) || !isfinite(r->privleak_auc) ||
      mia_privleak(r->privleak_auc, retain_auc, &r->privleak, &ignore) != 0)
    r->privleak = NAN;
  return 0;
}

int muse_evaluate(llama_model *m, const tok_tokenizer *tok, const tofu_format *fmt,
                  const muse_corpus *c, const muse_eval_options *opt, double retain_auc,
                  muse_report *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  out->privleak = out->privleak_auc = NAN;
  if (opt->batch_size < 1 || opt->verbmem_max_new_tokens < 1 || opt->knowmem_max_new_tokens < 1)
    return lethe_errf(err, LETHE_E_CONFIG, "muse evaluation: batch size and token counts must be >= 1");
  tofu_ids ids;
  if (tofu_format_ids(tok, fmt, &ids, err)) return -1;
  rouge_scorer *rs = rouge_scorer_new(err);
  if (!rs) return -1;
  out->n_verbmem = c->verbmem.n;
  out->verbmem = lethe_calloc(c->verbmem.n ? c->verbmem.n : 1, sizeof *out->verbmem);
  char **prompts = lethe_calloc(c->verbmem.n ? c->verbmem.n : 1, sizeof *prompts);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < c->verbmem.n; i++) {
    prompts[i] = c->verbmem.rows[i].prompt;
    rc = verbmem_reference(tok, c->verbmem.rows[i].gt, &out->verbmem[i].reference, err);
  }
  if (rc == 0)
    rc = score_items(m, tok, ids.end, rs, prompts, out->verbmem, c->verbmem.n,
                     opt->verbmem_max_new_tokens, opt->batch_size, 0, &out->score_verbmem_forget, err);
  free(prompts);
  if (rc == 0)
    rc = knowmem(m, tok, ids.end, rs, &c->knowmem_forget, &c->icl_forget, opt,
                 &out->knowmem_forget, &out->n_knowmem_forget, &out->score_knowmem_forget, err);
  if (rc == 0)
    rc = knowmem(m, tok, ids.end, rs, &c->knowmem_retain, &c->icl_retain, opt,
                 &out->knowmem_retain, &out->n_knowmem_retain, &out->score_knowmem_retain, err);
  if (rc == 0) rc = privleak(m, tok, fmt, &ids, c, opt, retain_auc, out, err);
  rouge_scorer_free(rs);
  if (rc) lethe_err_prefix(err, "muse evaluation");
  return rc;
}

static void free_items(muse_item *items, size_t n) {
  for (size_t i = 0; items && i < n; i++)
    free(items[i].reference), free(items[i].output), free(items[i].generation);
  free(items);
}

void muse_report_free(muse_report *r) {
  free_items(r->verbmem, r->n_verbmem);
  free_items(r->knowmem_forget, r->n_knowmem_forget);
  free_items(r->knowmem_retain, r->n_knowmem_retain);
  free(r->min_k_forget);
  free(r->min_k_holdout);
  memset(r, 0, sizeof *r);
}

/* ---- files ----------------------------------------------------------------------- */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *items_json(const muse_item *items, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, json_pack("{s:s, s:s, s:s, s:o}", "reference", items[i].reference,
                                          "output", items[i].output, "generation",
                                          items[i].generation, "rougeL_f1",
                                          num(items[i].rouge_f1)));
  return list;
}

static json_t *scores_json(const double *v, size_t n) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(list, num(v[i]));
  return list;
}

static int write_json(const char *dir, const char *name, json_t *root, lethe_err *err) {
  char *path = lethe_path_join(dir, name);
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(1) | JSON_PRESERVE_ORDER,
                                   LETHE_JSON_NEWLINE, err);
  free(path);
  json_decref(root);
  return rc;
}

json_t *muse_summary_json(const muse_report *r) {
  return json_pack("{s:s, s:o, s:o, s:o, s:o, s:o}", "kind", "muse", "verbmem_forget",
                   num(r->score_verbmem_forget), "knowmem_forget", num(r->score_knowmem_forget),
                   "knowmem_retain", num(r->score_knowmem_retain), "privleak", num(r->privleak),
                   "mia_min_k_auc", num(r->privleak_auc));
}

int muse_report_write(const muse_report *r, const char *dir, lethe_err *err) {
  json_t *eval = json_pack(
      "{s:s, s:o, s:o, s:o, s:{s:o, s:o}}", "kind", "muse", "verbmem_forget",
      items_json(r->verbmem, r->n_verbmem), "knowmem_forget",
      items_json(r->knowmem_forget, r->n_knowmem_forget), "knowmem_retain",
      items_json(r->knowmem_retain, r->n_knowmem_retain), "mia_min_k", "forget",
      scores_json(r->min_k_forget, r->n_min_k_forget), "holdout",
      scores_json(r->min_k_holdout, r->n_min_k_holdout));
  json_t *summary = muse_summary_json(r);
  if (write_json(dir, "eval.json", eval, err)) {
    json_decref(summary);
    return -1;
  }
  return write_json(dir, "summary.json", summary, err);
}

int muse_read_privleak_auc(const char *summary_json, double *auc, lethe_err *err) {
  json_error_t jerr;
  json_t *j = json_load_file(summary_json, 0, &jerr);
  if (!j) return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: %s", summary_json, jerr.line, jerr.text);
  json_t *v = json_object_get(j, "mia_min_k_auc");
  int rc = 0;
  if (!json_is_number(v))
    rc = lethe_errf(err, LETHE_E_FORMAT, "%s: 'mia_min_k_auc' must be a number", summary_json);
  else
    *auc = json_number_value(v);
  json_decref(j);
  return rc;
}
