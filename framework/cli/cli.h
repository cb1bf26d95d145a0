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
int cmd_generate(int argc, char **argv);
void help_generate(void);
int cmd_grad(int argc, char **argv);
int cmd_suite(int argc, char **argv);
void help_suite(void);
int cmd_train(int argc, char **argv);
void help_train(void);
int cmd_unlearn(int argc, char **argv);
void help_unlearn(void);
int cmd_eval(int argc, char **argv);
void help_eval(void);
void help_grad(void);

int cmd_methods(int argc, char **argv);
void help_methods(void);
int cmd_world(int argc, char **argv);
void help_world(void);
int cmd_data(int argc, char **argv);
void help_data(void);
int cmd_synthetic(int argc, char **argv);
void help_synthetic(void);
int cmd_synthetic_report(int argc, char **argv);
void help_synthetic_report(void);
int cmd_report(int argc, char **argv);
void help_report(void);

/* Argument helpers. cli_opt_value returns the value of "--name VALUE" or
 * "--name=VALUE" at argv[*i] (advancing *i), or NULL when argv[*i] is not that
 * option. On a missing value it prints an error and exits with status 2. */
const char *cli_opt_value(int argc, char **argv, int *i, const char *name);
int cli_is_help(const char *arg);
/* Prints "lethe CMD: message" to stderr and returns 2 (usage error). */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Parses a non-negative integer option value; exits with status 2 on junk. */
long cli_parse_long(const char *cmd, const char *opt, const char *value, long min, long max);

#endif
