/* cmd_init — `lethe init`: a randomly initialised model directory from a
 * config.json of any supported family (model/llama.h, llama_init_dir). */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "model/llama.h"

void help_init(void) {
  printf(
      "usage: lethe init --config config.json --out DIR [--seed N]\n\n"
      "Writes DIR/config.json and DIR/model.safetensors with random weights as\n"
      "Hugging Face initialises them: N(0, initializer_range) for linear and\n"
      "embedding weights (the pad_token_id row zeroed), 1 for norm weights, 0 for\n"
      "biases and LayerNorm biases. The config may be of any supported family\n"
      "(llama, mistral, qwen2, qwen3, phi; docs/file-formats.md); the written\n"
      "config.json loads in transformers as the same family.\n\n"
      "options:\n"
      "  --config FILE  the model's config.json\n"
      "  --out DIR      directory to write (created if needed)\n"
      "  --seed N       random seed (default 0)\n");
}

int cmd_init(int argc, char **argv) {
  const char *config = NULL, *out = NULL, *v;
  unsigned long long seed = 0;
  cli_args a = {"init", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--config", &v)) {
      config = v;
    } else if (cli_opt(&a, "--out", &v)) {
      out = v;
    } else if (cli_opt(&a, "--seed", &v)) {
      char *end;
      seed = strtoull(v, &end, 10);
      if (end == v || *end || v[0] == '-')
        return cli_usage_error("init", "--seed expects a non-negative integer, got '%s'", v);
    } else {
      return cli_unknown(&a);
    }
  }
  if (!config || !out) return cli_usage_error("init", "--config and --out are required");
  lethe_err err = {0};
  if (llama_init_dir(config, out, seed, &err) != 0) {
    fprintf(stderr, "lethe init: %s\n", err.msg);
    return 1;
  }
  printf("wrote %s\n", out);
  return 0;
}
