/* config — a Llama model's shape, read from and written to a Hugging Face
 * `config.json`. Not here: the weights (safetensors.h) or the math (llama.h). */
#ifndef LETHE_MODEL_CONFIG_H
#define LETHE_MODEL_CONFIG_H

#include <stdint.h>

#include "core/core.h"

typedef struct llama_config {
  int vocab_size;
  int hidden_size;        /* C */
  int intermediate_size;  /* F (SwiGLU width) */
  int num_hidden_layers;  /* L */
  int num_attention_heads;/* NH */
  int num_key_value_heads;/* NKV (GQA); defaults to NH */
  int head_dim;           /* HD; defaults to C / NH */
  int max_position_embeddings;
  double rms_norm_eps;
  double rope_theta;      /* top-level rope_theta or rope_parameters.rope_theta */
  int tie_word_embeddings;/* 0/1 */
  int bos_token_id, eos_token_id, pad_token_id; /* -1 if absent */
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
 * (hidden = heads × head_dim unless head_dim given, heads % kv_heads == 0,
 * supported hidden_act "silu", no biases, rope_type "default" if present). */
int llama_config_read(llama_config *cfg, const char *path, lethe_err *err);
/* Writes a config.json that transformers loads as LlamaForCausalLM. Atomic. */
int llama_config_write(const llama_config *cfg, const char *path, lethe_err *err);
/* The same with `dtype` and `torch_dtype` set to the weights' PyTorch dtype
 * ("float32", "bfloat16", "float16"); llama_config_write says "float32". */
int llama_config_write_dtype(const llama_config *cfg, const char *path, const char *torch_dtype,
                             lethe_err *err);
/* Checks a config built in code (same rules as the reader). */
int llama_config_validate(const llama_config *cfg, const char *where, lethe_err *err);
void llama_config_defaults(llama_config *cfg);
/* Number of parameters (weights) the configuration describes. */
uint64_t llama_config_n_params(const llama_config *cfg);

#endif
