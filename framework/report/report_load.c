/* report_load — reads a suite's output directory into a `report`: the runs
 * of suite.json, the settings that vary, each finished run's summary,
 * history and sample answers; groups runs by seed into groups and series;
 * the per-group statistics the figures and tables show. Writes nothing. */
#include <jansson.h>
#include <libconfig.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "report/report.h"
#include "report/svg.h"

const char *const report_sel_titles[REPORT_N_SEL] = {"highest FQ", "final", "utility-constrained"};

#define MAX_JSON_BYTES ((size_t)1 << 30)

const char *report_run_title(const report_run *run) {
  return run->title ? run->title : run->method;
}

/* ---- JSON helpers ------------------------------------------------------- */

static double jnum(const json_t *o, const char *key) {
  json_t *v = json_object_get(o, key);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

static long jlong(const json_t *o, const char *key, long missing) {
  json_t *v = json_object_get(o, key);
  if (json_is_integer(v)) return (long)json_integer_value(v);
  if (json_is_real(v) && isfinite(json_real_value(v))) return lround(json_real_value(v));
  return missing;
}

static char *jstrdup(const json_t *o, const char *key) {
  const char *s = json_string_value(json_object_get(o, key));
  return s ? lethe_strdup(s) : NULL;
}

/* Parses a whole JSON file; errors name the file, line and column. */
static json_t *load_json(const char *path, lethe_err *err) {
  char *text;
  size_t len;
  if (lethe_read_file(path, MAX_JSON_BYTES, &text, &len, err) != 0) return NULL;
  json_error_t jerr;
  json_t *j = json_loadb(text, len, 0, &jerr);
  free(text);
  if (!j)
    lethe_errf(err, LETHE_E_FORMAT, "%s:%d:%d: malformed JSON: %s", path, jerr.line, jerr.column,
               jerr.text);
  return j;
}

/* A setting's value as text ("" when unset) and as a number (NaN if none). */
static char *value_text(const json_t *v) {
  char buf[64];
  if (json_is_string(v)) return lethe_strdup(json_string_value(v));
  if (json_is_integer(v))
    snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(v));
  else if (json_is_real(v))
    snprintf(buf, sizeof buf, "%g", json_real_value(v));
  else if (json_is_boolean(v))
    snprintf(buf, sizeof buf, "%s", json_is_true(v) ? "true" : "false");
  else if (!v || json_is_null(v))
    buf[0] = '\0';
  else {
    char *dump = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    return dump ? dump : lethe_strdup("");
  }
  return lethe_strdup(buf);
}

static double value_number(const json_t *v) {
  if (json_is_number(v)) return json_number_value(v);
  if (json_is_string(v)) {
    const char *s = json_string_value(v);
    char *end;
    double d = strtod(s, &end);
    if (end != s && *end == '\0') return d;
  }
  return NAN;
}

/* ---- points --------------------------------------------------------------- */

static void parse_point(const json_t *o, report_point *p) {
  memset(p, 0, sizeof *p);
  p->step = -1;
  p->present = json_is_object(o);
  p->epoch = jnum(o, "epoch");
  p->loss = jnum(o, "loss");
  p->mu = jnum(o, "model_utility");
  p->fq = jnum(o, "forget_quality");
  p->forget_kl = jnum(o, "forget_kl");
  p->tr_median = jnum(o, "forget_truth_ratio_median");
  if (p->present) p->step = jlong(o, "step", -1);
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *set = json_object_get(o, tofu_set_keys[s]);
    p->set[s].prob = jnum(set, "prob");
    p->set[s].rouge = jnum(set, "rouge");
    p->set[s].truth = jnum(set, "truth");
    p->set[s].n = jlong(set, "n", 0);
    char key[64];
    snprintf(key, sizeof key, "%s_es", tofu_set_keys[s]);
    p->set[s].es = jnum(o, key);
    snprintf(key, sizeof key, "%s_em", tofu_set_keys[s]);
    p->set[s].em = jnum(o, key);
  }
  for (int a = 0; a < MIA_N_ATTACKS; a++) {
    char key[64];
    snprintf(key, sizeof key, "mia_%s_auc", mia_attack_keys[a]);
    p->mia_auc[a] = jnum(o, key);
    snprintf(key, sizeof key, "privleak_%s", mia_attack_keys[a]);
    p->privleak[a] = jnum(o, key);
  }
  p->verbmem_forget = jnum(o, "verbmem_forget");
  p->knowmem_forget = jnum(o, "knowmem_forget");
  p->knowmem_retain = jnum(o, "knowmem_retain");
  if (json_object_get(o, "verbmem_forget")) /* a MUSE point: its PrivLeak is Min-K%'s */
    p->privleak[MIA_PRIVLEAK_ATTACK] = jnum(o, "privleak");
}

