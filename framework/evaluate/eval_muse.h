/* eval_muse — MUSE's evaluation of one model (Shi et al. 2024; muse_bench's
 * metrics/verbmem.py, knowmem.py, privleak.py as notes/methods-and-metrics-2
 * §6 reads them) on a corpus of data/muse.h:
 *
 *   VerbMem  greedy continuation (verbmem_max_new_tokens, 128) of each
 *            verbmem prompt (BOS + prompt); the ground truth tokenized with
 *            BOS, cut to its first 128 ids and decoded; ROUGE-L F1 of the
 *            two without stemming (rouge_score with use_stemmer=False).
 *   KnowMem  for each QA of knowmem/{forget,retain}_qa: the prompt is every
 *            ICL example as "Question: {q}\nAnswer: {a}\n\n", then
 *            "Question: {q}\nAnswer: "; a greedy answer of at most
 *            knowmem_max_new_tokens (32), cut at the first "\n\n",
 *            "\nQuestion" or "Question:"; ROUGE-L F1 (no stemming) against
 *            the answer.
 *   PrivLeak Min-K% (k = 0.4, metrics/mia.h) of each privleak/forget and
 *            privleak/holdout document (BOS + text, every token after BOS a
 *            target, the last dropped as open-unlearning does), the AUC in
 *            open-unlearning's convention, and mia_privleak against the
 *            retain model's AUC.
 *
 * Scores are fractions in [0, 1] (open-unlearning's scale; MUSE prints
 * them x 100); PrivLeak is in percent. Every rank of an MPI run computes
 * everything (no split). Not here: the formulas (metrics/), training. */
#ifndef LETHE_EVAL_MUSE_H
#define LETHE_EVAL_MUSE_H

#include "data/muse.h"
#include "metrics/rouge.h"
#include "model/llama.h"

typedef struct muse_eval_options {
  int verbmem_max_new_tokens; /* 128 */
  int knowmem_max_new_tokens; /* 32 */
  int batch_size;             /* prompts or documents per batch */
} muse_eval_options;

/* One generated item: its reference (the cut ground truth for VerbMem, the
 * answer for KnowMem), the decoded output, the output cut as KnowMem cuts
 * it (VerbMem: the output itself) and the ROUGE-L F1 of generation against
 * reference. */
typedef struct muse_item {
  char *reference, *output, *generation;
  double rouge_f1;
} muse_item;

typedef struct muse_report {
  muse_item *verbmem, *knowmem_forget, *knowmem_retain;
  size_t n_verbmem, n_knowmem_forget, n_knowmem_retain;
  double *min_k_forget, *min_k_holdout; /* Min-40% per privleak document (loss-like) */
  size_t n_min_k_forget, n_min_k_holdout;
  double score_verbmem_forget, score_knowmem_forget, score_knowmem_retain; /* means of rouge_f1 */
  double privleak_auc; /* mia_auc(forget, holdout) of Min-40% */
  double privleak;     /* percent; NAN without a retain AUC */
} muse_report;

/* Evaluates m. fmt gives max_length (documents are cut to it) and the end
 * token that stops generation (tofu_format_ids). retain_auc is the retain
 * model's privleak_auc (NAN: PrivLeak is NAN, e.g. for the retain model
 * itself). */
int muse_evaluate(llama_model *m, const tok_tokenizer *tok, const tofu_format *fmt,
                  const muse_corpus *c, const muse_eval_options *opt, double retain_auc,
                  muse_report *out, lethe_err *err);
void muse_report_free(muse_report *r);

/* KnowMem's prompt for question q after the ICL rows (malloc'd). */
char *muse_knowmem_prompt(const tofu_set *icl, const char *question);
/* The length of output up to the first "\n\n", "\nQuestion" or "Question:"
 * (strlen(output) when none occurs). */
size_t muse_knowmem_cut(const char *output);
/* ROUGE-L F1 of prediction against reference without stemming (turns s's
 * stemming off). */
int muse_rouge_f1(rouge_scorer *s, const char *reference, const char *prediction, double *f1,
                  lethe_err *err);

/* The summary's numbers as a new JSON object: kind "muse", verbmem_forget,
 * knowmem_forget, knowmem_retain, privleak, mia_min_k_auc (null when not
 * finite). */
struct json_t;
struct json_t *muse_summary_json(const muse_report *r);
/* eval.json (every item, every Min-K% score) and summary.json
 * (verbmem_forget, knowmem_forget, knowmem_retain, privleak,
 * mia_min_k_auc) into dir, atomically. */
int muse_report_write(const muse_report *r, const char *dir, lethe_err *err);
/* mia_min_k_auc from a summary.json muse_report_write wrote. */
int muse_read_privleak_auc(const char *summary_json, double *auc, lethe_err *err);

#endif
