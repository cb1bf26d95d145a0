/* fuzz_suite — a suite file (suite/suite_parse.c, suite_expand.c) on
 * arbitrary text, next to a fixed small base experiment. An accepted suite
 * has runs with distinct names and a suite.json that is valid JSON; a
 * refused one has a message. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_util.h"
#include "suite/suite.h"

static const char base_cfg[] =
    "world = { authors = 10; };\n"
    "unlearn = { epochs = 2; batch_size = 4; };\n"
    "method = { name = \"npo\"; };\n";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static char *base_path;
  if (!base_path) base_path = fuzz_write("base.cfg", base_cfg, sizeof base_cfg - 1);
  char *text = fuzz_string(data, size);
  char *path = fuzz_write("suite.cfg", text, strlen(text));
  free(text);
  suite s;
  lethe_err err = {0};
  if (suite_load(&s, path, &err) != 0) {
    FUZZ_CHECK(err.msg[0] != '\0', "a refused suite has a message");
  } else {
    FUZZ_CHECK(s.n_runs >= 1 && s.name && s.base && s.kind, "an accepted suite has runs");
    json_t *j = json_loads(s.json, 0, NULL);
    FUZZ_CHECK(j != NULL, "suite.json is valid JSON");
    FUZZ_CHECK(json_array_size(json_object_get(j, "runs")) == (size_t)s.n_runs,
               "suite.json lists every run");
    json_decref(j);
    for (int r = 0; r < s.n_runs; r++)
      FUZZ_CHECK(s.runs[r].name[0] && !strchr(s.runs[r].name, '/') && strcmp(s.runs[r].name, ".") &&
                     strcmp(s.runs[r].name, ".."),
                 "run names are one path part inside runs/");
    char *out = suite_default_out(&s);
    free(out);
    suite_free(&s);
  }
  free(path);
  return 0;
}
