/* cli — the `lethe` program's subcommands, one file each, and the small
 * argument helpers they share. Not a library: nothing else includes this. */
#ifndef LETHE_CLI_H
#define LETHE_CLI_H

#include <stddef.h>

typedef struct cli_command {
  const char *name;
  const char *summary; /* one line, shown by `lethe --help` */
  int (*run)(int argc, char **argv); /* argv[0] is the command name */
  void (*help)(void);                /* full usage, shown by `lethe CMD --help` */
  int distributed; /* 1: every MPI rank runs it (data parallel); 0: rank 0 alone */
} cli_command;

/* Every subcommand; the table in main.c lists them in order. */
int cmd_score(int argc, char **argv);
void help_score(void);
int cmd_tokenize(int argc, char **argv);
void help_tokenize(void);
int cmd_generate(int argc, char **argv);
void help_generate(void);
int cmd_grad(int argc, char **argv);
int cmd_suite(int argc, char **argv);
void help_suite(void);
int cmd_train(int argc, char **argv);
void help_train(void);
int cmd_unlearn(int argc, char **argv);
void help_unlearn(void);
int cmd_plan(int argc, char **argv);
void help_plan(void);
int cmd_eval(int argc, char **argv);
void help_eval(void);
void help_grad(void);
int cmd_check_method(int argc, char **argv);
void help_check_method(void);

int cmd_methods(int argc, char **argv);
void help_methods(void);
int cmd_init(int argc, char **argv);
void help_init(void);
int cmd_merge(int argc, char **argv);
void help_merge(void);
int cmd_world(int argc, char **argv);
void help_world(void);
int cmd_data(int argc, char **argv);
void help_data(void);
int cmd_muse(int argc, char **argv);
void help_muse(void);
int cmd_synthetic(int argc, char **argv);
void help_synthetic(void);
int cmd_synthetic_report(int argc, char **argv);
void help_synthetic_report(void);
int cmd_report(int argc, char **argv);
void help_report(void);

/* A command's arguments, parsed left to right with a status instead of an
 * exit: every helper prints its usage error itself and leaves 2 in status.
 *
 *   cli_args a = {"eval", argc, argv, 1, 0};
 *   for (; a.i < argc; a.i++) {
 *     if (cli_opt(&a, "--model", &model_dir)) continue;
 *     if (cli_opt_long(&a, "--max-rows", 1, 1 << 20, &rows)) continue;
 *     return cli_unknown(&a);
 *   }
 */
typedef struct cli_args {
  const char *cmd; /* for messages: "lethe CMD: ..." */
  int argc;
  char **argv;
  int i;      /* the argument being parsed */
  int status; /* 0, or 2 once a usage error has been printed */
} cli_args;
/* 1 when argv[i] is option `name` with a value ("NAME VALUE", i then moves
 * past the value, or "NAME=VALUE"): *value points into argv. 0 otherwise;
 * when it is `name` without a value, also prints so and sets status. */
int cli_opt(cli_args *a, const char *name, const char **value);
/* The same for an integer option in [min, max]; junk or a value out of range
 * prints a usage error and sets status (returning 0). */
int cli_opt_long(cli_args *a, const char *name, long min, long max, long *value);
/* For an argument no option matched: the status when a helper already
 * reported an error, else prints "unknown argument" and returns 2. */
int cli_unknown(cli_args *a);
int cli_is_help(const char *arg);
/* Prints "lethe CMD: message" to stderr and returns 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
