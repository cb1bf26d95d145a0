/* report_muse — the report of a MUSE suite (kind "muse"; MUSE, Shi et al.
 * 2024): report.html with, per forget split, the table MUSE's paper prints
 * (VerbMem forget, KnowMem forget, KnowMem retain, PrivLeak; the target and
 * retain models as reference rows), the KnowMem-retain trade-off against
 * VerbMem and KnowMem forget (each method's path over its evaluations, its
 * final point marked) and the trajectories; results.csv and results.json
 * with one row per finished run. Reads the report report_load filled; the
 * numbers are the runs' final evaluations (summary.json "final"). Not here:
 * TOFU suites' pages (report_html.c, report_results.c). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "report/report.h"
#include "report/svg.h"

#define PANEL_W 400
#define PANEL_H 320
#define TARGET_COLOUR "#000000"
#define RETAIN_COLOUR "#6b6b6b"

/* The columns of every table and file, in order, with their JSON keys. */
static const struct {
  int field;
  const char *key, *title, *tip;
} metrics[] = {
    {REPORT_F_VERBMEM_FORGET, "verbmem_forget", "VerbMem forget",
     "ROUGE-L F1 of greedy continuations of forget text: lower = less verbatim memory"},
    {REPORT_F_KNOWMEM_FORGET, "knowmem_forget", "KnowMem forget",
     "ROUGE-L F1 of answers to questions on the forget documents: lower = less knowledge"},
    {REPORT_F_KNOWMEM_RETAIN, "knowmem_retain", "KnowMem retain",
     "ROUGE-L F1 of answers to questions on the retain documents: utility, higher is better"},
    {REPORT_F_PRIVLEAK, "privleak", "PrivLeak",
     "Min-K% AUC gap to the retain model, percent: 0 ideal, < 0 under-, > 0 over-unlearning"},
    {REPORT_F_MIA_AUC, "mia_min_k_auc", "AUC",
     "Min-K% (k = 0.4) membership-inference AUC, forget vs holdout documents"},
};
enum { N_METRICS = sizeof metrics / sizeof metrics[0] };

static void esc(FILE *out, const char *s) { svg_escape(out, s); }

static json_t *number_json(double v) { return isfinite(v) ? json_real(v) : json_null(); }

/* ---- the table ------------------------------------------------------------------- */

static void table_head(FILE *out, const report *r) {
  fprintf(out, "<div class=\"scroll\"><table>\n<thead><tr><th>method</th>");
  for (int k = 0; k < r->n_keys; k++)
    if (report_key_is_setting(r, k)) {
      const char *last = strrchr(r->keys[k], '.');
      fprintf(out, "<th>");
      esc(out, last ? last + 1 : r->keys[k]);
      fprintf(out, "</th>");
    }
  fprintf(out, "<th title=\"number of seeds\">n</th>");
  for (int m = 0; m < N_METRICS; m++) {
    fprintf(out, "<th title=\"");
    esc(out, metrics[m].tip);
    fprintf(out, "\">%s</th>", metrics[m].title);
  }
  fprintf(out, "<th>steps</th><th>time&nbsp;s</th></tr></thead>\n<tbody>\n");
}

static void ref_row(FILE *out, const report *r, int split, int retain, int n_settings) {
  const report_point *p = report_split_ref(r, split, retain);
  if (!p) return;
  fprintf(out, "<tr class=\"ref\"><td class=\"l\" colspan=\"%d\">%s model</td>", 2 + n_settings,
          retain ? "retain" : "target");
  for (int m = 0; m < N_METRICS; m++) {
    char a[32];
    fprintf(out, "<td>%s</td>",
            report_fmt(a, sizeof a, report_field(p, metrics[m].field), metrics[m].field));
  }
  fprintf(out, "<td></td><td></td></tr>\n");
}

