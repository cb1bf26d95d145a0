/* evaluate — the model side of TOFU's evaluation (see evaluate.h): per set,
 * the path that scores it (shared prompt or pairwise), then the formulas.
 * The paths are in eval_shared.c and eval_pairwise.c, the files in eval_io.c. */
#include "evaluate/evaluate.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/dist.h"
#include "evaluate/eval_internal.h"
#include "metrics/rouge.h"
#include "metrics/stats.h"

/* The packed NLLs (nll) and greedy answers (out) of one set, on the
 * shared-prompt path unless the options ask for pairwise or the set's
 * prompts are not shared by all their answers. *kl_done tells whether the
 * forget KL was taken on the way. */
static int score_set(eval_workspace *ws, const eval_set_job *job, long *turn, double *nll,
                     eval_example *out, int *kl_done, lethe_err *err) {
  eval_questions qs = {0};
  int shared = 0, rc = 0;
  if (!job->opt->pairwise) {
    rc = eval_questions_encode(job, &qs, err);
    shared = rc == 0 && eval_questions_share_prompts(&qs);
  }
  if (rc == 0 && shared) {
    rc = eval_set_shared(ws, job, &qs, turn, nll, out, err);
    if (rc == 0 && job->ref) *kl_done = 1;
  } else if (rc == 0) {
    rc = eval_set_pairwise(&ws->kv, job, turn, nll, out, err);
  }
  eval_questions_free(&qs);
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

/* ROUGE-L of each greedy answer, then the set's summary. */
static int summarize_set(rouge_scorer *rs, const tofu_set *set, tofu_eval_set s, eval_example *ex,
                         tofu_set_summary *summary, lethe_err *err) {
  double *prob = lethe_malloc(sizeof(double) * (set->n + 1)), *rouge = lethe_malloc(sizeof(double) * (set->n + 1));
  double *tr = lethe_malloc(sizeof(double) * (set->n + 1));
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < set->n; i++) {
    rouge_score sc;
    rc = rouge_l(rs, set->rows[i].answer, ex[i].generation, &sc, err);
    ex[i].rouge = sc.recall;
    prob[i] = ex[i].prob, rouge[i] = sc.recall, tr[i] = ex[i].truth_ratio;
  }
  if (rc == 0) rc = tofu_summarize(s, prob, rouge, tr, set->n, summary, err);
  free(prob);
  free(rouge);
  free(tr);
  return rc;
}

/* The forget KL (pairwise when no set took it), model utility, forget
 * quality and the forget truth ratios' median. */
