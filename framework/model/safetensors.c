/* safetensors — reader and writer (F32, BF16, F16) for Hugging Face's safetensors format
 * (see safetensors.h).
 *
 * Layout of a file: an 8-byte little-endian header length N, N bytes of JSON
 * describing every tensor ({"name": {"dtype", "shape", "data_offsets"}} plus
 * an optional "__metadata__" string map), then the raw data section.
 * The reader checks the whole header before it allocates or reads the data
 * section; every size used for an allocation has been checked against the
 * real file size first. This file knows nothing of what the tensors mean.
 */
#include "model/safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host (the format is little-endian)"
#endif

typedef struct dtype_info {
  const char *name;
  unsigned size; /* bytes per element */
  int is_float;
} dtype_info;

/* Indexed by st_dtype. */
static const dtype_info dtype_table[] = {
    [ST_F32] = {"F32", 4, 1},  [ST_BF16] = {"BF16", 2, 1}, [ST_F16] = {"F16", 2, 1},
    [ST_F64] = {"F64", 8, 1},  [ST_I64] = {"I64", 8, 0},   [ST_I32] = {"I32", 4, 0},
    [ST_I8] = {"I8", 1, 0},    [ST_U8] = {"U8", 1, 0},     [ST_BOOL] = {"BOOL", 1, 0},
    [ST_I16] = {"I16", 2, 0},  [ST_U16] = {"U16", 2, 0},   [ST_U32] = {"U32", 4, 0},
    [ST_U64] = {"U64", 8, 0},
};
#define N_DTYPES ((int)(sizeof dtype_table / sizeof dtype_table[0]))

const char *st_dtype_name(st_dtype dt) {
  if ((int)dt < 0 || (int)dt >= N_DTYPES) return "?";
  return dtype_table[dt].name;
}

static int dtype_from_name(const char *s, st_dtype *out) {
  for (int i = 0; i < N_DTYPES; i++) {
    if (strcmp(dtype_table[i].name, s) == 0) {
      *out = (st_dtype)i;
      return 0;
    }
  }
  return -1;
}

/* Formats a shape as "[a, b, c]" into buf. */
static const char *shape_str(char *buf, size_t cap, int ndim, const int64_t *shape) {
  size_t n = 0;
  n += (size_t)snprintf(buf + n, cap - n, "[");
  for (int i = 0; i < ndim && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
  return buf;
}

/* ---- reading: header validation ----------------------------------------- */

/* Fills t->ndim, t->shape and t->numel from a JSON shape array. */
static int parse_shape(st_tensor *t, json_t *shape, const char *path, lethe_err *err) {
  if (!json_is_array(shape))
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': \"shape\" must be an array of non-negative integers",
                      path, t->name);
  size_t ndim = json_array_size(shape);
  if (ndim > ST_MAX_DIMS)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': %zu dims, more than the %d supported",
                      path, t->name, ndim, ST_MAX_DIMS);
  t->ndim = (int)ndim;
  t->numel = 1;
  for (size_t i = 0; i < ndim; i++) {
    json_t *d = json_array_get(shape, i);
    if (!json_is_integer(d) || json_integer_value(d) < 0)
      return lethe_errf(err, LETHE_E_FORMAT,
                        "%s: tensor '%s': shape[%zu] must be a non-negative integer", path,
                        t->name, i);
    uint64_t dim = (uint64_t)json_integer_value(d);
    t->shape[i] = (int64_t)dim;
    if (dim != 0 && t->numel > UINT64_MAX / dim)
      return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': element count overflows", path,
                        t->name);
    t->numel *= dim;
  }
  return 0;
}

