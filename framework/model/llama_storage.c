/* llama_storage — remembering how a checkpoint stored its weights and
 * planning to write them that way again (see llama_storage.h). Tensors are
 * named by llama_named_tensors, so a tensor added there is stored and
 * restored without a change here. */
#include "model/llama_storage.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/llama.h"
#include "model/st_shards.h"

static int writable_dtype(st_dtype dt) { return dt == ST_BF16 || dt == ST_F16 ? (int)dt : ST_F32; }

void llama_storage_remember(llama_storage *s, const st_set *set, const llama_tensor_ref *refs,
                            int n) {
  llama_storage_free(s);
  s->tensors = lethe_calloc((size_t)n + 1, sizeof *s->tensors);
  s->n_tensors = n;
  s->n_shards = set->sharded ? set->n_files : 0;
  s->max_shard_size = set->sharded ? ST_DEFAULT_MAX_SHARD_SIZE : 0;
  s->omit_total_parameters = set->sharded && !set->has_total_parameters;
  for (int i = 0; i < n; i++) {
    int file = 0;
    const st_tensor *t = st_set_find(set, refs[i].name, &file);
    llama_stored_tensor *stored = &s->tensors[i];
    snprintf(stored->name, sizeof stored->name, "%s", refs[i].name);
    stored->dtype = t ? writable_dtype(t->dtype) : ST_F32;
    stored->shard = set->sharded ? file : 0;
  }
  s->dtype = n ? s->tensors[0].dtype : ST_F32;
}

void llama_storage_free(llama_storage *s) {
  free(s->tensors);
  memset(s, 0, sizeof *s);
}

/* Whether `how` remembers exactly the tensors refs names, in that order. */
static int remembers(const llama_storage *how, const llama_tensor_ref *refs, int n) {
  if (!how->tensors || how->n_tensors != n) return 0;
  for (int i = 0; i < n; i++)
    if (strcmp(how->tensors[i].name, refs[i].name) != 0) return 0;
  return 1;
}

int llama_storage_plan(const llama_storage *how, const llama_tensor_ref *refs, int n,
                       st_entry *entries, int *shard_of, st_layout *layout, const char *dir,
                       lethe_err *err) {
  if (writable_dtype((st_dtype)how->dtype) != how->dtype)
    return lethe_errf(err, LETHE_E_USAGE, "saving %s: dtype %s cannot be written (F32, BF16 or "
                      "F16)", dir, st_dtype_name((st_dtype)how->dtype));
  int same = remembers(how, refs, n);
  for (int i = 0; i < n; i++) {
    entries[i] = (st_entry){.name = refs[i].name, .ndim = refs[i].ndim, .data = refs[i].data,
                            .shape = {refs[i].shape[0], refs[i].shape[1]}};
    entries[i].dtype = (st_dtype)(same ? how->tensors[i].dtype : how->dtype);
    shard_of[i] = same ? how->tensors[i].shard : 0;
  }
  layout->shard_of = shard_of;
  layout->n_shards =
      same ? how->n_shards : st_split_shards(entries, n, how->max_shard_size, shard_of);
  layout->omit_total_parameters = same && how->omit_total_parameters;
  return 0;
}

const char *llama_storage_torch_dtype(const st_entry *entries, int n) {
  int count[3] = {0}; /* F32, BF16, F16 */
  for (int i = 0; i < n; i++)
    count[entries[i].dtype == ST_BF16 ? 1 : entries[i].dtype == ST_F16 ? 2 : 0]++;
  int most = count[1] > count[0] ? 1 : 0;
  if (count[2] > count[most]) most = 2;
  static const char *const names[] = {"float32", "bfloat16", "float16"};
  return names[most];
}
