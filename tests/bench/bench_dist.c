/* bench_dist — what data parallelism communicates, timed (docs/scaling.md).
 * Run it under the launcher, e.g.
 *   mpirun -np 2 build/tests/bench/bench_dist [N_PARAMS [B T V]]
 * and it prints, per rank count, the time of the three collectives of one
 * step: the all-reduce of the flat gradient buffer (N_PARAMS floats), the
 * all-gather of per-token log-probs (B·T floats) and, for methods that need
 * logits, of the (B,T,V) logits. Defaults: the paper model of
 * configs/experiments/paper.cfg (3.9 M parameters) and one NPO+RT batch of
 * 64 rows × 128 positions over its 1350-token vocabulary. */
#include <stdio.h>
#include <stdlib.h>

#include "core/dist.h"

/* The best of `reps` timings (each the mean over the ranks), in seconds. */
static double best_of(int reps, void (*op)(void *), void *arg) {
  double best = 1e30;
  for (int r = 0; r < reps; r++) {
    dist_barrier();
    double t0 = lethe_now();
    op(arg);
    double t = lethe_now() - t0;
    dist_allreduce_sum_f64(&t, 1);
    t /= dist_size();
    if (t < best) best = t;
  }
  return best;
}

typedef struct job {
  float *buf;
  size_t n;       /* floats (all-reduce) or items (gathers) */
  size_t item;    /* bytes per item */
} job;

static void allreduce(void *arg) {
  job *j = arg;
  dist_allreduce_sum_f32(j->buf, j->n);
}

static void gather(void *arg) {
  job *j = arg;
  dist_allgather_shares(j->buf, j->item, (long)j->n, 0);
}

int main(int argc, char **argv) {
  lethe_err err = {0};
  if (dist_init(&argc, &argv, &err) != 0) {
    fprintf(stderr, "bench_dist: %s\n", err.msg);
    return 1;
  }
  size_t n_params = argc > 1 ? strtoull(argv[1], NULL, 10) : 3900000;
  size_t B = argc > 4 ? strtoull(argv[2], NULL, 10) : 64, T = argc > 4 ? strtoull(argv[3], NULL, 10) : 128;
  size_t V = argc > 4 ? strtoull(argv[4], NULL, 10) : 1350;
  float *buf = calloc(n_params > B * T * V ? n_params : B * T * V, sizeof(float));
  job grads = {buf, n_params, 0}, logp = {buf, B, T * sizeof(float)}, logits = {buf, B, T * V * sizeof(float)};
  double t_grads = best_of(10, allreduce, &grads), t_logp = best_of(10, gather, &logp);
  double t_logits = best_of(5, gather, &logits);
  if (dist_is_root())
    printf("ranks %d: all-reduce of %zu gradients (%.1f MB) %.2f ms; all-gather of logp (%zu x %zu, "
           "%.1f KB) %.3f ms; of logits (x %zu, %.1f MB) %.2f ms\n",
           dist_size(), n_params, 4e-6 * n_params, 1e3 * t_grads, B, T, 4e-3 * B * T, 1e3 * t_logp, V,
           4e-6 * B * T * V, 1e3 * t_logits);
  free(buf);
  dist_finalize();
  return 0;
}
