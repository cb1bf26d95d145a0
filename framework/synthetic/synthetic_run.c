/* synthetic_run — `lethe synthetic`: configuration, method, one run and its
 * directory (config.cfg, history.jsonl, summary.json, DONE); see synthetic.h. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/kind.h"
#include "core/json_file.h"

#include "synthetic/synthetic.h"

/* Forget distance below which a method counts as having forgotten (the
 * threshold the paper's Figure 4 discussion uses). */
#define SYNTH_FORGOTTEN 0.005

const char *synth_method_label(const method_spec *ms, char *buf, size_t n) {
  const lethe_method_desc *d = ms->plugin.desc;
  const char *title = method_desc_title(d);
  if (!title) title = d->name;
  /* a method whose title names no added term gets "+RT" when it has one */
  double retain = 0.0;
  for (uint32_t i = 0; i < d->n_params; i++)
    if (!strcmp(d->params[i].name, "retain_coeff")) retain = method_param_value(d, ms->params, i);
  snprintf(buf, n, "%s%s", title, retain > 0 && !strchr(title, '+') ? "+RT" : "");
  return buf;
}

/* ---- the history, collected in memory and written once at the end ---------- */
typedef struct run_log {
  json_t *points;   /* array of history lines */
  synth_point start, final;
  int64_t forgotten_step; /* first evaluated step with forget distance < threshold, or -1 */
  double max_retain_distance;
} run_log;

static json_t *point_json(const synth_point *p) {
  json_t *o = json_object();
  json_object_set_new(o, "step", json_integer((json_int_t)p->step));
  json_object_set_new(o, "forget_distance", json_real(p->forget_distance));
  json_object_set_new(o, "retain_distance", json_real(p->retain_distance));
  json_object_set_new(o, "forget_kl", json_real(p->forget_kl));
  json_object_set_new(o, "retain_kl", json_real(p->retain_kl));
  return o;
}

static void log_point(void *ctx, const synth_point *p, double loss, const synth_metric *metrics,
                      int n_metrics) {
  run_log *log = ctx;
  json_t *o = point_json(p);
  json_object_set_new(o, "loss", isfinite(loss) ? json_real(loss) : json_null());
  json_t *m = json_object();
  for (int i = 0; i < n_metrics; i++) json_object_set_new(m, metrics[i].name, json_real(metrics[i].value));
  json_object_set_new(o, "metrics", m);
  json_array_append_new(log->points, o);
  if (p->step == 0) log->start = *p;
  log->final = *p;
  if (log->forgotten_step < 0 && p->forget_distance < SYNTH_FORGOTTEN) log->forgotten_step = p->step;
  if (p->retain_distance > log->max_retain_distance) log->max_retain_distance = p->retain_distance;
}

#define JSON_FLAGS (JSON_REAL_PRECISION(17) | JSON_COMPACT)

static int write_history(const char *run_dir, const run_log *log, lethe_err *err) {
  char *path = lethe_path_join(run_dir, "history.jsonl");
  lethe_atomic_file af;
  int rc = lethe_atomic_open(&af, path, err);
  free(path);
  if (rc != 0) return -1;
  for (size_t i = 0; i < json_array_size(log->points); i++) {
    char *line = json_dumps(json_array_get(log->points, i), JSON_FLAGS);
    fprintf(af.fp, "%s\n", line);
    free(line);
  }
  return lethe_atomic_commit(&af, err);
}

static json_t *params_json(const method_spec *ms) {
  const lethe_method_desc *d = ms->plugin.desc;
  json_t *o = json_object();
  for (uint32_t i = 0; i < d->n_params; i++) {
    double v = method_param_value(d, ms->params, i);
    json_t *jv = d->params[i].type == LETHE_PARAM_DOUBLE ? json_real(v)
                 : d->params[i].type == LETHE_PARAM_BOOL ? json_boolean(v != 0)
                                                          : json_integer((json_int_t)v);
    json_object_set_new(o, d->params[i].name, jv);
  }
  return o;
}

