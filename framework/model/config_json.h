/* config_json — the typed field readers and the float writer that
 * config.c and arch.c share for config.json (internal to the model room).
 * Each reader leaves *out unchanged when the field is absent or null, and
 * on a wrong type fails naming the field `shown` and the file `path`. */
#ifndef LETHE_MODEL_CONFIG_JSON_H
#define LETHE_MODEL_CONFIG_JSON_H

#include <jansson.h>
#include <stdio.h>

#include "core/core.h"

int cj_has(json_t *obj, const char *key); /* present and not null */
int cj_int(json_t *obj, const char *key, const char *shown, int required, int *out,
           const char *path, lethe_err *err);
int cj_real(json_t *obj, const char *key, const char *shown, double *out, const char *path,
            lethe_err *err);
int cj_bool(json_t *obj, const char *key, const char *shown, int *out, const char *path,
            lethe_err *err);
/* A string field; *out borrows from obj (NULL when absent or null). */
int cj_string(json_t *obj, const char *key, const char *shown, const char **out,
              const char *path, lethe_err *err);
/* A float JSON readers see as a float: "10000.0", "1e-05". */
void cj_format_real(char *buf, size_t cap, double v);

#endif
