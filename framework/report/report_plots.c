/* report_plots — the report's figures as inline SVG: forget quality vs model
 * utility per split (the paper's Fig. 5), PrivLeak vs model utility (the
 * same figure with MUSE's privacy number), trajectories of FQ, MU and forget
 * KL against the step (Figs. 6 and 10), and metrics against a numeric grid
 * setting (Fig. 11). SVG only: the page and its HTML legends are
 * report_html.c's; this file says which lines a grid figure has. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"
#include "report/svg.h"

#define PANEL_W 400
#define PANEL_H 300
#define TARGET_COLOUR "#000000"
#define RETAIN_COLOUR "#6b6b6b"
#define FQ_THRESHOLD 0.05 /* the paper's bar for "forgot" (Fig. 5) */

static const char *const field_axis[REPORT_N_FIELDS] = {
    [REPORT_F_FQ] = "forget quality (KS p-value, log)",
    [REPORT_F_MU] = "model utility",
    [REPORT_F_KL] = "forget KL to the target",
    [REPORT_F_PRIVLEAK] = "PrivLeak, Min-K% (%)",
    [REPORT_F_VERBMEM_FORGET] = "VerbMem forget (ROUGE-L F1)",
    [REPORT_F_KNOWMEM_FORGET] = "KnowMem forget (ROUGE-L F1)",
    [REPORT_F_KNOWMEM_RETAIN] = "KnowMem retain (ROUGE-L F1)",
};
static const char *const field_short[REPORT_N_FIELDS] = {
    [REPORT_F_FQ] = "forget quality",
    [REPORT_F_PRIVLEAK] = "PrivLeak",
    [REPORT_F_MU] = "model utility",
    [REPORT_F_KL] = "forget KL",
    [REPORT_F_VERBMEM_FORGET] = "VerbMem forget",
    [REPORT_F_KNOWMEM_FORGET] = "KnowMem forget",
    [REPORT_F_KNOWMEM_RETAIN] = "KnowMem retain",
};
static const int sel_shape[REPORT_N_SEL] = {SVG_CIRCLE, SVG_CIRCLE, SVG_SQUARE};
static const int sel_filled[REPORT_N_SEL] = {1, 0, 1};
static const char *const sel_dash[REPORT_N_SEL] = {NULL, "6 4", "2 3"};

/* Range of values seen, for fitting an axis. */
typedef struct range {
  double lo, hi;
} range;

static void widen(range *g, double v, int log_scale) {
  if (!isfinite(v) || (log_scale && !(v > 0))) return;
  if (!(g->lo <= v)) g->lo = v;
  if (!(g->hi >= v)) g->hi = v;
}

static void fit(svg_axis *a, const range *g, int log_scale, const char *label) {
  double lo = isfinite(g->lo) ? g->lo : (log_scale ? 1e-3 : 0.0);
  double hi = isfinite(g->hi) ? g->hi : 1.0;
  svg_axis_fit(a, lo, hi, log_scale, 1, 1.0);
  a->label = label;
}

static const report_series *series_of(const report *r, const report_group *g) {
  return &r->series[g->series];
}

/* The groups of one split, in series order; *out is malloc'd (free it). */
static int split_groups(const report *r, int split, const report_group ***out) {
  int n = 0;
  *out = lethe_calloc((size_t)r->n_groups + 1, sizeof **out);
  for (int se = 0; se < r->n_series; se++)
    for (int g = 0; g < r->n_groups; g++)
      if (r->groups[g].split == split && r->groups[g].series == se) (*out)[n++] = &r->groups[g];
  return n;
}

static void seeds_note(char *buf, size_t n, int runs) {
  if (runs > 1)
    snprintf(buf, n, ", mean of %d seeds", runs);
  else
    buf[0] = '\0';
}

/* ---- FQ (or PrivLeak) vs MU ------------------------------------------------ */

/* One split's panel of `field` (FQ on a log axis, or PrivLeak) against
 * model utility: each group at the three selections, the target and the
 * retain model. The dashed horizontal line is the field's mark: FQ 0.05
 * (the paper's "forgot"), PrivLeak 0 (the retain model's by definition). */
