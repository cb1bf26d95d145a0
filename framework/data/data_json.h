/* data_json — what the data room's JSON readers (tofu_io.c, muse_io.c)
 * share; not API. */
#ifndef LETHE_DATA_JSON_H
#define LETHE_DATA_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "core/core.h"

/* Larger files are refused before they are read (TOFU's largest is ~2 MB,
 * MUSE's ~10 MB): the whole file and its parsed JSON are held in memory. */
#define DATA_MAX_FILE_BYTES ((size_t)256 << 20)

/* Reads a whole file (at most DATA_MAX_FILE_BYTES) and checks it is UTF-8;
 * errors name the line of the first bad byte. *text is NUL-terminated. */
int data_read_utf8_file(const char *path, char **text, size_t *len, lethe_err *err);
/* "an object", "a list", "a string", ... for messages. */
const char *data_json_type_name(const json_t *v);
/* 1 when s holds only spaces, tabs and line ends. */
int data_is_blank(const char *s);

#endif
