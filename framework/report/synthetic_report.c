/* synthetic_report — `lethe synthetic-report`: the paper's Figures 3, 4 and 9
 * from a directory of synthetic runs, as one self-contained HTML page (inline
 * SVG, no scripts, no network) and a CSV of key numbers (see synthetic.h).
 *
 * Runs that differ only in their seed form a series; each figure draws the
 * mean over seeds with a min–max band, in the method's colour (summary.json's
 * "colour", from the plugin; shades of it for several series of one method).
 * A run's summary.json says which figure it belongs to (synthetic.figure:
 * "fig4" — also the source of Fig. 9 — or "fig3"); untagged runs go to an
 * "other runs" section. Not here: running anything (synthetic_run.c) or
 * drawing primitives (svg.c, shared with the TOFU report).
 */
#include <dirent.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/kind.h"
#include "metrics/stats.h"
#include "report/svg.h"
#include "report/synthetic_report.h"

enum { M_FORGET_DIST, M_RETAIN_DIST, M_FORGET_KL, M_COUNT };
static const char *const metric_keys[M_COUNT] = {"forget_distance", "retain_distance", "forget_kl"};
static const char *const metric_titles[M_COUNT] = {"forget distance", "retain distance",
                                                   "forget KL"};

/* One series: the runs of one configuration, aggregated over seeds. */
typedef struct series {
  char key[1024];   /* everything but the seed */
  char label[96];   /* legend text */
  char method[64];  /* the paper's method name (summary.json's label) */
  char name[64];    /* the plugin's name */
  char base[8];     /* the method's colour: summary.json's, else a palette one */
  char figure[32];
  double alpha, lr, beta; /* beta NaN when the method has none */
  int steps, n_seeds, n_points;
  double *step;     /* (n_points) */
  double *mean[M_COUNT], *sd[M_COUNT], *lo[M_COUNT], *hi[M_COUNT], *median[M_COUNT]; /* (n_points) */
  double *vals[M_COUNT]; /* (n_seeds, n_points) every seed's values */
  double forgotten_sum, forgotten_lo, forgotten_hi; /* first step below the threshold */
  int n_forgotten;
  double threshold;
} series;

typedef struct report {
  series *s;
  int n, cap;
  char **paths; /* summary.json files found */
  int n_paths, cap_paths;
} report;

/* ---- finding and reading runs --------------------------------------------------- */

static void find_summaries(report *r, const char *dir, int depth) {
  DIR *d = opendir(dir);
  if (!d || depth > 8) {
    if (d) closedir(d);
    return;
  }
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char *path = lethe_path_join(dir, e->d_name);
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
      find_summaries(r, path, depth + 1);
      free(path);
    } else if (!strcmp(e->d_name, "summary.json")) {
      if (r->n_paths == r->cap_paths)
        r->paths = lethe_realloc(r->paths, sizeof(char *) * (size_t)(r->cap_paths = r->cap_paths * 2 + 16));
      r->paths[r->n_paths++] = path;
    } else {
      free(path);
    }
  }
  closedir(d);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The history of one run: n points of step and the three metrics. */
typedef struct history {
  int n;
  double *step, *value[M_COUNT];
} history;

static void history_free(history *h) {
  free(h->step);
  for (int m = 0; m < M_COUNT; m++) free(h->value[m]);
}