/* Validates one header entry against the data section length. */
static int parse_tensor(st_tensor *t, json_t *entry, uint64_t data_len, const char *path,
                        lethe_err *err) {
  if (!json_is_object(entry))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': entry must be a JSON object", path,
                      t->name);
  json_t *dtype = json_object_get(entry, "dtype");
  if (!json_is_string(dtype))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': \"dtype\" must be a string", path,
                      t->name);
  if (dtype_from_name(json_string_value(dtype), &t->dtype) != 0)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': unknown dtype '%s' (expected one of F32, BF16, F16, "
                      "F64, I64, I32, I16, I8, U64, U32, U16, U8, BOOL)",
                      path, t->name, json_string_value(dtype));
  if (parse_shape(t, json_object_get(entry, "shape"), path, err) != 0) return -1;
  uint64_t elem = dtype_table[t->dtype].size;
  if (t->numel > UINT64_MAX / elem)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': byte size of %llu x %s overflows",
                      path, t->name, (unsigned long long)t->numel, dtype_table[t->dtype].name);
  uint64_t nbytes = t->numel * elem;

  json_t *offs = json_object_get(entry, "data_offsets");
  json_t *b = json_array_get(offs, 0), *e = json_array_get(offs, 1);
  if (!json_is_array(offs) || json_array_size(offs) != 2 || !json_is_integer(b) ||
      !json_is_integer(e) || json_integer_value(b) < 0 || json_integer_value(e) < 0)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': \"data_offsets\" must be [begin, end] with two "
                      "non-negative integers",
                      path, t->name);
  t->begin = (uint64_t)json_integer_value(b);
  t->end = (uint64_t)json_integer_value(e);
  if (t->begin > t->end)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': data_offsets begin %llu > end %llu", path, t->name,
                      (unsigned long long)t->begin, (unsigned long long)t->end);
  if (t->end - t->begin != nbytes) {
    char sb[256];
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': shape %s x %s needs %llu bytes but data_offsets "
                      "[%llu, %llu] span %llu",
                      path, t->name, shape_str(sb, sizeof sb, t->ndim, t->shape),
                      dtype_table[t->dtype].name, (unsigned long long)nbytes,
                      (unsigned long long)t->begin, (unsigned long long)t->end,
                      (unsigned long long)(t->end - t->begin));
  }
  if (t->end > data_len)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': data_offsets end %llu is past the end of the data "
                      "section (%llu bytes)",
                      path, t->name, (unsigned long long)t->end, (unsigned long long)data_len);
  return 0;
}

/* "__metadata__" must map strings to strings; stores it re-serialised. */
static int parse_metadata(st_file *f, json_t *meta, const char *path, lethe_err *err) {
  if (!json_is_object(meta))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: \"__metadata__\" must be an object", path);
  const char *key;
  json_t *val;
  json_object_foreach(meta, key, val) {
    if (!json_is_string(val))
      return lethe_errf(err, LETHE_E_FORMAT,
                        "%s: \"__metadata__\" value of '%s' must be a string", path, key);
  }
  f->metadata_json = json_dumps(meta, JSON_COMPACT);
  if (!f->metadata_json)
    return lethe_errf(err, LETHE_E_NOMEM, "%s: cannot re-serialise \"__metadata__\"", path);
  return 0;
}

static int cmp_by_begin(const void *a, const void *b) {
  const st_tensor *x = *(const st_tensor *const *)a, *y = *(const st_tensor *const *)b;
  if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
  return x->end < y->end ? -1 : x->end > y->end;
}

/* No two non-empty byte ranges may share a byte. */
static int check_overlaps(const st_file *f, lethe_err *err) {
  if (f->n_tensors < 2) return 0;
  const st_tensor **order = lethe_malloc((size_t)f->n_tensors * sizeof *order);
  for (int i = 0; i < f->n_tensors; i++) order[i] = &f->tensors[i];
  qsort(order, (size_t)f->n_tensors, sizeof *order, cmp_by_begin);
  const st_tensor *prev = NULL;
  int rc = 0;
  for (int i = 0; i < f->n_tensors && rc == 0; i++) {
    const st_tensor *t = order[i];
    if (t->begin == t->end) continue;
    if (prev && t->begin < prev->end)
      rc = lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensors '%s' [%llu, %llu] and '%s' [%llu, %llu] overlap", f->path,
                      prev->name, (unsigned long long)prev->begin,
                      (unsigned long long)prev->end, t->name, (unsigned long long)t->begin,
                      (unsigned long long)t->end);
    prev = t;
  }
  free(order);
  return rc;
}