static void group_row(FILE *out, const report *r, const report_group *g) {
  const report_run *first = &r->runs[g->runs[0]];
  fprintf(out, "<tr><td class=\"l\"><span class=\"swatch\" style=\"background:%s\"></span>",
          r->series[g->series].colour);
  esc(out, report_run_title(first));
  fprintf(out, "</td>");
  for (int k = 0; k < r->n_keys; k++)
    if (report_key_is_setting(r, k)) {
      fprintf(out, "<td>");
      esc(out, first->values[k]);
      fprintf(out, "</td>");
    }
  fprintf(out, "<td>%d</td>", g->n_runs);
  for (int m = 0; m < N_METRICS; m++)
    report_stat_cell(out, report_group_stat(r, g, REPORT_SEL_FINAL, metrics[m].field),
                     metrics[m].field, 1, 0);
  double secs = 0;
  int n_secs = 0;
  for (int i = 0; i < g->n_runs; i++)
    if (isfinite(r->runs[g->runs[i]].seconds)) secs += r->runs[g->runs[i]].seconds, n_secs++;
  fprintf(out, "<td>%ld</td><td>", first->steps);
  if (n_secs)
    fprintf(out, "%.1f</td></tr>\n", secs / n_secs);
  else
    fprintf(out, "–</td></tr>\n");
}

static void write_table(FILE *out, const report *r, int split) {
  int n_settings = 0;
  for (int k = 0; k < r->n_keys; k++) n_settings += report_key_is_setting(r, k);
  table_head(out, r);
  ref_row(out, r, split, 0, n_settings);
  ref_row(out, r, split, 1, n_settings);
  for (int g = 0; g < r->n_groups; g++)
    if (r->groups[g].split == split) group_row(out, r, &r->groups[g]);
  fprintf(out, "</tbody></table></div>\n");
}

/* ---- the trade-off ------------------------------------------------------------- */

/* KnowMem retain against field_x: each group's path through its evaluations
 * (means over seeds), its final point filled; the target (star) and the
 * retain model (diamond). */
/* Widens [*lo, *hi] to v (NaN ignored). */
static void widen(double *lo, double *hi, double v) {
  if (!isfinite(v)) return;
  if (!(*lo <= v)) *lo = v;
  if (!(*hi >= v)) *hi = v;
}

/* An axis from 0 over the values of `field` the panel shows: every
 * evaluation of the split's runs and the two reference models. */
static void fit_axis(const report *r, int split, int field, const char *label, svg_axis *a) {
  double lo = 0, hi = NAN;
  for (int i = 0; i < r->n_runs; i++) {
    if (r->groups[r->runs[i].group].split != split) continue;
    for (size_t k = 0; k < r->runs[i].n_history; k++)
      widen(&lo, &hi, report_field(&r->runs[i].history[k], field));
    widen(&lo, &hi, report_field(&r->runs[i].sel[REPORT_SEL_FINAL], field));
  }
  for (int retain = 0; retain < 2; retain++) {
    const report_point *ref = report_split_ref(r, split, retain);
    if (ref) widen(&lo, &hi, report_field(ref, field));
  }
  svg_axis_fit(a, lo, isfinite(hi) && hi > lo ? hi : 1.0, 0, 1, 1.0);
  a->label = label;
}

static void tradeoff_panel(FILE *out, const report *r, int split, int field_x) {
  const char *x_title = field_x == REPORT_F_VERBMEM_FORGET ? "VerbMem forget" : "KnowMem forget";
  char title[160];
  snprintf(title, sizeof title, "%s: utility vs %s", r->splits[split], x_title);
  svg_axis x, y;
  fit_axis(r, split, field_x, x_title, &x);
  fit_axis(r, split, REPORT_F_KNOWMEM_RETAIN, "KnowMem retain (utility)", &y);
  svg_plot p;
  svg_open(&p, out, PANEL_W, PANEL_H, title, &x, &y);
  for (int g = 0; g < r->n_groups; g++) {
    const report_group *gr = &r->groups[g];
    if (gr->split != split) continue;
    const report_run *run = &r->runs[gr->runs[0]];
    const report_series *se = &r->series[gr->series];
    double *px = lethe_calloc(run->n_history + 1, sizeof(double));
    double *py = lethe_calloc(run->n_history + 1, sizeof(double));
    for (size_t k = 0; k < run->n_history; k++) {
      px[k] = report_group_stat_at(r, gr, run->history[k].step, field_x).mean;
      py[k] = report_group_stat_at(r, gr, run->history[k].step, REPORT_F_KNOWMEM_RETAIN).mean;
    }
    svg_line(&p, px, py, run->n_history, se->colour, 1.4, "4 3");
    free(px), free(py);
    double fx = report_group_stat(r, gr, REPORT_SEL_FINAL, field_x).mean;
    double fy = report_group_stat(r, gr, REPORT_SEL_FINAL, REPORT_F_KNOWMEM_RETAIN).mean;
    char tip[512], a[32], b[32];
    snprintf(tip, sizeof tip, "%s, final: %s %s, KnowMem retain %s", se->label, x_title,
             report_fmt(a, sizeof a, fx, field_x), report_fmt(b, sizeof b, fy, REPORT_F_KNOWMEM_RETAIN));
    svg_marker(&p, fx, fy, SVG_CIRCLE, 5, se->colour, 1, tip);
  }
  for (int retain = 0; retain < 2; retain++) {
    const report_point *ref = report_split_ref(r, split, retain);
    if (!ref) continue;
    const char *colour = retain ? RETAIN_COLOUR : TARGET_COLOUR, *name = retain ? "retain" : "target";
    double vx = report_field(ref, field_x), vy = report_field(ref, REPORT_F_KNOWMEM_RETAIN);
    svg_marker(&p, vx, vy, retain ? SVG_DIAMOND : SVG_STAR, 6, colour, !retain, name);
    svg_label(&p, vx, vy, 10, retain ? 14 : -6, colour, name);
  }
  svg_close(&p);
}

