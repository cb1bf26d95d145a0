/* report_results — results.csv and results.json (one row per finished run:
 * the settings that vary and the numbers at the three selections), and
 * report_write, which loads a suite directory and writes all three files. */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "report/report.h"

/* The columns of one evaluation point, in CSV order. The first seven are
 * the point's own numbers; then prob, rouge and truth of each set; ES and
 * EM of the forget and retain sets; the AUC and PrivLeak of each attack. */
enum {
  POINT_FIXED = 7,
  POINT_SETS = POINT_FIXED + 3 * TOFU_N_SETS,
  POINT_MEMORIZATION = POINT_SETS + 2 * 2,
  POINT_COLUMNS = POINT_MEMORIZATION + 2 * MIA_N_ATTACKS
};
static const char *const fixed_names[POINT_FIXED] = {"step",
                                                     "epoch",
                                                     "loss",
                                                     "model_utility",
                                                     "forget_quality",
                                                     "forget_kl",
                                                     "forget_truth_ratio_median"};
static const char *const set_stat_names[3] = {"prob", "rouge", "truth"};
static const int memorization_sets[2] = {TOFU_SET_FORGET, TOFU_SET_RETAIN};
static const char *const sel_keys[REPORT_N_SEL] = {"best", "final", "best_constrained"};

/* The names are summary.json's keys (the per-set numbers joined by "_"). */
static void column_name(int col, char *buf, size_t n) {
  if (col < POINT_FIXED)
    snprintf(buf, n, "%s", fixed_names[col]);
  else if (col < POINT_SETS)
    snprintf(buf, n, "%s_%s", tofu_set_keys[(col - POINT_FIXED) / 3],
             set_stat_names[(col - POINT_FIXED) % 3]);
  else if (col < POINT_MEMORIZATION)
    snprintf(buf, n, "%s_%s", tofu_set_keys[memorization_sets[(col - POINT_SETS) / 2]],
             (col - POINT_SETS) % 2 ? "em" : "es");
  else if ((col - POINT_MEMORIZATION) % 2 == 0)
    snprintf(buf, n, "mia_%s_auc", mia_attack_keys[(col - POINT_MEMORIZATION) / 2]);
  else
    snprintf(buf, n, "privleak_%s", mia_attack_keys[(col - POINT_MEMORIZATION) / 2]);
}

static double column_value(const report_point *p, int col) {
  if (!p->present) return NAN;
  switch (col) {
    case 0:
      return p->step >= 0 ? (double)p->step : NAN;
    case 1:
      return p->epoch;
    case 2:
      return p->loss;
    case 3:
      return p->mu;
    case 4:
      return p->fq;
    case 5:
      return p->forget_kl;
    case 6:
      return p->tr_median;
    default:
      break;
  }
  if (col < POINT_SETS) {
    const report_set_stats *s = &p->set[(col - POINT_FIXED) / 3];
    int k = (col - POINT_FIXED) % 3;
    return k == 0 ? s->prob : k == 1 ? s->rouge : s->truth;
  }
  if (col < POINT_MEMORIZATION) {
    const report_set_stats *s = &p->set[memorization_sets[(col - POINT_SETS) / 2]];
    return (col - POINT_SETS) % 2 ? s->em : s->es;
  }
  int a = (col - POINT_MEMORIZATION) / 2;
  return (col - POINT_MEMORIZATION) % 2 ? p->privleak[a] : p->mia_auc[a];
}

/* ---- CSV ------------------------------------------------------------------ */

int report_write_csv(const report *r, const char *path, lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *out = af.fp;
  char name[64];
  report_csv_lead_head(out, r);
  fprintf(out, ",seed,steps,steps_per_epoch,seconds,mu_fraction");
  for (int sel = 0; sel < REPORT_N_SEL; sel++)
    for (int c = 0; c < POINT_COLUMNS; c++) {
      column_name(c, name, sizeof name);
      fprintf(out, ",%s_%s", sel_keys[sel], name);
    }
  fprintf(out, ",target_forget_quality,target_model_utility,retain_model_utility\n");
  for (int i = 0; i < r->n_runs; i++) {
    const report_run *run = &r->runs[i];
    report_csv_lead(out, r, run);
    double fixed[] = {run->seed >= 0 ? (double)run->seed : NAN, (double)run->steps,
                      (double)run->steps_per_epoch, run->seconds, run->mu_fraction};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
      fputc(',', out);
      report_csv_number(out, fixed[k] < 0 ? NAN : fixed[k]);
    }
    for (int sel = 0; sel < REPORT_N_SEL; sel++)
      for (int c = 0; c < POINT_COLUMNS; c++) {
        fputc(',', out);
        report_csv_number(out, column_value(&run->sel[sel], c));
      }
    double refs[] = {report_field(&run->target, REPORT_F_FQ),
                     report_field(&run->target, REPORT_F_MU),
                     report_field(&run->retain, REPORT_F_MU)};
    for (size_t k = 0; k < sizeof refs / sizeof refs[0]; k++) {
      fputc(',', out);
      report_csv_number(out, refs[k]);
    }
    fputc('\n', out);
  }
  if (ferror(out)) {
    lethe_atomic_abort(&af);
    return lethe_errf(err, LETHE_E_IO, "%s: write error", path);
  }
  return lethe_atomic_commit(&af, err);
}

