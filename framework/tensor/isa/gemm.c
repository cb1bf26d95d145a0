/* gemm — lethe's own float32 matmul, compiled once per ISA level (see
 * tensor_isa.h; the file is built with -march for the level and
 * -ffp-contract=off, its functions named with LETHE_ISA_SUFFIX).
 *
 * Every element of C is one chain of fused (AVX2, AVX-512) or separate
 * (baseline) multiply-adds over k = 0, 1, ..., K-1 in order, started from
 * zero; then C = alpha·acc, or C = C + alpha·acc when accumulating. So the
 * AVX2 and AVX-512 variants give the same bits. The chain is cut into
 * blocks of at most KC (the partial sums go through memory in float32, exactly)
 * and the work is split over threads by output tiles only, never over k. So
 * an element's value depends on its row of A, its column of B and K alone:
 * not on M, N, the batch it is in, the thread count or pointer alignment.
 * That is what makes training and evaluation independent of thread and rank
 * counts on CPUs where oneDNN's own f32 kernels (gemm:jit) are not.
 *
 * The usual structure (as BLIS describes it): per KC block a panel of B (NR
 * columns, k-major) is packed into a per-thread buffer, and a register-tiled
 * micro-kernel multiplies up to MR rows of A, read where they are (packed
 * when neither stride is 1, or when the columns are contiguous and several
 * panels of B read them), into a tile of partial sums.
 * Not here: bf16 inputs (oneDNN on CPUs that have them), choosing this or
 * oneDNN (tensor.c). */
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tensor/tensor_isa.h"

/* The register tile: MR rows × NR = 2 vectors of columns. AVX-512 has 32
 * vector registers: 12 rows × 2 zmm = 24 accumulators, 2 of B and 1
 * broadcast; AVX2 has 16: 6 × 2 ymm. KC keeps a packed B panel (KC × NR)
 * at 16 KiB, in L1 (32-48 KiB on the CPUs seen) with room for A's streams. */
#if defined(__AVX512F__)
#include <immintrin.h>
typedef __m512 vf;
#define VW 16
#define MR 12
#define KC 128
#define vload _mm512_loadu_ps
#define vstore _mm512_storeu_ps
#define vzero _mm512_setzero_ps
#define vfma _mm512_fmadd_ps
#define vadd _mm512_add_ps
#define vbroadcast _mm512_set1_ps
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
typedef __m256 vf;
#define VW 8
#define MR 6
#define KC 256
#define vload _mm256_loadu_ps
#define vstore _mm256_storeu_ps
#define vzero _mm256_setzero_ps
#define vfma _mm256_fmadd_ps
#define vadd _mm256_add_ps
#define vbroadcast _mm256_set1_ps
#else
#define MR 4
#define KC 256
#endif
#ifdef VW
#define NR (2 * VW)
#define FUSED 1
#else
#define NR 8
#endif
#define MC (16 * MR) /* rows per pass over a packed B block */
#define NC_MAX 256   /* columns of B packed at once (L2) */
#define ROWS_MAX (4 * MC)

/* Per-thread scratch, 64-byte aligned, grown once and kept for the thread's
 * life: packed B (KC×NC_MAX), the partial sums of one task
 * (ROWS_MAX×NC_MAX) and a packed block of A (MC×KC, as slivers). */
typedef struct scratch {
  float *b, *c, *a;
} scratch;

static _Thread_local scratch tls __attribute__((tls_model("initial-exec")));

static float *aligned_floats(size_t n) {
  void *p = NULL;
  if (posix_memalign(&p, 64, n * sizeof(float)) != 0) abort();
  return p;
}

static scratch *scratch_get(void) {
  if (!tls.b) {
    tls.b = aligned_floats((size_t)KC * NC_MAX);
    tls.c = aligned_floats((size_t)ROWS_MAX * NC_MAX);
    tls.a = aligned_floats((size_t)MC * KC);
  }
  return &tls;
}

/* ---- packing ----------------------------------------------------------------- */
/* dst (kc × NR, k-major) = columns [0, cols) of B (strides sk, sn), zero
 * beyond: the general case. */
static void pack_panel_any(float *dst, const float *b, int64_t sk, int64_t sn, int kc, int cols) {
  for (int k = 0; k < kc; k++) {
    for (int j = 0; j < cols; j++) dst[k * NR + j] = b[k * sk + j * sn];
    for (int j = cols; j < NR; j++) dst[k * NR + j] = 0.0f;
  }
}

