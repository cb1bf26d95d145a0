/* muse_io — reading and writing a MUSE corpus directory (muse.h): lists of
 * documents, verbmem items and knowmem QA, with errors that name the file,
 * the item and the field. Nothing here tokenizes or generates. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "data/data_json.h"
#include "data/muse.h"

/* The whole file as a non-empty JSON list (*root owned by the caller). */
static int load_list(const char *path, json_t **root, lethe_err *err) {
  char *text;
  size_t len;
  *root = NULL;
  if (data_read_utf8_file(path, &text, &len, err)) return -1;
  json_error_t jerr;
  json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
  free(text);
  if (!j)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: invalid JSON: %s (column %d)", path, jerr.line,
                      jerr.text, jerr.column);
  if (!json_is_array(j)) {
    lethe_errf(err, LETHE_E_FORMAT, "%s: must be a JSON list, got %s", path,
               data_json_type_name(j));
    json_decref(j);
    return -1;
  }
  if (json_array_size(j) == 0) {
    json_decref(j);
    return lethe_errf(err, LETHE_E_FORMAT, "%s: the list is empty", path);
  }
  *root = j;
  return 0;
}

/* A non-blank string v of item i (field NULL: the item itself). */
static int get_text(const json_t *v, const char *path, size_t i, const char *field, char **out,
                    lethe_err *err) {
  char where[64] = "";
  if (field) snprintf(where, sizeof where, " field '%s'", field);
  if (!v) return lethe_errf(err, LETHE_E_FORMAT, "%s: record %zu:%s is missing", path, i + 1, where);
  if (!json_is_string(v))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: %s %zu:%s must be a string, got %s", path,
                      field ? "record" : "item", i + 1, where, data_json_type_name(v));
  if (data_is_blank(json_string_value(v)))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: %s %zu:%s is empty", path,
                      field ? "record" : "item", i + 1, where);
  *out = lethe_strdup(json_string_value(v));
  return 0;
}

int muse_texts_load(const char *path, muse_texts *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  json_t *root;
  if (load_list(path, &root, err)) return -1;
  size_t n = json_array_size(root);
  out->text = lethe_calloc(n, sizeof *out->text);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++)
    if ((rc = get_text(json_array_get(root, i), path, i, NULL, &out->text[i], err)) == 0) out->n++;
  json_decref(root);
  if (rc) muse_texts_free(out);
  return rc;
}

int muse_verbmem_load(const char *path, muse_verbmem_set *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  json_t *root;
  if (load_list(path, &root, err)) return -1;
  size_t n = json_array_size(root);
  out->rows = lethe_calloc(n, sizeof *out->rows);
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < n; i++) {
    json_t *obj = json_array_get(root, i);
    muse_verbmem *row = &out->rows[i];
    if (!json_is_object(obj))
      rc = lethe_errf(err, LETHE_E_FORMAT, "%s: record %zu: must be a JSON object, got %s", path,
                      i + 1, data_json_type_name(obj));
    else
      rc = get_text(json_object_get(obj, "prompt"), path, i, "prompt", &row->prompt, err) ||
                   get_text(json_object_get(obj, "gt"), path, i, "gt", &row->gt, err)
               ? -1
               : 0;
    out->n = i + 1; /* a half-read row is freed with the rest */
  }
  json_decref(root);
  if (rc) muse_verbmem_free(out);
  return rc;
}

int muse_qa_load(const char *path, tofu_set *out, lethe_err *err) {
  return tofu_load(path, 0, out, err);
}

/* ---- the directory ---------------------------------------------------------- */
typedef enum { MUSE_TEXTS, MUSE_VERBMEM, MUSE_QA } muse_file_kind;

typedef struct muse_file {
  const char *name; /* relative to the corpus directory */
  muse_file_kind kind;
  size_t offset; /* of the member in muse_corpus */
  int optional;
} muse_file;

#define MF(name, kind, member, optional) {name, kind, offsetof(muse_corpus, member), optional}
static const muse_file muse_files[] = {
    MF("raw/forget.json", MUSE_TEXTS, forget, 0),
    MF("raw/retain1.json", MUSE_TEXTS, retain1, 0),
    MF("raw/retain2.json", MUSE_TEXTS, retain2, 1),
    MF("raw/holdout.json", MUSE_TEXTS, holdout, 0),
    MF("verbmem/forget.json", MUSE_VERBMEM, verbmem, 0),
    MF("knowmem/forget_qa.json", MUSE_QA, knowmem_forget, 0),
    MF("knowmem/retain_qa.json", MUSE_QA, knowmem_retain, 0),
    MF("knowmem/forget_qa_icl.json", MUSE_QA, icl_forget, 1),
    MF("knowmem/retain_qa_icl.json", MUSE_QA, icl_retain, 1),
    MF("privleak/forget.json", MUSE_TEXTS, privleak_forget, 0),
    MF("privleak/holdout.json", MUSE_TEXTS, privleak_holdout, 0),
    MF("privleak/retain.json", MUSE_TEXTS, privleak_retain, 1),
};
#undef MF
#define MUSE_N_FILES (sizeof muse_files / sizeof muse_files[0])

