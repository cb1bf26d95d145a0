/* suite — expansion of a suite file into runs, parallel execution as
 * `lethe` child processes, status (see suite.h). */
#include "suite/suite.h"

#include "core/dist.h"
#include "method/method_host.h"
#include "pipeline/experiment.h"
#include "suite/suite_watch.h"
#include "unlearn/unlearn.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <libconfig.h>
#include <libgen.h>
#include <sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define SUITE_MAX_RUNS 100000

typedef struct strvec {
  char **v;
  int *line; /* suite-file line of each entry */
  int n, cap;
} strvec;

static void sv_push_line(strvec *s, char *str, int line) {
  if (s->n == s->cap) {
    s->cap = s->cap ? 2 * s->cap : 8;
    s->v = lethe_realloc(s->v, sizeof(char *) * (size_t)s->cap);
    s->line = lethe_realloc(s->line, sizeof(int) * (size_t)s->cap);
  }
  s->line[s->n] = line;
  s->v[s->n++] = str;
}

static void where(const config_setting_t *s, char *buf, size_t n) {
  const char *f = config_setting_source_file(s);
  snprintf(buf, n, "%s:%d", f ? f : "?", config_setting_source_line(s));
}

/* Text of a scalar value as an override accepts it (strings bare). */
static int value_text(const config_setting_t *v, char *buf, size_t n) {
  switch (config_setting_type(v)) {
  case CONFIG_TYPE_INT:
  case CONFIG_TYPE_INT64: snprintf(buf, n, "%lld", (long long)config_setting_get_int64(v)); return 0;
  case CONFIG_TYPE_FLOAT: {
    snprintf(buf, n, "%.17g", config_setting_get_float(v));
    if (!strpbrk(buf, ".eEni")) strncat(buf, ".0", n - strlen(buf) - 1);
    return 0;
  }
  case CONFIG_TYPE_BOOL: snprintf(buf, n, "%s", config_setting_get_bool(v) ? "true" : "false"); return 0;
  case CONFIG_TYPE_STRING: snprintf(buf, n, "%s", config_setting_get_string(v)); return 0;
  default: return -1;
  }
}

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

/* Flattens a group of settings into "path=value" overrides. */
static int flatten(const config_setting_t *g, const char *prefix, strvec *out, lethe_err *err) {
  for (int i = 0; i < config_setting_length(g); i++) {
    config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    char path[512], text[600], w[600];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
    if (config_setting_is_group(s)) {
      if (flatten(s, path, out, err) != 0) return -1;
      continue;
    }
    if (value_text(s, text, sizeof text) != 0) {
      where(s, w, sizeof w);
      return lethe_errf(err, LETHE_E_CONFIG, "%s: '%s' must be a single value here", w, path);
    }
    size_t n = strlen(path) + strlen(text) + 2;
    char *o = lethe_malloc(n);
    snprintf(o, n, "%s=%s", path, text);
    sv_push_line(out, o, config_setting_source_line(s));
  }
  return 0;
}

/* Collects grid dimensions: every array/list leaf of the grid group. */
typedef struct dim {
  char *path;
  const config_setting_t *values;
} dim;

static int collect_dims(const config_setting_t *g, const char *prefix, dim **dims, int *n,
                        lethe_err *err) {
  for (int i = 0; i < config_setting_length(g); i++) {
    config_setting_t *s = config_setting_get_elem(g, (unsigned)i);
    char path[512], w[600];
    snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", config_setting_name(s));
    where(s, w, sizeof w);
    if (config_setting_is_group(s)) {
      if (collect_dims(s, path, dims, n, err) != 0) return -1;
      continue;
    }
    if (!config_setting_is_array(s) && !config_setting_is_list(s))
      return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s must be a list of values, e.g. [1, 2]", w, path);
    if (config_setting_length(s) == 0)
      return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s has no values", w, path);
    for (int k = 0; k < config_setting_length(s); k++) {
      char t[8];
      if (value_text(config_setting_get_elem(s, (unsigned)k), t, sizeof t) != 0 &&
          config_setting_type(config_setting_get_elem(s, (unsigned)k)) != CONFIG_TYPE_STRING)
        return lethe_errf(err, LETHE_E_CONFIG, "%s: grid.%s value %d must be a number, string or bool",
                          w, path, k + 1);
    }
    *dims = lethe_realloc(*dims, sizeof(dim) * (size_t)(*n + 1));
    (*dims)[*n].path = lethe_strdup(path);
    (*dims)[*n].values = s;
    (*n)++;
  }
  return 0;
}

/* Directory-safe copy of a value. */
static void safe_name(char *dst, size_t n, const char *src) {
  size_t k = 0;
  for (; *src && k + 1 < n; src++)
    dst[k++] = (strchr("/\\ \t\"'*?:;|<>", *src) || (unsigned char)*src < 32) ? '_' : *src;
  dst[k] = '\0';
}