#ifdef FUSED
/* Columns contiguous in k (sk = 1: B is a transposed row-major matrix, as
 * Wᵀ in X·Wᵀ): 8×8 blocks transposed in registers (the loops unrolled:
 * left as loops, GCC kept r and t on the stack). */
static void pack_panel_kmajor(float *dst, const float *b, int64_t sn, int kc) {
  int k8 = kc / 8 * 8;
  for (int j0 = 0; j0 < NR; j0 += 8) /* eight rows of B at a time, along k */
    for (int k = 0; k < k8; k += 8) {
      __m256 r[8], t[8];
#pragma GCC unroll 8
      for (int j = 0; j < 8; j++) r[j] = _mm256_loadu_ps(b + (j0 + j) * sn + k);
#pragma GCC unroll 4
      for (int j = 0; j < 8; j += 2) {
        t[j] = _mm256_unpacklo_ps(r[j], r[j + 1]);
        t[j + 1] = _mm256_unpackhi_ps(r[j], r[j + 1]);
      }
#pragma GCC unroll 2
      for (int j = 0; j < 8; j += 4) {
        r[j] = _mm256_shuffle_ps(t[j], t[j + 2], 0x44);
        r[j + 1] = _mm256_shuffle_ps(t[j], t[j + 2], 0xee);
        r[j + 2] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0x44);
        r[j + 3] = _mm256_shuffle_ps(t[j + 1], t[j + 3], 0xee);
      }
      /* r[0..3]: k rows {0,4}, {1,5}, {2,6}, {3,7} of columns 0-3 (lanes) and
       * r[4..7] of columns 4-7; permute the 128-bit halves into rows */
#pragma GCC unroll 4
      for (int q = 0; q < 4; q++) {
        _mm256_store_ps(dst + (k + q) * NR + j0, _mm256_permute2f128_ps(r[q], r[q + 4], 0x20));
        _mm256_store_ps(dst + (k + q + 4) * NR + j0, _mm256_permute2f128_ps(r[q], r[q + 4], 0x31));
      }
    }
  if (k8 < kc) pack_panel_any(dst + k8 * NR, b + k8, 1, sn, kc - k8, NR);
}
#else
static void pack_panel_kmajor(float *dst, const float *b, int64_t sn, int kc) {
  pack_panel_any(dst, b, 1, sn, kc, NR);
}
#endif

/* bp gets k-rows [0, kc) × columns [0, n) of B (strides sk, sn) as panels of
 * NR columns, k-major inside a panel; columns past n are zero. */
static void pack_b(float *bp, const float *b, int64_t sk, int64_t sn, int kc, int n) {
  int full = n / NR * NR, j0 = 0;
  if (sn == 1) { /* rows of B contiguous: each k-row read once, front to back */
    for (int k = 0; k < kc; k++)
      for (int j = 0; j < full; j += NR)
        memcpy(bp + (size_t)j * kc + k * NR, b + k * sk + j, sizeof(float) * NR);
    j0 = full;
  }
  for (; j0 < n; j0 += NR) {
    int cols = n - j0 < NR ? n - j0 : NR;
    float *dst = bp + (size_t)j0 * kc;
    if (sk == 1 && cols == NR)
      pack_panel_kmajor(dst, b + j0 * sn, sn, kc);
    else
      pack_panel_any(dst, b + j0 * sn, sk, sn, kc, cols);
  }
}

/* Rows [0, rows) of A (strides sm, sk) over kc steps, packed as slivers of
 * MR rows, each k-major (kc × MR; rows past `rows` zero): sliver q at
 * dst + q·kc·MR, read by the micro-kernel with strides (1, MR). For an A
 * whose columns are contiguous (sm = 1: a transposed operand, as dY in a
 * weight gradient) the micro-kernel would otherwise touch a new cache line
 * at every k, once for each panel of B; packed once per block, it reads one
 * contiguous stream. */
