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
 *   seeds = 5;          # optional: every run with the kind's seed_setting 0..4
 *   model_seeds = 2;    # optional: and with its model_seed_setting 0..1
 * Runs = grid (cartesian, in file order) × groups (each group once; none =
 * one run per grid point) × model seeds × seeds (the last fastest). Output directory: suite.json (the expansion),
 * runs/<name>/ per run (the unlearning run's files, log.txt, DONE/FAILED).
 * The base experiment's `kind` picks a row of the kind table (suite_kind):
 * how every run is checked before any starts, which `lethe` command runs
 * one, and what is reported at the end.
 * Not here: what a run does (unlearn.h, synthetic.h) or the report.
 */
#ifndef LETHE_SUITE_H
#define LETHE_SUITE_H

#include "core/core.h"
#include "core/kind.h"

/* ---- experiment kinds ------------------------------------------------------------
 * One row per kind (core/kind.h names them); adding a kind is one row and the
 * room that runs it. */
typedef struct suite_kind {
  lethe_kind id;         /* its name: lethe_kind_name(id) */
  /* Checks one run's configuration (the base experiment with overrides) as
   * its command will read it, without running anything. */
  int (*validate)(const char *base, const char *const *overrides, int n_overrides,
                  lethe_err *err);
  /* run: `lethe COMMAND BASE --out RUN_DIR [FLAG] --quiet -s ...` */
  const char *command;
  const char *flag;      /* NULL: none */
  int shared_stages;     /* 1: the runs' cached stages are built first (`lethe train --stages`) */
  /* What a suite's `seeds = N;` varies (0..N-1 per grid point), and
   * `model_seeds = M;` (NULL: the kind has no separate model seed). */
  const char *seed_setting;
  const char *model_seed_setting;
  /* One line about a finished run from its summary.json ("done" when the
   * file holds none of the kind's numbers). */
  void (*summarize)(const char *summary_path, char *buf, size_t n);
  /* After every run is done: writes the suite's report, or names the
   * command that does; line gets what to tell the user. */
  int (*report)(const char *out_dir, char *line, size_t n, lethe_err *err);
} suite_kind;

/* The row of kind `name`; NULL for an unknown name. */
const suite_kind *suite_kind_find(const char *name);

typedef struct suite_run {
  char *name;        /* directory name, from the varying values */
  char **overrides;  /* "path=value" for the experiment */
  int *override_line;/* the suite file's line of each override */
  int n_overrides;
} suite_run;

typedef struct suite {
  char *path, *name, *base;  /* suite file, suite name, base experiment (resolved path) */
  const suite_kind *kind;    /* the base experiment's kind */
  char **dims;               /* grid dimension paths */
  int n_dims;
  int seeds, model_seeds;    /* `seeds`, `model_seeds` (0: not set) */
  suite_run *runs;
  int n_runs;
  char *json;                /* suite.json text */
} suite;

/* Reads and expands a suite file (at most SUITE_MAX_RUNS runs; a run name,
 * made of the varying values, at most SUITE_MAX_NAME bytes). */
#define SUITE_MAX_RUNS 100000
#define SUITE_MAX_NAME 255 /* one path component (NAME_MAX) */
int suite_load(suite *s, const char *path, lethe_err *err);
/* Checks every run's configuration as its kind's command will read it
 * (suite_kind.validate: for "tofu" the experiment schema and the method
 * plugin and its parameters; for "synthetic" that and the synthetic
 * settings), before anything runs, with the extra overrides every run gets
 * (suite_options.extra; may be NULL when n_extra is 0). Each setting is
 * checked alone first, so an error names the suite file's line (or the -s)
 * and the run. */
int suite_validate(const suite *s, const char *const *extra, int n_extra, lethe_err *err);
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
