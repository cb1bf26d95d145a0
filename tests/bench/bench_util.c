/* bench_util — helpers of the benchmark programs (see bench_util.h). */
#include "bench_util.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor.h"

void bench_model_config(llama_config *cfg, int hidden, int layers, int heads, int kv_heads,
                        int ffn, int vocab, int max_t) {
  llama_config_defaults(cfg);
  cfg->vocab_size = vocab;
  cfg->hidden_size = hidden;
  cfg->num_hidden_layers = layers;
  cfg->head_dim = 64;
  cfg->num_attention_heads = heads ? heads : hidden / 64;
  cfg->num_key_value_heads = kv_heads ? kv_heads : cfg->num_attention_heads;
  cfg->intermediate_size = ffn ? ffn : (hidden * 8 / 3 + 31) / 32 * 32;
  cfg->max_position_embeddings = max_t;
  cfg->initializer_range = 0.02;
}

void bench_make_batch(int32_t *tok, int32_t *tgt, int B, int T, int V) {
  lethe_rng rng;
  lethe_rng_seed(&rng, 2);
  for (int i = 0; i < B * T; i++) tok[i] = (int32_t)lethe_rng_below(&rng, (uint64_t)V);
  for (int i = 0; i < B * T; i++) tgt[i] = (i % T == T - 1) ? -1 : tok[i + 1];
}

double bench_forward_flops_done(const llama_config *c, int B, int T, double rows,
                                double head_rows) {
  double C = c->hidden_size, F = c->intermediate_size, V = c->vocab_size;
  double QD = (double)c->num_attention_heads * c->head_dim;
  double KVD = (double)c->num_key_value_heads * c->head_dim;
  double linear = 2.0 * (C * QD + 2.0 * C * KVD + QD * C + 3.0 * C * F), attention = 4.0 * T * QD;
  return c->num_hidden_layers * (rows * linear + (double)B * T * attention) + head_rows * 2.0 * C * V;
}

double bench_forward_flops(const llama_config *c, int B, int T) {
  return bench_forward_flops_done(c, B, T, (double)B * T, (double)B * T);
}

double bench_status_mib(const char *field) {
  FILE *fp = fopen("/proc/self/status", "r");
  char line[256];
  double kib = -1;
  size_t n = strlen(field);
  while (fp && fgets(line, sizeof line, fp))
    if (strncmp(line, field, n) == 0 && line[n] == ':') kib = atof(line + n + 1);
  if (fp) fclose(fp);
  return kib < 0 ? -1 : kib / 1024;
}

int bench_reset_peak(void) {
  FILE *fp = fopen("/proc/self/clear_refs", "w");
  if (!fp) return -1;
  int ok = fputs("5", fp) >= 0;
  return fclose(fp) == 0 && ok ? 0 : -1;
}

int bench_threads(void) { return omp_get_max_threads(); }

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

double bench_median(const double *x, int n) {
  double *c = malloc(sizeof(double) * (size_t)n);
  memcpy(c, x, sizeof(double) * (size_t)n);
  qsort(c, (size_t)n, sizeof(double), cmp_double);
  double m = n % 2 ? c[n / 2] : 0.5 * (c[n / 2 - 1] + c[n / 2]);
  free(c);
  return m;
}

void bench_print_array(const char *name, const double *x, int n) {
  printf("\"%s\": [", name);
  for (int i = 0; i < n; i++) printf("%s%.6g", i ? ", " : "", x[i]);
  printf("]");
}

/* Median seconds of one product (after a warm-up call that creates the primitive). */
static double time_product(int layout, void *c, void *a, void *b, int64_t M, int64_t K,
                           int64_t N, tensor_dtype in, int reps) {
  double *t = malloc(sizeof(double) * (size_t)reps);
  for (int r = -1; r < reps; r++) {
    double t0 = lethe_now();
    if (layout == 0)
      tensor_linear_forward_typed(c, a, b, in, M, K, N, 0);
    else if (layout == 1)
      tensor_linear_backward_data_typed(c, a, b, in, M, K, N, 0);
    else
      tensor_linear_backward_weights_typed(c, a, b, in, M, K, N);
    if (r >= 0) t[r] = lethe_now() - t0;
  }
  double med = bench_median(t, reps);
  free(t);
  return med;
}

void bench_matmul_roofline(const llama_config *cfg, int seq, int batch, int reps, int bf16) {
  int M = seq * batch;
  int64_t C = cfg->hidden_size, F = cfg->intermediate_size, V = cfg->vocab_size;
  int64_t QD = (int64_t)cfg->num_attention_heads * cfg->head_dim;
  int64_t KVD = (int64_t)cfg->num_key_value_heads * cfg->head_dim;
  /* weight shapes (in K, out N) and how often a step uses each */
  int64_t shapes[][3] = {{C, QD, cfg->num_hidden_layers}, {C, KVD, 2 * cfg->num_hidden_layers},
                         {QD, C, cfg->num_hidden_layers}, {C, F, 2 * cfg->num_hidden_layers},
                         {F, C, cfg->num_hidden_layers},  {C, V, 1}};
  int n_shapes = 6;
  int64_t big = 0;
  for (int i = 0; i < n_shapes; i++) {
    int64_t k = shapes[i][0], n = shapes[i][1];
    int64_t need = (M * k > M * n ? M * k : M * n) + k * n;
    if (need > big) big = need;
  }
  size_t elem = bf16 ? 2 : 4;
  unsigned char *a = lethe_alloc_aligned((size_t)big * elem), *b = lethe_alloc_aligned((size_t)big * elem);
  float *c = lethe_alloc_aligned((size_t)big * sizeof(float));
  for (int64_t i = 0; i < big; i++) { /* small values so sums stay finite */
    float v = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    if (bf16) {
      ((uint16_t *)a)[i] = tensor_bf16_round(v);
      ((uint16_t *)b)[i] = tensor_bf16_round(-v);
    } else {
      ((float *)a)[i] = v;
      ((float *)b)[i] = -v;
    }
  }
  static const char *const layouts[] = {"NT (forward)", "NN (dX)", "TN (dW)"};
  tensor_dtype in = bf16 ? TENSOR_BF16 : TENSOR_F32;
  double best = 0, total_flops = 0, total_secs = 0;
  printf("{\"impl\": \"lethe\", \"mode\": \"matmul\", \"compute\": \"%s\", \"threads\": %d, "
         "\"hidden\": %d, \"layers\": %d, \"seq\": %d, \"batch\": %d, \"M\": %d, \"shapes\": [",
         bf16 ? "bf16" : "f32", bench_threads(), cfg->hidden_size, cfg->num_hidden_layers, seq,
         batch, M);
  for (int i = 0; i < n_shapes; i++)
    for (int lay = 0; lay < 3; lay++) {
      int64_t k = shapes[i][0], n = shapes[i][1];
      double secs = time_product(lay, c, a, b, M, k, n, in, reps);
      double flops = 2.0 * M * k * n, rate = flops / secs / 1e9;
      if (rate > best) best = rate;
      total_flops += flops * shapes[i][2];
      total_secs += secs * shapes[i][2];
      printf("%s{\"k\": %lld, \"n\": %lld, \"layout\": \"%s\", \"gflops\": %.1f}",
             i + lay ? ", " : "", (long long)k, (long long)n, layouts[lay], rate);
    }
  printf("], \"best_gflops\": %.1f, \"step_weighted_gflops\": %.1f}\n", best,
         total_flops / total_secs / 1e9);
  free(a);
  free(b);
  free(c);
}
