/* params — fills a plugin's hyper-parameter struct from its declarative table:
 * defaults, a libconfig `params` group, and "method.KEY=VALUE" overrides, with
 * errors that name the file:line or the override; prints tables and values.
 * Not here: choosing the plugin (spec.c) or loading it (loader.c).
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "method/method_host.h"

static const char *type_name(lethe_param_type t) {
  return t == LETHE_PARAM_DOUBLE ? "double" : t == LETHE_PARAM_INT ? "int" : "bool";
}

static void store(const lethe_param *p, void *params, double v) {
  char *at = (char *)params + p->offset;
  if (p->type == LETHE_PARAM_DOUBLE) {
    memcpy(at, &v, sizeof v);
  } else {
    int32_t i = (int32_t)v;
    memcpy(at, &i, sizeof i);
  }
}

double method_param_value(const lethe_method_desc *d, const void *params, uint32_t i) {
  const lethe_param *p = &d->params[i];
  const char *at = (const char *)params + p->offset;
  if (p->type == LETHE_PARAM_DOUBLE) {
    double v;
    memcpy(&v, at, sizeof v);
    return v;
  }
  int32_t v;
  memcpy(&v, at, sizeof v);
  return v;
}

void *method_params_new(const lethe_method_desc *d) {
  void *params = lethe_calloc(1, d->params_size ? d->params_size : 1);
  for (uint32_t i = 0; i < d->n_params; i++) store(&d->params[i], params, d->params[i].def);
  return params;
}

static int find_param(const lethe_method_desc *d, const char *name) {
  for (uint32_t i = 0; i < d->n_params; i++)
    if (!strcmp(d->params[i].name, name)) return (int)i;
  return -1;
}

/* "beta, delta" (or "none") */
static void param_names(const lethe_method_desc *d, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (uint32_t i = 0; i < d->n_params && used < n; i++) {
    int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "", d->params[i].name);
    if (w > 0) used += (size_t)w;
  }
  if (!d->n_params) snprintf(buf, n, "none");
}

static int unknown_param(const lethe_method_desc *d, const char *origin, const char *name,
                         lethe_err *err) {
  char known[512];
  param_names(d, known, sizeof known);
  return lethe_errf(err, LETHE_E_CONFIG, "%s: method '%s' has no parameter '%s' (parameters: %s)",
                    origin, d->name, name, known);
}

/* "(0, 1000]", "[0, inf)" */
static void range_text(const lethe_param *p, char *buf, size_t n) {
  if (p->type == LETHE_PARAM_BOOL) {
    snprintf(buf, n, "true/false");
    return;
  }
  snprintf(buf, n, "%c%g, %g%c",
           (p->flags & LETHE_PARAM_MIN_EXCLUSIVE) || isinf(p->min) ? '(' : '[', p->min, p->max,
           (p->flags & LETHE_PARAM_MAX_EXCLUSIVE) || isinf(p->max) ? ')' : ']');
}

/* Range check and store; v has already been converted from its source type. */
static int assign(const lethe_method_desc *d, void *params, const lethe_param *p, double v,
                  const char *origin, lethe_err *err) {
  int ok = method_param_in_range(p, v);
  if (!ok) {
    char range[96];
    range_text(p, range, sizeof range);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: method '%s' parameter '%s' = %g is out of range %s",
                      origin, d->name, p->name, v, range);
  }
  store(p, params, v);
  return 0;
}

/* ---- from libconfig ------------------------------------------------------------ */
static void setting_origin(const config_setting_t *s, char *buf, size_t n) {
  const char *file = config_setting_source_file(s);
  snprintf(buf, n, "%s:%u", file ? file : "<config>", config_setting_source_line(s));
}

static const char *setting_type_name(int type) {
  switch (type) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: return "an integer";
  case CONFIG_TYPE_FLOAT: return "a float";
  case CONFIG_TYPE_STRING: return "a string";
  case CONFIG_TYPE_BOOL: return "a boolean";
  case CONFIG_TYPE_GROUP: return "a group";
  case CONFIG_TYPE_ARRAY: return "an array";
  case CONFIG_TYPE_LIST: return "a list";
  }
  return "an unknown type";
}

