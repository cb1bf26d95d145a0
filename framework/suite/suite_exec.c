/* suite_exec — executing a suite (suite_execute): suite.json and the runs
 * left to do, the shared stages first (for kinds that have them: one
 * `lethe train` per distinct set of stage settings, or every rank together
 * under MPI), and the runs in a process pool (without MPI the same pool, each
 * run once its stages are done; under MPI after them, round-robin over the
 * ranks).
 * Not here: the children themselves (suite_pool.c). */
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/dist.h"
#include "pipeline/experiment.h"
#include "pipeline/prepare.h"
#include "suite/suite_internal.h"

#define FORGET_SPLIT_SETTING "data.forget_split="

/* The cores this process may use: those it is bound to when a launcher (or
 * taskset) bound it, else the machine's divided among the ranks on it. */
static int cores(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online < 1) online = 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < online) return CPU_COUNT(&set);
  long n = online / dist_local_size();
  return n > 0 ? (int)n : 1;
}

/* 1 when override o does not change the stages: method.*, unlearn.*, and
 * (ignore_split) the forget split, which only picks the retain model. */
static int not_stage(const char *o, int ignore_split) {
  return suite_starts_with(o, "method.") || suite_starts_with(o, "unlearn.") ||
         (ignore_split && suite_starts_with(o, FORGET_SPLIT_SETTING));
}

/* 1 when two runs' overrides agree except for settings that are not_stage. */
static int same_settings(const suite_run *a, const suite_run *b, int ignore_split) {
  int na = 0, nb = 0;
  for (int i = 0; i < a->n_overrides; i++) na += !not_stage(a->overrides[i], ignore_split);
  for (int j = 0; j < b->n_overrides; j++) {
    const char *o = b->overrides[j];
    if (not_stage(o, ignore_split)) continue;
    nb++;
    int found = 0;
    for (int i = 0; i < a->n_overrides && !found; i++) found = !strcmp(a->overrides[i], o);
    if (!found) return 0;
  }
  return na == nb;
}

/* 1 when two runs need the same stages (base, target, retain model). */
static int same_stages(const suite_run *a, const suite_run *b) { return same_settings(a, b, 0); }
/* 1 when two runs share the base and target models (the forget split may differ). */
static int same_target(const suite_run *a, const suite_run *b) { return same_settings(a, b, 1); }

/* Under MPI (core/dist.h): the stages of the runs in prep[0..n), built in
 * this process by every rank together (data parallel). */
static int prepare_together(const suite *s, const suite_options *opt, const int *prep, int n,
                            lethe_err *err) {
  for (int i = 0; i < n; i++) {
    const suite_run *r = &s->runs[prep[i]];
    int n_over = r->n_overrides + opt->n_extra;
    const char **over = lethe_calloc((size_t)n_over + 1, sizeof *over);
    memcpy(over, r->overrides, sizeof *over * (size_t)r->n_overrides);
    for (int k = 0; k < opt->n_extra; k++) over[r->n_overrides + k] = opt->extra[k];
    experiment e;
    int rc = experiment_load(&e, s->base, over, n_over, err);
    free(over);
    if (rc == 0) {
      e.quiet = opt->quiet;
      rc = run_stages(&e, STAGES_ALL, err);
      experiment_free(&e);
    }
    if (rc != 0) return lethe_err_prefix(err, "preparing the stages of run %s", r->name);
  }
  return 0;
}

/* The distinct stage settings of the runs pending[0..n_pending): one run
 * of each in prep (returns how many) and, when setting is not NULL, pending
 * run i's index in prep in setting[i]. */
static int distinct_settings(const suite *s, const int *pending, int n_pending, int *prep,
                             int *setting) {
  int n_prep = 0;
  for (int i = 0; i < n_pending; i++) {
    int k = 0;
    while (k < n_prep && !same_stages(&s->runs[prep[k]], &s->runs[pending[i]])) k++;
    if (k == n_prep) prep[n_prep++] = pending[i];
    if (setting) setting[i] = k;
  }
  return n_prep;
}

