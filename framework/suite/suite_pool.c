/* suite_pool — a pool of `lethe` child processes over a list of runs:
 * started with posix_spawn (never a bare fork: libgomp's thread pool does
 * not survive one), each with its share of the threads, its log.txt and its
 * progress record; reaped, marked and reported as they end.
 * Not here: what runs in which order (suite_exec.c), the status line
 * (suite_watch.c). */
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/dist.h"
#include "suite/suite_internal.h"

extern char **environ;

/* `lethe train BASE --stages STAGES --quiet` (preparing shared stages) or
 * `lethe CMD BASE --out RUN_DIR [FLAG] --quiet` (the run), with the run's
 * and the suite's -s overrides (NULL-terminated, malloc'd; the strings are
 * borrowed). */
static const char **child_argv(const suite_pool *p, const suite_run *r, const char *run_dir,
                               const char *stages) {
  enum { FIXED_ARGS = 10 }; /* lethe cmd base --out dir flag --stages s --quiet NULL */
  const suite_options *opt = p->opt;
  const char **argv = lethe_calloc((size_t)(2 * (r->n_overrides + opt->n_extra) + FIXED_ARGS),
                                   sizeof *argv);
  int a = 0;
  argv[a++] = opt->lethe;
  argv[a++] = stages ? "train" : p->s->kind->command;
  argv[a++] = p->s->base;
  if (!stages) {
    argv[a++] = "--out";
    argv[a++] = run_dir;
    if (p->s->kind->flag) argv[a++] = p->s->kind->flag;
  }
  if (stages) argv[a++] = "--stages", argv[a++] = stages;
  argv[a++] = "--quiet";
  for (int i = 0; i < r->n_overrides; i++) argv[a++] = "-s", argv[a++] = r->overrides[i];
  for (int i = 0; i < opt->n_extra; i++) argv[a++] = "-s", argv[a++] = opt->extra[i];
  argv[a] = NULL;
  return argv;
}

/* The child's environment: ours with its share of the threads, its progress
 * record, and without the MPI launcher's variables (a child is a
 * single-process lethe). The array is malloc'd; *owned holds what to free. */
static char **child_env(int threads, const char *record, char **owned) {
  int n_env = 0;
  while (environ[n_env]) n_env++;
  char **env = lethe_calloc((size_t)n_env + 3, sizeof(char *));
  int e = 0;
  for (int i = 0; i < n_env; i++) {
    const char *v = environ[i];
    if (!suite_starts_with(v, "OMP_NUM_THREADS=") && !suite_starts_with(v, "OMPI_") && !suite_starts_with(v, "PMIX_") &&
        !suite_starts_with(v, "PMI_") && !suite_starts_with(v, PROGRESS_FILE_ENV "="))
      env[e++] = environ[i];
  }
  owned[0] = env[e++] = suite_printf("OMP_NUM_THREADS=%d", threads);
  owned[1] = record ? (env[e++] = suite_printf("%s=%s", PROGRESS_FILE_ENV, record)) : NULL;
  return env;
}

/* Spawns the child of run r with stdout/stderr appended to its log.txt;
 * returns its pid or -1. */
static pid_t spawn(const suite_pool *p, const suite_run *r, const char *stages, const char *record,
                   lethe_err *err) {
  char *dir = suite_run_path(p->out_dir, r, NULL), *log = suite_run_path(p->out_dir, r, "log.txt");
  const char **argv = child_argv(p, r, dir, stages);
  char *owned[2];
  char **env = child_env(p->threads, record, owned);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, p->opt->lethe, &fa, NULL, (char *const *)argv, env);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0)
    lethe_errf(err, LETHE_E_IO, "run %s: cannot start %s (log %s): %s", r->name, p->opt->lethe, log,
               strerror(rc));
  free(owned[0]);
  free(owned[1]);
  free(env);
  free(argv);
  free(dir);
  free(log);
  return rc != 0 ? -1 : pid;
}

/* Per slot: the child's pid (0 = idle) and its task. */
typedef struct slots {
  pid_t *pid;
  int *task;
  int running;
} slots;

/* Starts task i (a run, or preparing stages of one) in free slot j. */
static int start(const suite_pool *p, const suite_task *t, slots *sl, int j, int i, lethe_err *err) {
  const suite_run *r = &p->s->runs[t[i].run];
  const char *stages = t[i].stages;
  char *dir = suite_run_path(p->out_dir, r, NULL);
  int rc = lethe_mkdir_p(dir, err);
  free(dir);
  if (rc != 0) return lethe_err_prefix(err, "run %s", r->name);
  if (!stages) {
    char *failed_marker = suite_run_path(p->out_dir, r, "FAILED");
    unlink(failed_marker);
    free(failed_marker);
  }
  char *record_name = suite_printf("progress.%s", stages ? stages : p->s->kind->command);
  const char *record = suite_watch_begin(p->w, j, suite_run_path(p->out_dir, r, record_name));
  free(record_name);
  pid_t pid = spawn(p, r, stages, record, err);
  if (pid < 0) {
    suite_watch_end(p->w, j, stages != NULL);
    return -1;
  }
  sl->pid[j] = pid;
  sl->task[j] = i;
  sl->running++;
  if (stages) return 0;
  char text[32];
  snprintf(text, sizeof text, "%ld\n", (long)pid);
  return suite_marker_write(p->out_dir, r, "RUNNING", text, err);
}

