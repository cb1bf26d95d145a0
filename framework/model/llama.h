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
 * every query; pad queries are computed normally, as Hugging Face does).
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

/* Activations kept for backward, sized for (B_max, T_max). */
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
  float *swiglu;    /* (L, B, T, F) silu(gate)*up (phi: gelu(fc1)) */
  float *final_xn;  /* (B, T, C) */
  float *final_rstd;/* (B, T) */
  float *logits;    /* (B, T, V); llama_backward reads dlogits from here */
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
  uint16_t *swiglu;   /* (L, B, T, F) */
  uint16_t *final_xn; /* (B, T, C) */
  /* backward scratch, one layer at a time */
  uint16_t *d_logits; /* (B, T, V) */
  uint16_t *d_resid;  /* (B, T, C) */
  uint16_t *d_att_out, *d_q, *d_k, *d_v; /* (B, T, NH*HD) */
  uint16_t *d_att;    /* (B, NH, T, T) */
  uint16_t *d_gate, *d_up; /* (B, T, F) */
} llama_acts_bf16;

/* Compute precision of llama_forward and llama_backward (llama_set_compute). */
enum { LLAMA_COMPUTE_F32 = 0, LLAMA_COMPUTE_BF16 = 1 };

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
  float *params_memory;
  llama_params params;
  float *grads_memory;      /* NULL until llama_alloc_grads */
  llama_params grads;
  int B_max, T_max;         /* activation capacity; 0 until llama_reserve */
  float *acts_memory;
  llama_acts acts;
  float *scratch_memory;
  llama_scratch scratch;
  float *rope_cos, *rope_sin; /* (T_max, HD/2) */
  int B, T;                 /* shape of the last forward */
  const int32_t *tokens;    /* borrowed from the last forward, (B,T) */
  const int32_t *attn_mask; /* borrowed from the last forward, (B,T) */
  llama_profile *profile;   /* borrowed; NULL = no timing (the default) */
  int compute;              /* LLAMA_COMPUTE_*; change it with llama_set_compute */
  uint16_t *params_bf16;    /* bf16 compute: weights rounded at each llama_forward */
  uint16_t *acts_bf16_memory;
  llama_acts_bf16 acts_bf16;
  llama_storage storage;    /* how llama_save writes the weights (llama_storage.h) */
  /* borrowed; non-NULL: the adapter's branches are added to the targeted
   * projections and the base is frozen — backward adds only into the
   * adapter's gradients (no base weight-gradient matmuls, no embedding
   * gradient; norm and bias gradients are still written — cheap, and only
   * their pages of the lazily zeroed grads_memory take memory — until
   * trainable subsets replace this switch). model/lora.h */
  struct lora_adapter *lora;
} llama_model;

/* 1 for the roles that are matrices or embeddings, 0 for norms and biases. */
int llama_param_role_is_matrix(int role);
/* Rotary tables (positions 0..t_max-1, rotary_dim/2 frequencies each) with
 * the config's rope rule (model/arch.c). */
void llama_rope_tables(const llama_config *cfg, float *cos_t, float *sin_t, int t_max);

/* Allocates zeroed parameters for cfg (validated first). */
int llama_alloc(llama_model *m, const llama_config *cfg, lethe_err *err);
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

/* HF name of parameter tensor i (0..LLAMA_N_PARAM_TENSORS-1) in layer l
 * (-1 for non-layer tensors); returns the number of floats of one layer's (or
 * the whole) tensor. Used by load/save and `lethe grad`. */
typedef struct llama_tensor_ref {
  char name[96];
  float *data;      /* into params or grads */
  int ndim;
  int64_t shape[2];
} llama_tensor_ref;
/* Enumerates every HF-named tensor of `which` (m->params or m->grads);
 * returns the count written to out (capacity cap). lm_head is skipped when tied. */
int llama_named_tensors(const llama_model *m, const llama_params *which, llama_tensor_ref *out,
                        int cap);
struct st_entry;
/* Writes every HF-named tensor of `which` (m->params or m->grads) as F32
 * safetensors at path, followed by n_extra further entries (may be NULL/0),
 * with string metadata pairs (may be NULL/0). Atomic. */
int llama_write_safetensors(const llama_model *m, const llama_params *which, const char *path,
                            const struct st_entry *extra, int n_extra, const char *const *meta_kv,
                            int n_meta, lethe_err *err);

void llama_alloc_grads(llama_model *m);
void llama_zero_grads(llama_model *m);
/* Ensures activation capacity for (B, T); reallocates only when growing. */
void llama_reserve(llama_model *m, int B, int T);

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

/* Forward: fills m->acts.logits (B,T,V). tokens and attn_mask must stay
 * valid until llama_backward returns. Token ids must be < V (checked). With
 * a sliding_window W (mistral), query t sees keys t − W < j <= t. */
int llama_forward(llama_model *m, const int32_t *tokens, const int32_t *attn_mask, int B, int T,
                  lethe_err *err);
/* Per-token log-probability of targets: out[b*T+t] = log softmax(logits[b,t])[targets[b*T+t]]
 * for targets >= 0, else 0. Double accumulation for the log-sum-exp. */
void llama_target_logp(const llama_model *m, const int32_t *targets, float *out);
/* Turns dL/dlogp (B,T) into dL/dlogits in place of m->acts.logits:
 * dlogits = g·(onehot(target) − softmax(logits)); adds extra_dlogits (B,T,V)
 * when non-NULL (plugins that asked for logits). */
void llama_dlogits_from_dlogp(llama_model *m, const int32_t *targets, const float *dlogp,
                              const float *extra_dlogits);
/* Backward from dL/dlogits (held in m->acts.logits); adds into m->grads. */
void llama_backward(llama_model *m);

#endif
