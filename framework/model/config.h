/* config — a model's shape and family (llama, mistral, qwen2, qwen3, phi),
 * read from and written to a Hugging Face `config.json`. Not here: the
 * weights (safetensors.h) or the math (llama.h). The per-family rules live in
 * model/arch.c. */
#ifndef LETHE_MODEL_CONFIG_H
#define LETHE_MODEL_CONFIG_H

#include <stdint.h>

#include "core/core.h"

/* The families behind config.json's model_type (table in model/arch.c). */
typedef enum llama_family {
  LLAMA_FAMILY_LLAMA, LLAMA_FAMILY_MISTRAL, LLAMA_FAMILY_QWEN2, LLAMA_FAMILY_QWEN3,
  LLAMA_FAMILY_PHI,
  LLAMA_N_FAMILIES
} llama_family;

/* Rotary frequency rules (rope_type); others are refused by the reader. */
typedef enum llama_rope_type {
  LLAMA_ROPE_DEFAULT, LLAMA_ROPE_LINEAR, LLAMA_ROPE_LLAMA3
} llama_rope_type;

#define LLAMA_MAX_EOS_IDS 8 /* entries of an eos_token_id list kept */

typedef struct llama_config {
  int family;             /* llama_family, from model_type */
  int vocab_size;
  int hidden_size;        /* C */
  int intermediate_size;  /* F (SwiGLU width) */
  int num_hidden_layers;  /* L */
  int num_attention_heads;/* NH */
  int num_key_value_heads;/* NKV (GQA); defaults to NH */
  int head_dim;           /* HD; defaults to C / NH */
  int max_position_embeddings;
  double rms_norm_eps;    /* the norms' eps: rms_norm_eps, or layer_norm_eps for phi */
  double rope_theta;      /* top-level rope_theta or rope_parameters.rope_theta */
  int rope_type;          /* llama_rope_type */
  double rope_factor;     /* linear, llama3: factor */
  double rope_low_freq_factor, rope_high_freq_factor; /* llama3 */
  int rope_original_max_positions; /* llama3: original_max_position_embeddings */
  int rotary_dim;         /* dims of each head rotated: head_dim x partial_rotary_factor;
                           * 0 = all (llama_alloc sets it) */
  int qkv_bias;           /* q/k/v projections have biases (qwen2, phi, attention_bias) */
  int o_bias;             /* the output projection has a bias (phi, llama attention_bias) */
  int mlp_bias;           /* the MLP projections have biases (phi, llama mlp_bias) */
  int qk_norm;            /* RMSNorm on each q and k head before RoPE (qwen3) */
  int sliding_window;     /* mistral: keys in the window, the query's own included (0 = none) */
  int tie_word_embeddings;/* 0/1 */
  int bos_token_id, eos_token_id, pad_token_id; /* -1 if absent */
  /* eos_token_id given as a list (Llama-3.1+: end_of_text, eom, eot): its
   * entries after the first, written back as the same list */
  int more_eos_ids[LLAMA_MAX_EOS_IDS - 1];
  int n_more_eos_ids;
  double initializer_range;
} llama_config;

/* Limits that keep a hostile config from asking for absurd memory. */
#define LLAMA_MAX_VOCAB (1 << 22)
#define LLAMA_MAX_HIDDEN (1 << 16)
#define LLAMA_MAX_LAYERS 1024
#define LLAMA_MAX_HEADS 1024
#define LLAMA_MAX_PARAMS ((uint64_t)1 << 34) /* 17 G parameters, 64 GiB as float32 */

/* Reads config.json. Required: vocab_size, hidden_size, intermediate_size,
 * num_hidden_layers, num_attention_heads. Validates types and ranges
 * (hidden = heads × head_dim unless head_dim given, heads % kv_heads == 0),
 * and the family's own keys (model/arch.c): model_type one of llama,
 * mistral, qwen2, qwen3, phi (absent = llama), architectures consistent with
 * it, the family's activation, biases, rope_type default/linear/llama3,
 * partial rotary, sliding windows. Anything else the runtime cannot honour is
 * an error naming the field. */
int llama_config_read(llama_config *cfg, const char *path, lethe_err *err);
/* Writes a config.json that transformers loads as the same family (its
 * model_type, architectures and keys). Atomic. */
int llama_config_write(const llama_config *cfg, const char *path, lethe_err *err);
/* The same with `dtype` and `torch_dtype` set to the weights' PyTorch dtype
 * ("float32", "bfloat16", "float16"); llama_config_write says "float32". */
int llama_config_write_dtype(const llama_config *cfg, const char *path, const char *torch_dtype,
                             lethe_err *err);
/* 1 when the config.json at path says its weights are bfloat16
 * ("torch_dtype" or "dtype"), 0 otherwise (absent, another dtype, or no
 * readable file): what a plan assumes llama_hold_frozen(AUTO) will hold. */
int llama_config_says_bf16(const char *path);
/* Checks a config built in code (same rules as the reader). */
int llama_config_validate(const llama_config *cfg, const char *where, lethe_err *err);
/* Defaults of a llama config (family llama, default rope, no biases). */
void llama_config_defaults(llama_config *cfg);
/* The family's model_type ("llama", ...). */
const char *llama_family_name(int family);
/* 1 when the family is phi-shaped: LayerNorm with bias, one norm feeding
 * attention and MLP in parallel, GELU MLP (fc1/fc2), lm_head bias. */
int llama_config_is_phi(const llama_config *cfg);
/* Number of parameters (weights) the configuration describes. */
uint64_t llama_config_n_params(const llama_config *cfg);

#endif
