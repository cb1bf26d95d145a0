/* evaluate — TOFU evaluation of a model: the model side (scoring answers,
 * greedy generation, forget KL) feeding the formulas of metrics/tofu_metrics.h.
 *
 * Sets (first max_rows rows of each, as TOFU's code): forgetXX_perturbed,
 * retain_perturbed, real_authors_perturbed, world_facts_perturbed. A batch
 * of questions runs its prompts once on a KV cache; the greedy answer and
 * every answer to score (answer, paraphrase, perturbed) continue from there.
 * A teacher-forced pass over the forget and retain answers (and the holdout
 * set's, holdoutNN for forgetNN, when the data has it) gives exact
 * memorisation and extraction strength, and membership inference: attack
 * scores of the forget and holdout answers, their AUCs and, measured
 * against the retain model's evaluation (eval_report_against_retain), the
 * reference attack and PrivLeak.
 * docs/metrics.md has the definitions.
 * Not here: the formulas themselves, training, where results are written
 * (the caller picks the directory). */
#ifndef LETHE_EVALUATE_H
#define LETHE_EVALUATE_H

#include "data/data.h"
#include "metrics/mia.h"
#include "metrics/tofu_metrics.h"
#include "model/llama.h"


typedef struct eval_options {
  int max_rows;       /* 300 */
  int max_new_tokens; /* greedy generation length cap */
  int batch_size;     /* questions (or pairwise: sequences) per batch */
  int pairwise;       /* 1: score each (prompt, answer) sequence on its own, the
                         reference for the default shared-prompt path */
  int skip_mia;       /* 1: no teacher-forced pass (eval.mia = false): no membership
                         inference, PrivLeak, ES or EM */
} eval_options;

typedef struct eval_data {
  tofu_set sets[TOFU_N_SETS]; /* rows truncated to max_rows */
  char *forget_split;         /* e.g. "forget10" */
  tofu_set holdout;           /* the non-members of membership inference, truncated
                               * to max_rows; empty when holdout_split is NULL */
  char *holdout_split;        /* "holdout10" for "forget10"; NULL: the directory has none */
} eval_data;

/* Loads the four sets for forget split `forget_split` from a TOFU directory,
 * and its holdout set (forgetNN's is holdoutNN.json, as TOFU names them)
 * when the directory has one. */
int eval_data_load(eval_data *d, const char *dir, const char *forget_split, int max_rows,
                   lethe_err *err);
void eval_data_free(eval_data *d);

/* Membership-inference attacks run on the forget set (members) and the
 * holdout set (non-members), metrics/mia.h; the keys name them in eval.json
 * ("mia_" + key), summary.json ("mia_" + key + "_auc", "privleak_" + key).
 * The reference attack is LOSS minus the retain model's LOSS of the same
 * example (eval_report_against_retain): NAN until then. */
enum {
  EVAL_MIA_LOSS = MIA_LOSS,
  EVAL_MIA_ZLIB = MIA_ZLIB,
  EVAL_MIA_MIN_K = MIA_MIN_K,
  EVAL_MIA_MIN_K_PLUS_PLUS = MIA_MIN_K_PLUS_PLUS,
  EVAL_MIA_REFERENCE = MIA_REFERENCE,
  EVAL_N_MIA = MIA_N_ATTACKS
};
extern const char *const *const eval_mia_keys; /* metrics/mia.h's mia_attack_keys */
#define EVAL_MIA_K 0.4 /* Min-K% and Min-K%++'s k: open-unlearning's configs, MUSE's Min-40% */

typedef struct eval_example {
  double avg_nll;     /* length-normalised NLL of the answer */
  double prob;        /* exp(-avg_nll), option-normalised for RA/WF */
  double truth_ratio; /* R_truth */
  double rouge;       /* ROUGE-L recall of the greedy answer */
  double kl;          /* mean KL(ref‖model) over answer tokens; NAN without ref */
  char *generation;   /* greedy answer text (owned) */
  double mia[EVAL_N_MIA]; /* attack scores (loss-like); NAN without a holdout set */
  double es, em;          /* extraction strength, exact memorisation (metrics/memorization.h);
                             NAN where not computed (em: also for a one-token answer) */
} eval_example;