static int read_history(const char *path, history *h, lethe_err *err) {
  memset(h, 0, sizeof *h);
  FILE *f = fopen(path, "r");
  if (!f) return lethe_errf(err, LETHE_E_IO, "%s: cannot open", path);
  char line[8192];
  int cap = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    json_error_t je;
    json_t *o = json_loads(line, 0, &je);
    const json_t *st = json_object_get(o, "step");
    int ok = o && json_is_integer(st);
    for (int m = 0; ok && m < M_COUNT; m++) ok = json_is_number(json_object_get(o, metric_keys[m]));
    if (!ok) {
      json_decref(o);
      fclose(f);
      history_free(h);
      return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: not a synthetic history line", path, lineno);
    }
    if (h->n == cap) {
      cap = cap * 2 + 64;
      h->step = lethe_realloc(h->step, sizeof(double) * (size_t)cap);
      for (int m = 0; m < M_COUNT; m++)
        h->value[m] = lethe_realloc(h->value[m], sizeof(double) * (size_t)cap);
    }
    h->step[h->n] = (double)json_integer_value(st);
    for (int m = 0; m < M_COUNT; m++)
      h->value[m][h->n] = json_number_value(json_object_get(o, metric_keys[m]));
    h->n++;
    json_decref(o);
  }
  fclose(f);
  if (!h->n) return lethe_errf(err, LETHE_E_FORMAT, "%s: no evaluations", path);
  return 0;
}

static double jnum(const json_t *o, const char *k) {
  const json_t *v = json_object_get(o, k);
  return json_is_number(v) ? json_number_value(v) : NAN;
}

/* Finds or adds the series for a summary; fills its description. */
static series *series_for(report *r, const json_t *sum, int n_points) {
  char *params = json_dumps(json_object_get(sum, "params"), JSON_SORT_KEYS | JSON_COMPACT |
                                                                JSON_REAL_PRECISION(17));
  const char *fig = json_string_value(json_object_get(sum, "figure"));
  const char *label = json_string_value(json_object_get(sum, "label"));
  char key[1024];
  snprintf(key, sizeof key, "%s|%s|%.17g|%.17g|%.0f|%.0f|%s", fig ? fig : "", label ? label : "?",
           jnum(sum, "alpha"), jnum(sum, "lr"), jnum(sum, "steps"), jnum(sum, "eval_every"),
           params ? params : "");
  free(params);
  for (int i = 0; i < r->n; i++)
    if (!strcmp(r->s[i].key, key)) return &r->s[i];
  if (r->n == r->cap) r->s = lethe_realloc(r->s, sizeof(series) * (size_t)(r->cap = r->cap * 2 + 8));
  series *s = &r->s[r->n++];
  memset(s, 0, sizeof *s);
  snprintf(s->key, sizeof s->key, "%s", key);
  snprintf(s->figure, sizeof s->figure, "%s", fig ? fig : "");
  snprintf(s->method, sizeof s->method, "%s", label ? label : "?");
  const char *name = json_string_value(json_object_get(sum, "method"));
  const char *colour = json_string_value(json_object_get(sum, "colour"));
  snprintf(s->name, sizeof s->name, "%s", name ? name : s->method);
  if (lethe_is_colour(colour)) snprintf(s->base, sizeof s->base, "%s", colour);
  s->alpha = jnum(sum, "alpha");
  s->lr = jnum(sum, "lr");
  s->steps = (int)jnum(sum, "steps");
  s->beta = jnum(json_object_get(sum, "params"), "beta");
  s->threshold = jnum(sum, "forgotten_threshold");
  if (!strcmp(s->figure, "fig3") && isfinite(s->beta))
    snprintf(s->label, sizeof s->label, "%s β=%g", s->method, s->beta);
  else
    snprintf(s->label, sizeof s->label, "%s", s->method);
  s->n_points = n_points;
  s->step = lethe_calloc((size_t)n_points, sizeof(double));
  for (int m = 0; m < M_COUNT; m++) {
    double **arrs[] = {&s->mean[m], &s->sd[m], &s->lo[m], &s->hi[m], &s->median[m]};
    for (int k = 0; k < 5; k++) *arrs[k] = lethe_calloc((size_t)n_points, sizeof(double));
  }
  s->forgotten_lo = INFINITY, s->forgotten_hi = -INFINITY;
  return s;
}