static void pack_a(float *dst, const float *a, int64_t sm, int64_t sk, int rows, int kc) {
  int full = sm == 1 ? rows / MR : 0; /* slivers copied k-row by k-row */
  for (int k = 0; k < kc; k++) /* each k-row of A read once, front to back */
    for (int q = 0; q < full; q++)
      memcpy(dst + (size_t)q * kc * MR + k * MR, a + q * MR + k * sk, sizeof(float) * MR);
  for (int q = full; q * MR < rows; q++) {
    float *d = dst + (size_t)q * kc * MR;
    int r0 = q * MR, n = rows - r0 < MR ? rows - r0 : MR;
    for (int k = 0; k < kc; k++) {
      const float *src = a + r0 * sm + k * sk;
      for (int r = 0; r < n; r++) d[k * MR + r] = src[r * sm];
      for (int r = n; r < MR; r++) d[k * MR + r] = 0.0f;
    }
  }
}

/* ---- micro-kernel -------------------------------------------------------------- */
/* A rows×NR tile (rows <= MR): acc = (from ? from : 0) + A·B over kc steps, where A's
 * element (r, k) is at a[r·sm + k·sk] and B's row k (NR values) at
 * bp + k·ldb; then to = acc, or to = to + acc with add (row strides ldf,
 * ldt). from and to are partial sums, or to is C itself after the last k. */
#ifdef FUSED
/* Written out: the accumulators in registers (an array indexed in a loop
 * would be kept in memory at -O2). Two addressings, so that the loop needs no
 * stride from memory: rows of A contiguous in k (sk = 1: a pointer per row
 * and the index k) or sliver columns contiguous (sm = 1: one pointer, + sk). */
#define ROW_LOAD(r)                                       \
  vf c##r##0 = from ? vload(from + r * ldf) : vzero();   \
  vf c##r##1 = from ? vload(from + r * ldf + VW) : vzero()
#define ROW_FMA(r, where)         \
  x = vbroadcast(*(where));       \
  c##r##0 = vfma(x, b0, c##r##0); \
  c##r##1 = vfma(x, b1, c##r##1)
