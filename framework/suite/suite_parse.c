/* suite_parse — reads a suite file (libconfig, the format in suite.h): its
 * top-level settings, the base experiment and its kind, the common `set`,
 * the grid's dimensions, the groups and the seed counts, each checked with
 * file:line.
 * Not here: expanding them into runs (suite_expand.c). */
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "suite/suite_internal.h"

void suite_strvec_push(suite_strvec *s, char *owned, int line) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->v = lethe_realloc(s->v, sizeof(char *) * (size_t)s->cap);
    s->line = lethe_realloc(s->line, sizeof(int) * (size_t)s->cap);
  }
  s->line[s->n] = line;
  s->v[s->n++] = owned;
}

void suite_strvec_free(suite_strvec *s) {
  for (int i = 0; i < s->n; i++) free(s->v[i]);
  free(s->v);
  free(s->line);
  memset(s, 0, sizeof *s);
}

int suite_starts_with(const char *s, const char *prefix) {
  return !strncmp(s, prefix, strlen(prefix));
}

char *suite_printf(const char *fmt, ...) {
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *out = lethe_malloc((size_t)n + 1);
  vsnprintf(out, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return out;
}

void suite_where(const config_setting_t *s, char *buf, size_t n) {
  const char *f = config_setting_source_file(s);
  snprintf(buf, n, "%s:%d", f ? f : "?", config_setting_source_line(s));
}

char *suite_value_text(const config_setting_t *v) {
  switch (config_setting_type(v)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: return suite_printf("%lld", (long long)config_setting_get_int64(v));
  case CONFIG_TYPE_FLOAT: {
    /* the fewest digits that read back as the same number: 3e-4 is
     * "0.0003" in a run's name, not "0.00029999999999999997" */
    double x = config_setting_get_float(v);
    char *t = NULL;
    for (int digits = 15; digits <= 17; digits++) {
      free(t);
      t = suite_printf("%.*g", digits, x);
      if (strtod(t, NULL) == x) break;
    }
    if (strpbrk(t, ".eEni")) return t;
    char *with_point = suite_printf("%s.0", t);
    free(t);
    return with_point;
  }
  case CONFIG_TYPE_BOOL: return lethe_strdup(config_setting_get_bool(v) ? "true" : "false");
  case CONFIG_TYPE_STRING: return lethe_strdup(config_setting_get_string(v));
  default: return NULL;
  }
}

/* prefix.name, or name at the top. */
static char *child_path(const char *prefix, const config_setting_t *s) {
  return suite_printf("%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
}

int suite_flatten(const config_setting_t *g, const char *prefix, suite_strvec *out, lethe_err *err) {
  for (int i = 0; i < config_setting_length(g); i++) {
    config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    char *path = child_path(prefix, s), *text = NULL, w[SUITE_WHERE_MAX];
    int rc = 0;
    if (config_setting_is_group(s)) {
      rc = suite_flatten(s, path, out, err);
    } else if (!(text = suite_value_text(s))) {
      suite_where(s, w, sizeof w);
      rc = lethe_errf(err, LETHE_E_CONFIG, "%s: '%s' must be a single value here", w, path);
    } else {
      suite_strvec_push(out, suite_printf("%s=%s", path, text), config_setting_source_line(s));
    }
    free(text);
    free(path);
    if (rc != 0) return -1;
  }
  return 0;
}

/* One grid dimension: a non-empty list of scalars. */
static int check_dim(const config_setting_t *s, const char *path, lethe_err *err) {
  char w[SUITE_WHERE_MAX];
  suite_where(s, w, sizeof w);
  if (!config_setting_is_array(s) && !config_setting_is_list(s))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s must be a list of values, e.g. [1, 2]", w, path);
  if (config_setting_length(s) == 0)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s has no values", w, path);
  for (int k = 0; k < config_setting_length(s); k++) {
    int type = config_setting_type(config_setting_get_elem(s, (unsigned)k));
    if (type != CONFIG_TYPE_INT && type != CONFIG_TYPE_INT64 && type != CONFIG_TYPE_FLOAT &&
        type != CONFIG_TYPE_BOOL && type != CONFIG_TYPE_STRING)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s value %d must be a number, string or bool",
                        w, path, k + 1);
  }
  return 0;
}

/* Grid dimensions: every array/list leaf of the grid group, in file order. */
static int collect_dims(const config_setting_t *g, const char *prefix, suite_file *f, lethe_err *err) {
  for (int i = 0; i < config_setting_length(g); i++) {
    config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    char *path = child_path(prefix, s);
    int rc = config_setting_is_group(s) ? collect_dims(s, path, f, err) : check_dim(s, path, err);
    if (rc != 0 || config_setting_is_group(s)) {
      free(path);
      if (rc != 0) return -1;
      continue;
    }
    f->dims = lethe_realloc(f->dims, sizeof(suite_dim) * (size_t)(f->n_dims + 1));
    f->dims[f->n_dims].path = path;
    f->dims[f->n_dims].values = s;
    f->n_dims++;
  }
  return 0;
}

static int check_top_level(config_setting_t *root, lethe_err *err) {
  static const char *const known[] = {"name", "base", "set", "grid", "groups", "seeds", "model_seeds",
                                      NULL};
  for (int i = 0; i < config_setting_length(root); i++) {
    config_setting_t *c = config_setting_get_elem(root, (unsigned)i);
    int ok = 0;
    for (int k = 0; known[k]; k++) ok |= !strcmp(known[k], config_setting_name(c));
    if (!ok) {
      char w[SUITE_WHERE_MAX];
      suite_where(c, w, sizeof w);
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: unknown suite setting '%s' (known: name, base, set, grid, groups, "
                        "seeds, model_seeds)", w,
                        config_setting_name(c));
    }
  }
  return 0;
}

/* The suite's name: `name`, else the file's name without its extension. */
static char *suite_name(const config_t *cfg, const char *path) {
  const char *name;
  if (config_lookup_string(cfg, "name", &name) == CONFIG_TRUE) return lethe_strdup(name);
  char *b = lethe_strdup(path), *bn = basename(b), *dot = strrchr(bn, '.');
  if (dot) *dot = '\0';
  char *out = lethe_strdup(bn);
  free(b);
  return out;
}

/* The base experiment's kind (its `kind`; none = tofu) decides how runs are
 * checked and run; a kind without a row in the table is refused here. */
static int read_kind(const config_t *cfg, suite *s, lethe_err *err) {
  config_t b;
  config_init(&b);
  char *bd = lethe_strdup(s->base), w[SUITE_WHERE_MAX];
  config_set_include_dir(&b, dirname(bd));
  const char *kind = lethe_kind_name(LETHE_KIND_TOFU);
  int rc = 0;
  suite_where(config_lookup(cfg, "base"), w, sizeof w);
  if (config_read_file(&b, s->base) != CONFIG_TRUE) {
    rc = lethe_errf(err, LETHE_E_CONFIG, "%s: base experiment %s: %s (line %d)", w, s->base,
                    config_error_type(&b) == CONFIG_ERR_FILE_IO ? "cannot be read" : config_error_text(&b),
                    config_error_line(&b));
  } else {
    config_lookup_string(&b, "kind", &kind);
    s->kind = suite_kind_find(kind);
    if (!s->kind) {
      char known[256] = "";
      for (int k = 0; k < LETHE_N_KINDS; k++)
        snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                 lethe_kind_name((lethe_kind)k));
      rc = lethe_errf(err, LETHE_E_CONFIG, "%s: base experiment %s: unknown kind \"%s\" (known: %s)",
                      w, s->base, kind, known);
    }
  }
  config_destroy(&b);
  free(bd);
  return rc;
}

