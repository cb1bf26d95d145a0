/* lethe suite — run an ablation suite (grid × groups of experiments) in
 * parallel processes, resumably; check it; show its status. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dist.h"
#include "suite/suite.h"

void help_suite(void) {
  printf(
      "usage: lethe suite run FILE [--out DIR] [-j N] [--threads N] [-s path=value ...] [--quiet]\n"
      "       lethe suite validate FILE [-s path=value ...]\n"
      "       lethe suite status FILE [--out DIR]\n\n"
      "A suite file names a base experiment and a grid over setting paths (every\n"
      "list in `grid` is a dimension) plus optional named `groups`; the runs are\n"
      "their cartesian product. `run` trains the shared stages once (stage cache),\n"
      "then runs up to N experiments at a time (threads divided among them); each\n"
      "finished run is marked DONE, so an interrupted suite resumes where it\n"
      "stopped. DIR defaults to results/<suite name>. Then: lethe report DIR.\n"
      "Before anything runs, every run's settings are checked as its command will\n"
      "read them (method and parameters too); `validate` does only that.\n"
      "Format: docs/configuration.md (\"Suites\").\n");
}

/* The suite's last words after its runs: its kind's report. */
static int report(const suite *s, const char *dir, lethe_err *err) {
  char line[2 * PATH_MAX];
  if (s->kind->report(dir, line, sizeof line, err) != 0) return -1;
  printf("%s\n", line);
  return 0;
}

int cmd_suite(int argc, char **argv) {
  enum { RUN, VALIDATE, STATUS, N_ACTIONS };
  static const char *const actions[N_ACTIONS] = {"run", "validate", "status"};
  int action = -1;
  for (int a = 0; argc >= 3 && a < N_ACTIONS; a++)
    if (!strcmp(argv[1], actions[a])) action = a;
  if (action < 0) return cli_usage_error("suite", "expected 'run FILE', 'validate FILE' or 'status FILE'");
  int is_run = action == RUN, takes_s = action != STATUS, takes_out = action != VALIDATE;
  const char *file = argv[2], *out = NULL, *v;
  const char **extra = lethe_calloc((size_t)argc, sizeof *extra);
  suite_options opt = {1, 0, 0, NULL, extra, 0};
  cli_args a = {"suite", argc, argv, 3, 0};
  long value;
  for (; a.i < argc; a.i++) {
    if (takes_out && cli_opt(&a, "--out", &v)) out = v;
    else if (is_run && cli_opt_long(&a, "-j", 1, 256, &value))
      opt.jobs = (int)value;
    else if (is_run && cli_opt_long(&a, "--threads", 1, 1024, &value))
      opt.threads = (int)value;
    else if (takes_s && cli_opt(&a, "-s", &v)) extra[opt.n_extra++] = v;
    else if (is_run && !strcmp(argv[a.i], "--quiet")) opt.quiet = 1;
    else {
      free(extra);
      return cli_unknown(&a);
    }
  }
  char *exe = lethe_exe_path();
  if (!exe) {
    free(extra);
    fprintf(stderr, "lethe suite: cannot find the lethe executable (/proc/self/exe)\n");
    return 1;
  }
  opt.lethe = exe;
  suite s;
  lethe_err err = {0};
  if (suite_load(&s, file, &err) != 0) {
    fprintf(stderr, "lethe suite: %s\n", err.msg);
    free(exe);
    free(extra);
    return 1;
  }
  char *dir = out ? lethe_strdup(out) : suite_default_out(&s);
  int rc = action == STATUS ? suite_print_status(&s, dir, &err)
                            : suite_validate(&s, extra, opt.n_extra, &err);
  if (rc == 0 && action == VALIDATE)
    printf("%s: %d runs of kind %s, every one valid\n", file, s.n_runs, lethe_kind_name(s.kind->id));
  if (rc == 0 && is_run) rc = suite_execute(&s, dir, &opt, &err);
  if (rc == 0 && is_run && dist_is_root()) rc = report(&s, dir, &err); /* rank 0 writes the report */
  if (rc != 0) fprintf(stderr, "lethe suite: %s\n", err.msg);
  free(dir);
  free(exe);
  free(extra);
  suite_free(&s);
  return rc ? 1 : 0;
}