static const char *leaf(const char *path) {
  const char *dot = strrchr(path, '.');
  return dot ? dot + 1 : path;
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

int suite_load(suite *s, const char *path, lethe_err *err) {
  memset(s, 0, sizeof *s);
  config_t cfg;
  config_init(&cfg);
  char *dir_copy = lethe_strdup(path), *dir = dirname(dir_copy);
  config_set_include_dir(&cfg, dir);
  dim *dims = NULL;
  int n_dims = 0, rc = -1;
  strvec common = {0};
  json_t *root = NULL, *jgrid = NULL, *jruns = NULL, *jgroups = NULL; /* freed at done */
  if (config_read_file(&cfg, path) != CONFIG_TRUE) {
    if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
      lethe_errf(err, LETHE_E_IO, "%s: cannot read the suite file", path);
    else
      lethe_errf(err, LETHE_E_CONFIG, "%s:%d: %s", config_error_file(&cfg) ? config_error_file(&cfg) : path,
                 config_error_line(&cfg), config_error_text(&cfg));
    goto done;
  }
  config_setting_t *rootset = config_root_setting(&cfg);
  static const char *const known[] = {"name", "base", "set", "grid", "groups", NULL};
  for (int i = 0; i < config_setting_length(rootset); i++) {
    config_setting_t *c = config_setting_get_elem(rootset, (unsigned)i);
    int ok = 0;
    for (int k = 0; known[k]; k++) ok |= !strcmp(known[k], config_setting_name(c));
    if (!ok) {
      char w[600];
      where(c, w, sizeof w);
      lethe_errf(err, LETHE_E_CONFIG, "%s: unknown suite setting '%s' (known: name, base, set, grid, groups)",
                 w, config_setting_name(c));
      goto done;
    }
  }
  s->path = lethe_strdup(path);
  const char *name = NULL, *base = NULL;
  if (config_lookup_string(&cfg, "name", &name) == CONFIG_TRUE) {
    s->name = lethe_strdup(name);
  } else {
    char *b = lethe_strdup(path), *bn = basename(b), *dot = strrchr(bn, '.');
    if (dot) *dot = '\0';
    s->name = lethe_strdup(bn);
    free(b);
  }
  if (config_lookup_string(&cfg, "base", &base) != CONFIG_TRUE) {
    lethe_errf(err, LETHE_E_CONFIG, "%s: the suite needs base = \"experiment.cfg\";", path);
    goto done;
  }
  s->base = base[0] == '/' ? lethe_strdup(base) : lethe_path_join(dir, base);
  { /* the base experiment's kind decides which command runs it */
    config_t b;
    config_init(&b);
    char *bd = lethe_strdup(s->base);
    config_set_include_dir(&b, dirname(bd));
    const char *kind = "tofu";
    int ok = config_read_file(&b, s->base) == CONFIG_TRUE;
    if (!ok) {
      config_setting_t *bs = config_lookup(&cfg, "base");
      char w[600];
      where(bs, w, sizeof w);
      lethe_errf(err, LETHE_E_CONFIG, "%s: base experiment %s: %s (line %d)", w, s->base,
                 config_error_type(&b) == CONFIG_ERR_FILE_IO ? "cannot be read" : config_error_text(&b),
                 config_error_line(&b));
      config_destroy(&b);
      free(bd);
      goto done;
    }
    config_lookup_string(&b, "kind", &kind);
    s->kind = lethe_strdup(kind);
    config_destroy(&b);
    free(bd);
  }
  config_setting_t *set = config_lookup(&cfg, "set"), *grid = config_lookup(&cfg, "grid");
  config_setting_t *groups = config_lookup(&cfg, "groups");
  if (set && (!config_setting_is_group(set) || flatten(set, "", &common, err) != 0)) {
    if (!config_setting_is_group(set)) lethe_errf(err, LETHE_E_CONFIG, "%s: set must be a group { ... }", path);
    goto done;
  }
  if (grid && (!config_setting_is_group(grid) || collect_dims(grid, "", &dims, &n_dims, err) != 0)) {
    if (!config_setting_is_group(grid)) lethe_errf(err, LETHE_E_CONFIG, "%s: grid must be a group { ... }", path);
    goto done;
  }
  int n_groups = groups ? config_setting_length(groups) : 0;
  if (groups && !config_setting_is_list(groups)) {
    lethe_errf(err, LETHE_E_CONFIG, "%s: groups must be a list ( { name = ...; set = { ... }; }, ... )", path);
    goto done;
  }
  for (int g = 0; g < n_groups; g++) {
    config_setting_t *gr = config_setting_get_elem(groups, (unsigned)g);
    const char *gname;
    char w[600];
    where(gr, w, sizeof w);
    if (!config_setting_is_group(gr) || config_setting_lookup_string(gr, "name", &gname) != CONFIG_TRUE ||
        !config_setting_get_member(gr, "set") || !config_setting_is_group(config_setting_get_member(gr, "set"))) {
      lethe_errf(err, LETHE_E_CONFIG, "%s: each group needs name = \"...\"; and set = { ... };", w);
      goto done;
    }
  }
  /* expand: grid (mixed radix, last dimension fastest) × groups */
  long total = 1; /* stops growing past the limit: 20 dimensions of 10 overflowed */
  for (int d = 0; d < n_dims && total <= SUITE_MAX_RUNS; d++)
    total *= config_setting_length(dims[d].values);
  int per_group = n_groups ? n_groups : 1;
  if (total > SUITE_MAX_RUNS || total * per_group > SUITE_MAX_RUNS) {
    lethe_errf(err, LETHE_E_CONFIG, "%s: more than %d runs (grid x groups) is too many", path,
               SUITE_MAX_RUNS);
    goto done;
  }
  s->n_runs = (int)(total * per_group);
  s->runs = lethe_calloc((size_t)s->n_runs, sizeof(suite_run));
  s->n_dims = n_dims;
  s->dims = lethe_calloc((size_t)n_dims + 1, sizeof(char *));
  root = json_object();
  jgrid = json_object(), jruns = json_array(), jgroups = json_array();
  for (int d = 0; d < n_dims; d++) {
    s->dims[d] = lethe_strdup(dims[d].path);
    json_t *vals = json_array();
    for (int k = 0; k < config_setting_length(dims[d].values); k++)
      json_array_append_new(vals, value_json(config_setting_get_elem(dims[d].values, (unsigned)k)));
    json_object_set_new(jgrid, dims[d].path, vals);
  }
  for (int g = 0; g < n_groups; g++) {
    const char *gname;
    config_setting_lookup_string(config_setting_get_elem(groups, (unsigned)g), "name", &gname);
    json_array_append_new(jgroups, json_string(gname));
  }
  int r = 0;
  for (long p = 0; p < total; p++)
    for (int g = 0; g < per_group; g++, r++) {
      strvec ov = {0};
      json_t *settings = json_object();
      for (int i = 0; i < common.n; i++) sv_push_line(&ov, lethe_strdup(common.v[i]), common.line[i]);
      char name[1024] = "";
      long rest = p;
      int *pick = lethe_calloc((size_t)n_dims + 1, sizeof(int));
      for (int d = n_dims - 1; d >= 0; d--) {
        int nv = config_setting_length(dims[d].values);
        pick[d] = (int)(rest % nv);
        rest /= nv;
      }
      for (int d = 0; d < n_dims; d++) {
        const config_setting_t *v = config_setting_get_elem(dims[d].values, (unsigned)pick[d]);
        char text[512], o[1100], safe[512];
        value_text(v, text, sizeof text);
        snprintf(o, sizeof o, "%s=%s", dims[d].path, text);
        sv_push_line(&ov, lethe_strdup(o), config_setting_source_line(v));
        json_object_set_new(settings, dims[d].path, value_json(v));
        int clash = 0; /* a leaf shared by two dimensions needs its full path */
        for (int e = 0; e < n_dims; e++) clash |= e != d && !strcmp(leaf(dims[e].path), leaf(dims[d].path));
        safe_name(safe, sizeof safe, text);
        size_t used = strlen(name);
        snprintf(name + used, sizeof name - used, "%s%s=%s", used ? "," : "",
                 clash ? dims[d].path : leaf(dims[d].path), safe);
      }
      free(pick);
      if (n_groups) {
        config_setting_t *gr = config_setting_get_elem(groups, (unsigned)g);
        const char *gname;
        config_setting_lookup_string(gr, "name", &gname);
        strvec gov = {0};
        if (flatten(config_setting_get_member(gr, "set"), "", &gov, err) != 0) {
          strvec *vs[2] = {&gov, &ov};
          for (int k = 0; k < 2; k++) {
            for (int i = 0; i < vs[k]->n; i++) free(vs[k]->v[i]);
            free(vs[k]->v);
            free(vs[k]->line);
          }
          json_decref(settings);
          goto done;
        }
        json_object_set_new(settings, "group", json_string(gname));
        for (int i = 0; i < gov.n; i++) {
          sv_push_line(&ov, gov.v[i], gov.line[i]);
          char key[512];
          const char *eq = strchr(gov.v[i], '=');
          snprintf(key, sizeof key, "%.*s", (int)(eq - gov.v[i]), gov.v[i]);
          json_object_set_new(settings, key, json_from_text(eq + 1));
        }
        free(gov.v);
        free(gov.line);
        char safe[256];
        safe_name(safe, sizeof safe, gname);
        size_t used = strlen(name);
        snprintf(name + used, sizeof name - used, "%s%s", used ? "," : "", safe);
      }
      if (!*name) snprintf(name, sizeof name, "run");
      s->runs[r].name = lethe_strdup(name);
      s->runs[r].overrides = ov.v;
      s->runs[r].override_line = ov.line;
      s->runs[r].n_overrides = ov.n;
      json_t *jr = json_object();
      char dirname_buf[1100];
      snprintf(dirname_buf, sizeof dirname_buf, "runs/%s", name);
      json_object_set_new(jr, "name", json_string(name));
      json_object_set_new(jr, "dir", json_string(dirname_buf));
      json_object_set_new(jr, "settings", settings);
      json_array_append_new(jruns, jr);
    }
  if (check_run_names(s, path, err) != 0) goto done;
  json_object_set_new(root, "name", json_string(s->name));
  json_object_set_new(root, "suite_file", json_string(path));
  json_object_set_new(root, "base", json_string(s->base));
  json_object_set_new(root, "kind", json_string(s->kind));
  json_object_set_new(root, "grid", jgrid);
  json_object_set_new(root, "groups", jgroups);
  json_object_set_new(root, "runs", jruns);
  jgrid = jgroups = jruns = NULL; /* owned by root now */
  s->json = json_dumps(root, JSON_INDENT(1) | JSON_ENSURE_ASCII);
  rc = 0;
done:
  json_decref(jgrid);
  json_decref(jgroups);
  json_decref(jruns);
  json_decref(root);
  for (int d = 0; d < n_dims; d++) free(dims[d].path);
  free(dims);
  for (int i = 0; i < common.n; i++) free(common.v[i]);
  free(common.v);
  free(common.line);
  config_destroy(&cfg);
  free(dir_copy);
  if (rc != 0) suite_free(s);
  return rc;
}

void suite_free(suite *s) {
  for (int r = 0; r < s->n_runs; r++) {
    for (int i = 0; s->runs && i < s->runs[r].n_overrides; i++) free(s->runs[r].overrides[i]);
    if (s->runs) {
      free(s->runs[r].overrides);
      free(s->runs[r].override_line);
      free(s->runs[r].name);
    }
  }
  free(s->runs);
  for (int d = 0; d < s->n_dims; d++) free(s->dims[d]);
  free(s->dims);
  free(s->path);
  free(s->name);
  free(s->base);
  free(s->kind);
  free(s->json);
  memset(s, 0, sizeof *s);
}

char *suite_default_out(const suite *s) {
  char *dir = lethe_path_join("results", s->name);
  return dir;
}

/* ---- execution ---------------------------------------------------------------- */
static char *run_path(const char *out_dir, const suite_run *r, const char *file) {
  char *runs = lethe_path_join(out_dir, "runs"), *dir = lethe_path_join(runs, r->name);
  char *p = file ? lethe_path_join(dir, file) : lethe_strdup(dir);
  free(runs);
  free(dir);
  return p;
}

static int run_has(const char *out_dir, const suite_run *r, const char *file) {
  char *p = run_path(out_dir, r, file);
  int e = lethe_file_exists(p);
  free(p);
  return e;
}

/* Spawns `lethe CMD args...` with stdout/stderr appended to log and, when
 * record is set, its progress record there; returns pid or -1. */
static pid_t spawn(const suite *s, const suite_run *r, const char *out_dir, const suite_options *opt,
                   const char *cmd, const char *stages, int threads, const char *record,
                   lethe_err *err) {
  char *dir = run_path(out_dir, r, NULL), *log = run_path(out_dir, r, "log.txt");
  const char **argv = lethe_calloc((size_t)(r->n_overrides + opt->n_extra) * 2 + 12, sizeof(char *));
  int a = 0;
  argv[a++] = opt->lethe;
  argv[a++] = cmd;
  argv[a++] = s->base;
  if (strcmp(cmd, "train")) {
    argv[a++] = "--out";
    argv[a++] = dir;
  }
  if (!strcmp(cmd, "unlearn")) argv[a++] = "--resume";
  if (stages) argv[a++] = "--stages", argv[a++] = stages;
  argv[a++] = "--quiet";
  for (int i = 0; i < r->n_overrides; i++) argv[a++] = "-s", argv[a++] = r->overrides[i];
  for (int i = 0; i < opt->n_extra; i++) argv[a++] = "-s", argv[a++] = opt->extra[i];
  argv[a] = NULL;
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  /* the child's environment: ours with its share of the threads, its
   * progress record, and without the MPI launcher's variables (a child is a
   * single-process lethe) */
  int n_env = 0;
  while (environ[n_env]) n_env++;
  char **env = lethe_calloc((size_t)n_env + 3, sizeof(char *));
  int e = 0;
  for (int i = 0; i < n_env; i++) {
    const char *v = environ[i];
    if (strncmp(v, "OMP_NUM_THREADS=", 16) && strncmp(v, "OMPI_", 5) && strncmp(v, "PMIX_", 5) &&
        strncmp(v, "PMI_", 4) && strncmp(v, PROGRESS_FILE_ENV "=", sizeof PROGRESS_FILE_ENV))
      env[e++] = environ[i];
  }
  char threads_var[64], *record_var = NULL;
  snprintf(threads_var, sizeof threads_var, "OMP_NUM_THREADS=%d", threads);
  env[e++] = threads_var;
  if (record) {
    size_t n = strlen(record) + sizeof PROGRESS_FILE_ENV + 1;
    record_var = lethe_malloc(n);
    snprintf(record_var, n, "%s=%s", PROGRESS_FILE_ENV, record);
    env[e++] = record_var;
  }
  pid_t pid;
  int rc = posix_spawn(&pid, opt->lethe, &fa, NULL, (char *const *)argv, env);
  posix_spawn_file_actions_destroy(&fa);
  free(record_var);
  free(env);
  free(argv);
  free(dir);
  free(log);
  if (rc != 0) {
    lethe_errf(err, LETHE_E_IO, "cannot start %s: %s", opt->lethe, strerror(rc));
    return -1;
  }
  return pid;
}

/* The cores this process may use: those it is bound to when a launcher (or
 * taskset) bound it, else the machine's divided among the ranks on it. */
static int cores(void) {
  long online = sysconf(_SC_NPROCESSORS_ONLN);
  if (online < 1) online = 1;
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) < online) return CPU_COUNT(&set);
  long n = online / dist_local_size();
  return n > 0 ? (int)n : 1;
}

