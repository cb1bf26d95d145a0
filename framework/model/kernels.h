/* kernels — the element-wise parts of a Llama layer, forward and backward,
 * in fused C loops with OpenMP (static schedules, sums in a fixed order:
 * results do not depend on timing). The inner loops are vectorised: the
 * file model/isa/kernels.c is compiled once per x86-64 level (baseline,
 * AVX2+FMA, AVX-512) and kernels.c forwards each call to the level lethe runs
 * at (tensor_isa_level); they use an inline exp accurate to a few ulp. The *_bf16 variants write their
 * output rounded to bfloat16 for bf16 compute (llama_set_compute). Shapes
 * are in the comments; N = rows (B·T). Backward functions add into parameter
 * gradients and, where noted, into input gradients. */
#ifndef LETHE_KERNELS_H
#define LETHE_KERNELS_H

#include <stdint.h>

/* out (N,C) = x · rstd · w;  rstd (N) = 1/sqrt(mean(x²) + eps) */
void rmsnorm_forward(float *out, float *rstd, const float *x, const float *w, int64_t n, int c,
                     float eps);
/* dx (N,C) += ∂/∂x;  dw (C) += ∂/∂w (dw NULL: none), given dout (N,C) */
void rmsnorm_backward(float *dx, float *dw, const float *dout, const float *x, const float *w,
                      const float *rstd, int64_t n, int c);

/* As rmsnorm_forward, with the output rounded to bfloat16 (bf16 compute). */
void rmsnorm_forward_bf16(uint16_t *out, float *rstd, const float *x, const float *w, int64_t n,
                          int c, float eps);

/* Rotary tables (T, HD/2) for positions 0..T-1, HF "default" rope. */
void rope_tables(float *cos_t, float *sin_t, int t_max, int head_dim, double theta);
/* In place on x (B,T,H,HD) with rotate-half layout; positions (B,T) give each
 * token's position (NULL = t; negative clamps to 0). inverse = 1 applies the
 * transpose (backward). */
void rope_apply(float *x, const float *cos_t, const float *sin_t, int b, int t, int heads,
                int head_dim, const int32_t *positions, int inverse);

/* out (N,F) = silu(gate) · up */
void swiglu_forward(float *out, const float *gate, const float *up, int64_t n);
/* dgate, dup (N,F) = ∂/∂gate, ∂/∂up given dout (overwrite) */
void swiglu_backward(float *dgate, float *dup, const float *dout, const float *gate,
                     const float *up, int64_t n);

/* The same with outputs rounded to bfloat16 (bf16 compute). */
void swiglu_forward_bf16(uint16_t *out, const float *gate, const float *up, int64_t n);
void swiglu_backward_bf16(uint16_t *dgate, uint16_t *dup, const float *dout, const float *gate,
                          const float *up, int64_t n);

/* In place on scores (B,H,T,T): masked softmax. Key j is visible from query i
 * when j <= i and key_mask[b,j] != 0 (key_mask NULL = all visible). Rows
 * with no visible key become all zero. */
void attention_softmax(float *scores, const int32_t *key_mask, int b, int h, int t);
/* In place on datt (B,H,T,T): dS = P ⊙ (dP − rowsum(dP ⊙ P)). */
void attention_softmax_backward(float *datt, const float *att, int b, int h, int t);
/* The same for causal blocking with blocks of `block` queries: row i covers
 * keys [0, end) with end = min(t, (i / block + 1) · block) — entries after
 * the diagonal in that range become 0 — and entries from end on are neither
 * read nor written. block >= t gives the functions above. The result is
 * float32 in place; with probs16 / datt16 (NULL: none, the f32 compute) the
 * computed entries [0, end) of each row are also written rounded to
 * bfloat16 there (same layout), the matmul input of bf16 compute. A
 * window > 0 (sliding-window attention) also hides keys j <= i − window
 * (they become 0); 0 = none. */
void attention_softmax_blocked(float *scores, uint16_t *probs16, const int32_t *key_mask, int b,
                               int h, int t, int block, int window);
void attention_softmax_backward_blocked(float *datt, uint16_t *datt16, const float *att, int b,
                                        int h, int t, int block);

/* In place on one row of n scores: softmax over the entries with
 * valid[j] != 0 (valid NULL = all); the others become 0, and so does the
 * whole row when no entry is valid. Not parallel (call it from inside a
 * parallel loop); used by KV-cache attention. */
void softmax_masked_row(float *row, const int32_t *valid, int n);

/* GQA: expand kv (B,T,NKV,HD) to (B,T,NH,HD) by repeating each kv head
 * NH/NKV times; and the reverse sum for gradients (overwrites dkv). */
void gqa_expand(float *out, const float *kv, int64_t bt, int nh, int nkv, int hd);
void gqa_reduce(float *dkv, const float *dout, int64_t bt, int nh, int nkv, int hd);

/* out (N,C) = embed[tokens] ; dembed[tokens] += dout (deterministic) */
void embedding_forward(float *out, const float *embed, const int32_t *tokens, int64_t n, int c);
void embedding_backward(float *dembed, const float *dout, const int32_t *tokens, int64_t n,
                        int c);

/* logp (N) = log softmax(logits)[target] (0 where target < 0); double sums. */
void logits_target_logp(float *logp, const float *logits, const int32_t *targets, int64_t n,
                        int v);
/* In place: logits (N,V) become g·(onehot − softmax(logits)) (+ extra). */
void logits_to_dlogits(float *logits, const int32_t *targets, const float *g,
                       const float *extra, int64_t n, int v);
/* The same on gathered rows (the chunked LM head): logits (n,V) row j
 * belongs to position rows[j] of the B·T positions of targets, logp and g:
 * logp[rows[j]] gets its log-prob (other positions are left alone). */
void logits_target_logp_rows(float *logp, const float *logits, const int32_t *targets,
                             const int32_t *rows, int64_t n, int v);
void logits_to_dlogits_rows(float *logits, const int32_t *targets, const float *g,
                            const int32_t *rows, int64_t n, int v);

/* ---- the other families' element-wise parts (model/arch_kernels.c): plain
 * C with OpenMP, built once (not per ISA level); the llama fast path never
 * calls them. ---- */

/* y (M,N) += b (N) on every row;  db (N) += column sums of dy (M,N) */
void bias_forward(float *y, const float *b, int64_t m, int n);
void bias_backward(float *db, const float *dy, int64_t m, int n);
/* LayerNorm with bias (phi): out (N,C) = (x − mean)·rstd·w + b, rstd (N) =
 * 1/sqrt(var + eps), var the biased variance. Backward adds into dx, dw, db
 * (either may be NULL: none; the mean is recomputed from x). */
void layernorm_forward(float *out, float *rstd, const float *x, const float *w, const float *b,
                       int64_t n, int c, float eps);
void layernorm_backward(float *dx, float *dw, float *db, const float *dout, const float *x,
                        const float *w, const float *rstd, int64_t n, int c);
/* gelu_new (tanh approximation): out = 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)));
 * backward overwrites dx (N) = dout · gelu'(x). */
void gelu_forward(float *out, const float *x, int64_t n);
void gelu_backward(float *dx, const float *dout, const float *x, int64_t n);
/* rope_apply on the first `rot` dims of each head only (partial rotary,
 * phi); tables (T, rot/2); the other dims pass through. */
void rope_apply_partial(float *x, const float *cos_t, const float *sin_t, int b, int t, int heads,
                        int head_dim, int rot, const int32_t *positions, int inverse);

#endif
