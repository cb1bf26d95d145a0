/* loader — finds method plugins on the search path, loads them and validates
 * every descriptor field before any plugin callback runs (see method_host.h).
 * Not here: parameter filling (params.c) and running instances (instance.c).
 */
#include <dirent.h>
#include <dlfcn.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "method/method_host.h"

#if defined(__SANITIZE_ADDRESS__)
#define METHOD_KEEP_LOADED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define METHOD_KEEP_LOADED 1
#endif
#endif

#define METHOD_MAX_PARAMS 64
#define METHOD_MAX_NAME 63
#define METHOD_MAX_TITLE 31

/* ---- search path ------------------------------------------------------------ */
void method_search_init(method_search *s) {
  s->dirs = NULL;
  s->n_dirs = 0;
}

static void search_add_one(method_search *s, const char *dir, size_t len) {
  char *raw = lethe_malloc(len + 1);
  memcpy(raw, dir, len);
  raw[len] = '\0';
  char canon[PATH_MAX];
  char *entry = realpath(raw, canon) ? lethe_strdup(canon) : lethe_strdup(raw);
  free(raw);
  for (int i = 0; i < s->n_dirs; i++)
    if (!strcmp(s->dirs[i], entry)) {
      free(entry);
      return;
    }
  s->dirs = lethe_realloc(s->dirs, (size_t)(s->n_dirs + 1) * sizeof *s->dirs);
  s->dirs[s->n_dirs++] = entry;
}

void method_search_add(method_search *s, const char *dir_list) {
  if (!dir_list) return;
  const char *p = dir_list;
  while (*p) {
    const char *colon = strchr(p, ':');
    size_t len = colon ? (size_t)(colon - p) : strlen(p);
    if (len) search_add_one(s, p, len);
    p += len + (colon ? 1 : 0);
  }
}

/* The plugins that came with the running program, found from where its
 * executable is. The build writes a file LETHE_BUILD_TREE_FILE beside its
 * executables holding the build's plugin directory; install never copies
 * it. So a build-tree program searches the build's plugins and any other is
 * taken as installed and searches LETHE_PLUGIN_DIR_FROM_BINDIR relative to
 * its own directory, never a build tree, wherever the prefix was moved. */
static void search_add_own(method_search *s) {
  char *dir = lethe_exe_path();
  if (!dir) return; /* no /proc: only the directories the user gave */
  *strrchr(dir, '/') = '\0';
  char *marker = lethe_path_join(dir, LETHE_BUILD_TREE_FILE), *own;
  if (lethe_read_file(marker, PATH_MAX, &own, NULL, NULL) == 0)
    own[strcspn(own, "\n")] = '\0'; /* a program of the build tree */
  else
    own = lethe_path_join(dir, LETHE_PLUGIN_DIR_FROM_BINDIR); /* an installed one */
  search_add_one(s, own, strlen(own));
  free(own);
  free(marker);
  free(dir);
}

void method_search_add_defaults(method_search *s) {
  method_search_add(s, getenv(METHOD_PATH_ENV));
  search_add_own(s);
}

void method_search_free(method_search *s) {
  for (int i = 0; i < s->n_dirs; i++) free(s->dirs[i]);
  free(s->dirs);
  method_search_init(s);
}

/* ---- descriptor validation ----------------------------------------------------- */
static const char *const cap_names[] = {"retain", "idk", "reference log-probs", "logits",
                                        "reference logits", "example ids", "parameters",
                                        "hidden states", "reference hidden states",
                                        "forget and retain gradients"};

const char *method_caps_string(uint32_t caps, char *buf, size_t n) {
  size_t used = 0;
  buf[0] = '\0';
  for (unsigned bit = 0; bit < 32; bit++) {
    if (!(caps & (1u << bit))) continue;
    char unknown[24];
    const char *label = bit < sizeof cap_names / sizeof cap_names[0] ? cap_names[bit] : unknown;
    if (label == unknown) snprintf(unknown, sizeof unknown, "bit %u", bit);
    int w = snprintf(buf + used, used < n ? n - used : 0, "%s%s", used ? ", " : "", label);
    if (w > 0) used += (size_t)w;
  }
  if (!used) snprintf(buf, n, "none");
  return buf;
}

static int is_identifier(const char *s) {
  if (!s || !(*s >= 'a' && *s <= 'z')) return 0;
  size_t len = 0;
  for (; s[len]; len++)
    if (!((s[len] >= 'a' && s[len] <= 'z') || (s[len] >= '0' && s[len] <= '9') || s[len] == '_'))
      return 0;
  return len <= METHOD_MAX_NAME;
}

static size_t param_width(lethe_param_type t) {
  switch (t) {
  case LETHE_PARAM_DOUBLE: return sizeof(double);
  case LETHE_PARAM_INT:
  case LETHE_PARAM_BOOL: return sizeof(int32_t);
  }
  return 0;
}

