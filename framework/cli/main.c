/* main — `lethe` entry point: dispatches to the subcommand named first. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dist.h"
#include "tensor/tensor.h"
#include "lethe/version.h"

static const cli_command commands[] = {
    {"score", "per-token log-probs of target tokens (HF input_ids/labels rows)", cmd_score,
     help_score, 0},
    {"tokenize", "Hugging Face tokenizer: stdin lines to id arrays, or back (--decode)",
     cmd_tokenize, help_tokenize, 0},
    {"generate", "greedy continuation of a prompt with the KV cache", cmd_generate,
     help_generate, 0},
    {"train", "build the data, base, target and retain models of an experiment", cmd_train,
     help_train, 1},
    {"unlearn", "run an unlearning method with evaluation history", cmd_unlearn, help_unlearn, 1},
    {"plan", "the memory an unlearning run will hold, part by part; refuses what cannot fit",
     cmd_plan, help_plan, 1},
    {"eval", "TOFU evaluation of a model (utility, forget quality, ROUGE, ...)", cmd_eval,
     help_eval, 1},
    {"suite", "run an ablation suite (grid of experiments) in parallel; show its status",
     cmd_suite, help_suite, 1},
    {"grad", "one method step: loss and every parameter gradient (checks a method)", cmd_grad,
     help_grad, 1},
    {"check-method", "a method plugin's gradients against finite differences, without a model",
     cmd_check_method, help_check_method, 0},
    {"methods", "list method plugins, or show one method's parameters", cmd_methods,
     help_methods, 0},
    {"init", "a randomly initialised model directory from a config.json (any family)",
     cmd_init, help_init, 0},
    {"merge", "merge a LoRA adapter (PEFT's files) into its base model directory", cmd_merge,
     help_merge, 0},
    {"world", "write the embedded TOFU-like world (data, tokenizer) to a directory", cmd_world,
     help_world, 0},
    {"data", "statistics of a TOFU-format data directory (data stats DIR)", cmd_data, help_data, 0},
    {"muse", "a MUSE experiment: corpus, target and retain models, the method unlearning, MUSE's metrics",
     cmd_muse, help_muse, 1},
    {"synthetic", "one run of the paper's synthetic experiment (random-feature model)",
     cmd_synthetic, help_synthetic, 0},
    {"synthetic-report", "figures 3, 4 and 9 of a directory of synthetic runs (HTML, CSV)",
     cmd_synthetic_report, help_synthetic_report, 0},
    {"report", "report.html, results.csv and .json of a suite's output directory", cmd_report,
     help_report, 0},
};
static const size_t n_commands = sizeof commands / sizeof commands[0];

static void print_help(FILE *out) {
  fprintf(out,
          "lethe %s — machine unlearning of language models\n\n"
          "usage: lethe [--version] [--help] <command> [args]\n\ncommands:\n",
          LETHE_VERSION_STRING);
  for (size_t i = 0; i < n_commands; i++)
    fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
  fprintf(out, "\n`lethe <command> --help` shows a command's options.\n");
}

/* Runs the command named by argv[1]; returns the exit status. */
static int dispatch(int argc, char **argv) {
  if (argc < 2) {
    print_help(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
    char machine[512];
    tensor_backend_describe(machine, sizeof machine);
    printf("lethe %s\n%s\n", LETHE_VERSION_STRING, machine);
    return 0;
  }
  if (cli_is_help(argv[1]) || !strcmp(argv[1], "help")) {
    print_help(stdout);
    return 0;
  }
  for (size_t i = 0; i < n_commands; i++) {
    if (strcmp(argv[1], commands[i].name)) continue;
    for (int a = 2; a < argc; a++)
      if (cli_is_help(argv[a])) {
        commands[i].help();
        return 0;
      }
    if (!commands[i].distributed && !dist_is_root()) return 0; /* rank 0 runs it alone */
    return commands[i].run(argc - 1, argv + 1);
  }
  fprintf(stderr, "lethe: unknown command '%s' (see lethe --help)\n", argv[1]);
  return 2;
}

/* Under mpirun every rank runs main: rank 0 prints and writes files, the
 * others only log warnings and errors (docs/scaling.md). */
int main(int argc, char **argv) {
  lethe_err err = {0};
  if (dist_init(&argc, &argv, &err) != 0) {
    fprintf(stderr, "lethe: %s\n", err.msg);
    return 1;
  }
  if (tensor_env_check(&err) != 0) {
    fprintf(stderr, "lethe: %s\n", err.msg);
    dist_fail(2);
    return 2;
  }
  if (!dist_is_root()) {
    lethe_log_set_level(LETHE_LOG_WARN);
    if (!freopen("/dev/null", "w", stdout)) lethe_log(LETHE_LOG_WARN, "cannot silence stdout");
  }
  int rc = dispatch(argc, argv);
  if (rc != 0) dist_fail(rc); /* the other ranks may wait for this one forever */
  dist_finalize();
  return rc;
}

int cli_opt(cli_args *a, const char *name, const char **value) {
  const char *arg = a->argv[a->i];
  size_t n = strlen(name);
  if (strncmp(arg, name, n)) return 0;
  if (arg[n] == '=') {
    *value = arg + n + 1;
    return 1;
  }
  if (arg[n] != '\0') return 0;
  if (a->i + 1 >= a->argc) {
    a->status = cli_usage_error(a->cmd, "option %s needs a value", name);
    return 0;
  }
  *value = a->argv[++a->i];
  return 1;
}

int cli_opt_long(cli_args *a, const char *name, long min, long max, long *value) {
  const char *text;
  if (!cli_opt(a, name, &text)) return 0;
  char *end;
  errno = 0;
  long v = strtol(text, &end, 10);
  if (end == text || *end || errno || v < min || v > max) {
    a->status = cli_usage_error(a->cmd, "%s expects an integer in [%ld, %ld], got '%s'", name, min,
                                max, text);
    return 0;
  }
  *value = v;
  return 1;
}

int cli_unknown(cli_args *a) {
  if (a->status) return a->status;
  return cli_usage_error(a->cmd, "unknown argument '%s'", a->argv[a->i]);
}

int cli_is_help(const char *arg) { return !strcmp(arg, "--help") || !strcmp(arg, "-h"); }

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  fprintf(stderr, "lethe %s: ", cmd);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, " (see lethe %s --help)\n", cmd);
  return 2;
}
