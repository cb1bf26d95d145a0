/* safetensors — read and write Hugging Face's safetensors format.
 *
 * Reading validates everything before any tensor is touched: the 8-byte header
 * length against the file size, the JSON header's syntax and types, every
 * dtype, shape × dtype size against the byte range, ranges inside the data
 * section, no two tensors overlapping, no duplicate names. A malformed file
 * gives an error naming the file, the tensor and what was expected — never a
 * crash and never an allocation sized by unchecked input.
 * Writing takes float32 arrays and stores each tensor as F32, BF16 or F16
 * (rounded to nearest, ties to even), atomically (see core.h).
 * Not here: what the tensors mean (model/llama.c maps HF names).
 */
#ifndef LETHE_SAFETENSORS_H
#define LETHE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/core.h"

#define ST_MAX_DIMS 8
#define ST_MAX_HEADER_BYTES (100u << 20) /* as the reference implementation */

typedef enum { ST_F32 = 0, ST_BF16 = 1, ST_F16 = 2, ST_F64 = 3, ST_I64 = 4, ST_I32 = 5,
               ST_I8 = 6, ST_U8 = 7, ST_BOOL = 8, ST_I16 = 9, ST_U16 = 10,
               ST_U32 = 11, ST_U64 = 12 } st_dtype;

typedef struct st_tensor {
  char *name;
  st_dtype dtype;
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  uint64_t numel;
  uint64_t begin, end; /* byte offsets inside the data section */
} st_tensor;

/* An open file: the header is read and validated; tensor bytes are read
 * from the file only when a tensor is (st_read_f32), so memory never grows
 * with the file's size, only with the tensors asked for. */
typedef struct st_file {
  char *path;
  uint8_t *data;   /* unused (NULL): tensors are read on demand */
  uint64_t data_len; /* bytes in the data section (after the header) */
  st_tensor *tensors; /* owned, n_tensors entries, in header order */
  int n_tensors;
  char *metadata_json; /* the "__metadata__" object re-serialised, or NULL */
  FILE *fp;            /* open until st_close (NULL in a zeroed st_file) */
  uint64_t data_offset; /* file offset of the data section */
} st_file;

int st_open(st_file *f, const char *path, lethe_err *err);
void st_close(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
const char *st_dtype_name(st_dtype dt);
/* Bytes per element (0 for a value outside st_dtype). */
unsigned st_dtype_size(st_dtype dt);
/* Copies a tensor into dst as float32 (F32 copied, BF16/F16/F64 converted);
 * fails unless dst_numel == t->numel or the dtype is not a float type. */
int st_read_f32(const st_file *f, const st_tensor *t, float *dst, uint64_t dst_numel,
                lethe_err *err);
/* Looks up name, checks its shape equals `shape` (ndim entries), reads it as
 * float32. The error names the tensor and both shapes. */
int st_load_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                lethe_err *err);

/* Exact widenings and round-to-nearest-even narrowings between float32 and
 * the 16-bit float types. Overflow gives ±inf, NaN stays NaN with its top
 * payload bits, so every 16-bit pattern survives a trip through float32. */
float st_bf16_to_f32(uint16_t h);
float st_f16_to_f32(uint16_t h);
uint16_t st_f32_to_bf16(float x);
uint16_t st_f32_to_f16(float x);

/* One tensor to write: float32 data, row-major, stored as `dtype` (ST_F32,
 * the zero value, ST_BF16 or ST_F16). */
typedef struct st_entry {
  const char *name;
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  const float *data;
  st_dtype dtype;
} st_entry;
/* Writes entries with optional string metadata (key/value pairs, may be
 * NULL/0). As the reference writer: tensors ordered by element size
 * (largest first), then by name. Converts through a small buffer, so memory
 * does not grow with the tensors. Atomic. */
int st_write_f32(const char *path, const st_entry *entries, int n_entries,
                 const char *const *meta_kv, int n_meta, lethe_err *err);

#endif
