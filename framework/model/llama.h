/* llama — a Llama-style causal LM, forward and backward, on the CPU, for
 * every family config.h reads (llama, mistral, qwen2, qwen3, phi: what each
 * adds — biases, q/k norms, scaled or partial rotary, phi's LayerNorm and
 * parallel GELU MLP — is switched on by the config; model/llama_layers.c).
 *
 * Layers follow llm.c: x_forward keeps what x_backward needs in named
 * activation tensors; backward adds (+=) into gradients. One contiguous buffer
 * per role: parameters, gradients, activations. Matmuls go through
 * tensor/tensor.h (oneDNN); element-wise work is fused C with OpenMP.
 * Attention is causal-blocked (blocks of 64 queries meet only the keys up to
 * their block), matmuls run in float32 or, by choice, bfloat16
 * (llama_set_compute), and nothing is allocated once the activations for
 * the largest (B, T) exist (docs/performance.md).
 *
 * Conventions: B rows, T positions, C = hidden, V = vocab. tokens (B,T),
 * attn_mask (B,T) with 1 = real token, 0 = padding (keys with 0 are masked for
 * every query; pad queries are computed normally, as Hugging Face does,
 * unless llama_set_skip_padding says to skip them).
 * Logits at position t predict token t+1.
 * Not here: file formats (safetensors.h, config.h), optimizers (train/),
 * losses (method plugins), generation loop details (generate.h).
 */
#ifndef LETHE_LLAMA_H
#define LETHE_LLAMA_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "model/config.h"
#include "model/llama_storage.h"

/* Parameter tensors, pointers into one buffer, in this order. Per-layer
 * tensors are stacked over layers: e.g. wq is (L, NH*HD, C). Linear weights
 * keep PyTorch's (out, in) layout, so Y = X·Wᵀ. A tensor the family does not
 * have (config.h: biases, q/k norms, phi's LayerNorm biases; phi has no
 * mlp_norm and no w_gate) has size 0 and a NULL pointer. phi keeps its fc1 in
 * w_up/b_up and fc2 in w_down/b_down, its one norm per layer in attn_norm. */
typedef struct llama_params {
  float *embed;    /* (V, C) model.embed_tokens.weight */
  float *attn_norm;/* (L, C) input_layernorm */
  float *wq;       /* (L, NH*HD, C) */
  float *wk;       /* (L, NKV*HD, C) */
  float *wv;       /* (L, NKV*HD, C) */
  float *wo;       /* (L, C, NH*HD) */
  float *mlp_norm; /* (L, C) post_attention_layernorm */
  float *w_gate;   /* (L, F, C) */
  float *w_up;     /* (L, F, C) */
  float *w_down;   /* (L, C, F) */
  float *final_norm;/* (C) model.norm */
  float *lm_head;  /* (V, C); == embed when tied (no storage of its own) */
  float *bq;       /* (L, NH*HD) q_proj.bias */
  float *bk, *bv;  /* (L, NKV*HD) */
  float *bo;       /* (L, C) o_proj.bias (phi: dense.bias) */
  float *q_norm, *k_norm; /* (L, HD) qwen3 self_attn.q_norm / k_norm */
  float *attn_norm_bias;  /* (L, C) phi input_layernorm.bias */
  float *b_gate, *b_up;   /* (L, F) */
  float *b_down;   /* (L, C) */
  float *final_norm_bias; /* (C) phi model.final_layernorm.bias */
  float *lm_head_bias;    /* (V) phi lm_head.bias */
} llama_params;
/* The parameter tensors by role, in the order of llama_params and of their
 * storage (params_memory, param_sizes). llama_param_role_is_matrix tells the
 * matrices and embeddings (weight decay) from norms and biases. */
typedef enum llama_param_role {
  LLAMA_PARAM_EMBED, LLAMA_PARAM_ATTN_NORM, LLAMA_PARAM_WQ, LLAMA_PARAM_WK, LLAMA_PARAM_WV,
  LLAMA_PARAM_WO, LLAMA_PARAM_MLP_NORM, LLAMA_PARAM_W_GATE, LLAMA_PARAM_W_UP, LLAMA_PARAM_W_DOWN,
  LLAMA_PARAM_FINAL_NORM, LLAMA_PARAM_LM_HEAD,
  LLAMA_PARAM_BQ, LLAMA_PARAM_BK, LLAMA_PARAM_BV, LLAMA_PARAM_BO, LLAMA_PARAM_Q_NORM,
  LLAMA_PARAM_K_NORM, LLAMA_PARAM_ATTN_NORM_BIAS, LLAMA_PARAM_B_GATE, LLAMA_PARAM_B_UP,
  LLAMA_PARAM_B_DOWN, LLAMA_PARAM_FINAL_NORM_BIAS, LLAMA_PARAM_LM_HEAD_BIAS,
  LLAMA_N_PARAM_TENSORS
} llama_param_role;

