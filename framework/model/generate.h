/* generate — inference without gradients: a KV cache, batched incremental
 * forward, and greedy decoding.
 *
 * Prompts of different lengths are left-padded (as TOFU's evaluation does):
 * pad slots are masked as keys and each row's positions start at 0 at its
 * first real token, as HF computes position ids from the attention mask.
 * Not here: training-time forward/backward (llama.h).
 */
#ifndef LETHE_GENERATE_H
#define LETHE_GENERATE_H

#include "model/llama.h"

typedef struct llama_kv_cache {
  int B, S_cap;       /* rows in use, slots per row */
  int B_alloc;        /* rows allocated (>= B) */
  int len;            /* slots filled so far (same for every row) */
  int clean;          /* V slots [len, clean) of every row and layer hold zeros */
  float *k, *v;       /* (L, B, S_cap, NKV*HD) after rotary */
  int32_t *valid;     /* (B, S_cap) 1 = real token */
  int32_t *next_pos;  /* (B) position of the row's next real token */
  int32_t *slot_pos;  /* (B, S_cap) each real slot's position (sliding windows count positions) */
  /* work buffers sized for B * n_cap new tokens per step */
  int n_cap;
  float *x, *xn, *q, *k_new, *v_new, *att_out, *gate, *up, *scores, *logits;
  int32_t *pos;
  int32_t *rows, *inv, *ctok, *cpos; /* the real new slots: (b·n + i), its compact index, token, position */
  float *rope_cos, *rope_sin;
  /* bf16 compute (the model's precision at llama_kv_init): the weights
   * (the model's params_bf16, borrowed: rounded again at the first step of
   * every sequence) and one matmul input */
  uint16_t *w16, *in16;
  /* llama_kv_branch: the slot count, masks and positions to restore */
  int branch_len; /* -1: no branch */
  int32_t *saved_valid, *saved_pos;
} llama_kv_cache;

/* Allocates a cache for B rows, S_cap slots, up to n_cap tokens per step.
 * With a model in bf16 compute (llama_set_compute) the matmuls take bfloat16
 * inputs, as llama_forward's do; attention reads the float32 cache. */
void llama_kv_init(llama_kv_cache *c, const llama_model *m, int B, int S_cap, int n_cap);
void llama_kv_free(llama_kv_cache *c);
/* Makes c (zeroed, or from an earlier call) fit B rows, S_cap slots and
 * n_cap tokens per step and the model's precision, reallocating only when it
 * must grow or the precision changed, and resets it. */
void llama_kv_ensure(llama_kv_cache *c, const llama_model *m, int B, int S_cap, int n_cap);
void llama_kv_reset(llama_kv_cache *c);

/* Appends n slots for every row: tokens (B,n), valid (B,n) (NULL = all real).
 * Only the real slots run through the linear layers and the MLP, so padding
 * (and finished rows while decoding) costs only attention. On return
 * c->logits (B,V) holds the logits at each row's last new slot (unspecified
 * when that slot is padding). */
int llama_kv_step(const llama_model *m, llama_kv_cache *c, const int32_t *tokens,
                  const int32_t *valid, int n, lethe_err *err);

/* As llama_kv_step, with the final norm and head on every new slot: logits
 * (B, n, V), caller-sized (rows of padding slots are left unspecified);
 * c->logits is left alone. Used to score answers after a shared prompt. */
int llama_kv_step_all(const llama_model *m, llama_kv_cache *c, const int32_t *tokens,
                      const int32_t *valid, int n, float *logits, lethe_err *err);
/* Drops the slots from len on (len <= c->len): the cache is again as it was
 * when it held len slots, so several continuations can follow one prompt. */
void llama_kv_rewind(llama_kv_cache *c, int len);
/* Branches each row b off its first keep[b] slots: the later slots stay in
 * the cache but are hidden from (and positioned as if absent for) the tokens
 * appended next. llama_kv_unbranch drops the appended slots and shows the
 * hidden ones again. One branch at a time. Used to score answers that share
 * a prefix with an answer already in the cache. */
void llama_kv_branch(llama_kv_cache *c, const int *keep);
void llama_kv_unbranch(llama_kv_cache *c);
/* Appends B prompts (prompts[b] has lens[b] >= 1 tokens, B = c->B) left-padded
 * to the longest; c->logits then holds each row's next-token logits. The
 * cache must be empty or hold slots of the same rows. */
int llama_kv_prefill(const llama_model *m, llama_kv_cache *c, const int32_t *const *prompts,
                     const int *lens, lethe_err *err);
/* Greedy decoding from the cache's current state (c->logits from the last
 * step): out (B, max_new) and n_out as llama_generate_greedy. Needs
 * max_new - 1 free slots. */
int llama_kv_greedy(const llama_model *m, llama_kv_cache *c, int max_new, int eos_id, int32_t *out,
                    int *n_out, lethe_err *err);

/* Greedy decoding of B prompts (prompts[b] has lens[b] tokens, lens >= 1).
 * out (B, max_new) gets the generated ids; after a row emits eos_id (if >= 0)
 * the rest of its row is -1. n_out[b] = generated count (incl. the EOS). */
int llama_generate_greedy(const llama_model *m, const int32_t *const *prompts, const int *lens,
                          int B, int max_new, int eos_id, int32_t *out, int *n_out,
                          lethe_err *err);
/* The same with a caller-owned cache reused across calls (no allocation
 * once it is large enough). */
int llama_generate_greedy_kv(const llama_model *m, llama_kv_cache *c, const int32_t *const *prompts,
                             const int *lens, int B, int max_new, int eos_id, int32_t *out,
                             int *n_out, lethe_err *err);

#endif