#define ROW_STORE(r)                                   \
  if (add) {                                           \
    c##r##0 = vadd(vload(to + r * ldt), c##r##0);      \
    c##r##1 = vadd(vload(to + r * ldt + VW), c##r##1); \
  }                                                    \
  vstore(to + r * ldt, c##r##0);                       \
  vstore(to + r * ldt + VW, c##r##1)
#if MR == 12
#define MORE_LOADS ROW_LOAD(6); ROW_LOAD(7); ROW_LOAD(8); ROW_LOAD(9); ROW_LOAD(10); ROW_LOAD(11);
#define MORE_FMAS(AT)                                       \
  ROW_FMA(6, AT(6)); ROW_FMA(7, AT(7)); ROW_FMA(8, AT(8));  \
  ROW_FMA(9, AT(9)); ROW_FMA(10, AT(10)); ROW_FMA(11, AT(11));
#define MORE_STORES                                                                  \
  ROW_STORE(6); ROW_STORE(7); ROW_STORE(8); ROW_STORE(9); ROW_STORE(10); ROW_STORE(11)
#else
#define MORE_LOADS
#define MORE_FMAS(AT)
#define MORE_STORES
#endif
#define MICRO_BODY(step, AT)                                                         \
  ROW_LOAD(0); ROW_LOAD(1); ROW_LOAD(2); ROW_LOAD(3); ROW_LOAD(4); ROW_LOAD(5);       \
  MORE_LOADS                                                                         \
  for (int k = 0; k < kc; k++, bp += ldb, step) {                                    \
    vf b0 = vload(bp), b1 = vload(bp + VW), x;                                       \
    ROW_FMA(0, AT(0)); ROW_FMA(1, AT(1)); ROW_FMA(2, AT(2));                         \
    ROW_FMA(3, AT(3)); ROW_FMA(4, AT(4)); ROW_FMA(5, AT(5));                         \
    MORE_FMAS(AT)                                                                    \
  }                                                                                  \
  ROW_STORE(0); ROW_STORE(1); ROW_STORE(2); ROW_STORE(3); ROW_STORE(4); ROW_STORE(5); \
  MORE_STORES

/* Rows of A in place: row r at a + r·sm + k (with twelve rows, rows 6-11
 * from a second base a + 6·sm, so the offsets stay those of six rows). */
#define AT_ROWS(r) ((r) < 6 ? a + (r)*sm + k : a6 + ((r)-6) * sm + k)
static void micro_rows(int kc, const float *a, int64_t sm, const float *bp, int64_t ldb,
                       const float *from, int64_t ldf, float *to, int64_t ldt, int add) {
  const float *a6 = a + 6 * sm;
  (void)a6;
  MICRO_BODY((void)0, AT_ROWS);
}

#define AT_COLS(r) (a + (r))
static void micro_cols(int kc, const float *a, int64_t sk, const float *bp, int64_t ldb,
                       const float *from, int64_t ldf, float *to, int64_t ldt, int add) {
  MICRO_BODY(a += sk, AT_COLS);
}

/* Fewer than MR rows (R, a constant once inlined): no padded rows to compute
 * (a single query row of attention would waste the rest). */
static inline __attribute__((always_inline)) void micro_r(const int R, int kc, const float *a,
                                                          int64_t sm, int64_t sk, const float *bp,
                                                          int64_t ldb, const float *from, int64_t ldf,
                                                          float *to, int64_t ldt, int add) {
  vf c0[MR], c1[MR];
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    c0[r] = from ? vload(from + r * ldf) : vzero();
    c1[r] = from ? vload(from + r * ldf + VW) : vzero();
  }
  for (int64_t k = 0; k < kc; k++, bp += ldb) {
    vf b0 = vload(bp), b1 = vload(bp + VW);
#pragma GCC unroll 12
    for (int r = 0; r < R; r++) {
      vf x = vbroadcast(a[r * sm + k * sk]);
      c0[r] = vfma(x, b0, c0[r]);
      c1[r] = vfma(x, b1, c1[r]);
    }
  }
#pragma GCC unroll 12
  for (int r = 0; r < R; r++) {
    if (add) {
      c0[r] = vadd(vload(to + r * ldt), c0[r]);
      c1[r] = vadd(vload(to + r * ldt + VW), c1[r]);
    }
    vstore(to + r * ldt, c0[r]);
    vstore(to + r * ldt + VW, c1[r]);
  }
}

#define MICRO_R(R) \
  case R: micro_r(R, kc, a, sm, sk, bp, ldb, from, ldf, to, ldt, add); break
static void micro(int rows, int kc, const float *a, int64_t sm, int64_t sk, const float *bp,
                  int64_t ldb, const float *from, int64_t ldf, float *to, int64_t ldt, int add) {
  switch (rows) {
  case MR:
    if (sk == 1) micro_rows(kc, a, sm, bp, ldb, from, ldf, to, ldt, add);
    else micro_cols(kc, a, sk, bp, ldb, from, ldf, to, ldt, add); /* sm == 1 (task() packs others) */
    break;
    MICRO_R(1); MICRO_R(2); MICRO_R(3); MICRO_R(4); MICRO_R(5);
#if MR == 12
    MICRO_R(6); MICRO_R(7); MICRO_R(8); MICRO_R(9); MICRO_R(10); MICRO_R(11);
#endif
  default: break;
  }
}
#else
static void micro(int rows, int kc, const float *a, int64_t sm, int64_t sk, const float *bp,
                  int64_t ldb, const float *from, int64_t ldf, float *to, int64_t ldt, int add) {
  float c[MR][NR];
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < NR; j++) c[r][j] = from ? from[r * ldf + j] : 0.0f;
  for (int k = 0; k < kc; k++) {
    for (int r = 0; r < rows; r++) {
      float x = a[r * sm + k * sk];
      for (int j = 0; j < NR; j++) c[r][j] += x * bp[j];
    }
    bp += ldb;
  }
  for (int r = 0; r < rows; r++)
    for (int j = 0; j < NR; j++) to[r * ldt + j] = add ? to[r * ldt + j] + c[r][j] : c[r][j];
}
#endif

/* ---- one task: rows × columns of C ----------------------------------------------------- */
/* The blocking (rows, nc, MC, KC) never changes a value: every element is
 * the same chain over k whichever block it falls in, so it may follow the
 * shape and the thread count. */
typedef struct blocking {
  int64_t rows, nc; /* C rows and columns per task */
  int64_t tasks_m, tasks_n, per_batch;
} blocking;

/* Round x up to a multiple of q. */
static int64_t round_up(int64_t x, int64_t q) { return (x + q - 1) / q * q; }

/* The split of C into equal tasks that finishes first: each thread takes
 * ceil(tasks / threads) tasks, and a task costs its multiply-adds plus the
 * packing of its B block (PACK_COST multiply-adds a float: strided loads
 * and a transpose), so fewer, larger tasks pack less and more tasks balance
 * better. Rows per task are a multiple of MR, columns of NR, within the
 * scratch (ROWS_MAX × NC_MAX). */