static int parse_header(st_file *f, const char *text, size_t len, lethe_err *err) {
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: header is not valid JSON: line %d column %d: %s",
                      f->path, jerr.line, jerr.column, jerr.text);
  int rc = 0;
  if (!json_is_object(root)) {
    rc = lethe_errf(err, LETHE_E_FORMAT, "%s: header must be a JSON object", f->path);
    goto done;
  }
  f->tensors = lethe_calloc(json_object_size(root), sizeof *f->tensors);
  const char *name;
  json_t *entry;
  json_object_foreach(root, name, entry) {
    if (strcmp(name, "__metadata__") == 0) {
      if ((rc = parse_metadata(f, entry, f->path, err)) != 0) goto done;
      continue;
    }
    st_tensor *t = &f->tensors[f->n_tensors++];
    t->name = lethe_strdup(name);
    if ((rc = parse_tensor(t, entry, f->data_len, f->path, err)) != 0) goto done;
  }
  rc = check_overlaps(f, err);
done:
  json_decref(root);
  return rc;
}

/* ---- reading: the file --------------------------------------------------- */

static int read_exact(FILE *fp, void *buf, size_t n, const char *path, const char *what,
                      lethe_err *err) {
  if (n && fread(buf, 1, n, fp) != n)
    return lethe_errf(err, LETHE_E_IO, "%s: short read of the %s", path, what);
  return 0;
}

static int open_file(st_file *f, FILE *fp, lethe_err *err) {
  struct stat sb;
  if (fstat(fileno(fp), &sb) != 0 || !S_ISREG(sb.st_mode))
    return lethe_errf(err, LETHE_E_IO, "%s: not a regular file", f->path);
  uint64_t file_size = (uint64_t)sb.st_size;
  if (file_size < 8)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: file is %llu bytes, too short for the 8-byte header length",
                      f->path, (unsigned long long)file_size);
  uint8_t lenbuf[8];
  if (read_exact(fp, lenbuf, 8, f->path, "header length", err) != 0) return -1;
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; i--) header_len = (header_len << 8) | lenbuf[i];
  if (header_len > ST_MAX_HEADER_BYTES)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: header length %llu exceeds the limit of %u bytes", f->path,
                      (unsigned long long)header_len, ST_MAX_HEADER_BYTES);
  if (header_len > file_size - 8)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: header length %llu runs past the end of the file (%llu bytes)",
                      f->path, (unsigned long long)header_len, (unsigned long long)file_size);
  f->data_len = file_size - 8 - header_len;

  char *header = lethe_malloc((size_t)header_len + 1);
  int rc = read_exact(fp, header, (size_t)header_len, f->path, "header", err);
  if (rc == 0) rc = parse_header(f, header, (size_t)header_len, err);
  free(header);
  f->data_offset = 8 + header_len;
  return rc;
}

int st_open(st_file *f, const char *path, lethe_err *err) {
  memset(f, 0, sizeof *f);
  f->path = lethe_strdup(path);
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    int e = errno;
    lethe_errf(err, LETHE_E_IO, "%s: cannot open: %s", path, strerror(e));
    st_close(f);
    return -1;
  }
  f->fp = fp; /* kept open: tensors are read from it on demand */
  int rc = open_file(f, fp, err);
  if (rc != 0) st_close(f);
  return rc;
}

void st_close(st_file *f) {
  if (!f) return;
  for (int i = 0; i < f->n_tensors; i++) free(f->tensors[i].name);
  free(f->tensors);
  free(f->data);
  if (f->fp) fclose(f->fp);
  free(f->path);
  free(f->metadata_json); /* jansson allocates with malloc by default */
  memset(f, 0, sizeof *f);
}

const st_tensor *st_find(const st_file *f, const char *name) {
  for (int i = 0; i < f->n_tensors; i++)
    if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
  return NULL;
}

/* ---- conversions to float32 ---------------------------------------------- */

float st_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float out;
  memcpy(&out, &bits, sizeof out);
  return out;
}

float st_f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31;
  uint32_t exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  if (exponent == 0) { /* zero or subnormal: mantissa * 2^-24, exact in float */
    float mag = ldexpf((float)mantissa, -24);
    return sign ? -mag : mag;
  }
  uint32_t bits;
  if (exponent == 0x1f) bits = sign | 0x7f800000u | (mantissa << 13); /* inf / NaN */
  else bits = sign | ((exponent - 15 + 127) << 23) | (mantissa << 13);
  float out;
  memcpy(&out, &bits, sizeof out);
  return out;
}

static uint32_t f32_bits(float x) {
  uint32_t bits;
  memcpy(&bits, &x, sizeof bits);
  return bits;
}

