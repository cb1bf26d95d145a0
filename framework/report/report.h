/* report — `lethe report DIR`: reads a suite's output directory and writes
 * DIR/report.html (one self-contained page: inline SVG figures, tables and
 * sample answers, no scripts, no network), DIR/results.csv and
 * DIR/results.json (one row per finished run).
 *
 * Input (written by the suite runner and the unlearning runs, unlearn.h):
 *   DIR/suite.json            name, grid, runs [{name, dir, settings, method}]
 *                             (method: {name, title, colour} of the run's
 *                             plugin; older suites lack it: the report then
 *                             shows the method's name and a palette colour)
 *   DIR/<run dir>/DONE        the run finished (FAILED: it stopped)
 *   DIR/<run dir>/summary.json, history.jsonl, eval.json, best/eval.json
 * JSON null (NaN/Inf when written) reads as "unknown" everywhere.
 *
 * The code is split by job: report_load.c (reading, grouping, statistics),
 * report_format.c (numbers as text), svg.c (plot primitives and colours),
 * report_plots.c (the figures, SVG only), report_html.c (the page and its
 * legends), report_results.c (CSV and JSON), report_gate.c (whether the
 * benchmark discriminates at each split), report_claims.c (the paper's
 * claims as verdicts computed from the runs). Not here: running suites
 * (suite.h).
 */
#ifndef LETHE_REPORT_H
#define LETHE_REPORT_H

#include <stdio.h>

#include "core/core.h"
#include "core/kind.h"
#include "metrics/mia.h"
#include "metrics/tofu_metrics.h"

typedef struct report_options {
  /* > 0: recompute the utility-constrained selection from each run's
   * history with this fraction of the target's model utility; 0: use the
   * selection (and fraction) the runs wrote in summary.json. */
  double mu_fraction;
} report_options;

/* Reads DIR, writes report.html, results.csv and results.json into it.
 * Errors name the file (and line) at fault: a missing or malformed
 * suite.json, or a malformed file of a finished run. Unfinished runs are
 * listed, not an error. */
int report_write(const char *dir, const report_options *opt, lethe_err *err);

/* ---- the loaded suite (shared by the report*.c files and the tests) ---- */

/* Evaluation sets: metrics/tofu_metrics.h's tofu_eval_set, tofu_set_keys
 * (a POINT's keys) and tofu_set_titles. */

typedef struct report_set_stats {
  double prob, rouge, truth; /* NaN when unknown */
  double es, em;             /* extraction strength, exact memorisation ("<set>_es"); NaN
                                when unknown (older runs, other sets) */
  long n;
} report_set_stats;

/* One evaluation (a POINT, or an EVAL_SUMMARY with step -1). */
typedef struct report_point {
  int present; /* 0: the point was null or missing; every value NaN */
  long step;
  double epoch, loss;
  double mu, fq, forget_kl, tr_median;
  report_set_stats set[TOFU_N_SETS];
  /* membership inference per attack (metrics/mia.h): AUC forget vs holdout,
   * PrivLeak against the retain model; NaN when unknown (older runs) */
  double mia_auc[MIA_N_ATTACKS], privleak[MIA_N_ATTACKS];
  /* MUSE runs (kind "muse"): VerbMem and KnowMem, ROUGE-L F1 in [0, 1]; their
   * PrivLeak and AUC are Min-K%'s above. NaN in TOFU runs. */
  double verbmem_forget, knowmem_forget, knowmem_retain;
} report_point;

/* The three ways of choosing one evaluation of a run. */
enum { REPORT_SEL_BEST, REPORT_SEL_FINAL, REPORT_SEL_CONSTRAINED, REPORT_N_SEL };
extern const char *const report_sel_titles[REPORT_N_SEL];

