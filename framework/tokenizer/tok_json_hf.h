/* tok_json_hf — what the tokenizer.json readers share; not part of the API. */
#ifndef LETHE_TOK_JSON_HF_H
#define LETHE_TOK_JSON_HF_H

#include <jansson.h>
#include <stdarg.h>

#include "tokenizer/tok_hf.h"

typedef struct tok_json_ctx {
  const char *path; /* the file, for messages */
  lethe_err *err;
  tok_tokenizer *t;
  struct tok_hf *h;
  int kind; /* set from the component table before its reader runs */
} tok_json_ctx;

/* Fails with "PATH: FIELD <message>". */
int tok_jerr(tok_json_ctx *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
int tok_jbool(tok_json_ctx *c, json_t *obj, const char *field, const char *key, int dflt,
              int *out);
int tok_jstring(tok_json_ctx *c, json_t *obj, const char *field, const char *key,
                const char **out);
/* Reads normalizer, pre_tokenizer, post_processor and decoder into c->h / c->t. */
int tok_read_components(tok_json_ctx *c, json_t *root);
/* Fails with "PATH: FIELD: <fmt with detail>" (the word-level reader's form). */
int tok_field_error(lethe_err *err, const char *path, const char *field, const char *fmt,
                    const char *detail);
/* The "single" template of a TemplateProcessing object into t->prefix/suffix. */
int tok_read_template(json_t *pp, const char *path, tok_tokenizer *t, lethe_err *err);

#endif