/* ---- one run's files ------------------------------------------------------ */

static int load_history(report_run *run, lethe_err *err) {
  char *path = lethe_path_join(run->dir, "history.jsonl");
  char *text = NULL;
  size_t len;
  if (!lethe_file_exists(path)) {
    lethe_log(LETHE_LOG_WARN, "%s: missing; no trajectory for run %s", path, run->name);
    free(path);
    return 0;
  }
  int rc = lethe_read_file(path, MAX_JSON_BYTES, &text, &len, err);
  size_t cap = 0;
  long line_no = 0;
  for (char *line = text, *next; rc == 0 && line && *line; line = next) {
    next = strchr(line, '\n');
    if (next) *next++ = '\0';
    line_no++;
    if (strspn(line, " \t\r") == strlen(line)) continue;
    json_error_t jerr;
    json_t *o = json_loads(line, 0, &jerr);
    if (!json_is_object(o)) {
      rc = lethe_errf(err, LETHE_E_FORMAT, "%s:%ld: malformed JSON line: %s", path, line_no,
                      o ? "not an object" : jerr.text);
      json_decref(o);
      break;
    }
    if (run->n_history == cap) {
      cap = cap ? cap * 2 : 16;
      run->history = lethe_realloc(run->history, cap * sizeof *run->history);
    }
    parse_point(o, &run->history[run->n_history++]);
    json_decref(o);
  }
  free(text);
  free(path);
  return rc;
}

static const json_t *find_row(const json_t *rows, size_t index, const char *question) {
  const json_t *row = json_array_get(rows, index);
  const char *q = json_string_value(json_object_get(row, "question"));
  if (q && question && !strcmp(q, question)) return row;
  size_t i;
  json_t *r;
  json_array_foreach(rows, i, r) {
    q = json_string_value(json_object_get(r, "question"));
    if (q && question && !strcmp(q, question)) return r;
  }
  return NULL;
}

/* Sample answers from eval.json (final) and best/eval.json (best); both are
 * optional, a malformed one is an error. */
static int load_samples(report_run *run, lethe_err *err) {
  char *final_path = lethe_path_join(run->dir, "eval.json");
  char *best_path = lethe_path_join(run->dir, "best/eval.json");
  json_t *fin = NULL, *best = NULL;
  int rc = 0;
  if (lethe_file_exists(final_path) && !(fin = load_json(final_path, err))) rc = -1;
  if (rc == 0 && lethe_file_exists(best_path) && !(best = load_json(best_path, err))) rc = -1;
  for (int s = 0; rc == 0 && fin && s < TOFU_N_SETS; s++) {
    json_t *rows = json_object_get(fin, tofu_set_keys[s]);
    json_t *best_rows = json_object_get(best, tofu_set_keys[s]);
    size_t want = (size_t)run->sample_count;
    size_t n = json_array_size(rows) < want ? json_array_size(rows) : want;
    run->samples[s] = lethe_calloc(n ? n : 1, sizeof(report_sample));
    for (size_t i = 0; i < n; i++) {
      json_t *row = json_array_get(rows, i);
      report_sample *x = &run->samples[s][run->n_samples[s]];
      x->question = jstrdup(row, "question");
      if (!x->question) continue;
      x->answer = jstrdup(row, "answer");
      x->final = jstrdup(row, "generation");
      const json_t *b = find_row(best_rows, i, x->question);
      x->best = b ? jstrdup(b, "generation") : NULL;
      run->n_samples[s]++;
    }
  }
  json_decref(fin);
  json_decref(best);
  free(final_path);
  free(best_path);
  return rc;
}

