/* bench_logits — whole against chunked logits (llama_set_logits): one NLL
 * step (forward, target log-probs, backward) of a model with Llama-3.2-1B's
 * head — hidden 2048, vocabulary 128,256, tied embeddings, 32 heads of 64
 * with 8 kv heads — and few layers, at batch 8×128. Peak resident memory is
 * per process, so each mode runs in its own:
 *   bench_logits whole|chunked [f32|bf16] [steps] [layers] [rows]
 * (defaults f32, 2 timed steps after one warm-up, 1 layer, automatic rows).
 * Prints one JSON line: the mode, the activation bytes llama_reserve
 * allocated, the peak RSS (VmHWM), the resident set before the first step,
 * the seconds per step (median) and the NLL (the same in both modes). The
 * MLP is narrow (2048) to keep the process under 4 GiB: the head dominates. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "core/core.h"
#include "model/llama.h"

#define BENCH_B 8
#define BENCH_T 128
#define BENCH_MAX_STEPS 16

static int usage(const char *argv0) {
  fprintf(stderr, "usage: %s whole|chunked [f32|bf16] [steps] [layers] [rows]\n", argv0);
  return 2;
}

/* One NLL step; returns the loss (mean over targets). */
static double nll_step(llama_model *m, const int32_t *tok, const int32_t *mask,
                       const int32_t *tgt, float *logp, float *dlogp) {
  lethe_err err = {0};
  if (llama_forward(m, tok, mask, BENCH_B, BENCH_T, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    exit(1);
  }
  llama_target_logp(m, tgt, logp);
  double sum = 0;
  int count = 0;
  for (int i = 0; i < BENCH_B * BENCH_T; i++)
    if (tgt[i] >= 0) sum -= logp[i], count++;
  for (int i = 0; i < BENCH_B * BENCH_T; i++) dlogp[i] = tgt[i] >= 0 ? -1.0f / count : 0.0f;
  llama_zero_grads(m);
  llama_dlogits_from_dlogp(m, tgt, dlogp, NULL);
  llama_backward(m);
  return sum / count;
}

int main(int argc, char **argv) {
  if (argc < 2 || argc > 6) return usage(argv[0]);
  int logits = !strcmp(argv[1], "whole") ? LLAMA_LOGITS_WHOLE
               : !strcmp(argv[1], "chunked") ? LLAMA_LOGITS_CHUNKED : -1;
  int compute = LLAMA_COMPUTE_F32;
  lethe_err err = {0};
  if (logits < 0 || (argc > 2 && llama_compute_from_name(argv[2], &compute, &err) != 0)) {
    if (err.msg[0]) fprintf(stderr, "%s\n", err.msg);
    return usage(argv[0]);
  }
  int steps = argc > 3 ? atoi(argv[3]) : 2, layers = argc > 4 ? atoi(argv[4]) : 1;
  int rows = argc > 5 ? atoi(argv[5]) : 0;
  if (steps < 1 || steps > BENCH_MAX_STEPS || layers < 1) return usage(argv[0]);
  llama_config cfg;
  bench_model_config(&cfg, 2048, layers, 32, 8, 2048, 128256, BENCH_T);
  cfg.tie_word_embeddings = 1;
  llama_model m;
  if (llama_init(&m, &cfg, 1, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  llama_alloc_grads(&m);
  llama_set_compute(&m, compute);
  llama_set_logits(&m, logits, rows);
  int n = BENCH_B * BENCH_T;
  int32_t *tok = malloc(sizeof(int32_t) * n), *tgt = malloc(sizeof(int32_t) * n);
  int32_t *mask = malloc(sizeof(int32_t) * n);
  float *logp = malloc(sizeof(float) * n), *dlogp = malloc(sizeof(float) * n);
  bench_make_batch(tok, tgt, BENCH_B, BENCH_T, cfg.vocab_size);
  for (int i = 0; i < n; i++) mask[i] = 1;
  double rss_before = bench_status_mib("VmRSS");
  double loss = nll_step(&m, tok, mask, tgt, logp, dlogp); /* warm-up: allocations, primitives */
  double secs[BENCH_MAX_STEPS];
  for (int s = 0; s < steps; s++) {
    double t0 = lethe_now();
    loss = nll_step(&m, tok, mask, tgt, logp, dlogp);
    secs[s] = lethe_now() - t0;
  }
  printf("{\"bench\": \"logits\", \"mode\": \"%s\", \"compute\": \"%s\", \"threads\": %d, "
         "\"B\": %d, \"T\": %d, \"V\": %d, \"hidden\": %d, \"layers\": %d, \"chunk_rows\": %d, "
         "\"acts_mib\": %.1f, \"rss_before_step_mib\": %.0f, \"peak_rss_mib\": %.0f, "
         "\"s_per_step\": %.3f, \"nll\": %.6f, ",
         argv[1], llama_compute_name(compute), bench_threads(), BENCH_B, BENCH_T, cfg.vocab_size,
         cfg.hidden_size, layers, m.logits_rows, m.acts_bytes / 1048576.0, rss_before,
         bench_status_mib("VmHWM"), bench_median(secs, steps), loss);
  bench_print_array("steps_s", secs, steps);
  printf("}\n");
  free(tok), free(tgt), free(mask), free(logp), free(dlogp);
  llama_free(&m);
  return 0;
}
