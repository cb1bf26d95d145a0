/* bench_unlearn — one NPO+RT unlearning step on a model directory, as the
 * unlearning run takes it (tests/bench/realsize.sh): the npo_rt plugin
 * through the objective, AdamW on what is trainable. Rows [0, forget) of the
 * batch are forget rows, the rest retain rows; tokens are random (seed 2),
 * each row's targets its next tokens. The reference log-probs are the
 * policy's before the first step, computed once (the run's cache). With
 * --write-batch the batch is also written next to the model
 * (unlearn_batch.bin: tokens then targets, int32; unlearn.json) for
 * torch_llama.py --mode unlearn, so both sides step on the same rows (and,
 * with --setting lora, the adapter's start in DIR/bench_adapter, so both
 * start from the same A).
 *
 *   bench_unlearn --model DIR [--batch B] [--seq T] [--forget F] [--reps R]
 *                 [--compute f32|bf16] [--write-batch] [--checkpoint]
 *                 [--setting full|subset|lora] [--params REGEX]...
 *                 [--lora-rank R] [--lora-alpha A] [--frozen auto|f32|bf16]
 *
 * Settings: full (every tensor trains), subset (the tensors whose HF names
 * match a --params regex, as unlearn.params), lora (an adapter of rank R on
 * all seven linear modules, alpha A, no dropout; the base frozen, as
 * unlearn.lora). --frozen holds the frozen matrices in bfloat16 as
 * memory.frozen_weights does (auto, the default: where that loses nothing,
 * i.e. a bf16 checkpoint). --checkpoint turns activation checkpointing on. The logits
 * are chunked (NPO+RT needs only target log-probs); LETHE_LOGITS=whole
 * materialises them whole, for comparison.
 *
 * Prints one JSON line: per-step seconds and losses, tokens per second, the
 * resident set after loading and the peak of the steps (VmHWM, restarted
 * after loading), and the process's peak. Not run by ctest. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/llama.h"
#include "model/lora.h"
#include "model/token_batch.h"
#include "train/trainer.h"
#include "train/memplan.h"
#include "train/objective.h"

enum { SET_FULL, SET_SUBSET, SET_LORA };
static const char *const setting_names[] = {"full", "subset", "lora"};

#define MAX_PARAMS 16
typedef struct options {
  const char *model;
  int batch, seq, forget, reps, bf16, write_batch, checkpoint, setting, lora_rank, frozen;
  double lora_alpha;
  const char *params[MAX_PARAMS];
  int n_params;
} options;

static void die(const lethe_err *err) {
  fprintf(stderr, "bench_unlearn: %s\n", err->msg);
  exit(1);
}

static void usage(void) {
  fprintf(stderr, "usage: bench_unlearn --model DIR [--batch B] [--seq T] [--forget F] "
                  "[--reps R] [--compute f32|bf16] [--write-batch] [--checkpoint]\n"
                  "       [--setting full|subset|lora] [--params REGEX]... [--lora-rank R] "
                  "[--lora-alpha A] [--frozen auto|f32|bf16]\n");
  exit(2);
}

static void parse(int argc, char **argv, options *o) {
  static const struct option longs[] = {
      {"model", 1, 0, 'm'}, {"batch", 1, 0, 'B'},   {"seq", 1, 0, 'T'},
      {"forget", 1, 0, 'f'}, {"reps", 1, 0, 'r'},   {"compute", 1, 0, 'c'},
      {"write-batch", 0, 0, 'w'}, {"checkpoint", 0, 0, 'k'}, {"setting", 1, 0, 's'},
      {"params", 1, 0, 'p'}, {"lora-rank", 1, 0, 'R'}, {"lora-alpha", 1, 0, 'A'},
      {"frozen", 1, 0, 'z'}, {0, 0, 0, 0}};
  *o = (options){.batch = 8, .seq = 128, .forget = 4, .reps = 2, .lora_rank = 16,
                 .lora_alpha = 32, .frozen = LLAMA_HOLD_AUTO};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 'm': o->model = optarg; break;
    case 'B': o->batch = atoi(optarg); break;
    case 'T': o->seq = atoi(optarg); break;
    case 'f': o->forget = atoi(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'c': o->bf16 = !strcmp(optarg, "bf16"); break;
    case 'w': o->write_batch = 1; break;
    case 'k': o->checkpoint = 1; break;
    case 's':
      o->setting = -1;
      for (int i = 0; i < 3; i++)
        if (!strcmp(optarg, setting_names[i])) o->setting = i;
      if (o->setting < 0) usage();
      break;
    case 'p':
      if (o->n_params == MAX_PARAMS) usage();
      o->params[o->n_params++] = optarg;
      break;
    case 'R': o->lora_rank = atoi(optarg); break;
    case 'A': o->lora_alpha = atof(optarg); break;
    case 'z': {
      lethe_err err = {0};
      if (llama_hold_from_name(optarg, &o->frozen, &err) != 0) die(&err);
      break;
    }
    default: usage();
    }
  }
  if (!o->model || o->batch < 2 || o->seq < 2 || o->forget < 1 || o->forget >= o->batch ||
      o->reps < 1 || (o->setting == SET_SUBSET) != (o->n_params > 0) || o->lora_rank < 1)
    usage();
}

/* unlearn_batch.bin and unlearn.json in the model directory. */
static void write_batch(const options *o, const int32_t *ids, const int32_t *tgt) {
  lethe_err err = {0};
  size_t n = (size_t)o->batch * o->seq;
  int32_t *both = lethe_malloc(2 * n * sizeof(int32_t));
  memcpy(both, ids, n * sizeof(int32_t));
  memcpy(both + n, tgt, n * sizeof(int32_t));
  char *bin = lethe_path_join(o->model, "unlearn_batch.bin");
  char *meta = lethe_path_join(o->model, "unlearn.json");
  char json[256];
  int len = snprintf(json, sizeof json,
                     "{\"batch\": %d, \"seq\": %d, \"forget_rows\": %d, \"beta\": 0.1, "
                     "\"lr\": 1e-5, \"weight_decay\": 0.01}\n",
                     o->batch, o->seq, o->forget);
  if (lethe_write_file_atomic(bin, both, 2 * n * sizeof(int32_t), &err) != 0 ||
      lethe_write_file_atomic(meta, json, (size_t)len, &err) != 0)
    die(&err);
  free(bin);
  free(meta);
  free(both);
}