/* Numbers of a point the report shows, by id. */
enum {
  REPORT_F_FQ,
  REPORT_F_MU,
  REPORT_F_KL,
  REPORT_F_TR_MEDIAN,
  REPORT_F_FORGET_ROUGE,
  REPORT_F_RETAIN_ROUGE,
  REPORT_F_FORGET_TRUTH,
  REPORT_F_RETAIN_TRUTH,
  REPORT_F_FORGET_PROB,
  REPORT_F_RETAIN_PROB,
  REPORT_F_MIA_AUC,  /* of MIA_PRIVLEAK_ATTACK (Min-K%) */
  REPORT_F_PRIVLEAK, /* of MIA_PRIVLEAK_ATTACK */
  REPORT_F_FORGET_ES,
  REPORT_F_FORGET_EM,
  REPORT_F_STEP,
  REPORT_F_PRIVLEAK_LOSS, /* PrivLeak of the LOSS attack */
  REPORT_F_VERBMEM_FORGET,
  REPORT_F_KNOWMEM_FORGET,
  REPORT_F_KNOWMEM_RETAIN,
  REPORT_N_FIELDS
};
/* Field value of a point (NaN when unknown or the point is absent). */
double report_field(const report_point *p, int field);
/* Whether a field is shown on a log axis and averaged geometrically (FQ). */
int report_field_is_log(int field);

/* A question with its reference answer and a run's greedy generations. */
typedef struct report_sample {
  char *question, *answer;
  char *final, *best; /* NULL when the run did not write one */
} report_sample;

typedef struct report_run {
  char *name;           /* suite.json's run name */
  char *dir;            /* DIR joined with the run's dir */
  char **values;        /* per report key: the setting's text ("" if unset) */
  double *numbers;      /* per report key: its number, NaN if not numeric */
  char *method, *split; /* from summary.json */
  char *title;          /* suite.json's method title; NULL when it has none */
  char colour[8];       /* suite.json's method colour; "" when it has none */
  long seed;            /* from a seed setting or config.cfg; -1 unknown */
  int sample_count;     /* config.cfg's eval.samples: questions per set shown */
  long steps, steps_per_epoch;
  double seconds, mu_fraction;
  report_point sel[REPORT_N_SEL];
  report_point target, retain; /* the models before unlearning and retrained */
  /* A second retain model (another data-order seed); its FQ is measured
   * against the retain model. Absent (present == 0) in older runs. */
  report_point retain_replica;
  report_point *history;
  size_t n_history;
  report_sample *samples[TOFU_N_SETS];
  size_t n_samples[TOFU_N_SETS];
  int series, group; /* indices into report.series / report.groups */
} report_run;

/* Runs that differ only in their seed form a group; the groups of one
 * method and settings across forget splits form a series (one colour and
 * one legend entry in every figure). */
typedef struct report_series {
  char *method;
  char *label;    /* "NPO+RT" or "NPO+RT · retain_coeff=2" */
  char colour[8]; /* this series' shade of the method colour */
  char base[8];   /* the method's own colour */
} report_series;

typedef struct report_group {
  int series, split; /* indices into report.series / report.splits */
  int *runs;         /* indices into report.runs */
  int n_runs;
} report_group;

typedef struct report_unfinished {
  char *name;
  const char *status; /* "failed", "running", "not finished" (static strings) */
} report_unfinished;

typedef struct report {
  char *dir, *name;
  lethe_kind kind;  /* suite.json's kind: LETHE_KIND_TOFU or LETHE_KIND_MUSE */
  char **keys;      /* settings that vary across runs, grid order first */
  int *key_numeric; /* per key: 1 if every run's value is a number */
  int *key_seed;    /* per key: 1 if it is a seed (replicates, not a setting) */
  int n_keys;
  int n_total_runs; /* runs in suite.json */
  report_run *runs; /* finished runs, in suite.json order */
  int n_runs;
  report_unfinished *unfinished;
  int n_unfinished;
  char **splits;
  int n_splits;
  report_series *series;
  int n_series;
  report_group *groups;
  int n_groups;
  double mu_fraction;    /* the fraction the constrained selection used */
  int mu_fraction_mixed; /* runs wrote different fractions */
} report;

