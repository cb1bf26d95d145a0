/* bench_llama — lethe's side of the benchmark (tests/bench/run.sh compares it
 * with tests/bench/torch_llama.py on the same weights and batch).
 *
 *   bench_llama [hidden layers seq batch repeats [bf16]]  quick human summary
 *   bench_llama MODE [options]                          one JSON line per result
 *
 * MODE train: training steps (forward, loss, backward, AdamW), per-part times;
 *      score: forward + per-token log-probs; generate: KV-cache greedy
 *      decoding (prefill and per-token time for each --prompt length);
 *      matmul: the oneDNN matmul rate on the model's linear shapes (the roofline);
 *      peak: the CPU's fp32 peak at the widest ISA it has (LETHE_ISA caps it) and
 *      its bf16 dot-product peak where it has AVX512_BF16 (no model; --reps rounds).
 * Options: --hidden C --layers L --seq T --batch B --heads H --kv-heads K
 *      --ffn F --vocab V --reps R --warmup W --bf16 --save DIR (write the init
 *      weights and the batch for the PyTorch side) --prompt P[,P...] --new N.
 * The model and batch are bench_util.h's. Not run by ctest. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"
#include "model/generate.h"
#include "model/llama.h"
#include "tensor/tensor.h"
#include "train/adamw.h"

#define MAX_PROMPTS 16

typedef struct options {
  const char *mode, *save;
  int hidden, layers, seq, batch, heads, kv_heads, ffn, vocab, reps, warmup, bf16, new_tokens;
  int prompts[MAX_PROMPTS], n_prompts;
} options;

static void usage(void) {
  fprintf(stderr,
          "usage: bench_llama [hidden layers seq batch repeats [bf16]]\n"
          "       bench_llama train|score|generate|matmul|peak [--hidden C] [--layers L]\n"
          "         [--seq T] [--batch B] [--heads H] [--kv-heads K] [--ffn F] [--vocab V]\n"
          "         [--reps R] [--warmup W] [--bf16] [--save DIR] [--prompt P[,P...]] [--new N]\n");
  exit(2);
}

static void parse(options *o, int argc, char **argv) {
  memset(o, 0, sizeof *o);
  o->hidden = 512, o->layers = 8, o->seq = 256, o->batch = 8, o->vocab = 2048;
  o->reps = 5, o->warmup = 1, o->new_tokens = 32;
  o->prompts[0] = 64, o->n_prompts = 1;
  if (argc > 1 && argv[1][0] != '-' && (argv[1][0] < '0' || argv[1][0] > '9')) {
    o->mode = argv[1];
    argc--, argv++;
  } else { /* the positional quick form */
    o->mode = "quick";
    int *pos[] = {&o->hidden, &o->layers, &o->seq, &o->batch, &o->reps};
    for (int i = 1; i < argc && i <= 5; i++) *pos[i - 1] = atoi(argv[i]);
    o->bf16 = argc > 6 && !strcmp(argv[6], "bf16");
    o->reps = o->reps < 1 ? 1 : o->reps;
    return;
  }
  static const struct option longs[] = {
      {"hidden", 1, 0, 'C'}, {"layers", 1, 0, 'L'}, {"seq", 1, 0, 'T'},   {"batch", 1, 0, 'B'},
      {"heads", 1, 0, 'H'},  {"kv-heads", 1, 0, 'K'}, {"ffn", 1, 0, 'F'}, {"vocab", 1, 0, 'V'},
      {"reps", 1, 0, 'r'},   {"warmup", 1, 0, 'w'}, {"bf16", 0, 0, 'b'},  {"save", 1, 0, 's'},
      {"prompt", 1, 0, 'p'}, {"new", 1, 0, 'n'},    {0, 0, 0, 0}};
  int c;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 'C': o->hidden = atoi(optarg); break;
    case 'L': o->layers = atoi(optarg); break;
    case 'T': o->seq = atoi(optarg); break;
    case 'B': o->batch = atoi(optarg); break;
    case 'H': o->heads = atoi(optarg); break;
    case 'K': o->kv_heads = atoi(optarg); break;
    case 'F': o->ffn = atoi(optarg); break;
    case 'V': o->vocab = atoi(optarg); break;
    case 'r': o->reps = atoi(optarg); break;
    case 'w': o->warmup = atoi(optarg); break;
    case 'b': o->bf16 = 1; break;
    case 's': o->save = optarg; break;
    case 'n': o->new_tokens = atoi(optarg); break;
    case 'p': {
      o->n_prompts = 0;
      for (char *tok = strtok(optarg, ","); tok && o->n_prompts < MAX_PROMPTS;
           tok = strtok(NULL, ","))
        o->prompts[o->n_prompts++] = atoi(tok);
      break;
    }
    default: usage();
    }
  }
  if (o->reps < 1 || o->hidden < 64 || o->layers < 1 || o->seq < 2 || o->batch < 1) usage();
}