/* Activations kept for backward, sized for (B_max, T_max). The per-layer
 * ones (L, ...) hold one layer, (1, ...), with activation checkpointing
 * (llama_set_checkpointing); resid always holds every layer's input. */
typedef struct llama_acts {
  float *resid;     /* (L+1, B, T, C) residual stream entering each layer; [L] = final */
  float *attn_xn;   /* (L, B, T, C) RMSNorm output before attention */
  float *attn_rstd; /* (L, B, T) 1/rms */
  float *q;         /* (L, B, T, NH*HD) after rotary */
  float *q_raw, *k_raw; /* (L, B, T, NH*HD / NKV*HD) before the q/k norms (qwen3 only) */
  float *q_rstd, *k_rstd; /* (L, B, T, NH / NKV) their 1/rms */
  float *k;         /* (L, B, T, NKV*HD) after rotary */
  float *v;         /* (L, B, T, NKV*HD) */
  float *att;       /* (L, B, NH, T, T) softmax probabilities */
  float *att_out;   /* (L, B, T, NH*HD) attention output before wo */
  float *resid_mid; /* (L, B, T, C) residual after attention, entering the MLP */
  float *mlp_xn;    /* (L, B, T, C) */
  float *mlp_rstd;  /* (L, B, T) */
  float *gate;      /* (L, B, T, F) pre-activation (none for phi) */
  float *up;        /* (L, B, T, F) (phi: fc1 output) */
  float *swiglu;    /* (B, T, F) silu(gate)*up (phi: gelu(fc1)) of the layer at hand:
                     * backward computes it again from gate and up */
  float *final_xn;  /* (B, T, C) */
  float *final_rstd;/* (B, T) */
  float *logits;    /* (B, T, V) whole logits (llama_set_logits); llama_backward reads
                     * dlogits from here. NULL in chunked mode */
  float *logits_chunk; /* (R, V) chunked mode: the logits of one chunk of R rows (B·T
                     * flattened; R = llama_model.logits_rows, at most B·T). NULL in whole mode */
  float *head_xn;   /* (R, C) chunked mode: final_xn of the chunk's rows, gathered */
} llama_acts;

/* Scratch buffers for backward (one layer at a time). */
typedef struct llama_scratch {
  float *d_resid;   /* (B, T, C) */
  float *d_xn;      /* (B, T, C) */
  float *d_q, *d_k, *d_v; /* (B, T, NH*HD) / (B, T, NKV*HD) */
  float *d_q_raw, *d_k_raw; /* the same before the q/k norms (qwen3 only) */
  float *d_att_out; /* (B, T, NH*HD) */
  float *d_att;     /* (B, NH, T, T) */
  float *d_gate, *d_up, *d_swiglu; /* (B, T, F) */
  float *k_rep, *v_rep, *dk_rep, *dv_rep; /* (B, T, NH*HD) GQA expansion */
  float *d_head_xn; /* (R, C) chunked logits: ∂L/∂head_xn of one chunk */
} llama_scratch;

/* bfloat16 copies of the matmul inputs, used only with bf16 compute
 * (llama_set_compute); sized like llama_acts. */
typedef struct llama_acts_bf16 {
  uint16_t *attn_xn;  /* (L, B, T, C) */
  uint16_t *q;        /* (L, B, T, NH*HD) after rotary */
  uint16_t *k, *v;    /* (L, B, T, NH*HD) after rotary, GQA-expanded to NH heads */
  uint16_t *att;      /* (L, B, NH, T, T) probabilities (the computed blocks) */
  uint16_t *att_out;  /* (L, B, T, NH*HD) */
  uint16_t *mlp_xn;   /* (L, B, T, C) */
  uint16_t *swiglu;   /* (B, T, F) one layer's, as acts.swiglu */
  uint16_t *final_xn; /* (B, T, C) */
  uint16_t *head_xn;  /* (R, C) chunked logits: final_xn of one chunk's rows */
  /* backward scratch, one layer at a time */
  uint16_t *d_logits; /* (B, T, V) whole logits, (R, V) chunked (llama_set_logits) */
  uint16_t *d_resid;  /* (B, T, C) */
  uint16_t *d_att_out, *d_q, *d_k, *d_v; /* (B, T, NH*HD) */
  uint16_t *d_att;    /* (B, NH, T, T) */
  uint16_t *d_gate, *d_up; /* (B, T, F) */
} llama_acts_bf16;

