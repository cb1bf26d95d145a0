/* lethe check-method — a plugin file's gradients, determinism and mask
 * handling checked without a model (method/method_check.h), with any
 * parameter values; every check reported. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "method/method_check.h"

void help_check_method(void) {
  printf(
      "usage: lethe check-method FILE.so [-s KEY=VALUE ...] [--seed N] [--logits-masked]\n\n"
      "Loads a method plugin and checks it on random batches, without a model:\n"
      "each gradient it returns (dL/dlogp; dL/dlogits, dL/dhidden, dL/dθ when it asks\n"
      "for logits, hidden states, parameters) against central finite differences of\n"
      "the scalar it declares (its objective, when it stops gradients; else its\n"
      "loss), determinism (the same bits twice and from a second instance), and\n"
      "mask-0 positions that change nothing (with --logits-masked, logits too).\n"
      "-s sets a parameter (KEY or method.KEY). Every check prints ok or FAIL;\n"
      "exit status 1 when any failed. See docs/writing-a-method.md.\n");
}

int cmd_check_method(int argc, char **argv) {
  const char *path = NULL, *v;
  const char **overrides = lethe_calloc((size_t)argc, sizeof *overrides);
  int n_over = 0, logits_masked = 0, rc = 1;
  long seed = 1;
  cli_args a = {"check-method", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "-s", &v)) overrides[n_over++] = v;
    else if (cli_opt_long(&a, "--seed", 0, 1L << 30, &seed)) continue;
    else if (!strcmp(argv[a.i], "--logits-masked")) logits_masked = 1;
    else if (argv[a.i][0] != '-' && !path) path = argv[a.i];
    else {
      free(overrides);
      return cli_unknown(&a);
    }
  }
  if (!path) {
    free(overrides);
    return cli_usage_error("check-method", "give the plugin file (lethe_NAME.so)");
  }
  lethe_err err = {0};
  method_plugin p;
  void *params = NULL;
  if (method_plugin_open(&p, path, &err) != 0) goto fail;
  params = method_params_new(p.desc);
  for (int i = 0; i < n_over; i++) {
    size_t n = strlen(overrides[i]) + 8;
    char *text = lethe_malloc(n);
    snprintf(text, n, "%s%s", strncmp(overrides[i], "method.", 7) ? "method." : "", overrides[i]);
    int bad = method_params_override(p.desc, params, text, &err);
    free(text);
    if (bad) goto close;
  }
  int failed = method_check_all(&p, params, (uint64_t)seed, logits_masked, stdout, &err);
  if (failed >= 0) rc = failed ? 1 : 0;
close:
  free(params);
  method_plugin_close(&p);
  if (rc == 1 && err.msg[0]) fprintf(stderr, "lethe check-method: %s\n", err.msg);
  free(overrides);
  return rc;
fail:
  fprintf(stderr, "lethe check-method: %s\n", err.msg);
  free(overrides);
  return 1;
}
