/* st_shards — the weights of a model directory as real checkpoints store
 * them: one `model.safetensors`, or `model.safetensors.index.json` whose
 * `weight_map` names the shard file of every tensor
 * (`model-00001-of-00003.safetensors`, ...).
 *
 * Opening checks the index against the shards before any tensor is read:
 * every shard is a plain file name inside the directory, every listed tensor
 * is in its shard, every tensor of a shard is listed there and nowhere else,
 * and `metadata.total_size` (when given) is the sum of the tensors' bytes.
 * Errors name the file and the tensor or field.
 * Not here: one file's format (safetensors.h), what tensors mean (llama_io.c).
 */
#ifndef LETHE_ST_SHARDS_H
#define LETHE_ST_SHARDS_H

#include "model/safetensors.h"

#define ST_SINGLE_NAME "model.safetensors"
#define ST_INDEX_NAME "model.safetensors.index.json"
/* transformers' save_pretrained default max_shard_size ("5GB", v4.35-v4.57) */
#define ST_DEFAULT_MAX_SHARD_SIZE 5000000000ull

typedef struct st_set {
  char *path;        /* DIR/model.safetensors or DIR/model.safetensors.index.json */
  int sharded;       /* 1 when read through the index */
  int n_files;       /* 1 for model.safetensors; shards sorted by file name */
  st_file *files;    /* owned, each open until st_set_close */
  uint64_t data_bytes; /* bytes of tensor data in all files */
  int has_total_parameters; /* the index's metadata has total_parameters */
} st_set;

/* Opens DIR's weights: model.safetensors, or the index and its shards (a
 * directory holding both is refused as ambiguous). */
int st_set_open(st_set *s, const char *dir, lethe_err *err);
void st_set_close(st_set *s);
/* The tensor called name, or NULL; *file (may be NULL) gets its file index. */
const st_tensor *st_set_find(const st_set *s, const char *name, int *file);
/* st_load_f32 on the file holding name; the error names the weights when
 * no file has it. */
int st_set_load_f32(const st_set *s, const char *name, int ndim, const int64_t *shape, float *dst,
                    lethe_err *err);

/* Splits entries, in their order, into shards of at most max_shard_size
 * bytes as transformers does: a tensor that would overflow the current shard
 * starts a new one, a tensor larger than the limit gets a shard of its own
 * (numbered when it is met). Fills shard_of[n] and returns the number of
 * shards, or 0 when everything fits in one file (or max_shard_size is 0). */
int st_split_shards(const st_entry *entries, int n, uint64_t max_shard_size, int *shard_of);
/* Where st_set_write puts each entry. */
typedef struct st_layout {
  int n_shards;          /* 0 = one model.safetensors */
  const int *shard_of;   /* per entry, 0..n_shards-1 (unused when n_shards is 0) */
  int omit_total_parameters; /* index metadata with total_size only (transformers
                                before mid-2025); 0 = both, as transformers now */
} st_layout;
/* Writes entries to DIR as layout says: model.safetensors, or one
 * model-%05d-of-%05d.safetensors per shard and the index (metadata,
 * weight_map sorted, 2-space indent, a final newline, as transformers
 * writes it), last. Every file is atomic; afterwards the files of the other
 * layout (a stale model.safetensors, index or shard of another count) are
 * removed. meta_kv: safetensors metadata pairs for every file. */
int st_set_write(const char *dir, const st_entry *entries, int n, const st_layout *layout,
                 const char *const *meta_kv, int n_meta, lethe_err *err);

#endif
