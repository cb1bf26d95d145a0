/* bench_stage — one epoch of a pipeline stage's training (the base model on
 * the pre-training text, or the target's fine-tuning on the `full` split with
 * replay), timed through the stage's own loop (stage_train: batches, loss,
 * forward, backward, AdamW with the stage's schedule), as `lethe train` runs
 * it, without the checkpoints. Part (a) of tests/bench/e2e.sh.
 *
 *   bench_stage --config FILE --stage base|finetune --out DIR [--profile]
 *               [-s key=value]...
 *
 * The world is generated into DIR/cache (or taken from there), the model
 * initialised as the base stage initialises it (random weights for both
 * stages: the fine-tuning stage's speed does not depend on them), and before
 * training DIR/twin receives what a twin implementation needs to train on the
 * same rows: config.json + model.safetensors, batches.bin (per step: int32 B,
 * T, then B·T tokens and B·T next-token targets, -1 where none) and
 * stage.json (steps, learning rate per step, AdamW settings, which tensors
 * decay). After the epoch it prints one JSON line: seconds, padded and real
 * tokens (real = attention-mask ones; targets = labelled positions), model
 * FLOPs of the padded batches (bench_forward_flops ×3: the twin's work), the
 * FLOPs lethe performs (bench_forward_flops_done ×3: linear layers on the
 * real rows, the head on the targets), the mean NLL of step
 * 0's batch under the trained model (the twin computes the same number), and
 * with --profile the forward/backward parts. Not run by ctest. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/token_batch.h"
#include "pipeline/stages.h"
#include "train/objective.h"

#define MAX_OVERRIDES 32

static void die(const lethe_err *err) {
  fprintf(stderr, "bench_stage: %s\n", err->msg);
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_stage --config FILE --stage base|finetune --out DIR [--profile] "
                  "[-s key=value]...\n");
  exit(2);
}

/* Mean NLL of the labelled positions of one batch (no gradient). */
static double batch_nll(llama_model *m, const tofu_batch *b, int32_t pad, lethe_err *err) {
  token_batch tb;
  token_batch_from_arrays(&tb, b->B, b->T, b->input_ids, b->attention_mask, b->labels, pad);
  size_t n = (size_t)tb.B * tb.T;
  float *logp = lethe_malloc(n * sizeof(float));
  if (objective_target_logp(m, &tb, logp, err) != 0) die(err);
  double sum = 0;
  long count = 0;
  for (size_t i = 0; i < n; i++)
    if (tb.targets[i] >= 0) sum -= logp[i], count++;
  free(logp);
  token_batch_free(&tb);
  return count ? sum / count : 0;
}

typedef struct epoch_stats {
  long steps;
  double padded, real, targets, flops, flops_done;
} epoch_stats;

/* Writes DIR/twin/batches.bin and stage.json for the first epoch's steps,
 * and counts its tokens. */
