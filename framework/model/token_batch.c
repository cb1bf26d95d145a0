/* token_batch — HF-convention token rows (see token_batch.h). */
#include "model/token_batch.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROW_TOKENS (1 << 20)
#define MAX_ROWS (1 << 20)
#define MAX_FILE_BYTES ((size_t)256 << 20)
/* rows x padded length: four int32 arrays of this many cells are allocated */
#define MAX_CELLS ((size_t)1 << 26)

void token_batch_alloc(token_batch *tb, int B, int T, int32_t pad_id) {
  memset(tb, 0, sizeof *tb);
  tb->B = B;
  tb->T = T;
  size_t n = (size_t)B * T;
  tb->input_ids = lethe_malloc(n * sizeof(int32_t));
  tb->attn_mask = lethe_calloc(n, sizeof(int32_t));
  tb->labels = lethe_malloc(n * sizeof(int32_t));
  tb->targets = lethe_malloc(n * sizeof(int32_t));
  tb->row_len = lethe_calloc((size_t)B, sizeof(int));
  for (size_t i = 0; i < n; i++) {
    tb->input_ids[i] = pad_id;
    tb->labels[i] = -100;
    tb->targets[i] = -1;
  }
}

void token_batch_free(token_batch *tb) {
  free(tb->input_ids);
  free(tb->attn_mask);
  free(tb->labels);
  free(tb->targets);
  free(tb->row_len);
  memset(tb, 0, sizeof *tb);
}

void token_batch_shift_targets(token_batch *tb) {
  for (int b = 0; b < tb->B; b++)
    for (int t = 0; t < tb->T; t++) {
      int32_t lab = t + 1 < tb->T ? tb->labels[b * tb->T + t + 1] : -100;
      tb->targets[b * tb->T + t] = lab >= 0 ? lab : -1;
    }
}

long token_batch_n_targets(const token_batch *tb) {
  long n = 0;
  for (long i = 0; i < (long)tb->B * tb->T; i++) n += tb->targets[i] >= 0;
  return n;
}

/* Reads an array of ints of the given field; *n gets its length. */
static int read_int_array(json_t *row, const char *field, const char *path, int line,
                          int required, int32_t **out, int *n, lethe_err *err) {
  json_t *arr = json_object_get(row, field);
  *out = NULL;
  *n = -1;
  if (!arr) {
    if (required) return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: missing field \"%s\"", path, line, field);
    return 0;
  }
  if (!json_is_array(arr))
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: field \"%s\" must be an array of integers",
                      path, line, field);
  size_t len = json_array_size(arr);
  if (len > MAX_ROW_TOKENS)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: field \"%s\" has %zu entries (max %d)", path,
                      line, field, len, MAX_ROW_TOKENS);
  int32_t *v = lethe_malloc((len ? len : 1) * sizeof *v);
  for (size_t i = 0; i < len; i++) {
    json_t *e = json_array_get(arr, i);
    if (!json_is_integer(e) || json_integer_value(e) < -100 ||
        json_integer_value(e) > INT32_MAX) {
      free(v);
      return lethe_errf(err, LETHE_E_FORMAT,
                        "%s:%d: field \"%s\" entry %zu must be an integer id (or -100)", path,
                        line, field, i);
    }
    v[i] = (int32_t)json_integer_value(e);
  }
  *out = v;
  *n = (int)len;
  return 0;
}

typedef struct parsed_row {
  int32_t *ids, *mask, *labels;
  int len;
} parsed_row;

static int parse_row(const char *text, const char *path, int line, parsed_row *r,
                     lethe_err *err) {
  json_error_t jerr;
  memset(r, 0, sizeof *r);
  json_t *row = json_loads(text, JSON_REJECT_DUPLICATES, &jerr);
  if (!row)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: invalid JSON: %s", path, line, jerr.text);
  int rc = -1, n_ids, n_mask, n_lab;
  if (!json_is_object(row)) {
    lethe_errf(err, LETHE_E_FORMAT, "%s:%d: each line must be a JSON object", path, line);
    goto done;
  }
  if (read_int_array(row, "input_ids", path, line, 1, &r->ids, &n_ids, err) ||
      read_int_array(row, "attention_mask", path, line, 0, &r->mask, &n_mask, err) ||
      read_int_array(row, "labels", path, line, 0, &r->labels, &n_lab, err))
    goto done;
  if (n_ids < 1) {
    lethe_errf(err, LETHE_E_FORMAT, "%s:%d: \"input_ids\" is empty", path, line);
    goto done;
  }
  for (int i = 0; i < n_ids; i++)
    if (r->ids[i] < 0) {
      lethe_errf(err, LETHE_E_FORMAT, "%s:%d: \"input_ids\" entry %d is negative", path, line, i);
      goto done;
    }
  if ((n_mask >= 0 && n_mask != n_ids) || (n_lab >= 0 && n_lab != n_ids)) {
    lethe_errf(err, LETHE_E_FORMAT,
               "%s:%d: \"attention_mask\" and \"labels\" must have as many entries as "
               "\"input_ids\" (%d)", path, line, n_ids);
    goto done;
  }
  r->len = n_ids;
  rc = 0;
done:
  json_decref(row);
  if (rc != 0) {
    free(r->ids);
    free(r->mask);
    free(r->labels);
  }
  return rc;
}