/* Compute precision of llama_forward and llama_backward (llama_set_compute). */
enum { LLAMA_COMPUTE_F32 = 0, LLAMA_COMPUTE_BF16 = 1 };
/* How the LM head meets the vocabulary (llama_set_logits). */
enum { LLAMA_LOGITS_WHOLE = 0, LLAMA_LOGITS_CHUNKED = 1 };
/* Chunked logits with rows = 0: as many rows per chunk as fit in this many
 * bytes of float32 logits (a multiple of 16 rows, at least 16). */
#define LLAMA_LOGITS_CHUNK_BYTES ((size_t)64 << 20)

/* Where forward and backward time goes (benchmarks, docs/performance.md):
 * when llama_model.profile is non-NULL, each part of llama_forward and
 * llama_backward adds its wall-clock seconds to fwd[part] or bwd[part].
 * Matmuls are synchronous, so the times are exact; profiling costs one
 * clock read per part. */
enum {
  LLAMA_PART_EMBED,    /* embedding gather / scatter-add */
  LLAMA_PART_NORM,     /* RMSNorm (attention, MLP, final) */
  LLAMA_PART_QKV,      /* q, k, v projections */
  LLAMA_PART_ROPE,     /* rotary on q and k */
  LLAMA_PART_ATT_MM,   /* attention matmuls (QKᵀ, PV and their gradients) */
  LLAMA_PART_SOFTMAX,  /* masked softmax */
  LLAMA_PART_WO,       /* output projection */
  LLAMA_PART_GATE_UP,  /* gate and up projections */
  LLAMA_PART_SWIGLU,   /* silu(gate)·up */
  LLAMA_PART_DOWN,     /* down projection */
  LLAMA_PART_HEAD,     /* LM head */
  LLAMA_PART_COPY,     /* residual copies, GQA expand/reduce */
  LLAMA_PART_CONVERT,  /* float32 -> bfloat16 conversions (bf16 compute) */
  LLAMA_N_PARTS
};
typedef struct llama_profile {
  double fwd[LLAMA_N_PARTS], bwd[LLAMA_N_PARTS];
} llama_profile;
/* A short name of a part ("qkv", "softmax", ...). */
const char *llama_part_name(int part);

typedef struct llama_model {
  llama_config cfg;
  size_t param_sizes[LLAMA_N_PARAM_TENSORS];
  size_t n_params;          /* floats in params_memory */
  float *params_memory;     /* another model's with borrowed (llama_borrow) */
  int borrowed;
  llama_params params;
  /* Gradients exist only for the trainable (role, layer) slices
   * (llama_set_trainable; all of them by default), packed in storage order:
   * reach one through llama_grad. */
  float *grads_memory;      /* n_trainable floats; NULL until llama_alloc_grads */
  size_t n_trainable;       /* floats of the trainable slices */
  size_t *grad_offset;      /* (LLAMA_N_PARAM_TENSORS, L) into grads_memory; LLAMA_FROZEN = none */
  int B_max, T_max;         /* activation capacity; 0 until llama_reserve */
  int checkpointing;        /* 1: one layer of activations, recomputed in backward */
  int acts_from;            /* the layout keeps activations of layers >= acts_from
                             * (llama_first_trained_layer when laid out); the layers
                             * below share one slot, overwritten layer by layer */
  int acts_backward;        /* the layout has backward's scratch (llama_runs_backward) */
  float *acts_memory;        /* acts_cap bytes; a re-layout that fits keeps it */
  size_t acts_cap, scratch_cap, acts_bf16_cap;
  llama_acts acts;
  float *scratch_memory;
  llama_scratch scratch;
  float *rope_cos, *rope_sin; /* (T_max, HD/2) */
  int B, T;                 /* shape of the last forward */
  const int32_t *tokens;    /* borrowed from the last forward, (B,T) */
  const int32_t *attn_mask; /* borrowed from the last forward, (B,T) */
  /* Skipping padding (llama_set_skip_padding): the positions the last
   * forward computed. rows = B·T without skipping or without padding;
   * otherwise the unmasked positions, in order, and everything but the
   * attention (q, k, v and the probabilities keep their (B,T) layout) holds
   * one row per computed position. With a row quantum above 1, some padded
   * positions are computed too (fillers: computed rows whose attn_mask is
   * 0) so that rows is a multiple of it (llama_set_row_quantum). */
  int skip_pad;             /* the setting */
  int row_quantum;          /* llama_set_row_quantum; 0 = chosen by the matmul backend */
  int64_t rows;             /* rows of the last forward */
  int32_t *row_pos;         /* (B·T capacity) position b·T+t of computed row n */
  int32_t *row_of;          /* (B·T capacity) computed row of a position; -1 = skipped */
  int32_t *row_tokens;      /* (B·T capacity) token of computed row n */
  int32_t *head_src;        /* chunked logits: (B·T) the computed row of each head_rows entry */
  float *rows_tmp;          /* skipping: (B·T)·(NH·HD + 2·NKV·HD) floats between the two layouts */
  llama_profile *profile;   /* borrowed; NULL = no timing (the default) */
  int compute;              /* LLAMA_COMPUTE_*; change it with llama_set_compute */
  uint16_t *params_bf16;    /* bf16 compute: weights rounded at each llama_forward */
  uint16_t *acts_bf16_memory;
  llama_acts_bf16 acts_bf16;
  llama_storage storage;    /* how llama_save writes the weights (llama_storage.h) */
  int logits_mode;          /* LLAMA_LOGITS_*; change it with llama_set_logits */
  int logits_rows;          /* chunked mode: rows (of B·T) per chunk of logits */
  int64_t logits_chunk_row0; /* chunked mode: the first row of the chunk whose logits
                             * acts.logits_chunk holds (llama_target_logp's last); -1 none */
  int32_t *head_rows;       /* chunked mode: (B·T) the positions with a target, in order */
  const int32_t *head_targets; /* chunked mode: borrowed by llama_dlogits_from_dlogp, (B,T) */
  const float *head_dlogp;  /* chunked mode: borrowed by llama_dlogits_from_dlogp, (B,T) */
  size_t acts_bytes;        /* bytes llama_reserve allocated (activations, scratch, bf16,
                             * rotary tables) */
  /* borrowed; non-NULL: the adapter's branches are added to the targeted
   * projections, and backward adds into the adapter's gradients (model/lora.h).
   * Attach with llama_attach_lora, which freezes the base. */
  struct lora_adapter *lora;
  /* Frozen matrices held in bfloat16 (llama_hold_frozen): their float32
   * pages are given back (and guarded), their values live here. */
  uint16_t *frozen16;       /* packed held slices; NULL = none held */
  size_t *frozen16_off;     /* (LLAMA_N_PARAM_TENSORS, L) into frozen16; LLAMA_FROZEN = not held */
  float *widen;             /* f32 compute: rows of a held weight widened for a matmul */
  size_t widen_floats;
  const struct llama_model *owner; /* a view's (llama_borrow): its held weights are the owner's */
} llama_model;

