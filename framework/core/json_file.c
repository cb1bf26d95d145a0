/* json_file — see json_file.h. */
#include "core/json_file.h"

#include <stdlib.h>
#include <string.h>

int lethe_json_write_atomic(const char *path, const json_t *root, size_t flags, lethe_json_end end,
                            lethe_err *err) {
  char *text = root ? json_dumps(root, flags) : NULL;
  if (!text) return lethe_errf(err, LETHE_E_NOMEM, "%s: cannot encode the JSON document", path);
  size_t len = strlen(text);
  if (end == LETHE_JSON_NEWLINE) {
    text = lethe_realloc(text, len + 2);
    text[len++] = '\n';
    text[len] = '\0';
  }
  int rc = lethe_write_file_atomic(path, text, len, err);
  free(text);
  return rc;
}
