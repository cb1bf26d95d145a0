/* fuzz_st_index — the sharded-weights reader (model/st_shards.c) on
 * arbitrary bytes: the input is cut into model.safetensors.index.json and
 * two shards a.safetensors and b.safetensors (two little-endian u16
 * lengths, then the index, shard a, and shard b = the rest). A directory it
 * accepts must resolve every tensor to one shard and read as float32; it is
 * then written back with st_set_write (bf16 and f16 narrowing included) and
 * must open again with the same tensors. A refused one comes with a message. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz_util.h"
#include "model/st_shards.h"

/* Reads every float tensor; fills entries (stored as bf16 or f16 by turns)
 * for the write-back. Returns the entry count. */
static int read_all(const st_set *s, st_entry *entries, float **bufs) {
  int n = 0;
  uint64_t bytes = 0;
  for (int i = 0; i < s->n_files; i++)
    for (int k = 0; k < s->files[i].n_tensors; k++) {
      const st_tensor *t = &s->files[i].tensors[k];
      int file = -1;
      FUZZ_CHECK(st_set_find(s, t->name, &file) == t && file == i, "one shard per tensor");
      bytes += t->end - t->begin;
      float *dst = malloc((size_t)t->numel * sizeof(float) + 1);
      lethe_err err = {0};
      if (st_read_f32(&s->files[i], t, dst, t->numel, &err) != 0 || !t->name[0]) {
        FUZZ_CHECK(err.msg[0] != '\0' || !t->name[0], "a refused read has a message");
        free(dst); /* (an empty name is read but not written back: the writer refuses it) */
        continue;
      }
      entries[n] = (st_entry){.name = t->name, .ndim = t->ndim, .data = dst,
                              .dtype = n % 3 == 0 ? ST_F32 : n % 3 == 1 ? ST_BF16 : ST_F16};
      memcpy(entries[n].shape, t->shape, sizeof t->shape);
      bufs[n++] = dst;
    }
  FUZZ_CHECK(bytes == s->data_bytes, "data_bytes is the sum of the tensors");
  return n;
}

static void write_back(const st_entry *entries, int n) {
  char *out = fuzz_path("out");
  mkdir(out, 0700);
  int *shard_of = calloc((size_t)n + 1, sizeof *shard_of);
  st_layout layout = {st_split_shards(entries, n, 64, shard_of), shard_of, n % 2};
  lethe_err err = {0};
  static const char *const meta[] = {"format", "pt"};
  FUZZ_CHECK(st_set_write(out, entries, n, &layout, meta, 1, &err) == 0,
             "what was read can be written");
  st_set again;
  FUZZ_CHECK(st_set_open(&again, out, &err) == 0, "what was written opens");
  for (int i = 0; i < n; i++)
    FUZZ_CHECK(st_set_find(&again, entries[i].name, NULL) != NULL, "every tensor written back");
  st_set_close(&again);
  free(shard_of);
  free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 4) return 0;
  size_t index_len = (size_t)(data[0] | data[1] << 8), a_len = (size_t)(data[2] | data[3] << 8);
  data += 4, size -= 4;
  if (index_len > size) index_len = size;
  if (a_len > size - index_len) a_len = size - index_len;
  char *paths[3] = {fuzz_write("model.safetensors.index.json", data, index_len),
                    fuzz_write("a.safetensors", data + index_len, a_len),
                    fuzz_write("b.safetensors", data + index_len + a_len,
                               size - index_len - a_len)};
  char *dir = fuzz_path(".");
  st_set s;
  lethe_err err = {0};
  if (st_set_open(&s, dir, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused directory has a message");
  } else {
    int cap = 0;
    for (int i = 0; i < s.n_files; i++) cap += s.files[i].n_tensors;
    st_entry *entries = calloc((size_t)cap + 1, sizeof *entries);
    float **bufs = calloc((size_t)cap + 1, sizeof *bufs);
    int n = read_all(&s, entries, bufs);
    write_back(entries, n);
    for (int i = 0; i < n; i++) free(bufs[i]);
    free(bufs);
    free(entries);
    st_set_close(&s);
  }
  for (int i = 0; i < 3; i++) free(paths[i]);
  free(dir);
  return 0;
}