static int add_run(report *r, const char *summary_path, lethe_err *err) {
  json_error_t je;
  json_t *sum = json_load_file(summary_path, 0, &je);
  if (!sum) return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: %s", summary_path, je.line, je.text);
  const char *kind = json_string_value(json_object_get(sum, "kind"));
  if (lethe_kind_parse(kind) != LETHE_KIND_SYNTHETIC) { /* another kind of run: not ours */
    json_decref(sum);
    return 0;
  }
  char *dir = lethe_strdup(summary_path);
  *strrchr(dir, '/') = '\0';
  char *hpath = lethe_path_join(dir, "history.jsonl");
  free(dir);
  history h;
  int rc = read_history(hpath, &h, err);
  if (rc == 0) {
    series *s = series_for(r, sum, h.n);
    if (s->n_points != h.n) {
      rc = lethe_errf(err, LETHE_E_FORMAT, "%s: %d evaluations, but other seeds of '%s' have %d",
                      hpath, h.n, s->label, s->n_points);
    } else {
      memcpy(s->step, h.step, sizeof(double) * (size_t)h.n);
      for (int m = 0; m < M_COUNT; m++) {
        s->vals[m] = lethe_realloc(s->vals[m], sizeof(double) * (size_t)h.n * (s->n_seeds + 1));
        memcpy(s->vals[m] + (size_t)s->n_seeds * h.n, h.value[m], sizeof(double) * (size_t)h.n);
      }
      double fs = jnum(sum, "forgotten_step");
      if (isfinite(fs)) {
        s->forgotten_sum += fs;
        s->forgotten_lo = fmin(s->forgotten_lo, fs);
        s->forgotten_hi = fmax(s->forgotten_hi, fs);
        s->n_forgotten++;
      }
      s->n_seeds++;
    }
    history_free(&h);
  }
  free(hpath);
  json_decref(sum);
  return rc;
}

/* Mean, sample sd, min, max and median over seeds at every point. */
static void finish_series(series *s) {
  int k = s->n_seeds;
  double *col = lethe_malloc(sizeof(double) * (size_t)k);
  for (int m = 0; m < M_COUNT; m++)
    for (int i = 0; i < s->n_points; i++) {
      double sum = 0, ss = 0;
      for (int r = 0; r < k; r++) col[r] = s->vals[m][(size_t)r * s->n_points + i], sum += col[r];
      double mean = sum / k;
      for (int r = 0; r < k; r++) ss += (col[r] - mean) * (col[r] - mean);
      s->median[m][i] = stats_median_sort(col, (size_t)k);
      s->mean[m][i] = mean;
      s->sd[m][i] = k > 1 ? sqrt(ss / (k - 1)) : 0.0;
      s->lo[m][i] = col[0];
      s->hi[m][i] = col[k - 1];
    }
  free(col);
}

static void series_free(series *s) {
  free(s->step);
  for (int m = 0; m < M_COUNT; m++) {
    free(s->mean[m]), free(s->sd[m]), free(s->lo[m]), free(s->hi[m]);
    free(s->median[m]), free(s->vals[m]);
  }
}

/* Display order: the paper's method order, then α descending, then β. */
static int method_rank(const char *m) {
  static const char *const order[] = {"GA", "GA+RT", "GA+KL", "IDK+RT", "DPO", "DPO+RT",
                                      "NPO", "NPO+RT", "NPO+KL", "SimNPO"};
  for (int i = 0; i < (int)(sizeof order / sizeof order[0]); i++)
    if (!strcmp(order[i], m)) return i;
  return 100;
}

static int cmp_series(const void *pa, const void *pb) {
  const series *a = pa, *b = pb;
  int c = strcmp(a->figure, b->figure);
  if (c) return c;
  if (a->alpha != b->alpha) return a->alpha > b->alpha ? -1 : 1;
  int ra = method_rank(a->method), rb = method_rank(b->method);
  if (ra != rb) return ra - rb;
  c = strcmp(a->method, b->method);
  if (c) return c;
  if (a->beta != b->beta && isfinite(a->beta) && isfinite(b->beta)) return a->beta < b->beta ? -1 : 1;
  return strcmp(a->key, b->key);
}

/* ---- SVG panels (svg.c) ------------------------------------------------------------ */

#define PANEL_W 420
#define PANEL_H 300
#define LOG_FLOOR 1e-5 /* log axes leave values at or below this out of their range */