/* 1 for the roles that are matrices or embeddings, 0 for norms and biases. */
int llama_param_role_is_matrix(int role);
/* Rotary tables (positions 0..t_max-1, rotary_dim/2 frequencies each) with
 * the config's rope rule (model/arch.c). */
void llama_rope_tables(const llama_config *cfg, float *cos_t, float *sin_t, int t_max);

/* Allocates zeroed parameters for cfg (validated first). */
int llama_alloc(llama_model *m, const llama_config *cfg, lethe_err *err);
/* A model of cfg (validated) without any buffer: its sizes (n_params,
 * param_sizes) and settings only, for planning (llama_reserve_bytes,
 * train/memplan.h). Set compute, checkpointing and logits on it as on a
 * model; nothing to free. */
int llama_shell(llama_model *m, const llama_config *cfg, lethe_err *err);
/* A second model on owner's weights (not copied; owner must outlive it and
 * its weights are read as they are at each forward): its own activations,
 * settings and (bf16 compute) bfloat16 copy, no adapter. For a frozen
 * reference that is the policy's frozen base (LoRA). llama_free frees what
 * the view owns only. */
void llama_borrow(llama_model *view, const llama_model *owner);
/* Allocates parameters for cfg (validated) and initialises them as HF does:
 * N(0, initializer_range) for matrices and embeddings, 1 for norm weights, 0
 * for biases (LayerNorm biases included). */
int llama_init(llama_model *m, const llama_config *cfg, uint64_t seed, lethe_err *err);
/* Reads DIR/config.json and DIR's weights: model.safetensors or
 * model.safetensors.index.json + shards (HF names; F32, BF16, F16, F64),
 * remembering their layout in m->storage. */
int llama_load(llama_model *m, const char *dir, lethe_err *err);
/* A new model directory from a config.json of any supported family:
 * llama_init's weights (seed), the pad_token_id row of the embedding zeroed
 * as HF does, written by llama_save_as with `how` (NULL: F32, one file). */
int llama_init_dir(const char *config_path, const char *dir, uint64_t seed,
                   const struct llama_storage *how, lethe_err *err);
/* Writes DIR/config.json and the weights as m->storage says (F32 in one
 * model.safetensors for a model lethe created), creating DIR. */
