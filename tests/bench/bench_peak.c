/* bench_peak — the CPU's arithmetic peak, the ceiling every GFLOP/s of the
 * benchmark is read against (see bench_util.h). Only the timed loops are
 * compiled for AVX-512 (function target attributes), so the rest of the build
 * keeps its flags; the CPU is asked at run time before they are called. Not a
 * model of any lethe kernel: no memory traffic, registers only. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>

#include "bench_util.h"
#include "core/core.h"

/* Independent accumulators per thread, more than latency x throughput needs
 * (Zen 4: 4-cycle FMA latency, one 512-bit FMA per cycle), so the loop is
 * bound by issue, not by the dependency chains. */
#define PEAK_CHAINS 16
_Static_assert(PEAK_CHAINS == 16, "the '#pragma GCC unroll 16' below unroll PEAK_CHAINS");
/* Wall time one timed round aims at. */
#define PEAK_ROUND_SECONDS 0.2

typedef float (*peak_kernel)(long iters);

/* Where each round's result goes, so the compiler cannot drop the loops. */
static volatile float peak_sink;

/* iters x PEAK_CHAINS dependent FMAs (acc = acc·m + a converges to 1: no
 * overflow, no denormals); 32 FLOP each (16 lanes, multiply + add). */
__attribute__((target("avx512f"), noinline)) static float fma_chains(long iters) {
  __m512 m = _mm512_set1_ps(0.999999f), a = _mm512_set1_ps(1e-6f), acc[PEAK_CHAINS];
#pragma GCC unroll 16
  for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
#pragma GCC unroll 16
    for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], m, a);
#pragma GCC unroll 16
  for (int i = 1; i < PEAK_CHAINS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

/* iters x PEAK_CHAINS dependent vdpbf16ps (acc += x0·y0 + x1·y1 per lane, small
 * products so the sums stay finite); 64 FLOP each (16 lanes, two bf16
 * multiplies and two adds), the count oneDNN's bf16 matmul rate uses. */
__attribute__((target("avx512f,avx512bf16"), noinline)) static float dpbf16_chains(long iters) {
  __m512 v = _mm512_set1_ps(1.0f / 1024), acc[PEAK_CHAINS];
  __m512bh x = _mm512_cvtne2ps_pbh(v, v);
#pragma GCC unroll 16
  for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_set1_ps((float)i);
  for (long n = 0; n < iters; n++)
#pragma GCC unroll 16
    for (int i = 0; i < PEAK_CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], x, x);
#pragma GCC unroll 16
  for (int i = 1; i < PEAK_CHAINS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
  return _mm512_reduce_add_ps(acc[0]);
}

/* Seconds for every one of `threads` threads to run kernel(iters) at once,
 * from a common start to the last one's end. */
static double time_round(peak_kernel kernel, long iters, int threads) {
  double t0 = 0, t1 = 0;
#pragma omp parallel num_threads(threads)
  {
#pragma omp barrier
#pragma omp master
    t0 = lethe_now();
    float r = kernel(iters);
#pragma omp barrier
#pragma omp master
    {
      t1 = lethe_now();
      peak_sink = r;
    }
  }
  return t1 - t0;
}

/* Best GFLOP/s of `threads` threads at once over reps rounds. */
static double best_rate(peak_kernel kernel, long iters, int threads, double flop_per_iter,
                        int reps, double *rounds) {
  double best = 0;
  for (int r = 0; r < reps; r++) {
    double rate = threads * iters * flop_per_iter / time_round(kernel, iters, threads) / 1e9;
    if (rounds) rounds[r] = rate;
    if (rate > best) best = rate;
  }
  return best;
}

void bench_fma_peak(int reps, int bf16) {
  const char *isa = bf16 ? "avx512bf16" : "avx512f";
  int threads = bench_threads();
  int ok = __builtin_cpu_supports("avx512f") && (!bf16 || __builtin_cpu_supports("avx512bf16"));
  printf("{\"impl\": \"cpu\", \"mode\": \"peak\", \"compute\": \"%s\", \"threads\": %d, "
         "\"isa\": \"%s\", \"supported\": %s",
         bf16 ? "bf16" : "f32", threads, isa, ok ? "true" : "false");
  if (!ok) {
    printf("}\n");
    fprintf(stderr, "bench_llama peak: this CPU lacks %s; the %s peak is skipped\n", isa,
            bf16 ? "bf16" : "fp32");
    return;
  }
  peak_kernel kernel = bf16 ? dpbf16_chains : fma_chains;
  double flop_per_iter = PEAK_CHAINS * (bf16 ? 64.0 : 32.0);
  /* calibrate on one thread (this also brings the core up to speed) */
  long iters = 1 << 16;
  double secs;
  while ((secs = time_round(kernel, iters, 1)) < 0.02) iters *= 2;
  iters = (long)(iters * PEAK_ROUND_SECONDS / secs) + 1;
  double *rounds = lethe_calloc((size_t)reps, sizeof *rounds);
  double all = best_rate(kernel, iters, threads, flop_per_iter, reps, rounds);
  double one = threads > 1 ? best_rate(kernel, iters, 1, flop_per_iter, reps, NULL) : all;
  printf(", \"chains\": %d, \"flop_per_instruction\": %d, \"gflops\": %.1f, "
         "\"gflops_per_thread\": %.1f, \"gflops_one_thread\": %.1f, ",
         PEAK_CHAINS, bf16 ? 64 : 32, all, all / threads, one);
  bench_print_array("round_gflops", rounds, reps);
  printf("}\n");
  free(rounds);
}