static void tradeoff_panel(FILE *out, const report *r, int split, int field) {
  const report_group **groups;
  int n = split_groups(r, split, &groups), log_scale = report_field_is_log(field);
  const report_point *target = report_split_ref(r, split, 0);
  const report_point *retain = report_split_ref(r, split, 1);
  double mark = field == REPORT_F_FQ ? FQ_THRESHOLD : 0.0;
  range yr = {NAN, NAN};
  widen(&yr, mark, log_scale);
  if (field == REPORT_F_FQ) widen(&yr, 1.0, 1);
  if (target) widen(&yr, report_field(target, field), log_scale);
  for (int i = 0; i < n; i++)
    for (int sel = 0; sel < REPORT_N_SEL; sel++) {
      report_stat s = report_group_stat(r, groups[i], sel, field);
      widen(&yr, s.lo, log_scale);
      widen(&yr, s.hi, log_scale);
    }
  svg_axis x = {0, 1, 0, "model utility"}, y;
  fit(&y, &yr, log_scale, field_axis[field]);
  char title[160], tip[512], seeds[48], mark_label[32];
  snprintf(title, sizeof title, "%s: %s vs model utility", r->splits[split], field_short[field]);
  snprintf(mark_label, sizeof mark_label, field == REPORT_F_FQ ? "FQ 0.05" : "retain model: 0");
  svg_plot p;
  svg_open(&p, out, PANEL_W, PANEL_H + 40, title, &x, &y);
  svg_hline(&p, mark, "#999", "4 3", mark_label, 0);
  if (target && isfinite(r->mu_fraction)) {
    char lbl[64];
    snprintf(lbl, sizeof lbl, "MU %.2g × target", r->mu_fraction);
    svg_vline(&p, r->mu_fraction * target->mu, "#999", "4 3", lbl);
  }
  if (!n) svg_note(&p, "no finished runs");
  for (int i = 0; i < n; i++) {
    const report_series *se = series_of(r, groups[i]);
    report_stat f[REPORT_N_SEL], m[REPORT_N_SEL];
    for (int sel = 0; sel < REPORT_N_SEL; sel++) {
      f[sel] = report_group_stat(r, groups[i], sel, field);
      m[sel] = report_group_stat(r, groups[i], sel, REPORT_F_MU);
    }
    double lx[2] = {m[REPORT_SEL_BEST].mean, m[REPORT_SEL_FINAL].mean};
    double ly[2] = {f[REPORT_SEL_BEST].mean, f[REPORT_SEL_FINAL].mean};
    svg_line(&p, lx, ly, 2, se->colour, 1.2, "3 3");
    seeds_note(seeds, sizeof seeds, groups[i]->n_runs);
    for (int sel = 0; sel < REPORT_N_SEL; sel++) {
      if (f[sel].n > 1) {
        svg_errbar_y(&p, m[sel].mean, f[sel].lo, f[sel].hi, se->colour);
        svg_errbar_x(&p, f[sel].mean, m[sel].lo, m[sel].hi, se->colour);
      }
      char a[32], b[32];
      snprintf(tip, sizeof tip, "%s, %s (%s): %s %s, MU %s%s", se->label, r->splits[split],
               report_sel_titles[sel], field_short[field],
               report_fmt(a, sizeof a, f[sel].mean, field),
               report_fmt(b, sizeof b, m[sel].mean, REPORT_F_MU), seeds);
      svg_marker(&p, m[sel].mean, f[sel].mean, sel_shape[sel],
                 sel == REPORT_SEL_CONSTRAINED ? 3.5 : 5, se->colour, sel_filled[sel], tip);
    }
  }
  const report_point *refs[2] = {target, retain};
  const char *names[2] = {"target", "retain"};
  for (int k = 0; k < 2; k++) {
    if (!refs[k]) continue;
    char a[32], b[32];
    double v = report_field(refs[k], field);
    snprintf(tip, sizeof tip, "%s model: %s %s, MU %s", names[k], field_short[field],
             report_fmt(a, sizeof a, v, field), report_fmt(b, sizeof b, refs[k]->mu, REPORT_F_MU));
    svg_marker(&p, refs[k]->mu, v, k ? SVG_DIAMOND : SVG_STAR, 6,
               k ? RETAIN_COLOUR : TARGET_COLOUR, !k, tip);
    svg_label(&p, refs[k]->mu, v, 10, k ? 14 : -6, k ? RETAIN_COLOUR : TARGET_COLOUR, names[k]);
  }
  svg_close(&p);
  free((void *)groups);
}