/* Methods without a colour of their own: a palette colour each, the same for
 * every series of the method (series are sorted). */
static void assign_colours(series *all, int n) {
  int n_unknown = 0;
  for (int i = 0; i < n; i++) {
    if (all[i].base[0]) continue;
    int same = -1;
    for (int k = 0; k < i && same < 0; k++)
      if (!strcmp(all[k].name, all[i].name)) same = k;
    snprintf(all[i].base, sizeof all[i].base, "%s",
             same >= 0 ? all[same].base : svg_palette(n_unknown++));
  }
}

/* The colour of series k of a panel: its method's, in shades when the panel
 * has several series of that method (Fig. 3's β). */
static void colour_of(series *const *ss, int n, int k, char out[8]) {
  int variant = 0, variants = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(ss[i]->name, ss[k]->name)) variants++, variant += i < k;
  svg_variant_colour(ss[k]->base, variant, variants, out);
}

typedef struct range {
  double lo, hi;
} range;

static void widen(range *g, double v, int log_scale) {
  if (!isfinite(v) || (log_scale && v <= LOG_FLOOR)) return;
  if (!(g->lo <= v)) g->lo = v;
  if (!(g->hi >= v)) g->hi = v;
}

static void fit(svg_axis *a, const range *g, int log_scale, const char *label) {
  double lo = isfinite(g->lo) ? g->lo : (log_scale ? 1e-3 : 0.0);
  double hi = isfinite(g->hi) ? g->hi : 1.0;
  svg_axis_fit(a, lo, hi, log_scale, 1, 0);
  a->label = label;
}

/* x metric < 0 means "step". Draws the mean of each series, with the min–max
 * band when x is the step, and a legend. */
static void panel(FILE *out, const char *title, series *const *ss, int n, int xm, int ym,
                  int xlog, int ylog) {
  range xr = {NAN, NAN}, yr = {NAN, NAN};
  for (int k = 0; k < n; k++)
    for (int i = 0; i < ss[k]->n_points; i++) {
      widen(&xr, xm < 0 ? ss[k]->step[i] : ss[k]->mean[xm][i], xlog);
      widen(&yr, ss[k]->mean[ym][i], ylog);
      if (xm < 0) widen(&yr, ss[k]->hi[ym][i], ylog), widen(&yr, ss[k]->lo[ym][i], ylog);
    }
  char xlabel[64], ylabel[64];
  snprintf(xlabel, sizeof xlabel, "%s%s", xm < 0 ? "step" : metric_titles[xm], xlog ? " (log)" : "");
  snprintf(ylabel, sizeof ylabel, "%s%s", metric_titles[ym], ylog ? " (log)" : "");
  svg_axis x, y;
  if (xm < 0) /* steps: from 0 to the last one */
    x = (svg_axis){0, isfinite(xr.hi) && xr.hi > 0 ? xr.hi : 1, 0, xlabel};
  else
    fit(&x, &xr, xlog, xlabel);
  fit(&y, &yr, ylog, ylabel);
  svg_plot p;
  svg_open(&p, out, PANEL_W, PANEL_H, title, &x, &y);
  const char **labels = lethe_calloc((size_t)n + 1, sizeof *labels);
  const char **colours = lethe_calloc((size_t)n + 1, sizeof *colours);
  char(*shade)[8] = lethe_calloc((size_t)n + 1, sizeof *shade);
  for (int k = 0; k < n; k++) {
    const series *s = ss[k];
    colour_of(ss, n, k, shade[k]);
    if (xm < 0 && s->n_seeds > 1)
      svg_band(&p, s->step, s->lo[ym], s->hi[ym], (size_t)s->n_points, shade[k], 0.18);
    svg_line(&p, xm < 0 ? s->step : s->mean[xm], s->mean[ym], (size_t)s->n_points, shade[k], 1.6,
             NULL);
    labels[k] = s->label;
    colours[k] = shade[k];
  }
  svg_legend(&p, labels, colours, (size_t)n);
  svg_close(&p);
  free((void *)labels);
  free((void *)colours);
  free(shade);
}

