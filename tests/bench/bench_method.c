/* bench_method — one NPO unlearning step against one GA step on the same
 * batch (tests/bench/run.sh): zero gradients, objective_step (forward, the
 * plugin's loss and dL/dlogp, backward) and AdamW, timed alternately so both
 * see the same machine conditions. NPO's reference log-probs are computed
 * once for the batch before the steps (the host's cache), as a trainer does
 * once per example; that one-time cost is reported separately.
 *
 *   bench_method [--hidden C] [--layers L] [--seq T] [--batch B] [--reps R] [--bf16]
 *
 * Prints one JSON line. Needs the ga and npo plugins built (LETHE_PLUGIN_PATH
 * or the build tree's plugin directory). Not run by ctest. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/llama.h"
#include "model/token_batch.h"
#include "train/adamw.h"
#include "train/objective.h"

typedef struct method_run {
  const char *name;
  method_spec spec;
  method_instance inst;
  objective obj;
  adamw_state opt;
  llama_model model;
  double *secs, loss;
} method_run;

static void die(const lethe_err *err) {
  fprintf(stderr, "bench_method: %s\n", err->msg);
  exit(1);
}

static void setup(method_run *r, const char *name, const llama_config *cfg, int bf16, int reps) {
  lethe_err err = {0};
  memset(r, 0, sizeof *r);
  r->name = name;
  if (llama_init(&r->model, cfg, 1, &err) != 0) die(&err);
  if (bf16) llama_set_compute(&r->model, LLAMA_COMPUTE_BF16);
  if (method_spec_from_name(&r->spec, name, NULL, NULL, 0, &err) != 0 ||
      method_instance_create(&r->inst, &r->spec.plugin, r->spec.params, NULL, &err) != 0 ||
      objective_init(&r->obj, &r->model, NULL, &r->inst, &err) != 0)
    die(&err);
  adamw_init(&r->opt, r->model.n_params);
  r->secs = lethe_calloc((size_t)reps, sizeof *r->secs);
}

static void teardown(method_run *r) {
  objective_free(&r->obj);
  method_instance_destroy(&r->inst);
  method_spec_free(&r->spec);
  adamw_free(&r->opt);
  llama_free(&r->model);
  free(r->secs);
}

/* One optimizer step; returns its seconds. */
static double step(method_run *r, const token_batch *tb, const lethe_segment *seg,
                   const float *ref_logp, int64_t at, int64_t total) {
  static const adamw_config ac = {1e-5, 0.9, 0.999, 1e-8, 0.01};
  lethe_err err = {0};
  double t0 = lethe_now();
  llama_zero_grads(&r->model);
  if (objective_step(&r->obj, tb, seg, ref_logp, at, total, 1.0, &r->loss, &err) != 0) die(&err);
  adamw_span all = {r->model.params_memory, r->model.grads_memory, r->model.n_params, 1};
  adamw_step(&r->opt, &ac, ac.lr, &all, 1);
  return lethe_now() - t0;
}

int main(int argc, char **argv) {
  int hidden = 512, layers = 8, seq = 256, batch = 8, reps = 5, bf16 = 0;
  static const struct option longs[] = {{"hidden", 1, 0, 'C'}, {"layers", 1, 0, 'L'},
                                        {"seq", 1, 0, 'T'},    {"batch", 1, 0, 'B'},
                                        {"reps", 1, 0, 'r'},   {"bf16", 0, 0, 'b'},
                                        {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 'C': hidden = atoi(optarg); break;
    case 'L': layers = atoi(optarg); break;
    case 'T': seq = atoi(optarg); break;
    case 'B': batch = atoi(optarg); break;
    case 'r': reps = atoi(optarg); break;
    case 'b': bf16 = 1; break;
    default:
      fprintf(stderr, "usage: bench_method [--hidden C] [--layers L] [--seq T] [--batch B] "
                      "[--reps R] [--bf16]\n");
      return 2;
    }
  }
  if (reps < 1) reps = 1;
  llama_config cfg;
  bench_model_config(&cfg, hidden, layers, 0, 0, 0, 2048, seq);
  int n = batch * seq;
  int32_t *ids = lethe_calloc((size_t)n, 4), *tgt = lethe_calloc((size_t)n, 4);
  int32_t *mask = lethe_calloc((size_t)n, 4), *labels = lethe_calloc((size_t)n, 4);
  bench_make_batch(ids, tgt, batch, seq, cfg.vocab_size);
  for (int i = 0; i < n; i++) mask[i] = 1, labels[i] = ids[i];
  token_batch tb;
  token_batch_from_arrays(&tb, batch, seq, ids, mask, labels, 0);
  lethe_segment seg[LETHE_SEG_COUNT] = {{0, batch}, {batch, 0}, {batch, 0}};

  method_run ga, npo;
  setup(&ga, "ga", &cfg, bf16, reps);
  setup(&npo, "npo", &cfg, bf16, reps);
  lethe_err err = {0};
  float *ref_logp = lethe_alloc_aligned(sizeof(float) * (size_t)n);
  double t0 = lethe_now();
  if (objective_target_logp(&npo.model, &tb, ref_logp, &err) != 0) die(&err);
  double ref_secs = lethe_now() - t0;
  step(&ga, &tb, seg, NULL, 0, reps + 1); /* warm-up: primitive creation */
  step(&npo, &tb, seg, ref_logp, 0, reps + 1);
  for (int r = 0; r < reps; r++) { /* alternate, so noise hits both alike */
    ga.secs[r] = step(&ga, &tb, seg, NULL, r + 1, reps + 1);
    npo.secs[r] = step(&npo, &tb, seg, ref_logp, r + 1, reps + 1);
  }
  printf("{\"impl\": \"lethe\", \"mode\": \"method\", \"hidden\": %d, \"layers\": %d, \"seq\": %d, "
         "\"batch\": %d, \"threads\": %d, \"compute\": \"%s\", \"ref_logp_seconds\": %.6g, ",
         hidden, layers, seq, batch, bench_threads(), bf16 ? "bf16" : "f32", ref_secs);
  bench_print_array("ga_seconds", ga.secs, reps);
  printf(", ");
  bench_print_array("npo_seconds", npo.secs, reps);
  printf(", \"ga_loss\": %.6g, \"npo_loss\": %.6g}\n", ga.loss, npo.loss);
  teardown(&ga);
  teardown(&npo);
  token_batch_free(&tb);
  free(ref_logp);
  free(ids);
  free(tgt);
  free(mask);
  free(labels);
  return 0;
}
