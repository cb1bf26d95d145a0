/* kernels — fused element-wise layer math (see kernels.h).
 *
 * Each public function splits its work over OpenMP threads with a static
 * schedule and hands contiguous pieces (a row, a chunk, a block of columns)
 * to a small inner function. The inner functions are plain C loops written so
 * that the compiler vectorises them. The file is compiled once per x86-64
 * level (names from LETHE_ISA_NAME); model/kernels.c picks the variant. Sums that
 * cross rows always run in one fixed order, so results never depend on timing
 * (and a row's result never depends on the thread count). */
#include "model/kernels.h"

#include <math.h>
#include <string.h>

#include "tensor/tensor.h"
#include "tensor/tensor_isa.h"

/* Columns per block in the column-sum kernels (RMSNorm dw, embedding dx). */
#define COL_BLOCK 128
/* Elements per chunk of the flat kernels (SwiGLU). */
#define FLAT_CHUNK 4096

/* exp(x) for float, as plain arithmetic so loops that call it vectorise:
 * x = n·ln2 + r with |r| <= ln2/2, exp(r) by a degree-6 Taylor polynomial
 * (relative error below 2e-7 before rounding), 2^n assembled in the exponent
 * bits. Arguments are clamped to the finite range of float. */
static inline float fast_expf(float x) {
  const float shifter = 12582912.0f; /* 1.5·2^23: adding it rounds to an integer */
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float t = x * 1.44269504088896341f + shifter;
  float n = t - shifter;
  float r = x - n * 0.693145751953125f; /* ln2 split in a high part (exact n·hi) */
  r = r - n * 1.42860682030941723e-06f; /* and the low remainder */
  float p = 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  union { float f; int32_t i; } scale;
  scale.i = (int32_t)((uint32_t)((int32_t)n + 127) << 23); /* shifted unsigned: a NaN x gives NaN, not UB */
  return p * scale.f;
}

static inline float sigmoidf(float x) { return 1.0f / (1.0f + fast_expf(-x)); }

/* ---- RMSNorm ----------------------------------------------------------- */
/* One row; the output goes to out (float) or, when out is NULL, to out16. */
static float rms_row(float *out, uint16_t *out16, const float *x, const float *w, int c,
                     float eps) {
  float ss = 0.0f;
#pragma omp simd reduction(+ : ss)
  for (int j = 0; j < c; j++) ss += x[j] * x[j];
  float r = 1.0f / sqrtf(ss / (float)c + eps);
  if (out) {
#pragma omp simd
    for (int j = 0; j < c; j++) out[j] = w[j] * (x[j] * r);
  } else {
#pragma omp simd
    for (int j = 0; j < c; j++) out16[j] = tensor_bf16_round(w[j] * (x[j] * r));
  }
  return r;
}

void LETHE_ISA_NAME(rmsnorm_forward)(float *out, float *rstd, const float *x, const float *w, int64_t n, int c,
                     float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) rstd[i] = rms_row(out + i * c, NULL, x + i * c, w, c, eps);
}

void LETHE_ISA_NAME(rmsnorm_forward_bf16)(uint16_t *out, float *rstd, const float *x, const float *w, int64_t n,
                          int c, float eps) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) rstd[i] = rms_row(NULL, out + i * c, x + i * c, w, c, eps);
}

static void rms_row_backward(float *dx, const float *g, const float *x, const float *w, float r,
                             int c) {
  float dot = 0.0f; /* Σ_j g_j w_j x_j */
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j < c; j++) dot += g[j] * w[j] * x[j];
  float k = dot * r * r * r / (float)c;
#pragma omp simd
  for (int j = 0; j < c; j++) dx[j] += g[j] * w[j] * r - x[j] * k;
}

