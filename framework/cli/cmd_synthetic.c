/* lethe synthetic / lethe synthetic-report — the NPO paper's synthetic
 * experiment on the random-feature model: one run from a configuration, and
 * the figures of a directory of runs (see synthetic/synthetic.h, report/synthetic_report.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "synthetic/synthetic.h"
#include "report/synthetic_report.h"

void help_synthetic(void) {
  printf(
      "usage: lethe synthetic [CONFIG] --out DIR [-s path=value ...] [--quiet]\n\n"
      "One run of the paper's synthetic experiment (§4): a random-feature classifier\n"
      "(d = 16, N = 128, K = 2), reference and retrained models pre-trained by\n"
      "full-batch GD, then full-batch plain GD on the method plugin's loss from the\n"
      "reference, evaluated every synthetic.eval_every steps. The same plugin .so\n"
      "files as for Llama runs. CONFIG is an experiment file with\n"
      "kind = \"synthetic\" (e.g. configs/experiments/synthetic.cfg; without it the\n"
      "defaults: α = 1, NPO). Settings: synthetic.{alpha, seed, steps, lr, eval_every,\n"
      "dim, features, n_forget, n_retain, n_eval_forget, n_eval_retain, pretrain_lr,\n"
      "pretrain_steps, pretrain_tol, cache, figure}, method.{name, params.*}; see\n"
      "docs/synthetic.md. Pre-trained models are cached in cache_dir (default\n"
      "$LETHE_CACHE_DIR or ~/.cache/lethe); results do not depend on the cache.\n"
      "DIR gets config.cfg, history.jsonl (step, forget_distance, retain_distance,\n"
      "forget_kl, retain_kl, loss, the method's metrics), summary.json and DONE.\n");
}

void help_synthetic_report(void) {
  printf(
      "usage: lethe synthetic-report DIR [--html FILE] [--csv FILE]\n\n"
      "Reads every synthetic run under DIR (any depth; a suite's output directory or\n"
      "the directory of contrib/synthetic/run_all.sh), groups runs that differ only\n"
      "in their seed, and writes one self-contained HTML page (inline SVG) with the\n"
      "paper's Figure 4 (forget and retain distance vs step, Pareto curve; α = 1 and\n"
      "α = 0), Figure 3 (GA vs NPO over β) and Figure 9 (forget KL vs step): the mean\n"
      "over seeds with a min–max band. Also a CSV of key numbers. Defaults:\n"
      "DIR/synthetic.html and DIR/synthetic.csv.\n");
}

int cmd_synthetic(int argc, char **argv) {
  const char *config = NULL, *out = NULL, *v;
  const char **over = lethe_calloc((size_t)argc + 1, sizeof *over);
  int n_over = 0, quiet = 0;
  cli_args a = {"synthetic", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "-s", &v)) over[n_over++] = v;
    else if (cli_opt(&a, "--out", &v)) out = v;
    else if (!strcmp(argv[a.i], "--quiet")) quiet = 1;
    else if (argv[a.i][0] != '-' && !config) config = argv[a.i];
    else {
      free(over);
      return cli_unknown(&a);
    }
  }
  if (!out) {
    free(over);
    return cli_usage_error("synthetic", "--out DIR is required");
  }
  if (quiet) lethe_log_set_level(LETHE_LOG_WARN);
  lethe_err err = {0};
  int rc = synth_run(config, over, n_over, out, quiet, &err);
  free(over);
  if (rc != 0) fprintf(stderr, "lethe synthetic: %s\n", err.msg);
  return rc ? 1 : 0;
}

int cmd_synthetic_report(int argc, char **argv) {
  const char *dir = NULL, *html = NULL, *csv = NULL, *v;
  cli_args a = {"synthetic-report", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--html", &v)) html = v;
    else if (cli_opt(&a, "--csv", &v)) csv = v;
    else if (argv[a.i][0] != '-' && !dir) dir = argv[a.i];
    else return cli_unknown(&a);
  }
  if (!dir) return cli_usage_error("synthetic-report", "DIR is required");
  char *html_path = html ? lethe_strdup(html) : lethe_path_join(dir, "synthetic.html");
  char *csv_path = csv ? lethe_strdup(csv) : lethe_path_join(dir, "synthetic.csv");
  lethe_err err = {0};
  int rc = synth_report(dir, html_path, csv_path, &err);
  if (rc != 0) fprintf(stderr, "lethe synthetic-report: %s\n", err.msg);
  else printf("%s\n%s\n", html_path, csv_path);
  free(html_path);
  free(csv_path);
  return rc ? 1 : 0;
}
