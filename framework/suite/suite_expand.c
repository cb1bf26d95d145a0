/* suite_expand — a read suite file (suite_parse.c) into runs: grid (mixed
 * radix, last dimension fastest) × groups × model seeds × seeds, each run's
 * overrides and name,
 * and suite.json, the expansion as the report reads it (suite_load).
 * Not here: checking the runs' settings (suite_check.c) or running them. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "suite/suite_internal.h"

static json_t *value_json(const config_setting_t *v) {
  switch (config_setting_type(v)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: return json_integer((json_int_t)config_setting_get_int64(v));
  case CONFIG_TYPE_FLOAT: return json_real(config_setting_get_float(v));
  case CONFIG_TYPE_BOOL: return json_boolean(config_setting_get_bool(v));
  default: return json_string(config_setting_get_string(v));
  }
}

/* A JSON value for override text: a number when it reads as one. */
static json_t *json_from_text(const char *t) {
  char *end;
  if (!strcmp(t, "true") || !strcmp(t, "false")) return json_boolean(!strcmp(t, "true"));
  long long i = strtoll(t, &end, 10);
  if (*t && !*end) return json_integer(i);
  double d = strtod(t, &end);
  if (*t && !*end) return json_real(d);
  return json_string(t);
}

/* Appends ",part" (or part first) to the run name *name, with the characters
 * a directory name cannot hold replaced by '_' (malloc'd; *name may be NULL). */
static void name_append(char **name, const char *label, const char *value) {
  size_t used = *name ? strlen(*name) : 0, len = used + !!used + (label ? strlen(label) + 1 : 0);
  char *out = lethe_malloc(len + strlen(value) + 1);
  snprintf(out, len + 1, "%s%s%s%s", used ? *name : "", used ? "," : "", label ? label : "",
           label ? "=" : "");
  char *p = out + len;
  for (; *value; value++)
    *p++ = (strchr("/\\ \t\"'*?:;|<>", *value) || (unsigned char)*value < 32) ? '_' : *value;
  *p = '\0';
  free(*name);
  *name = out;
}

/* Grid points (capped past SUITE_MAX_RUNS: 20 dimensions of 10 overflowed)
 * times groups and seeds; an error past SUITE_MAX_RUNS. */
static int count_runs(const suite_file *f, const char *path, long *points, lethe_err *err) {
  long total = 1;
  for (int d = 0; d < f->n_dims && total <= SUITE_MAX_RUNS; d++)
    total *= config_setting_length(f->dims[d].values);
  long per_point = (long)(f->n_groups ? f->n_groups : 1) * f->n_model_seeds; /* each <= SUITE_MAX_RUNS */
  if (total > SUITE_MAX_RUNS || per_point > SUITE_MAX_RUNS || total * per_point > SUITE_MAX_RUNS ||
      total * per_point * f->n_seeds > SUITE_MAX_RUNS)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: more than %d runs (grid x groups x model_seeds x seeds) is too many", path,
                      SUITE_MAX_RUNS);
  *points = total;
  return 0;
}

static const char *leaf(const char *path) {
  const char *dot = strrchr(path, '.');
  return dot ? dot + 1 : path;
}

/* The name parts of the seed dimensions. */
#define SEED_LABEL "seed"
#define MODEL_SEED_LABEL "model_seed"

/* A dimension's label in run names: its last path part, or the whole path
 * when another dimension, or a seed dimension, ends in the same part. */
static const char **dim_labels(const suite_file *f) {
  const char **labels = lethe_calloc((size_t)f->n_dims + 1, sizeof *labels);
  for (int d = 0; d < f->n_dims; d++) {
    const char *own = leaf(f->dims[d].path);
    int clash = (f->seeds && !strcmp(own, SEED_LABEL)) ||
                (f->model_seeds && !strcmp(own, MODEL_SEED_LABEL));
    for (int e = 0; e < f->n_dims; e++)
      clash |= e != d && !strcmp(leaf(f->dims[e].path), own);
    labels[d] = clash ? f->dims[d].path : leaf(f->dims[d].path);
  }
  return labels;
}

/* The grid point `point`'s values: overrides, settings and name parts. */
static void add_grid_point(const suite_file *f, const char *const *labels, long point,
                           suite_strvec *ov, json_t *settings, char **name) {
  int *pick = lethe_calloc((size_t)f->n_dims + 1, sizeof(int));
  for (int d = f->n_dims - 1; d >= 0; d--) {
    int nv = config_setting_length(f->dims[d].values);
    pick[d] = (int)(point % nv);
    point /= nv;
  }
  for (int d = 0; d < f->n_dims; d++) {
    const config_setting_t *v = config_setting_get_elem(f->dims[d].values, (unsigned)pick[d]);
    char *text = suite_value_text(v); /* a scalar: checked by suite_parse.c */
    suite_strvec_push(ov, suite_printf("%s=%s", f->dims[d].path, text), config_setting_source_line(v));
    json_object_set_new(settings, f->dims[d].path, value_json(v));
    name_append(name, labels[d], text);
    free(text);
  }
  free(pick);
}

