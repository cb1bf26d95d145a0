/* bench_peak — the CPU's arithmetic peak, the ceiling every GFLOP/s of the
 * benchmark is read against (see bench_util.h). The timed loops exist once per
 * ISA level (SSE baseline, AVX2+FMA, AVX-512, AVX512_BF16, AMX-BF16), each compiled for
 * its level by a function target attribute so the rest of the build keeps its
 * flags; the CPU is asked at run time which it has, capped by LETHE_ISA. Not a
 * model of any lethe kernel: no memory traffic, registers only. */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench_util.h"
#include "core/core.h"

/* The environment variable that caps the ISA level measured. */
#define ISA_ENV "LETHE_ISA"
/* Wall time one timed round aims at. */
#define PEAK_ROUND_SECONDS 0.2
/* One chain step is acc = acc·M + A: it converges to 1 (no overflow, no
 * denormals). */
#define PEAK_M 0.999999f
#define PEAK_A 1e-6f

/* Accumulators per kernel: with 32 vector registers (AVX-512), and with 16
 * (below it: the chains and the two constants). */
#define CHAINS_WIDE 16
#define CHAINS_NARROW 14

#define PRAGMA(x) _Pragma(#x)
#define UNROLL(n) PRAGMA(GCC unroll n)

/* Defines `static float name(long iters)`, compiled for `isa`: iters x chains
 * dependent steps on `chains` independent accumulators of type vec, more than
 * latency x throughput needs so the loop is bound by issue (Zen 5: two
 * 4-cycle 512-bit FMAs per cycle, so 8), few enough to stay in registers.
 * They start at i + 1/2: none at 1, where acc·M + A rounds back to 1 and the
 * compiler folds the chain away. Every lane runs the same chain; returns lane
 * 0 of their sum, which the caller keeps so the compiler cannot drop the loop. */
#define CHAINS_KERNEL(name, isa, vec, chains, set1, step, add, lane0)                    \
  __attribute__((target(isa), noinline)) static float name(long iters) {                 \
    vec acc[chains];                                                                     \
    UNROLL(chains) for (int i = 0; i < chains; i++) acc[i] = set1(i + 0.5f);             \
    for (long n = 0; n < iters; n++)                                                     \
      UNROLL(chains) for (int i = 0; i < chains; i++) acc[i] = step(acc[i]);             \
    UNROLL(chains) for (int i = 1; i < chains; i++) acc[0] = add(acc[0], acc[i]);        \
    return lane0(acc[0]);                                                                \
  }

/* 512-bit FMA: 32 FLOP (16 lanes, multiply + add). */
#define FMA512(x) _mm512_fmadd_ps(x, _mm512_set1_ps(PEAK_M), _mm512_set1_ps(PEAK_A))
CHAINS_KERNEL(fma512_chains, "avx512f", __m512, CHAINS_WIDE, _mm512_set1_ps, FMA512,
              _mm512_add_ps, _mm512_cvtss_f32)
/* 256-bit FMA: 16 FLOP. */
#define FMA256(x) _mm256_fmadd_ps(x, _mm256_set1_ps(PEAK_M), _mm256_set1_ps(PEAK_A))
CHAINS_KERNEL(fma256_chains, "avx2,fma", __m256, CHAINS_NARROW, _mm256_set1_ps, FMA256,
              _mm256_add_ps, _mm256_cvtss_f32)
/* 128-bit SSE multiply, then add: 8 FLOP (4 lanes, two instructions). */
#define MULADD128(x) _mm_add_ps(_mm_mul_ps(x, _mm_set1_ps(PEAK_M)), _mm_set1_ps(PEAK_A))
CHAINS_KERNEL(muladd128_chains, "sse2", __m128, CHAINS_NARROW, _mm_set1_ps, MULADD128,
              _mm_add_ps, _mm_cvtss_f32)
/* 512-bit vdpbf16ps (acc += x0·y0 + x1·y1 per lane, small products so the sums
 * stay finite): 64 FLOP (16 lanes, two bf16 multiplies and two adds), the
 * count oneDNN's bf16 matmul rate uses. */
