/* config — schema ← file ← overrides layering on libconfig (see config.h). */
#include "pipeline/config.h"

#include <libgen.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *type_name(int type) {
  switch (type) {
  case CONFIG_TYPE_GROUP: return "a group { ... }";
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: return "an integer";
  case CONFIG_TYPE_FLOAT: return "a number";
  case CONFIG_TYPE_STRING: return "a string";
  case CONFIG_TYPE_BOOL: return "true or false";
  case CONFIG_TYPE_ARRAY: return "an array [ ... ]";
  case CONFIG_TYPE_LIST: return "a list ( ... )";
  default: return "nothing";
  }
}

/* Can a user value of type `got` stand where the schema has `want`? */
static int type_ok(int want, int got) {
  if (want == got) return 1;
  int want_int = want == CONFIG_TYPE_INT || want == CONFIG_TYPE_INT64;
  int got_int = got == CONFIG_TYPE_INT || got == CONFIG_TYPE_INT64;
  if (want_int && got_int) return 1;
  if (want == CONFIG_TYPE_FLOAT && got_int) return 1;
  if ((want == CONFIG_TYPE_ARRAY || want == CONFIG_TYPE_LIST) &&
      (got == CONFIG_TYPE_ARRAY || got == CONFIG_TYPE_LIST))
    return 1;
  return 0;
}

void lcfg_where(const config_setting_t *s, char *buf, size_t n) {
  int line = s ? (int)config_setting_source_line(s) : 0;
  const char *file = s ? config_setting_source_file(s) : NULL;
  if (line > 0) snprintf(buf, n, "%s:%d", file ? file : "(config)", line);
  else snprintf(buf, n, "command line or default");
}

/* "a.b" + "c" → "a.b.c" in buf */
static void join_path(char *buf, size_t n, const char *prefix, const char *name) {
  if (prefix && *prefix) snprintf(buf, n, "%s.%s", prefix, name);
  else snprintf(buf, n, "%s", name);
}

static int is_open(const char *const *open_groups, const char *path) {
  for (int i = 0; open_groups && open_groups[i]; i++) {
    size_t n = strlen(open_groups[i]);
    if (!strncmp(path, open_groups[i], n) && (path[n] == '\0' || path[n] == '.')) return 1;
  }
  return 0;
}

static void known_names(const config_setting_t *group, char *buf, size_t n) {
  buf[0] = '\0';
  for (int i = 0; group && i < config_setting_length(group); i++) {
    const char *nm = config_setting_name(config_setting_get_elem(group, (unsigned)i));
    size_t used = strlen(buf);
    snprintf(buf + used, n - used, "%s%s", i ? ", " : "", nm ? nm : "?");
  }
}

/* Every member of user (a group) must exist in schema with a compatible type. */
static int validate(const config_setting_t *user, const config_setting_t *schema,
                    const char *prefix, const char *const *open_groups, lethe_err *err) {
  for (int i = 0; i < config_setting_length(user); i++) {
    config_setting_t *u = config_setting_get_elem(user, (unsigned)i);
    char path[512], where[600];
    join_path(path, sizeof path, prefix, config_setting_name(u));
    if (is_open(open_groups, path)) continue;
    config_setting_t *s = config_setting_get_member(schema, config_setting_name(u));
    lcfg_where(u, where, sizeof where);
    if (!s) {
      char names[1024];
      known_names(schema, names, sizeof names);
      return lethe_errf(err, LETHE_E_CONFIG, "%s: unknown setting '%s' (known here: %s)", where,
                        path, names);
    }
    int want = config_setting_type(s), got = config_setting_type(u);
    if (!type_ok(want, got))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: setting '%s' must be %s, not %s", where, path,
                        type_name(want), type_name(got));
    if (want == CONFIG_TYPE_GROUP && validate(u, s, path, open_groups, err) != 0) return -1;
  }
  return 0;
}

/* No float anywhere in s (recursively) may be inf or nan: "1e999" parses as
 * inf and would reach training as a learning rate, and the resolved file
 * could not be read back. */
