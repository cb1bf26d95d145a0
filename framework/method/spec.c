/* spec — resolves "which method, with which parameters" from a libconfig
 * `method` group or a bare name, plus "-s method.*" overrides: builds the
 * search path, loads the plugin and fills its parameter struct.
 * Not here: descriptor validation (loader.c) and value parsing (params.c).
 */
#include <stdlib.h>
#include <string.h>

#include "method/method_host.h"

/* What selects the plugin; strings borrowed from the config or the overrides. */
typedef struct selection {
  char name[128];
  char plugin[1024];
  char plugin_path[2048];
} selection;

static const char *const method_keys[] = {"name", "plugin", "plugin_path", "params"};
#define N_METHOD_KEYS (sizeof method_keys / sizeof method_keys[0])

static int copy_value(char *dst, size_t n, const char *value, const char *origin, const char *key,
                      lethe_err *err) {
  if (strlen(value) >= n)
    return lethe_errf(err, LETHE_E_CONFIG, "%s: method.%s is too long (at most %zu characters)",
                      origin, key, n - 1);
  memcpy(dst, value, strlen(value) + 1);
  return 0;
}

static char *slot(selection *sel, const char *key, size_t *n) {
  if (!strcmp(key, "name")) return *n = sizeof sel->name, sel->name;
  if (!strcmp(key, "plugin")) return *n = sizeof sel->plugin, sel->plugin;
  if (!strcmp(key, "plugin_path")) return *n = sizeof sel->plugin_path, sel->plugin_path;
  return NULL;
}

/* Reads name/plugin/plugin_path from the group and refuses unknown keys. */
static int read_group(selection *sel, const config_setting_t *group, lethe_err *err) {
  if (!group) return 0;
  const char *file = config_setting_source_file(group);
  if (!config_setting_is_group(group))
    return lethe_errf(err, LETHE_E_CONFIG, "%s:%u: method must be a group { ... }",
                      file ? file : "<config>", config_setting_source_line(group));
  int n = config_setting_length(group);
  for (int i = 0; i < n; i++) {
    const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
    const char *key = config_setting_name(s);
    char origin[512];
    file = config_setting_source_file(s);
    snprintf(origin, sizeof origin, "%s:%u", file ? file : "<config>",
             config_setting_source_line(s));
    size_t k = 0;
    while (k < N_METHOD_KEYS && strcmp(key, method_keys[k])) k++;
    if (k == N_METHOD_KEYS)
      return lethe_errf(err, LETHE_E_CONFIG,
                        "%s: unknown setting method.%s (known: name, plugin, plugin_path, params)",
                        origin, key);
    size_t cap;
    char *dst = slot(sel, key, &cap);
    if (!dst) continue; /* params: read once the plugin is known */
    const char *value = config_setting_get_string(s);
    if (!value)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: method.%s must be a string", origin, key);
    if (copy_value(dst, cap, value, origin, key, err)) return -1;
  }
  return 0;
}

/* Applies method.name / method.plugin / method.plugin_path overrides. */
static int read_selection_overrides(selection *sel, const char *const *ov, int n, lethe_err *err) {
  for (int i = 0; i < n; i++) {
    if (strncmp(ov[i], "method.", 7)) continue;
    const char *key = ov[i] + 7, *eq = strchr(key, '=');
    if (!eq)
      return lethe_errf(err, LETHE_E_USAGE, "override '%s': expected method.KEY=VALUE", ov[i]);
    char k[32];
    size_t len = (size_t)(eq - key);
    if (len >= sizeof k) continue;
    memcpy(k, key, len);
    k[len] = '\0';
    size_t cap;
    char *dst = slot(sel, k, &cap);
    char origin[320];
    snprintf(origin, sizeof origin, "override '%s'", ov[i]);
    if (dst && copy_value(dst, cap, eq + 1, origin, k, err)) return -1;
  }
  return 0;
}

static int is_selection_override(const char *ov) {
  static const char *const keys[] = {"method.name=", "method.plugin=", "method.plugin_path="};
  for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
    if (!strncmp(ov, keys[i], strlen(keys[i]))) return 1;
  return 0;
}

static int load_selected(method_spec *ms, const selection *sel, lethe_err *err) {
  if (sel->plugin[0]) {
    if (method_plugin_open(&ms->plugin, sel->plugin, err)) return -1;
    if (sel->name[0] && strcmp(sel->name, ms->plugin.desc->name)) {
      lethe_errf(err, LETHE_E_CONFIG,
                 "method.plugin %s provides method '%s', but method.name is '%s'", sel->plugin,
                 ms->plugin.desc->name, sel->name);
      method_plugin_close(&ms->plugin);
      return -1;
    }
    return 0;
  }
  if (!sel->name[0])
    return lethe_errf(err, LETHE_E_CONFIG, "no method given: set method.name (or method.plugin)");
  method_search s;
  method_search_init(&s);
  method_search_add(&s, sel->plugin_path);
  method_search_add_defaults(&s);
  int rc = method_plugin_find(&ms->plugin, &s, sel->name, err);
  method_search_free(&s);
  return rc;
}

static int resolve(method_spec *ms, const config_setting_t *group, const selection *given,
                   const char *const *ov, int n_ov, lethe_err *err) {
  memset(ms, 0, sizeof *ms);
  selection sel = *given;
  if (read_group(&sel, group, err) || read_selection_overrides(&sel, ov, n_ov, err)) return -1;
  if (load_selected(ms, &sel, err)) return -1;
  const lethe_method_desc *d = ms->plugin.desc;
  ms->params = method_params_new(d);
  const config_setting_t *pg = group ? config_setting_get_member(group, "params") : NULL;
  int rc = method_params_from_config(d, ms->params, pg, err);
  for (int i = 0; !rc && i < n_ov; i++)
    if (!strncmp(ov[i], "method.", 7) && !is_selection_override(ov[i]))
      rc = method_params_override(d, ms->params, ov[i], err);
  if (!rc) rc = method_needs_resolve(d, ms->params, &ms->needs, err);
  if (rc) method_spec_free(ms);
  return rc;
}

int method_spec_from_config(method_spec *ms, const config_setting_t *method_group,
                            const char *const *overrides, int n_overrides, lethe_err *err) {
  selection sel = {{0}, {0}, {0}};
  return resolve(ms, method_group, &sel, overrides, n_overrides, err);
}

int method_spec_from_name(method_spec *ms, const char *name, const char *plugin_dirs,
                          const char *const *overrides, int n_overrides, lethe_err *err) {
  selection sel = {{0}, {0}, {0}};
  if (copy_value(sel.name, sizeof sel.name, name, "--method", "name", err) ||
      (plugin_dirs &&
       copy_value(sel.plugin_path, sizeof sel.plugin_path, plugin_dirs, "--plugin-path",
                  "plugin_path", err))) {
    memset(ms, 0, sizeof *ms);
    return -1;
  }
  return resolve(ms, NULL, &sel, overrides, n_overrides, err);
}

void method_spec_free(method_spec *ms) {
  method_plugin_close(&ms->plugin);
  free(ms->params);
  ms->params = NULL;
}