/* dw[j0..j1) += Σ_i dout[i,j] x[i,j] rstd[i], rows in order, double sums. */
static void rms_dw_block(float *dw, const float *dout, const float *x, const float *rstd,
                         int64_t n, int c, int j0, int j1) {
  double acc[COL_BLOCK];
  int m = j1 - j0;
  for (int j = 0; j < m; j++) acc[j] = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const float *g = dout + i * c + j0, *xi = x + i * c + j0;
    float r = rstd[i];
#pragma omp simd
    for (int j = 0; j < m; j++) acc[j] += (double)(g[j] * xi[j] * r);
  }
  for (int j = 0; j < m; j++) dw[j0 + j] += (float)acc[j];
}

void LETHE_ISA_NAME(rmsnorm_backward)(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int64_t n, int c) {
  int blocks = (c + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel
  {
#pragma omp for schedule(static) nowait
    for (int64_t i = 0; i < n; i++)
      rms_row_backward(dx + i * c, dout + i * c, x + i * c, w, rstd[i], c);
    if (dw) { /* NULL: a frozen norm */
#pragma omp for schedule(static)
      for (int bl = 0; bl < blocks; bl++) {
        int j0 = bl * COL_BLOCK, j1 = j0 + COL_BLOCK < c ? j0 + COL_BLOCK : c;
        rms_dw_block(dw, dout, x, rstd, n, c, j0, j1);
      }
    }
  }
}

/* ---- rotary ------------------------------------------------------------- */
void LETHE_ISA_NAME(rope_tables)(float *cos_t, float *sin_t, int t_max, int head_dim, double theta) {
  int half = head_dim / 2;
  for (int i = 0; i < half; i++) {
    /* as HF: inv_freq computed in float32 from an int64 arange */
    float inv_freq = (float)(1.0 / pow(theta, (double)(2 * i) / head_dim));
    for (int p = 0; p < t_max; p++) {
      float angle = (float)p * inv_freq;
      cos_t[p * half + i] = cosf(angle);
      sin_t[p * half + i] = sinf(angle);
    }
  }
}

static void rope_token(float *x, const float *cs, const float *sn, int heads, int half,
                       float sgn) {
  for (int h = 0; h < heads; h++) {
    float *v = x + (int64_t)h * 2 * half;
#pragma omp simd
    for (int i = 0; i < half; i++) {
      float x1 = v[i], x2 = v[i + half], s = sgn * sn[i];
      v[i] = x1 * cs[i] - x2 * s;
      v[i + half] = x2 * cs[i] + x1 * s;
    }
  }
}

void LETHE_ISA_NAME(rope_apply)(float *x, const float *cos_t, const float *sin_t, int b, int t, int heads,
                int head_dim, const int32_t *positions, int inverse) {
  int half = head_dim / 2;
  int64_t n = (int64_t)b * t;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < n; r++) {
    int p = positions ? positions[r] : (int)(r % t);
    if (p < 0) p = 0;
    rope_token(x + r * heads * head_dim, cos_t + (int64_t)p * half, sin_t + (int64_t)p * half,
               heads, half, inverse ? -1.0f : 1.0f);
  }
}

/* ---- SwiGLU -------------------------------------------------------------- */
/* Outputs go to the float pointers or, when those are NULL, to the bf16 ones. */
static void swiglu_chunk(float *out, uint16_t *out16, const float *gate, const float *up,
                         int64_t n) {
  if (out) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float g = gate[i], s = sigmoidf(g), u = up[i];
      out[i] = u * g * s; /* this order: GCC keeps g·sigmoid(g) in blends, 3x slower */
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float g = gate[i], s = sigmoidf(g), u = up[i];
      out16[i] = tensor_bf16_round(u * g * s);
    }
  }
}

static void swiglu_any(float *out, uint16_t *out16, const float *gate, const float *up,
                       int64_t n) {
  int64_t chunks = (n + FLAT_CHUNK - 1) / FLAT_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    int64_t at = k * FLAT_CHUNK, len = n - at < FLAT_CHUNK ? n - at : FLAT_CHUNK;
    swiglu_chunk(out ? out + at : NULL, out ? NULL : out16 + at, gate + at, up + at, len);
  }
}