static int write_summary(const char *run_dir, const synth_setup *su, const method_spec *ms,
                         const run_log *log, lethe_err *err) {
  const synth_settings *s = &su->s;
  char label[64];
  json_t *o = json_object();
  json_object_set_new(o, "kind", json_string(lethe_kind_name(LETHE_KIND_SYNTHETIC)));
  json_object_set_new(o, "method", json_string(ms->plugin.desc->name));
  json_object_set_new(o, "label", json_string(synth_method_label(ms, label, sizeof label)));
  const char *colour = method_desc_colour(ms->plugin.desc);
  if (colour) json_object_set_new(o, "colour", json_string(colour));
  json_object_set_new(o, "params", params_json(ms));
  json_object_set_new(o, "figure", json_string(s->figure));
  json_object_set_new(o, "alpha", json_real(s->alpha));
  json_object_set_new(o, "lr", json_real(s->lr));
  json_object_set_new(o, "steps", json_integer(s->steps));
  json_object_set_new(o, "eval_every", json_integer(s->eval_every));
  json_object_set_new(o, "seed", json_integer((json_int_t)s->seed));
  json_t *set = json_object();
  json_object_set_new(set, "dim", json_integer(s->dim));
  json_object_set_new(set, "features", json_integer(s->features));
  json_object_set_new(set, "n_forget", json_integer(s->n_forget));
  json_object_set_new(set, "n_retain", json_integer(s->n_retain));
  json_object_set_new(set, "n_eval_forget", json_integer(s->n_eval_forget));
  json_object_set_new(set, "n_eval_retain", json_integer(s->n_eval_retain));
  json_object_set_new(set, "pretrain_lr", json_real(s->pretrain_lr));
  json_object_set_new(set, "pretrain_steps", json_integer(s->pretrain_steps));
  json_object_set_new(o, "settings", set);
  json_t *pre = json_object();
  json_object_set_new(pre, "ref_grad_norm", json_real(su->ref_grad_norm));
  json_object_set_new(pre, "retrained_grad_norm", json_real(su->retrained_grad_norm));
  json_object_set_new(o, "pretrain", pre);
  json_object_set_new(o, "start", point_json(&log->start));
  json_object_set_new(o, "final", point_json(&log->final));
  json_object_set_new(o, "forgotten_threshold", json_real(SYNTH_FORGOTTEN));
  json_object_set_new(o, "forgotten_step",
                      log->forgotten_step >= 0 ? json_integer(log->forgotten_step) : json_null());
  json_object_set_new(o, "max_retain_distance", json_real(log->max_retain_distance));
  char *path = lethe_path_join(run_dir, "summary.json");
  int rc = lethe_json_write_atomic(path, o, JSON_REAL_PRECISION(17) | JSON_INDENT(1),
                                   LETHE_JSON_NEWLINE, err);
  json_decref(o);
  free(path);
  return rc;
}

/* The resolved configuration, with the method's name and every parameter. */
/* cache_dir, else $LETHE_CACHE_DIR, else ~/.cache/lethe (as for experiments). */
static char *synth_cache_dir(const lcfg *c) {
  const char *dir = lcfg_string(c, "cache_dir"), *env = getenv("LETHE_CACHE_DIR");
  if (*dir) return lethe_strdup(dir);
  if (env && *env) return lethe_strdup(env);
  const char *home = getenv("HOME");
  return lethe_path_join(home && *home ? home : "/tmp", ".cache/lethe");
}

/* One run's configuration as `lethe synthetic` reads it: the layered
 * settings (*c), their typed view (*s) and the method plugin with its
 * parameters (*ms; method.* overrides go to the method loader, which knows
 * the parameter table). On success the caller frees *c and *ms; on failure
 * nothing is left to free. */
