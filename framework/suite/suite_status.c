/* suite_status — a run's directory (out_dir/runs/<name>/) and its markers:
 * DONE (the run wrote it), RUNNING (the pid of its process) and FAILED (why),
 * written by the suite; `lethe suite status` reads them.
 * Not here: starting runs (suite_pool.c). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "suite/suite_internal.h"

char *suite_run_path(const char *out_dir, const suite_run *r, const char *file) {
  char *runs = lethe_path_join(out_dir, "runs"), *dir = lethe_path_join(runs, r->name);
  char *p = file ? lethe_path_join(dir, file) : lethe_strdup(dir);
  free(runs);
  free(dir);
  return p;
}

int suite_run_has(const char *out_dir, const suite_run *r, const char *file) {
  char *p = suite_run_path(out_dir, r, file);
  int e = lethe_file_exists(p);
  free(p);
  return e;
}

int suite_marker_write(const char *out_dir, const suite_run *r, const char *marker,
                       const char *text, lethe_err *err) {
  char *path = suite_run_path(out_dir, r, marker);
  int rc = lethe_write_file_atomic(path, text, strlen(text), err);
  free(path);
  if (rc != 0)
    return lethe_err_prefix(err, "run %s: cannot write its %s marker (read by `lethe suite status`)",
                            r->name, marker);
  return 0;
}

/* The largest RUNNING marker read: a pid and a newline. */
#define RUNNING_MARKER_MAX 64

/* 1 when pid is a live (not zombie) process: the state after the command
 * name in /proc/PID/stat ("PID (COMM) S ...", COMM at most 16 bytes). */
static int process_alive(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return kill(pid, 0) == 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' && close_paren[2] != 'X';
}

typedef enum run_state { RUN_DONE, RUN_RUNNING, RUN_FAILED, RUN_PENDING, RUN_N_STATES } run_state;

/* DONE wins; RUNNING only while its process lives (a killed suite leaves
 * the marker); then FAILED; else pending. */
static run_state state_of(const char *out_dir, const suite_run *run) {
  if (suite_run_has(out_dir, run, "DONE")) return RUN_DONE;
  if (suite_run_has(out_dir, run, "RUNNING")) {
    char *m = suite_run_path(out_dir, run, "RUNNING"), *text;
    size_t len;
    run_state state = RUN_PENDING;
    if (lethe_read_file(m, RUNNING_MARKER_MAX, &text, &len, NULL) == 0) {
      long pid = strtol(text, NULL, 10);
      if (pid > 0 && process_alive((pid_t)pid)) state = RUN_RUNNING;
      free(text);
    }
    free(m);
    return state;
  }
  return suite_run_has(out_dir, run, "FAILED") ? RUN_FAILED : RUN_PENDING;
}

int suite_print_status(const suite *s, const char *out_dir, lethe_err *err) {
  (void)err;
  int counts[RUN_N_STATES] = {0};
  static const char *const names[RUN_N_STATES] = {"done", "running", "failed", "pending"};
  for (int r = 0; r < s->n_runs; r++) {
    run_state state = state_of(out_dir, &s->runs[r]);
    counts[state]++;
    printf("%-8s %s\n", names[state], s->runs[r].name);
  }
  printf("%d runs: %d done, %d running, %d failed, %d pending (%s)\n", s->n_runs,
         counts[RUN_DONE], counts[RUN_RUNNING], counts[RUN_FAILED], counts[RUN_PENDING], out_dir);
  return 0;
}