int token_batch_read_jsonl(token_batch *tb, const char *path, int32_t pad_id, lethe_err *err) {
  char *text;
  size_t len;
  memset(tb, 0, sizeof *tb);
  if (lethe_read_file(path, MAX_FILE_BYTES, &text, &len, err) != 0) return -1;
  parsed_row *rows = NULL;
  int n = 0, cap = 0, line = 0, rc = 0, T = 0;
  for (char *s = text; *s && rc == 0;) {
    char *nl = strchr(s, '\n');
    if (nl) *nl = '\0';
    line++;
    char *p = s;
    while (*p == ' ' || *p == '\t' || *p == '\r') p++;
    if (*p) {
      if (n == MAX_ROWS) {
        rc = lethe_errf(err, LETHE_E_FORMAT, "%s: more than %d rows", path, MAX_ROWS);
        break;
      }
      if (n == cap) rows = lethe_realloc(rows, sizeof *rows * (cap = cap ? 2 * cap : 16));
      rc = parse_row(p, path, line, &rows[n], err);
      if (rc == 0 && rows[n].len > T) T = rows[n].len;
      if (rc == 0) n++;
    }
    if (!nl) break;
    s = nl + 1;
  }
  free(text);
  if (rc == 0 && n == 0) rc = lethe_errf(err, LETHE_E_FORMAT, "%s: no rows", path);
  if (rc == 0 && (size_t)n * (size_t)T > MAX_CELLS)
    rc = lethe_errf(err, LETHE_E_FORMAT,
                    "%s: %d rows padded to the longest (%d tokens) would be %zu cells, more "
                    "than the %zu allowed", path, n, T, (size_t)n * (size_t)T, MAX_CELLS);
  if (rc == 0) {
    token_batch_alloc(tb, n, T, pad_id);
    for (int b = 0; b < n; b++) {
      parsed_row *r = &rows[b];
      tb->row_len[b] = r->len;
      for (int t = 0; t < r->len; t++) {
        tb->input_ids[b * T + t] = r->ids[t];
        tb->attn_mask[b * T + t] = r->mask ? r->mask[t] != 0 : 1;
        tb->labels[b * T + t] = r->labels ? (r->labels[t] < 0 ? -100 : r->labels[t]) : -100;
      }
    }
    token_batch_shift_targets(tb);
  }
  for (int b = 0; b < n; b++) {
    free(rows[b].ids);
    free(rows[b].mask);
    free(rows[b].labels);
  }
  free(rows);
  return rc;
}

void token_batch_stack(token_batch *out, const token_batch *const *parts, int n, int min_T,
                       int32_t pad_id, int *row0, int *nrows) {
  int B = 0, T = min_T;
  for (int i = 0; i < n; i++)
    if (parts[i]) {
      B += parts[i]->B;
      if (parts[i]->T > T) T = parts[i]->T;
    }
  token_batch_alloc(out, B, T, pad_id);
  int at = 0;
  for (int i = 0; i < n; i++) {
    const token_batch *p = parts[i];
    row0[i] = at;
    nrows[i] = p ? p->B : 0;
    for (int b = 0; p && b < p->B; b++, at++) {
      size_t src = (size_t)b * p->T, dst = (size_t)at * T;
      memcpy(out->input_ids + dst, p->input_ids + src, sizeof(int32_t) * p->T);
      memcpy(out->attn_mask + dst, p->attn_mask + src, sizeof(int32_t) * p->T);
      memcpy(out->labels + dst, p->labels + src, sizeof(int32_t) * p->T);
      out->row_len[at] = p->row_len[b];
    }
  }
  token_batch_shift_targets(out);
}

void token_batch_from_arrays(token_batch *tb, int B, int T, const int32_t *input_ids,
                             const int32_t *attn_mask, const int32_t *labels, int32_t pad_id) {
  token_batch_alloc(tb, B, T, pad_id);
  size_t n = (size_t)B * T;
  memcpy(tb->input_ids, input_ids, n * sizeof(int32_t));
  memcpy(tb->attn_mask, attn_mask, n * sizeof(int32_t));
  memcpy(tb->labels, labels, n * sizeof(int32_t));
  for (int r = 0; r < B; r++) tb->row_len[r] = T;
  token_batch_shift_targets(tb);
}