/* The memory plan of the step (train/memplan.h), before anything is
 * loaded: the run's settings on a model shell, the reference log-probs
 * cached (B·T floats), no reference copy; printed to stderr. */
static void plan_step(const options *o, memplan *plan) {
  lethe_err err = {0};
  llama_config cfg;
  llama_model shell;
  char *path = lethe_path_join(o->model, "config.json");
  if (llama_config_read(&cfg, path, &err) != 0 || llama_shell(&shell, &cfg, &err) != 0) die(&err);
  int held = llama_hold_planned(o->frozen, path);
  free(path);
  if (o->bf16) llama_set_compute(&shell, LLAMA_COMPUTE_BF16);
  llama_set_checkpointing(&shell, o->checkpoint);
  objective_use_logits(&shell, 0); /* NPO+RT: per-token log-probs only */
  uint8_t *mask = NULL;
  if (o->setting == SET_SUBSET) {
    mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * cfg.num_hidden_layers);
    if (llama_trainable_mask(&cfg, o->params, o->n_params, mask, "--params", &err) != 0) die(&err);
  }
  lora_config lc = {.rank = o->setting == SET_LORA ? o->lora_rank : 0, .alpha = o->lora_alpha,
                    .targets = (1u << LORA_N_MODULES) - 1, .seed = 1};
  memplan_training t = {.shell = &shell, .B = o->batch, .T = o->seq, .trainable = mask,
                        .lora = &lc, .ref_cache_bytes = (size_t)o->batch * o->seq * sizeof(float),
                        .runtime_bytes = memplan_resident(), .frozen_bf16 = held};
  if (memplan_training_parts(&t, plan, &err) != 0) die(&err);
  memplan_print(plan, memplan_available(), "one NPO+RT step", stderr);
  free(mask);
}

