/* json_file — a JSON document written to a file atomically (core.h's
 * lethe_write_file_atomic): the one place lethe turns a jansson tree into a
 * file, so every such write reports the same errors. */
#ifndef LETHE_JSON_FILE_H
#define LETHE_JSON_FILE_H

#include <jansson.h>

#include "core/core.h"

/* Whether the file ends with a newline after the document. */
typedef enum { LETHE_JSON_NO_NEWLINE = 0, LETHE_JSON_NEWLINE = 1 } lethe_json_end;

/* Encodes root with jansson's flags (JSON_INDENT(n), JSON_REAL_PRECISION(n),
 * ...) and writes it to path atomically. Does not take root's reference.
 * Fails, naming path, when the tree cannot be encoded or the write fails; the
 * previous content of path is then untouched. */
int lethe_json_write_atomic(const char *path, const json_t *root, size_t flags, lethe_json_end end,
                            lethe_err *err);

#endif
