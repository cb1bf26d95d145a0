/* cmd_merge — `lethe merge`: a PEFT LoRA adapter merged into its base model
 * (W' = W + s·B·A, model/lora.h), written as an ordinary model directory. */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "model/llama.h"
#include "model/lora.h"
#include "pipeline/stages.h"

void help_merge(void) {
  printf(
      "usage: lethe merge --base MODEL_DIR --adapter ADAPTER_DIR --out DIR\n\n"
      "Merges a LoRA adapter (adapter_config.json and adapter_model.safetensors as\n"
      "PEFT saves them, e.g. an unlearning run's adapter/) into the base model:\n"
      "every targeted weight becomes W + s·B·A, s = lora_alpha/r (or lora_alpha/√r\n"
      "with use_rslora). DIR gets config.json and the weights stored as the base\n"
      "stores them (dtype and shards), and the base's tokenizer files when it has\n"
      "a tokenizer.json; it loads anywhere a model directory does (transformers\n"
      "included). docs/file-formats.md describes the adapter files.\n\n"
      "options:\n"
      "  --base DIR     the model the adapter was trained on\n"
      "  --adapter DIR  the adapter directory\n"
      "  --out DIR      directory to write (created if needed)\n");
}

int cmd_merge(int argc, char **argv) {
  const char *base = NULL, *adapter = NULL, *out = NULL, *v;
  cli_args a = {"merge", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--base", &v)) base = v;
    else if (cli_opt(&a, "--adapter", &v)) adapter = v;
    else if (cli_opt(&a, "--out", &v)) out = v;
    else return cli_unknown(&a);
  }
  if (!base || !adapter || !out)
    return cli_usage_error("merge", "--base, --adapter and --out are required");
  lethe_err err = {0};
  llama_model m;
  lora_adapter lo = {0};
  if (llama_load(&m, base, &err) != 0) {
    fprintf(stderr, "lethe merge: %s\n", err.msg);
    return 1;
  }
  char *tokenizer = lethe_path_join(base, "tokenizer.json");
  int rc = lora_load(&lo, &m.cfg, adapter, &err);
  if (rc == 0) {
    lora_merge(&m, &lo);
    rc = llama_save(&m, out, &err);
  }
  if (rc == 0 && lethe_file_exists(tokenizer)) rc = stage_copy_tokenizer(base, out, &err);
  if (rc != 0) fprintf(stderr, "lethe merge: %s\n", err.msg);
  else printf("wrote %s\n", out);
  free(tokenizer);
  lora_free(&lo);
  llama_free(&m);
  return rc ? 1 : 0;
}