/* From the run's settings and config.cfg: the seed (unlearn.seed, seed or
 * any *.seed setting, else config.cfg's unlearn.seed or seed; -1 unknown)
 * and eval.samples (questions per set in the sample answers; default 3). */
static void read_run_config(report_run *run, const json_t *settings) {
  static const char *const seed_keys[] = {"unlearn.seed", "seed"};
  run->seed = -1;
  run->sample_count = 3;
  for (size_t i = 0; i < 2 && run->seed < 0; i++) {
    double v = value_number(json_object_get(settings, seed_keys[i]));
    if (isfinite(v)) run->seed = lround(v);
  }
  const char *key;
  json_t *v;
  json_object_foreach((json_t *)settings, key, v) {
    const char *last = strrchr(key, '.');
    if (run->seed < 0 && !strcmp(last ? last + 1 : key, "seed") && isfinite(value_number(v)))
      run->seed = lround(value_number(v));
  }
  char *path = lethe_path_join(run->dir, "config.cfg");
  config_t cfg;
  config_init(&cfg);
  if (lethe_file_exists(path) && config_read_file(&cfg, path) == CONFIG_TRUE) {
    int n;
    for (size_t i = 0; i < 2 && run->seed < 0; i++)
      if (config_lookup_int(&cfg, seed_keys[i], &n) == CONFIG_TRUE) run->seed = n;
    if (config_lookup_int(&cfg, "eval.samples", &n) == CONFIG_TRUE && n >= 0) run->sample_count = n;
  }
  config_destroy(&cfg);
  free(path);
}

/* The highest-FQ history point whose MU >= fraction × the target's (first
 * on ties), as the unlearning run chooses it. */
static void recompute_constrained(report_run *run, double fraction) {
  report_point *best = NULL;
  double bar = fraction * run->target.mu;
  for (size_t i = 0; i < run->n_history; i++) {
    report_point *p = &run->history[i];
    if (!isfinite(p->fq) || !(p->mu >= bar)) continue;
    if (!best || p->fq > best->fq) best = p;
  }
  if (best)
    run->sel[REPORT_SEL_CONSTRAINED] = *best;
  else
    parse_point(NULL, &run->sel[REPORT_SEL_CONSTRAINED]);
  run->mu_fraction = fraction;
}

static int load_run(report_run *run, const json_t *settings, const report_options *opt,
                    lethe_err *err) {
  char *path = lethe_path_join(run->dir, "summary.json");
  json_t *s = load_json(path, err);
  if (!s) {
    free(path);
    return -1;
  }
  int rc = 0;
  run->method = jstrdup(s, "method");
  run->split = jstrdup(s, "forget_split");
  if (!json_is_object(s) || !run->method || !run->split)
    rc = lethe_errf(err, LETHE_E_FORMAT,
                    "%s: expected an object with \"method\" and "
                    "\"forget_split\" strings",
                    path);
  free(path);
  if (rc == 0) {
    run->steps = jlong(s, "steps", -1);
    run->steps_per_epoch = jlong(s, "steps_per_epoch", -1);
    run->seconds = jnum(s, "seconds");
    run->mu_fraction = jnum(s, "mu_fraction");
    parse_point(json_object_get(s, "best"), &run->sel[REPORT_SEL_BEST]);
    parse_point(json_object_get(s, "final"), &run->sel[REPORT_SEL_FINAL]);
    parse_point(json_object_get(s, "best_constrained"), &run->sel[REPORT_SEL_CONSTRAINED]);
    parse_point(json_object_get(s, "target"), &run->target);
    parse_point(json_object_get(s, "retain"), &run->retain);
    parse_point(json_object_get(s, "retain_replica"), &run->retain_replica);
    /* The retain model is the reference of the KS test: its FQ is 1. */
    if (run->retain.present && !isfinite(run->retain.fq)) run->retain.fq = 1.0;
  }
  json_decref(s);
  if (rc == 0) read_run_config(run, settings);
  if (rc == 0) rc = load_history(run, err);
  if (rc == 0 && opt && opt->mu_fraction > 0) recompute_constrained(run, opt->mu_fraction);
  if (rc == 0) rc = load_samples(run, err);
  return rc;
}

