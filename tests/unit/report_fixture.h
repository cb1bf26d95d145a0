/* report_fixture — writes synthetic suite output directories for the report
 * tests: suite.json and runs/<name>/ with summary.json, history.jsonl,
 * steps.jsonl, eval.json, best/eval.json, config.cfg and DONE, with
 * plausible numbers per method (GA collapses, NPO+RT keeps utility ...). */
#ifndef LETHE_TEST_REPORT_FIXTURE_H
#define LETHE_TEST_REPORT_FIXTURE_H

typedef struct fixture_spec {
  const char *name;
  const char *const *methods;
  int n_methods;
  const char *const *splits;
  int n_splits;
  int n_seeds;
  const double *betas; /* a grid over method.params.beta; NULL: none */
  int n_betas;
  int n_unfinished; /* the last runs: not done (the very last one FAILED) */
  int nulls;        /* write nulls where the format allows them */
  int no_methods;   /* suite.json without each run's "method" (as before it had one) */
} fixture_spec;

/* Writes the suite into dir (created); returns the number of runs. Exits
 * the process (status 1, message on stderr) when a file cannot be written. */
int fixture_write(const char *dir, const fixture_spec *spec);

#endif
