/* cmd_init — `lethe init`: a randomly initialised model directory from a
 * config.json of any supported family (model/llama.h, llama_init_dir). */
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "cli/cli.h"
#include "model/llama.h"
#include "model/llama_storage.h"
#include "model/safetensors.h"
#include "pipeline/stages.h"

void help_init(void) {
  printf(
      "usage: lethe init --config config.json --out DIR [--seed N]\n"
      "                  [--dtype f32|bf16|f16] [--max-shard-size BYTES]\n"
      "                  [--tokenizer DIR]\n\n"
      "Writes DIR/config.json and DIR/model.safetensors with random weights as\n"
      "Hugging Face initialises them: N(0, initializer_range) for linear and\n"
      "embedding weights (the pad_token_id row zeroed), 1 for norm weights, 0 for\n"
      "biases and LayerNorm biases. The config may be of any supported family\n"
      "(llama, mistral, qwen2, qwen3, phi; docs/file-formats.md); the written\n"
      "config.json loads in transformers as the same family.\n\n"
      "options:\n"
      "  --config FILE  the model's config.json\n"
      "  --out DIR      directory to write (created if needed)\n"
      "  --seed N       random seed (default 0)\n"
      "  --dtype T      stored dtype of the weights (default f32)\n"
      "  --max-shard-size BYTES  split into model-0000k-of-0000n.safetensors with\n"
      "                 an index, as transformers does (default: one file)\n"
      "  --tokenizer DIR  copy DIR's tokenizer files (tokenizer.json, and\n"
      "                 tokenizer_config.json etc. where present) into --out\n");
}

int cmd_init(int argc, char **argv) {
  const char *config = NULL, *out = NULL, *tokenizer = NULL, *v;
  unsigned long long seed = 0;
  llama_storage how = {0};
  cli_args a = {"init", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--config", &v)) {
      config = v;
    } else if (cli_opt(&a, "--out", &v)) {
      out = v;
    } else if (cli_opt(&a, "--tokenizer", &v)) {
      tokenizer = v;
    } else if (cli_opt(&a, "--dtype", &v)) {
      static const char *const names[] = {"f32", "bf16", "f16"};
      static const int dtypes[] = {ST_F32, ST_BF16, ST_F16};
      int k = 0;
      while (k < 3 && strcmp(v, names[k])) k++;
      if (k == 3) return cli_usage_error("init", "--dtype must be f32, bf16 or f16, not '%s'", v);
      how.dtype = dtypes[k];
    } else if (cli_opt(&a, "--max-shard-size", &v)) {
      char *end;
      how.max_shard_size = strtoull(v, &end, 10);
      if (end == v || *end || v[0] == '-' || how.max_shard_size == 0)
        return cli_usage_error("init", "--max-shard-size expects a positive number of bytes, got '%s'", v);
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
  if (llama_init_dir(config, out, seed, &how, &err) != 0 ||
      (tokenizer && stage_copy_tokenizer(tokenizer, out, &err) != 0)) {
    fprintf(stderr, "lethe init: %s\n", err.msg);
    return 1;
  }
  printf("wrote %s\n", out);
  return 0;
}
