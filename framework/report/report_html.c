/* report_html — assembles report.html: the summary and how to read it, the
 * figures (report_plots.c) with HTML legends, the results table (groups of
 * seeds, then every run), and sample answers. One self-contained file: inline
 * CSS and SVG, no scripts, no network. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "lethe/version.h"
#include "report/report.h"
#include "report/svg.h"

static const char page_css[] =
    "body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;color:#1d1d1f;"
    "max-width:1240px;margin:0 auto;padding:18px 20px 40px;background:#fafafa}\n"
    "h1{font-size:24px;margin:4px 0 6px}h2{font-size:19px;margin:30px 0 8px;"
    "border-bottom:2px solid #ddd;padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px}\n"
    "p{margin:6px 0;max-width:1100px}.meta{color:#555}code{font-size:12.5px}\n"
    ".note{background:#fff8e1;border-left:4px solid #f0b400;padding:8px 12px;margin:10px 0}\n"
    ".warn{background:#fdecea;border-left:4px solid #d93025;padding:8px 12px;margin:10px 0}\n"
    ".panels{display:grid;grid-template-columns:repeat(3,minmax(0,1fr));gap:10px;margin:6px 0}\n"
    ".panels svg{display:block;width:100%;height:auto;border:1px solid #ddd;border-radius:4px;"
    "background:#fff}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:4px 16px;margin:6px 0;font-size:13px}\n"
    ".key{white-space:nowrap}.key i{display:inline-block;width:14px;height:10px;"
    "margin-right:5px;border-radius:2px;vertical-align:baseline}\n"
    ".key b{display:inline-block;width:22px;margin-right:5px;vertical-align:middle;"
    "border-top:2px solid #000}\n"
    ".caption{color:#444;font-size:13px}\n"
    "table{border-collapse:collapse;font-size:12px;background:#fff;margin:6px 0}\n"
    ".scroll{overflow-x:auto}\n"
    "th,td{border:1px solid #ddd;padding:3px 4px;text-align:right;white-space:nowrap}\n"
    "th{background:#f0f0f0;font-weight:600;text-align:center}\n"
    "td.l{text-align:left}tr.ref td{background:#f6f6f6;color:#444;font-style:italic}\n"
    "tr.split td{background:#e8eef7;text-align:left;font-weight:600}\n"
    "td.top{font-weight:700;background:#e6f4ea}small{color:#777}\n"
    ".swatch{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:5px}\n"
    "table.samples{width:100%;table-layout:fixed}table.samples td{text-align:left;"
    "white-space:normal}\n"
    "table.samples td.q{background:#f6f6f6}table.samples td.g{font-family:ui-monospace,"
    "Menlo,Consolas,monospace;font-size:12px;word-wrap:break-word}\n"
    "details{margin:8px 0}summary{cursor:pointer;font-weight:600;font-size:15px}\n"
    "footer{margin-top:30px;color:#777;font-size:12px}\n"
    "td.w{white-space:normal;max-width:520px}td.pass{background:#e6f4ea}"
    "td.fail{background:#fdecea}\n"
    "tr.holds td.v{background:#e6f4ea}tr.fails td.v{background:#fdecea}"
    "tr.ns td.v,tr.nt td.v{background:#f6f6f6}\n";

static void esc(FILE *out, const char *s) { svg_escape(out, s); }

void report_stat_cell(FILE *out, report_stat s, int field, int spread, int top) {
  char a[32];
  fprintf(out, "<td%s>%s", top ? " class=\"top\"" : "", report_fmt(a, sizeof a, s.mean, field));
  /* the spread over seeds, unless it is too small to print */
  if (spread && s.n > 1 && isfinite(s.sd)) {
    if (report_field_is_log(field) && s.sd >= 0.02)
      fprintf(out, " <small>×÷%.2g</small>", pow(10.0, s.sd));
    else if (!report_field_is_log(field) && field != REPORT_F_STEP && s.sd >= 0.0005)
      fprintf(out, " <small>±%.3f</small>", s.sd);
  }
  fprintf(out, "</td>");
}