static int check_finite(const config_setting_t *s, const char *path, lethe_err *err) {
  if (config_setting_type(s) == CONFIG_TYPE_FLOAT && !isfinite(config_setting_get_float(s))) {
    char where[600];
    lcfg_where(s, where, sizeof where);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: setting '%s' must be a finite number", where,
                      path);
  }
  for (int i = 0; config_setting_is_aggregate(s) && i < config_setting_length(s); i++) {
    const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
    char sub[512];
    if (config_setting_name(e)) join_path(sub, sizeof sub, path, config_setting_name(e));
    else snprintf(sub, sizeof sub, "%s.[%d]", path, i);
    if (check_finite(e, sub, err) != 0) return -1;
  }
  return 0;
}

/* Deep-copies src as a new member of dst_parent (a group, list or array);
 * name NULL for list/array elements. Returns the copy. */
static config_setting_t *copy_setting(config_setting_t *dst_parent, const char *name,
                                      const config_setting_t *src) {
  int type = config_setting_type(src);
  config_setting_t *d = config_setting_add(dst_parent, name, type);
  if (!d) return NULL;
  switch (type) {
  case CONFIG_TYPE_INT: config_setting_set_int(d, config_setting_get_int(src)); break;
  case CONFIG_TYPE_INT64: config_setting_set_int64(d, config_setting_get_int64(src)); break;
  case CONFIG_TYPE_FLOAT: config_setting_set_float(d, config_setting_get_float(src)); break;
  case CONFIG_TYPE_BOOL: config_setting_set_bool(d, config_setting_get_bool(src)); break;
  case CONFIG_TYPE_STRING: config_setting_set_string(d, config_setting_get_string(src)); break;
  default: /* group, array, list */
    for (int i = 0; i < config_setting_length(src); i++) {
      const config_setting_t *e = config_setting_get_elem(src, (unsigned)i);
      copy_setting(d, type == CONFIG_TYPE_GROUP ? config_setting_name(e) : NULL, e);
    }
  }
  return d;
}

/* Adds to dst every schema member it lacks (recursively into groups). */
static void add_defaults(config_setting_t *dst, const config_setting_t *schema) {
  for (int i = 0; i < config_setting_length(schema); i++) {
    config_setting_t *s = config_setting_get_elem(schema, (unsigned)i);
    config_setting_t *d = config_setting_get_member(dst, config_setting_name(s));
    if (!d) copy_setting(dst, config_setting_name(s), s);
    else if (config_setting_is_group(s) && config_setting_is_group(d)) add_defaults(d, s);
  }
}

static int parse_schema(config_t *schema, const char *text, lethe_err *err) {
  config_init(schema);
  if (config_read_string(schema, text) != CONFIG_TRUE) {
    lethe_errf(err, LETHE_E_CONFIG, "built-in schema line %d: %s", config_error_line(schema),
               config_error_text(schema));
    config_destroy(schema);
    return -1;
  }
  return 0;
}