static void make_config(llama_config *cfg, const options *o) {
  int max_t = o->seq;
  for (int i = 0; i < o->n_prompts; i++)
    if (o->prompts[i] + o->new_tokens > max_t) max_t = o->prompts[i] + o->new_tokens;
  bench_model_config(cfg, o->hidden, o->layers, o->heads, o->kv_heads, o->ffn, o->vocab, max_t);
}

static void save_inputs(const options *o, const llama_model *m, const int32_t *tok,
                        const int32_t *tgt, double lr, double wd) {
  lethe_err err = {0};
  if (llama_save(m, o->save, &err) != 0) {
    fprintf(stderr, "bench_llama: %s\n", err.msg);
    exit(1);
  }
  size_t n = (size_t)o->batch * o->seq;
  char path[4096];
  snprintf(path, sizeof path, "%s/batch.bin", o->save);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(tok, sizeof *tok, n, f) != n || fwrite(tgt, sizeof *tgt, n, f) != n ||
      fclose(f) != 0) {
    fprintf(stderr, "bench_llama: cannot write %s\n", path);
    exit(1);
  }
  snprintf(path, sizeof path, "%s/bench.json", o->save);
  f = fopen(path, "w");
  if (!f) {
    fprintf(stderr, "bench_llama: cannot write %s\n", path);
    exit(1);
  }
  fprintf(f, "{\"batch\": %d, \"seq\": %d, \"lr\": %g, \"weight_decay\": %g}\n", o->batch, o->seq,
          lr, wd);
  fclose(f);
}

static void print_config(const options *o, const llama_config *c, const llama_model *m) {
  printf("\"hidden\": %d, \"layers\": %d, \"heads\": %d, \"kv_heads\": %d, \"ffn\": %d, "
         "\"vocab\": %d, \"seq\": %d, \"batch\": %d, \"params\": %zu, \"threads\": %d, "
         "\"compute\": \"%s\"",
         c->hidden_size, c->num_hidden_layers, c->num_attention_heads, c->num_key_value_heads,
         c->intermediate_size, c->vocab_size, o->seq, o->batch, m->n_params, bench_threads(),
         o->bf16 ? "bf16" : "f32");
}

/* Mean NLL over targets from the per-token log-probs; dlogp = -1/count. */
static double mean_nll(const float *logp, const int32_t *tgt, float *dlogp, int n) {
  double sum = 0;
  int count = 0;
  for (int i = 0; i < n; i++)
    if (tgt[i] >= 0) sum += logp[i], count++;
  for (int i = 0; i < n && dlogp; i++) dlogp[i] = tgt[i] >= 0 ? -1.0f / (float)count : 0.0f;
  return -sum / (count ? count : 1);
}