/* The settings shown as their own columns: their count and, when out is
 * not NULL, their indices (*out malloc'd: free it). */
static int label_keys(const report *r, int **out) {
  int n = 0, *keys = lethe_calloc((size_t)r->n_keys + 1, sizeof *keys);
  for (int k = 0; k < r->n_keys; k++)
    if (report_key_is_setting(r, k)) keys[n++] = k;
  if (out)
    *out = keys;
  else
    free(keys);
  return n;
}

/* ---- legends ---------------------------------------------------------------- */

static void series_legend(FILE *out, const report *r) {
  for (int i = 0; i < r->n_series; i++) {
    fprintf(out, "<span class=\"key\"><i style=\"background:%s\"></i>", r->series[i].colour);
    esc(out, r->series[i].label);
    fprintf(out, "</span>");
  }
}

/* The lines of report_plot_grid's panels. */
static void grid_legend(FILE *out, const report *r, int key, int split) {
  report_legend_item *items;
  int n = report_grid_legend(r, key, split, &items);
  for (int i = 0; i < n; i++) {
    fprintf(out, "<span class=\"key\"><i style=\"background:%s\"></i>", items[i].colour);
    esc(out, items[i].label);
    fprintf(out, "</span>");
  }
  report_legend_free(items, n);
}

static void line_key(FILE *out, const char *colour, const char *style, const char *text) {
  fprintf(out, "<span class=\"key\"><b style=\"border-top:2px %s %s\"></b>%s</span>", style, colour,
          text);
}

/* ---- summary ----------------------------------------------------------------- */

static void write_intro(FILE *out, const report *r) {
  fprintf(out, "<h1>lethe report: ");
  esc(out, r->name);
  fprintf(out,
          "</h1>\n<p class=\"meta\">%d of %d runs finished · %d forget split%s · %d method "
          "setting%s",
          r->n_runs, r->n_total_runs, r->n_splits, r->n_splits == 1 ? "" : "s", r->n_series,
          r->n_series == 1 ? "" : "s");
  int seeds = 0;
  for (int g = 0; g < r->n_groups; g++)
    if (r->groups[g].n_runs > seeds) seeds = r->groups[g].n_runs;
  if (seeds > 1) fprintf(out, " · up to %d seeds each", seeds);
  if (r->n_keys) {
    fprintf(out, " · varying: ");
    for (int k = 0; k < r->n_keys; k++) {
      fprintf(out, "%s<code>", k ? ", " : "");
      esc(out, r->keys[k]);
      fprintf(out, "</code>");
    }
  }
  fprintf(out, "</p>\n");
  if (r->n_unfinished) {
    fprintf(out, "<div class=\"warn\"><b>%d run%s not in this report</b> (not finished): ",
            r->n_unfinished, r->n_unfinished == 1 ? " is" : "s are");
    for (int i = 0; i < r->n_unfinished; i++) {
      fprintf(out, "%s<code>", i ? ", " : "");
      esc(out, r->unfinished[i].name);
      fprintf(out, "</code> (%s)", r->unfinished[i].status);
    }
    fprintf(out,
            ". Run <code>lethe suite run</code> again to finish them, then "
            "<code>lethe report</code>.</div>\n");
  }
  for (int s = 0; s < r->n_splits; s++) {
    const report_point *ref = report_split_ref(r, s, 0);
    int differ = 0;
    for (int i = 0; ref && i < r->n_runs; i++)
      if (r->groups[r->runs[i].group].split == s && r->runs[i].target.present &&
          fabs(r->runs[i].target.mu - ref->mu) > 1e-9)
        differ = 1;
    if (!differ) continue;
    fprintf(out, "<div class=\"warn\">The runs of <b>");
    esc(out, r->splits[s]);
    fprintf(out,
            "</b> do not share one target model (a varying setting changes it); the "
            "target and retain marks and rows show the first run's.</div>\n");
  }
  char frac[32];
  if (isfinite(r->mu_fraction))
    snprintf(frac, sizeof frac, "%.2g", r->mu_fraction);
  else
    snprintf(frac, sizeof frac, "a set fraction");
  fprintf(out,
          "<div class=\"note\"><p><b>Read forget quality and model utility together.</b> At this "
          "small scale forget quality (FQ) alone rewards collapse: a model that has forgotten "
          "every author — the retain authors too — gives retain-like truth ratios on the forget "
          "set, so its FQ is high while its model utility (MU) is near zero. A high FQ only means "
          "unlearning when MU stays close to the target's.</p>\n"
          "<p>Each run is shown at three evaluations: the <b>highest FQ</b> (the paper's "
          "selection, Fig. 5: it picks the stopping point on the benchmark itself), the "
          "<b>final</b> evaluation, and the <b>utility-constrained</b> one — the highest FQ among "
          "evaluations whose MU is at least %s × the target's%s.</p></div>\n",
          frac, r->mu_fraction_mixed ? " (the runs used different fractions)" : "");
}

