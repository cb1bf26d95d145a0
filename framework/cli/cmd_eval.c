/* lethe eval — TOFU evaluation of one model directory. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dist.h"
#include "evaluate/evaluate.h"
#include "pipeline/check.h"
#include "pipeline/stages.h"

void help_eval(void) {
  printf(
      "usage: lethe eval --model DIR --data DIR --split forgetNN --out DIR\n"
      "                  [--retain-eval EVAL.json] [--ref MODEL_DIR]\n"
      "                  [--max-rows N] [--max-new-tokens N] [--batch-size N] [--no-mia]\n"
      "                  [--compute auto|f32|bf16] [--format PRESET]\n"
      "                  [--system-prompt TEXT] [-s data.KEY=VALUE]...\n\n"
      "Evaluates a model on a TOFU-format data directory with the model's own\n"
      "tokenizer (the data's where the model has none): forgetNN_perturbed, retain_perturbed, real_authors_perturbed and\n"
      "world_facts_perturbed (first N rows, default 300). Writes eval.json (per\n"
      "example: probability, truth ratio, ROUGE-L recall, the greedy answer) and\n"
      "summary.json (per set and model utility). A teacher-forced pass adds exact\n"
      "memorisation and extraction strength (forget, retain) and, with a\n"
      "holdoutNN.json in the data, membership inference (forget vs holdout: LOSS,\n"
      "ZLib, Min-K%%, Min-K%%++ scores and their AUCs); --no-mia skips that pass.\n"
      "--retain-eval (the retain model's eval.json) adds forget quality, the\n"
      "reference attack and PrivLeak; --ref (the model before unlearning) adds\n"
      "forget KL.\n"
      "--format names a prompt-format preset (tofu-llama2, the default, tofu-phi,\n"
      "llama2-chat, llama3-chat, chatml, qwen3-chat, zephyr); -s sets any\n"
      "prompt-format key (docs/configuration.md, data.*). Definitions:\n"
      "docs/metrics.md.\n");
}

int cmd_eval(int argc, char **argv) {
  const char *model_dir = NULL, *data_dir = NULL, *split = NULL, *out = NULL, *retain_eval = NULL;
  const char *ref_dir = NULL, *compute = "auto", *v;
  eval_options opt = {.max_rows = 300, .max_new_tokens = 48, .batch_size = 64};
  cli_args a = {"eval", argc, argv, 1, 0};
  long value;
  lethe_err err = {0};
  tofu_format fmt;
  tofu_format_default(&fmt);
  const data_setting *fs = tofu_format_settings;
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--format", &v)) {
      if (data_settings_set(fs, tofu_format_n_settings, &fmt, "data", "format", v, &err) != 0)
        return cli_usage_error("eval", "--format: %s", err.msg);
      continue;
    }
    if (cli_opt(&a, "--system-prompt", &v)) {
      if (data_settings_set(fs, tofu_format_n_settings, &fmt, "data", "system_prompt", v, &err) != 0)
        return cli_usage_error("eval", "--system-prompt: %s", err.msg);
      continue;
    }
    if (cli_opt(&a, "-s", &v)) {
      if (data_settings_override(fs, tofu_format_n_settings, &fmt, "data", v, &err) != 0)
        return cli_usage_error("eval", "-s: %s", err.msg);
      continue;
    }
    if (cli_opt(&a, "--model", &v)) model_dir = v;
    else if (cli_opt(&a, "--data", &v)) data_dir = v;
    else if (cli_opt(&a, "--split", &v)) split = v;
    else if (cli_opt(&a, "--out", &v)) out = v;
    else if (cli_opt(&a, "--retain-eval", &v)) retain_eval = v;
    else if (cli_opt(&a, "--ref", &v)) ref_dir = v;
    else if (cli_opt(&a, "--compute", &v)) compute = v;
    else if (cli_opt_long(&a, "--max-rows", 1, 1 << 20, &value))
      opt.max_rows = (int)value;
    else if (cli_opt_long(&a, "--max-new-tokens", 1, 4096, &value))
      opt.max_new_tokens = (int)value;
    else if (cli_opt_long(&a, "--batch-size", 1, 4096, &value))
      opt.batch_size = (int)value;
    else if (!strcmp(argv[a.i], "--no-mia"))
      opt.skip_mia = 1;
    else return cli_unknown(&a);
  }
  if (!model_dir || !data_dir || !split || !out)
    return cli_usage_error("eval", "--model, --data, --split and --out are required");
  if (tofu_format_resolve(&fmt, &err) != 0) return cli_usage_error("eval", "%s", err.msg);
  int mode;
  if (llama_compute_from_name(compute, &mode, &err) != 0) return cli_usage_error("eval", "--compute: %s", err.msg);
  eval_inputs inputs = {model_dir, ref_dir, data_dir, split, retain_eval, out};
  if (eval_inputs_check(&inputs, &err) != 0) {
    fprintf(stderr, "lethe eval: %s\n", err.msg);
    return 1;
  }
  tok_tokenizer *tok = NULL;
  llama_model m = {0}, ref = {0};
  eval_data d = {0};
  eval_report r = {0};
  eval_retain retain = {0};
  int rc = stage_model_tokenizer(model_dir, data_dir, &tok, &err);
  if (rc == 0 && (rc = llama_load(&m, model_dir, &err)) == 0) {
    llama_set_compute(&m, mode);
    llama_freeze(&m); /* forward only: one layer of activations */
    llama_hold_frozen(&m, LLAMA_HOLD_AUTO); /* a bf16 checkpoint stays bf16 (lossless) */
  }
  if (rc == 0 && ref_dir && (rc = llama_load(&ref, ref_dir, &err)) == 0) {
    llama_freeze(&ref);
    llama_hold_frozen(&ref, LLAMA_HOLD_AUTO);
  }
  if (rc == 0 && retain_eval) rc = eval_read_retain(retain_eval, &retain, &err);
  if (rc == 0) rc = eval_data_load(&d, data_dir, split, opt.max_rows, &err);
  if (rc == 0)
    rc = evaluate_model(&m, ref_dir ? &ref : NULL, tok, &fmt, &d, &opt, retain.forget_tr,
                        retain.n_forget, NULL, &r, &err);
  if (rc == 0 && retain_eval) rc = eval_report_against_retain(&r, &retain, &err);
  if (rc == 0 && dist_is_root()) rc = eval_report_write(&r, &d, out, &err);
  if (rc == 0)
    printf("model utility %.4f  forget quality %.4g  forget KL %.4g  (%s)\n", r.model_utility,
           r.forget_quality, r.forget_kl, out);
  else
    fprintf(stderr, "lethe eval: %s\n", err.msg);
  eval_report_free(&r);
  eval_data_free(&d);
  eval_retain_free(&retain);
  llama_free(&m);
  llama_free(&ref);
  if (tok) tok_free(tok);
  return rc ? 1 : 0;
}