static int load_run_config(const char *path, const char *const *overrides, int n_overrides,
                           lcfg *c, synth_settings *s, method_spec *ms, lethe_err *err) {
  const char **rest = lethe_calloc((size_t)n_overrides + 1, sizeof *rest);
  const char **method_over = lethe_calloc((size_t)n_overrides + 1, sizeof *method_over);
  int n_rest = 0, n_method = 0, rc = -1;
  for (int i = 0; i < n_overrides; i++) {
    if (!strncmp(overrides[i], "method.", 7)) method_over[n_method++] = overrides[i];
    else rest[n_rest++] = overrides[i];
  }
  memset(ms, 0, sizeof *ms);
  if (lcfg_load(c, synth_schema, synth_open_groups, path, rest, n_rest, err) == 0) {
    rc = synth_settings_read(c, s, err);
    if (rc == 0) rc = method_spec_from_config(ms, lcfg_setting(c, "method"), method_over, n_method, err);
    uint32_t model_caps =
        LETHE_CAP_HIDDEN | LETHE_CAP_REF_HIDDEN | LETHE_CAP_PARAMS | LETHE_CAP_PART_GRADS;
    if (rc == 0 && (ms->needs.caps & model_caps)) {
      char caps[128];
      rc = lethe_errf(err, LETHE_E_CONFIG,
                      "%s: method '%s' needs %s, which the synthetic experiment's random-feature "
                      "model does not have (a Llama model's only)", path, ms->plugin.desc->name,
                      method_caps_string(ms->needs.caps & model_caps, caps, sizeof caps));
      method_spec_free(ms);
    }
    if (rc != 0) lcfg_free(c);
  }
  free(rest);
  free(method_over);
  return rc;
}

int synth_check(const char *path, const char *const *overrides, int n_overrides, lethe_err *err) {
  lcfg c;
  synth_settings s;
  method_spec ms;
  if (load_run_config(path, overrides, n_overrides, &c, &s, &ms, err) != 0) return -1;
  method_spec_free(&ms);
  lcfg_free(&c);
  return 0;
}

int synth_run(const char *path, const char *const *overrides, int n_overrides,
              const char *run_dir, int quiet, lethe_err *err) {
  lcfg c;
  synth_settings s;
  method_spec ms;
  synth_setup su = {0};
  run_log log = {json_array(), {0}, {0}, -1, 0.0};
  char *cache_dir = NULL;
  int rc = -1, have_config = 0, have_setup = 0;
  if (load_run_config(path, overrides, n_overrides, &c, &s, &ms, err) != 0) goto done;
  have_config = 1;
  if (lethe_mkdir_p(run_dir, err) != 0) goto done;
  double t0 = lethe_now();
  cache_dir = synth_cache_dir(&c);
  if (synth_setup_build(&su, &s, s.cache ? cache_dir : NULL, err) != 0) goto done;
  have_setup = 1;
  double t1 = lethe_now();
  if (synth_unlearn(&su, &ms, log_point, &log, NULL, err) != 0) goto done;
  double t2 = lethe_now();
  char *config_path = lethe_path_join(run_dir, "config.cfg");
  int failed = lcfg_record_method(&c, synth_schema, &ms, err) || lcfg_write(&c, config_path, err);
  free(config_path);
  if (failed || write_history(run_dir, &log, err) ||
      write_summary(run_dir, &su, &ms, &log, err))
    goto done;
  char *done_path = lethe_path_join(run_dir, "DONE");
  rc = lethe_write_file_atomic(done_path, "ok\n", 3, err);
  free(done_path);
  if (rc == 0 && !quiet) {
    char label[64];
    fprintf(stderr,
            "synthetic: %s α=%g seed=%llu: forget distance %.4g → %.4g, retain distance %.4g → "
            "%.4g, forget KL %.4g (pre-training %.2f s, %d steps %.2f s)\n",
            synth_method_label(&ms, label, sizeof label), s.alpha, (unsigned long long)s.seed,
            log.start.forget_distance, log.final.forget_distance, log.start.retain_distance,
            log.final.retain_distance, log.final.forget_kl, t1 - t0, s.steps, t2 - t1);
  }
done:
  free(cache_dir);
  json_decref(log.points);
  if (have_setup) synth_setup_free(&su);
  if (have_config) {
    method_spec_free(&ms);
    lcfg_free(&c);
  }
  return rc;
}