int method_param_in_range(const lethe_param *p, double v) {
  if (!isfinite(v)) return 0;
  if (p->type == LETHE_PARAM_BOOL) return v == 0.0 || v == 1.0;
  int lo = (p->flags & LETHE_PARAM_MIN_EXCLUSIVE) ? v > p->min : v >= p->min;
  int hi = (p->flags & LETHE_PARAM_MAX_EXCLUSIVE) ? v < p->max : v <= p->max;
  return lo && hi;
}

static int check_param(const lethe_method_desc *d, uint32_t i, const char *path, lethe_err *err) {
  const lethe_param *p = &d->params[i];
  char who[1024]; /* "plugin PATH (method 'NAME'): parameter" */
  snprintf(who, sizeof who, "plugin %s (method '%s'): parameter", path, d->name);
  if (!is_identifier(p->name))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "%s %u has an invalid name (expected [a-z][a-z0-9_]*, at most %d characters)",
                      who, i, METHOD_MAX_NAME);
  for (uint32_t j = 0; j < i; j++)
    if (!strcmp(d->params[j].name, p->name))
      return lethe_errf(err, LETHE_E_PLUGIN, "%s '%s' is declared twice", who, p->name);
  size_t width = param_width(p->type);
  if (!width)
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "%s '%s' has unknown type %d (this host knows 1 = double, 2 = int, 3 = bool)",
                      who, p->name, (int)p->type);
  if (p->offset % width || p->offset > d->params_size || d->params_size - p->offset < width)
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "%s '%s' at offset %zu does not fit (aligned, %zu bytes) in params_size %zu",
                      who, p->name, p->offset, width, d->params_size);
  if (!p->doc || !*p->doc)
    return lethe_errf(err, LETHE_E_PLUGIN, "%s '%s' has no doc string", who, p->name);
  if (p->type != LETHE_PARAM_BOOL && (isnan(p->min) || isnan(p->max) || p->min > p->max))
    return lethe_errf(err, LETHE_E_PLUGIN, "%s '%s' has an empty range [%g, %g]", who, p->name,
                      p->min, p->max);
  int integral = p->type == LETHE_PARAM_DOUBLE ||
                 (p->def == floor(p->def) && fabs(p->def) <= (double)INT32_MAX);
  if (!integral || !method_param_in_range(p, p->def))
    return lethe_errf(err, LETHE_E_PLUGIN, "%s '%s' has default %g outside its own range", who,
                      p->name, p->def);
  return 0;
}

/* Whether the plugin's descriptor is long enough to hold `field`. */
#define DESC_HAS(d, field) \
  ((d)->struct_size >= offsetof(lethe_method_desc, field) + sizeof(d)->field)

const char *method_desc_title(const lethe_method_desc *d) {
  return DESC_HAS(d, title) ? d->title : NULL;
}

const char *method_desc_colour(const lethe_method_desc *d) {
  return DESC_HAS(d, colour) ? d->colour : NULL;
}

int method_needs_resolve(const lethe_method_desc *d, const void *params, lethe_method_needs *needs,
                         lethe_err *err) {
  *needs = (lethe_method_needs){sizeof *needs, d->caps, -1, ""};
  if (!DESC_HAS(d, resolve) || !d->resolve) return 0;
  lethe_method_error perr = {0, ""};
  if (d->resolve(params, needs, &perr))
    return lethe_errf(err, LETHE_E_CONFIG, "method '%s': %s", d->name,
                      perr.msg[0] ? perr.msg : "resolve() failed, no message");
  needs->struct_size = sizeof *needs;
  if (!memchr(needs->trainable, '\0', sizeof needs->trainable))
    return lethe_errf(err, LETHE_E_PLUGIN, "method '%s': resolve() wrote an unterminated "
                      "trainable pattern", d->name);
  if (needs->caps & ~d->caps) {
    char extra[160];
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "method '%s': resolve() asks for %s, which its descriptor does not declare "
                      "(caps 0x%x)", d->name,
                      method_caps_string(needs->caps & ~d->caps, extra, sizeof extra), d->caps);
  }
  if ((needs->caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) && needs->hidden_layer < 0)
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "method '%s': resolve() asks for hidden states but names no layer "
                      "(hidden_layer %d)", d->name, needs->hidden_layer);
  return 0;
}

