/* tofu_io — reading and writing TOFU's JSON files (JSON array or JSON lines)
 * and the "I don't know" answer list, with errors that name the file, the
 * line or record and the field. Nothing here tokenizes. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "data/data.h"
#include "data/data_json.h"

typedef struct growbuf {
  char *p;
  size_t len, cap;
} growbuf;

static void gb_append(growbuf *g, const char *s, size_t n) {
  if (g->len + n + 1 > g->cap) {
    g->cap = (g->len + n + 1) * 2;
    g->p = lethe_realloc(g->p, g->cap);
  }
  memcpy(g->p + g->len, s, n);
  g->len += n;
  g->p[g->len] = '\0';
}

static size_t line_of_offset(const char *text, size_t off) {
  size_t line = 1;
  for (size_t i = 0; i < off; i++) line += text[i] == '\n';
  return line;
}

int data_read_utf8_file(const char *path, char **text, size_t *len, lethe_err *err) {
  if (lethe_read_file(path, DATA_MAX_FILE_BYTES, text, len, err)) return -1;
  size_t bad;
  if (tok_utf8_valid(*text, *len, &bad)) return 0;
  size_t line = line_of_offset(*text, bad);
  free(*text);
  *text = NULL;
  return lethe_errf(err, LETHE_E_FORMAT, "%s:%zu: not valid UTF-8 (byte offset %zu)", path, line,
                    bad);
}

const char *data_json_type_name(const json_t *v) {
  switch (json_typeof(v)) {
    case JSON_OBJECT:
      return "an object";
    case JSON_ARRAY:
      return "a list";
    case JSON_STRING:
      return "a string";
    case JSON_INTEGER:
      return "an integer";
    case JSON_REAL:
      return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
      return "a boolean";
    default:
      return "null";
  }
}

int data_is_blank(const char *s) {
  while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n') s++;
  return !*s;
}

/* Where a record came from, for messages. */
typedef struct record_loc {
  const char *path;
  size_t line;   /* 0 for a JSON array */
  size_t record; /* 1-based */
} record_loc;

static int record_error(lethe_err *err, const record_loc *loc, const char *field, const char *what,
                        const char *detail) {
  char where[600];
  if (loc->line)
    snprintf(where, sizeof where, "%s:%zu: record %zu", loc->path, loc->line, loc->record);
  else
    snprintf(where, sizeof where, "%s: record %zu", loc->path, loc->record);
  if (!field) return lethe_errf(err, LETHE_E_FORMAT, "%s: %s%s", where, what, detail);
  return lethe_errf(err, LETHE_E_FORMAT, "%s: field '%s' %s%s", where, field, what, detail);
}

/* A non-empty string value; *out stays NULL when absent and optional. */
static int get_string(json_t *v, const record_loc *loc, const char *field, int required, char **out,
                      lethe_err *err) {
  *out = NULL;
  if (!v) return required ? record_error(err, loc, field, "is missing", "") : 0;
  if (!json_is_string(v))
    return record_error(err, loc, field, "must be a string, got ", data_json_type_name(v));
  if (data_is_blank(json_string_value(v))) return record_error(err, loc, field, "is empty", "");
  *out = lethe_strdup(json_string_value(v));
  return 0;
}