/* ---- JSON ----------------------------------------------------------------- */

static json_t *jnumber(double v) { return isfinite(v) ? json_real(v) : json_null(); }

static json_t *point_json(const report_point *p) {
  if (!p->present) return json_null();
  json_t *o = json_object();
  char name[64];
  for (int c = 0; c < POINT_COLUMNS; c++) {
    column_name(c, name, sizeof name);
    double v = column_value(p, c);
    json_object_set_new(o, name, c == 0 && isfinite(v) ? json_integer((json_int_t)v) : jnumber(v));
  }
  return o;
}

static json_t *stat_json(report_stat s) {
  json_t *o = json_object();
  json_object_set_new(o, "mean", jnumber(s.mean));
  json_object_set_new(o, "sd", jnumber(s.sd));
  json_object_set_new(o, "min", jnumber(s.min));
  json_object_set_new(o, "max", jnumber(s.max));
  json_object_set_new(o, "n", json_integer(s.n));
  return o;
}

static json_t *run_json(const report *r, const report_run *run) {
  json_t *o = json_object(), *settings = json_object();
  json_object_set_new(o, "name", json_string(run->name));
  for (int k = 0; k < r->n_keys; k++) {
    double v = run->numbers[k];
    json_t *j = !isfinite(v)                      ? json_string(run->values[k])
                : v == floor(v) && fabs(v) < 9e15 ? json_integer((json_int_t)v)
                                                  : json_real(v);
    json_object_set_new(settings, r->keys[k], j);
  }
  json_object_set_new(o, "settings", settings);
  json_object_set_new(o, "method", json_string(run->method));
  json_object_set_new(o, "split", json_string(run->split));
  json_object_set_new(o, "seed", run->seed >= 0 ? json_integer(run->seed) : json_null());
  json_object_set_new(o, "steps", run->steps >= 0 ? json_integer(run->steps) : json_null());
  json_object_set_new(o, "seconds", jnumber(run->seconds));
  json_object_set_new(o, "mu_fraction", jnumber(run->mu_fraction));
  for (int sel = 0; sel < REPORT_N_SEL; sel++)
    json_object_set_new(o, sel_keys[sel], point_json(&run->sel[sel]));
  json_object_set_new(o, "target", point_json(&run->target));
  json_object_set_new(o, "retain", point_json(&run->retain));
  json_object_set_new(o, "retain_replica", point_json(&run->retain_replica));
  return o;
}

static json_t *group_json(const report *r, const report_group *g) {
  json_t *o = json_object(), *names = json_array();
  json_object_set_new(o, "label", json_string(r->series[g->series].label));
  json_object_set_new(o, "method", json_string(r->series[g->series].method));
  json_object_set_new(o, "split", json_string(r->splits[g->split]));
  for (int i = 0; i < g->n_runs; i++)
    json_array_append_new(names, json_string(r->runs[g->runs[i]].name));
  json_object_set_new(o, "runs", names);
  for (int sel = 0; sel < REPORT_N_SEL; sel++) {
    json_t *s = json_object();
    json_object_set_new(s, "forget_quality", stat_json(report_group_stat(r, g, sel, REPORT_F_FQ)));
    json_object_set_new(s, "model_utility", stat_json(report_group_stat(r, g, sel, REPORT_F_MU)));
    json_object_set_new(s, "forget_kl", stat_json(report_group_stat(r, g, sel, REPORT_F_KL)));
    char key[48];
    snprintf(key, sizeof key, "privleak_%s", mia_attack_keys[MIA_PRIVLEAK_ATTACK]);
    json_object_set_new(s, key, stat_json(report_group_stat(r, g, sel, REPORT_F_PRIVLEAK)));
    json_object_set_new(o, sel_keys[sel], s);
  }
  return o;
}