/* value >> shift rounded to nearest, ties to even (1 <= shift <= 31). */
static uint32_t shift_round_even(uint32_t value, unsigned shift) {
  uint32_t kept = value >> shift, rest = value & ((1u << shift) - 1), half = 1u << (shift - 1);
  return kept + (rest > half || (rest == half && (kept & 1)));
}

uint16_t st_f32_to_bf16(float x) {
  uint32_t bits = f32_bits(x);
  if ((bits & 0x7fffffffu) > 0x7f800000u) { /* NaN: keep the top payload, stay NaN */
    uint16_t h = (uint16_t)(bits >> 16);
    return (h & 0x7f) ? h : (uint16_t)(h | 0x40);
  }
  return (uint16_t)shift_round_even(bits, 16); /* a carry into the exponent is right, up to inf */
}

uint16_t st_f32_to_f16(float x) {
  uint32_t bits = f32_bits(x), mag = bits & 0x7fffffffu;
  uint16_t sign = (uint16_t)((bits >> 16) & 0x8000);
  if (mag > 0x7f800000u) { /* NaN */
    uint16_t payload = (uint16_t)((mag >> 13) & 0x3ff);
    return sign | 0x7c00 | (payload ? payload : 0x200);
  }
  if (mag >= 0x477ff000u) return sign | 0x7c00; /* >= 65520 rounds to inf (and inf) */
  unsigned exponent = mag >> 23;
  if (exponent < 113) { /* below 2^-14: an f16 subnormal (or zero) in units of 2^-24 */
    unsigned shift = 126 - exponent;
    if (shift > 24) return sign; /* below 2^-25, or exactly it (ties to even = 0) */
    return sign | (uint16_t)shift_round_even((mag & 0x7fffffu) | 0x800000u, shift);
  }
  /* normal: rebias the exponent, round 23 mantissa bits to 10 (a carry is right) */
  return sign | (uint16_t)shift_round_even(mag - ((uint32_t)(127 - 15) << 23), 13);
}

unsigned st_dtype_size(st_dtype dt) {
  if ((int)dt < 0 || (int)dt >= N_DTYPES) return 0;
  return dtype_table[dt].size;
}

/* Converts n elements of a float dtype at src to float32. */
static void convert_to_f32(st_dtype dtype, const uint8_t *src, float *dst, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (dtype == ST_F64) {
      double d;
      memcpy(&d, src + 8 * i, sizeof d);
      dst[i] = (float)d;
      continue;
    }
    uint16_t h = (uint16_t)(src[2 * i] | (src[2 * i + 1] << 8));
    dst[i] = dtype == ST_BF16 ? st_bf16_to_f32(h) : st_f16_to_f32(h);
  }
}

/* Bytes read or written per step when converting: memory never grows with
 * a tensor's size beyond its float32 copy. */
#define ST_CHUNK_BYTES (1u << 20)

static int pread_exact(const st_file *f, const st_tensor *t, void *buf, size_t nbytes,
                       uint64_t at, lethe_err *err) {
  for (size_t got = 0; got < nbytes;) {
    ssize_t r = pread(fileno(f->fp), (uint8_t *)buf + got, nbytes - got,
                      (off_t)(f->data_offset + at + got));
    if (r <= 0) {
      int e = r < 0 ? errno : 0;
      return lethe_errf(err, LETHE_E_IO, "%s: tensor '%s': %s", f->path, t->name,
                        e ? strerror(e) : "the file ended early (it changed since it was opened)");
    }
    got += (size_t)r;
  }
  return 0;
}

int st_read_f32(const st_file *f, const st_tensor *t, float *dst, uint64_t dst_numel,
                lethe_err *err) {
  if (!dtype_table[t->dtype].is_float)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': dtype %s is not a float type",
                      f->path, t->name, dtype_table[t->dtype].name);
  if (dst_numel != t->numel)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: tensor '%s': has %llu elements, the destination holds %llu", f->path,
                      t->name, (unsigned long long)t->numel, (unsigned long long)dst_numel);
  if (t->dtype == ST_F32) /* lands in dst directly */
    return pread_exact(f, t, dst, (size_t)(t->end - t->begin), t->begin, err);
  size_t elem = dtype_table[t->dtype].size, per_chunk = ST_CHUNK_BYTES / elem;
  uint8_t *buf = lethe_malloc(ST_CHUNK_BYTES);
  int rc = 0;
  for (size_t done = 0; done < t->numel && rc == 0; done += per_chunk) {
    size_t n = t->numel - done < per_chunk ? (size_t)t->numel - done : per_chunk;
    rc = pread_exact(f, t, buf, n * elem, t->begin + done * elem, err);
    if (rc == 0) convert_to_f32(t->dtype, buf, dst + done, n);
  }
  free(buf);
  return rc;
}