/* ---- settings that vary --------------------------------------------------- */

static int find_key(const report *r, const char *key) {
  for (int i = 0; i < r->n_keys; i++)
    if (!strcmp(r->keys[i], key)) return i;
  return -1;
}

static void add_key(report *r, const char *key) {
  if (find_key(r, key) >= 0) return;
  r->keys = lethe_realloc(r->keys, (size_t)(r->n_keys + 1) * sizeof *r->keys);
  r->keys[r->n_keys++] = lethe_strdup(key);
}

/* Keys of the grid first (in its order), then any other setting; kept only
 * when the runs do not all agree on the value. */
static void find_keys(report *r, const json_t *suite, const json_t *runs) {
  const char *key;
  json_t *v, *run;
  size_t i;
  json_object_foreach(json_object_get(suite, "grid"), key, v) add_key(r, key);
  json_array_foreach(runs, i, run) {
    json_object_foreach(json_object_get(run, "settings"), key, v) add_key(r, key);
  }
  int kept = 0;
  for (int k = 0; k < r->n_keys; k++) {
    char *first = NULL;
    int varies = 0, numeric = 1;
    json_array_foreach(runs, i, run) {
      json_t *val = json_object_get(json_object_get(run, "settings"), r->keys[k]);
      char *text = value_text(val);
      if (!isfinite(value_number(val))) numeric = 0;
      if (!first)
        first = text;
      else {
        if (strcmp(first, text)) varies = 1;
        free(text);
      }
    }
    free(first);
    if (!varies) {
      free(r->keys[k]);
      continue;
    }
    const char *last = strrchr(r->keys[k], '.');
    r->key_numeric = lethe_realloc(r->key_numeric, (size_t)(kept + 1) * sizeof(int));
    r->key_seed = lethe_realloc(r->key_seed, (size_t)(kept + 1) * sizeof(int));
    r->key_seed[kept] = !strcmp(last ? last + 1 : r->keys[k], "seed");
    r->key_numeric[kept] = numeric && !r->key_seed[kept];
    r->keys[kept++] = r->keys[k];
  }
  r->n_keys = kept;
}

int report_key_is_setting(const report *r, int k) {
  return !r->key_seed[k] && strcmp(r->keys[k], "method.name") &&
         strcmp(r->keys[k], "data.forget_split");
}

/* ---- grouping --------------------------------------------------------------- */

static int intern_split(report *r, const char *split) {
  for (int i = 0; i < r->n_splits; i++)
    if (!strcmp(r->splits[i], split)) return i;
  r->splits = lethe_realloc(r->splits, (size_t)(r->n_splits + 1) * sizeof *r->splits);
  r->splits[r->n_splits] = lethe_strdup(split);
  return r->n_splits++;
}

char *report_settings_label(const report *r, const report_run *run, int skip_key) {
  size_t cap = 256, len = 0;
  char *s = lethe_malloc(cap);
  len = (size_t)snprintf(s, cap, "%s", report_run_title(run));
  for (int k = 0; k < r->n_keys; k++) {
    if (k == skip_key || !report_key_is_setting(r, k)) continue;
    const char *last = strrchr(r->keys[k], '.');
    const char *name = last ? last + 1 : r->keys[k];
    size_t need = len + strlen(name) + strlen(run->values[k]) + 8;
    if (need > cap) s = lethe_realloc(s, cap = need * 2);
    len += (size_t)snprintf(s + len, cap - len, " · %s=%s", name, run->values[k]);
  }
  return s;
}