/* The optional title and colour (ABI 1.1), when the descriptor has them. */
static int check_style(const lethe_method_desc *d, const char *path, lethe_err *err) {
  const char *title = method_desc_title(d), *colour = method_desc_colour(d);
  if (title) {
    size_t len = strlen(title);
    int printable = len > 0 && len <= METHOD_MAX_TITLE;
    for (size_t i = 0; printable && i < len; i++)
      printable = (unsigned char)title[i] >= 0x20 && title[i] != 0x7f;
    if (!printable)
      return lethe_errf(err, LETHE_E_PLUGIN,
                        "plugin %s (method '%s'): title \"%.40s\" is not 1 to %d printable "
                        "bytes", path, d->name, title, METHOD_MAX_TITLE);
  }
  if (colour && !lethe_is_colour(colour))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s (method '%s'): colour \"%.16s\" is not a \"#rrggbb\" colour",
                      path, d->name, colour);
  return 0;
}

static int check_desc(const lethe_method_desc *d, const char *path, lethe_err *err) {
  if (!d)
    return lethe_errf(err, LETHE_E_PLUGIN, "plugin %s: %s() returned NULL (expected a descriptor)",
                      path, LETHE_METHOD_ENTRY_SYMBOL);
  if (d->abi_major != LETHE_METHOD_ABI_MAJOR)
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s: built for method ABI %u, this host expects ABI %u (rebuild it "
                      "against this lethe's lethe/method.h)", path, d->abi_major,
                      LETHE_METHOD_ABI_MAJOR);
  size_t min_size = offsetof(lethe_method_desc, destroy) + sizeof d->destroy;
  if (d->struct_size < min_size)
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s: descriptor struct_size %u is smaller than ABI %u's %zu bytes",
                      path, d->struct_size, LETHE_METHOD_ABI_MAJOR, min_size);
  if (!is_identifier(d->name))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s: invalid method name (expected [a-z][a-z0-9_]*, at most %d "
                      "characters)", path, METHOD_MAX_NAME);
  if (!d->version || !*d->version || !d->summary || !*d->summary)
    return lethe_errf(err, LETHE_E_PLUGIN, "plugin %s (method '%s'): empty %s", path, d->name,
                      !d->version || !*d->version ? "version" : "summary");
  if (d->caps & ~LETHE_CAP_ALL_V1) {
    char known[256];
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s (method '%s'): unknown capability bits 0x%x; this host knows "
                      "0x%x (%s)", path, d->name, d->caps & ~LETHE_CAP_ALL_V1, LETHE_CAP_ALL_V1,
                      method_caps_string(LETHE_CAP_ALL_V1, known, sizeof known));
  }
  int host_params = DESC_HAS(d, resolve); /* 1.2: create and destroy may be NULL */
  const char *missing = !d->create && !host_params ? "create" : !d->loss_and_grad ? "loss_and_grad"
                        : !d->destroy && !host_params ? "destroy" : NULL;
  if (missing)
    return lethe_errf(err, LETHE_E_PLUGIN, "plugin %s (method '%s'): callback '%s' is NULL",
                      path, d->name, missing);
  if (d->n_params > METHOD_MAX_PARAMS || (d->n_params && (!d->params || !d->params_size)))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s (method '%s'): bad parameter table (n_params %u, at most %d; "
                      "params and params_size must be set when n_params > 0)", path, d->name,
                      d->n_params, METHOD_MAX_PARAMS);
  for (uint32_t i = 0; i < d->n_params; i++)
    if (check_param(d, i, path, err)) return -1;
  if ((d->caps & (LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN)) && !(DESC_HAS(d, resolve) && d->resolve))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s (method '%s'): asks for hidden states but has no resolve() "
                      "to name the layer", path, d->name);
  if ((d->caps & LETHE_CAP_PART_GRADS) && !(DESC_HAS(d, combine) && d->combine))
    return lethe_errf(err, LETHE_E_PLUGIN,
                      "plugin %s (method '%s'): asks for the forget and retain gradients but has "
                      "no combine() to use them", path, d->name);
  return check_style(d, path, err);
}

/* ---- loading ----------------------------------------------------------------- */
static void unload(void *handle) {
#ifdef METHOD_KEEP_LOADED
  (void)handle; /* keep symbols for the sanitizer's reports */
#else
  if (handle) dlclose(handle);
#endif
}

int method_plugin_open(method_plugin *p, const char *path, lethe_err *err) {
  memset(p, 0, sizeof *p);
  dlerror();
  void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    const char *why = dlerror();
    return lethe_errf(err, LETHE_E_PLUGIN, "cannot load plugin %s: %s", path,
                      why ? why : "unknown dlopen error");
  }
  dlerror();
  void *sym = dlsym(h, LETHE_METHOD_ENTRY_SYMBOL);
  const char *why = dlerror();
  if (why || !sym) {
    lethe_errf(err, LETHE_E_PLUGIN,
               "plugin %s has no symbol '%s' (%s); a method plugin must define "
               "LETHE_METHOD_EXPORT const lethe_method_desc *%s(void) (see lethe/method.h)",
               path, LETHE_METHOD_ENTRY_SYMBOL, why ? why : "NULL address",
               LETHE_METHOD_ENTRY_SYMBOL);
    unload(h);
    return -1;
  }
  const lethe_method_desc *(*entry)(void);
  memcpy(&entry, &sym, sizeof entry); /* object → function pointer, as POSIX allows */
  const lethe_method_desc *d = entry();
  if (check_desc(d, path, err)) {
    unload(h);
    return -1;
  }
  p->path = lethe_strdup(path);
  p->handle = h;
  p->desc = d;
  return 0;
}