static void one_line_summary(const char *out_dir, const suite_run *r, char *buf, size_t n) {
  char *p = run_path(out_dir, r, "summary.json");
  json_t *j = json_load_file(p, 0, NULL);
  json_t *fin = json_object_get(j, "final"), *best = json_object_get(j, "best");
  if (json_object_get(fin, "forget_quality"))
    snprintf(buf, n, "final FQ %.3g MU %.3f, best FQ %.3g (%.0f s)",
             json_number_value(json_object_get(fin, "forget_quality")),
             json_number_value(json_object_get(fin, "model_utility")),
             json_number_value(json_object_get(best, "forget_quality")),
             json_number_value(json_object_get(j, "seconds")));
  else if (json_object_get(fin, "forget_distance")) /* the synthetic experiment */
    snprintf(buf, n, "final forget distance %.3g, retain distance %.3g, forget KL %.3g",
             json_number_value(json_object_get(fin, "forget_distance")),
             json_number_value(json_object_get(fin, "retain_distance")),
             json_number_value(json_object_get(fin, "forget_kl")));
  else
    snprintf(buf, n, "done");
  json_decref(j);
  free(p);
}

/* 1 when override o does not change the stages: method.*, unlearn.*, and
 * (ignore_split) the forget split, which only picks the retain model. */
