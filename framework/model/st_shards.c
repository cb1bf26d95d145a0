/* st_shards — model.safetensors or model.safetensors.index.json + shards
 * (see st_shards.h). The index is a small JSON file; each shard is opened
 * with st_open (header only), so opening costs memory for the headers, not
 * for the tensors. */
#include "model/st_shards.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- reading -------------------------------------------------------------- */

static const char *base_name(const char *path) {
  const char *slash = strrchr(path, '/');
  return slash ? slash + 1 : path;
}

/* A shard must be a plain file name in the model directory: no '/', no
 * '\\', not "." or "..", so nothing outside the directory can be named. */
static int plain_file_name(const char *name) {
  return name[0] && strcmp(name, ".") != 0 && strcmp(name, "..") != 0 && !strchr(name, '/') &&
         !strchr(name, '\\');
}

static int cmp_strings(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks weight_map's values and returns its distinct shard names, sorted
 * (pointers into the JSON, *n of them). */
static const char **shard_names(json_t *map, const char *path, int *n, lethe_err *err) {
  const char **names = lethe_malloc((json_object_size(map) + 1) * sizeof *names);
  int count = 0;
  const char *key;
  json_t *val;
  json_object_foreach(map, key, val) {
    if (!json_is_string(val) || !plain_file_name(json_string_value(val))) {
      lethe_errf(err, LETHE_E_FORMAT, "%s: weight_map['%s']: the shard must be a file name in "
                 "the model directory (a string without '/', '\\\\' or '..')", path, key);
      free(names);
      return NULL;
    }
    names[count++] = json_string_value(val);
  }
  qsort(names, (size_t)count, sizeof *names, cmp_strings);
  int distinct = 0;
  for (int i = 0; i < count; i++)
    if (distinct == 0 || strcmp(names[distinct - 1], names[i]) != 0) names[distinct++] = names[i];
  *n = distinct;
  return names;
}

/* metadata.total_size, when given, must be a non-negative integral number;
 * *given says whether it was. */
static int read_total_size(json_t *root, const char *path, uint64_t *total, int *given,
                           lethe_err *err) {
  json_t *meta = json_object_get(root, "metadata");
  *given = 0;
  if (!meta || json_is_null(meta)) return 0;
  if (!json_is_object(meta))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: \"metadata\" must be an object", path);
  json_t *size = json_object_get(meta, "total_size");
  if (!size || json_is_null(size)) return 0;
  double v = json_number_value(size);
  int integral = json_is_integer(size) || (v >= 0 && v <= 1.8e19 && v == (double)(uint64_t)v);
  if (!json_is_number(size) || v < 0 || !integral)
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: metadata.total_size must be a non-negative integer", path);
  *total = json_is_integer(size) ? (uint64_t)json_integer_value(size) : (uint64_t)v;
  *given = 1;
  return 0;
}

/* Every listed tensor is in its shard; every tensor of a shard is listed
 * for that shard (so no name is in two shards); sums the bytes. */
static int check_index(st_set *s, json_t *map, const char *path, lethe_err *err) {
  const char *name;
  json_t *val;
  json_object_foreach(map, name, val) {
    int file = 0; /* every value was opened as a shard, so one matches */
    while (strcmp(base_name(s->files[file].path), json_string_value(val)) != 0) file++;
    if (!st_find(&s->files[file], name))
      return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is listed for shard %s, which does "
                        "not hold it", path, name, json_string_value(val));
  }
  for (int i = 0; i < s->n_files; i++) {
    const st_file *f = &s->files[i];
    const char *base = base_name(f->path);
    for (int k = 0; k < f->n_tensors; k++) {
      json_t *listed = json_object_get(map, f->tensors[k].name);
      if (!listed)
        return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is not in the index's weight_map",
                          f->path, f->tensors[k].name);
      if (strcmp(json_string_value(listed), base) != 0)
        return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is also in shard %s (the index "
                          "lists it there): a name may be in one shard only", f->path,
                          f->tensors[k].name, json_string_value(listed));
      s->data_bytes += f->tensors[k].end - f->tensors[k].begin;
    }
  }
  return 0;
}