int lcfg_override(lcfg *c, const char *schema_text, const char *assignment, lethe_err *err) {
  const char *eq = strchr(assignment, '=');
  if (!eq || eq == assignment)
    return lethe_errf(err, LETHE_E_CONFIG, "override '%s': expected path=value", assignment);
  char path[512];
  size_t plen = (size_t)(eq - assignment);
  if (plen >= sizeof path)
    return lethe_errf(err, LETHE_E_CONFIG, "override '%s': path too long", assignment);
  memcpy(path, assignment, plen);
  path[plen] = '\0';
  for (char *p = path; *p; p++)
    if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
          *p == '_' || *p == '.' || *p == '-'))
      return lethe_errf(err, LETHE_E_CONFIG, "override '%s': '%s' is not a setting path",
                        assignment, path);
  config_t schema;
  if (parse_schema(&schema, schema_text, err) != 0) return -1;
  config_setting_t *s = config_lookup(&schema, path);
  int open = is_open(c->open_groups, path), rc = -1;
  if (!s && !open) {
    lethe_errf(err, LETHE_E_CONFIG, "override '%s': unknown setting '%s'", assignment, path);
    config_destroy(&schema);
    return -1;
  }
  /* parse the value as libconfig text; a bare word becomes a string */
  config_t val;
  config_init(&val);
  size_t n = strlen(eq + 1) + 16;
  char *text = lethe_malloc(n);
  snprintf(text, n, "v = %s;", eq + 1);
  int parsed = config_read_string(&val, text) == CONFIG_TRUE;
  int want_string = s && config_setting_type(s) == CONFIG_TYPE_STRING;
  if (parsed && want_string && config_setting_type(config_lookup(&val, "v")) != CONFIG_TYPE_STRING)
    parsed = 0; /* "-s data.dir=2024" means the string "2024" */
  if (!parsed && (want_string || (!s && open))) {
    config_destroy(&val);
    config_init(&val);
    config_setting_t *v = config_setting_add(config_root_setting(&val), "v", CONFIG_TYPE_STRING);
    config_setting_set_string(v, eq + 1);
    parsed = 1;
  }
  free(text);
  config_setting_t *v = parsed ? config_lookup(&val, "v") : NULL;
  if (!v) {
    lethe_errf(err, LETHE_E_CONFIG, "override '%s': cannot parse the value '%s'", assignment, eq + 1);
    goto done;
  }
  if (check_finite(v, path, err) != 0) {
    lethe_err_prefix(err, "override '%s'", assignment);
    goto done;
  }
  if (config_setting_is_group(v)) { /* replacing a group would drop its defaults */
    lethe_errf(err, LETHE_E_CONFIG,
               "override '%s': set one setting at a time (e.g. %s.NAME=value), not a group",
               assignment, path);
    goto done;
  }
  if (s && !type_ok(config_setting_type(s), config_setting_type(v))) {
    lethe_errf(err, LETHE_E_CONFIG, "override '%s': setting '%s' must be %s, not %s", assignment,
               path, type_name(config_setting_type(s)), type_name(config_setting_type(v)));
    goto done;
  }
  /* walk/create the parent groups, replace the leaf */
  config_setting_t *parent = config_root_setting(&c->tree);
  char *save = NULL, *copy = lethe_strdup(path);
  char *part = strtok_r(copy, ".", &save);
  while (part) {
    char *next = strtok_r(NULL, ".", &save);
    config_setting_t *child = config_setting_get_member(parent, part);
    if (child && next && !config_setting_is_group(child)) {
      lethe_errf(err, LETHE_E_CONFIG, "override '%s': '%s' is not a group", assignment, part);
      free(copy);
      goto done;
    }
    if (!next && child) config_setting_remove(parent, part);
    if (!next) child = copy_setting(parent, part, v);
    else if (!child) child = config_setting_add(parent, part, CONFIG_TYPE_GROUP);
    if (!child) { /* libconfig refuses the name (it must start with a letter) */
      lethe_errf(err, LETHE_E_CONFIG, "override '%s': '%s' is not a valid setting name",
                 assignment, part);
      free(copy);
      goto done;
    }
    parent = child;
    part = next;
  }
  free(copy);
  rc = 0;
done:
  config_destroy(&val);
  config_destroy(&schema);
  return rc;
}

int lcfg_load(lcfg *c, const char *schema_text, const char *const *open_groups, const char *path,
              const char *const *overrides, int n_overrides, lethe_err *err) {
  memset(c, 0, sizeof *c);
  c->open_groups = open_groups;
  config_init(&c->tree);
  config_t schema;
  if (parse_schema(&schema, schema_text, err) != 0) return -1;
  if (path) {
    c->path = lethe_strdup(path);
    char *dir = lethe_strdup(path);
    config_set_include_dir(&c->tree, dirname(dir));
    int ok = config_read_file(&c->tree, path) == CONFIG_TRUE;
    free(dir);
    if (!ok) {
      const char *f = config_error_file(&c->tree);
      if (config_error_type(&c->tree) == CONFIG_ERR_FILE_IO)
        lethe_errf(err, LETHE_E_IO, "%s: cannot read the configuration file", path);
      else
        lethe_errf(err, LETHE_E_CONFIG, "%s:%d: %s", f ? f : path, config_error_line(&c->tree),
                   config_error_text(&c->tree));
      goto fail;
    }
    if (validate(config_root_setting(&c->tree), config_root_setting(&schema), "", open_groups,
                 err) != 0 ||
        check_finite(config_root_setting(&c->tree), "", err) != 0)
      goto fail;
  }
  add_defaults(config_root_setting(&c->tree), config_root_setting(&schema));
  config_destroy(&schema);
  for (int i = 0; i < n_overrides; i++)
    if (lcfg_override(c, schema_text, overrides[i], err) != 0) {
      lcfg_free(c);
      return -1;
    }
  return 0;
fail:
  config_destroy(&schema);
  lcfg_free(c);
  return -1;
}