/* The child in slot j ended with status: counts, markers and its line;
 * *ok says whether it succeeded. */
static int finish(const suite_pool *p, const suite_task *t, slots *sl, int j, int status, int *ok,
                  lethe_err *err) {
  const suite_run *r = &p->s->runs[t[sl->task[j]].run];
  sl->pid[j] = 0;
  sl->running--;
  suite_watch_end(p->w, j, t[sl->task[j]].stages != NULL);
  int exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0, rc = 0;
  *ok = exited_ok;
  char line[SUITE_MAX_NAME + 64], report[2 * SUITE_MAX_NAME + sizeof line + 64];
  if (t[sl->task[j]].stages) {
    if (!exited_ok) {
      (*p->stages_failed)++;
      snprintf(report, sizeof report, "preparing the stages of run %s failed: see runs/%s/log.txt",
               r->name, r->name);
      suite_watch_note(p->w, report);
    }
    return 0;
  }
  char *marker = suite_run_path(p->out_dir, r, "RUNNING"), *summary;
  unlink(marker);
  free(marker);
  *ok = exited_ok && suite_run_has(p->out_dir, r, "DONE");
  if (*ok) {
    (*p->n_done)++;
    summary = suite_run_path(p->out_dir, r, "summary.json");
    p->s->kind->summarize(summary, line, sizeof line);
    free(summary);
  } else {
    (*p->failed)++;
    snprintf(line, sizeof line, "FAILED (exit %d; see runs/%s/log.txt)",
             WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), r->name);
    rc = suite_marker_write(p->out_dir, r, "FAILED", line, err);
  }
  char rank_tag[32] = ""; /* under MPI: which rank ran it */
  if (dist_size() > 1) snprintf(rank_tag, sizeof rank_tag, "rank %d: ", dist_rank());
  snprintf(report, sizeof report, "%s[%d/%d] %s: %s", rank_tag, *p->n_done + *p->failed,
           p->s->n_runs, r->name, line);
  if (!p->opt->quiet) suite_watch_note(p->w, report);
  return rc;
}

/* An error: said at once (the started runs may take long), kept in err
 * when it is the first. */
static void pool_error(const suite_pool *p, const slots *sl, int *rc, lethe_err *first,
                       const lethe_err *e) {
  char note[sizeof e->msg + 96];
  snprintf(note, sizeof note, "error: %s; no more runs start (%d still running)", e->msg, sl->running);
  suite_watch_note(p->w, note);
  if (*rc == 0) *first = *e;
  *rc = -1;
}

/* A task's state: a task may start when it is WAITING and what it waits
 * for ENDED_OK; one whose prerequisite FAILED (or was GIVEN_UP) is GIVEN_UP
 * and never starts. */
enum { WAITING, STARTED, ENDED_OK, FAILED, GIVEN_UP };

int suite_pool_run_tasks(const suite_pool *p, const suite_task *t, int n, lethe_err *err) {
  slots sl = {lethe_calloc((size_t)p->jobs, sizeof(pid_t)), lethe_calloc((size_t)p->jobs, sizeof(int)), 0};
  int *state = lethe_calloc((size_t)n + 1, sizeof(int)), rc = 0, left = n;
  lethe_err e = {0};
  while (sl.running > 0 || (rc == 0 && left > 0)) {
    for (int i = 0; i < n; i++) /* prerequisites that failed: nothing to wait for */
      if (state[i] == WAITING && t[i].after >= 0 && t[i].after < n &&
          (state[t[i].after] == FAILED || state[t[i].after] == GIVEN_UP))
        state[i] = GIVEN_UP, left--; /* not started: the caller reports why */
    for (int j = 0; j < p->jobs && rc == 0; j++) {
      if (sl.pid[j] > 0) continue;
      int i = 0; /* the first task that may start, in the list's order */
      while (i < n && !(state[i] == WAITING && (t[i].after < 0 || state[t[i].after] == ENDED_OK))) i++;
      if (i == n) break;
      state[i] = STARTED, left--;
      if (start(p, t, &sl, j, i, &e) != 0) {
        state[i] = FAILED;
        pool_error(p, &sl, &rc, err, &e);
      }
    }
    if (sl.running == 0) break; /* nothing runs and nothing may start */
    int status;
    pid_t pid = suite_watch_wait(p->w, &status);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 0; j < p->jobs; j++)
      if (sl.pid[j] == pid) {
        int i = sl.task[j], ok = 0;
        if (finish(p, t, &sl, j, status, &ok, &e) != 0) pool_error(p, &sl, &rc, err, &e);
        state[i] = ok ? ENDED_OK : FAILED;
      }
  }
  free(state);
  free(sl.pid);
  free(sl.task);
  return rc;
}

int suite_pool_run(const suite_pool *p, const int *idx, const char *const *stages, int n,
                   lethe_err *err) {
  suite_task *t = lethe_calloc((size_t)n + 1, sizeof(suite_task));
  for (int i = 0; i < n; i++) t[i].run = idx[i], t[i].stages = stages ? stages[i] : NULL, t[i].after = -1;
  int rc = suite_pool_run_tasks(p, t, n, err);
  free(t);
  return rc;
}