/* Without MPI: the stages and the runs in `lethe` children, on one watch.
 * The world and the base model first, alone with every thread; then one
 * pool of: a task per target model (runs that differ only in the forget
 * split share it), a task per stage setting (its retain model and
 * evaluation, then the target's evaluation, which waits for the target task
 * through the stage lock), and the runs, each as soon as the task of its
 * stage settings is done. So the runs of one forget split start while the
 * last retain models still train (before, a core idled through the last
 * stage task). pending[0..n_pending) are the runs, longest first. */
static int stages_and_runs(const suite *s, const char *out_dir, const suite_options *opt,
                           const int *pending, int n_pending, int jobs, int per_run,
                           int total_threads, int *n_done, int *failed, lethe_err *err) {
  int *prep = lethe_malloc(sizeof(int) * (size_t)(n_pending + 1));
  int *setting = lethe_malloc(sizeof(int) * (size_t)(n_pending + 1));
  int n_prep = distinct_settings(s, pending, n_pending, prep, setting);
  suite_task *t = lethe_calloc((size_t)(2 * n_prep + n_pending + 1), sizeof(suite_task));
  int n_t = 0;
  for (int i = 0; i < n_prep; i++) {
    int dup = 0;
    for (int k = 0; k < i && !dup; k++) dup = same_target(&s->runs[prep[k]], &s->runs[prep[i]]);
    if (!dup) t[n_t++] = (suite_task){prep[i], "target", -1};
  }
  int first_setting = n_t;
  for (int i = 0; i < n_prep; i++) t[n_t++] = (suite_task){prep[i], "all", -1};
  int n_stage_tasks = n_t;
  for (int i = 0; i < n_pending; i++) t[n_t++] = (suite_task){pending[i], NULL, first_setting + setting[i]};
  int stages_failed = 0, rc = 0;
  suite_watch w;
  suite_watch_start(&w, *n_done, s->n_runs, jobs, !opt->quiet);
  suite_watch_stages(&w, n_prep ? 1 + n_stage_tasks : 0);
  suite_pool p = {s, out_dir, opt, 1, total_threads, &w, n_done, failed, &stages_failed};
  suite_task base = {n_prep ? prep[0] : 0, "base", -1};
  if (n_prep) rc = suite_pool_run_tasks(&p, &base, 1, err);
  p.jobs = jobs, p.threads = per_run;
  if (rc == 0 && !stages_failed) rc = suite_pool_run_tasks(&p, t, n_t, err);
  suite_watch_finish(&w);
  free(t);
  free(setting);
  free(prep);
  if (rc == 0 && stages_failed)
    rc = lethe_errf(err, LETHE_E_IO,
                    "preparing the shared stages failed (see the runs' log.txt); the runs that "
                    "needed them did not start");
  return rc;
}

/* NN of a run's data.forget_split=forgetNN override; 0 without one. */
static int forget_percent(const suite_run *r) {
  for (int i = 0; i < r->n_overrides; i++)
    if (suite_starts_with(r->overrides[i], FORGET_SPLIT_SETTING)) {
      const char *v = r->overrides[i] + strlen(FORGET_SPLIT_SETTING);
      if (*v == '"') v++;
      return suite_starts_with(v, "forget") ? atoi(v + strlen("forget")) : 0;
    }
  return 0;
}

/* Rank 0: writes suite.json and lists the runs not DONE in pending, longest
 * first, so that the pool does not end on one long run while the other
 * slots idle (a larger forget split is a longer run: more steps and a
 * larger forget set to evaluate). */