void lcfg_free(lcfg *c) {
  config_destroy(&c->tree);
  free(c->path);
  memset(c, 0, sizeof *c);
}

config_setting_t *lcfg_setting(const lcfg *c, const char *path) {
  return config_lookup((config_t *)&c->tree, path);
}

static config_setting_t *must(const lcfg *c, const char *path) {
  config_setting_t *s = lcfg_setting(c, path);
  if (!s) {
    fprintf(stderr, "lethe: internal error: setting '%s' missing from the schema\n", path);
    abort();
  }
  return s;
}

long lcfg_int(const lcfg *c, const char *path) {
  config_setting_t *s = must(c, path);
  if (config_setting_type(s) == CONFIG_TYPE_FLOAT) return (long)config_setting_get_float(s);
  return (long)config_setting_get_int64(s);
}

double lcfg_float(const lcfg *c, const char *path) {
  config_setting_t *s = must(c, path);
  if (config_setting_type(s) == CONFIG_TYPE_FLOAT) return config_setting_get_float(s);
  return (double)config_setting_get_int64(s);
}

int lcfg_bool(const lcfg *c, const char *path) { return config_setting_get_bool(must(c, path)); }

const char *lcfg_string(const lcfg *c, const char *path) {
  const char *s = config_setting_get_string(must(c, path));
  return s ? s : "";
}

char *lcfg_to_string(const lcfg *c) {
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  config_write(&c->tree, f);
  fclose(f);
  return buf;
}

int lcfg_record_method(lcfg *c, const char *schema_text, const method_spec *ms, lethe_err *err) {
  const lethe_method_desc *d = ms->plugin.desc;
  char assign[256];
  int len = snprintf(assign, sizeof assign, "method.name=\"%s\"", d->name);
  if (len < 0 || (size_t)len >= sizeof assign)
    return lethe_errf(err, LETHE_E_CONFIG, "method name '%s' is too long", d->name);
  if (lcfg_override(c, schema_text, assign, err) != 0) return -1;
  for (uint32_t i = 0; i < d->n_params; i++) {
    double v = method_param_value(d, ms->params, i);
    const char *name = d->params[i].name;
    if (d->params[i].type == LETHE_PARAM_BOOL)
      len = snprintf(assign, sizeof assign, "method.params.%s=%s", name, v != 0 ? "true" : "false");
    else if (d->params[i].type == LETHE_PARAM_INT)
      len = snprintf(assign, sizeof assign, "method.params.%s=%lld", name, (long long)v);
    else /* %.17g round-trips; a whole number keeps ".0" to stay a float */
      len = snprintf(assign, sizeof assign, "method.params.%s=%.17g%s", name, v,
                     v == floor(v) && fabs(v) < 1e15 ? ".0" : "");
    if (len < 0 || (size_t)len >= sizeof assign)
      return lethe_errf(err, LETHE_E_CONFIG, "method %s: parameter name '%s' is too long", d->name, name);
    if (lcfg_override(c, schema_text, assign, err) != 0) return -1;
  }
  return 0;
}

int lcfg_write(const lcfg *c, const char *path, lethe_err *err) {
  char *text = lcfg_to_string(c);
  int rc = lethe_write_file_atomic(path, text, strlen(text), err);
  free(text);
  return rc;
}