/* "1 seed", "5 seeds" into buf (32 bytes). */
static const char *seeds_text(char *buf, int n) {
  snprintf(buf, 32, "%d seed%s", n, n == 1 ? "" : "s");
  return buf;
}

/* One line per split: the best utility-constrained group, the highest-FQ
 * group and whether its MU clears the bar, the groups above FQ 0.05. */
static void write_headlines(FILE *out, const report *r) {
  if (!r->n_groups) return;
  fprintf(out, "<h2>Headlines</h2>\n<ul>\n");
  for (int s = 0; s < r->n_splits; s++) {
    const report_point *target = report_split_ref(r, s, 0);
    double bar = target && isfinite(r->mu_fraction) ? r->mu_fraction * target->mu : NAN;
    int best_c = -1, best_any = -1;
    double best_c_fq = -1, best_any_fq = -1;
    for (int g = 0; g < r->n_groups; g++) {
      if (r->groups[g].split != s) continue;
      report_stat c = report_group_stat(r, &r->groups[g], REPORT_SEL_CONSTRAINED, REPORT_F_FQ);
      report_stat b = report_group_stat(r, &r->groups[g], REPORT_SEL_BEST, REPORT_F_FQ);
      if (c.n && c.mean > best_c_fq) best_c_fq = c.mean, best_c = g;
      if (b.n && b.mean > best_any_fq) best_any_fq = b.mean, best_any = g;
    }
    char a[32], b[32], c[32];
    fprintf(out, "<li><b>");
    esc(out, r->splits[s]);
    fprintf(out, "</b>: ");
    if (best_c >= 0) {
      report_stat mu =
          report_group_stat(r, &r->groups[best_c], REPORT_SEL_CONSTRAINED, REPORT_F_MU);
      report_stat leak = report_group_stat(r, &r->groups[best_c], REPORT_SEL_CONSTRAINED,
                                           REPORT_F_PRIVLEAK_LOSS);
      fprintf(out, "highest utility-constrained FQ (MU ≥ %s): <b>",
              report_fmt(c, sizeof c, bar, REPORT_F_MU));
      esc(out, r->series[r->groups[best_c].series].label);
      fprintf(out, "</b>, FQ %s at MU %s", report_fmt(a, sizeof a, best_c_fq, REPORT_F_FQ),
              report_fmt(b, sizeof b, mu.mean, REPORT_F_MU));
      if (leak.n)
        fprintf(out, ", PrivLeak (LOSS) %s", report_fmt(a, sizeof a, leak.mean, REPORT_F_PRIVLEAK_LOSS));
      fprintf(out, " (%s). ", seeds_text(c, mu.n));
    } else {
      fprintf(out, "no run has an evaluation that meets the utility bar. ");
    }
    if (best_any >= 0) {
      report_stat mu = report_group_stat(r, &r->groups[best_any], REPORT_SEL_BEST, REPORT_F_MU);
      fprintf(out, "Highest FQ at any evaluation: ");
      esc(out, r->series[r->groups[best_any].series].label);
      fprintf(out, ", %s at MU %s (%s)", report_fmt(a, sizeof a, best_any_fq, REPORT_F_FQ),
              report_fmt(b, sizeof b, mu.mean, REPORT_F_MU), seeds_text(c, mu.n));
      if (isfinite(bar) && mu.mean < bar) fprintf(out, " — below the utility bar");
      fprintf(out, ". ");
    }
    int n_above = 0;
    fprintf(out, "Above FQ 0.05 while meeting the bar: ");
    for (int g = 0; g < r->n_groups; g++) {
      if (r->groups[g].split != s) continue;
      report_stat f = report_group_stat(r, &r->groups[g], REPORT_SEL_CONSTRAINED, REPORT_F_FQ);
      if (!(f.mean > 0.05)) continue;
      fprintf(out, "%s", n_above++ ? ", " : "");
      esc(out, r->series[r->groups[g].series].label);
      fprintf(out, " (%s)", seeds_text(a, f.n));
    }
    fprintf(out, "%s.</li>\n", n_above ? "" : "none");
  }
  fprintf(out, "</ul>\n");
}