static int plan(const suite *s, const char *out_dir, int *pending, int *n_pending, lethe_err *err) {
  char *runs_dir = lethe_path_join(out_dir, "runs"), *sj = lethe_path_join(out_dir, "suite.json");
  int rc = lethe_mkdir_p(runs_dir, err);
  if (rc == 0) rc = suite_write_json(s, sj, err);
  free(runs_dir);
  free(sj);
  for (int r = 0; r < s->n_runs; r++)
    if (!suite_run_has(out_dir, &s->runs[r], "DONE")) pending[(*n_pending)++] = r;
  for (int i = 1; i < *n_pending; i++)
    for (int j = i; j > 0 && forget_percent(&s->runs[pending[j]]) >
                                  forget_percent(&s->runs[pending[j - 1]]); j--) {
      int t = pending[j];
      pending[j] = pending[j - 1];
      pending[j - 1] = t;
    }
  return rc;
}

/* Under MPI: the shared stages of the pending runs (one set per distinct
 * stage settings), built here by every rank together. */
static int build_shared_stages(const suite *s, const suite_options *opt, const int *pending,
                               int n_pending, lethe_err *err) {
  int *prep = lethe_malloc(sizeof(int) * (size_t)(n_pending + 1));
  int rc = prepare_together(s, opt, prep, distinct_settings(s, pending, n_pending, prep, NULL), err);
  free(prep);
  return rc;
}

int suite_execute(const suite *s, const char *out_dir, const suite_options *opt, lethe_err *err) {
  int rc = 0, ranks = dist_size();
  int *pending = lethe_malloc(sizeof(int) * (size_t)(s->n_runs + 1)), n_pending = 0;
  if (dist_is_root()) rc = plan(s, out_dir, pending, &n_pending, err);
  dist_bcast(&rc, sizeof rc, 0);
  dist_bcast(&n_pending, sizeof n_pending, 0);
  dist_bcast(pending, sizeof(int) * (size_t)n_pending, 0);
  if (rc != 0) {
    if (!dist_is_root()) lethe_errf(err, LETHE_E_IO, "%s: rank 0 cannot write the suite", out_dir);
    free(pending);
    return -1;
  }
  int n_done = s->n_runs - n_pending;
  int jobs = opt->jobs > 0 ? opt->jobs : 1, total_threads = opt->threads > 0 ? opt->threads : cores();
  int per_run = total_threads / jobs > 0 ? total_threads / jobs : 1;
  if (!opt->quiet && dist_is_root())
    fprintf(stderr, "suite %s: %d runs, %d done, %d to run (%d at a time%s, %d threads each) -> %s\n",
            s->name, s->n_runs, n_done, n_pending, jobs * ranks, ranks > 1 ? " over the ranks" : "",
            per_run, out_dir);
  int failed = 0;
  if (ranks == 1 && s->kind->shared_stages) {
    rc = stages_and_runs(s, out_dir, opt, pending, n_pending, jobs, per_run, total_threads, &n_done,
                         &failed, err);
  } else {
    if (s->kind->shared_stages) rc = build_shared_stages(s, opt, pending, n_pending, err);
    /* the runs, round-robin over the ranks: each exactly once */
    int n_mine = 0, stages_failed = 0;
    for (int i = 0; i < n_pending; i++)
      if (i % ranks == dist_rank()) pending[n_mine++] = pending[i];
    suite_watch w; /* under MPI: the [k/n] lines alone, every rank seeing only its own runs */
    suite_watch_start(&w, n_done, s->n_runs, jobs, !opt->quiet && ranks == 1);
    suite_pool p = {s, out_dir, opt, jobs, per_run, &w, &n_done, &failed, &stages_failed};
    if (rc == 0) rc = suite_pool_run(&p, pending, NULL, n_mine, err);
    suite_watch_finish(&w);
  }
  free(pending);
  if (rc != 0) return -1;
  dist_barrier(); /* ranks that are done sleep until the last run ends */
  double failed_all = failed;
  dist_allreduce_sum_f64(&failed_all, 1);
  if (failed_all > 0)
    rc = lethe_errf(err, LETHE_E_IO, "%.0f of %d runs failed (their log.txt says why); rerun to retry them",
                    failed_all, s->n_runs);
  return rc;
}