int report_plot_tradeoff(FILE *out, const report *r) {
  for (int s = 0; s < r->n_splits; s++) tradeoff_panel(out, r, s, REPORT_F_FQ);
  return r->n_splits;
}

int report_has_privleak(const report *r) {
  for (int i = 0; i < r->n_runs; i++)
    for (int sel = 0; sel < REPORT_N_SEL; sel++)
      if (isfinite(report_field(&r->runs[i].sel[sel], REPORT_F_PRIVLEAK))) return 1;
  return 0;
}

int report_plot_privleak(FILE *out, const report *r) {
  if (!report_has_privleak(r)) return 0;
  for (int s = 0; s < r->n_splits; s++) tradeoff_panel(out, r, s, REPORT_F_PRIVLEAK);
  return r->n_splits;
}

/* ---- trajectories -------------------------------------------------------------- */

/* A group's trajectory of one field: at each step its first run was
 * evaluated at, the mean and the ±1 sd band over seeds (NaN for one seed). */
typedef struct trajectory {
  size_t n;
  double *steps, *mean, *lo, *hi; /* (n) each */
} trajectory;

static void trajectory_of(const report *r, const report_group *g, int field, trajectory *t) {
  const report_run *run = &r->runs[g->runs[0]];
  t->n = run->n_history;
  t->steps = lethe_calloc(t->n + 1, sizeof(double));
  t->mean = lethe_calloc(t->n + 1, sizeof(double));
  t->lo = lethe_calloc(t->n + 1, sizeof(double));
  t->hi = lethe_calloc(t->n + 1, sizeof(double));
  for (size_t k = 0; k < t->n; k++) {
    t->steps[k] = (double)run->history[k].step;
    report_stat s = report_group_stat_at(r, g, run->history[k].step, field);
    t->mean[k] = s.mean;
    t->lo[k] = s.n > 1 ? s.lo : NAN;
    t->hi[k] = s.n > 1 ? s.hi : NAN;
  }
}

static void trajectory_free(trajectory *t) {
  free(t->steps);
  free(t->mean);
  free(t->lo);
  free(t->hi);
}

void report_plot_trajectory(FILE *out, const report *r, int split, int field) {
  const report_group **groups;
  int n = split_groups(r, split, &groups);
  int log_scale = report_field_is_log(field);
  const report_point *target = report_split_ref(r, split, 0);
  const report_point *retain = report_split_ref(r, split, 1);
  range xr = {0, NAN}, yr = {NAN, NAN};
  trajectory *tr = lethe_calloc((size_t)n + 1, sizeof *tr);
  for (int i = 0; i < n; i++) {
    trajectory_of(r, groups[i], field, &tr[i]);
    for (size_t k = 0; k < tr[i].n; k++) {
      widen(&xr, tr[i].steps[k], 0);
      widen(&yr, tr[i].lo[k], log_scale);
      widen(&yr, tr[i].hi[k], log_scale);
    }
  }
  if (field == REPORT_F_FQ) widen(&yr, 1.0, 1);
  if (field != REPORT_F_KL) {
    if (target) widen(&yr, report_field(target, field), log_scale);
    if (retain) widen(&yr, report_field(retain, field), log_scale);
  }
  /* steps: from 0 to the last one, not rounded up */
  svg_axis x = {0, isfinite(xr.hi) && xr.hi > 0 ? xr.hi : 1, 0, "unlearning step"}, y;
  fit(&y, &yr, log_scale, field_axis[field]);
  if (field == REPORT_F_MU) y.lo = 0, y.hi = 1;
  char title[160];
  snprintf(title, sizeof title, "%s: %s", r->splits[split], field_short[field]);
  svg_plot p;
  svg_open(&p, out, PANEL_W, PANEL_H, title, &x, &y);
  if (field != REPORT_F_KL) {
    /* unlabelled: the legend names the dashed and dotted lines */
    if (target) svg_hline(&p, report_field(target, field), TARGET_COLOUR, "5 4", NULL, 0);
    if (retain) svg_hline(&p, report_field(retain, field), RETAIN_COLOUR, "2 3", NULL, 0);
  }
  if (!n) svg_note(&p, "no finished runs");
  for (int i = 0; i < n; i++) {
    const report_series *se = series_of(r, groups[i]);
    const trajectory *t = &tr[i];
    svg_band(&p, t->steps, t->lo, t->hi, t->n, se->colour, 0.16);
    svg_line(&p, t->steps, t->mean, t->n, se->colour, 2.0, NULL);
    if (t->n <= 40)
      for (size_t k = 0; k < t->n; k++) {
        char tip[256], a[32];
        snprintf(tip, sizeof tip, "%s, step %ld: %s %s", se->label, (long)t->steps[k],
                 field_short[field], report_fmt(a, sizeof a, t->mean[k], field));
        svg_marker(&p, t->steps[k], t->mean[k], SVG_CIRCLE, 2.4, se->colour, 1, tip);
      }
    trajectory_free(&tr[i]);
  }
  svg_close(&p);
  free(tr);
  free((void *)groups);
}

