/* lethe generate — greedy continuation of token ids with the KV cache. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/generate.h"

void help_generate(void) {
  printf(
      "usage: lethe generate --model DIR --ids \"ID ID ...\" [--max-new-tokens N]\n\n"
      "Greedy decoding (argmax at every step) with a KV cache. Prints the generated\n"
      "token ids, space-separated, on one line. Stops after N tokens (default 32)\n"
      "or after the model's eos_token_id.\n");
}

int cmd_generate(int argc, char **argv) {
  const char *model_dir = NULL, *ids = NULL, *v;
  long max_new = 32;
  cli_args a = {"generate", argc, argv, 1, 0};
  long value;
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--model", &v)) model_dir = v;
    else if (cli_opt(&a, "--ids", &v)) ids = v;
    else if (cli_opt_long(&a, "--max-new-tokens", 1, 1 << 20, &value))
      max_new = value;
    else return cli_unknown(&a);
  }
  if (!model_dir || !ids) return cli_usage_error("generate", "--model and --ids are required");
  int n = 0, cap = 16;
  int32_t *prompt = lethe_malloc(sizeof *prompt * cap);
  for (const char *s = ids; *s;) {
    char *end;
    long id = strtol(s, &end, 10);
    if (end == s) {
      if (*s == ' ' || *s == ',' || *s == '\t' || *s == '\n') {
        s++;
        continue;
      }
      free(prompt);
      return cli_usage_error("generate", "--ids must be integers separated by spaces, got '%s'",
                             ids);
    }
    if (id < 0 || id > INT32_MAX) {
      free(prompt);
      return cli_usage_error("generate", "token id %ld out of range", id);
    }
    if (n == cap) prompt = lethe_realloc(prompt, sizeof *prompt * (cap *= 2));
    prompt[n++] = (int32_t)id;
    s = end;
  }
  if (n == 0) {
    free(prompt);
    return cli_usage_error("generate", "--ids is empty");
  }
  lethe_err err = {0};
  llama_model m;
  if (llama_load(&m, model_dir, &err) != 0) {
    fprintf(stderr, "lethe generate: %s\n", err.msg);
    free(prompt);
    return 1;
  }
  llama_freeze(&m); /* forward only */
  llama_hold_frozen(&m, LLAMA_HOLD_AUTO); /* a bf16 checkpoint stays bf16 (lossless) */
  int32_t *out = lethe_malloc(sizeof *out * max_new);
  int n_out = 0;
  const int32_t *prompts[1] = {prompt};
  int rc = llama_generate_greedy(&m, prompts, &n, 1, (int)max_new, m.cfg.eos_token_id, out,
                                 &n_out, &err);
  if (rc != 0) {
    fprintf(stderr, "lethe generate: %s\n", err.msg);
  } else {
    for (int i = 0; i < n_out; i++) printf("%s%d", i ? " " : "", out[i]);
    printf("\n");
  }
  free(out);
  free(prompt);
  llama_free(&m);
  return rc ? 1 : 0;
}