/* ---- figures --------------------------------------------------------------- */

static void write_figures(FILE *out, const report *r) {
  fprintf(out, "<h2>Forget quality vs model utility</h2>\n<div class=\"legend\">");
  series_legend(out, r);
  fprintf(out,
          "</div>\n<div class=\"legend\"><span class=\"key\">● highest FQ</span>"
          "<span class=\"key\">○ final</span><span class=\"key\">■ utility-constrained"
          "</span><span class=\"key\">★ target (before unlearning)</span>"
          "<span class=\"key\" style=\"color:#6b6b6b\">◇ retain model</span></div>\n"
          "<div class=\"panels\">\n");
  report_plot_tradeoff(out, r);
  fprintf(out,
          "</div>\n<p class=\"caption\">One panel per forget split (the paper's Fig. 5). "
          "Top right is best: forgotten like the retain model (FQ near 1) with the target's "
          "utility. A dashed line joins each method's highest-FQ and final evaluations. Over "
          "several seeds: geometric mean of FQ and mean of MU, bars ±1 standard deviation "
          "(FQ in log space). Hover a marker for its numbers.</p>\n");
  if (report_has_privleak(r)) {
    fprintf(out, "<h2>PrivLeak vs model utility</h2>\n<div class=\"panels\">\n");
    report_plot_privleak(out, r);
    fprintf(out,
            "</div>\n<p class=\"caption\">The same panels with MUSE's privacy number: "
            "PrivLeak of the Min-K%% attack (k = 0.4) against the retain model, in percent. "
            "0 (the dashed line) is the retain model; toward −100 the forget set is still "
            "recognised as training data; above 0 it looks less familiar than unseen "
            "authors (over-unlearning). Markers and lines as above.</p>\n");
  }

  fprintf(out, "<h2>Trajectories</h2>\n<div class=\"legend\">");
  series_legend(out, r);
  line_key(out, "#000", "dashed", "target");
  line_key(out, "#6b6b6b", "dotted", "retain model");
  fprintf(out,
          "</div>\n<p class=\"caption\">Forget quality, model utility and the forget KL to "
          "the target per evaluation (Figs. 6 and 10); step 0 is the target. Bands: ±1 "
          "standard deviation over seeds.</p>\n");
  for (int s = 0; s < r->n_splits; s++) {
    fprintf(out, "<h3>");
    esc(out, r->splits[s]);
    fprintf(out, "</h3>\n<div class=\"panels\">\n");
    report_plot_trajectories(out, r, s);
    fprintf(out, "</div>\n");
  }

  int any = 0;
  for (int k = 0; k < r->n_keys; k++)
    for (int s = 0; s < r->n_splits; s++) any |= report_grid_applies(r, k, s);
  if (!any) return;
  fprintf(out, "<h2>Metrics vs numeric settings</h2>\n<div class=\"legend\">");
  line_key(out, "#333", "solid", "● highest FQ");
  line_key(out, "#333", "dashed", "○ final");
  line_key(out, "#333", "dotted", "■ utility-constrained");
  fprintf(out,
          "</div>\n<p class=\"caption\">Each grid over a numeric setting (the paper's Fig. 11 "
          "varies the retain weight), per split, at the three selections; bars ±1 standard "
          "deviation over seeds.</p>\n");
  for (int k = 0; k < r->n_keys; k++)
    for (int s = 0; s < r->n_splits; s++) {
      if (!report_grid_applies(r, k, s)) continue;
      fprintf(out, "<h3><code>");
      esc(out, r->keys[k]);
      fprintf(out, "</code> on ");
      esc(out, r->splits[s]);
      fprintf(out, "</h3>\n<div class=\"legend\">");
      grid_legend(out, r, k, s);
      fprintf(out, "</div>\n<div class=\"panels\">\n");
      report_plot_grid(out, r, k, s);
      fprintf(out, "</div>\n");
    }
}