static void build_groups(report *r) {
  for (int i = 0; i < r->n_runs; i++) {
    report_run *run = &r->runs[i];
    char *label = report_settings_label(r, run, -1);
    int se = -1;
    for (int k = 0; k < r->n_series && se < 0; k++)
      if (!strcmp(r->series[k].label, label)) se = k;
    if (se < 0) {
      r->series = lethe_realloc(r->series, (size_t)(r->n_series + 1) * sizeof *r->series);
      report_series *x = &r->series[r->n_series];
      memset(x, 0, sizeof *x);
      x->method = lethe_strdup(run->method);
      snprintf(x->base, sizeof x->base, "%s", run->colour); /* "" when unknown */
      x->label = label;
      se = r->n_series++;
    } else {
      free(label);
    }
    run->series = se;
    int split = intern_split(r, run->split), g = -1;
    for (int k = 0; k < r->n_groups && g < 0; k++)
      if (r->groups[k].series == se && r->groups[k].split == split) g = k;
    if (g < 0) {
      r->groups = lethe_realloc(r->groups, (size_t)(r->n_groups + 1) * sizeof *r->groups);
      r->groups[r->n_groups] = (report_group){se, split, NULL, 0};
      g = r->n_groups++;
    }
    report_group *grp = &r->groups[g];
    grp->runs = lethe_realloc(grp->runs, (size_t)(grp->n_runs + 1) * sizeof(int));
    grp->runs[grp->n_runs++] = i;
    run->group = g;
  }
  /* Colours: a method's own colour (else a palette colour, the same for
   * every series of the method); its variants shaded dark to light. */
  int n_unknown = 0;
  for (int i = 0; i < r->n_series; i++) {
    report_series *x = &r->series[i];
    int variant = 0, variants = 0, first = -1;
    for (int k = 0; k < r->n_series; k++)
      if (!strcmp(r->series[k].method, x->method)) {
        if (first < 0) first = k;
        if (k < i) variant++;
        variants++;
      }
    char base[8];
    if (x->base[0])
      snprintf(base, sizeof base, "%s", x->base);
    else if (first < i)
      snprintf(base, sizeof base, "%s", r->series[first].base);
    else
      snprintf(base, sizeof base, "%s", svg_palette(n_unknown++));
    svg_variant_colour(base, variant, variants, x->colour);
    snprintf(x->base, sizeof x->base, "%s", base);
  }
}

/* ---- loading the suite -------------------------------------------------------- */

/* A run's method title and colour from suite.json's runs[i].method (both
 * optional: older suites have no "method"). */
static int read_method_style(report_run *run, const json_t *method, const char *path, size_t i,
                             lethe_err *err) {
  const char *title = json_string_value(json_object_get(method, "title"));
  const json_t *colour = json_object_get(method, "colour");
  if (colour && !lethe_is_colour(json_string_value(colour)))
    return lethe_errf(err, LETHE_E_FORMAT,
                      "%s: runs[%zu].method.colour is not a \"#rrggbb\" string", path, i);
  if (colour) snprintf(run->colour, sizeof run->colour, "%s", json_string_value(colour));
  if (title && *title) run->title = lethe_strdup(title);
  return 0;
}

