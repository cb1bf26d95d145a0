/* suite — ablation suites: a base experiment, a grid over any setting paths
 * and optional named groups, expanded into runs that execute as parallel
 * `lethe` processes, resumable, with their status on disk.
 *
 * Suite file (libconfig):
 *   name = "paper";                      # optional; default: the file's name
 *   base = "../experiments/paper.cfg";   # relative to the suite file
 *   set = { unlearn = { epochs = 10; }; };            # optional, for every run
 *   grid = { method = { name = ["ga", "npo"]; };      # every array leaf is a
 *            data = { forget_split = ["forget01", "forget10"]; }; };   # dimension
 *   groups = ( { name = "beta1"; set = { method = { params = { beta = 1.0; }; }; }; } );
 * Runs = grid (cartesian, in file order) × groups (each group once; none =
 * one run per grid point). Output directory: suite.json (the expansion),
 * runs/<name>/ per run (the unlearning run's files, log.txt, DONE/FAILED).
 * Not here: what a run does (unlearn.h, synthetic.h) or the report.
 */
#ifndef LETHE_SUITE_H
#define LETHE_SUITE_H

#include "core/core.h"

typedef struct suite_run {
  char *name;        /* directory name, from the varying values */
  char **overrides;  /* "path=value" for the experiment */
  int *override_line;/* the suite file's line of each override */
  int n_overrides;
} suite_run;

typedef struct suite {
  char *path, *name, *base;  /* suite file, suite name, base experiment (resolved path) */
  char *kind;                /* the base experiment's kind: "tofu" or "synthetic" */
  char **dims;               /* grid dimension paths */
  int n_dims;
  suite_run *runs;
  int n_runs;
  char *json;                /* suite.json text */
} suite;

int suite_load(suite *s, const char *path, lethe_err *err);
/* Checks every run's settings against the base experiment before anything
 * runs (kind "tofu": the experiment schema and the method plugin and its
 * parameters); errors name the suite file and line of the offending value. */
int suite_validate(const suite *s, lethe_err *err);
void suite_free(suite *s);
/* The default output directory of a suite: results/<name>. */
char *suite_default_out(const suite *s);

typedef struct suite_options {
  int jobs;          /* parallel runs (>= 1) */
  int threads;       /* total threads to divide among runs (0 = cores) */
  int quiet;
  const char *lethe; /* path of the lethe executable to launch */
  const char *const *extra; /* extra -s overrides for every run */
  int n_extra;
} suite_options;

/* Writes suite.json to path: s->json and, for TOFU suites, each run's
 * method as the report shows it ("method": {"name", "title", "colour"},
 * from the plugin's descriptor; title and colour only when it has them).
 * Errors name the suite file and the run whose method does not resolve. */
int suite_write_json(const suite *s, const char *path, lethe_err *err);

/* Runs every run that is not done yet; returns 0 when all are done. */
int suite_execute(const suite *s, const char *out_dir, const suite_options *opt, lethe_err *err);
/* Prints done / running / failed / pending per run and totals. */
int suite_print_status(const suite *s, const char *out_dir, lethe_err *err);

#endif