/* ---- the results table ------------------------------------------------------------ */

static void table_head(FILE *out, const report *r, int per_run) {
  int *keys, n_keys = label_keys(r, &keys);
  int lead = 1 + n_keys + (per_run ? 2 : 1);
  fprintf(out,
          "<div class=\"scroll\"><table class=\"%s\">\n<thead><tr><th colspan=\"%d\"></th>"
          "<th colspan=\"3\">highest FQ</th><th colspan=\"3\">final</th>"
          "<th colspan=\"3\">utility-constrained</th><th colspan=\"2\">final forget</th>"
          "<th colspan=\"2\">final retain</th><th colspan=\"4\">final forget: privacy</th>"
          "<th colspan=\"2\"></th></tr>\n<tr>",
          per_run ? "runs-all" : "runs", lead);
  if (per_run) fprintf(out, "<th>run</th>");
  fprintf(out, "<th>method</th>");
  for (int i = 0; i < n_keys; i++) {
    const char *last = strrchr(r->keys[keys[i]], '.');
    fprintf(out, "<th>");
    esc(out, last ? last + 1 : r->keys[keys[i]]);
    fprintf(out, "</th>");
  }
  free(keys);
  fprintf(out,
          "<th>%s</th><th>FQ</th><th>MU</th><th>step</th><th>FQ</th><th>MU</th>"
          "<th title=\"PrivLeak of the LOSS attack against the retain model, percent\">"
          "PrivLeak</th><th>FQ</th>"
          "<th>MU</th><th>step</th><th>ROUGE</th><th>truth</th><th>ROUGE</th><th>truth</th>"
          "<th title=\"Min-K%% (k = 0.4) membership-inference AUC, forget vs holdout\">AUC</th>"
          "<th title=\"PrivLeak of Min-K%% against the retain model, percent\">PrivLeak</th>"
          "<th title=\"extraction strength\">ES</th><th title=\"exact memorisation\">EM</th>"
          "<th title=\"forget KL to the target\">KL</th><th>time&nbsp;s</th></tr></thead>\n"
          "<tbody>\n",
          per_run ? "seed" : "<span title=\"number of seeds\">n</span>");
}

static void ref_row(FILE *out, const report *r, int split, int retain, int per_run) {
  const report_point *p = report_split_ref(r, split, retain);
  if (!p) return;
  int n_keys = label_keys(r, NULL);
  char a[32], b[32];
  fprintf(out, "<tr class=\"ref\"><td class=\"l\" colspan=\"%d\">%s model</td>",
          2 + n_keys + (per_run ? 1 : 0), retain ? "retain" : "target");
  fprintf(out, "<td></td><td></td><td></td><td>%s</td><td>%s</td>",
          report_fmt(a, sizeof a, p->fq, REPORT_F_FQ), report_fmt(b, sizeof b, p->mu, REPORT_F_MU));
  fprintf(out, "<td>%s</td>", report_fmt(a, sizeof a, report_field(p, REPORT_F_PRIVLEAK_LOSS),
                                         REPORT_F_PRIVLEAK_LOSS));
  fprintf(out, "<td></td><td></td><td></td>");
  static const int fields[] = {REPORT_F_FORGET_ROUGE, REPORT_F_FORGET_TRUTH, REPORT_F_RETAIN_ROUGE,
                               REPORT_F_RETAIN_TRUTH, REPORT_F_MIA_AUC,      REPORT_F_PRIVLEAK,
                               REPORT_F_FORGET_ES,    REPORT_F_FORGET_EM};
  for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
    fprintf(out, "<td>%s</td>", report_fmt(a, sizeof a, report_field(p, fields[i]), fields[i]));
  fprintf(out, "<td></td><td></td></tr>\n");
}