#define PACK_COST 16
static blocking plan(const tensor_gemm_args *g, int threads) {
  blocking best = {0, 0, 0, 0, 0};
  double best_cost = 0;
  int64_t tm0 = (g->m + ROWS_MAX - 1) / ROWS_MAX, tn0 = (g->n + NC_MAX - 1) / NC_MAX;
  for (int64_t tm = tm0; tm <= tm0 + 8; tm++) {
    int64_t rows = round_up((g->m + tm - 1) / tm, MR);
    if (tm > tm0 && rows == best.rows) continue;
    for (int64_t tn = tn0; tn <= tn0 + 8; tn++) {
      int64_t nc = round_up((g->n + tn - 1) / tn, NR);
      blocking p = {rows, nc, (g->m + rows - 1) / rows, (g->n + nc - 1) / nc, 0};
      p.per_batch = p.tasks_m * p.tasks_n;
      int64_t rounds = (p.per_batch * g->batch + threads - 1) / threads;
      double cost = (double)rounds * ((double)rows * nc + PACK_COST * (double)nc) * (double)g->k;
      if (best.rows == 0 || cost < best_cost) best = p, best_cost = cost;
      if (nc <= NR) break;
    }
    if (rows <= MR) break;
  }
  return best;
}

/* C row (n values) from its partial sums: alpha·acc, or row + alpha·acc. */
static void write_row(float *restrict row, int64_t scn, const float *restrict acc, int n,
                      float alpha, int accumulate) {
  if (scn != 1) {
    for (int j = 0; j < n; j++)
      row[j * scn] = accumulate ? row[j * scn] + alpha * acc[j] : alpha * acc[j];
  } else if (accumulate) {
    for (int j = 0; j < n; j++) row[j] = row[j] + alpha * acc[j];
  } else if (alpha != 1.0f) {
    for (int j = 0; j < n; j++) row[j] = alpha * acc[j];
  } else {
    memcpy(row, acc, sizeof(float) * (size_t)n);
  }
}

/* Rows of C up to which B is read where it is (when its rows are
 * contiguous): packing costs more than it saves for a few rows. */
#define DIRECT_B_ROWS (4 * MR)
/* Rows of C for which X·Wᵀ runs as (W·Xᵀ)ᵀ (see tensor_gemm): from a
 * quarter of a B panel (fewer would waste most of each NR-wide panel) to 64. */
#define SWAP_MIN_ROWS (NR / 4)
#define SWAP_ROWS 64

/* C (m×n at c) from A rows (at a) and B columns (at b), m <= ROWS_MAX,
 * n <= NC_MAX. Per k block, B is packed once for all m rows (or, for few
 * rows and contiguous B rows, read in place but for a ragged last panel).
 * Partial sums between k blocks live in s->c; after the last block, full
 * tiles of an unscaled product go straight into C (added with accumulate),
 * the rest through write_row. */