static void write_twin(const char *twin, stage_batch *sb, const train_config *tc, long steps,
                       const llama_config *cfg, epoch_stats *st) {
  char path[4096 + 32];
  snprintf(path, sizeof path, "%s/batches.bin", twin);
  FILE *f = fopen(path, "wb");
  if (!f) {
    perror(path);
    exit(1);
  }
  memset(st, 0, sizeof *st);
  st->steps = steps;
  for (long s = 0; s < steps; s++) {
    const tofu_batch *b = stage_batch_of_step(sb, s);
    token_batch tb;
    token_batch_from_arrays(&tb, b->B, b->T, b->input_ids, b->attention_mask, b->labels, sb->pad);
    int32_t shape[2] = {tb.B, tb.T};
    size_t n = (size_t)tb.B * tb.T;
    fwrite(shape, sizeof shape, 1, f);
    fwrite(tb.input_ids, sizeof(int32_t), n, f);
    fwrite(tb.targets, sizeof(int32_t), n, f);
    st->padded += (double)n;
    double real = 0, targets = 0;
    for (size_t i = 0; i < n; i++) {
      real += b->attention_mask[i] != 0;
      targets += tb.targets[i] >= 0;
    }
    st->real += real, st->targets += targets;
    st->flops += 3.0 * bench_forward_flops(cfg, tb.B, tb.T);
    st->flops_done += 3.0 * bench_forward_flops_done(cfg, tb.B, tb.T, real, targets);
    token_batch_free(&tb);
  }
  if (fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/stage.json", twin);
  f = fopen(path, "w");
  if (!f) {
    perror(path);
    exit(1);
  }
  fprintf(f, "{\"steps\": %ld, \"weight_decay\": %.17g, \"beta1\": %.17g, \"beta2\": %.17g, "
             "\"eps\": %.17g, \"decay_norms\": %d, \"max_grad_norm\": %.17g, \"lr\": [",
          steps, tc->opt.weight_decay, tc->opt.beta1, tc->opt.beta2, tc->opt.eps, tc->decay_norms,
          tc->max_grad_norm);
  for (long s = 0; s < steps; s++) fprintf(f, "%s%.17g", s ? ", " : "", train_lr_at(tc, s));
  fprintf(f, "]}\n");
  fclose(f);
}

int main(int argc, char **argv) {
  const char *config = NULL, *stage = NULL, *out = NULL;
  const char *overrides[MAX_OVERRIDES + 1];
  int n_over = 0, profile = 0;
  static const struct option longs[] = {{"config", 1, 0, 'c'}, {"stage", 1, 0, 'g'},
                                        {"out", 1, 0, 'o'},    {"profile", 0, 0, 'p'},
                                        {0, 0, 0, 0}};
  for (int o; (o = getopt_long(argc, argv, "s:", longs, NULL)) != -1;) {
    if (o == 'c') config = optarg;
    else if (o == 'g') stage = optarg;
    else if (o == 'o') out = optarg;
    else if (o == 'p') profile = 1;
    else if (o == 's' && n_over < MAX_OVERRIDES) overrides[n_over++] = optarg;
    else usage();
  }
  if (!config || !stage || !out || optind != argc) usage();
  int base = strcmp(stage, "base") == 0;
  if (!base && strcmp(stage, "finetune") != 0) usage();
  const char *group = base ? "base" : "finetune";
  char epochs_one[64];
  snprintf(epochs_one, sizeof epochs_one, "%s.epochs=1", group);
  overrides[n_over++] = epochs_one; /* one epoch, and its schedule */

  lethe_err err = {0};
  char path[4096];
  snprintf(path, sizeof path, "%s/cache", out);
  if (lethe_mkdir_p(path, &err) != 0) die(&err);
  setenv("LETHE_CACHE_DIR", path, 1);
  experiment e;
  if (experiment_load(&e, config, overrides, n_over, &err) != 0) die(&err);
  e.quiet = 1;
  stage_out data;
  if (stage_data(&e, &data, &err) != 0) die(&err);
  tok_tokenizer *tok;
  if (stage_tokenizer(data.dir, &tok, &err) != 0) die(&err);
  tofu_format fmt;
  experiment_format(&e, &fmt);
  tofu_ids ids;
  if (tofu_format_ids(tok, &fmt, &ids, &err) != 0) die(&err);

  /* the stage's examples: pre-training text, or `full` and the replayed text */
  tofu_example *ex = NULL, *replay = NULL;
  size_t n = 0, n_replay = 0;
  if (stage_load_examples(data.dir, base ? "pretrain" : "full", tok, &fmt, base, &ex, &n, &err) != 0)
    die(&err);
  if (!base && lcfg_bool(&e.cfg, "finetune.replay") &&
      stage_load_examples(data.dir, "pretrain", tok, &fmt, 1, &replay, &n_replay, &err) != 0)
    die(&err);
  tofu_example *all = lethe_calloc(n + n_replay, sizeof *all);
  memcpy(all, ex, n * sizeof *all);
  if (n_replay) memcpy(all + n, replay, n_replay * sizeof *all);
  int n_all = (int)(n + n_replay);

  tok_special_ids sp = tok_special(tok);
  llama_config cfg;
  experiment_model_config(&e, tok_vocab_size(tok), sp.bos, sp.eos, sp.pad, &cfg);
  llama_model m = {0};
  if (llama_init(&m, &cfg, 7, &err) != 0) die(&err);
  experiment_set_compute(&e, &m);
  experiment_set_memory(&e, &m);
  if (!base && experiment_set_trainable(&e, "finetune", &m, &err) != 0) die(&err);
  experiment_hold_frozen(&e, &m);

  train_config tc;
  int bs = stage_train_config(&e, group, n_all, &tc, &err);
  if (bs < 0) die(&err);
  uint64_t seed = 11;
  stage_batch sb;
  stage_batch_init(&sb, all, n_all, bs, seed, &fmt, ids.pad, ids.end);
  snprintf(path, sizeof path, "%s/twin", out);
  llama_release_frozen(&m);
  if (llama_save(&m, path, &err) != 0) die(&err);
  experiment_hold_frozen(&e, &m);
  epoch_stats st;
  write_twin(path, &sb, &tc, tc.total_steps, &cfg, &st);

  llama_profile prof;
  memset(&prof, 0, sizeof prof);
  if (profile) m.profile = &prof;
  double t0 = lethe_now();
  if (stage_train(&e, &m, all, n_all, group, group, NULL, seed, &fmt, ids.pad, ids.end, &err) != 0)
    die(&err);
  double secs = lethe_now() - t0;
  m.profile = NULL;
  double nll0 = batch_nll(&m, stage_batch_of_step(&sb, 0), ids.pad, &err);

  printf("{\"impl\": \"lethe\", \"mode\": \"stage\", \"stage\": \"%s\", \"compute\": \"%s\", "
         "\"threads\": %d, \"examples\": %d, \"batch\": %d, \"steps\": %ld, \"seconds\": %.6g, "
         "\"tokens_padded\": %.0f, \"tokens_real\": %.0f, \"targets\": %.0f, \"flops\": %.6g, "
         "\"flops_done\": %.6g, \"nll_step0_after\": %.9g",
         stage, m.compute == LLAMA_COMPUTE_BF16 ? "bf16" : "f32", bench_threads(), n_all, bs,
         st.steps, secs, st.padded, st.real, st.targets, st.flops, st.flops_done, nll0);
  if (profile) {
    printf(", \"profile\": {");
    for (int pass = 0; pass < 2; pass++) {
      printf("%s\"%s\": {", pass ? ", " : "", pass ? "bwd" : "fwd");
      for (int p = 0; p < LLAMA_N_PARTS; p++)
        printf("%s\"%s\": %.6g", p ? ", " : "", llama_part_name(p), pass ? prof.bwd[p] : prof.fwd[p]);
      printf("}");
    }
    printf("}");
  }
  printf("}\n");
  stage_batch_free(&sb);
  llama_free(&m);
  free(all);
  tofu_examples_free(ex, n);
  if (replay) tofu_examples_free(replay, n_replay);
  tok_free(tok);
  stage_out_free(&data);
  experiment_free(&e);
  return 0;
}
