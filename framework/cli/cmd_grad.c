/* lethe grad — one method step's loss and the gradient of every policy
 * parameter, for checking a method against a reference implementation. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/dist.h"
#include "model/safetensors.h"
#include "train/objective.h"

void help_grad(void) {
  printf(
      "usage: lethe grad --method NAME --model DIR [--ref DIR] --forget F.jsonl\n"
      "                  [--retain R.jsonl] [--idk I.jsonl] [-s method.KEY=VALUE ...]\n"
      "                  [--plugin-path DIR[:DIR]] [--out grads.safetensors]\n\n"
      "Runs one step of method NAME on the model: each file is one batch of rows\n"
      "(as for `lethe score`: input_ids, attention_mask, labels with -100 = not a\n"
      "target); forget, retain and idk rows are packed in that order (idk row k is\n"
      "the preferred answer to forget row k) and right-padded to one length.\n"
      "Prints {\"loss\": x} on stdout. With --out, writes dL/dθ of every policy\n"
      "parameter under its Hugging Face name (F32 safetensors). --ref is the frozen\n"
      "reference model (methods that need reference log-probs or logits).\n"
      "Use it to compare a new method with a PyTorch reference: see\n"
      "docs/writing-a-method.md.\n");
}

static int fail(const lethe_err *err) {
  fprintf(stderr, "lethe grad: %s\n", err->msg);
  return 1;
}

int cmd_grad(int argc, char **argv) {
  const char *method = NULL, *model_dir = NULL, *ref_dir = NULL, *out_path = NULL;
  const char *files[LETHE_SEG_COUNT] = {NULL, NULL, NULL}, *plugin_path = NULL, *v;
  const char **overrides = lethe_calloc((size_t)argc, sizeof *overrides);
  int n_over = 0, rc = 1;
  cli_args a = {"grad", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--method", &v)) method = v;
    else if (cli_opt(&a, "--model", &v)) model_dir = v;
    else if (cli_opt(&a, "--ref", &v)) ref_dir = v;
    else if (cli_opt(&a, "--forget", &v)) files[LETHE_SEG_FORGET] = v;
    else if (cli_opt(&a, "--retain", &v)) files[LETHE_SEG_RETAIN] = v;
    else if (cli_opt(&a, "--idk", &v)) files[LETHE_SEG_IDK] = v;
    else if (cli_opt(&a, "--out", &v)) out_path = v;
    else if (cli_opt(&a, "--plugin-path", &v)) plugin_path = v;
    else if (cli_opt(&a, "-s", &v)) overrides[n_over++] = v;
    else {
      free(overrides);
      return cli_unknown(&a);
    }
  }
  if (!method || !model_dir || !files[LETHE_SEG_FORGET]) {
    free(overrides);
    return cli_usage_error("grad", "--method, --model and --forget are required");
  }
  lethe_err err = {0};
  method_spec spec = {0};
  method_instance inst = {0};
  llama_model policy = {0}, ref = {0};
  token_batch parts[LETHE_SEG_COUNT] = {{0}}, batch = {0};
  objective obj = {0};
  if (method_spec_from_name(&spec, method, plugin_path, overrides, n_over, &err) != 0) {
    rc = fail(&err);
    goto done;
  }
  uint32_t caps = spec.needs.caps; /* resolved with the -s parameters */
  if ((files[LETHE_SEG_RETAIN] && !(caps & LETHE_CAP_RETAIN)) ||
      (files[LETHE_SEG_IDK] && !(caps & LETHE_CAP_IDK))) {
    int retain = files[LETHE_SEG_RETAIN] && !(caps & LETHE_CAP_RETAIN);
    rc = cli_usage_error("grad", "method %s takes no %s rows%s: drop %s", method,
                         retain ? "retain" : "idk",
                         (spec.plugin.desc->caps & (retain ? LETHE_CAP_RETAIN : LETHE_CAP_IDK))
                             ? " with these parameters (its coefficient is 0)" : "",
                         retain ? "--retain" : "--idk");
    goto done;
  }
  if (((caps & LETHE_CAP_RETAIN) && !files[LETHE_SEG_RETAIN]) ||
      ((caps & LETHE_CAP_IDK) && !files[LETHE_SEG_IDK])) {
    rc = cli_usage_error("grad", "method %s needs %s%s", method,
                         (caps & LETHE_CAP_RETAIN) && !files[LETHE_SEG_RETAIN] ? "--retain " : "",
                         (caps & LETHE_CAP_IDK) && !files[LETHE_SEG_IDK] ? "--idk" : "");
    goto done;
  }
  if ((caps & (LETHE_CAP_REF_LOGP | LETHE_CAP_REF_LOGITS | LETHE_CAP_REF_HIDDEN)) && !ref_dir) {
    rc = cli_usage_error("grad", "method %s needs a reference model: give --ref DIR", method);
    goto done;
  }
  if (llama_load(&policy, model_dir, &err) != 0 || (ref_dir && llama_load(&ref, ref_dir, &err) != 0)) {
    rc = fail(&err);
    goto done;
  }
  if (ref_dir) llama_freeze(&ref); /* forward only */
  int32_t pad = policy.cfg.pad_token_id >= 0 ? policy.cfg.pad_token_id : 0;
  const token_batch *stack[LETHE_SEG_COUNT] = {NULL, NULL, NULL};
  for (int s = 0; s < LETHE_SEG_COUNT; s++) {
    if (!files[s]) continue;
    if (token_batch_read_jsonl(&parts[s], files[s], pad, &err) != 0) {
      rc = fail(&err);
      goto done;
    }
    stack[s] = &parts[s];
  }
  int row0[LETHE_SEG_COUNT], nrows[LETHE_SEG_COUNT];
  token_batch_stack(&batch, stack, LETHE_SEG_COUNT, 0, pad, row0, nrows);
  lethe_segment seg[LETHE_SEG_COUNT];
  for (int s = 0; s < LETHE_SEG_COUNT; s++) seg[s].row0 = row0[s], seg[s].nrows = nrows[s];
  double loss;
  if (method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) != 0 ||
      objective_init(&obj, &policy, ref_dir ? &ref : NULL, &inst, &err) != 0) {
    rc = fail(&err);
    goto done;
  }
  int64_t *ids = lethe_malloc(sizeof(int64_t) * (size_t)batch.B); /* a row's index in its file */
  for (int s = 0; s < LETHE_SEG_COUNT; s++)
    for (int r = 0; r < seg[s].nrows; r++) ids[seg[s].row0 + r] = r;
  obj.example_id = ids;
  llama_zero_grads(&policy);
  int step_rc = objective_step(&obj, &batch, seg, NULL, 0, 1, 1.0, &loss, &err);
  free(ids);
  if (step_rc != 0) {
    rc = fail(&err);
    goto done;
  }
  dist_allreduce_sum_f32(policy.grads_memory, policy.n_trainable); /* each rank ran its rows */
  if (out_path && dist_is_root()) {
    int wrc = llama_write_safetensors(&policy, LLAMA_OF_GRADS, out_path, NULL, 0, NULL, 0, &err);
    if (wrc != 0) {
      rc = fail(&err);
      goto done;
    }
  }
  printf("{\"loss\": %.12g}\n", loss);
  rc = 0;
done:
  objective_free(&obj);
  if (inst.plugin) method_instance_destroy(&inst);
  if (spec.params) method_spec_free(&spec);
  for (int s = 0; s < LETHE_SEG_COUNT; s++) token_batch_free(&parts[s]);
  token_batch_free(&batch);
  llama_free(&policy);
  llama_free(&ref);
  free(overrides);
  return rc;
}