int llama_save(const llama_model *m, const char *dir, lethe_err *err);
/* llama_save with the layout `how` instead of m->storage (llama_storage.h):
 * e.g. {.dtype = ST_BF16, .max_shard_size = 5000000000} for a bf16
 * checkpoint split as transformers splits it. */
int llama_save_as(const llama_model *m, const char *dir, const llama_storage *how,
                  lethe_err *err);
void llama_free(llama_model *m);

/* One HF-named tensor: a (role, layer) slice of a parameter tensor (layer 0
 * for the roles that are not stacked over layers: embedding, final norm, LM
 * head and their biases). Used by load/save, checkpoints and `lethe grad`. */
typedef struct llama_tensor_ref {
  char name[96];
  float *data;      /* into params_memory or grads_memory; NULL for llama_tensor_names */
  int ndim;
  int64_t shape[2];
  int role, layer;  /* llama_param_role, 0..L-1 */
} llama_tensor_ref;
/* What llama_named_tensors enumerates. */
enum { LLAMA_OF_PARAMS = 0, LLAMA_OF_GRADS = 1 };
/* Enumerates every HF-named tensor of the parameters (LLAMA_OF_PARAMS) or
 * of the gradients (LLAMA_OF_GRADS: the trainable tensors only, those
 * llama_grad gives); returns the count written to out (capacity cap).
 * lm_head is skipped when tied. */
int llama_named_tensors(const llama_model *m, int of, llama_tensor_ref *out, int cap);
/* The same names for a config alone (no model allocated; data NULL), in the
 * same order: what settings that name tensors are checked against. */
int llama_tensor_names(const llama_config *cfg, llama_tensor_ref *out, int cap);
struct st_entry;
/* Writes every HF-named tensor of `of` (llama_named_tensors) as F32
 * safetensors at path, followed by n_extra further entries (may be NULL/0),
 * with string metadata pairs (may be NULL/0). Atomic. */
int llama_write_safetensors(const llama_model *m, int of, const char *path,
                            const struct st_entry *extra, int n_extra, const char *const *meta_kv,
                            int n_meta, lethe_err *err);

/* ---- frozen weights in bfloat16 (model/llama_frozen.c) ----
 * A frozen matrix (an embedding or a linear weight that does not train) is
 * only ever read, so it can live in bfloat16: 2 bytes a parameter instead
 * of 4. llama_hold_frozen moves the frozen matrix slices of a model whose
 * trainable set is chosen (llama_set_trainable, llama_freeze,
 * llama_attach_lora) into frozen16 and gives their float32 pages back;
 * the forward and backward then read them from there (f32 compute: widened
 * to float32 a block of rows at a time; bf16 compute: as they are), so do
 * generation, a borrowed view (llama_borrow) and llama_round_params.
 * Everything else that reads the float32 parameters (saving, merging an
 * adapter, checkpoints of the whole model) needs llama_release_frozen
 * first, which widens them back exactly; a read of a held float32 page
 * faults rather than reading zeros. Nothing trains differently: AUTO holds
 * only slices whose values are bfloat16 already (a bf16 checkpoint), so
 * every computation sees the same values as before; BF16 rounds the rest
 * too (a choice, like bf16 compute). */
enum { LLAMA_HOLD_F32 = 0, LLAMA_HOLD_BF16 = 1, LLAMA_HOLD_AUTO = 2 };
/* Holds the frozen matrix slices as `mode` says; returns the floats held
 * (0 for LLAMA_HOLD_F32, a view, or when something is held already). */
size_t llama_hold_frozen(llama_model *m, int mode);
/* The float32 values of one (role, layer) slice into dst (the slice's
 * floats), widened when it is held: what reads a frozen model's weights
 * outside the forward (a method's reference parameters). */
void llama_read_slice(const llama_model *m, int role, int layer, float *dst);
/* Back to float32 (exactly the held values); a no-op when nothing is held. */
void llama_release_frozen(llama_model *m);
/* The mode a setting names ("auto", "f32", "bf16"); -1 with err otherwise. */
int llama_hold_from_name(const char *name, int *mode, lethe_err *err);
/* 1 when llama_hold_frozen(mode) will hold the frozen matrices of the model
 * whose config.json is at config_path: BF16 always, AUTO when the config
 * says its weights are bfloat16 (llama_config_says_bf16). For planning. */
int llama_hold_planned(int mode, const char *config_path);
/* The floats llama_hold_frozen(LLAMA_HOLD_BF16) would hold in a model of
 * cfg with the mask's slices trainable (NULL: nothing trains, e.g. under
 * an adapter): every matrix slice the mask leaves frozen. For planning. */
