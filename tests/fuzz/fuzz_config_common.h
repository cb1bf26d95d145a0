/* fuzz_config_common — shared by the configuration harnesses: splitting an
 * input into a file text and -s overrides, the checks every accepted
 * experiment must pass (its resolved text reloads to the same text, method
 * parameters fill a declared table), and a stand-in method table.
 * Not here: the parsers themselves (run/config.c, run/suite.c, method/). */
#ifndef LETHE_FUZZ_CONFIG_COMMON_H
#define LETHE_FUZZ_CONFIG_COMMON_H

#include <stddef.h>
#include <stdint.h>

#include "pipeline/experiment.h"

/* Splits data at its first NUL byte: the part before is the file text (may
 * be empty), the part after holds overrides one per line. *file and the
 * strings in *overrides are malloc'd; free with fuzz_split_free. */
typedef struct fuzz_split {
  char *file;
  char **overrides;
  int n_overrides;
} fuzz_split;
void fuzz_split_input(const uint8_t *data, size_t size, int max_overrides, fuzz_split *out);
void fuzz_split_free(fuzz_split *s);

/* After experiment_load succeeded: the method parameters of the config and
 * of the method.* overrides go through the host's parameter parser with a
 * stand-in table; the resolved configuration, written out, loads again and
 * resolves to the same text. */
void fuzz_check_experiment(experiment *e);

#endif