/* ---- key numbers ------------------------------------------------------------------------ */

/* Index of the evaluation at `step`, or -1. */
static int at_step(const series *s, double step) {
  for (int i = 0; i < s->n_points; i++)
    if (s->step[i] == step) return i;
  return -1;
}

static const double key_steps[] = {0, 500, 800, 1000, 1200, 2000, 10000};
#define N_KEY_STEPS (int)(sizeof key_steps / sizeof key_steps[0])

static void write_csv(FILE *out, series *const *ss, int n) {
  fprintf(out, "figure,alpha,method,beta,lr,steps,seeds,metric,step,mean,sd,min,max,median\n");
  for (int k = 0; k < n; k++) {
    const series *s = ss[k];
    char beta[32] = "";
    if (isfinite(s->beta)) snprintf(beta, sizeof beta, "%g", s->beta);
    for (int m = 0; m < M_COUNT; m++)
      for (int j = 0; j < N_KEY_STEPS; j++) {
        int i = at_step(s, key_steps[j]);
        if (i < 0) continue;
        fprintf(out, "%s,%g,%s,%s,%g,%d,%d,%s,%.0f,%.6g,%.6g,%.6g,%.6g,%.6g\n", s->figure,
                s->alpha, s->method, beta, s->lr, s->steps, s->n_seeds, metric_keys[m], s->step[i],
                s->mean[m][i], s->sd[m][i], s->lo[m][i], s->hi[m][i], s->median[m][i]);
      }
    if (s->n_forgotten)
      fprintf(out, "%s,%g,%s,%s,%g,%d,%d,forgotten_step_of_%d_seeds,,%.6g,,%.6g,%.6g,\n", s->figure,
              s->alpha, s->method, beta, s->lr, s->steps, s->n_seeds, s->n_forgotten,
              s->forgotten_sum / s->n_forgotten, s->forgotten_lo, s->forgotten_hi);
  }
}

/* "mean [min, max]" of a metric at a step, or "–". */
static void cell(FILE *out, const series *s, int m, double step) {
  int i = step < 0 ? s->n_points - 1 : at_step(s, step);
  if (i < 0) {
    fprintf(out, "<td>–</td>");
    return;
  }
  fprintf(out, "<td>%.3g <small>[%.3g, %.3g]</small></td>", s->mean[m][i], s->lo[m][i], s->hi[m][i]);
}

static void key_table(FILE *out, series *const *ss, int n) {
  fprintf(out,
          "<table><tr><th>figure</th><th>α</th><th>method</th><th>β</th><th>lr</th><th>seeds</th>"
          "<th>forget dist. @0</th><th>retain dist. @0</th><th>forget dist. @1200</th>"
          "<th>retain dist. @800</th><th>retain dist. @1000</th><th>forget dist. @end</th>"
          "<th>retain dist. @end</th><th>forget KL @end</th><th>first step forget dist. &lt; %g</th></tr>\n",
          n ? ss[0]->threshold : 0.005);
  for (int k = 0; k < n; k++) {
    const series *s = ss[k];
    fprintf(out, "<tr><td>%s</td><td>%g</td><td>%s</td><td>", s->figure, s->alpha, s->method);
    if (isfinite(s->beta)) fprintf(out, "%g", s->beta);
    fprintf(out, "</td><td>%g</td><td>%d</td>", s->lr, s->n_seeds);
    cell(out, s, M_FORGET_DIST, 0);
    cell(out, s, M_RETAIN_DIST, 0);
    cell(out, s, M_FORGET_DIST, 1200);
    cell(out, s, M_RETAIN_DIST, 800);
    cell(out, s, M_RETAIN_DIST, 1000);
    cell(out, s, M_FORGET_DIST, -1);
    cell(out, s, M_RETAIN_DIST, -1);
    cell(out, s, M_FORGET_KL, -1);
    if (s->n_forgotten)
      fprintf(out, "<td>%.0f <small>[%.0f, %.0f]</small>%s</td></tr>\n",
              s->forgotten_sum / s->n_forgotten, s->forgotten_lo, s->forgotten_hi,
              s->n_forgotten < s->n_seeds ? " (not every seed)" : "");
    else
      fprintf(out, "<td>never</td></tr>\n");
  }
  fprintf(out, "</table>\n");
}