static void task(const tensor_gemm_args *g, float *c, const float *a, const float *b, int m, int n) {
  scratch *s = scratch_get();
  int np = (n + NR - 1) / NR * NR, n_full = n / NR * NR;
  int direct_b = g->sbn == 1 && m <= DIRECT_B_ROWS;
  int direct_c = g->k > 0 && g->alpha == 1.0f && g->scn == 1;
  /* A is packed unless its rows are contiguous in k (read in place, MR
   * streams); with columns contiguous only when more than one panel of B
   * reads each block (else every line is read once anyway) */
  int packed_a = g->sak != 1 && (g->sam != 1 || np > NR);
  if (g->k == 0) memset(s->c, 0, sizeof(float) * (size_t)m * NC_MAX);
  /* k in equal blocks of at most KC (516 = 4 × 129, not 4 × 128 + 4: a
   * block of a few k would load and store the tile for almost nothing) */
  int64_t blocks = (g->k + KC - 1) / KC, step = blocks ? (g->k + blocks - 1) / blocks : KC;
  for (int64_t p0 = 0; p0 < g->k; p0 += step) {
    int kc = g->k - p0 < step ? (int)(g->k - p0) : (int)step, last = p0 + kc == g->k;
    const float *bk = b + p0 * g->sbk;
    if (!direct_b) pack_b(s->b, bk, g->sbk, g->sbn, kc, n);
    else if (n_full < n) pack_b(s->b + (size_t)n_full * kc, bk + n_full, g->sbk, 1, kc, n - n_full);
    for (int i1 = 0; i1 < m; i1 += MC) {
      int mb = m - i1 < MC ? m - i1 : MC;
      if (packed_a) pack_a(s->a, a + i1 * g->sam + p0 * g->sak, g->sam, g->sak, mb, kc);
      for (int j0 = 0; j0 < np; j0 += NR) {
        int in_place = direct_b && j0 < n_full;
        const float *bp = in_place ? bk + j0 : s->b + (size_t)j0 * kc;
        int64_t ldb = in_place ? g->sbk : NR;
        for (int i0 = i1; i0 < i1 + mb; i0 += MR) {
          const float *ar = a + i0 * g->sam + p0 * g->sak;
          int64_t sm = g->sam, sk = g->sak;
          int rows = m - i0 < MR ? m - i0 : MR;
          if (packed_a) ar = s->a + (size_t)(i0 - i1) * kc, sm = 1, sk = MR;
          float *partial = s->c + (size_t)i0 * NC_MAX + j0;
          const float *from = p0 ? partial : NULL;
          if (last && direct_c && j0 < n_full)
            micro(rows, kc, ar, sm, sk, bp, ldb, from, NC_MAX, c + i0 * g->scm + j0, g->scm,
                  g->accumulate);
          else
            micro(rows, kc, ar, sm, sk, bp, ldb, from, NC_MAX, partial, NC_MAX, 0);
        }
      }
    }
  }
  for (int i = 0; i < m; i++) { /* what did not go straight into C */
    int from = direct_c ? n_full : 0;
    if (from < n)
      write_row(c + i * g->scm + from, g->scn, s->c + (size_t)i * NC_MAX + from, n - from, g->alpha,
                g->accumulate);
  }
}

/* ---- the whole product -------------------------------------------------------------- */
/* The same product with the operands' roles exchanged, Cᵀ = Bᵀ·Aᵀ: every
 * element is the same chain of the same products (a·b = b·a exactly, also
 * inside a fused multiply-add), so the values do not change. */
static tensor_gemm_args transposed(const tensor_gemm_args *g) {
  tensor_gemm_args t = *g;
  t.a = g->b, t.b = g->a;
  t.m = g->n, t.n = g->m;
  t.sam = g->sbn, t.sak = g->sbk, t.sbk = g->sak, t.sbn = g->sam;
  t.scm = g->scn, t.scn = g->scm;
  for (int i = 0; i < 2; i++) t.sa_b[i] = g->sb_b[i], t.sb_b[i] = g->sa_b[i];
  return t;
}

void LETHE_ISA_NAME(tensor_gemm)(const tensor_gemm_args *g) {
  /* few rows times a B whose columns are contiguous in k (X·Wᵀ while
   * decoding) run as Cᵀ = W·Xᵀ: the large operand is read in place and only
   * the few rows are packed */
  if (g->m >= SWAP_MIN_ROWS && g->m <= SWAP_ROWS && g->sbk == 1 && g->sbn != 1 && g->n > g->m) {
    tensor_gemm_args t = transposed(g);
    LETHE_ISA_NAME(tensor_gemm)(&t);
    return;
  }
  double flops = 2.0 * (double)g->m * (double)g->n * (double)g->k * (double)g->batch;
  int threads = flops > 2e5 ? omp_get_max_threads() : 1;
  blocking p = plan(g, threads);
  int64_t total = p.per_batch * g->batch;
  /* Tasks in a fixed order; which thread takes one never changes its value. */
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads) if (threads > 1)
  for (int64_t t = 0; t < total; t++) {
    int64_t bi = t / p.per_batch, rest = t % p.per_batch;
    int64_t i0 = (rest % p.tasks_m) * p.rows, j0 = (rest / p.tasks_m) * p.nc;
    int m = g->m - i0 < p.rows ? (int)(g->m - i0) : (int)p.rows;
    int n = g->n - j0 < p.nc ? (int)(g->n - j0) : (int)p.nc;
    int64_t b1 = bi / g->batch_inner, b2 = bi % g->batch_inner;
    const float *a = g->a + b1 * g->sa_b[0] + b2 * g->sa_b[1] + i0 * g->sam;
    const float *b = g->b + b1 * g->sb_b[0] + b2 * g->sb_b[1] + j0 * g->sbn;
    float *c = g->c + b1 * g->sc_b[0] + b2 * g->sc_b[1] + i0 * g->scm + j0 * g->scn;
    task(g, c, a, b, m, n);
  }
}