static int not_stage(const char *o, int ignore_split) {
  return !strncmp(o, "method.", 7) || !strncmp(o, "unlearn.", 8) ||
         (ignore_split && !strncmp(o, "data.forget_split=", 18));
}

/* 1 when two runs' overrides agree except for settings that are not_stage. */
static int same_settings(const suite_run *a, const suite_run *b, int ignore_split) {
  int na = 0, nb = 0;
  for (int i = 0; i < a->n_overrides; i++) na += !not_stage(a->overrides[i], ignore_split);
  for (int j = 0; j < b->n_overrides; j++) {
    const char *o = b->overrides[j];
    if (not_stage(o, ignore_split)) continue;
    nb++;
    int found = 0;
    for (int i = 0; i < a->n_overrides && !found; i++) found = !strcmp(a->overrides[i], o);
    if (!found) return 0;
  }
  return na == nb;
}

/* 1 when two runs need the same stages (base, target, retain model). */
static int same_stages(const suite_run *a, const suite_run *b) { return same_settings(a, b, 0); }
/* 1 when two runs share the base and target models (the forget split may differ). */
static int same_target(const suite_run *a, const suite_run *b) { return same_settings(a, b, 1); }

/* Runs `lethe cmd` for runs idx[0..n) with up to `jobs` processes at once
 * (slots of w, which shows their progress). cmd "train" prepares stages (no
 * markers); otherwise each finished run is marked DONE (by the run) or
 * FAILED (here) and reported. */