int report_plot_trajectories(FILE *out, const report *r, int split) {
  static const int fields[] = {REPORT_F_FQ, REPORT_F_MU, REPORT_F_KL};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    report_plot_trajectory(out, r, split, fields[i]);
  return (int)(sizeof fields / sizeof fields[0]);
}

/* ---- metrics vs a numeric setting ----------------------------------------------- */

int report_grid_applies(const report *r, int key, int split) {
  if (key < 0 || key >= r->n_keys || !r->key_numeric[key]) return 0;
  double first = NAN;
  for (int i = 0; i < r->n_runs; i++) {
    double v = r->runs[i].numbers[key];
    if (strcmp(r->runs[i].split, r->splits[split]) || !isfinite(v)) continue;
    if (!isfinite(first))
      first = v;
    else if (v != first)
      return 1;
  }
  return 0;
}

/* The groups of a split that share everything but `key` (and seeds) form a
 * line, named by the series label without `key`. */
typedef struct grid_line {
  char *id;
  const report_group **groups; /* sorted by the key's value */
  int n;
  char base[8], colour[8]; /* the method's colour; this line's shade of it */
} grid_line;

/* The lines of a grid figure; *out is malloc'd (free_lines). */
static int grid_lines(const report *r, int key, int split, grid_line **out) {
  const report_group **groups;
  int n = split_groups(r, split, &groups), n_lines = 0;
  grid_line *lines = *out = lethe_calloc((size_t)n + 1, sizeof *lines);
  for (int i = 0; i < n; i++) {
    char *id = report_settings_label(r, &r->runs[groups[i]->runs[0]], key);
    int l = -1;
    for (int k = 0; k < n_lines && l < 0; k++)
      if (!strcmp(lines[k].id, id)) l = k;
    if (l < 0) {
      l = n_lines++;
      lines[l] = (grid_line){id, lethe_calloc((size_t)n + 1, sizeof(void *)), 0, {0}, {0}};
      snprintf(lines[l].base, sizeof lines[l].base, "%s", series_of(r, groups[i])->base);
    } else {
      free(id);
    }
    grid_line *ln = &lines[l];
    double v = r->runs[groups[i]->runs[0]].numbers[key];
    int at = ln->n++;
    while (at > 0 && r->runs[ln->groups[at - 1]->runs[0]].numbers[key] > v) {
      ln->groups[at] = ln->groups[at - 1];
      at--;
    }
    ln->groups[at] = groups[i];
  }
  /* Lines of the same method: shades of its colour. */
  for (int l = 0; l < n_lines; l++) {
    int variant = 0, variants = 0;
    for (int k = 0; k < n_lines; k++)
      if (!strcmp(lines[k].base, lines[l].base)) variants++, variant += k < l;
    svg_variant_colour(lines[l].base, variant, variants, lines[l].colour);
  }
  free((void *)groups);
  return n_lines;
}