static int finish_report(const eval_set_job *forget, int kl_done, long *turn,
                         const double *retain_tr, size_t n_retain_tr, eval_report *out,
                         lethe_err *err) {
  int rc = 0;
  const tofu_set *set = forget->set;
  eval_example *ex = out->ex[TOFU_SET_FORGET];
  if (forget->ref && !kl_done) {
    double *kl = lethe_malloc(sizeof(double) * (set->n + 1));
    rc = eval_forget_kl_pairwise(forget, turn, kl, err);
    for (size_t i = 0; rc == 0 && i < set->n; i++) ex[i].kl = kl[i];
    free(kl);
  }
  if (rc == 0 && forget->ref) {
    double sum = 0;
    for (size_t i = 0; i < set->n; i++) sum += ex[i].kl;
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
  return rc;
}

/* An example's optional values, not yet computed. */
static void no_values(eval_example *e) {
  e->kl = e->es = e->em = NAN;
  for (int a = 0; a < EVAL_N_MIA; a++) e->mia[a] = NAN;
}

/* The means of ES and EM over n examples, each over the examples that
 * have it (EM leaves out one-token answers, as OU); NAN when none has. */
static void memorization_means(const eval_example *ex, size_t n, double *es, double *em) {
  double sum_es = 0, sum_em = 0;
  size_t n_es = 0, n_em = 0;
  for (size_t i = 0; i < n; i++) {
    if (isfinite(ex[i].es)) sum_es += ex[i].es, n_es++;
    if (isfinite(ex[i].em)) sum_em += ex[i].em, n_em++;
  }
  *es = n_es ? sum_es / (double)n_es : NAN;
  *em = n_em ? sum_em / (double)n_em : NAN;
}

/* The teacher-forced pass (eval_mia.c) over set s of the report: ES and EM
 * and their means, and the attack scores, kept only with `attacks`. */
static int teacher_forced(const eval_set_job *forget, const tofu_set *set, long *turn,
                          eval_example *ex, int attacks, double *mean_es, double *mean_em,
                          lethe_err *err) {
  eval_set_job job = *forget;
  job.ref = NULL;
  job.set = set;
  int rc = eval_mia_set(&job, turn, ex, err);
  for (size_t i = 0; rc == 0 && !attacks && i < set->n; i++)
    for (int a = 0; a < EVAL_N_MIA; a++) ex[i].mia[a] = NAN;
  if (rc == 0 && mean_es) memorization_means(ex, set->n, mean_es, mean_em);
  return rc;
}

/* Exact memorisation and extraction strength on the forget and retain
 * sets; with a holdout set, the attack scores of the forget and holdout
 * examples, then their AUCs. */
static int memorization_and_mia(const eval_set_job *forget, const eval_data *d, long *turn,
                                eval_report *out, lethe_err *err) {
  int mia = d->holdout_split != NULL;
  int rc = teacher_forced(forget, &d->sets[TOFU_SET_FORGET], turn, out->ex[TOFU_SET_FORGET], mia,
                          &out->mean_es[TOFU_SET_FORGET], &out->mean_em[TOFU_SET_FORGET], err);
  if (rc == 0)
    rc = teacher_forced(forget, &d->sets[TOFU_SET_RETAIN], turn, out->ex[TOFU_SET_RETAIN], 0,
                        &out->mean_es[TOFU_SET_RETAIN], &out->mean_em[TOFU_SET_RETAIN], err);
  if (rc == 0 && mia) {
    out->n_holdout = d->holdout.n;
    out->holdout = lethe_calloc(d->holdout.n ? d->holdout.n : 1, sizeof(eval_example));
    for (size_t i = 0; i < d->holdout.n; i++) no_values(&out->holdout[i]);
    rc = teacher_forced(forget, &d->holdout, turn, out->holdout, 1, NULL, NULL, err);
    if (rc == 0)
      eval_mia_auc(out->ex[TOFU_SET_FORGET], out->n[TOFU_SET_FORGET], out->holdout,
                   out->n_holdout, out->mia_auc);
  }
  return rc != 0 ? lethe_err_prefix(err, "teacher-forced pass (memorisation, membership inference)")
                 : 0;
}

int evaluate_model(llama_model *m, llama_model *ref, const tok_tokenizer *tok,
                   const tofu_format *fmt, const eval_data *d, const eval_options *opt,
                   const double *retain_tr, size_t n_retain_tr, eval_workspace *ws,
                   eval_report *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  out->forget_quality = out->forget_kl = NAN;
  for (int a = 0; a < EVAL_N_MIA; a++) out->mia_auc[a] = out->privleak[a] = NAN;
  for (int s = 0; s < TOFU_N_SETS; s++) out->mean_es[s] = out->mean_em[s] = NAN;
  if (!dist_agree(opt, sizeof *opt)) /* they pick the path, hence the gathers */
    return lethe_errf(err, LETHE_E_USAGE, "evaluation: the ranks were given different options "
                      "(max_rows, max_new_tokens, batch_size, pairwise, skip_mia)");
  rouge_scorer *rs = rouge_scorer_new(err);
  if (!rs) return -1;
  eval_workspace *own = ws ? NULL : eval_workspace_new();
  if (!ws) ws = own;
  tofu_ids ids;
  int rc = tofu_format_ids(tok, fmt, &ids, err), kl_done = 0;
  long turn = 0; /* spreads the batches of successive lists over the ranks */
  for (int s = 0; s < TOFU_N_SETS && rc == 0; s++) {
    const tofu_set *set = &d->sets[s];
    int has_para = s == TOFU_SET_FORGET || s == TOFU_SET_RETAIN;
    eval_set_job job = {m, s == TOFU_SET_FORGET ? ref : NULL, tok, fmt, ids, set, has_para, opt};
    out->n[s] = set->n;
    out->ex[s] = lethe_calloc(set->n ? set->n : 1, sizeof(eval_example));
    for (size_t i = 0; i < set->n; i++) no_values(&out->ex[s][i]);
    double *nll = lethe_malloc(sizeof(double) * (eval_n_answers(set, has_para) + 1));
    rc = score_set(ws, &job, &turn, nll, out->ex[s], &kl_done, err);
    if (rc == 0) fill_scores(set, has_para, nll, out->ex[s]);
    free(nll);
    if (rc == 0) rc = summarize_set(rs, set, (tofu_eval_set)s, out->ex[s], &out->summary[s], err);
    rc = dist_status(rc, err); /* no rank goes on to the next set's gathers alone */
    if (rc != 0) lethe_err_prefix(err, "evaluating %s", tofu_set_keys[s]);
  }
  eval_set_job forget = {m, ref, tok, fmt, ids, &d->sets[TOFU_SET_FORGET], 1, opt};
  if (rc == 0) rc = finish_report(&forget, kl_done, &turn, retain_tr, n_retain_tr, out, err);
  if (rc == 0 && !opt->skip_mia) rc = memorization_and_mia(&forget, d, &turn, out, err);
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
  free(r->holdout); /* no generations */
  memset(r, 0, sizeof *r);
}

double *eval_report_forget_tr(const eval_report *r, size_t *n) {
  *n = r->n[TOFU_SET_FORGET];
  double *tr = lethe_malloc(sizeof(double) * (*n + 1));
  for (size_t i = 0; i < *n; i++) tr[i] = r->ex[TOFU_SET_FORGET][i].truth_ratio;
  return tr;
}