static int pool(const suite *s, const char *out_dir, const suite_options *opt, const int *idx,
                const char *const *stages, int n, const char *cmd, int jobs, int threads,
                suite_watch *w, int *n_done, int *failed, lethe_err *err) {
  int is_prepare = !strcmp(cmd, "train"), rc = 0, next = 0, running = 0;
  pid_t *pids = lethe_calloc((size_t)jobs, sizeof(pid_t));
  int *slot_run = lethe_calloc((size_t)jobs, sizeof(int));
  while (rc == 0 && (next < n || running > 0)) {
    for (int j = 0; j < jobs && next < n && rc == 0; j++) {
      if (pids[j] > 0) continue;
      const suite_run *r = &s->runs[idx[next]];
      const char *task = stages ? stages[next] : cmd;
      char *dir = run_path(out_dir, r, NULL), *failed_marker = run_path(out_dir, r, "FAILED");
      char record_name[64];
      snprintf(record_name, sizeof record_name, "progress.%s", task);
      lethe_mkdir_p(dir, NULL);
      if (!is_prepare) unlink(failed_marker);
      free(dir);
      free(failed_marker);
      const char *record = suite_watch_begin(w, j, run_path(out_dir, r, record_name));
      pid_t pid = spawn(s, r, out_dir, opt, cmd, stages ? task : NULL, threads, record, err);
      if (pid < 0) {
        rc = -1;
        break;
      }
      if (!is_prepare) {
        char *marker = run_path(out_dir, r, "RUNNING"), text[32];
        snprintf(text, sizeof text, "%ld\n", (long)pid);
        lethe_write_file_atomic(marker, text, strlen(text), NULL);
        free(marker);
      }
      pids[j] = pid;
      slot_run[j] = idx[next++];
      running++;
    }
    if (running == 0) break;
    int status;
    pid_t pid = suite_watch_wait(w, &status);
    if (pid < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (int j = 0; j < jobs; j++) {
      if (pids[j] != pid) continue;
      const suite_run *r = &s->runs[slot_run[j]];
      pids[j] = 0;
      running--;
      suite_watch_end(w, j);
      int exited_ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
      char line[256], report[2400];
      if (is_prepare) {
        if (!exited_ok) {
          (*failed)++;
          snprintf(report, sizeof report, "preparing the stages of run %s failed: see runs/%s/log.txt",
                   r->name, r->name);
          suite_watch_note(w, report);
        }
        continue;
      }
      char *marker = run_path(out_dir, r, "RUNNING");
      unlink(marker);
      free(marker);
      if (exited_ok && run_has(out_dir, r, "DONE")) {
        (*n_done)++;
        one_line_summary(out_dir, r, line, sizeof line);
      } else {
        (*failed)++;
        char *fm = run_path(out_dir, r, "FAILED");
        snprintf(line, sizeof line, "FAILED (exit %d; see runs/%s/log.txt)",
                 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), r->name);
        lethe_write_file_atomic(fm, line, strlen(line), NULL);
        free(fm);
      }
      char rank_tag[32] = ""; /* under MPI: which rank ran it */
      if (dist_size() > 1) snprintf(rank_tag, sizeof rank_tag, "rank %d: ", dist_rank());
      snprintf(report, sizeof report, "%s[%d/%d] %s: %s", rank_tag, *n_done + *failed, s->n_runs,
               r->name, line);
      if (!opt->quiet) suite_watch_note(w, report);
    }
  }
  while (running > 0) { /* after an error: let the started runs finish */
    if (waitpid(-1, NULL, 0) < 0 && errno != EINTR) break;
    running--;
  }
  free(pids);
  free(slot_run);
  return rc;
}