static int load_suite(report *r, const json_t *suite, const char *path, const report_options *opt,
                      lethe_err *err) {
  const json_t *runs = json_object_get(suite, "runs");
  if (!json_is_object(suite) || !json_is_array(runs))
    return lethe_errf(err, LETHE_E_FORMAT, "%s: expected an object with a \"runs\" array", path);
  const char *kind = json_string_value(json_object_get(suite, "kind"));
  r->kind = kind ? lethe_kind_parse(kind) : LETHE_KIND_TOFU;
  if (r->kind != LETHE_KIND_TOFU && r->kind != LETHE_KIND_MUSE)
    return lethe_errf(err, LETHE_E_USAGE,
                      "%s: a \"%s\" suite, not a TOFU one; its report is `lethe %s-report %s`",
                      path, kind, kind, r->dir);
  r->name = jstrdup(suite, "name");
  if (!r->name) {
    const char *slash = strrchr(r->dir, '/');
    r->name = lethe_strdup(slash && slash[1] ? slash + 1 : r->dir);
  }
  find_keys(r, suite, runs);
  r->n_total_runs = (int)json_array_size(runs);
  r->runs = lethe_calloc((size_t)r->n_total_runs + 1, sizeof *r->runs);
  r->unfinished = lethe_calloc((size_t)r->n_total_runs + 1, sizeof *r->unfinished);
  size_t i;
  json_t *entry;
  json_array_foreach(runs, i, entry) {
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *dir = json_string_value(json_object_get(entry, "dir"));
    json_t *settings = json_object_get(entry, "settings");
    if (!name)
      return lethe_errf(err, LETHE_E_FORMAT, "%s: runs[%zu] has no \"name\" string", path, i);
    char *run_dir;
    if (dir)
      run_dir = dir[0] == '/' ? lethe_strdup(dir) : lethe_path_join(r->dir, dir);
    else {
      char *runs_dir = lethe_path_join(r->dir, "runs");
      run_dir = lethe_path_join(runs_dir, name);
      free(runs_dir);
    }
    char *done = lethe_path_join(run_dir, "DONE"), *failed = lethe_path_join(run_dir, "FAILED");
    char *running = lethe_path_join(run_dir, "RUNNING");
    int is_done = lethe_file_exists(done), is_failed = lethe_file_exists(failed);
    int is_running = lethe_file_exists(running);
    free(done);
    free(failed);
    free(running);
    if (!is_done) {
      report_unfinished *u = &r->unfinished[r->n_unfinished++];
      u->name = lethe_strdup(name);
      u->status = is_failed ? "failed" : is_running ? "running" : "not finished";
      free(run_dir);
      continue;
    }
    report_run *run = &r->runs[r->n_runs++];
    run->name = lethe_strdup(name);
    run->dir = run_dir;
    run->values = lethe_calloc((size_t)r->n_keys + 1, sizeof(char *));
    run->numbers = lethe_calloc((size_t)r->n_keys + 1, sizeof(double));
    for (int k = 0; k < r->n_keys; k++) {
      json_t *v = json_object_get(settings, r->keys[k]);
      run->values[k] = value_text(v);
      run->numbers[k] = value_number(v);
    }
    if (read_method_style(run, json_object_get(entry, "method"), path, i, err) != 0 ||
        load_run(run, settings, opt, err) != 0)
      return -1;
  }
  build_groups(r);
  r->mu_fraction = NAN;
  for (int k = 0; k < r->n_runs; k++) {
    double f = r->runs[k].mu_fraction;
    if (!isfinite(f)) continue;
    if (!isfinite(r->mu_fraction))
      r->mu_fraction = f;
    else if (fabs(f - r->mu_fraction) > 1e-12)
      r->mu_fraction_mixed = 1;
  }
  return 0;
}

int report_load(report *r, const char *dir, const report_options *opt, lethe_err *err) {
  memset(r, 0, sizeof *r);
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') n--;
  r->dir = lethe_strdup(dir);
  r->dir[n] = '\0';
  char *path = lethe_path_join(r->dir, "suite.json");
  json_t *suite = NULL;
  int rc = 0;
  if (!lethe_file_exists(path))
    rc = lethe_errf(err, LETHE_E_IO,
                    "%s: no such file (is %s the output directory of `lethe suite run`?)", path,
                    r->dir);
  else if (!(suite = load_json(path, err)))
    rc = -1;
  if (rc == 0) rc = load_suite(r, suite, path, opt, err);
  json_decref(suite);
  free(path);
  if (rc != 0) report_free(r);
  return rc;
}