#define BF16_SMALL _mm512_cvtne2ps_pbh(_mm512_set1_ps(1.0f / 1024), _mm512_set1_ps(1.0f / 1024))
#define DPBF16(x) _mm512_dpbf16_ps(x, BF16_SMALL, BF16_SMALL)
CHAINS_KERNEL(dpbf16_chains, "avx512f,avx512bf16", __m512, CHAINS_WIDE, _mm512_set1_ps, DPBF16,
              _mm512_add_ps, _mm512_cvtss_f32)

/* AMX (Sapphire Rapids and later; oneDNN's bf16 matmuls use it where the
 * CPU has it): one step is one tdpbf16ps on full tiles, C (16×16 fp32) +=
 * A (16×32 bf16) · B (32×16 bf16) = 8192 multiply-adds, 16384 FLOP. Four
 * accumulator tiles from two A and two B tiles, as a matmul's inner loop
 * keeps them; every value 1/1024, so the sums stay finite. Linux hands out
 * the tile registers only to a process that asked (ARCH_REQ_XCOMP_PERM). */
#define AMX_CHAINS 4
#define AMX_FLOP (16 * 16 * 32 * 2)
#define ARCH_REQ_XCOMP_PERM 0x1023
#define XFEATURE_XTILEDATA 18

typedef struct __attribute__((packed)) amx_tile_config {
  uint8_t palette, start_row, reserved[14];
  uint16_t colsb[16];
  uint8_t rows[16];
} amx_tile_config;

__attribute__((target("amx-tile,amx-bf16"), noinline)) static float amx_chains(long iters) {
  amx_tile_config cfg;
  memset(&cfg, 0, sizeof cfg);
  cfg.palette = 1;
  for (int t = 0; t < 8; t++) cfg.rows[t] = 16, cfg.colsb[t] = 64;
  _Alignas(64) uint16_t ab[16 * 32];
  _Alignas(64) float c[4][16 * 16];
  for (int i = 0; i < 16 * 32; i++) ab[i] = 0x3A80; /* bf16 of 1/1024 */
  _tile_loadconfig(&cfg);
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
  _tile_loadd(4, ab, 64);
  _tile_loadd(5, ab, 64);
  _tile_loadd(6, ab, 64);
  _tile_loadd(7, ab, 64);
  for (long n = 0; n < iters; n++) {
    _tile_dpbf16ps(0, 4, 6);
    _tile_dpbf16ps(1, 4, 7);
    _tile_dpbf16ps(2, 5, 6);
    _tile_dpbf16ps(3, 5, 7);
  }
  _tile_stored(0, c[0], 64);
  _tile_stored(1, c[1], 64);
  _tile_stored(2, c[2], 64);
  _tile_stored(3, c[3], 64);
  _tile_release();
  return c[0][0] + c[1][0] + c[2][0] + c[3][0];
}

typedef float (*peak_kernel)(long iters);

/* ISA levels, narrowest first; the names are LETHE_ISA's values. */
typedef enum { ISA_BASELINE, ISA_AVX2, ISA_AVX512, ISA_LEVELS } isa_level;
static const char *const isa_names[ISA_LEVELS] = {"baseline", "avx2", "avx512"};

typedef struct peak_variant {
  const char *compute;  /* "f32" or "bf16" (the JSON's "compute") */
  isa_level isa;        /* the level it is built for */
  int needs_bf16;       /* also needs AVX512_BF16 */
  int needs_amx;        /* also needs AMX-BF16, the OS's permission, and oneDNN allowed it */
  const char *features; /* what the CPU must have, for messages */
  const char *step;     /* what one step is, for the output */
  peak_kernel kernel;
  int chains, flop_per_step;
} peak_variant;

/* Widest first: of each compute, the first one the CPU and the cap allow is
 * measured. */