/* Under MPI (core/dist.h): the stages of the runs in prep[0..n), built in
 * this process by every rank together (data parallel). */
static int prepare_together(const suite *s, const suite_options *opt, const int *prep, int n,
                            lethe_err *err) {
  for (int i = 0; i < n; i++) {
    const suite_run *r = &s->runs[prep[i]];
    int n_over = r->n_overrides + opt->n_extra;
    const char **over = lethe_calloc((size_t)n_over + 1, sizeof *over);
    memcpy(over, r->overrides, sizeof *over * (size_t)r->n_overrides);
    for (int k = 0; k < opt->n_extra; k++) over[r->n_overrides + k] = opt->extra[k];
    experiment e;
    int rc = experiment_load(&e, s->base, over, n_over, err);
    free(over);
    if (rc == 0) {
      e.quiet = opt->quiet;
      rc = run_stages(&e, STAGES_ALL, err);
      experiment_free(&e);
    }
    if (rc != 0) return lethe_err_prefix(err, "preparing the stages of run %s", r->name);
  }
  return 0;
}

/* Without MPI: the stages of the runs in prep[0..n) in `lethe train`
 * children. The world and the base model first, alone with every thread;
 * then in parallel one task per target model (runs that differ only in the
 * forget split share it) and one per stage setting (its retain model and
 * evaluation, then the target's evaluation, which waits for the target task
 * through the stage lock). One status line shows them all. */
