/* bench_llama — forward and forward+backward tokens/s of a Llama model
 * (default: hidden 512, 8 layers, 8 heads, SwiGLU 1376, vocab 2048, batch 8,
 * sequence 256), so later work has a baseline. Prints medians over repeats.
 * Not run by ctest. usage: bench_llama [hidden layers seq batch repeats] */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/llama.h"
#include "tensor/tensor.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  int C = argc > 1 ? atoi(argv[1]) : 512, L = argc > 2 ? atoi(argv[2]) : 8;
  int T = argc > 3 ? atoi(argv[3]) : 256, B = argc > 4 ? atoi(argv[4]) : 8;
  int reps = argc > 5 ? atoi(argv[5]) : 5;
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 2048, cfg.hidden_size = C, cfg.num_hidden_layers = L;
  cfg.num_attention_heads = C / 64, cfg.num_key_value_heads = C / 64, cfg.head_dim = 64;
  cfg.intermediate_size = (C * 8 / 3 + 31) / 32 * 32, cfg.max_position_embeddings = T;
  cfg.initializer_range = 0.02;
  llama_model m;
  lethe_err err = {0};
  if (llama_init(&m, &cfg, 1, &err) != 0) {
    fprintf(stderr, "%s\n", err.msg);
    return 1;
  }
  llama_alloc_grads(&m);
  int32_t *tok = malloc(sizeof(int32_t) * B * T), *mask = malloc(sizeof(int32_t) * B * T);
  int32_t *tgt = malloc(sizeof(int32_t) * B * T);
  float *dlogp = malloc(sizeof(float) * B * T);
  lethe_rng rng;
  lethe_rng_seed(&rng, 2);
  for (int i = 0; i < B * T; i++) {
    tok[i] = (int32_t)lethe_rng_below(&rng, cfg.vocab_size);
    mask[i] = 1;
    tgt[i] = (int32_t)lethe_rng_below(&rng, cfg.vocab_size);
    dlogp[i] = -1.0f / (B * T);
  }
  double *fwd = malloc(sizeof(double) * reps), *step = malloc(sizeof(double) * reps);
  for (int r = -1; r < reps; r++) { /* r = -1 warms up (primitive creation) */
    double t0 = lethe_now();
    llama_forward(&m, tok, mask, B, T, &err);
    double t1 = lethe_now();
    llama_zero_grads(&m);
    llama_dlogits_from_dlogp(&m, tgt, dlogp, NULL);
    llama_backward(&m);
    double t2 = lethe_now();
    if (r >= 0) fwd[r] = t1 - t0, step[r] = t2 - t0;
  }
  qsort(fwd, reps, sizeof(double), cmp_double);
  qsort(step, reps, sizeof(double), cmp_double);
  double tokens = (double)B * T, params = (double)m.n_params - (double)cfg.vocab_size * C;
  /* matmul FLOPs per token: 2·(non-embedding params + head) fwd, + attention 2·2·T·C per layer */
  double head = cfg.tie_word_embeddings ? (double)cfg.vocab_size * C : 0;
  double fwd_flops = tokens * (2.0 * (params + head) + 4.0 * L * T * C);
  printf("model: hidden %d, layers %d, heads %d, ffn %d, vocab %d, params %.2fM; batch %d x seq %d\n",
         C, L, cfg.num_attention_heads, cfg.intermediate_size, cfg.vocab_size,
         m.n_params / 1e6, B, T);
  printf("forward:          %8.1f tokens/s  (median %.3f s, %.1f GFLOP/s)\n",
         tokens / fwd[reps / 2], fwd[reps / 2], fwd_flops / fwd[reps / 2] / 1e9);
  printf("forward+backward: %8.1f tokens/s  (median %.3f s, %.1f GFLOP/s)\n",
         tokens / step[reps / 2], step[reps / 2], 3 * fwd_flops / step[reps / 2] / 1e9);
  tensor_cache_stats cs = tensor_cache_stats_get();
  printf("matmul primitives: %ld created, %ld reused\n", cs.misses, cs.hits);
  llama_free(&m);
  return 0;
}