int main(int argc, char **argv) {
  options o;
  parse(argc, argv, &o);
  lethe_err err = {0};
  memplan plan;
  plan_step(&o, &plan);
  double t0 = lethe_now();
  llama_model m;
  if (llama_load(&m, o.model, &err) != 0) die(&err);
  if (o.bf16) llama_set_compute(&m, LLAMA_COMPUTE_BF16);
  llama_set_checkpointing(&m, o.checkpoint);
  lora_adapter lo = {0};
  if (o.setting == SET_SUBSET) {
    uint8_t *mask = lethe_malloc((size_t)LLAMA_N_PARAM_TENSORS * m.cfg.num_hidden_layers);
    if (llama_trainable_mask(&m.cfg, o.params, o.n_params, mask, "--params", &err) != 0 ||
        llama_set_trainable(&m, mask, &err) != 0)
      die(&err);
    free(mask);
  } else if (o.setting == SET_LORA) {
    lora_config lc = {.rank = o.lora_rank, .alpha = o.lora_alpha,
                      .targets = (1u << LORA_N_MODULES) - 1, .seed = 1};
    if (lora_create(&lo, &m.cfg, &lc, &err) != 0) die(&err);
    llama_attach_lora(&m, &lo);
  }
  size_t held = o.setting == SET_FULL ? 0 : llama_hold_frozen(&m, o.frozen);
  double load_secs = lethe_now() - t0;

  int B = o.batch, T = o.seq, n = B * T;
  int32_t *ids = lethe_calloc((size_t)n, 4), *tgt = lethe_calloc((size_t)n, 4);
  int32_t *mask = lethe_calloc((size_t)n, 4);
  bench_make_batch(ids, tgt, B, T, m.cfg.vocab_size);
  for (int i = 0; i < n; i++) mask[i] = 1;
  if (o.write_batch) write_batch(&o, ids, tgt);
  if (o.write_batch && m.lora) { /* the adapter's start, for torch_llama.py to begin at too */
    char *dir = lethe_path_join(o.model, "bench_adapter");
    if (lora_save(&lo, &m.cfg, dir, NULL, &err) != 0) die(&err);
    free(dir);
  }
  token_batch tb;
  /* token_batch labels are the tokens themselves (targets = next label) */
  token_batch_from_arrays(&tb, B, T, ids, mask, ids, 0);
  lethe_segment seg[LETHE_SEG_COUNT] = {{0, o.forget}, {o.forget, B - o.forget}, {B, 0}};

  method_spec spec;
  method_instance inst;
  objective obj;
  if (method_spec_from_name(&spec, "npo_rt", NULL, NULL, 0, &err) != 0 ||
      method_instance_create(&inst, &spec.plugin, spec.params, NULL, &err) != 0 ||
      objective_init(&obj, &m, NULL, &inst, &err) != 0)
    die(&err);
  train_params tp; /* what AdamW updates, as the trainer takes it */
  train_params_of(&m, 0, &tp);
  adamw_state opt;
  adamw_init(&opt, tp.n);
  double load_rss = bench_status_mib("VmRSS");
  int reset = bench_reset_peak() == 0;

  float *ref_logp = lethe_alloc_aligned(sizeof(float) * (size_t)n);
  t0 = lethe_now();
  if (objective_target_logp(&m, &tb, ref_logp, &err) != 0) die(&err);
  double ref_secs = lethe_now() - t0;
  static const adamw_config ac = {1e-5, 0.9, 0.999, 1e-8, 0.01};
  int steps = o.reps + 1; /* the first is the warm-up (primitive creation) */
  double *secs = lethe_calloc((size_t)steps, sizeof(double));
  double *losses = lethe_calloc((size_t)steps, sizeof(double));
  for (int s = 0; s < steps; s++) {
    t0 = lethe_now();
    memset(tp.grads, 0, tp.n * sizeof(float));
    if (objective_step(&obj, &tb, seg, ref_logp, s, steps, 1.0, &losses[s], &err) != 0) die(&err);
    adamw_step(&opt, &ac, ac.lr, tp.spans, tp.n_spans);
    secs[s] = lethe_now() - t0;
  }
  double med = bench_median(secs + 1, o.reps);
  const char *lmode = m.logits_mode == LLAMA_LOGITS_WHOLE ? "whole" : "chunked";
  printf("{\"impl\": \"lethe\", \"mode\": \"unlearn\", \"setting\": \"%s\", \"checkpoint\": %s, "
         "\"logits\": \"%s\", \"acts_mib\": %.0f, \"hidden\": %d, "
         "\"layers\": %d, \"vocab\": %d, \"batch\": %d, \"seq\": %d, \"forget_rows\": %d, "
         "\"threads\": %d, \"compute\": \"%s\", \"trainable_parameters\": %zu, "
         "\"frozen_bf16_parameters\": %zu, \"load_seconds\": %.3f, \"ref_logp_seconds\": %.3f, ",
         setting_names[o.setting], o.checkpoint ? "true" : "false", lmode,
         m.acts_bytes / 1048576.0, m.cfg.hidden_size, m.cfg.num_hidden_layers, m.cfg.vocab_size,
         B, T, o.forget, bench_threads(), o.bf16 ? "bf16" : "f32", tp.n, held, load_secs,
         ref_secs);
  bench_print_array("seconds", secs + 1, o.reps);
  printf(", ");
  bench_print_array("losses", losses, steps);
  printf(", \"tokens_per_second\": %.1f, \"plan_mib\": %.0f, \"load_rss_mib\": %.0f, "
         "\"step_peak_rss_mib\": %.0f, \"peak_rss_mib\": %.0f}\n",
         n / med, memplan_total(&plan) / 1048576.0, load_rss, reset ? bench_status_mib("VmHWM") : -1.0,
         reset ? -1.0 : bench_status_mib("VmHWM"));
  objective_free(&obj);
  method_instance_destroy(&inst);
  method_spec_free(&spec);
  adamw_free(&opt);
  train_params_free(&tp);
  llama_free(&m);
  lora_free(&lo);
  token_batch_free(&tb);
  free(ref_logp);
  free(secs);
  free(losses);
  free(ids);
  free(tgt);
  free(mask);
  return 0;
}