int st_load_f32(const st_file *f, const char *name, int ndim, const int64_t *shape, float *dst,
                lethe_err *err) {
  const st_tensor *t = st_find(f, name);
  if (!t) return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is missing", f->path, name);
  int same = t->ndim == ndim;
  for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
  if (!same) {
    char want[256], have[256];
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s': expected shape %s, found %s",
                      f->path, name, shape_str(want, sizeof want, ndim, shape),
                      shape_str(have, sizeof have, t->ndim, t->shape));
  }
  uint64_t numel = 1;
  for (int i = 0; i < ndim; i++) numel *= (uint64_t)shape[i];
  return st_read_f32(f, t, dst, numel, err);
}

/* ---- writing -------------------------------------------------------------- */

/* The reference writer's order: larger elements first, then by name. */
static int cmp_entries(const void *a, const void *b) {
  const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
  unsigned sx = dtype_table[x->dtype].size, sy = dtype_table[y->dtype].size;
  if (sx != sy) return sx > sy ? -1 : 1;
  return strcmp(x->name, y->name);
}

/* Checks entries, sorts them into order[] (cmp_entries) and fills nbytes[]
 * in that order. */
static int plan_entries(const char *path, const st_entry *entries, int n, const st_entry **order,
                        uint64_t *nbytes, lethe_err *err) {
  for (int i = 0; i < n; i++) {
    if (!entries[i].name || !entries[i].name[0] || strcmp(entries[i].name, "__metadata__") == 0)
      return lethe_errf(err, LETHE_E_USAGE, "%s: entry %d has an invalid name", path, i);
    st_dtype dt = entries[i].dtype;
    if (dt != ST_F32 && dt != ST_BF16 && dt != ST_F16)
      return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': cannot write dtype %s (F32, BF16 "
                        "or F16)", path, entries[i].name, st_dtype_name(dt));
    order[i] = &entries[i];
  }
  qsort(order, (size_t)n, sizeof *order, cmp_entries);
  for (int i = 0; i < n; i++) {
    const st_entry *e = order[i];
    if (i > 0 && strcmp(order[i - 1]->name, e->name) == 0)
      return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s' appears twice", path, e->name);
    if (e->ndim < 0 || e->ndim > ST_MAX_DIMS)
      return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': ndim %d out of range 0..%d", path,
                        e->name, e->ndim, ST_MAX_DIMS);
    uint64_t numel = 1;
    for (int d = 0; d < e->ndim; d++) {
      if (e->shape[d] < 0)
        return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': negative dim %lld", path,
                          e->name, (long long)e->shape[d]);
      if (e->shape[d] && numel > (UINT64_MAX / 4) / (uint64_t)e->shape[d])
        return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': size overflows", path, e->name);
      numel *= (uint64_t)e->shape[d];
    }
    if (numel && !e->data)
      return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': no data", path, e->name);
    nbytes[i] = numel * dtype_table[e->dtype].size;
  }
  return 0;
}

/* Builds the header JSON as the reference writer does: "__metadata__" first,
 * then tensors sorted by name with keys dtype, shape, data_offsets, offsets
 * contiguous, compact, padded with spaces to a multiple of 8 bytes. (jansson
 * keeps insertion order.) Returns a malloc'd string; *len is its length. */