static int open_index(st_set *s, const char *dir, const char *path, lethe_err *err) {
  char *text;
  size_t len;
  if (lethe_read_file(path, ST_MAX_HEADER_BYTES, &text, &len, err) != 0) return -1;
  json_error_t jerr;
  json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: not valid JSON: line %d column %d: %s", path,
                      jerr.line, jerr.column, jerr.text);
  json_t *map = json_object_get(root, "weight_map");
  uint64_t total = 0;
  int given = 0, n = 0, rc = -1;
  const char **names = NULL;
  if (!json_is_object(root) || !json_is_object(map) || json_object_size(map) == 0) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: \"weight_map\" must be a non-empty object of tensor "
               "name -> shard file", path);
    goto done;
  }
  if (read_total_size(root, path, &total, &given, err) != 0) goto done;
  s->has_total_parameters = json_object_get(json_object_get(root, "metadata"),
                                            "total_parameters") != NULL;
  if (!(names = shard_names(map, path, &n, err))) goto done;
  s->files = lethe_calloc((size_t)n, sizeof *s->files);
  for (; s->n_files < n; s->n_files++) {
    char *shard = lethe_path_join(dir, names[s->n_files]);
    int orc = st_open(&s->files[s->n_files], shard, err);
    free(shard);
    if (orc != 0) {
      lethe_err_prefix(err, "shard of %s", path);
      goto done;
    }
  }
  if (check_index(s, map, path, err) != 0) goto done;
  if (given && total != s->data_bytes) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: metadata.total_size is %llu but the shards hold %llu "
               "bytes of tensors", path, (unsigned long long)total,
               (unsigned long long)s->data_bytes);
    goto done;
  }
  rc = 0;
done:
  free(names);
  json_decref(root);
  return rc;
}

static int open_single(st_set *s, const char *path, lethe_err *err) {
  s->files = lethe_calloc(1, sizeof *s->files);
  if (st_open(&s->files[0], path, err) != 0) return -1;
  s->n_files = 1;
  for (int k = 0; k < s->files[0].n_tensors; k++)
    s->data_bytes += s->files[0].tensors[k].end - s->files[0].tensors[k].begin;
  return 0;
}

int st_set_open(st_set *s, const char *dir, lethe_err *err) {
  memset(s, 0, sizeof *s);
  char *single = lethe_path_join(dir, ST_SINGLE_NAME);
  char *index = lethe_path_join(dir, ST_INDEX_NAME);
  int has_single = lethe_file_exists(single), has_index = lethe_file_exists(index), rc;
  s->path = lethe_strdup(has_index ? index : single);
  if (has_single && has_index)
    rc = lethe_errf(err, LETHE_E_FORMAT, "%s holds both %s and %s: remove the stale one", dir,
                    ST_SINGLE_NAME, ST_INDEX_NAME);
  else if ((s->sharded = has_index))
    rc = open_index(s, dir, index, err);
  else
    rc = open_single(s, single, err); /* its error says the file is missing */
  if (rc != 0) st_set_close(s);
  free(single);
  free(index);
  return rc;
}

void st_set_close(st_set *s) {
  for (int i = 0; i < s->n_files; i++) st_close(&s->files[i]);
  free(s->files);
  free(s->path);
  memset(s, 0, sizeof *s);
}

const st_tensor *st_set_find(const st_set *s, const char *name, int *file) {
  for (int i = 0; i < s->n_files; i++) {
    const st_tensor *t = st_find(&s->files[i], name);
    if (t) {
      if (file) *file = i;
      return t;
    }
  }
  return NULL;
}

int st_set_load_f32(const st_set *s, const char *name, int ndim, const int64_t *shape, float *dst,
                    lethe_err *err) {
  int file = 0;
  if (!st_set_find(s, name, &file) && s->sharded)
    return lethe_errf(err, LETHE_E_FORMAT, "%s: tensor '%s' is in none of the %d shards", s->path,
                      name, s->n_files);
  return st_load_f32(&s->files[file], name, ndim, shape, dst, err);
}

/* ---- writing -------------------------------------------------------------- */

static uint64_t entry_bytes(const st_entry *e) {
  uint64_t numel = 1;
  for (int d = 0; d < e->ndim; d++) numel *= (uint64_t)e->shape[d];
  return numel * st_dtype_size(e->dtype);
}

int st_split_shards(const st_entry *entries, int n, uint64_t max_shard_size, int *shard_of) {
  int n_shards = 0, current = -1; /* current: the shard being filled, -1 = none yet */
  uint64_t current_bytes = 0;
  for (int i = 0; i < n; i++) {
    uint64_t bytes = entry_bytes(&entries[i]);
    if (max_shard_size && bytes > max_shard_size) {
      shard_of[i] = n_shards++; /* a shard of its own */
      continue;
    }
    if (current < 0 || (max_shard_size && current_bytes + bytes > max_shard_size)) {
      current = n_shards++;
      current_bytes = 0;
    }
    shard_of[i] = current;
    current_bytes += bytes;
  }
  if (n_shards <= 1)
    for (int i = 0; i < n; i++) shard_of[i] = 0;
  return n_shards <= 1 ? 0 : n_shards;
}

