/* synthetic — the NPO paper's synthetic experiment (§4, App. B.1/D) on the
 * random-feature backend (model/rf.h), driven through the same method
 * plugins as the Llama runs.
 *
 * A setup (synth_setup) is everything one seed determines: the random
 * features W, the forget/retain training sets, the "I don't know" labels,
 * fresh forget/retain evaluation sets, and the two pre-trained models — the
 * reference π_ref (full-batch GD on forget ∪ retain from θ = 0) and the
 * retrained π_retr (the same on retain only). An unlearning run starts from
 * π_ref, takes full-batch plain GD steps on a plugin's loss and evaluates
 * every K steps: forget distance KL(π_retr ‖ π_θ) on forget-distribution
 * samples, retain distance on retain samples, forget KL KL(π_ref ‖ π_θ) on
 * forget samples (each a mean over the evaluation rows).
 *
 * The plugin sees B rows (forget, then retain and idk when it asks for them),
 * T = 1 position, V = 2 classes, targets = labels, mask 1: the layout of
 * include/lethe/method.h, in float32 as the ABI defines; the model math and
 * the metrics stay in double.
 *
 * Configuration: an experiment file with `kind = "synthetic";`, a
 * `synthetic = { ... }` group (synth_schema) and a `method = { ... }` group,
 * plus -s overrides. A run directory gets config.cfg (resolved, with the
 * method's parameters), history.jsonl (one line per evaluation), summary.json
 * and DONE. The report (synthetic_report.c) reads run directories and writes
 * one HTML page with the paper's Figures 3, 4 and 9 and a CSV of key numbers.
 * Everything is deterministic: same settings, same bytes.
 */
#ifndef LETHE_SYNTHETIC_H
#define LETHE_SYNTHETIC_H

#include <stdint.h>

#include "method/method_host.h"
#include "model/rf.h"
#include "pipeline/config.h"

extern const char *const synth_schema;
extern const char *const synth_open_groups[]; /* method (validated by the method loader) */

typedef struct synth_settings {
  double alpha;       /* μ_f = −μ_r = α·1_d */
  int dim;            /* d */
  int features;       /* N random features */
  int n_forget, n_retain, n_eval_forget, n_eval_retain;
  uint64_t seed;      /* everything random derives from it */
  int steps;          /* unlearning GD steps */
  double lr;          /* unlearning step size */
  int eval_every;     /* evaluate at steps 0, K, 2K, ..., and at the last step */
  double pretrain_lr;
  int pretrain_steps;
  double pretrain_tol; /* largest ‖∇‖ accepted after pre-training (0 = no check) */
  int cache;          /* keep pre-trained models in the cache directory */
  char figure[32];    /* which report figure the run belongs to ("fig4", "fig3", "") */
} synth_settings;

/* Typed, range-checked view of a loaded configuration's `synthetic` group
 * (and `kind`, which must be "synthetic"). Errors name file:line. */
int synth_settings_read(const lcfg *c, synth_settings *s, lethe_err *err);

/* ---- one seed's data and pre-trained models -------------------------------- */
typedef struct synth_set {
  int n;
  double *x;    /* (n, d) */
  int32_t *y;   /* (n) labels in {0, 1} */
  double *phi;  /* (n, N) random features of x */
} synth_set;

typedef struct synth_setup {
  synth_settings s;
  synth_set forget, retain, eval_forget, eval_retain;
  int32_t *idk;            /* (n_forget) Bernoulli(1/2) labels for the forget x */
  rf_model ref, retrained; /* pre-trained; both share the same W */
  double ref_grad_norm, retrained_grad_norm; /* ‖∇‖ at the end of pre-training */
  double *ref_eval_forget, *ref_eval_retain;   /* (n, 2) log-probs of π_ref */
  double *retr_eval_forget, *retr_eval_retain; /* (n, 2) log-probs of π_retr */
} synth_setup;

/* Draws the data from s->seed (W, retain, forget, idk labels, eval retain,
 * eval forget, in that order) and pre-trains π_ref and π_retr, or reads them
 * from cache_dir/synthetic/ (NULL = no cache) where an earlier run with the
 * same data and pre-training settings left them (bit-identical either way).
 * Fails when pre-training ends with ‖∇‖ above s->pretrain_tol. */
int synth_setup_build(synth_setup *su, const synth_settings *s, const char *cache_dir,
                      lethe_err *err);
void synth_setup_free(synth_setup *su);

/* ---- evaluation ----------------------------------------------------------- */
typedef struct synth_point {
  int64_t step;
  double forget_distance; /* mean KL(π_retr ‖ π_θ), forget eval rows */
  double retain_distance; /* mean KL(π_retr ‖ π_θ), retain eval rows */
  double forget_kl;       /* mean KL(π_ref ‖ π_θ), forget eval rows */
  double retain_kl;       /* mean KL(π_ref ‖ π_θ), retain eval rows */
} synth_point;

/* Evaluates model (same W as the setup) into *p (p->step is left alone). */
void synth_evaluate(const synth_setup *su, rf_model *model, synth_point *p);

/* ---- unlearning ----------------------------------------------------------- */
/* Called after each evaluation; loss is the plugin's loss at that step (NaN
 * for the final point), metrics the values the plugin logged there. */
typedef struct synth_metric {
  char name[64];
  double value;
} synth_metric;
typedef void (*synth_eval_fn)(void *ctx, const synth_point *p, double loss,
                              const synth_metric *metrics, int n_metrics);

/* Runs s->steps GD steps of the method from π_ref on a copy of the model and
 * reports every evaluation to on_eval. The final model is left in *out when
 * out is non-NULL (free with rf_free). */
int synth_unlearn(const synth_setup *su, const method_spec *ms, synth_eval_fn on_eval, void *ctx,
                  rf_model *out, lethe_err *err);

/* ---- the command ------------------------------------------------------------- */
/* `lethe synthetic CONFIG --out DIR [-s path=value ...]`: loads the
 * experiment (path may be NULL: the defaults), builds the setup, runs the
 * method and writes run_dir. quiet = no progress lines on stderr. */
int synth_run(const char *path, const char *const *overrides, int n_overrides,
              const char *run_dir, int quiet, lethe_err *err);

/* Checks one run's configuration as synth_run reads it (the experiment
 * schema, the `synthetic` settings and their ranges, the method plugin and
 * its parameters) without building or running anything: what a suite checks
 * for every run before it starts one. */
int synth_check(const char *path, const char *const *overrides, int n_overrides, lethe_err *err);

/* The paper's name for a method configuration: the plugin's title (its name
 * when it has none), with "+RT" when the title names no added term ("+")
 * and the method's retain_coeff is > 0 ("DPO+RT"). Returns buf. */
const char *synth_method_label(const method_spec *ms, char *buf, size_t n);


#endif