/* Group g's settings: overrides, settings and its name as the last name part. */
static int add_group(const suite_file *f, int g, suite_strvec *ov, json_t *settings, char **name,
                     lethe_err *err) {
  config_setting_t *gr = config_setting_get_elem(f->groups, (unsigned)g);
  const char *gname;
  config_setting_lookup_string(gr, "name", &gname);
  suite_strvec gov = {0};
  if (suite_flatten(config_setting_get_member(gr, "set"), "", &gov, err) != 0) {
    suite_strvec_free(&gov);
    return -1;
  }
  json_object_set_new(settings, "group", json_string(gname));
  for (int i = 0; i < gov.n; i++) {
    const char *eq = strchr(gov.v[i], '=');
    char *key = suite_printf("%.*s", (int)(eq - gov.v[i]), gov.v[i]);
    json_object_set_new(settings, key, json_from_text(eq + 1));
    free(key);
    suite_strvec_push(ov, gov.v[i], gov.line[i]);
  }
  free(gov.v);
  free(gov.line);
  name_append(name, NULL, gname);
  return 0;
}

/* A seed dimension's value: `setting`=value as an override (at the line of
 * `count`, the file's seeds or model_seeds), in settings and in the name;
 * nothing when the file does not set `count`. */
static void add_seed(const config_setting_t *count, const char *setting, const char *label, int value,
                     suite_strvec *ov, json_t *settings, char **name) {
  if (!count) return;
  char text[16];
  snprintf(text, sizeof text, "%d", value);
  suite_strvec_push(ov, suite_printf("%s=%s", setting, text), config_setting_source_line(count));
  json_object_set_new(settings, setting, json_integer(value));
  name_append(name, label, text);
}

/* Where one run sits in the expansion. */
typedef struct run_pick {
  long point;      /* grid point */
  int group;       /* -1: no groups */
  int model_seed, seed;
} run_pick;

/* Run r at pick `at`; its entry of suite.json's runs goes to jruns. */
static int expand_run(const suite *s, const suite_file *f, const char *const *labels, run_pick at,
                      const char *path, suite_run *run, json_t *jruns, lethe_err *err) {
  suite_strvec ov = {0};
  json_t *settings = json_object();
  char *name = NULL;
  for (int i = 0; i < f->common.n; i++)
    suite_strvec_push(&ov, lethe_strdup(f->common.v[i]), f->common.line[i]);
  add_grid_point(f, labels, at.point, &ov, settings, &name);
  int rc = at.group >= 0 ? add_group(f, at.group, &ov, settings, &name, err) : 0;
  add_seed(f->model_seeds, s->kind->model_seed_setting, MODEL_SEED_LABEL, at.model_seed, &ov, settings,
           &name);
  add_seed(f->seeds, s->kind->seed_setting, SEED_LABEL, at.seed, &ov, settings, &name);
  if (rc == 0 && name && strlen(name) > SUITE_MAX_NAME)
    rc = lethe_errf(err, LETHE_E_CONFIG,
                    "%s: run name '%.60s...' is %zu bytes, more than a directory name holds (%d); "
                    "shorten the values or the group names",
                    path, name, strlen(name), SUITE_MAX_NAME);
  if (rc != 0) {
    suite_strvec_free(&ov);
    json_decref(settings);
    free(name);
    return -1;
  }
  if (!name || !*name) { /* nothing varies */
    free(name);
    name = lethe_strdup("run");
  }
  run->name = name;
  run->overrides = ov.v;
  run->override_line = ov.line;
  run->n_overrides = ov.n;
  json_t *jr = json_object();
  char *dir = suite_printf("runs/%s", run->name);
  json_object_set_new(jr, "name", json_string(run->name));
  json_object_set_new(jr, "dir", json_string(dir));
  json_object_set_new(jr, "settings", settings);
  if (f->model_seeds) json_object_set_new(jr, "model_seed", json_integer(at.model_seed));
  if (f->seeds) json_object_set_new(jr, "seed", json_integer(at.seed));
  json_array_append_new(jruns, jr);
  free(dir);
  return 0;
}

static int cmp_run_name(const void *a, const void *b) {
  const suite_run *x = *(const suite_run *const *)a, *y = *(const suite_run *const *)b;
  int c = strcmp(x->name, y->name);
  return c ? c : (x < y ? -1 : x > y);
}

/* Two runs must not share a directory, and a name must stay inside runs/.
 * Sorted, so 100000 runs take milliseconds (comparing every pair took
 * minutes). */
