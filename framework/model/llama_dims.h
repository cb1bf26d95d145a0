/* llama_dims — the derived sizes llama.c and llama_layers.c both use
 * (internal to the model room). */
#ifndef LETHE_MODEL_LLAMA_DIMS_H
#define LETHE_MODEL_LLAMA_DIMS_H

#include "model/config.h"

typedef struct dims {
  int V, C, F, L, NH, NKV, HD, QD, KVD; /* QD = NH*HD, KVD = NKV*HD */
} dims;

static inline dims dims_of(const llama_config *c) {
  dims d = {c->vocab_size, c->hidden_size, c->intermediate_size, c->num_hidden_layers,
            c->num_attention_heads, c->num_key_value_heads, c->head_dim, 0, 0};
  d.QD = d.NH * d.HD;
  d.KVD = d.NKV * d.HD;
  return d;
}

#endif