int report_load(report *r, const char *dir, const report_options *opt, lethe_err *err);
void report_free(report *r);

/* Key k is a setting of its own: not a seed, not the method's name
 * (method.name), not the split (data.forget_split), which have their own
 * columns. */
int report_key_is_setting(const report *r, int k);
/* A run's label: the method's title and every varying setting except seeds,
 * the method and the split, and except key `skip_key` (-1: none), as
 * "NPO+RT · retain_coeff=2". Returns a malloc'd string. */
char *report_settings_label(const report *r, const report_run *run, int skip_key);
/* How a run's method is shown: its title from suite.json ("NPO+RT"), or
 * its name when suite.json has none. */
const char *report_run_title(const report_run *run);

/* Mean and spread of a field over a group's runs at one selection. Log
 * fields (FQ) use the geometric mean and the spread of log10 values;
 * lo/hi = mean ∓ one standard deviation, kept within [min, max] (equal to
 * mean for one run). */
typedef struct report_stat {
  double mean, lo, hi, sd, min, max;
  int n; /* runs with a known value */
} report_stat;
report_stat report_group_stat(const report *r, const report_group *g, int sel, int field);
/* The same over the history points at `step` of a group's runs. */
report_stat report_group_stat_at(const report *r, const report_group *g, long step, int field);
/* The target and retain reference points of a split (first run's). */
const report_point *report_split_ref(const report *r, int split, int retain);

/* ---- output (report_plots.c, report_html.c, report_results.c) ---- */
/* A number as the report prints it: FQ-like fields with 3 significant
 * digits (scientific when small), others with 3 decimals, "–" when unknown. */
const char *report_fmt(char *buf, size_t n, double v, int field);
/* Figures; each returns the number of <svg> elements written. */
int report_plot_tradeoff(FILE *out, const report *r);
/* PrivLeak vs model utility per split; 0 figures when no run has PrivLeak. */
int report_plot_privleak(FILE *out, const report *r);
/* Whether any run has a PrivLeak at any selection (older runs have none). */
int report_has_privleak(const report *r);
int report_plot_trajectories(FILE *out, const report *r, int split);
/* One panel of them: `field`'s mean over each group's seeds against the
 * step, with the target's and the retain model's values as lines. */
void report_plot_trajectory(FILE *out, const report *r, int split, int field);
int report_plot_grid(FILE *out, const report *r, int key, int split);
/* Whether report_plot_grid has anything to draw for this key and split. */
int report_grid_applies(const report *r, int key, int split);
/* One line of a figure: its label and colour. */
typedef struct report_legend_item {
  char *label; /* malloc'd */
  char colour[8];
} report_legend_item;
/* The lines report_plot_grid draws for this key and split, in its order;
 * *items is malloc'd: free with report_legend_free. Returns the count. */
int report_grid_legend(const report *r, int key, int split, report_legend_item **items);
void report_legend_free(report_legend_item *items, int n);
/* ---- calibration gate (report_gate.c) ------------------------------------
 * Per forget split: does forget quality tell the target from the retain
 * model (target FQ at most REPORT_GATE_TARGET_FQ_MAX), and does it accept a
 * second retain model trained with another data order (its FQ against the
 * retain model at least REPORT_GATE_REPLICA_FQ_MIN)? docs/report.md. */
#define REPORT_GATE_TARGET_FQ_MAX 1e-6
#define REPORT_GATE_REPLICA_FQ_MIN 0.1

typedef enum report_gate_status {
  REPORT_GATE_PASS,              /* both conditions hold */
  REPORT_GATE_NOT_DISCRIMINATING, /* one of them fails */
  REPORT_GATE_UNMEASURED          /* the target passes, no second retain model (or no target FQ) */
} report_gate_status;
extern const char *const report_gate_status_names[3]; /* "pass", "not discriminating", ... */

