/* suite_internal — what the suite room's files share and nobody else uses.
 * The files, each one job, in the order they use each other (no cycle):
 *   suite_kind.c    the experiment-kind table (suite.h)
 *   suite_parse.c   reads a suite file: top-level settings, base and kind,
 *                   the common `set`, the grid's dimensions, the groups
 *   suite_expand.c  grid × groups into named runs and suite.json (suite_load)
 *   suite_check.c   every run's configuration checked (suite_validate)
 *   suite_status.c  a run's directory, its markers, `lethe suite status`
 *   suite_pool.c    a pool of `lethe` child processes over a list of runs
 *   suite_exec.c    shared stages first, then the runs (suite_execute)
 *   suite_watch.c   the status line while children run (suite_watch.h)
 */
#ifndef LETHE_SUITE_INTERNAL_H
#define LETHE_SUITE_INTERNAL_H

#include <libconfig.h>

#include "suite/suite.h"
#include "suite/suite_watch.h"

/* ---- suite_parse.c --------------------------------------------------------- */
/* Strings (owned) with the suite file's line of each. */
typedef struct suite_strvec {
  char **v;
  int *line;
  int n, cap;
} suite_strvec;
void suite_strvec_push(suite_strvec *s, char *owned, int line);
void suite_strvec_free(suite_strvec *s);

/* 1 when s begins with prefix. */
int suite_starts_with(const char *s, const char *prefix);
/* malloc'd printf. */
char *suite_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One grid dimension: a setting path and its values (inside the config). */
typedef struct suite_dim {
  char *path;
  const config_setting_t *values;
} suite_dim;

/* A suite file as read: its settings stay in cfg, which owns every
 * config_setting_t here. */
typedef struct suite_file {
  config_t cfg;
  suite_strvec common;          /* `set`, flattened to "path=value" */
  suite_dim *dims;              /* `grid`, in file order */
  int n_dims;
  const config_setting_t *groups; /* `groups` (NULL: none) */
  int n_groups;
  /* `seeds` and `model_seeds` (NULL: not set) and their counts (1 when
   * not set): the innermost dimensions, over the kind's seed settings */
  const config_setting_t *seeds, *model_seeds;
  int n_seeds, n_model_seeds;
} suite_file;

/* Reads the suite file at path into f, and s->path, name, base and kind.
 * On failure f holds nothing to free (s is the caller's to free). */
int suite_file_read(suite_file *f, suite *s, const char *path, lethe_err *err);
void suite_file_free(suite_file *f);
/* Text of a scalar value as an override accepts it (strings bare;
 * malloc'd), NULL for a group, array or list. */
char *suite_value_text(const config_setting_t *v);
/* Flattens a group of settings into "path=value" overrides. */
int suite_flatten(const config_setting_t *g, const char *prefix, suite_strvec *out, lethe_err *err);
/* "file:line" of a setting, for a message (lethe_err holds 1024 bytes). */
#define SUITE_WHERE_MAX 600
void suite_where(const config_setting_t *s, char *buf, size_t n);

/* ---- suite_status.c ---------------------------------------------------------- */
/* out_dir/runs/<run>[/file] (malloc'd). */
char *suite_run_path(const char *out_dir, const suite_run *r, const char *file);
int suite_run_has(const char *out_dir, const suite_run *r, const char *file);
/* Writes a marker (RUNNING, FAILED) of run r; an error names the marker and
 * what that means for `lethe suite status`. */
int suite_marker_write(const char *out_dir, const suite_run *r, const char *marker,
                       const char *text, lethe_err *err);

/* ---- suite_pool.c ------------------------------------------------------------ */
typedef struct suite_pool {
  const suite *s;
  const char *out_dir;
  const suite_options *opt;
  int jobs;          /* processes at once */
  int threads;       /* threads of each */
  suite_watch *w;    /* shows them; its slots are the pool's */
  int *n_done, *failed; /* runs done and failed, updated as children end */
  int *stages_failed;   /* tasks preparing stages that failed */
} suite_pool;

/* One child: run `run` itself (the kind's command; stages NULL) or
 * `lethe train --stages stages` of its shared stages; it starts only after
 * task `after` (-1: none) ended well, and never when that one failed (the
 * caller says so: the failed stage task is counted in stages_failed). */
typedef struct suite_task {
  int run;
  const char *stages;
  int after;
} suite_task;

/* Runs the tasks t[0..n), up to p->jobs at once, each as soon as a slot is
 * free and its prerequisite is done, the first such in the list's order. A
 * finished run is marked DONE (by the run) or FAILED (here) and reported.
 * At the first error (a child that cannot start, a directory or marker that
 * cannot be written) the pool starts no more children, lets the started
 * ones finish (marking and reporting them) and returns -1 with that error. */
int suite_pool_run_tasks(const suite_pool *p, const suite_task *t, int n, lethe_err *err);
/* The same for runs idx[0..n) (preparing: with `--stages stages[i]`),
 * with no prerequisites. */
int suite_pool_run(const suite_pool *p, const int *idx, const char *const *stages, int n,
                   lethe_err *err);

#endif