static void write_figures(FILE *out, const report *r, int split) {
  fprintf(out, "<div class=\"legend\">");
  for (int i = 0; i < r->n_series; i++) {
    fprintf(out, "<span class=\"key\"><i style=\"background:%s\"></i>", r->series[i].colour);
    esc(out, r->series[i].label);
    fprintf(out, "</span>");
  }
  fprintf(out, "</div>\n<div class=\"panels\">\n");
  tradeoff_panel(out, r, split, REPORT_F_VERBMEM_FORGET);
  tradeoff_panel(out, r, split, REPORT_F_KNOWMEM_FORGET);
  report_plot_trajectory(out, r, split, REPORT_F_PRIVLEAK);
  fprintf(out, "</div>\n<p class=\"caption\">Each method's path through its evaluations "
          "(dashed; the mean over seeds), its final evaluation filled; the target model a "
          "star, the retain model a diamond. Up and to the left is better: knowledge of the "
          "retain documents kept, the forget documents' text and facts gone. PrivLeak: the "
          "target (dashed) and the retain model (dotted, 0 by definition).</p>\n"
          "<div class=\"panels\">\n");
  report_plot_trajectory(out, r, split, REPORT_F_VERBMEM_FORGET);
  report_plot_trajectory(out, r, split, REPORT_F_KNOWMEM_FORGET);
  report_plot_trajectory(out, r, split, REPORT_F_KNOWMEM_RETAIN);
  fprintf(out, "</div>\n");
}

int report_write_muse_html(const report *r, const char *path, lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *out = af.fp;
  report_html_begin(out, r);
  fprintf(out, "<h1>lethe report: ");
  esc(out, r->name);
  fprintf(out, " (MUSE)</h1>\n<p class=\"meta\">%d of %d runs finished · %d forget split%s · "
          "%d method setting%s</p>\n",
          r->n_runs, r->n_total_runs, r->n_splits, r->n_splits == 1 ? "" : "s", r->n_series,
          r->n_series == 1 ? "" : "s");
  fprintf(out, "<p>MUSE's four numbers at each run's final evaluation (docs/metrics.md, "
          "\"MUSE\"): VerbMem forget and KnowMem forget should fall to the retain model's, "
          "KnowMem retain stay at the target's, PrivLeak be near 0. Scores are ROUGE-L F1 in "
          "[0, 1] (MUSE prints them × 100); PrivLeak is in percent.</p>\n");
  for (int i = 0; i < r->n_unfinished; i++) {
    fprintf(out, "%s", i ? ", " : "<p class=\"note\">Not reported: ");
    esc(out, r->unfinished[i].name);
    fprintf(out, " (%s)%s", r->unfinished[i].status, i + 1 == r->n_unfinished ? ".</p>\n" : "");
  }
  if (!r->n_runs) fprintf(out, "<p>No run has finished yet.</p>\n");
  for (int s = 0; s < r->n_splits; s++) {
    fprintf(out, "<h2>");
    esc(out, r->splits[s]);
    fprintf(out, "</h2>\n");
    write_table(out, r, s);
    write_figures(out, r, s);
  }
  report_html_end(out, r);
  if (ferror(out)) {
    lethe_atomic_abort(&af);
    return lethe_errf(err, LETHE_E_IO, "%s: write error", path);
  }
  return lethe_atomic_commit(&af, err);
}