typedef struct eval_report {
  eval_example *ex[TOFU_N_SETS];
  size_t n[TOFU_N_SETS];
  tofu_set_summary summary[TOFU_N_SETS];
  double model_utility;
  double forget_quality; /* NAN when no retain-model truth ratios were given */
  double forget_kl;      /* NAN when no reference model was given */
  double forget_truth_ratio_median;
  eval_example *holdout;   /* (n_holdout) mia scores only; NULL without a holdout set */
  size_t n_holdout;
  double mia_auc[EVAL_N_MIA]; /* mia_auc(forget, holdout) per attack; NAN without one */
  double mean_es[TOFU_N_SETS], mean_em[TOFU_N_SETS]; /* forget and retain; NAN elsewhere */
  int against_retain;          /* eval_report_against_retain ran */
  double privleak[EVAL_N_MIA]; /* per attack, against the retain model; NAN without */
} eval_report;

/* What evaluation keeps between calls: the KV caches and buffers, and the
 * reference model's log-probs on the forget answers (valid as long as the
 * same reference model, unchanged, and the same eval_data are passed). */
typedef struct eval_workspace eval_workspace;
eval_workspace *eval_workspace_new(void);
void eval_workspace_free(eval_workspace *ws);

/* Evaluates m. ref (may be NULL) gives the forget KL; retain_tr (n_retain_tr
 * values, may be NULL) are the retain model's forget truth ratios for forget
 * quality. ws (may be NULL: a temporary one) is reused across calls, e.g.
 * the evaluations of one unlearning run. Under MPI every rank calls it with
 * the same opt (checked: it fails on every rank otherwise) and returns the
 * same status. */
int evaluate_model(llama_model *m, llama_model *ref, const tok_tokenizer *tok,
                   const tofu_format *fmt, const eval_data *d, const eval_options *opt,
                   const double *retain_tr, size_t n_retain_tr, eval_workspace *ws,
                   eval_report *out, lethe_err *err);
void eval_report_free(eval_report *r);
/* The forget truth ratios of a report (borrowed view copied to a new array). */
double *eval_report_forget_tr(const eval_report *r, size_t *n);

/* The retain model's evaluation of the same sets (its eval.json), what an
 * evaluation is measured against: its forget truth ratios (forget
 * quality), its attack scores on the forget and holdout examples (the
 * reference attack) and their AUCs (PrivLeak's denominator). Owned;
 * eval_retain_free. */
typedef struct eval_retain {
  double *forget_tr;              /* (n_forget) */
  eval_example *forget, *holdout; /* (n_forget), (n_holdout): mia[] only, NAN where absent */
  size_t n_forget, n_holdout;
  /* per attack; the reference attack of the retain model against itself is
   * 0 for every example, so its AUC is 0.5. NAN where a score is missing. */
  double mia_auc[EVAL_N_MIA];
} eval_retain;

/* Reads an eval.json: every forget example needs a numeric truth_ratio;
 * the attack scores (forget and holdout) are read where present. */
int eval_read_retain(const char *eval_json, eval_retain *ret, lethe_err *err);
void eval_retain_free(eval_retain *ret);

/* Measures a report against the retain model's evaluation of the same
 * rows: the reference attack of every forget and holdout example (its LOSS
 * minus the retain model's: mia_reference_score's difference of mean NLLs,
 * the retain model as the reference, as MUSE and open-unlearning's TOFU
 * configuration take it) and its AUC, and PrivLeak of every attack
 * (mia_privleak of the two AUCs; NAN where either is missing or the retain
 * model's is 1). Fails when the two evaluations have different example
 * counts. A report without a holdout set is left as it is. */
int eval_report_against_retain(eval_report *r, const eval_retain *ret, lethe_err *err);

/* eval.json (per example: question, answer, generation and every value) and
 * summary.json (aggregates), written atomically into dir. */
int eval_report_write(const eval_report *r, const eval_data *d, const char *dir, lethe_err *err);
/* The summary as a JSON object (caller json_decref). */
struct json_t *eval_summary_json(const eval_report *r);

#endif