size_t llama_frozen_matrix_floats(const llama_config *cfg, const uint8_t *mask);
/* The bytes of the f32-compute widening buffer a hold of those slices uses. */
size_t llama_widen_bytes(const llama_config *cfg, const uint8_t *mask);
/* The weights rounded to bfloat16 into dst (n_params, params_memory's
 * layout), but for the held slices (read from frozen16 instead; their
 * part of dst is left untouched): what bf16 compute's copy needs. */
void llama_round_params(const llama_model *m, uint16_t *dst);

/* ---- trainable subsets (model/llama_trainable.c; llama_grad with the buffers in llama.c) ----
 * A mask is (LLAMA_N_PARAM_TENSORS, L) bytes, role-major: mask[role * L +
 * layer] = 1 when that slice trains; the roles not stacked over layers use
 * layer 0 (their other entries are ignored, as are roles the family does not
 * have and lm_head when tied: the embedding trains it). A frozen slice has
 * no gradient buffer (llama_grad gives NULL) and no optimizer state, and
 * llama_backward skips its weight gradient, and all work below the lowest
 * trainable layer (with the embedding frozen, no scatter-add either). */
#define LLAMA_FROZEN ((size_t)-1)
/* The mask of the tensors whose HF names fully match one of the PCRE2
 * patterns (n == 0: every tensor), for cfg. `setting` names where the
 * patterns come from in errors (e.g. "finetune.params (exp.cfg:12)"): a
 * pattern that does not compile (PCRE2's message and offset) or matches no
 * tensor is refused. mask must hold LLAMA_N_PARAM_TENSORS * L bytes. */
int llama_trainable_mask(const llama_config *cfg, const char *const *patterns, int n,
                         uint8_t *mask, const char *setting, lethe_err *err);
/* Makes the mask's slices (NULL = every tensor) the trainable ones and
 * (re)allocates zeroed gradients for them alone (any earlier gradients are
 * freed; a shell, llama_shell, gets no buffer: for planning). Fails when
 * the mask selects nothing. */
int llama_set_trainable(llama_model *m, const uint8_t *mask, lethe_err *err);
/* Freezes every tensor (no gradient buffer at all): for training something
 * else on top of the model, an adapter (m->lora). Undone by
 * llama_set_trainable. */
void llama_freeze(llama_model *m);
/* Attaches an adapter (borrowed, see llama_model.lora) and freezes the base;
 * NULL detaches (what trains stays as it is). */
void llama_attach_lora(llama_model *m, struct lora_adapter *lo);
/* Gradient of one (role, layer) slice (layer 0 for the roles not stacked
 * over layers; lm_head when tied is the embedding's); NULL when frozen or
 * before llama_alloc_grads. Consecutive trainable layers of a role are
 * adjacent, so with every layer trainable llama_grad(m, role, 0) is the
 * whole stacked (L, ...) gradient. */
float *llama_grad(const llama_model *m, int role, int layer);
/* 1 for the roles stacked over layers (wq, attn_norm, ...), 0 for the
 * embedding, final norm, LM head and their biases. */
int llama_param_role_is_layered(int role);
/* A run of trainable parameters and their gradients: one role's
 * consecutive trainable layers. In gradient order, so spans tile
 * grads_memory: the optimizer's state follows the same layout. */
typedef struct llama_span {
  int role;
  float *params, *grads;
  size_t n;
} llama_span;
/* Writes the spans into out (capacity cap) and returns their count. */
int llama_trainable_spans(const llama_model *m, llama_span *out, int cap);
/* The floats a mask (llama_trainable_mask; NULL = every tensor) makes
 * trainable in a model of cfg: its gradients hold that many. */
size_t llama_trainable_floats(const llama_config *cfg, const uint8_t *mask);
/* 1 when the (role, layer) slice trains: it has a gradient offset (0 while
 * what trains is not chosen; lm_head when tied is the embedding). Unlike
 * llama_grad, it needs no gradient buffer. */
int llama_slice_trains(const llama_model *m, int role, int layer);
/* The lowest block whose parameters train (a slice with a gradient offset,
 * or an adapter's branch): -1 the embedding, 2l layer l's attention, 2l+1
 * its MLP, 2L the final norm and head, and 2L also when nothing trains
 * (no llama_set_trainable, llama_alloc_grads or adapter yet: a model that
 * only runs forward). Backward stops at it. */
int llama_lowest_block(const llama_model *m);
/* The layer of llama_lowest_block (0 for the embedding, L for the head or
 * nothing): llama_forward keeps the activations of this layer and those
 * above only, since no backward runs below it. 0 while what trains is not
 * chosen (llama_alloc_grads would train everything); a model that only
 * runs forward (a reference, an evaluation) is llama_freeze'd and keeps one
 * layer's activations. Set what trains before the forward whose backward
 * needs it (llama_backward aborts otherwise). */