int muse_load(const char *dir, muse_corpus *out, lethe_err *err) {
  memset(out, 0, sizeof *out);
  int rc = 0;
  for (size_t f = 0; rc == 0 && f < MUSE_N_FILES; f++) {
    const muse_file *mf = &muse_files[f];
    char *path = lethe_path_join(dir, mf->name);
    void *member = (char *)out + mf->offset;
    if (mf->optional && !lethe_file_exists(path))
      ;
    else if (!lethe_file_exists(path))
      rc = lethe_errf(err, LETHE_E_IO, "%s: missing (a MUSE corpus needs %s)", path, mf->name);
    else if (mf->kind == MUSE_TEXTS)
      rc = muse_texts_load(path, member, err);
    else if (mf->kind == MUSE_VERBMEM)
      rc = muse_verbmem_load(path, member, err);
    else
      rc = muse_qa_load(path, member, err);
    free(path);
  }
  if (rc) muse_corpus_free(out);
  return rc;
}

/* ---- writing ------------------------------------------------------------------ */
static int save_list(const char *path, json_t *list, lethe_err *err) {
  int rc = lethe_json_write_atomic(path, list, JSON_INDENT(2) | JSON_PRESERVE_ORDER,
                                   LETHE_JSON_NEWLINE, err);
  json_decref(list);
  return rc;
}

int muse_texts_save(const char *path, char *const *text, size_t n, lethe_err *err) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++) json_array_append_new(list, json_string(text[i]));
  return save_list(path, list, err);
}

int muse_verbmem_save(const char *path, const muse_verbmem *rows, size_t n, lethe_err *err) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(list, json_pack("{s:s, s:s}", "prompt", rows[i].prompt, "gt", rows[i].gt));
  return save_list(path, list, err);
}

int muse_qa_save(const char *path, const tofu_qa *rows, size_t n, lethe_err *err) {
  json_t *list = json_array();
  for (size_t i = 0; i < n; i++)
    json_array_append_new(
        list, json_pack("{s:s, s:s}", "question", rows[i].question, "answer", rows[i].answer));
  return save_list(path, list, err);
}

static size_t member_size(const muse_file *mf, const muse_corpus *c) {
  const void *member = (const char *)c + mf->offset;
  if (mf->kind == MUSE_TEXTS) return ((const muse_texts *)member)->n;
  if (mf->kind == MUSE_VERBMEM) return ((const muse_verbmem_set *)member)->n;
  return ((const tofu_set *)member)->n;
}

int muse_write(const muse_corpus *c, const char *dir, lethe_err *err) {
  static const char *const subdirs[] = {"raw", "verbmem", "knowmem", "privleak"};
  for (size_t i = 0; i < sizeof subdirs / sizeof subdirs[0]; i++) {
    char *sub = lethe_path_join(dir, subdirs[i]);
    int rc = lethe_mkdir_p(sub, err);
    free(sub);
    if (rc) return -1;
  }
  int rc = 0;
  for (size_t f = 0; rc == 0 && f < MUSE_N_FILES; f++) {
    const muse_file *mf = &muse_files[f];
    const void *member = (const char *)c + mf->offset;
    if (mf->optional && member_size(mf, c) == 0) continue;
    char *path = lethe_path_join(dir, mf->name);
    if (mf->kind == MUSE_TEXTS)
      rc = muse_texts_save(path, ((const muse_texts *)member)->text,
                           ((const muse_texts *)member)->n, err);
    else if (mf->kind == MUSE_VERBMEM)
      rc = muse_verbmem_save(path, ((const muse_verbmem_set *)member)->rows,
                             ((const muse_verbmem_set *)member)->n, err);
    else
      rc = muse_qa_save(path, ((const tofu_set *)member)->rows, ((const tofu_set *)member)->n, err);
    free(path);
  }
  return rc;
}

/* ---- freeing ---------------------------------------------------------------------- */
void muse_texts_free(muse_texts *t) {
  for (size_t i = 0; i < t->n; i++) free(t->text[i]);
  free(t->text);
  memset(t, 0, sizeof *t);
}

void muse_verbmem_free(muse_verbmem_set *v) {
  for (size_t i = 0; i < v->n; i++) free(v->rows[i].prompt), free(v->rows[i].gt);
  free(v->rows);
  memset(v, 0, sizeof *v);
}

void muse_corpus_free(muse_corpus *c) {
  for (size_t f = 0; f < MUSE_N_FILES; f++) {
    void *member = (char *)c + muse_files[f].offset;
    if (muse_files[f].kind == MUSE_TEXTS)
      muse_texts_free(member);
    else if (muse_files[f].kind == MUSE_VERBMEM)
      muse_verbmem_free(member);
    else
      tofu_set_free(member);
  }
}