typedef struct report_gate {
  double target_fq, replica_fq, replica_mu; /* NaN when not measured */
  report_gate_status status;
  char why[256];
} report_gate;
/* The gate of split index `split` (first run's target and second retain model). */
void report_gate_of(const report *r, int split, report_gate *g);
void report_write_gate_html(FILE *out, const report *r);

/* ---- the paper's claims (report_claims.c) --------------------------------
 * Each row a verdict computed from the runs; the exact rules are in
 * docs/report.md. Thresholds: */
#define REPORT_CLAIM_ALPHA 0.05       /* one-sided level of every test */
#define REPORT_CLAIM_MIN_PAIRS 5      /* fewer seeds or pairs: "not significant" */
#define REPORT_COLLAPSE_MU_RATIO 0.1  /* claim 1: MU below 0.1 × the target's */
#define REPORT_DIVERGE_MU_RATIO 0.5   /* claim 2: "diverged" = MU below 0.5 × the target's */
#define REPORT_DIVERGE_SLOWER 2.0     /* claim 2: NPO's steps at least 2 × GA's */
#define REPORT_KL_PLATEAU_GROWTH 1.25 /* claim 2: KL over the last third grows by at most 25 % */
#define REPORT_KL_WELL_BELOW 0.5      /* claim 2: NPO's final KL at most 0.5 × GA's */
#define REPORT_RETAIN_WEIGHT_PEAK 2.0 /* claim 4: FQ rises up to this retain weight */

typedef enum report_verdict {
  REPORT_VERDICT_HOLDS,
  REPORT_VERDICT_FAILS,
  REPORT_VERDICT_NOT_SIGNIFICANT,
  REPORT_VERDICT_NOT_TESTED
} report_verdict;
extern const char *const report_verdict_names[4]; /* "holds", "fails", "not significant", "not tested" */

typedef struct report_claim {
  int number;            /* the claim's number, 1..4 */
  const char *id;        /* "ga_collapses", "npo_slower", "npo_rt_best", "retain_weight", "retain_weight_vs_ga_rt" */
  const char *statement; /* the claim in words */
  char split[32];        /* the forget split, or "–" */
  report_verdict verdict;
  int n;                 /* seeds (or seed pairs) the verdict rests on */
  double p;              /* the test's one-sided p-value; NaN when no test ran */
  char detail[2048];     /* the numbers, their spread over seeds, and why */
} report_claim;
/* Computes every claim row; *out malloc'd (free it). Returns the count. */
int report_claims(const report *r, report_claim **out);
void report_write_claims_html(FILE *out, const report *r);

/* The page's head (title, style) and footer, shared by both kinds' pages. */
void report_html_begin(FILE *out, const report *r);
void report_html_end(FILE *out, const report *r);
/* A table cell with a group's mean and, over several seeds and when
 * `spread`, its spread (FQ as a ×÷ factor); `top` highlights it. */
void report_stat_cell(FILE *out, report_stat s, int field, int spread, int top);
/* CSV cells: text quoted where needed; a number as the shortest text that
 * reads back as it (integers without a fraction), empty when unknown. */
void report_csv_text(FILE *out, const char *s);
void report_csv_number(FILE *out, double v);
/* A results.csv row's first cells: the header's "name", the varying
 * settings, "method,split"; and a run's values of them. */
void report_csv_lead_head(FILE *out, const report *r);
void report_csv_lead(FILE *out, const report *r, const report_run *run);

int report_write_html(const report *r, const char *path, lethe_err *err);
int report_write_csv(const report *r, const char *path, lethe_err *err);
int report_write_json(const report *r, const char *path, lethe_err *err);
/* The same three for a MUSE suite (report_muse.c; report_write picks them
 * by suite.json's kind): per method VerbMem forget, KnowMem forget and
 * retain, PrivLeak at the final evaluation, the target and retain models,
 * the KnowMem-retain trade-offs and trajectories. */
int report_write_muse_html(const report *r, const char *path, lethe_err *err);
int report_write_muse_csv(const report *r, const char *path, lethe_err *err);
int report_write_muse_json(const report *r, const char *path, lethe_err *err);

#endif
