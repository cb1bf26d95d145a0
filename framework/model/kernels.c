/* kernels — picks the variant of every element-wise kernel (model/isa/
 * kernels.c, compiled per x86-64 level) for the level lethe runs at
 * (tensor_isa_level: the CPU's, capped by LETHE_ISA), once, at the first
 * call. Each public function of kernels.h forwards to it. */
#include "model/kernels.h"

#include "tensor/tensor.h"
#include "tensor/tensor_isa.h"

/* X(return type, name, parameters, arguments) for every kernel. */
#define KERNELS(X) \
  X(void, rmsnorm_forward, (float *out, float *rstd, const float *x, const float *w, int64_t n, int c, float eps), (out, rstd, x, w, n, c, eps)) \
  X(void, rmsnorm_backward, (float *dx, float *dw, const float *dout, const float *x, const float *w, const float *rstd, int64_t n, int c), (dx, dw, dout, x, w, rstd, n, c)) \
  X(void, rmsnorm_forward_bf16, (uint16_t *out, float *rstd, const float *x, const float *w, int64_t n, int c, float eps), (out, rstd, x, w, n, c, eps)) \
  X(void, rope_tables, (float *cos_t, float *sin_t, int t_max, int head_dim, double theta), (cos_t, sin_t, t_max, head_dim, theta)) \
  X(void, rope_apply, (float *x, const float *cos_t, const float *sin_t, int b, int t, int heads, int head_dim, const int32_t *positions, int inverse), (x, cos_t, sin_t, b, t, heads, head_dim, positions, inverse)) \
  X(void, swiglu_forward, (float *out, const float *gate, const float *up, int64_t n), (out, gate, up, n)) \
  X(void, swiglu_backward, (float *dgate, float *dup, const float *dout, const float *gate, const float *up, int64_t n), (dgate, dup, dout, gate, up, n)) \
  X(void, swiglu_forward_bf16, (uint16_t *out, const float *gate, const float *up, int64_t n), (out, gate, up, n)) \
  X(void, swiglu_backward_bf16, (uint16_t *dgate, uint16_t *dup, const float *dout, const float *gate, const float *up, int64_t n), (dgate, dup, dout, gate, up, n)) \
  X(void, attention_softmax, (float *scores, const int32_t *key_mask, int b, int h, int t), (scores, key_mask, b, h, t)) \
  X(void, attention_softmax_backward, (float *datt, const float *att, int b, int h, int t), (datt, att, b, h, t)) \
  X(void, attention_softmax_blocked, (float *scores, uint16_t *probs16, const int32_t *key_mask, int b, int h, int t, int block, int window), (scores, probs16, key_mask, b, h, t, block, window)) \
  X(void, attention_softmax_backward_blocked, (float *datt, uint16_t *datt16, const float *att, int b, int h, int t, int block), (datt, datt16, att, b, h, t, block)) \
  X(void, softmax_masked_row, (float *row, const int32_t *valid, int n), (row, valid, n)) \
  X(void, gqa_expand, (float *out, const float *kv, int64_t bt, int nh, int nkv, int hd), (out, kv, bt, nh, nkv, hd)) \
  X(void, gqa_reduce, (float *dkv, const float *dout, int64_t bt, int nh, int nkv, int hd), (dkv, dout, bt, nh, nkv, hd)) \
  X(void, embedding_forward, (float *out, const float *embed, const int32_t *tokens, int64_t n, int c), (out, embed, tokens, n, c)) \
  X(void, embedding_backward, (float *dembed, const float *dout, const int32_t *tokens, int64_t n, int c), (dembed, dout, tokens, n, c)) \
  X(void, logits_target_logp, (float *logp, const float *logits, const int32_t *targets, int64_t n, int v), (logp, logits, targets, n, v)) \
  X(void, logits_to_dlogits, (float *logits, const int32_t *targets, const float *g, const float *extra, int64_t n, int v), (logits, targets, g, extra, n, v)) \
  X(void, logits_target_logp_rows, (float *logp, const float *logits, const int32_t *targets, const int32_t *rows, int64_t n, int v), (logp, logits, targets, rows, n, v)) \
  X(void, logits_to_dlogits_rows, (float *logits, const int32_t *targets, const float *g, const int32_t *rows, int64_t n, int v), (logits, targets, g, rows, n, v))

#define DECLARE(ret, name, params, args) LETHE_ISA_DECLARE(ret, name, params);
KERNELS(DECLARE)

#define FIELD(ret, name, params, args) ret(*name) params;
typedef struct kernel_table {
  KERNELS(FIELD)
} kernel_table;

#define ENTRY(suffix) {KERNELS(ENTRY_##suffix)}
#define ENTRY_baseline(ret, name, params, args) name##_baseline,
#define ENTRY_avx2(ret, name, params, args) name##_avx2,
#define ENTRY_avx512(ret, name, params, args) name##_avx512,
static const kernel_table tables[3] = {ENTRY(baseline), ENTRY(avx2), ENTRY(avx512)};

/* Chosen before any parallel region runs a kernel (the first call comes
 * from the one thread that drives the model). */
static const kernel_table *table(void) {
  static const kernel_table *chosen;
  if (!chosen) chosen = &tables[tensor_isa_level()];
  return chosen;
}

/* Every kernel returns void. */
#define FORWARD(ret, name, params, args) \
  ret name params { table()->name args; }
KERNELS(FORWARD)