static int parse_record(json_t *obj, const record_loc *loc, unsigned required, tofu_qa *qa,
                        unsigned *fields, lethe_err *err) {
  memset(qa, 0, sizeof *qa);
  if (!json_is_object(obj))
    return record_error(err, loc, NULL, "must be a JSON object, got ", data_json_type_name(obj));
  if (get_string(json_object_get(obj, "question"), loc, "question", 1, &qa->question, err) ||
      get_string(json_object_get(obj, "answer"), loc, "answer", 1, &qa->answer, err) ||
      get_string(json_object_get(obj, "paraphrased_question"), loc, "paraphrased_question",
                 !!(required & TOFU_F_PARA_Q), &qa->paraphrased_question, err) ||
      get_string(json_object_get(obj, "paraphrased_answer"), loc, "paraphrased_answer",
                 !!(required & TOFU_F_PARA_A), &qa->paraphrased_answer, err))
    return -1;
  unsigned have =
      (qa->paraphrased_question ? TOFU_F_PARA_Q : 0) | (qa->paraphrased_answer ? TOFU_F_PARA_A : 0);
  json_t *pert = json_object_get(obj, "perturbed_answer");
  if (!pert && (required & TOFU_F_PERTURBED))
    return record_error(err, loc, "perturbed_answer", "is missing", "");
  if (pert) {
    if (!json_is_array(pert))
      return record_error(err, loc, "perturbed_answer", "must be a list of strings, got ",
                          data_json_type_name(pert));
    size_t n = json_array_size(pert);
    if (n == 0 || n > TOFU_MAX_PERTURBED)
      return record_error(err, loc, "perturbed_answer", "must hold 1 to 64 strings", "");
    qa->perturbed = lethe_calloc(n, sizeof *qa->perturbed);
    for (size_t i = 0; i < n; i++) {
      char field[40];
      snprintf(field, sizeof field, "perturbed_answer[%zu]", i);
      if (get_string(json_array_get(pert, i), loc, field, 1, &qa->perturbed[i], err)) return -1;
      qa->n_perturbed++;
    }
    have |= TOFU_F_PERTURBED;
  }
  int n_options = 0;
  for (int i = 0; i < TOFU_N_OPTIONS; i++) {
    char field[16];
    snprintf(field, sizeof field, "option%d", i + 1);
    n_options += json_object_get(obj, field) != NULL;
  }
  if (n_options || (required & TOFU_F_OPTIONS)) {
    for (int i = 0; i < TOFU_N_OPTIONS; i++) {
      char field[16];
      snprintf(field, sizeof field, "option%d", i + 1);
      if (get_string(json_object_get(obj, field), loc, field, 1, &qa->options[i], err)) return -1;
    }
    have |= TOFU_F_OPTIONS;
  }
  *fields &= have;
  return 0;
}

static void push_row(tofu_set *s, size_t *cap, const tofu_qa *qa) {
  if (s->n == *cap) {
    *cap = *cap ? 2 * *cap : 64;
    s->rows = lethe_realloc(s->rows, *cap * sizeof *s->rows);
  }
  s->rows[s->n++] = *qa;
}

static int load_array(json_t *root, const char *path, unsigned required, tofu_set *out,
                      lethe_err *err) {
  size_t cap = 0;
  for (size_t i = 0; i < json_array_size(root); i++) {
    record_loc loc = {path, 0, i + 1};
    tofu_qa qa;
    int rc = parse_record(json_array_get(root, i), &loc, required, &qa, &out->fields, err);
    if (rc) {
      tofu_qa_free(&qa);
      return -1;
    }
    push_row(out, &cap, &qa);
  }
  return 0;
}

static int load_lines(char *text, const char *path, unsigned required, tofu_set *out,
                      lethe_err *err) {
  size_t cap = 0, line = 0;
  for (char *p = text; *p;) {
    char *nl = strchr(p, '\n');
    size_t n = nl ? (size_t)(nl - p) : strlen(p);
    line++;
    char saved = p[n];
    p[n] = '\0';
    int blank = data_is_blank(p);
    json_error_t jerr;
    json_t *obj = blank ? NULL : json_loadb(p, n, JSON_REJECT_DUPLICATES, &jerr);
    p[n] = saved;
    p = nl ? nl + 1 : p + n;
    if (blank) continue;
    if (!obj)
      return lethe_errf(err, LETHE_E_FORMAT, "%s:%zu: invalid JSON: %s (column %d)", path, line,
                        jerr.text, jerr.column);
    record_loc loc = {path, line, out->n + 1};
    tofu_qa qa;
    int rc = parse_record(obj, &loc, required, &qa, &out->fields, err);
    json_decref(obj);
    if (rc) {
      tofu_qa_free(&qa);
      return -1;
    }
    push_row(out, &cap, &qa);
  }
  return 0;
}

int tofu_load(const char *path, unsigned required, tofu_set *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  out->fields = TOFU_F_PARA_Q | TOFU_F_PARA_A | TOFU_F_PERTURBED | TOFU_F_OPTIONS;
  char *text;
  size_t len;
  if (data_read_utf8_file(path, &text, &len, err)) return -1;
  const char *first = text;
  while (*first == ' ' || *first == '\t' || *first == '\r' || *first == '\n') first++;
  int rc;
  if (*first == '[') {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root)
      rc = lethe_errf(err, LETHE_E_FORMAT, "%s:%d: invalid JSON: %s (column %d)", path, jerr.line,
                      jerr.text, jerr.column);
    else
      rc = load_array(root, path, required, out, err);
    json_decref(root);
  } else {
    rc = load_lines(text, path, required, out, err);
  }
  free(text);
  if (!rc && out->n == 0) rc = lethe_errf(err, LETHE_E_FORMAT, "%s: holds no records", path);
  if (rc) tofu_set_free(out);
  return rc;
}