static void run_train(const options *o, llama_model *m, const int32_t *tok, const int32_t *mask,
                      const int32_t *tgt) {
  int B = o->batch, T = o->seq, n = B * T;
  adamw_config ac = {1e-3, 0.9, 0.999, 1e-8, 0.01};
  if (o->save) save_inputs(o, m, tok, tgt, ac.lr, ac.weight_decay);
  llama_alloc_grads(m);
  adamw_state opt;
  adamw_init(&opt, m->n_params);
  float *logp = lethe_alloc_aligned(sizeof(float) * n), *dlogp = lethe_alloc_aligned(sizeof(float) * n);
  double *secs = lethe_calloc((size_t)o->reps, sizeof *secs);
  double *losses = lethe_calloc((size_t)(o->warmup + o->reps), sizeof *losses);
  llama_profile prof;
  double loss_t = 0, adam_t = 0;
  lethe_err err = {0};
  for (int r = 0; r < o->warmup + o->reps; r++) {
    if (r == o->warmup) { /* time only the measured steps */
      memset(&prof, 0, sizeof prof);
      m->profile = &prof;
      loss_t = adam_t = 0;
    }
    double t0 = lethe_now();
    if (llama_forward(m, tok, mask, B, T, &err) != 0) {
      fprintf(stderr, "bench_llama: %s\n", err.msg);
      exit(1);
    }
    double t1 = lethe_now();
    llama_target_logp(m, tgt, logp);
    losses[r] = mean_nll(logp, tgt, dlogp, n);
    llama_dlogits_from_dlogp(m, tgt, dlogp, NULL);
    double t2 = lethe_now();
    llama_zero_grads(m);
    llama_backward(m);
    double t3 = lethe_now();
    adamw_span all = {m->params_memory, m->grads_memory, m->n_params, 1};
    adamw_step(&opt, &ac, ac.lr, &all, 1);
    double t4 = lethe_now();
    loss_t += t2 - t1;
    adam_t += t4 - t3;
    if (r >= o->warmup) secs[r - o->warmup] = t4 - t0;
  }
  m->profile = NULL;
  printf("{\"impl\": \"lethe\", \"mode\": \"train\", ");
  print_config(o, &m->cfg, m);
  printf(", \"flops\": %.6g, ", 3.0 * bench_forward_flops(&m->cfg, B, T));
  bench_print_array("seconds", secs, o->reps);
  printf(", ");
  bench_print_array("losses", losses, o->warmup + o->reps);
  printf(", \"profile\": {");
  for (int pass = 0; pass < 2; pass++) {
    printf("%s\"%s\": {", pass ? ", " : "", pass ? "bwd" : "fwd");
    for (int p = 0; p < LLAMA_N_PARTS; p++)
      printf("%s\"%s\": %.6g", p ? ", " : "", llama_part_name(p),
             (pass ? prof.bwd[p] : prof.fwd[p]) / o->reps);
    printf("}");
  }
  printf(", \"loss\": %.6g, \"adamw\": %.6g}}\n", loss_t / o->reps, adam_t / o->reps);
  adamw_free(&opt);
  free(logp);
  free(dlogp);
  free(secs);
  free(losses);
}

static void run_score(const options *o, llama_model *m, const int32_t *tok, const int32_t *mask,
                      const int32_t *tgt) {
  int B = o->batch, T = o->seq, n = B * T;
  if (o->save) save_inputs(o, m, tok, tgt, 0, 0);
  float *logp = lethe_alloc_aligned(sizeof(float) * n);
  double *secs = lethe_calloc((size_t)o->reps, sizeof *secs), loss = 0;
  lethe_err err = {0};
  for (int r = 0; r < o->warmup + o->reps; r++) {
    double t0 = lethe_now();
    llama_forward(m, tok, mask, B, T, &err);
    llama_target_logp(m, tgt, logp);
    double t1 = lethe_now();
    loss = mean_nll(logp, tgt, NULL, n);
    if (r >= o->warmup) secs[r - o->warmup] = t1 - t0;
  }
  printf("{\"impl\": \"lethe\", \"mode\": \"score\", ");
  print_config(o, &m->cfg, m);
  printf(", \"flops\": %.6g, \"loss\": %.8g, ", bench_forward_flops(&m->cfg, B, T), loss);
  bench_print_array("seconds", secs, o->reps);
  printf("}\n");
  free(logp);
  free(secs);
}

