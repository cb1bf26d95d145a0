/* llama_storage — how a model's weights are stored on disk: each tensor's
 * dtype and shard, kept from llama_load so that llama_save writes a
 * checkpoint the way it was read (a bf16 model in 3 shards stays one).
 * The zero value is lethe's own layout: every tensor F32 in one
 * model.safetensors. Not here: the file formats (safetensors.h,
 * st_shards.h), the tensors' names (llama_named_tensors), the writing
 * itself (llama_save_as in llama_io.c).
 */
#ifndef LETHE_LLAMA_STORAGE_H
#define LETHE_LLAMA_STORAGE_H

#include <stdint.h>

#include "core/core.h"

typedef struct llama_stored_tensor {
  char name[96];
  int dtype; /* st_dtype: ST_F32, ST_BF16 or ST_F16 */
  int shard; /* 0-based; 0 when n_shards is 0 */
} llama_stored_tensor;

typedef struct llama_storage {
  int dtype;               /* st_dtype of every tensor when none is remembered (ST_F32 = 0) */
  uint64_t max_shard_size; /* bytes per shard when splitting afresh; 0 = one file */
  int n_shards;            /* of the remembered layout: 0 = model.safetensors */
  int omit_total_parameters; /* the remembered index had no metadata.total_parameters */
  int n_tensors;
  llama_stored_tensor *tensors; /* owned: the loaded tensors, in llama_named_tensors order */
} llama_storage;

struct st_set;
struct st_entry;
struct llama_tensor_ref;
/* Remembers the layout of the weights refs[n] were just loaded from: each
 * tensor's dtype (F64 and other unwritable types become F32) and shard, the
 * dtype of the first tensor for new ones, and ST_DEFAULT_MAX_SHARD_SIZE
 * when the weights were sharded. Replaces what s held. */
void llama_storage_remember(llama_storage *s, const struct st_set *set,
                            const struct llama_tensor_ref *refs, int n);
void llama_storage_free(llama_storage *s);
struct st_layout;
/* Fills entries[n] (borrowing refs' names and data), shard_of[n] and
 * layout (pointing at shard_of) for st_set_write: the remembered dtype and
 * shard of each tensor when `how` remembers exactly refs' names in order,
 * otherwise every tensor as how->dtype split by how->max_shard_size
 * (st_split_shards). -1 with err (naming dir) for a dtype that cannot be
 * written. */
int llama_storage_plan(const llama_storage *how, const struct llama_tensor_ref *refs, int n,
                       struct st_entry *entries, int *shard_of, struct st_layout *layout,
                       const char *dir, lethe_err *err);
/* The PyTorch name of the dtype most of entries[n] are stored as
 * ("float32", "bfloat16" or "float16"), for config.json's torch_dtype. */
const char *llama_storage_torch_dtype(const struct st_entry *entries, int n);

#endif
