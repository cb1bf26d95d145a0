/* families — the six small-model variants the memory tests run over (shared
 * by test_train_memory and test_memplan): 0 llama (GQA), 1 llama tied,
 * 2 mistral (sliding window), 3 qwen2 (q/k/v biases), 4 qwen3 (q/k norms),
 * 5 phi (biases everywhere, partial rotary over half the head, no GQA). */
#ifndef LETHE_TEST_FAMILIES_H
#define LETHE_TEST_FAMILIES_H

#include "model/config.h"

#define N_FAMILIES 6

/* Turns a llama config (sizes already set) into family `which`. */
static inline void family_apply(llama_config *c, int which) {
  switch (which) {
  case 1: c->tie_word_embeddings = 1; break;
  case 2: c->family = LLAMA_FAMILY_MISTRAL, c->sliding_window = 4; break;
  case 3: c->family = LLAMA_FAMILY_QWEN2, c->qkv_bias = 1; break;
  case 4: c->family = LLAMA_FAMILY_QWEN3, c->qk_norm = 1; break;
  case 5:
    c->family = LLAMA_FAMILY_PHI, c->qkv_bias = c->o_bias = c->mlp_bias = 1;
    c->rotary_dim = c->head_dim / 2;
    c->num_key_value_heads = c->num_attention_heads;
    break;
  }
}

#endif
