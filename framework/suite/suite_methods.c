/* suite_methods — suite.json with the method of every run as the report
 * shows it: the plugin's name, title and colour (from its descriptor; the
 * report reads files and cannot load plugins). Not here: the grid's
 * expansion (suite.c) or how the report draws a method (report/). */
#include <assert.h>
#include <jansson.h>
#include <string.h>

#include "core/json_file.h"
#include "method/method_host.h"
#include "pipeline/experiment.h"
#include "suite/suite.h"

/* {"name", "title", "colour"} of a run's method (title and colour only when
 * the plugin has them); NULL with err when the run's settings do not resolve. */
static json_t *run_method(const suite *s, const suite_run *run, lethe_err *err) {
  experiment e;
  if (experiment_load(&e, s->base, (const char *const *)run->overrides, run->n_overrides, err))
    return NULL;
  method_spec ms = {0};
  json_t *o = NULL;
  if (method_spec_from_config(&ms, lcfg_setting(&e.cfg, "method"),
                              (const char *const *)e.method_overrides, e.n_method_overrides,
                              err) == 0) {
    const lethe_method_desc *d = ms.plugin.desc;
    const char *title = method_desc_title(d), *colour = method_desc_colour(d);
    o = json_object();
    json_object_set_new(o, "name", json_string(d->name));
    if (title) json_object_set_new(o, "title", json_string(title));
    if (colour) json_object_set_new(o, "colour", json_string(colour));
    method_spec_free(&ms);
  }
  experiment_free(&e);
  return o;
}

int suite_write_json(const suite *s, const char *path, lethe_err *err) {
  json_error_t jerr;
  json_t *root = json_loads(s->json, 0, &jerr);
  assert(root && "suite_load wrote valid JSON");
  json_t *runs = json_object_get(root, "runs");
  assert(json_array_size(runs) == (size_t)s->n_runs);
  /* synthetic runs write their method's title and colour into summary.json */
  for (int r = 0; s->kind->id == LETHE_KIND_TOFU && r < s->n_runs; r++) {
    json_t *method = run_method(s, &s->runs[r], err);
    if (!method) {
      json_decref(root);
      return lethe_err_prefix(err, "%s: run %s", s->path, s->runs[r].name);
    }
    json_object_set_new(json_array_get(runs, (size_t)r), "method", method);
  }
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(1) | JSON_ENSURE_ASCII,
                                   LETHE_JSON_NO_NEWLINE, err);
  json_decref(root);
  return rc;
}