void LETHE_ISA_NAME(swiglu_forward)(float *out, const float *gate, const float *up, int64_t n) {
  swiglu_any(out, NULL, gate, up, n);
}

void LETHE_ISA_NAME(swiglu_forward_bf16)(uint16_t *out, const float *gate, const float *up, int64_t n) {
  swiglu_any(NULL, out, gate, up, n);
}

static void swiglu_backward_chunk(float *dgate, float *dup, uint16_t *dgate16, uint16_t *dup16,
                                  const float *dout, const float *gate, const float *up,
                                  int64_t n) {
  if (dgate) {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float g = gate[i], s = sigmoidf(g), d = dout[i];
      dup[i] = d * g * s;
      dgate[i] = d * up[i] * s * (1.0f + g * (1.0f - s));
    }
  } else {
#pragma omp simd
    for (int64_t i = 0; i < n; i++) {
      float g = gate[i], s = sigmoidf(g), d = dout[i];
      dup16[i] = tensor_bf16_round(d * g * s);
      dgate16[i] = tensor_bf16_round(d * up[i] * s * (1.0f + g * (1.0f - s)));
    }
  }
}

static void swiglu_backward_any(float *dgate, float *dup, uint16_t *dgate16, uint16_t *dup16,
                                const float *dout, const float *gate, const float *up,
                                int64_t n) {
  int64_t chunks = (n + FLAT_CHUNK - 1) / FLAT_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    int64_t at = k * FLAT_CHUNK, len = n - at < FLAT_CHUNK ? n - at : FLAT_CHUNK;
    if (dgate)
      swiglu_backward_chunk(dgate + at, dup + at, NULL, NULL, dout + at, gate + at, up + at, len);
    else
      swiglu_backward_chunk(NULL, NULL, dgate16 + at, dup16 + at, dout + at, gate + at, up + at,
                            len);
  }
}

void LETHE_ISA_NAME(swiglu_backward)(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int64_t n) {
  swiglu_backward_any(dgate, dup, NULL, NULL, dout, gate, up, n);
}

void LETHE_ISA_NAME(swiglu_backward_bf16)(uint16_t *dgate, uint16_t *dup, const float *dout, const float *gate,
                          const float *up, int64_t n) {
  swiglu_backward_any(NULL, NULL, dgate, dup, dout, gate, up, n);
}

/* ---- attention softmax ---------------------------------------------------- */
/* Writes row[0, end) rounded to bfloat16 into out16. */
static void row_to_bf16(uint16_t *out16, const float *row, int end) {
#pragma omp simd
  for (int j = 0; j < end; j++) out16[j] = tensor_bf16_round(row[j]);
}

/* Row over keys [0, end): keys j <= last that the mask allows get softmax
 * weights, every other key in [0, end) gets 0. */
static void softmax_row(float *row, const int32_t *km, int last, int end) {
  float mx = -INFINITY;
  if (km) {
#pragma omp simd reduction(max : mx)
    for (int j = 0; j <= last; j++) {
      float x = km[j] ? row[j] : -INFINITY;
      mx = x > mx ? x : mx;
    }
  } else {
#pragma omp simd reduction(max : mx)
    for (int j = 0; j <= last; j++) mx = row[j] > mx ? row[j] : mx;
  }
  if (mx == -INFINITY) { /* no visible key */
    memset(row, 0, sizeof(float) * end);
    return;
  }
  float sum = 0.0f;
  if (km) {
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= last; j++) {
      float e = km[j] ? fast_expf(row[j] - mx) : 0.0f;
      row[j] = e;
      sum += e;
    }
  } else {
#pragma omp simd reduction(+ : sum)
    for (int j = 0; j <= last; j++) {
      float e = fast_expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
  }
  float inv = 1.0f / sum;
#pragma omp simd
  for (int j = 0; j <= last; j++) row[j] *= inv;
  for (int j = last + 1; j < end; j++) row[j] = 0.0f;
}