/* A row of a group (mean over its seeds) or, with one run, of that run. */
static void group_row(FILE *out, const report *r, const report_group *g, int per_run, int top) {
  const report_run *first = &r->runs[g->runs[0]];
  int *keys, n_keys = label_keys(r, &keys);
  fprintf(out, "<tr class=\"%s\">", per_run ? "seed" : "run");
  if (per_run) {
    fprintf(out, "<td class=\"l\"><small>");
    esc(out, first->name);
    fprintf(out, "</small></td>");
  }
  fprintf(out, "<td class=\"l\"><span class=\"swatch\" style=\"background:%s\"></span>",
          r->series[g->series].colour);
  esc(out, report_run_title(first));
  fprintf(out, "</td>");
  for (int i = 0; i < n_keys; i++) {
    fprintf(out, "<td>");
    esc(out, first->values[keys[i]]);
    fprintf(out, "</td>");
  }
  free(keys);
  if (per_run && first->seed >= 0)
    fprintf(out, "<td>%ld</td>", first->seed);
  else if (per_run)
    fprintf(out, "<td>–</td>");
  else
    fprintf(out, "<td>%d</td>", g->n_runs);
  static const struct {
    int sel, field;
  } cols[] = {
      {REPORT_SEL_BEST, REPORT_F_FQ},
      {REPORT_SEL_BEST, REPORT_F_MU},
      {REPORT_SEL_BEST, REPORT_F_STEP},
      {REPORT_SEL_FINAL, REPORT_F_FQ},
      {REPORT_SEL_FINAL, REPORT_F_MU},
      {REPORT_SEL_FINAL, REPORT_F_PRIVLEAK_LOSS},
      {REPORT_SEL_CONSTRAINED, REPORT_F_FQ},
      {REPORT_SEL_CONSTRAINED, REPORT_F_MU},
      {REPORT_SEL_CONSTRAINED, REPORT_F_STEP},
      {REPORT_SEL_FINAL, REPORT_F_FORGET_ROUGE},
      {REPORT_SEL_FINAL, REPORT_F_FORGET_TRUTH},
      {REPORT_SEL_FINAL, REPORT_F_RETAIN_ROUGE},
      {REPORT_SEL_FINAL, REPORT_F_RETAIN_TRUTH},
      {REPORT_SEL_FINAL, REPORT_F_MIA_AUC},
      {REPORT_SEL_FINAL, REPORT_F_PRIVLEAK},
      {REPORT_SEL_FINAL, REPORT_F_FORGET_ES},
      {REPORT_SEL_FINAL, REPORT_F_FORGET_EM},
      {REPORT_SEL_FINAL, REPORT_F_KL},
  };
  for (size_t i = 0; i < sizeof cols / sizeof cols[0]; i++) {
    int f = cols[i].field;
    report_stat_cell(out, report_group_stat(r, g, cols[i].sel, f), f,
              f == REPORT_F_FQ || f == REPORT_F_MU || f == REPORT_F_KL || f == REPORT_F_PRIVLEAK ||
                  f == REPORT_F_PRIVLEAK_LOSS,
              top && cols[i].sel == REPORT_SEL_CONSTRAINED && f == REPORT_F_FQ);
  }
  double secs = 0;
  int n_secs = 0;
  for (int i = 0; i < g->n_runs; i++) {
    const report_run *run = &r->runs[g->runs[i]];
    if (isfinite(run->seconds)) secs += run->seconds, n_secs++;
  }
  fprintf(out, "<td>");
  if (n_secs)
    fprintf(out, "%.1f", secs / n_secs);
  else
    fprintf(out, "–");
  fprintf(out, "</td></tr>\n");
}

