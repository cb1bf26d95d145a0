/* suite_check — every run of a suite checked, as its kind's command will
 * read it, before the suite starts anything (suite_validate): a typo in one
 * run's method must not cost the others a trained stage.
 * Not here: what is checked for one run (the kind table, suite_kind.c). */
#include <stdlib.h>
#include <string.h>

#include "suite/suite_internal.h"

typedef struct override_ref {
  const char *text;
  long index; /* position in the suite's order: run by run, override by override */
} override_ref;

static int cmp_override(const void *a, const void *b) {
  const override_ref *x = a, *y = b;
  int c = strcmp(x->text, y->text);
  return c ? c : (x->index > y->index) - (x->index < y->index);
}

/* first[k] = 1 when override k (in suite order) is the first of its text:
 * the others need no check of their own (a grid value is shared by many
 * runs). Sorted, so large suites check each distinct setting once. */
static char *first_occurrences(const suite *s) {
  long n = 0;
  for (int r = 0; r < s->n_runs; r++) n += s->runs[r].n_overrides;
  override_ref *refs = lethe_malloc(sizeof *refs * (size_t)(n + 1));
  long k = 0;
  for (int r = 0; r < s->n_runs; r++)
    for (int i = 0; i < s->runs[r].n_overrides; i++, k++) refs[k] = (override_ref){s->runs[r].overrides[i], k};
  qsort(refs, (size_t)n, sizeof *refs, cmp_override);
  char *first = lethe_calloc((size_t)n + 1, 1);
  for (long j = 0; j < n; j++) first[refs[j].index] = j == 0 || strcmp(refs[j - 1].text, refs[j].text);
  free(refs);
  return first;
}

/* Run r's overrides followed by the extra ones (NULL-terminated, malloc'd). */
static const char **run_overrides(const suite_run *run, const char *const *extra, int n_extra) {
  const char **all = lethe_calloc((size_t)(run->n_overrides + n_extra) + 1, sizeof *all);
  for (int i = 0; i < run->n_overrides; i++) all[i] = run->overrides[i];
  for (int i = 0; i < n_extra; i++) all[run->n_overrides + i] = extra[i];
  return all;
}

/* 1 when override o sets `setting` (NULL: never). */
static int sets(const char *o, const char *setting) {
  size_t n = setting ? strlen(setting) : 0;
  return setting && !strncmp(o, setting, n) && o[n] == '=';
}

/* 1 when o chooses the method (its parameters are checked against that one). */
static int selects_method(const char *o) {
  return sets(o, "method.name") || sets(o, "method.plugin") || sets(o, "method.plugin_path");
}

/* Override i of run alone, but for a method parameter with the run's choice
 * of method: a parameter of the run's method is not one of the base's. */
static int validate_alone(const suite *s, const suite_run *run, int i, lethe_err *err) {
  const char *o = run->overrides[i];
  const char **with = lethe_calloc((size_t)run->n_overrides + 1, sizeof *with);
  int n = 0;
  if (!strncmp(o, "method.", 7) && !selects_method(o))
    for (int j = 0; j < run->n_overrides; j++)
      if (selects_method(run->overrides[j])) with[n++] = run->overrides[j];
  with[n++] = o;
  int rc = s->kind->validate(s->base, with, n, err);
  free(with);
  return rc;
}

int suite_validate(const suite *s, const char *const *extra, int n_extra, lethe_err *err) {
  const suite_kind *kind = s->kind;
  for (int i = 0; i < n_extra; i++) { /* alone first, so an error names the -s */
    int seed = s->seeds && sets(extra[i], kind->seed_setting);
    if (seed || (s->model_seeds && sets(extra[i], kind->model_seed_setting)))
      return lethe_errf(err, LETHE_E_CONFIG,
                        "-s %s: the suite %s varies it (%s = %d); the override would give every "
                        "run the same one",
                        extra[i], s->path, seed ? "seeds" : "model_seeds", seed ? s->seeds : s->model_seeds);
    if (kind->validate(s->base, &extra[i], 1, err) != 0)
      return lethe_err_prefix(err, "-s %s", extra[i]);
  }
  long k = 0;
  char *first = first_occurrences(s);
  int rc = 0;
  for (int r = 0; r < s->n_runs && rc == 0; r++) {
    const suite_run *run = &s->runs[r];
    /* each setting alone first, so an error points at its line */
    for (int i = 0; i < run->n_overrides && rc == 0; i++, k++)
      if (first[k] && validate_alone(s, run, i, err) != 0)
        rc = lethe_err_prefix(err, "%s:%d: run %s", s->path, run->override_line[i], run->name);
    if (rc != 0) break;
    const char **all = run_overrides(run, extra, n_extra);
    if (kind->validate(s->base, all, run->n_overrides + n_extra, err) != 0)
      rc = lethe_err_prefix(err, "%s: run %s", s->path, run->name);
    free(all);
  }
  free(first);
  return rc;
}