static char *build_header(const st_entry *const *order, const uint64_t *nbytes, int n,
                          const char *const *meta_kv, int n_meta, size_t *len) {
  json_t *root = json_object();
  if (n_meta > 0) {
    json_t *meta = json_object();
    for (int i = 0; i < n_meta; i++)
      json_object_set_new(meta, meta_kv[2 * i], json_string(meta_kv[2 * i + 1]));
    json_object_set_new(root, "__metadata__", meta);
  }
  uint64_t offset = 0;
  for (int i = 0; i < n; i++) {
    json_t *shape = json_array();
    for (int d = 0; d < order[i]->ndim; d++)
      json_array_append_new(shape, json_integer((json_int_t)order[i]->shape[d]));
    json_t *entry = json_object();
    json_object_set_new(entry, "dtype", json_string(dtype_table[order[i]->dtype].name));
    json_object_set_new(entry, "shape", shape);
    json_object_set_new(entry, "data_offsets",
                        json_pack("[II]", (json_int_t)offset, (json_int_t)(offset + nbytes[i])));
    json_object_set_new(root, order[i]->name, entry);
    offset += nbytes[i];
  }
  char *text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  if (!text) return NULL;
  size_t raw = strlen(text), padded = (raw + 7) & ~(size_t)7;
  char *out = lethe_malloc(padded + 1);
  memcpy(out, text, raw);
  memset(out + raw, ' ', padded - raw);
  out[padded] = '\0';
  free(text);
  *len = padded;
  return out;
}

/* Writes one entry's nbytes of data, narrowed to its dtype a chunk at a time. */
static int write_data(FILE *fp, const st_entry *e, uint64_t nbytes) {
  if (e->dtype == ST_F32) return nbytes == 0 || fwrite(e->data, 1, (size_t)nbytes, fp) == nbytes;
  uint8_t *buf = lethe_malloc(ST_CHUNK_BYTES);
  size_t numel = (size_t)(nbytes / 2), per_chunk = ST_CHUNK_BYTES / 2;
  int ok = 1;
  for (size_t done = 0; done < numel && ok; done += per_chunk) {
    size_t n = numel - done < per_chunk ? numel - done : per_chunk;
    for (size_t i = 0; i < n; i++) {
      float x = e->data[done + i];
      uint16_t h = e->dtype == ST_BF16 ? st_f32_to_bf16(x) : st_f32_to_f16(x);
      buf[2 * i] = (uint8_t)h;
      buf[2 * i + 1] = (uint8_t)(h >> 8);
    }
    ok = fwrite(buf, 1, 2 * n, fp) == 2 * n;
  }
  free(buf);
  return ok;
}

int st_write_f32(const char *path, const st_entry *entries, int n_entries,
                 const char *const *meta_kv, int n_meta, lethe_err *err) {
  if (n_entries < 0 || n_meta < 0 || (n_meta > 0 && !meta_kv))
    return lethe_errf(err, LETHE_E_USAGE, "%s: invalid entry or metadata count", path);
  for (int i = 0; i < 2 * n_meta; i++)
    if (!meta_kv[i])
      return lethe_errf(err, LETHE_E_USAGE, "%s: metadata item %d is NULL", path, i);
  size_t n = (size_t)n_entries;
  const st_entry **order = lethe_malloc((n ? n : 1) * sizeof *order);
  uint64_t *nbytes = lethe_malloc((n ? n : 1) * sizeof *nbytes);
  int rc = plan_entries(path, entries, n_entries, order, nbytes, err);
  size_t header_len = 0;
  char *header = NULL;
  if (rc == 0) {
    header = build_header(order, nbytes, n_entries, meta_kv, n_meta, &header_len);
    if (!header) rc = lethe_errf(err, LETHE_E_NOMEM, "%s: cannot build the header", path);
  }
  lethe_atomic_file af;
  if (rc == 0) rc = lethe_atomic_open(&af, path, err);
  if (rc == 0) {
    uint8_t lenbuf[8];
    for (int i = 0; i < 8; i++) lenbuf[i] = (uint8_t)((uint64_t)header_len >> (8 * i));
    int ok = fwrite(lenbuf, 1, 8, af.fp) == 8 &&
             fwrite(header, 1, header_len, af.fp) == header_len;
    for (size_t i = 0; ok && i < n; i++) ok = write_data(af.fp, order[i], nbytes[i]);
    if (ok) {
      rc = lethe_atomic_commit(&af, err);
    } else {
      int e = errno;
      lethe_atomic_abort(&af);
      rc = lethe_errf(err, LETHE_E_IO, "%s: write failed: %s", path, strerror(e));
    }
  }
  free(header);
  free(nbytes);
  free(order);
  return rc;
}