void report_free(report *r) {
  for (int i = 0; i < r->n_runs; i++) {
    report_run *run = &r->runs[i];
    for (int k = 0; k < r->n_keys; k++) free(run->values[k]);
    free(run->values);
    free(run->numbers);
    free(run->name);
    free(run->dir);
    free(run->method);
    free(run->title);
    free(run->split);
    free(run->history);
    for (int s = 0; s < TOFU_N_SETS; s++) {
      for (size_t k = 0; k < run->n_samples[s]; k++) {
        report_sample *x = &run->samples[s][k];
        free(x->question);
        free(x->answer);
        free(x->final);
        free(x->best);
      }
      free(run->samples[s]);
    }
  }
  for (int i = 0; i < r->n_unfinished; i++) free(r->unfinished[i].name);
  for (int i = 0; i < r->n_keys; i++) free(r->keys[i]);
  for (int i = 0; i < r->n_splits; i++) free(r->splits[i]);
  for (int i = 0; i < r->n_series; i++) {
    free(r->series[i].method);
    free(r->series[i].label);
  }
  for (int i = 0; i < r->n_groups; i++) free(r->groups[i].runs);
  free(r->runs);
  free(r->unfinished);
  free(r->keys);
  free(r->key_numeric);
  free(r->key_seed);
  free(r->splits);
  free(r->series);
  free(r->groups);
  free(r->dir);
  free(r->name);
  memset(r, 0, sizeof *r);
}

/* ---- statistics ------------------------------------------------------------- */

/* Smallest value a log field is averaged with (a p-value of 0 stays finite). */
#define LOG_FLOOR 1e-300

static report_stat stat_of(const double *v, int n, int log_scale) {
  report_stat s = {NAN, NAN, NAN, NAN, NAN, NAN, 0};
  double sum = 0, sum2 = 0;
  for (int i = 0; i < n; i++) {
    if (!isfinite(v[i])) continue;
    double x = log_scale ? log10(v[i] > LOG_FLOOR ? v[i] : LOG_FLOOR) : v[i];
    if (s.n == 0 || v[i] < s.min) s.min = v[i];
    if (s.n == 0 || v[i] > s.max) s.max = v[i];
    sum += x;
    sum2 += x * x;
    s.n++;
  }
  if (!s.n) return s;
  double mean = sum / s.n;
  double var = s.n > 1 ? (sum2 - s.n * mean * mean) / (s.n - 1) : 0.0;
  s.sd = sqrt(var > 0 ? var : 0.0);
  if (log_scale) {
    s.mean = pow(10.0, mean);
    s.lo = pow(10.0, mean - s.sd);
    s.hi = pow(10.0, mean + s.sd);
  } else {
    s.mean = mean;
    s.lo = mean - s.sd;
    s.hi = mean + s.sd;
  }
  /* a spread never reaches past the values seen (MU stays >= 0) */
  if (s.lo < s.min) s.lo = s.min;
  if (s.hi > s.max) s.hi = s.max;
  return s;
}

report_stat report_group_stat(const report *r, const report_group *g, int sel, int field) {
  double *v = lethe_calloc((size_t)g->n_runs + 1, sizeof *v);
  for (int i = 0; i < g->n_runs; i++) v[i] = report_field(&r->runs[g->runs[i]].sel[sel], field);
  report_stat s = stat_of(v, g->n_runs, report_field_is_log(field));
  free(v);
  return s;
}

report_stat report_group_stat_at(const report *r, const report_group *g, long step, int field) {
  double *v = lethe_calloc((size_t)g->n_runs + 1, sizeof *v);
  for (int i = 0; i < g->n_runs; i++) {
    const report_run *run = &r->runs[g->runs[i]];
    v[i] = NAN;
    for (size_t k = 0; k < run->n_history; k++)
      if (run->history[k].step == step) {
        v[i] = report_field(&run->history[k], field);
        break;
      }
  }
  report_stat s = stat_of(v, g->n_runs, report_field_is_log(field));
  free(v);
  return s;
}

const report_point *report_split_ref(const report *r, int split, int retain) {
  for (int i = 0; i < r->n_runs; i++) {
    const report_run *run = &r->runs[i];
    if (!strcmp(run->split, r->splits[split])) {
      const report_point *p = retain ? &run->retain : &run->target;
      if (p->present) return p;
    }
  }
  return NULL;
}