static const peak_variant variants[] = {
    {"f32", ISA_AVX512, 0, 0, "AVX512F", "512-bit FMA", fma512_chains, CHAINS_WIDE, 32},
    {"f32", ISA_AVX2, 0, 0, "AVX2 and FMA", "256-bit FMA", fma256_chains, CHAINS_NARROW, 16},
    {"f32", ISA_BASELINE, 0, 0, "SSE2", "128-bit mul+add", muladd128_chains, CHAINS_NARROW, 8},
    {"bf16", ISA_AVX512, 1, 1, "AMX-BF16", "AMX tdpbf16ps (16x16x32)", amx_chains, AMX_CHAINS,
     AMX_FLOP},
    {"bf16", ISA_AVX512, 1, 0, "AVX512_BF16", "512-bit bf16 dot product", dpbf16_chains,
     CHAINS_WIDE, 64},
};
#define N_VARIANTS (int)(sizeof variants / sizeof variants[0])
/* The computes measured: the JSON's key and the name people read. */
static const struct {
  const char *key, *name;
} computes[] = {{"f32", "fp32"}, {"bf16", "bf16"}};

/* What the CPU has and what LETHE_ISA allows. */
typedef struct peak_isa {
  isa_level cpu, cap;  /* cap = ISA_AVX512 when LETHE_ISA is unset */
  int bf16;            /* the CPU has AVX512_BF16 */
  int amx;             /* the CPU has AMX-BF16 and the OS lets this process use it */
  const char *amx_off; /* NULL, or why AMX is not measured though the CPU has it */
  const char *cap_env; /* LETHE_ISA's value; NULL when unset or empty */
} peak_isa;

/* Where each round's result goes, so the compiler cannot drop the loops. */
static volatile float peak_sink;

/* Asks the CPU (and so the OS: a feature whose registers it does not save
 * counts as absent) which level it has. */
static void cpu_isa(peak_isa *p) {
  __builtin_cpu_init();
  p->cpu = ISA_BASELINE; /* x86-64 always has SSE2 */
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) p->cpu = ISA_AVX2;
  if (__builtin_cpu_supports("avx512f")) p->cpu = ISA_AVX512;
  p->bf16 = p->cpu == ISA_AVX512 && __builtin_cpu_supports("avx512bf16");
  p->amx = p->bf16 && __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-bf16");
  p->amx_off = NULL;
  if (p->amx && syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0)
    p->amx = 0, p->amx_off = "the kernel refused the AMX tile state (ARCH_REQ_XCOMP_PERM)";
  /* a cap below AMX keeps oneDNN's bf16 matmuls off it: the peak follows */
  const char *dnnl = getenv("ONEDNN_MAX_CPU_ISA");
  if (p->amx && dnnl && *dnnl && strcasecmp(dnnl, "ALL") && !strstr(dnnl, "AMX") &&
      !strstr(dnnl, "amx"))
    p->amx = 0, p->amx_off = "ONEDNN_MAX_CPU_ISA keeps oneDNN off AMX";
}

/* Reads LETHE_ISA (unset or empty: no cap); an unknown value is an error. */
static int isa_cap(peak_isa *p, lethe_err *err) {
  p->cap_env = getenv(ISA_ENV);
  p->cap = ISA_AVX512;
  if (!p->cap_env || !*p->cap_env) {
    p->cap_env = NULL;
    return 0;
  }
  for (int i = 0; i < ISA_LEVELS; i++)
    if (!strcmp(p->cap_env, isa_names[i])) {
      p->cap = (isa_level)i;
      return 0;
    }
  return lethe_errf(err, LETHE_E_USAGE, "%s=%s: expected one of baseline, avx2, avx512", ISA_ENV,
                    p->cap_env);
}