static int check_run_names(const suite *s, const char *path, lethe_err *err) {
  const suite_run **order = lethe_malloc(sizeof *order * (size_t)(s->n_runs + 1));
  for (int r = 0; r < s->n_runs; r++) order[r] = &s->runs[r];
  qsort(order, (size_t)s->n_runs, sizeof *order, cmp_run_name);
  int rc = 0;
  for (int r = 0; r < s->n_runs && rc == 0; r++) {
    if (!strcmp(order[r]->name, ".") || !strcmp(order[r]->name, ".."))
      rc = lethe_errf(err, LETHE_E_CONFIG, "%s: a run cannot be named '%s' (rename its group)",
                      path, order[r]->name);
    else if (r > 0 && !strcmp(order[r - 1]->name, order[r]->name))
      rc = lethe_errf(err, LETHE_E_CONFIG,
                      "%s: runs %d and %d would both be named '%s' (give groups distinct names)",
                      path, (int)(order[r - 1] - s->runs) + 1, (int)(order[r] - s->runs) + 1,
                      order[r]->name);
  }
  free(order);
  return rc;
}

/* suite.json: name, file, base, kind, the grid's values, the groups' names,
 * the seed counts (when set) and the runs (jruns, taken over). */
static char *suite_json(const suite *s, const suite_file *f, json_t *jruns) {
  json_t *root = json_object(), *jgrid = json_object(), *jgroups = json_array();
  for (int d = 0; d < f->n_dims; d++) {
    json_t *vals = json_array();
    for (int k = 0; k < config_setting_length(f->dims[d].values); k++)
      json_array_append_new(vals, value_json(config_setting_get_elem(f->dims[d].values, (unsigned)k)));
    json_object_set_new(jgrid, f->dims[d].path, vals);
  }
  for (int g = 0; g < f->n_groups; g++) {
    const char *gname;
    config_setting_lookup_string(config_setting_get_elem(f->groups, (unsigned)g), "name", &gname);
    json_array_append_new(jgroups, json_string(gname));
  }
  json_object_set_new(root, "name", json_string(s->name));
  json_object_set_new(root, "suite_file", json_string(s->path));
  json_object_set_new(root, "base", json_string(s->base));
  json_object_set_new(root, "kind", json_string(lethe_kind_name(s->kind->id)));
  json_object_set_new(root, "grid", jgrid);
  json_object_set_new(root, "groups", jgroups);
  if (f->model_seeds) json_object_set_new(root, "model_seeds", json_integer(f->n_model_seeds));
  if (f->seeds) json_object_set_new(root, "seeds", json_integer(f->n_seeds));
  json_object_set_new(root, "runs", jruns);
  char *text = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
  json_decref(root);
  return text;
}

/* Every run of the read file f into s. */
static int expand(suite *s, const suite_file *f, const char *path, lethe_err *err) {
  long points = 0;
  if (count_runs(f, path, &points, err) != 0) return -1;
  int per_point = f->n_groups ? f->n_groups : 1;
  s->runs = lethe_calloc((size_t)(points * per_point * f->n_model_seeds * f->n_seeds), sizeof(suite_run));
  s->n_dims = f->n_dims;
  s->seeds = f->seeds ? f->n_seeds : 0;
  s->model_seeds = f->model_seeds ? f->n_model_seeds : 0;
  s->dims = lethe_calloc((size_t)f->n_dims + 1, sizeof(char *));
  for (int d = 0; d < f->n_dims; d++) s->dims[d] = lethe_strdup(f->dims[d].path);
  const char **labels = dim_labels(f);
  json_t *jruns = json_array();
  int rc = 0;
  run_pick at;
  for (at.point = 0; at.point < points && rc == 0; at.point++)
    for (int g = 0; g < per_point && rc == 0; g++)
      for (at.model_seed = 0; at.model_seed < f->n_model_seeds && rc == 0; at.model_seed++)
        for (at.seed = 0; at.seed < f->n_seeds && rc == 0; at.seed++) {
          at.group = f->n_groups ? g : -1;
          rc = expand_run(s, f, labels, at, path, &s->runs[s->n_runs], jruns, err);
          if (rc == 0) s->n_runs++;
        }
  free(labels);
  if (rc == 0) rc = check_run_names(s, path, err);
  if (rc == 0) s->json = suite_json(s, f, jruns);
  else json_decref(jruns);
  return rc;
}

int suite_load(suite *s, const char *path, lethe_err *err) {
  memset(s, 0, sizeof *s);
  suite_file f;
  int rc = suite_file_read(&f, s, path, err);
  if (rc == 0) {
    rc = expand(s, &f, path, err);
    suite_file_free(&f);
  }
  if (rc != 0) suite_free(s);
  return rc;
}

void suite_free(suite *s) {
  for (int r = 0; s->runs && r < s->n_runs; r++) {
    for (int i = 0; i < s->runs[r].n_overrides; i++) free(s->runs[r].overrides[i]);
    free(s->runs[r].overrides);
    free(s->runs[r].override_line);
    free(s->runs[r].name);
  }
  free(s->runs);
  for (int d = 0; d < s->n_dims; d++) free(s->dims[d]);
  free(s->dims);
  free(s->path);
  free(s->name);
  free(s->base);
  free(s->json);
  memset(s, 0, sizeof *s);
}

char *suite_default_out(const suite *s) { return lethe_path_join("results", s->name); }