/* ---- the page ------------------------------------------------------------------------------ */

/* The series of one figure tag and one α (alpha NaN = every α). */
static int pick(series *all, int n, const char *figure, double alpha, series **out) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(all[i].figure, figure) && (isnan(alpha) || all[i].alpha == alpha)) out[k++] = &all[i];
  return k;
}

/* Every distinct α of a figure tag, descending (series are sorted that way). */
static int alphas_of(series *all, int n, const char *figure, double *out) {
  int k = 0;
  for (int i = 0; i < n; i++)
    if (!strcmp(all[i].figure, figure) && (k == 0 || out[k - 1] != all[i].alpha)) out[k++] = all[i].alpha;
  return k;
}

/* Forget distance, retain distance (both vs step) and the Pareto curve. */
static void distance_row(FILE *out, const char *tag, series **ss, int k) {
  char title[160];
  snprintf(title, sizeof title, "%s: forget distance", tag);
  panel(out, title, ss, k, -1, M_FORGET_DIST, 0, 1);
  snprintf(title, sizeof title, "%s: retain distance", tag);
  panel(out, title, ss, k, -1, M_RETAIN_DIST, 0, 1);
  snprintf(title, sizeof title, "%s: retain vs forget distance", tag);
  panel(out, title, ss, k, M_FORGET_DIST, M_RETAIN_DIST, 1, 1);
}

static void write_html(FILE *out, series *all, int n) {
  series **ss = lethe_calloc((size_t)n + 1, sizeof *ss);
  double *alphas = lethe_calloc((size_t)n + 1, sizeof *alphas); /* at most one per series */
  int runs = 0;
  for (int i = 0; i < n; i++) runs += all[i].n_seeds;
  fprintf(out,
          "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>lethe — synthetic experiment"
          "</title>\n<style>body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;"
          "margin:0 auto;padding:18px 20px 40px;max-width:1320px;background:#fafafa}"
          ".panels{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:10px;"
          "margin:6px 0}.panels svg{display:block;width:100%%;height:auto;border:1px solid #ddd;"
          "border-radius:4px;background:#fff}"
          "table{border-collapse:collapse;font-size:12px;background:#fff}"
          "td,th{border:1px solid #ccc;padding:2px 5px}small{color:#666}</style></head><body>\n"
          "<h1>Synthetic experiment (NPO paper §4)</h1>\n"
          "<p>%d runs in %d configurations. Random-feature model (ReLU features of a fixed\n"
          "Gaussian W, trained last layer), full-batch gradient descent from the reference model,\n"
          "method plugins unchanged. Lines: mean over seeds; bands: min–max over seeds.\n"
          "Distances are mean KL(π<sub>retrained</sub> ‖ π<sub>θ</sub>) on fresh forget- and\n"
          "retain-distribution samples; forget KL is mean KL(π<sub>ref</sub> ‖ π<sub>θ</sub>) on\n"
          "forget samples. On log axes, values below the lowest decade sit on its edge.</p>\n",
          runs, n);
  int na = alphas_of(all, n, "fig4", alphas);
  if (na) fprintf(out, "<h2>Figure 4: forget and retain distance, Pareto curve</h2>\n");
  for (int a = 0; a < na; a++) {
    char tag[64];
    snprintf(tag, sizeof tag, "α = %g", alphas[a]);
    fprintf(out, "<h3>%s</h3><div class='panels'>\n", tag);
    distance_row(out, tag, ss, pick(all, n, "fig4", alphas[a], ss));
    fprintf(out, "</div>\n");
  }
  if (na)
    fprintf(out, "<h2>Figure 9: forget KL (to the reference) vs step</h2><div class='panels'>\n");
  for (int a = 0; a < na; a++) {
    char title[64];
    snprintf(title, sizeof title, "α = %g: forget KL", alphas[a]);
    panel(out, title, ss, pick(all, n, "fig4", alphas[a], ss), -1, M_FORGET_KL, 0, 0);
  }
  if (na) fprintf(out, "</div>\n");
  int k3 = pick(all, n, "fig3", NAN, ss);
  if (k3) {
    fprintf(out,
            "<h2>Figure 3: GA and NPO over β (same step size)</h2><div class='panels'>\n");
    char title[64];
    snprintf(title, sizeof title, "α = %g: retain vs forget distance", ss[0]->alpha);
    panel(out, title, ss, k3, M_FORGET_DIST, M_RETAIN_DIST, 1, 1);
    panel(out, "forget distance", ss, k3, -1, M_FORGET_DIST, 0, 1);
    panel(out, "retain distance", ss, k3, -1, M_RETAIN_DIST, 0, 1);
    fprintf(out, "</div>\n");
  }
  for (int i = 0; i < n; i++) { /* runs of any other figure tag */
    if (!strcmp(all[i].figure, "fig4") || !strcmp(all[i].figure, "fig3")) continue;
    if (i > 0 && !strcmp(all[i - 1].figure, all[i].figure) && all[i - 1].alpha == all[i].alpha)
      continue;
    char tag[96];
    snprintf(tag, sizeof tag, "%s α = %g", *all[i].figure ? all[i].figure : "other runs", all[i].alpha);
    fprintf(out, "<h2>%s</h2><div class='panels'>\n", tag);
    distance_row(out, tag, ss, pick(all, n, all[i].figure, all[i].alpha, ss));
    panel(out, "forget KL", ss, pick(all, n, all[i].figure, all[i].alpha, ss), -1,
          M_FORGET_KL, 0, 0);
    fprintf(out, "</div>\n");
  }
  for (int i = 0; i < n; i++) ss[i] = &all[i];
  fprintf(out, "<h2>Key numbers</h2>\n<p>mean [min, max] over seeds; @end = the last evaluated step.</p>\n");
  key_table(out, ss, n);
  fprintf(out, "</body></html>\n");
  free(ss);
  free(alphas);
}