/* set, grid and groups: their shapes. */
static int read_settings(suite_file *f, const char *path, lethe_err *err) {
  config_setting_t *set = config_lookup(&f->cfg, "set"), *grid = config_lookup(&f->cfg, "grid");
  config_setting_t *groups = config_lookup(&f->cfg, "groups");
  if (set && !config_setting_is_group(set))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: set must be a group { ... }", path);
  if (set && suite_flatten(set, "", &f->common, err) != 0) return -1;
  if (grid && !config_setting_is_group(grid))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: grid must be a group { ... }", path);
  if (grid && collect_dims(grid, "", f, err) != 0) return -1;
  if (groups && !config_setting_is_list(groups))
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: groups must be a list ( { name = ...; set = { ... }; }, ... )", path);
  f->groups = groups;
  f->n_groups = groups ? config_setting_length(groups) : 0;
  for (int g = 0; g < f->n_groups; g++) {
    config_setting_t *gr = config_setting_get_elem(groups, (unsigned)g), *gset;
    const char *gname;
    char w[SUITE_WHERE_MAX];
    suite_where(gr, w, sizeof w);
    if (!config_setting_is_group(gr) || config_setting_lookup_string(gr, "name", &gname) != CONFIG_TRUE ||
        !(gset = config_setting_get_member(gr, "set")) || !config_setting_is_group(gset))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: each group needs name = \"...\"; and set = { ... };", w);
  }
  return 0;
}