static int read_setting(const lethe_method_desc *d, void *params, const config_setting_t *s,
                        lethe_err *err) {
  char origin[512];
  setting_origin(s, origin, sizeof origin);
  const char *name = config_setting_name(s);
  int i = find_param(d, name ? name : "");
  if (i < 0) return unknown_param(d, origin, name ? name : "(unnamed)", err);
  const lethe_param *p = &d->params[i];
  int type = config_setting_type(s);
  double v;
  if (p->type == LETHE_PARAM_BOOL && type == CONFIG_TYPE_BOOL) {
    v = config_setting_get_bool(s);
  } else if (p->type != LETHE_PARAM_BOOL &&
             (type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64)) {
    long long iv = config_setting_get_int64(s);
    if (p->type == LETHE_PARAM_INT && (iv < INT32_MIN || iv > INT32_MAX))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: method '%s' parameter '%s' = %lld is too large",
                        origin, d->name, name, iv);
    v = (double)iv;
  } else if (p->type == LETHE_PARAM_DOUBLE && type == CONFIG_TYPE_FLOAT) {
    v = config_setting_get_float(s);
  } else {
    return lethe_errf(err, LETHE_E_CONFIG, "%s: method '%s' parameter '%s' must be %s, got %s",
                      origin, d->name, name,
                      p->type == LETHE_PARAM_DOUBLE ? "a number"
                      : p->type == LETHE_PARAM_INT  ? "an integer"
                                                    : "true or false",
                      setting_type_name(type));
  }
  return assign(d, params, p, v, origin, err);
}

int method_params_from_config(const lethe_method_desc *d, void *params,
                              const config_setting_t *group, lethe_err *err) {
  if (!group) return 0;
  if (!config_setting_is_group(group)) {
    char origin[512];
    setting_origin(group, origin, sizeof origin);
    return lethe_errf(err, LETHE_E_CONFIG, "%s: method params must be a group { ... }, got %s",
                      origin, setting_type_name(config_setting_type(group)));
  }
  int n = config_setting_length(group);
  for (int k = 0; k < n; k++)
    if (read_setting(d, params, config_setting_get_elem(group, (unsigned)k), err)) return -1;
  return 0;
}