/* NULL if v can run here; otherwise why not, in buf. */
static const char *unavailable(const peak_variant *v, const peak_isa *p, char *buf, size_t n) {
  if (v->needs_amx && !p->amx && p->amx_off)
    snprintf(buf, n, "%s", p->amx_off);
  else if (v->isa > p->cpu || (v->needs_bf16 && !p->bf16) || (v->needs_amx && !p->amx))
    snprintf(buf, n, "this CPU lacks %s", v->features);
  else if (v->isa > p->cap)
    snprintf(buf, n, "%s=%s caps the ISA below %s", ISA_ENV, p->cap_env, isa_names[v->isa]);
  else
    return NULL;
  return buf;
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
static double best_rate(const peak_variant *v, long iters, int threads, int reps,
                        double *rounds) {
  double best = 0, flop = (double)v->chains * v->flop_per_step;
  for (int r = 0; r < reps; r++) {
    double rate = threads * iters * flop / time_round(v->kernel, iters, threads) / 1e9;
    if (rounds) rounds[r] = rate;
    if (rate > best) best = rate;
  }
  return best;
}

/* Iterations for a round of ~PEAK_ROUND_SECONDS, calibrated on one thread
 * (this also brings the core up to speed). */
static long round_iters(peak_kernel kernel) {
  long iters = 1 << 16;
  double secs;
  while ((secs = time_round(kernel, iters, 1)) < 0.02) iters *= 2;
  return (long)(iters * PEAK_ROUND_SECONDS / secs) + 1;
}

/* The JSON fields every peak line starts with. */
static void print_head(const char *compute, const peak_isa *p, int threads) {
  printf("{\"impl\": \"cpu\", \"mode\": \"peak\", \"compute\": \"%s\", \"threads\": %d, "
         "\"cpu_isa\": \"%s\", \"isa_cap\": ",
         compute, threads, isa_names[p->cpu]);
  if (p->cap_env)
    printf("\"%s\", ", p->cap_env);
  else
    printf("null, ");
}

/* Times v and prints its JSON line, and one line for people (on stderr: the
 * results file takes JSON only). */
static void measure(const peak_variant *v, const char *name, const peak_isa *p, int reps,
                    int threads) {
  long iters = round_iters(v->kernel);
  double *rounds = lethe_calloc((size_t)reps, sizeof *rounds);
  double all = best_rate(v, iters, threads, reps, rounds);
  double one = threads > 1 ? best_rate(v, iters, 1, reps, NULL) : all;
  print_head(v->compute, p, threads);
  printf("\"supported\": true, \"isa\": \"%s\", \"step\": \"%s\", \"chains\": %d, "
         "\"flop_per_step\": %d, \"gflops\": %.1f, \"gflops_per_thread\": %.1f, "
         "\"gflops_one_thread\": %.1f, ",
         isa_names[v->isa], v->step, v->chains, v->flop_per_step, all, all / threads, one);
  bench_print_array("round_gflops", rounds, reps);
  printf("}\n");
  fflush(stdout);
  fprintf(stderr, "%s peak (%s, %s): %.1f GFLOP/s on %d thread%s (%.1f per thread, %.1f on one)\n",
          name, isa_names[v->isa], v->step, all, threads, threads > 1 ? "s" : "", all / threads,
          one);
  free(rounds);
}

/* The widest variant of `compute` allowed here, or NULL with why not in buf. */
static const peak_variant *pick(const char *compute, const peak_isa *p, char *buf, size_t n) {
  for (int i = 0; i < N_VARIANTS; i++)
    if (!strcmp(variants[i].compute, compute) && !unavailable(&variants[i], p, buf, n))
      return &variants[i];
  return NULL;
}

int bench_peak(int reps, lethe_err *err) {
  peak_isa p;
  cpu_isa(&p);
  if (isa_cap(&p, err) != 0) return -1;
  int threads = bench_threads();
  for (size_t c = 0; c < sizeof computes / sizeof computes[0]; c++) {
    char why[128];
    const peak_variant *v = pick(computes[c].key, &p, why, sizeof why);
    if (v) {
      measure(v, computes[c].name, &p, reps, threads);
      continue;
    }
    print_head(computes[c].key, &p, threads);
    printf("\"supported\": false, \"reason\": \"%s\"}\n", why);
    fprintf(stderr, "%s peak: not available: %s\n", computes[c].name, why);
  }
  return 0;
}