int method_plugin_find(method_plugin *p, const method_search *s, const char *name,
                       lethe_err *err) {
  if (!is_identifier(name))
    return lethe_errf(err, LETHE_E_CONFIG,
                      "'%s' is not a valid method name (expected [a-z][a-z0-9_]*)", name);
  char file[METHOD_MAX_NAME + 16];
  snprintf(file, sizeof file, "%s%s%s", METHOD_FILE_PREFIX, name, METHOD_FILE_SUFFIX);
  for (int i = 0; i < s->n_dirs; i++) {
    char *path = lethe_path_join(s->dirs[i], file);
    if (!lethe_file_exists(path)) {
      free(path);
      continue;
    }
    int rc = method_plugin_open(p, path, err);
    free(path);
    if (rc) return -1;
    if (strcmp(p->desc->name, name)) {
      lethe_errf(err, LETHE_E_PLUGIN, "plugin %s declares method '%s', expected '%s'", p->path,
                 p->desc->name, name);
      method_plugin_close(p);
      return -1;
    }
    return 0;
  }
  char dirs[768];
  size_t used = 0;
  dirs[0] = '\0';
  for (int i = 0; i < s->n_dirs && used < sizeof dirs; i++) {
    int w = snprintf(dirs + used, sizeof dirs - used, "%s%s", i ? ":" : "", s->dirs[i]);
    if (w > 0) used += (size_t)w;
  }
  return lethe_errf(err, LETHE_E_PLUGIN,
                    "no plugin for method '%s': %s not found in the plugin path [%s] (add a "
                    "directory with %s or method.plugin_path; `lethe methods` lists what is "
                    "found)", name, file, s->n_dirs ? dirs : "empty", METHOD_PATH_ENV);
}

void method_plugin_close(method_plugin *p) {
  if (!p) return;
  unload(p->handle);
  free(p->path);
  memset(p, 0, sizeof *p);
}

/* ---- sets -------------------------------------------------------------------- */
void method_set_init(method_set *set) { memset(set, 0, sizeof *set); }

int method_set_add(method_set *set, const char *path, lethe_err *err) {
  method_plugin p;
  if (method_plugin_open(&p, path, err)) return -1;
  for (int i = 0; i < set->n; i++)
    if (!strcmp(set->items[i].desc->name, p.desc->name)) {
      lethe_errf(err, LETHE_E_PLUGIN,
                 "plugin %s: duplicate method name '%s' (already provided by %s); refused", path,
                 p.desc->name, set->items[i].path);
      method_plugin_close(&p);
      return -1;
    }
  if (set->n == set->cap) {
    set->cap = set->cap ? 2 * set->cap : 16;
    set->items = lethe_realloc(set->items, (size_t)set->cap * sizeof *set->items);
  }
  set->items[set->n++] = p;
  return 0;
}

static int is_plugin_file(const char *name) {
  size_t n = strlen(name), np = strlen(METHOD_FILE_PREFIX), ns = strlen(METHOD_FILE_SUFFIX);
  return n > np + ns && !strncmp(name, METHOD_FILE_PREFIX, np) &&
         !strcmp(name + n - ns, METHOD_FILE_SUFFIX);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int method_set_scan(method_set *set, const method_search *s,
                    void (*refused)(void *ctx, const char *path, const lethe_err *why),
                    void *ctx) {
  int n_refused = 0;
  for (int i = 0; i < s->n_dirs; i++) {
    DIR *dir = opendir(s->dirs[i]);
    if (!dir) continue; /* a default directory that does not exist here */
    char **names = NULL;
    int n = 0;
    for (struct dirent *e; (e = readdir(dir));) {
      if (!is_plugin_file(e->d_name)) continue;
      names = lethe_realloc(names, (size_t)(n + 1) * sizeof *names);
      names[n++] = lethe_strdup(e->d_name);
    }
    closedir(dir);
    if (n) qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int k = 0; k < n; k++) {
      char *path = lethe_path_join(s->dirs[i], names[k]);
      lethe_err why = {0};
      if (method_set_add(set, path, &why)) {
        n_refused++;
        if (refused) refused(ctx, path, &why);
      }
      free(path);
      free(names[k]);
    }
    free(names);
  }
  return n_refused;
}

void method_set_free(method_set *set) {
  for (int i = 0; i < set->n; i++) method_plugin_close(&set->items[i]);
  free(set->items);
  method_set_init(set);
}