/* ---- from text ----------------------------------------------------------------- */
static int parse_text(const lethe_param *p, const char *text, double *out) {
  while (isspace((unsigned char)*text)) text++;
  size_t len = strlen(text);
  while (len && isspace((unsigned char)text[len - 1])) len--;
  char buf[128];
  if (!len || len >= sizeof buf) return -1;
  memcpy(buf, text, len);
  buf[len] = '\0';
  if (p->type == LETHE_PARAM_BOOL) {
    if (!strcasecmp(buf, "true") || !strcmp(buf, "1")) *out = 1.0;
    else if (!strcasecmp(buf, "false") || !strcmp(buf, "0")) *out = 0.0;
    else return -1;
    return 0;
  }
  char *end;
  errno = 0;
  if (p->type == LETHE_PARAM_INT) {
    long long v = strtoll(buf, &end, 10);
    if (*end || errno || v < INT32_MIN || v > INT32_MAX) return -1;
    *out = (double)v;
    return 0;
  }
  double v = strtod(buf, &end);
  if (*end || errno || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

int method_params_set(const lethe_method_desc *d, void *params, const char *name,
                      const char *text, const char *origin, lethe_err *err) {
  int i = find_param(d, name);
  if (i < 0) return unknown_param(d, origin, name, err);
  const lethe_param *p = &d->params[i];
  double v;
  if (parse_text(p, text, &v))
    return lethe_errf(err, LETHE_E_CONFIG, "%s: method '%s' parameter '%s' expects %s, got '%s'",
                      origin, d->name, p->name,
                      p->type == LETHE_PARAM_DOUBLE ? "a finite number"
                      : p->type == LETHE_PARAM_INT  ? "an integer"
                                                    : "true or false",
                      text);
  return assign(d, params, p, v, origin, err);
}

int method_params_override(const lethe_method_desc *d, void *params, const char *assignment,
                           lethe_err *err) {
  char origin[320];
  snprintf(origin, sizeof origin, "override '%s'", assignment);
  const char *eq = strchr(assignment, '=');
  if (strncmp(assignment, "method.", 7) || !eq)
    return lethe_errf(err, LETHE_E_USAGE, "%s: expected method.KEY=VALUE", origin);
  const char *key = assignment + 7;
  if (!strncmp(key, "params.", 7)) key += 7;
  char name[128];
  size_t len = (size_t)(eq - key);
  while (len && isspace((unsigned char)key[len - 1])) len--;
  if (!len || len >= sizeof name)
    return lethe_errf(err, LETHE_E_USAGE, "%s: expected method.KEY=VALUE", origin);
  memcpy(name, key, len);
  name[len] = '\0';
  return method_params_set(d, params, name, eq + 1, origin, err);
}

/* ---- printing -------------------------------------------------------------------- */
/* A double as libconfig reads it back as a float: shortest exact digits, with
 * a '.' or exponent. */
static void format_double(double v, char *buf, size_t n) {
  snprintf(buf, n, "%.15g", v);
  if (strtod(buf, NULL) != v) snprintf(buf, n, "%.17g", v);
  if (!strpbrk(buf, ".eEn")) strncat(buf, ".0", n - strlen(buf) - 1);
}

static void format_value(const lethe_param *p, double v, char *buf, size_t n) {
  if (p->type == LETHE_PARAM_DOUBLE) format_double(v, buf, n);
  else if (p->type == LETHE_PARAM_INT) snprintf(buf, n, "%d", (int)v);
  else snprintf(buf, n, "%s", v != 0.0 ? "true" : "false");
}

void method_params_write(FILE *out, const lethe_method_desc *d, const void *params) {
  fprintf(out, "params = {");
  for (uint32_t i = 0; i < d->n_params; i++) {
    char value[64];
    format_value(&d->params[i], method_param_value(d, params, i), value, sizeof value);
    fprintf(out, " %s = %s;", d->params[i].name, value);
  }
  fprintf(out, " };");
}

void method_describe(FILE *out, const method_plugin *p) {
  const lethe_method_desc *d = p->desc;
  char caps[160];
  fprintf(out, "%s %s — %s\n", d->name, d->version, d->summary);
  fprintf(out, "  file:  %s\n", p->path);
  const char *title = method_desc_title(d), *colour = method_desc_colour(d);
  fprintf(out, "  title: %s\n", title ? title : "(not set; reports show the name)");
  fprintf(out, "  colour: %s\n", colour ? colour : "(not set; reports pick one)");
  fprintf(out, "  needs: %s\n", method_caps_string(d->caps, caps, sizeof caps));
  void *defaults = method_params_new(d);
  lethe_method_needs needs;
  if (method_needs_resolve(d, defaults, &needs, NULL) == 0 && needs.caps != d->caps)
    fprintf(out, "         (with the defaults: %s)\n", method_caps_string(needs.caps, caps, sizeof caps));
  if (needs.caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN))
    fprintf(out, "  hidden states after layer %d (with the defaults)\n", needs.hidden_layer);
  if (!d->n_params) {
    fprintf(out, "  parameters: none\n");
  } else {
    int w = 4;
    for (uint32_t i = 0; i < d->n_params; i++)
      if ((int)strlen(d->params[i].name) > w) w = (int)strlen(d->params[i].name);
    fprintf(out, "  parameters:\n    %-*s  %-6s  %-9s  %-16s  %s\n", w, "name", "type", "default",
            "range", "description");
    for (uint32_t i = 0; i < d->n_params; i++) {
      const lethe_param *q = &d->params[i];
      char def[64], range[96];
      format_value(q, q->def, def, sizeof def);
      range_text(q, range, sizeof range);
      fprintf(out, "    %-*s  %-6s  %-9s  %-16s  %s\n", w, q->name, type_name(q->type), def, range,
              q->doc);
    }
  }
  fprintf(out, "  config:\n    method = { name = \"%s\"; ", d->name);
  method_params_write(out, d, defaults);
  fprintf(out, " };\n");
  free(defaults);
}
