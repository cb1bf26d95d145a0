/* llama_dims — the derived sizes llama.c and llama_layers.c both use
 * (internal to the model room). */
#ifndef LETHE_MODEL_LLAMA_DIMS_H
#define LETHE_MODEL_LLAMA_DIMS_H

#include <stddef.h>

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

/* The floats of each parameter role for c (0 for a role the family does
 * not have, and for lm_head when tied), in storage order. */
void llama_param_sizes_of(const llama_config *c, size_t *sizes);

struct llama_model;
/* A role's slices (L when stacked over layers, else 1), the floats of one,
 * and where slice (role, layer) of the parameters is. */
int llama_role_slices(const struct llama_model *m, int role);
size_t llama_slice_floats(const struct llama_model *m, int role);
float *llama_param_slice(const struct llama_model *m, int role, int layer);

#endif