static void grid_panel(FILE *out, const report *r, int key, int split, const grid_line *lines,
                       int n_lines, int field) {
  int log_scale = report_field_is_log(field);
  range xr = {NAN, NAN}, yr = {NAN, NAN};
  for (int l = 0; l < n_lines; l++)
    for (int i = 0; i < lines[l].n; i++) {
      widen(&xr, r->runs[lines[l].groups[i]->runs[0]].numbers[key], 0);
      for (int sel = 0; sel < REPORT_N_SEL; sel++) {
        report_stat s = report_group_stat(r, lines[l].groups[i], sel, field);
        widen(&yr, s.lo, log_scale);
        widen(&yr, s.hi, log_scale);
      }
    }
  if (field == REPORT_F_FQ) widen(&yr, 1.0, 1);
  int x_log = xr.lo > 0 && xr.hi / xr.lo >= 8;
  svg_axis x, y;
  svg_axis_fit(&x, xr.lo, xr.hi, x_log, 0, 0);
  x.label = r->keys[key];
  fit(&y, &yr, log_scale, field_axis[field]);
  if (field == REPORT_F_MU) y.lo = 0, y.hi = 1;
  const char *last = strrchr(r->keys[key], '.');
  char title[200];
  snprintf(title, sizeof title, "%s: %s vs %s", r->splits[split], field_short[field],
           last ? last + 1 : r->keys[key]);
  svg_plot p;
  svg_open(&p, out, PANEL_W, PANEL_H, title, &x, &y);
  if (field == REPORT_F_FQ) svg_hline(&p, FQ_THRESHOLD, "#999", "4 3", "FQ 0.05", 0);
  for (int l = 0; l < n_lines; l++) {
    const grid_line *ln = &lines[l];
    double *xs = lethe_calloc((size_t)ln->n + 1, sizeof *xs);
    double *ys = lethe_calloc((size_t)ln->n + 1, sizeof *ys);
    for (int sel = 0; sel < REPORT_N_SEL; sel++) {
      for (int i = 0; i < ln->n; i++) {
        report_stat s = report_group_stat(r, ln->groups[i], sel, field);
        xs[i] = r->runs[ln->groups[i]->runs[0]].numbers[key];
        ys[i] = s.mean;
        if (s.n > 1) svg_errbar_y(&p, xs[i], s.lo, s.hi, ln->colour);
        char tip[400], a[32], seeds[48];
        seeds_note(seeds, sizeof seeds, ln->groups[i]->n_runs);
        snprintf(tip, sizeof tip, "%s, %s=%g (%s): %s %s%s", ln->id, r->keys[key], xs[i],
                 report_sel_titles[sel], field_short[field], report_fmt(a, sizeof a, s.mean, field),
                 seeds);
        svg_marker(&p, xs[i], ys[i], sel_shape[sel], sel == REPORT_SEL_CONSTRAINED ? 3 : 4,
                   ln->colour, sel_filled[sel], tip);
      }
      svg_line(&p, xs, ys, (size_t)ln->n, ln->colour, sel == REPORT_SEL_BEST ? 2.0 : 1.5,
               sel_dash[sel]);
    }
    free(xs);
    free(ys);
  }
  svg_close(&p);
}

static void free_lines(grid_line *lines, int n_lines) {
  for (int l = 0; l < n_lines; l++) {
    free(lines[l].id);
    free((void *)lines[l].groups);
  }
  free(lines);
}

int report_grid_legend(const report *r, int key, int split, report_legend_item **items) {
  grid_line *lines;
  int n_lines = grid_lines(r, key, split, &lines);
  *items = lethe_calloc((size_t)n_lines + 1, sizeof **items);
  for (int l = 0; l < n_lines; l++) {
    (*items)[l].label = lines[l].id;
    lines[l].id = NULL; /* now the item's */
    snprintf((*items)[l].colour, sizeof (*items)[l].colour, "%s", lines[l].colour);
  }
  free_lines(lines, n_lines);
  return n_lines;
}

void report_legend_free(report_legend_item *items, int n) {
  for (int i = 0; i < n; i++) free(items[i].label);
  free(items);
}

int report_plot_grid(FILE *out, const report *r, int key, int split) {
  static const int fields[] = {REPORT_F_FQ, REPORT_F_MU, REPORT_F_KL};
  grid_line *lines;
  int n_lines = grid_lines(r, key, split, &lines);
  for (size_t f = 0; f < sizeof fields / sizeof fields[0]; f++)
    grid_panel(out, r, key, split, lines, n_lines, fields[f]);
  free_lines(lines, n_lines);
  return (int)(sizeof fields / sizeof fields[0]);
}