int llama_first_trained_layer(const llama_model *m);
/* 0 when nothing of m trains (llama_freeze, no adapter): its forward
 * needs no backward buffers, and llama_backward does nothing. */
int llama_runs_backward(const llama_model *m);
/* Trainable tensors (HF names) and floats. */
int llama_trainable_tensors(const llama_model *m);

/* All tensors trainable (unless llama_set_trainable chose), gradients zeroed;
 * a no-op when they exist. */
void llama_alloc_grads(llama_model *m);
void llama_zero_grads(llama_model *m);
/* Ensures activation capacity for (B, T); reallocates only when growing. */
void llama_reserve(llama_model *m, int B, int T);
/* The bytes llama_reserve(m, B, T) would allocate from nothing (acts_bytes
 * after it) with m's settings (compute, checkpointing, logits), without
 * allocating: m needs its config and settings only, no weights. */
size_t llama_reserve_bytes(const llama_model *m, int B, int T);
/* Activation checkpointing (off by default): llama_forward keeps only each
 * layer's input (acts.resid) and the final norm, everything else a layer's
 * backward needs lives in one layer's worth of buffers, and llama_backward
 * recomputes layer l's forward from its saved input just before its
 * backward. Gradients are the same bits as without (the same kernels on the
 * same inputs); activations take about 1/L of the memory, for one more
 * forward pass per backward. Activation buffers are reallocated at the
 * next forward. */
void llama_set_checkpointing(llama_model *m, int on);

/* Selects the compute precision of llama_forward/llama_backward (the default
 * is LLAMA_COMPUTE_F32). With LLAMA_COMPUTE_BF16 every matmul takes
 * bfloat16 inputs and accumulates and stores float32 (AVX512_BF16 runs these
 * about twice as fast): the weights are rounded from the float32 master copy
 * at the start of every llama_forward (so optimizer updates are always seen),
 * and the kernels that produce matmul inputs also write them rounded. Norms,
 * softmax, losses, gradients and optimizer state stay float32. Costs a
 * bf16 copy of the parameters and of the matmul inputs. A KV cache
 * (generate.h) follows the precision the model has when the cache is set up.
 * Activation buffers are reallocated at the next forward. */
void llama_set_compute(llama_model *m, int mode);
/* The mode a setting names: "f32", "bf16", or "auto" = bf16 where this
 * machine has native bf16 matmuls (tensor_backend_get), f32 elsewhere. Fails
 * with a message for another name, or for "bf16" on a machine without them
 * (saying what the machine has and what to use instead). */
int llama_compute_from_name(const char *name, int *mode, lethe_err *err);
const char *llama_compute_name(int mode); /* "f32" or "bf16" */

/* Skipping padding (off by default). With it on, llama_forward computes
 * only the positions whose attn_mask is 1: the embedding, norms, linear
 * layers and MLP run on those rows alone (their activations are packed, one
 * row per computed position, m->rows of them), and only the attention
 * works in the (B,T) layout, where the skipped positions are keys nobody
 * sees. The computed positions get the same values as without skipping, up
 * to float summation order in the weight gradients (the sums over rows lose
 * terms that are exactly zero). The skipped positions get nothing: their
 * whole logits are 0 and a target there has no log-prob (chunked: 0, whole:
 * that of uniform logits), so callers give them target -1, as padding has.
 * Hugging Face computes padded queries too; tests that compare every
 * position leave this off. llama_hidden and llama_backward_hidden need it
 * off (they speak (B,T,C)). A batch without padding runs as without
 * skipping, bit for bit. LETHE_SKIP_PADDING=0 in the environment makes
 * every call turn it off (to compare). Activation buffers are reallocated
 * at the next forward when the setting changes. */
void llama_set_skip_padding(llama_model *m, int on);

/* Row counts in steps of q (0, the default: 16 where the matmuls run on
 * oneDNN — bf16 compute, or float32 on a CPU where oneDNN's brgemm does it —
 * else 1). oneDNN creates a primitive (JIT kernels and their memory) for
 * every matmul shape; skipped padding would make the row count — the M of
 * every linear layer, the K of its weight gradient — a new number almost
 * every batch, and creating the primitives took a quarter of a bf16
 * fine-tuning epoch (docs/performance.md). With skipping on, a forward
 * computes up to q - 1 padded positions besides the real ones (never all
 * of them) so that m->rows is a multiple of q, and the chunked head works
 * on a multiple of q rows, the extra ones zero. The extra positions are
 * padded queries computed as without skipping; they have no target, their
 * whole logits are 0 and no gradient comes from them, so every real
 * position gets the same values, up to float summation order in the weight
 * gradients under oneDNN (sums over rows gain terms that are exactly zero;
 * lethe's GEMM sums in a fixed order, so there nothing changes at all).
 * LETHE_ROW_QUANTUM=q in the environment replaces the default (for
 * benchmarks). */