static void split_row(FILE *out, const report *r, int split, int per_run) {
  int n_keys = label_keys(r, NULL);
  long steps = -1;
  for (int i = 0; i < r->n_runs; i++)
    if (r->groups[r->runs[i].group].split == split && r->runs[i].steps > steps)
      steps = r->runs[i].steps;
  fprintf(out, "<tr class=\"split\"><td colspan=\"%d\">", 21 + n_keys + (per_run ? 1 : 0));
  esc(out, r->splits[split]);
  if (steps >= 0) fprintf(out, " <small>· %ld unlearning steps</small>", steps);
  fprintf(out, "</td></tr>\n");
}

static void write_table(FILE *out, const report *r) {
  fprintf(out,
          "<h2>Results</h2>\n<p class=\"caption\">One row per method setting and split; "
          "over several seeds the mean (FQ: geometric mean) and, for FQ, MU and forget KL, "
          "± one standard deviation (FQ: ×÷ factor). <i>n</i>: seeds; <i>step</i>: the "
          "evaluation chosen; <i>KL</i>: forget KL to the target; "
          "<i>truth</i>: TOFU's truth-ratio statistic of the set; <i>AUC</i>: Min-K%% "
          "membership inference, forget vs holdout (0.5: chance; 1: the forget set is "
          "recognised); <i>PrivLeak</i>: MUSE's relative AUC gap to the retain model, in "
          "percent (0: like the retain model, whose own is 0 by definition; toward −100: "
          "still leaks; positive: over-unlearned); <i>ES</i>, <i>EM</i>: extraction "
          "strength and exact memorisation of the forget answers; "
          "the bold green cell is the split's highest utility-constrained FQ (a point "
          "estimate; the Claims section tests it over seeds). "
          "<code>results.csv</code> has every run.</p>\n");
  table_head(out, r, 0);
  for (int s = 0; s < r->n_splits; s++) {
    split_row(out, r, s, 0);
    ref_row(out, r, s, 0, 0);
    ref_row(out, r, s, 1, 0);
    int top = -1;
    double top_fq = -1;
    for (int g = 0; g < r->n_groups; g++) {
      if (r->groups[g].split != s) continue;
      report_stat c = report_group_stat(r, &r->groups[g], REPORT_SEL_CONSTRAINED, REPORT_F_FQ);
      if (c.n && c.mean > top_fq) top_fq = c.mean, top = g;
    }
    for (int se = 0; se < r->n_series; se++)
      for (int g = 0; g < r->n_groups; g++)
        if (r->groups[g].split == s && r->groups[g].series == se)
          group_row(out, r, &r->groups[g], 0, g == top);
  }
  fprintf(out, "</tbody></table></div>\n");

  fprintf(out, "<details><summary>Every run (%d)</summary>\n", r->n_runs);
  table_head(out, r, 1);
  for (int s = 0; s < r->n_splits; s++) {
    split_row(out, r, s, 1);
    for (int i = 0; i < r->n_runs; i++) {
      if (r->groups[r->runs[i].group].split != s) continue;
      int idx = i;
      report_group one = {r->runs[i].series, s, &idx, 1};
      group_row(out, r, &one, 1, 0);
    }
  }
  fprintf(out, "</tbody></table></div>\n</details>\n");
}

/* ---- sample answers ------------------------------------------------------------- */

static const report_sample *find_sample(const report_run *run, int set, size_t index,
                                        const char *question) {
  for (size_t k = 0; k < run->n_samples[set]; k++)
    if (!strcmp(run->samples[set][k].question, question)) return &run->samples[set][k];
  return index < run->n_samples[set] ? &run->samples[set][index] : NULL;
}

static void generation_cell(FILE *out, const char *text) {
  fprintf(out, "<td class=\"g\">");
  if (!text)
    fprintf(out, "<small>–</small>");
  else if (!*text)
    fprintf(out, "<small>(empty)</small>");
  else
    esc(out, text);
  fprintf(out, "</td>");
}

