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

/* `lethe CMD BASE [--out RUN_DIR] [FLAG] [--stages STAGES] --quiet` and the
 * run's and the suite's -s overrides (NULL-terminated, malloc'd; the strings
 * are borrowed). */
static const char **child_argv(const suite_pool *p, const suite_run *r, const char *run_dir,
                               const char *stages) {
  enum { FIXED_ARGS = 10 }; /* lethe cmd base --out dir flag --stages s --quiet NULL */
  const suite_options *opt = p->opt;
  const char **argv = lethe_calloc((size_t)(2 * (r->n_overrides + opt->n_extra) + FIXED_ARGS),
                                   sizeof *argv);
  int a = 0;
  argv[a++] = opt->lethe;
  argv[a++] = p->prepare ? "train" : p->s->kind->command;
  argv[a++] = p->s->base;
  if (!p->prepare) {
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

/* Per slot: the child's pid (0 = idle) and its run. */
typedef struct slots {
  pid_t *pid;
  int *run;
  int running;
} slots;

/* Starts run idx (preparing: its stages `stages`) in free slot j. */
static int start(const suite_pool *p, slots *sl, int j, int idx, const char *stages, lethe_err *err) {
  const suite_run *r = &p->s->runs[idx];
  char *dir = suite_run_path(p->out_dir, r, NULL);
  int rc = lethe_mkdir_p(dir, err);
  free(dir);
  if (rc != 0) return lethe_err_prefix(err, "run %s", r->name);
  if (!p->prepare) {
    char *failed_marker = suite_run_path(p->out_dir, r, "FAILED");
    unlink(failed_marker);
    free(failed_marker);
  }
  char *record_name = suite_printf("progress.%s", stages ? stages : p->s->kind->command);
  const char *record = suite_watch_begin(p->w, j, suite_run_path(p->out_dir, r, record_name));
  free(record_name);
  pid_t pid = spawn(p, r, stages, record, err);
  if (pid < 0) {
    suite_watch_end(p->w, j);
    return -1;
  }
  sl->pid[j] = pid;
  sl->run[j] = idx;
  sl->running++;
  if (p->prepare) return 0;
  char text[32];
  snprintf(text, sizeof text, "%ld\n", (long)pid);
  return suite_marker_write(p->out_dir, r, "RUNNING", text, err);
}

/* The child in slot j ended with status: counts, markers and its line. */
static int finish(const suite_pool *p, slots *sl, int j, int status, lethe_err *err) {
  const suite_run *r = &p->s->runs[sl->run[j]];
  sl->pid[j] = 0;
  sl->running--;
  suite_watch_end(p->w, j);
  int exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0, rc = 0;
  char line[SUITE_MAX_NAME + 64], report[2 * SUITE_MAX_NAME + sizeof line + 64];
  if (p->prepare) {
    if (!exited_ok) {
      (*p->failed)++;
      snprintf(report, sizeof report, "preparing the stages of run %s failed: see runs/%s/log.txt",
               r->name, r->name);
      suite_watch_note(p->w, report);
    }
    return 0;
  }
  char *marker = suite_run_path(p->out_dir, r, "RUNNING"), *summary;
  unlink(marker);
  free(marker);
  if (exited_ok && suite_run_has(p->out_dir, r, "DONE")) {
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

int suite_pool_run(const suite_pool *p, const int *idx, const char *const *stages, int n,
                   lethe_err *err) {
  slots sl = {lethe_calloc((size_t)p->jobs, sizeof(pid_t)), lethe_calloc((size_t)p->jobs, sizeof(int)), 0};
  int rc = 0, next = 0;
  lethe_err e = {0};
  while (sl.running > 0 || (rc == 0 && next < n)) {
    for (int j = 0; j < p->jobs && next < n && rc == 0; j++) {
      if (sl.pid[j] > 0) continue;
      int i = next++;
      if (start(p, &sl, j, idx[i], stages ? stages[i] : NULL, &e) != 0) pool_error(p, &sl, &rc, err, &e);
    }
    if (sl.running == 0) break;
    int status;
    pid_t pid = suite_watch_wait(p->w, &status);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 0; j < p->jobs; j++)
      if (sl.pid[j] == pid && finish(p, &sl, j, status, &e) != 0) pool_error(p, &sl, &rc, err, &e);
  }
  free(sl.pid);
  free(sl.run);
  return rc;
}
