/* lethe score — per-token log-probs of target tokens for HF-convention rows. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "model/llama.h"
#include "model/token_batch.h"

void help_score(void) {
  printf(
      "usage: lethe score --model DIR --data FILE.jsonl [--out FILE]\n\n"
      "Scores every row of FILE.jsonl (one JSON object per line: \"input_ids\",\n"
      "\"attention_mask\", \"labels\", Hugging Face convention, -100 = not a target).\n"
      "All rows form one right-padded batch. Writes one JSON line per row:\n"
      "  {\"token_logp\": [...], \"seq_logp\": x, \"n_targets\": k}\n"
      "token_logp has (row length - 1) entries: log p(labels[t+1]) at position t,\n"
      "0 where labels[t+1] is -100. seq_logp is their sum. Output goes to stdout\n"
      "unless --out is given (written atomically).\n");
}

int cmd_score(int argc, char **argv) {
  const char *model_dir = NULL, *data = NULL, *out_path = NULL, *v;
  cli_args a = {"score", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--model", &v)) model_dir = v;
    else if (cli_opt(&a, "--data", &v)) data = v;
    else if (cli_opt(&a, "--out", &v)) out_path = v;
    else return cli_unknown(&a);
  }
  if (!model_dir || !data) return cli_usage_error("score", "--model and --data are required");
  lethe_err err = {0};
  llama_model m;
  token_batch tb;
  if (llama_load(&m, model_dir, &err) != 0) {
    fprintf(stderr, "lethe score: %s\n", err.msg);
    return 1;
  }
  int32_t pad = m.cfg.pad_token_id >= 0 ? m.cfg.pad_token_id : 0;
  llama_set_logits(&m, LLAMA_LOGITS_CHUNKED, 0); /* target log-probs only */
  llama_set_skip_padding(&m, 1);                 /* at unmasked positions only */
  llama_freeze(&m); /* forward only: one layer of activations */
  llama_hold_frozen(&m, LLAMA_HOLD_AUTO); /* a bf16 checkpoint stays bf16 (lossless) */
  if (token_batch_read_jsonl(&tb, data, pad, &err) != 0 ||
      llama_forward(&m, tb.input_ids, tb.attn_mask, tb.B, tb.T, &err) != 0) {
    fprintf(stderr, "lethe score: %s\n", err.msg);
    llama_free(&m);
    return 1;
  }
  float *logp = lethe_malloc(sizeof(float) * tb.B * tb.T);
  llama_target_logp(&m, tb.targets, logp);
  lethe_atomic_file af = {0};
  FILE *out = stdout;
  if (out_path) {
    if (lethe_atomic_open(&af, out_path, &err) != 0) {
      fprintf(stderr, "lethe score: %s\n", err.msg);
      return 1;
    }
    out = af.fp;
  }
  for (int b = 0; b < tb.B; b++) {
    double seq = 0;
    int n_targets = 0;
    fputs("{\"token_logp\": [", out);
    for (int t = 0; t + 1 < tb.row_len[b]; t++) {
      float lp = logp[b * tb.T + t];
      int is_target = tb.targets[b * tb.T + t] >= 0;
      seq += is_target ? lp : 0.0;
      n_targets += is_target;
      fprintf(out, "%s%.9g", t ? ", " : "", is_target ? lp : 0.0f);
    }
    fprintf(out, "], \"seq_logp\": %.12g, \"n_targets\": %d}\n", seq, n_targets);
  }
  int rc = 0;
  if (out_path && lethe_atomic_commit(&af, &err) != 0) {
    fprintf(stderr, "lethe score: %s\n", err.msg);
    rc = 1;
  }
  free(logp);
  token_batch_free(&tb);
  llama_free(&m);
  return rc;
}