static char *shard_path(const char *dir, int shard, int n_shards) {
  char name[64];
  snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", shard + 1, n_shards);
  return lethe_path_join(dir, name);
}

/* The index as transformers writes it: sorted keys, 2-space indent, a final
 * newline. */
static int write_index(const char *dir, const st_entry *entries, int n, const st_layout *layout,
                       lethe_err *err) {
  json_t *map = json_object();
  uint64_t total_size = 0, total_parameters = 0;
  for (int i = 0; i < n; i++) {
    char *path = shard_path(dir, layout->shard_of[i], layout->n_shards);
    json_object_set_new(map, entries[i].name, json_string(base_name(path)));
    free(path);
    total_size += entry_bytes(&entries[i]);
    total_parameters += entry_bytes(&entries[i]) / st_dtype_size(entries[i].dtype);
  }
  json_t *meta = json_pack("{s:I}", "total_size", (json_int_t)total_size);
  if (!layout->omit_total_parameters)
    json_object_set_new(meta, "total_parameters", json_integer((json_int_t)total_parameters));
  json_t *root = json_pack("{s:o,s:o}", "metadata", meta, "weight_map", map);
  char *text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);
  json_decref(root);
  size_t len = strlen(text);
  char *with_newline = lethe_malloc(len + 2);
  memcpy(with_newline, text, len);
  memcpy(with_newline + len, "\n", 2);
  free(text);
  char *path = lethe_path_join(dir, ST_INDEX_NAME);
  int rc = lethe_write_file_atomic(path, with_newline, len + 1, err);
  free(path);
  free(with_newline);
  return rc;
}

/* Removes what another layout left in dir: the single file or the index
 * (whichever was not just written) and shards of any other count. */
static int remove_stale(const char *dir, int n_shards, lethe_err *err) {
  char *other = lethe_path_join(dir, n_shards ? ST_SINGLE_NAME : ST_INDEX_NAME);
  int rc = unlink(other) == 0 || errno == ENOENT
               ? 0
               : lethe_errf(err, LETHE_E_IO, "%s: cannot remove: %s", other, strerror(errno));
  free(other);
  DIR *d = opendir(dir);
  struct dirent *de;
  while (rc == 0 && d && (de = readdir(d))) {
    int k, of, end = 0;
    if (sscanf(de->d_name, "model-%5d-of-%5d.safetensors%n", &k, &of, &end) != 2 ||
        end != (int)strlen(de->d_name) || of == n_shards)
      continue;
    char *stale = lethe_path_join(dir, de->d_name);
    if (unlink(stale) != 0)
      rc = lethe_errf(err, LETHE_E_IO, "%s: cannot remove: %s", stale, strerror(errno));
    free(stale);
  }
  if (d) closedir(d);
  return rc;
}

int st_set_write(const char *dir, const st_entry *entries, int n, const st_layout *layout,
                 const char *const *meta_kv, int n_meta, lethe_err *err) {
  int rc = 0, n_shards = layout->n_shards;
  const int *shard_of = layout->shard_of;
  for (int i = 0; i < n && n_shards; i++)
    if (shard_of[i] < 0 || shard_of[i] >= n_shards)
      return lethe_errf(err, LETHE_E_USAGE, "%s: tensor '%s': shard %d is not in 0..%d", dir,
                        entries[i].name, shard_of[i], n_shards - 1);
  if (n_shards == 0) {
    char *path = lethe_path_join(dir, ST_SINGLE_NAME);
    rc = st_write_f32(path, entries, n, meta_kv, n_meta, err);
    free(path);
  }
  st_entry *subset = lethe_calloc((size_t)n + 1, sizeof *subset);
  for (int shard = 0; shard < n_shards && rc == 0; shard++) {
    int count = 0;
    for (int i = 0; i < n; i++)
      if (shard_of[i] == shard) subset[count++] = entries[i];
    char *path = shard_path(dir, shard, n_shards);
    rc = st_write_f32(path, subset, count, meta_kv, n_meta, err);
    free(path);
  }
  free(subset);
  if (rc == 0 && n_shards) rc = write_index(dir, entries, n, layout, err);
  if (rc == 0) rc = remove_stale(dir, n_shards, err);
  return rc;
}
