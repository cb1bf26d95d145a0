/* fuzz_override — the `-s path=value` parser (lcfg_override, and the method
 * parameter overrides) on arbitrary lines, applied to the built-in schema
 * without a file, as `lethe unlearn -s ...` does. Every input line is one
 * override. Accepted overrides must leave a configuration that passes
 * fuzz_check_experiment; refused ones have a message. */
#include <stdlib.h>
#include <string.h>

#include "fuzz_config_common.h"
#include "fuzz_util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  /* a leading NUL makes the whole input the override part */
  uint8_t *buf = malloc(size + 1);
  buf[0] = 0;
  if (size) memcpy(buf + 1, data, size);
  fuzz_split in;
  fuzz_split_input(buf, size + 1, 32, &in);
  free(buf);
  experiment e;
  lethe_err err = {0};
  if (experiment_load(&e, NULL, (const char *const *)in.overrides, in.n_overrides, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused override has a message");
  } else {
    fuzz_check_experiment(&e);
    /* one at a time on the loaded configuration, as write_config does */
    for (int i = 0; i < in.n_overrides; i++) {
      lethe_err oerr = {0};
      if (lcfg_override(&e.cfg, experiment_schema, in.overrides[i], &oerr) != 0)
        FUZZ_CHECK(oerr.msg[0] != '\0', "a refused override has a message");
    }
    experiment_free(&e);
  }
  fuzz_split_free(&in);
  return 0;
}