static int prepare_in_children(const suite *s, const char *out_dir, const suite_options *opt,
                               const int *prep, int n_prep, int jobs, int per_run, int total_threads,
                               int *failed, lethe_err *err) {
  const char *base_only[] = {"base"};
  int *task = lethe_malloc(sizeof(int) * (size_t)(2 * n_prep + 1)), n_task = 0, rc = 0, unused = 0;
  const char **task_stages = lethe_malloc(sizeof(char *) * (size_t)(2 * n_prep + 1));
  for (int i = 0; i < n_prep; i++) {
    int dup = 0;
    for (int k = 0; k < i && !dup; k++) dup = same_target(&s->runs[prep[k]], &s->runs[prep[i]]);
    if (!dup) task[n_task] = prep[i], task_stages[n_task++] = "target";
  }
  for (int i = 0; i < n_prep; i++) task[n_task] = prep[i], task_stages[n_task++] = "all";
  suite_watch w;
  suite_watch_start(&w, "stages", 0, n_prep ? 1 + n_task : 0, jobs, 0, !opt->quiet);
  if (n_prep)
    rc = pool(s, out_dir, opt, prep, base_only, 1, "train", 1, total_threads, &w, &unused, failed, err);
  if (rc == 0 && !*failed)
    rc = pool(s, out_dir, opt, task, task_stages, n_task, "train", jobs, per_run, &w, &unused, failed, err);
  suite_watch_finish(&w);
  free(task);
  free(task_stages);
  return rc;
}

/* NN of a run's data.forget_split=forgetNN override; 0 without one. */
static int forget_percent(const suite_run *r) {
  for (int i = 0; i < r->n_overrides; i++)
    if (!strncmp(r->overrides[i], "data.forget_split=", 18)) {
      const char *v = r->overrides[i] + 18;
      if (*v == '"') v++;
      return !strncmp(v, "forget", 6) ? atoi(v + 6) : 0;
    }
  return 0;
}

int suite_execute(const suite *s, const char *out_dir, const suite_options *opt, lethe_err *err) {
  int rc = 0, ranks = dist_size();
  int *pending = lethe_malloc(sizeof(int) * (size_t)(s->n_runs + 1)), n_pending = 0, n_done = 0;
  if (dist_is_root()) { /* rank 0 writes the expansion and decides what is left */
    char *runs_dir = lethe_path_join(out_dir, "runs"), *sj = lethe_path_join(out_dir, "suite.json");
    rc = lethe_mkdir_p(runs_dir, err);
    if (rc == 0) rc = suite_write_json(s, sj, err);
    free(runs_dir);
    free(sj);
    for (int r = 0; r < s->n_runs; r++)
      if (!run_has(out_dir, &s->runs[r], "DONE")) pending[n_pending++] = r;
    /* longest first, so that the pool does not end on one long run while
     * the other slots idle: a larger forget split is a longer run (more
     * steps and a larger forget set to evaluate) */
    for (int i = 1; i < n_pending; i++)
      for (int j = i; j > 0 && forget_percent(&s->runs[pending[j]]) >
                                    forget_percent(&s->runs[pending[j - 1]]); j--) {
        int t = pending[j];
        pending[j] = pending[j - 1];
        pending[j - 1] = t;
      }
  }
  dist_bcast(&rc, sizeof rc, 0);
  dist_bcast(&n_pending, sizeof n_pending, 0);
  dist_bcast(pending, sizeof(int) * (size_t)n_pending, 0);
  if (rc != 0) {
    if (!dist_is_root()) lethe_errf(err, LETHE_E_IO, "%s: rank 0 cannot write the suite", out_dir);
    free(pending);
    return -1;
  }
  n_done = s->n_runs - n_pending;
  int jobs = opt->jobs > 0 ? opt->jobs : 1, total_threads = opt->threads > 0 ? opt->threads : cores();
  int per_run = total_threads / jobs > 0 ? total_threads / jobs : 1;
  int is_tofu = !strcmp(s->kind, "tofu");
  const char *cmd = is_tofu ? "unlearn" : s->kind;
  if (!opt->quiet && dist_is_root())
    fprintf(stderr, "suite %s: %d runs, %d done, %d to run (%d at a time%s, %d threads each) -> %s\n",
            s->name, s->n_runs, n_done, n_pending, jobs * ranks, ranks > 1 ? " over the ranks" : "",
            per_run, out_dir);
  /* shared stages first: one `lethe train` per distinct set of stage
   * settings, in parallel (stage locks make runs that need the same stage
   * wait for one build) */
  int *prep = lethe_malloc(sizeof(int) * (size_t)(n_pending + 1)), n_prep = 0;
  for (int i = 0; is_tofu && i < n_pending; i++) {
    int dup = 0;
    for (int k = 0; k < n_prep && !dup; k++) dup = same_stages(&s->runs[prep[k]], &s->runs[pending[i]]);
    if (!dup) prep[n_prep++] = pending[i];
  }
  int failed = 0;
  if (ranks > 1) /* every rank trains every stage together */
    rc = prepare_together(s, opt, prep, n_prep, err);
  else
    rc = prepare_in_children(s, out_dir, opt, prep, n_prep, jobs, per_run, total_threads, &failed, err);
  free(prep);
  if (rc == 0 && failed)
    rc = lethe_errf(err, LETHE_E_IO, "preparing the shared stages failed (see the runs' log.txt)");
  /* the runs, round-robin over the ranks: each exactly once */
  int n_mine = 0;
  for (int i = 0; i < n_pending; i++)
    if (i % ranks == dist_rank()) pending[n_mine++] = pending[i];
  suite_watch w; /* under MPI: the [k/n] lines alone, every rank seeing only its own runs */
  suite_watch_start(&w, "runs", n_done, s->n_runs, jobs, 1, !opt->quiet && ranks == 1);
  if (rc == 0) rc = pool(s, out_dir, opt, pending, NULL, n_mine, cmd, jobs, per_run, &w, &n_done, &failed, err);
  suite_watch_finish(&w);
  free(pending);
  if (rc != 0) return -1;
  dist_barrier(); /* ranks that are done sleep until the last run ends */
  double failed_all = failed;
  dist_allreduce_sum_f64(&failed_all, 1);
  if (failed_all > 0)
    rc = lethe_errf(err, LETHE_E_IO, "%.0f of %d runs failed (their log.txt says why); rerun to retry them",
                    failed_all, s->n_runs);
  return rc;
}