/* The calibration gate per split and the claims (report_gate.c,
 * report_claims.c). */
static json_t *gate_json(const report *r) {
  json_t *a = json_array();
  for (int s = 0; s < r->n_splits; s++) {
    report_gate g;
    report_gate_of(r, s, &g);
    json_t *o = json_object();
    json_object_set_new(o, "split", json_string(r->splits[s]));
    json_object_set_new(o, "target_forget_quality", jnumber(g.target_fq));
    json_object_set_new(o, "retain_replica_forget_quality", jnumber(g.replica_fq));
    json_object_set_new(o, "retain_replica_model_utility", jnumber(g.replica_mu));
    json_object_set_new(o, "target_fq_max", json_real(REPORT_GATE_TARGET_FQ_MAX));
    json_object_set_new(o, "replica_fq_min", json_real(REPORT_GATE_REPLICA_FQ_MIN));
    json_object_set_new(o, "status", json_string(report_gate_status_names[g.status]));
    json_object_set_new(o, "discriminating", json_boolean(g.status == REPORT_GATE_PASS));
    json_object_set_new(o, "why", json_string(g.why));
    json_array_append_new(a, o);
  }
  return a;
}

static json_t *claims_json(const report *r) {
  report_claim *c;
  int n = report_claims(r, &c);
  json_t *a = json_array();
  for (int i = 0; i < n; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "number", json_integer(c[i].number));
    json_object_set_new(o, "id", json_string(c[i].id));
    json_object_set_new(o, "statement", json_string(c[i].statement));
    json_object_set_new(o, "split", json_string(c[i].split));
    json_object_set_new(o, "verdict", json_string(report_verdict_names[c[i].verdict]));
    json_object_set_new(o, "seeds", json_integer(c[i].n));
    json_object_set_new(o, "p", jnumber(c[i].p));
    json_object_set_new(o, "detail", json_string(c[i].detail));
    json_array_append_new(a, o);
  }
  free(c);
  return a;
}

int report_write_json(const report *r, const char *path, lethe_err *err) {
  json_t *root = json_object(), *keys = json_array(), *runs = json_array();
  json_t *groups = json_array(), *unfinished = json_array();
  json_object_set_new(root, "suite", json_string(r->name));
  json_object_set_new(root, "mu_fraction", jnumber(r->mu_fraction));
  json_object_set_new(root, "gate", gate_json(r));
  json_object_set_new(root, "claims", claims_json(r));
  for (int k = 0; k < r->n_keys; k++) json_array_append_new(keys, json_string(r->keys[k]));
  json_object_set_new(root, "varying", keys);
  for (int i = 0; i < r->n_runs; i++) json_array_append_new(runs, run_json(r, &r->runs[i]));
  json_object_set_new(root, "runs", runs);
  for (int g = 0; g < r->n_groups; g++) json_array_append_new(groups, group_json(r, &r->groups[g]));
  json_object_set_new(root, "groups", groups);
  for (int i = 0; i < r->n_unfinished; i++) {
    json_t *u = json_object();
    json_object_set_new(u, "name", json_string(r->unfinished[i].name));
    json_object_set_new(u, "status", json_string(r->unfinished[i].status));
    json_array_append_new(unfinished, u);
  }
  json_object_set_new(root, "unfinished", unfinished);
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(1) | JSON_REAL_PRECISION(17),
                                   LETHE_JSON_NEWLINE, err);
  json_decref(root);
  return rc;
}

/* ---- all three ---------------------------------------------------------------- */

int report_write(const char *dir, const report_options *opt, lethe_err *err) {
  report r;
  if (report_load(&r, dir, opt, err) != 0) return -1;
  static const char *const files[] = {"report.html", "results.csv", "results.json"};
  int (*const writers[][3])(const report *, const char *, lethe_err *) = {
      {report_write_html, report_write_csv, report_write_json},
      {report_write_muse_html, report_write_muse_csv, report_write_muse_json}};
  int kind = r.kind == LETHE_KIND_MUSE;
  int rc = 0;
  for (size_t i = 0; rc == 0 && i < sizeof files / sizeof files[0]; i++) {
    char *path = lethe_path_join(r.dir, files[i]);
    rc = writers[kind][i](&r, path, err);
    free(path);
  }
  report_free(&r);
  return rc;
}