static void write_samples(FILE *out, const report *r) {
  fprintf(out,
          "<h2>Sample answers</h2>\n<p class=\"caption\">Greedy answers to the first "
          "questions of each evaluation set (<code>eval.samples</code> per set; the paper's "
          "Fig. 7), from each method setting's first seed, at the final evaluation and at the "
          "highest-FQ one. One table per forget split; click a split to open it.</p>\n");
  int shown = 0;
  const report_group **groups = lethe_calloc((size_t)r->n_groups + 1, sizeof *groups);
  for (int s = 0; s < r->n_splits; s++) {
    int n = 0;
    for (int se = 0; se < r->n_series; se++)
      for (int g = 0; g < r->n_groups; g++)
        if (r->groups[g].split == s && r->groups[g].series == se) groups[n++] = &r->groups[g];
    const report_run *lead = NULL;
    for (int i = 0; i < n && !lead; i++)
      for (int set = 0; set < TOFU_N_SETS && !lead; set++)
        if (r->runs[groups[i]->runs[0]].n_samples[set]) lead = &r->runs[groups[i]->runs[0]];
    if (!lead) continue;
    fprintf(out, "<details%s><summary>", shown++ ? "" : " open");
    esc(out, r->splits[s]);
    fprintf(out,
            "</summary>\n<table class=\"samples\"><colgroup><col style=\"width:20%%\">"
            "<col style=\"width:40%%\"><col style=\"width:40%%\"></colgroup>\n"
            "<thead><tr><th>method</th><th>final</th><th>at highest FQ</th></tr></thead>"
            "<tbody>\n");
    for (int set = 0; set < TOFU_N_SETS; set++)
      for (size_t q = 0; q < lead->n_samples[set]; q++) {
        const report_sample *x = &lead->samples[set][q];
        fprintf(out, "<tr><td class=\"q\" colspan=\"3\"><b>%s:</b> ", tofu_set_titles[set]);
        esc(out, x->question);
        fprintf(out, "<br><small>reference:</small> ");
        esc(out, x->answer ? x->answer : "");
        fprintf(out, "</td></tr>\n");
        for (int i = 0; i < n; i++) {
          const report_run *run = &r->runs[groups[i]->runs[0]];
          const report_sample *y = find_sample(run, set, q, x->question);
          fprintf(out,
                  "<tr class=\"sample\"><td><span class=\"swatch\" style=\"background:%s\">"
                  "</span>",
                  r->series[groups[i]->series].colour);
          esc(out, r->series[groups[i]->series].label);
          long best_step = run->sel[REPORT_SEL_BEST].step;
          if (best_step >= 0) fprintf(out, " <small>(best: step %ld)</small>", best_step);
          fprintf(out, "</td>");
          generation_cell(out, y ? y->final : NULL);
          generation_cell(out, y ? y->best : NULL);
          fprintf(out, "</tr>\n");
        }
      }
    fprintf(out, "</tbody></table>\n</details>\n");
  }
  free((void *)groups);
}

void report_html_begin(FILE *out, const report *r) {
  fprintf(out,
          "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>lethe report: ");
  esc(out, r->name);
  fprintf(out, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", page_css);
}

void report_html_end(FILE *out, const report *r) {
  fprintf(out, "<footer>Written by lethe %s from <code>", LETHE_VERSION_STRING);
  esc(out, r->dir);
  fprintf(out,
          "</code>; the numbers are in <code>results.csv</code> and "
          "<code>results.json</code> next to this file.</footer>\n</body>\n</html>\n");
}

int report_write_html(const report *r, const char *path, lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  FILE *out = af.fp;
  report_html_begin(out, r);
  write_intro(out, r);
  report_write_gate_html(out, r);
  write_headlines(out, r);
  if (r->n_runs) report_write_claims_html(out, r);
  if (r->n_runs) {
    write_figures(out, r);
    write_table(out, r);
    write_samples(out, r);
  } else {
    fprintf(out, "<p>No run has finished yet.</p>\n");
  }
  report_html_end(out, r);
  if (ferror(out)) {
    lethe_atomic_abort(&af);
    return lethe_errf(err, LETHE_E_IO, "%s: write error", path);
  }
  return lethe_atomic_commit(&af, err);
}