static int argmax(const float *row, int v) {
  int best = 0;
  for (int j = 1; j < v; j++)
    if (row[j] > row[best]) best = j;
  return best;
}

/* Prefill a prompt of P tokens per row, then decode N tokens one at a time
 * through the KV cache; reports the prefill time and the per-token time. */
static void run_generate(const options *o, llama_model *m, const int32_t *tok) {
  int B = o->batch, V = m->cfg.vocab_size, N = o->new_tokens;
  lethe_err err = {0};
  for (int pi = 0; pi < o->n_prompts; pi++) {
    int P = o->prompts[pi];
    int32_t *prompt = lethe_calloc((size_t)B * P, sizeof *prompt);
    int32_t *next = lethe_calloc((size_t)B, sizeof *next), *gen = lethe_calloc((size_t)N, 4);
    if (P > o->seq) {
      fprintf(stderr, "bench_llama: --prompt %d is longer than --seq %d\n", P, o->seq);
      exit(2);
    }
    for (int b = 0; b < B; b++) /* the first P tokens of each batch row */
      for (int i = 0; i < P; i++) prompt[b * P + i] = tok[b * o->seq + i];
    double *pre = lethe_calloc((size_t)o->reps, sizeof *pre);
    double *per = lethe_calloc((size_t)o->reps, sizeof *per);
    llama_kv_cache c;
    llama_kv_init(&c, m, B, P + N, P);
    for (int r = 0; r < o->warmup + o->reps; r++) {
      llama_kv_reset(&c);
      double t0 = lethe_now();
      if (llama_kv_step(m, &c, prompt, NULL, P, &err) != 0) {
        fprintf(stderr, "bench_llama: %s\n", err.msg);
        exit(1);
      }
      double t1 = lethe_now();
      for (int s = 0; s < N; s++) {
        for (int b = 0; b < B; b++) next[b] = argmax(c.logits + (int64_t)b * V, V);
        gen[s] = next[0];
        if (s + 1 < N) llama_kv_step(m, &c, next, NULL, 1, &err);
      }
      double t2 = lethe_now();
      if (r >= o->warmup) {
        pre[r - o->warmup] = t1 - t0;
        per[r - o->warmup] = (t2 - t1) / (N > 1 ? N - 1 : 1);
      }
    }
    printf("{\"impl\": \"lethe\", \"mode\": \"generate\", ");
    print_config(o, &m->cfg, m);
    printf(", \"prompt\": %d, \"new\": %d, ", P, N);
    bench_print_array("prefill_seconds", pre, o->reps);
    printf(", ");
    bench_print_array("token_seconds", per, o->reps);
    printf(", \"generated\": [");
    for (int s = 0; s < N; s++) printf("%s%d", s ? ", " : "", gen[s]);
    printf("]}\n");
    llama_kv_free(&c);
    free(prompt);
    free(next);
    free(gen);
    free(pre);
    free(per);
  }
}