int tofu_load_split(const char *dir, const char *name, unsigned required, tofu_set *out,
                    lethe_err *err) {
  char file[256];
  snprintf(file, sizeof file, "%s.json", name);
  char *path = lethe_path_join(dir, file);
  int rc = tofu_load(path, required, out, err);
  free(path);
  return rc;
}

void tofu_qa_free(tofu_qa *qa) {
  free(qa->question);
  free(qa->answer);
  free(qa->paraphrased_question);
  free(qa->paraphrased_answer);
  for (int i = 0; i < qa->n_perturbed; i++) free(qa->perturbed[i]);
  free(qa->perturbed);
  for (int i = 0; i < TOFU_N_OPTIONS; i++) free(qa->options[i]);
  memset(qa, 0, sizeof *qa);
}

void tofu_set_free(tofu_set *s) {
  for (size_t i = 0; i < s->n; i++) tofu_qa_free(&s->rows[i]);
  free(s->rows);
  memset(s, 0, sizeof *s);
}

int tofu_save(const char *path, const tofu_qa *rows, size_t n, unsigned fields, lethe_err *err) {
  growbuf g = {0};
  for (size_t r = 0; r < n; r++) {
    const tofu_qa *qa = &rows[r];
    json_t *obj = json_object();
    json_object_set_new(obj, "question", json_string(qa->question));
    json_object_set_new(obj, "answer", json_string(qa->answer));
    for (int i = 0; (fields & TOFU_F_OPTIONS) && i < TOFU_N_OPTIONS; i++) {
      char key[16];
      snprintf(key, sizeof key, "option%d", i + 1);
      json_object_set_new(obj, key, json_string(qa->options[i]));
    }
    if (fields & TOFU_F_PARA_Q)
      json_object_set_new(obj, "paraphrased_question", json_string(qa->paraphrased_question));
    if (fields & TOFU_F_PARA_A)
      json_object_set_new(obj, "paraphrased_answer", json_string(qa->paraphrased_answer));
    if (fields & TOFU_F_PERTURBED) {
      json_t *list = json_array();
      for (int i = 0; i < qa->n_perturbed; i++)
        json_array_append_new(list, json_string(qa->perturbed[i]));
      json_object_set_new(obj, "perturbed_answer", list);
    }
    char *line = json_dumps(obj, JSON_PRESERVE_ORDER);
    json_decref(obj);
    if (!line) {
      free(g.p);
      return lethe_errf(err, LETHE_E_FORMAT, "%s: record %zu: a field is missing or not UTF-8",
                        path, r + 1);
    }
    gb_append(&g, line, strlen(line));
    gb_append(&g, "\n", 1);
    free(line);
  }
  int rc = lethe_write_file_atomic(path, g.p ? g.p : "", g.len, err);
  free(g.p);
  return rc;
}

/* ---- idontknow.jsonl ----------------------------------------------------------- */
int tofu_idk_load(const char *path, tofu_idk *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  char *text;
  size_t len, cap = 0;
  if (data_read_utf8_file(path, &text, &len, err)) return -1;
  for (char *p = text; *p;) {
    char *nl = strchr(p, '\n');
    char *end = nl ? nl : p + strlen(p);
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\r')) p++;
    char *e = end;
    while (e > p && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r')) e--;
    if (e > p) {
      if (out->n == cap) {
        cap = cap ? 2 * cap : 64;
        out->answers = lethe_realloc(out->answers, cap * sizeof *out->answers);
      }
      char *a = lethe_malloc((size_t)(e - p) + 1);
      memcpy(a, p, (size_t)(e - p));
      a[e - p] = '\0';
      out->answers[out->n++] = a;
    }
    p = nl ? nl + 1 : end;
  }
  free(text);
  if (out->n == 0) return lethe_errf(err, LETHE_E_FORMAT, "%s: holds no answers", path);
  return 0;
}

int tofu_idk_save(const char *path, char *const *answers, size_t n, lethe_err *err) {
  growbuf g = {0};
  for (size_t i = 0; i < n; i++) {
    gb_append(&g, answers[i], strlen(answers[i]));
    gb_append(&g, "\n", 1);
  }
  int rc = lethe_write_file_atomic(path, g.p ? g.p : "", g.len, err);
  free(g.p);
  return rc;
}

void tofu_idk_free(tofu_idk *idk) {
  for (size_t i = 0; i < idk->n; i++) free(idk->answers[i]);
  free(idk->answers);
  memset(idk, 0, sizeof *idk);
}
