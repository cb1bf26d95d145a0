/* cmd_report — `lethe report DIR`: the head-to-head report of a suite's
 * output directory. The report itself is in framework/report/. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "report/report.h"

void help_report(void) {
  printf(
      "usage: lethe report DIR [--mu-fraction F]\n\n"
      "Reads the output directory of `lethe suite run` (DIR/suite.json and the\n"
      "runs in it) and writes into DIR:\n"
      "  report.html   one self-contained page: forget quality vs model utility per\n"
      "                split, trajectories of FQ, MU and forget KL, metrics vs every\n"
      "                numeric grid setting, the results table, sample answers\n"
      "  results.csv   one row per finished run: the varying settings and the numbers\n"
      "                at the highest-FQ, final and utility-constrained evaluations\n"
      "  results.json  the same, plus the per-group means over seeds\n"
      "Runs that have not finished are listed, not reported; run it again later.\n\n"
      "options:\n"
      "  --mu-fraction F   choose the utility-constrained evaluation again from each\n"
      "                    run's history: the highest FQ among evaluations with model\n"
      "                    utility >= F x the target's (default: the runs' own choice,\n"
      "                    eval.mu_fraction, 0.8 unless set)\n");
}

int cmd_report(int argc, char **argv) {
  const char *dir = NULL, *v;
  report_options opt = {0};
  cli_args a = {"report", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--mu-fraction", &v)) {
      char *end;
      opt.mu_fraction = strtod(v, &end);
      if (end == v || *end || !(opt.mu_fraction > 0 && opt.mu_fraction <= 1))
        return cli_usage_error("report", "--mu-fraction expects a number in (0, 1], got '%s'", v);
    } else if (argv[a.i][0] == '-') {
      return cli_unknown(&a);
    } else if (!dir) {
      dir = argv[a.i];
    } else {
      return cli_usage_error("report", "one directory expected, got '%s' too", argv[a.i]);
    }
  }
  if (!dir) return cli_usage_error("report", "DIR (a suite's output directory) is required");
  lethe_err err = {0};
  if (report_write(dir, &opt, &err) != 0) {
    fprintf(stderr, "lethe report: %s\n", err.msg);
    return 1;
  }
  printf("wrote %s/report.html, %s/results.csv, %s/results.json\n", dir, dir, dir);
  return 0;
}