/* Quick form: forward and training-step tokens/s with a per-part table. */
static void run_quick(const options *o, llama_model *m, const int32_t *tok, const int32_t *mask,
                      const int32_t *tgt) {
  int B = o->batch, T = o->seq, n = B * T;
  llama_alloc_grads(m);
  float *logp = lethe_alloc_aligned(sizeof(float) * n), *dlogp = lethe_alloc_aligned(sizeof(float) * n);
  double *fwd = lethe_calloc((size_t)o->reps, sizeof *fwd), *step = lethe_calloc((size_t)o->reps, sizeof *step);
  llama_profile prof;
  lethe_err err = {0};
  for (int r = -1; r < o->reps; r++) { /* r = -1 warms up (primitive creation) */
    if (r == 0) {
      memset(&prof, 0, sizeof prof);
      m->profile = &prof;
    }
    double t0 = lethe_now();
    llama_forward(m, tok, mask, B, T, &err);
    double t1 = lethe_now();
    llama_target_logp(m, tgt, logp);
    mean_nll(logp, tgt, dlogp, n);
    llama_zero_grads(m);
    llama_dlogits_from_dlogp(m, tgt, dlogp, NULL);
    llama_backward(m);
    double t2 = lethe_now();
    if (r >= 0) fwd[r] = t1 - t0, step[r] = t2 - t0;
  }
  m->profile = NULL;
  double f = bench_forward_flops(&m->cfg, B, T), tf = bench_median(fwd, o->reps);
  double ts = bench_median(step, o->reps);
  printf("model: hidden %d, layers %d, heads %d, ffn %d, vocab %d, params %.2fM; batch %d x seq "
         "%d; %d threads, %s\n",
         o->hidden, o->layers, m->cfg.num_attention_heads, m->cfg.intermediate_size, o->vocab,
         m->n_params / 1e6, B, T, bench_threads(), o->bf16 ? "bf16" : "f32");
  printf("forward:          %8.1f tokens/s  (median %.3f s, %.1f GFLOP/s)\n", n / tf, tf,
         f / tf / 1e9);
  printf("forward+backward: %8.1f tokens/s  (median %.3f s, %.1f GFLOP/s)\n", n / ts, ts,
         3 * f / ts / 1e9);
  printf("%-14s %9s %9s\n", "part (ms)", "forward", "backward");
  for (int p = 0; p < LLAMA_N_PARTS; p++)
    printf("%-14s %9.2f %9.2f\n", llama_part_name(p), 1e3 * prof.fwd[p] / o->reps,
           1e3 * prof.bwd[p] / o->reps);
  tensor_cache_stats cs = tensor_cache_stats_get();
  printf("matmul primitives: %ld created, %ld reused, %ld on reference kernels\n", cs.misses,
         cs.hits, cs.slow);
  free(logp);
  free(dlogp);
  free(fwd);
  free(step);
}

int main(int argc, char **argv) {
  options o;
  parse(&o, argc, argv);
  llama_config cfg;
  make_config(&cfg, &o);
  if (!strcmp(o.mode, "matmul")) {
    bench_matmul_roofline(&cfg, o.seq, o.batch, o.reps, o.bf16);
    return 0;
  }
  if (!strcmp(o.mode, "peak")) {
    lethe_err err = {0};
    if (bench_peak(o.reps, &err) == 0) return 0;
    fprintf(stderr, "bench_llama peak: %s\n", err.msg);
    return 2;
  }
  llama_model m;
  lethe_err err = {0};
  if (llama_init(&m, &cfg, 1, &err) != 0) {
    fprintf(stderr, "bench_llama: %s\n", err.msg);
    return 1;
  }
  if (o.bf16) llama_set_compute(&m, LLAMA_COMPUTE_BF16);
  int n = o.batch * o.seq;
  int32_t *tok = lethe_calloc((size_t)n, 4), *tgt = lethe_calloc((size_t)n, 4);
  int32_t *mask = lethe_calloc((size_t)n, 4);
  bench_make_batch(tok, tgt, o.batch, o.seq, cfg.vocab_size);
  for (int i = 0; i < n; i++) mask[i] = 1;
  if (!strcmp(o.mode, "train")) run_train(&o, &m, tok, mask, tgt);
  else if (!strcmp(o.mode, "score")) run_score(&o, &m, tok, mask, tgt);
  else if (!strcmp(o.mode, "generate")) run_generate(&o, &m, tok);
  else if (!strcmp(o.mode, "quick")) run_quick(&o, &m, tok, mask, tgt);
  else usage();
  llama_free(&m);
  free(tok);
  free(tgt);
  free(mask);
  return 0;
}
