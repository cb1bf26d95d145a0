/* eval_internal — what the files of the evaluate room share, and nothing
 * outside it includes: one set's job, the two ways of scoring it (the
 * shared-prompt path, eval_shared.c; the pairwise path, eval_pairwise.c),
 * the workspace the shared path keeps between evaluations, and membership
 * inference's pass (eval_mia.c).
 * evaluate.c picks the path per set; eval_io.c reads and writes the files. */
#ifndef LETHE_EVAL_INTERNAL_H
#define LETHE_EVAL_INTERNAL_H

#include "evaluate/evaluate.h"
#include "model/generate.h"

/* One set to evaluate: everything but the output buffers. */
typedef struct eval_set_job {
  llama_model *m;
  llama_model *ref; /* forget KL on this set (NULL: none) */
  const tok_tokenizer *tok;
  const tofu_format *fmt;
  tofu_ids ids; /* pad, and the end token: the last target, where generation stops */
  const tofu_set *set;
  int has_para; /* the rows' paraphrased answers are scored (forget, retain) */
  const eval_options *opt;
} eval_set_job;

/* Answers scored for a set: per question the answer, the paraphrase (with
 * has_para) and the perturbed answers. The NLL arrays of both paths hold
 * them packed in this order, row after row. */
size_t eval_n_answers(const tofu_set *set, int has_para);

/* Decodes n gathered generations to text: row i of res (per_row int32)
 * holds the generated count, then the ids; it goes to out[order ? order[i] : i]
 * (a trailing end token dropped). */
void eval_decode_generations(const tok_tokenizer *tok, int32_t end, const int32_t *res,
                             size_t per_row, const size_t *order, size_t n, eval_example *out);

/* ---- the shared-prompt path (eval_shared.c) -------------------------------- */
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

/* The encoded variants of one question: ex[k] for k < n (answer first),
 * each ending with the end target where batching would add it. */
typedef struct question_enc {
  tofu_example *ex;
  int n, n_prompt;
} question_enc;

/* Every question of a set, encoded (owned; eval_questions_free). */
typedef struct eval_questions {
  question_enc *q;
  size_t n;
} eval_questions;

int eval_questions_encode(const eval_set_job *job, eval_questions *qs, lethe_err *err);
void eval_questions_free(eval_questions *qs);
/* 1 when every answer variant of every question starts with the same prompt
 * ids (the shared-prompt path applies), 0 when some tokenization merges
 * across the prompt/answer boundary (the pairwise path must be used). */
int eval_questions_share_prompts(const eval_questions *qs);

/* Scores every variant, generates, and (with job->ref) takes the forget KL
 * of a set whose questions share their prompts. nll gets
 * eval_n_answers(set, has_para) values. Every rank calls it. */
int eval_set_shared(eval_workspace *ws, const eval_set_job *job, const eval_questions *qs,
                    long *turn, double *nll, eval_example *out, lethe_err *err);

/* ---- the pairwise path (eval_pairwise.c) ----------------------------------- */
/* Average NLL of every answer of the set (each (prompt, answer) sequence on
 * its own), packed as eval_set_shared's, and the greedy answers (on kv). */
int eval_set_pairwise(llama_kv_cache *kv, const eval_set_job *job, long *turn, double *nll,
                      eval_example *out, lethe_err *err);
/* KL(job->ref‖job->m) of the answer of each row of the set, scored pairwise:
 * kl[i] for row i. */
int eval_forget_kl_pairwise(const eval_set_job *job, long *turn, double *kl, lethe_err *err);

/* ---- membership inference (eval_mia.c) ------------------------------------- */
/* The attack scores of every (question, answer) row of job->set, each
 * sequence scored on its own: out[i].mia. Every rank calls it. */
int eval_mia_set(const eval_set_job *job, long *turn, eval_example *out, lethe_err *err);
/* mia_auc of each attack between the forget examples (members) and the
 * holdout examples (non-members); NAN where an input is empty or NaN. */
void eval_mia_auc(const eval_example *forget, size_t n_forget, const eval_example *holdout,
                  size_t n_holdout, double auc[EVAL_N_MIA]);
/* The retain model measured against itself (eval_io.c, reading its
 * eval.json): every reference score 0 (where it has LOSS), then its AUCs. */
void eval_retain_self_reference(eval_retain *ret);

#endif