void llama_set_row_quantum(llama_model *m, int q);
/* The row quantum in force (llama_set_row_quantum). */
int llama_row_quantum(const llama_model *m);

/* Selects how llama_forward .. llama_backward meet the vocabulary (the
 * default is LLAMA_LOGITS_WHOLE).
 * WHOLE: llama_forward writes m->acts.logits (B,T,V), which llama_backward
 * reads back as dL/dlogits: what methods that see logits (KL terms) need.
 * CHUNKED: no (B,T,V) buffer exists; the head works on chunks of `rows`
 * rows (rows = 0: LLAMA_LOGITS_CHUNK_BYTES of logits per chunk), made of
 * the positions that have a target (>= 0), gathered: positions without one
 * (prompts, padding) cost nothing in the head. llama_forward stops at the final norm (final_xn);
 * llama_target_logp computes each chunk's logits, log-sum-exp and target
 * logit; llama_dlogits_from_dlogp only borrows targets and dL/dlogp (they
 * must stay valid until llama_backward returns; extra_dlogits must be NULL);
 * llama_backward recomputes each chunk's logits, forms g·(onehot − softmax)
 * and runs the head's two matmuls chunk by chunk (last chunk first: its
 * logits are still there from llama_target_logp, so a batch of one chunk
 * is not recomputed). The results equal the
 * whole mode's up to float summation order; the activations hold (rows, V)
 * logits instead of (B, T, V), and bf16 compute's d_logits likewise. Costs
 * one more head matmul per step for all chunks but the last. Activation buffers are
 * reallocated at the next forward when the setting changes. */
void llama_set_logits(llama_model *m, int mode, int rows);

/* Forward: fills m->acts.logits (B,T,V) (whole logits; chunked: stops at
 * final_xn, see llama_set_logits). tokens and attn_mask must stay
 * valid until llama_backward returns. Token ids must be < V (checked). With
 * a sliding_window W (mistral), query t sees keys t − W < j <= t. */
int llama_forward(llama_model *m, const int32_t *tokens, const int32_t *attn_mask, int B, int T,
                  lethe_err *err);
/* Per-token log-probability of targets: out[b*T+t] = log softmax(logits[b,t])[targets[b*T+t]]
 * for targets >= 0, else 0. Double accumulation for the log-sum-exp. In
 * chunked mode this runs the LM head, chunk by chunk. */
void llama_target_logp(llama_model *m, const int32_t *targets, float *out);
/* What llama_target_logp_each hands over, chunk by chunk: the logits (n, V)
 * of n positions with a target, pos[j] the flat index (b·T + t) of row j. */
typedef void (*llama_logits_fn)(void *user, const float *logits, const int32_t *pos, int64_t n,
                                int V);
/* llama_target_logp in chunked mode (required) that also gives each chunk's
 * logits to fn before the next chunk overwrites them: the whole next-token
 * distribution of every position with a target, and of no other position,
 * without ever holding (B, T, V). */
void llama_target_logp_each(llama_model *m, const int32_t *targets, float *out,
                            llama_logits_fn fn, void *user);
/* Turns dL/dlogp (B,T) into dL/dlogits in place of m->acts.logits:
 * dlogits = g·(onehot(target) − softmax(logits)); adds extra_dlogits (B,T,V)
 * when non-NULL (plugins that asked for logits; whole mode only). Chunked
 * mode: borrows targets and dlogp for llama_backward (llama_set_logits). */
void llama_dlogits_from_dlogp(llama_model *m, const int32_t *targets, const float *dlogp,
                              const float *extra_dlogits);
/* Backward from dL/dlogits (held in m->acts.logits); adds into the
 * gradients of the trainable slices (llama_grad). */
void llama_backward(llama_model *m);
/* The residual stream after decoder block `layer` (0-based; Hugging Face's
 * hidden_states[layer + 1]) of the last forward: a (B,T,C) view into the
 * activations, valid until the next forward. */
const float *llama_hidden(const llama_model *m, int layer);
/* llama_backward with dhidden (B,T,C, the last forward's rows) added to
 * ∂L/∂hidden after block `layer`. head = 1: from the logits, as
 * llama_backward (after llama_dlogits_from_dlogp); head = 0: the logits
 * carry no gradient, so the backward starts at that layer (the head and the
 * blocks above it get nothing; dhidden is copied, not borrowed).
 * llama_backward(m) is llama_backward_hidden(m, -1, NULL, 1). */
void llama_backward_hidden(llama_model *m, int layer, const float *dhidden, int head);

#endif