void LETHE_ISA_NAME(softmax_masked_row)(float *row, const int32_t *valid, int n) {
  softmax_row(row, valid, n - 1, n);
}

/* The end of row i's computed range under causal blocking. */
static inline int block_end(int i, int t, int block) {
  int end = (i / block + 1) * block;
  return end < t ? end : t;
}

void LETHE_ISA_NAME(attention_softmax_blocked)(float *scores, uint16_t *probs16, const int32_t *key_mask,
                                    int b, int h, int t, int block, int window) {
  int64_t rows = (int64_t)b * h * t;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int i = (int)(r % t), bi = (int)(r / ((int64_t)h * t)), end = block_end(i, t, block);
    int first = window > 0 && i >= window ? i - window + 1 : 0; /* keys before: outside */
    float *row = scores + r * t;
    const int32_t *km = key_mask ? key_mask + (int64_t)bi * t + first : NULL;
    memset(row, 0, sizeof(float) * first);
    softmax_row(row + first, km, i - first, end - first);
    if (probs16) row_to_bf16(probs16 + r * t, row, end);
  }
}

void LETHE_ISA_NAME(attention_softmax)(float *scores, const int32_t *key_mask, int b, int h, int t) {
  LETHE_ISA_NAME(attention_softmax_blocked)(scores, NULL, key_mask, b, h, t, t, 0);
}

static void softmax_backward_row(float *d, const float *p, int last, int end) {
  float dot = 0.0f;
#pragma omp simd reduction(+ : dot)
  for (int j = 0; j <= last; j++) dot += d[j] * p[j];
#pragma omp simd
  for (int j = 0; j <= last; j++) d[j] = p[j] * (d[j] - dot);
  for (int j = last + 1; j < end; j++) d[j] = 0.0f;
}

void LETHE_ISA_NAME(attention_softmax_backward_blocked)(float *datt, uint16_t *datt16, const float *att,
                                             int b, int h, int t, int block) {
  int64_t rows = (int64_t)b * h * t;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < rows; r++) {
    int i = (int)(r % t), end = block_end(i, t, block);
    softmax_backward_row(datt + r * t, att + r * t, i, end);
    if (datt16) row_to_bf16(datt16 + r * t, datt + r * t, end);
  }
}

void LETHE_ISA_NAME(attention_softmax_backward)(float *datt, const float *att, int b, int h, int t) {
  LETHE_ISA_NAME(attention_softmax_backward_blocked)(datt, NULL, att, b, h, t, t);
}

/* ---- GQA ------------------------------------------------------------------- */
void LETHE_ISA_NAME(gqa_expand)(float *out, const float *kv, int64_t bt, int nh, int nkv, int hd) {
  int group = nh / nkv;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bt; r++)
    for (int h = 0; h < nh; h++)
      memcpy(out + (r * nh + h) * hd, kv + (r * nkv + h / group) * hd, sizeof(float) * hd);
}

void LETHE_ISA_NAME(gqa_reduce)(float *dkv, const float *dout, int64_t bt, int nh, int nkv, int hd) {
  int group = nh / nkv;
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < bt; r++)
    for (int g = 0; g < nkv; g++) {
      float *dst = dkv + (r * nkv + g) * hd;
      memset(dst, 0, sizeof(float) * hd);
      for (int k = 0; k < group; k++) {
        const float *src = dout + (r * nh + g * group + k) * hd;
        for (int d = 0; d < hd; d++) dst[d] += src[d];
      }
    }
}

/* ---- embedding ----------------------------------------------------------------- */
void LETHE_ISA_NAME(embedding_forward)(float *out, const float *embed, const int32_t *tokens, int64_t n, int c) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++)
    memcpy(out + i * c, embed + (int64_t)tokens[i] * c, sizeof(float) * c);
}

