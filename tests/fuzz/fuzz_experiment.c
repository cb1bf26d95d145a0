/* fuzz_experiment — an experiment file (libconfig, run/config.c layering)
 * plus -s overrides, as `lethe unlearn FILE -s ...` reads them. Input: the
 * file text, then a NUL byte, then one override per line. An accepted
 * experiment must pass fuzz_check_experiment; a refused one has a message. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_config_common.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  fuzz_split in;
  fuzz_split_input(data, size, 16, &in);
  char *path = fuzz_write("experiment.cfg", in.file, strlen(in.file));
  experiment e;
  lethe_err err = {0};
  if (experiment_load(&e, path, (const char *const *)in.overrides, in.n_overrides, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused experiment has a message");
  } else {
    fuzz_check_experiment(&e);
    experiment_free(&e);
  }
  free(path);
  fuzz_split_free(&in);
  return 0;
}