/* 1 when pid is a live (not zombie) process. */
static int process_alive(pid_t pid) {
  char path[64], buf[256];
  snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
  FILE *f = fopen(path, "r");
  if (!f) return kill(pid, 0) == 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  const char *close_paren = strrchr(buf, ')');
  return close_paren && close_paren[1] == ' ' && close_paren[2] != 'Z' && close_paren[2] != 'X';
}

int suite_print_status(const suite *s, const char *out_dir, lethe_err *err) {
  (void)err;
  int counts[4] = {0};
  static const char *const names[4] = {"done", "running", "failed", "pending"};
  for (int r = 0; r < s->n_runs; r++) {
    const suite_run *run = &s->runs[r];
    int state = 3;
    if (run_has(out_dir, run, "DONE")) {
      state = 0;
    } else if (run_has(out_dir, run, "RUNNING")) {
      char *m = run_path(out_dir, run, "RUNNING"), *text;
      size_t len;
      if (lethe_read_file(m, 64, &text, &len, NULL) == 0) {
        long pid = strtol(text, NULL, 10);
        if (pid > 0 && process_alive((pid_t)pid)) state = 1;
        free(text);
      }
      free(m);
    } else if (run_has(out_dir, run, "FAILED")) {
      state = 2;
    }
    counts[state]++;
    printf("%-8s %s\n", names[state], run->name);
  }
  printf("%d runs: %d done, %d running, %d failed, %d pending (%s)\n", s->n_runs, counts[0],
         counts[1], counts[2], counts[3], out_dir);
  return 0;
}

/* ---- validation ------------------------------------------------------------------ */
int suite_validate(const suite *s, lethe_err *err) {
  if (strcmp(s->kind, "tofu")) return 0; /* other kinds validate when they run */
  for (int r = 0; r < s->n_runs; r++) {
    const suite_run *run = &s->runs[r];
    /* each override alone first, so an error points at its line */
    for (int i = 0; i < run->n_overrides; i++) {
      experiment e;
      const char *one[1] = {run->overrides[i]};
      int rc = experiment_load(&e, s->base, one, 1, err);
      method_spec ms = {0};
      if (rc == 0)
        rc = method_spec_from_config(&ms, lcfg_setting(&e.cfg, "method"),
                                     (const char *const *)e.method_overrides, e.n_method_overrides, err);
      if (rc == 0) {
        method_spec_free(&ms);
        experiment_free(&e);
        continue;
      }
      return lethe_err_prefix(err, "%s:%d: run %s", s->path, run->override_line[i], run->name);
    }
    experiment e;
    if (experiment_load(&e, s->base, (const char *const *)run->overrides, run->n_overrides, err) != 0)
      return lethe_err_prefix(err, "%s: run %s", s->path, run->name);
    method_spec ms = {0};
    int rc = method_spec_from_config(&ms, lcfg_setting(&e.cfg, "method"),
                                     (const char *const *)e.method_overrides, e.n_method_overrides, err);
    if (rc == 0) method_spec_free(&ms);
    experiment_free(&e);
    if (rc != 0) return lethe_err_prefix(err, "%s: run %s", s->path, run->name);
  }
  return 0;
}