static void embedding_backward_block(float *dembed, const float *dout, const int32_t *tokens,
                                     int64_t n, int c, int j0, int j1) {
  for (int64_t i = 0; i < n; i++) {
    float *dst = dembed + (int64_t)tokens[i] * c;
    const float *src = dout + i * c;
#pragma omp simd
    for (int j = j0; j < j1; j++) dst[j] += src[j];
  }
}

void LETHE_ISA_NAME(embedding_backward)(float *dembed, const float *dout, const int32_t *tokens, int64_t n,
                        int c) {
  /* each thread owns blocks of channels and walks the tokens in order, so
   * repeated tokens never race and sums keep one order */
  int blocks = (c + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static)
  for (int bl = 0; bl < blocks; bl++) {
    int j0 = bl * COL_BLOCK, j1 = j0 + COL_BLOCK < c ? j0 + COL_BLOCK : c;
    embedding_backward_block(dembed, dout, tokens, n, c, j0, j1);
  }
}

/* ---- vocabulary softmax ---------------------------------------------------------- */
static float row_max(const float *row, int v) {
  float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
  for (int j = 0; j < v; j++) mx = row[j] > mx ? row[j] : mx;
  return mx;
}

/* Returns the row maximum and sets *sum = Σ exp(row - max) (double sum). */
static float row_max_sumexp(const float *row, int v, double *sum) {
  float mx = row_max(row, v);
  double s = 0.0;
#pragma omp simd reduction(+ : s)
  for (int j = 0; j < v; j++) s += (double)fast_expf(row[j] - mx);
  *sum = s;
  return mx;
}

/* log softmax(row)[target] */
static float target_logp_row(const float *row, int target, int v) {
  double sum;
  float mx = row_max_sumexp(row, v, &sum);
  return (float)((double)row[target] - mx - log(sum));
}

void LETHE_ISA_NAME(logits_target_logp)(float *logp, const float *logits, const int32_t *targets, int64_t n,
                        int v) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++)
    logp[i] = targets[i] < 0 ? 0.0f : target_logp_row(logits + i * v, targets[i], v);
}

void LETHE_ISA_NAME(logits_target_logp_rows)(float *logp, const float *logits, const int32_t *targets,
                             const int32_t *rows, int64_t n, int v) {
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; j++) {
    int32_t i = rows[j];
    logp[i] = targets[i] < 0 ? 0.0f : target_logp_row(logits + j * v, targets[i], v);
  }
}

/* row = -g · softmax(row), given its max and Σ exp(row - max) */
static void dlogits_row(float *row, float g, float mx, double sum, int v) {
  float scale = (float)(-g / sum);
#pragma omp simd
  for (int j = 0; j < v; j++) row[j] = scale * fast_expf(row[j] - mx);
}

static void add_row(float *row, const float *extra, int v) {
#pragma omp simd
  for (int j = 0; j < v; j++) row[j] += extra[j];
}

/* row becomes g·(onehot(target) − softmax(row)) (zeros when target < 0) */
static void row_to_dlogits(float *row, int target, float g, int v) {
  float gi = target >= 0 ? g : 0.0f;
  if (gi != 0.0f) {
    double sum;
    float mx = row_max_sumexp(row, v, &sum);
    dlogits_row(row, gi, mx, sum, v);
    row[target] += gi;
  } else {
    memset(row, 0, sizeof(float) * v);
  }
}

void LETHE_ISA_NAME(logits_to_dlogits)(float *logits, const int32_t *targets, const float *g,
                       const float *extra, int64_t n, int v) {
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; i++) {
    float *row = logits + i * v;
    row_to_dlogits(row, targets[i], g[i], v);
    if (extra) add_row(row, extra + i * v, v);
  }
}

void LETHE_ISA_NAME(logits_to_dlogits_rows)(float *logits, const int32_t *targets, const float *g,
                            const int32_t *rows, int64_t n, int v) {
#pragma omp parallel for schedule(static)
  for (int64_t j = 0; j < n; j++) row_to_dlogits(logits + j * v, targets[rows[j]], g[rows[j]], v);
}