/* Writes through an atomic file: the page appears complete or not at all. */
static int write_atomic(const char *path, void (*fill)(FILE *, series *, int), series *all, int n,
                        lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  fill(af.fp, all, n);
  return lethe_atomic_commit(&af, err);
}

static void fill_csv(FILE *out, series *all, int n) {
  series **ss = lethe_calloc((size_t)n + 1, sizeof *ss);
  for (int i = 0; i < n; i++) ss[i] = &all[i];
  write_csv(out, ss, n);
  free(ss);
}

int synth_report(const char *dir, const char *out_html, const char *out_csv, lethe_err *err) {
  report r = {0};
  int rc = -1;
  find_summaries(&r, dir, 0);
  if (r.n_paths) qsort(r.paths, (size_t)r.n_paths, sizeof *r.paths, cmp_str);
  for (int i = 0; i < r.n_paths; i++)
    if (add_run(&r, r.paths[i], err) != 0) goto done;
  if (!r.n) {
    lethe_errf(err, LETHE_E_USAGE, "%s: no synthetic runs (summary.json with \"kind\": \"synthetic\")", dir);
    goto done;
  }
  for (int i = 0; i < r.n; i++) finish_series(&r.s[i]);
  qsort(r.s, (size_t)r.n, sizeof *r.s, cmp_series);
  assign_colours(r.s, r.n);
  if (write_atomic(out_html, write_html, r.s, r.n, err) == 0 &&
      write_atomic(out_csv, fill_csv, r.s, r.n, err) == 0)
    rc = 0;
done:
  for (int i = 0; i < r.n; i++) series_free(&r.s[i]);
  free(r.s);
  for (int i = 0; i < r.n_paths; i++) free(r.paths[i]);
  free(r.paths);
  return rc;
}