/* ---- results.csv and results.json -------------------------------------------------- */

static const char *const point_names[3] = {"final", "target", "retain"};

static const report_point *run_point(const report_run *run, int which) {
  return which == 0 ? &run->sel[REPORT_SEL_FINAL] : which == 1 ? &run->target : &run->retain;
}

int report_write_muse_csv(const report *r, const char *path, lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *out = af.fp;
  report_csv_lead_head(out, r);
  fprintf(out, ",seed,steps,seconds,final_step");
  for (int w = 0; w < 3; w++)
    for (int m = 0; m < N_METRICS; m++) fprintf(out, ",%s_%s", point_names[w], metrics[m].key);
  fputc('\n', out);
  for (int i = 0; i < r->n_runs; i++) {
    const report_run *run = &r->runs[i];
    report_csv_lead(out, r, run);
    double fixed[] = {run->seed >= 0 ? (double)run->seed : NAN, run->steps >= 0 ? (double)run->steps : NAN,
                      run->seconds, report_field(&run->sel[REPORT_SEL_FINAL], REPORT_F_STEP)};
    for (size_t k = 0; k < sizeof fixed / sizeof fixed[0]; k++) {
      fputc(',', out);
      report_csv_number(out, fixed[k]);
    }
    for (int w = 0; w < 3; w++)
      for (int m = 0; m < N_METRICS; m++) {
        fputc(',', out);
        report_csv_number(out, report_field(run_point(run, w), metrics[m].field));
      }
    fputc('\n', out);
  }
  if (ferror(out)) {
    lethe_atomic_abort(&af);
    return lethe_errf(err, LETHE_E_IO, "%s: write error", path);
  }
  return lethe_atomic_commit(&af, err);
}

static json_t *point_json(const report_point *p) {
  if (!p->present) return json_null();
  json_t *o = json_object();
  double step = report_field(p, REPORT_F_STEP);
  if (isfinite(step)) json_object_set_new(o, "step", json_integer((json_int_t)step));
  for (int m = 0; m < N_METRICS; m++)
    json_object_set_new(o, metrics[m].key, number_json(report_field(p, metrics[m].field)));
  return o;
}

static json_t *run_json(const report *r, const report_run *run) {
  json_t *settings = json_object(), *history = json_array();
  for (int k = 0; k < r->n_keys; k++)
    json_object_set_new(settings, r->keys[k], json_string(run->values[k]));
  for (size_t k = 0; k < run->n_history; k++)
    json_array_append_new(history, point_json(&run->history[k]));
  json_t *o = json_pack("{s:s, s:o, s:s, s:s, s:o, s:o, s:o}", "name", run->name, "settings",
                        settings, "method", run->method, "split", run->split, "seed",
                        run->seed >= 0 ? json_integer(run->seed) : json_null(), "steps",
                        run->steps >= 0 ? json_integer(run->steps) : json_null(), "seconds",
                        number_json(run->seconds));
  for (int w = 0; w < 3; w++) json_object_set_new(o, point_names[w], point_json(run_point(run, w)));
  json_object_set_new(o, "history", history);
  return o;
}

int report_write_muse_json(const report *r, const char *path, lethe_err *err) {
  json_t *runs = json_array(), *unfinished = json_array(), *keys = json_array();
  for (int k = 0; k < r->n_keys; k++) json_array_append_new(keys, json_string(r->keys[k]));
  for (int i = 0; i < r->n_runs; i++) json_array_append_new(runs, run_json(r, &r->runs[i]));
  for (int i = 0; i < r->n_unfinished; i++)
    json_array_append_new(unfinished, json_pack("{s:s, s:s}", "name", r->unfinished[i].name,
                                                "status", r->unfinished[i].status));
  json_t *root = json_pack("{s:s, s:s, s:o, s:o, s:o}", "kind", "muse", "suite", r->name, "varying",
                           keys, "runs", runs, "unfinished", unfinished);
  int rc = lethe_json_write_atomic(path, root, JSON_INDENT(1) | JSON_REAL_PRECISION(17),
                                   LETHE_JSON_NEWLINE, err);
  json_decref(root);
  return rc;
}