/* Where the file itself sets `setting` (a dotted path): in set, in the grid
 * or in a group's set; NULL when nowhere. */
static const config_setting_t *set_in_file(const suite_file *f, const char *setting) {
  static const char *const places[] = {"set", "grid"};
  const config_setting_t *found = NULL;
  for (int i = 0; i < 2 && !found; i++) {
    char *p = suite_printf("%s.%s", places[i], setting);
    found = config_lookup(&f->cfg, p);
    free(p);
  }
  char *in_group = suite_printf("set.%s", setting);
  for (int g = 0; g < f->n_groups && !found; g++)
    found = config_setting_lookup(config_setting_get_elem(f->groups, (unsigned)g), in_group);
  free(in_group);
  return found;
}

/* `key = N;` (seeds or model_seeds): N runs of each grid point over
 * `setting` = 0..N-1, which the file must then not set itself. */
static int read_seed_count(suite_file *f, const char *key, const char *setting,
                           const config_setting_t **out, int *n, lethe_err *err) {
  const config_setting_t *c = config_lookup(&f->cfg, key), *clash;
  *out = NULL;
  *n = 1;
  if (!c) return 0;
  char w[SUITE_WHERE_MAX], wc[SUITE_WHERE_MAX];
  suite_where(c, w, sizeof w);
  int type = config_setting_type(c);
  long long v = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64 ? config_setting_get_int64(c) : 0;
  if (v < 1 || v > SUITE_MAX_RUNS)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: %s must be a whole number of seeds, 1 to %d", w, key,
                      SUITE_MAX_RUNS);
  if (!setting)
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: %s: this kind of experiment has no model seed apart from its seed "
                      "(use seeds)", w, key);
  if ((clash = set_in_file(f, setting))) {
    suite_where(clash, wc, sizeof wc);
    return lethe_errf(err, LETHE_E_CONFIG,
                      "%s: %s is set here, but %s = %lld (%s) already runs every grid point with "
                      "%s = 0..%lld; remove one of them",
                      wc, setting, key, v, w, setting, v - 1);
  }
  *out = c;
  *n = (int)v;
  return 0;
}

int suite_file_read(suite_file *f, suite *s, const char *path, lethe_err *err) {
  memset(f, 0, sizeof *f);
  config_init(&f->cfg);
  char *dir_copy = lethe_strdup(path), *dir = dirname(dir_copy);
  config_set_include_dir(&f->cfg, dir);
  int rc = -1;
  const char *base;
  if (config_read_file(&f->cfg, path) != CONFIG_TRUE) {
    if (config_error_type(&f->cfg) == CONFIG_ERR_FILE_IO)
      lethe_errf(err, LETHE_E_IO, "%s: cannot read the suite file", path);
    else
      lethe_errf(err, LETHE_E_CONFIG, "%s:%d: %s",
                 config_error_file(&f->cfg) ? config_error_file(&f->cfg) : path,
                 config_error_line(&f->cfg), config_error_text(&f->cfg));
  } else if (check_top_level(config_root_setting(&f->cfg), err) == 0) {
    s->path = lethe_strdup(path);
    s->name = suite_name(&f->cfg, path);
    if (config_lookup_string(&f->cfg, "base", &base) != CONFIG_TRUE) {
      lethe_errf(err, LETHE_E_CONFIG, "%s: the suite needs base = \"experiment.cfg\";", path);
    } else {
      s->base = base[0] == '/' ? lethe_strdup(base) : lethe_path_join(dir, base);
      rc = read_kind(&f->cfg, s, err);
      if (rc == 0) rc = read_settings(f, path, err);
      if (rc == 0)
        rc = read_seed_count(f, "seeds", s->kind->seed_setting, &f->seeds, &f->n_seeds, err);
      if (rc == 0)
        rc = read_seed_count(f, "model_seeds", s->kind->model_seed_setting, &f->model_seeds,
                             &f->n_model_seeds, err);
    }
  }
  free(dir_copy);
  if (rc != 0) suite_file_free(f);
  return rc;
}

void suite_file_free(suite_file *f) {
  suite_strvec_free(&f->common);
  for (int d = 0; d < f->n_dims; d++) free(f->dims[d].path);
  free(f->dims);
  config_destroy(&f->cfg);
  memset(f, 0, sizeof *f);
}
