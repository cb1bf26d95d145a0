/* bench_util — small helpers shared by the benchmark programs: medians,
 * JSON arrays, the thread count, the oneDNN matmul roofline and the CPU's
 * arithmetic peak (bench_peak.c), the process's resident memory. */
#ifndef LETHE_BENCH_UTIL_H
#define LETHE_BENCH_UTIL_H

#include <stdint.h>

#include "core/core.h"
#include "model/config.h"

/* The benchmark model: head_dim 64, heads = hidden/64 unless given (0),
 * kv_heads = heads unless given, SwiGLU width 8·hidden/3 rounded up to 32
 * unless given, untied head, init std 0.02, positions up to max_t. */
void bench_model_config(llama_config *cfg, int hidden, int layers, int heads, int kv_heads,
                        int ffn, int vocab, int max_t);
/* Random tokens (seed 2) and next-token targets (the last position has none: -1). */
void bench_make_batch(int32_t *tok, int32_t *tgt, int B, int T, int V);
/* Model FLOPs of one forward over B·T tokens: 2 per weight per token for every
 * linear layer and the head, plus QKᵀ and PV over the full T×T (the usual
 * convention; the causal blocking actually skips part of that). */
double bench_forward_flops(const llama_config *c, int B, int T);
/* The forward FLOPs lethe performs on one batch of (B, T) with `rows`
 * unmasked positions (skipped padding: llama_set_skip_padding) and
 * `head_rows` positions through the LM head (chunked logits: those with a
 * target): the linear layers on those rows, the attention on the padded
 * (B, T) layout. */
double bench_forward_flops_done(const llama_config *c, int B, int T, double rows,
                                double head_rows);

/* A field of /proc/self/status in MiB (VmRSS = resident now, VmHWM = peak
 * resident), -1 where there is none. */
double bench_status_mib(const char *field);
/* Restarts VmHWM from the current resident set (Linux /proc/self/clear_refs
 * "5"); 0 on success, -1 where that is not possible. */
int bench_reset_peak(void);

/* Threads the OpenMP runtime (and so oneDNN) will use. */
int bench_threads(void);
/* Median of n values (n >= 1); x is left unchanged. */
double bench_median(const double *x, int n);
/* Prints "name": [x0, x1, ...] (no newline). */
void bench_print_array(const char *name, const double *x, int n);
/* Times every linear-layer product of one training step of cfg with M =
 * batch·seq tokens (forward X·Wᵀ, dX = dY·W, dW += dYᵀ·X for each weight shape) and
 * prints one JSON line: per-shape GFLOP/s (median of reps), the best, and the
 * step-weighted rate. bf16 != 0 times bfloat16 inputs instead of float32. */
void bench_matmul_roofline(const llama_config *cfg, int seq, int batch, int reps, int bf16);
/* The CPU's peak: every OpenMP thread at once runs independent chains of the
 * widest fp32 multiply-add the CPU has (asked at run time) — AVX-512 FMAs
 * (_mm512_fmadd_ps, 32 FLOP each), else AVX2 FMAs (_mm256_fmadd_ps, 16), else
 * SSE multiply then add (8 per pair) — and, where it has AVX512_BF16, bf16 dot
 * products (_mm512_dpbf16_ps, 64 FLOP each); registers only. The environment
 * variable LETHE_ISA (baseline, avx2 or avx512) caps the level: the measured
 * one is the lower of the CPU's and the cap. Prints one JSON line per compute
 * (f32, bf16) naming the ISA measured: the best GFLOP/s of reps rounds on all
 * threads, per thread, on one thread, and every all-thread round; where bf16
 * cannot run, its line says "supported": false and why (also on stderr, with
 * a line for people per measured peak). Returns 0, or -1 with err set, before
 * timing anything, when LETHE_ISA holds another value. */
int bench_peak(int reps, lethe_err *err);

#endif
