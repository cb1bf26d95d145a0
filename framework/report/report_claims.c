/* report_claims — the NPO paper's claims, each row a verdict computed from
 * the runs of a loaded report: GA collapses (1), NPO diverges more slowly
 * than GA (2), NPO+RT has the best utility-constrained FQ (3), FQ at fixed
 * utility rises with the retain weight up to ~2 (4). Every verdict comes
 * from an exact one-sided test over seeds (metrics/stats.h) and says how
 * many seeds it rests on; nothing is asserted and nothing is tuned. The
 * rules, word for word, are in docs/report.md. Not here: the calibration
 * gate (report_gate.c), JSON (report_results.c). */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/stats.h"
#include "report/report.h"
#include "report/svg.h"

const char *const report_verdict_names[4] = {"holds", "fails", "not significant", "not tested"};

/* log10 of the smallest FQ (a run with no evaluation that meets the bar). */
#define LOG_FQ_FLOOR (-300.0)

static const char GA[] = "ga", NPO[] = "npo", NPO_RT[] = "npo_rt", GA_RT[] = "grad_diff";

/* ---- the detail text ------------------------------------------------------ */

static void append(report_claim *c, const char *fmt, ...) {
  size_t len = strlen(c->detail);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->detail + len, sizeof c->detail - len, fmt, ap);
  va_end(ap);
}

static void start(report_claim *c, int number, const char *id, const char *statement,
                  const char *split) {
  memset(c, 0, sizeof *c);
  c->number = number;
  c->id = id;
  c->statement = statement;
  snprintf(c->split, sizeof c->split, "%s", split);
  c->verdict = REPORT_VERDICT_NOT_TESTED;
  c->p = NAN;
}

/* "median M (min–max)" of v[0..n) (sorted in place); FQ-like values in
 * log10 are printed as FQ. */
static void append_spread(report_claim *c, double *v, int n, int log_fq) {
  if (n <= 0) {
    append(c, "–");
    return;
  }
  double m = stats_median_sort(v, (size_t)n);
  if (log_fq)
    append(c, "%.3g (%.3g–%.3g)", pow(10, m), pow(10, v[0]), pow(10, v[n - 1]));
  else
    append(c, "%.3g (%.3g–%.3g)", m, v[0], v[n - 1]);
}

/* ---- the runs a claim looks at ------------------------------------------- */

static int split_of(const report *r, const char *name) {
  for (int s = 0; s < r->n_splits; s++)
    if (!strcmp(r->splits[s], name)) return s;
  return -1;
}

static double log_fq(const report_run *run) {
  const report_point *p = &run->sel[REPORT_SEL_CONSTRAINED];
  if (!p->present || !isfinite(p->fq)) return LOG_FQ_FLOOR;
  return p->fq > 1e-300 ? log10(p->fq) : LOG_FQ_FLOOR;
}

static double group_median_log_fq(const report *r, const report_group *g) {
  double *v = lethe_malloc((size_t)g->n_runs * sizeof *v); /* (n_runs) */
  for (int i = 0; i < g->n_runs; i++) v[i] = log_fq(&r->runs[g->runs[i]]);
  double m = stats_median_sort(v, (size_t)g->n_runs);
  free(v);
  return m;
}

/* The group of `method` at `split` with the highest median utility-
 * constrained FQ (its best learning rate, β, weight ...), among the groups
 * whose setting `key` equals `value` (key -1: all); -1 if none. */
static int best_group(const report *r, int split, const char *method, int key, double value) {
  int best = -1;
  double best_m = -INFINITY;
  for (int g = 0; g < r->n_groups; g++) {
    const report_group *grp = &r->groups[g];
    if (grp->split != split || strcmp(r->series[grp->series].method, method)) continue;
    if (key >= 0 && !(r->runs[grp->runs[0]].numbers[key] == value)) continue;
    double m = group_median_log_fq(r, grp);
    if (best < 0 || m > best_m) best = g, best_m = m;
  }
  return best;
}

/* Pairs the runs of groups a and b by seed: ia[k], ib[k] are run indices
 * (arrays of a->n_runs). Returns the number of pairs. */
static int pair_runs(const report *r, const report_group *a, const report_group *b, int *ia,
                     int *ib) {
  int n = 0;
  char *used = lethe_calloc((size_t)b->n_runs, 1); /* (b->n_runs) */
  for (int i = 0; i < a->n_runs; i++)
    for (int j = 0; j < b->n_runs; j++)
      if (!used[j] && r->runs[a->runs[i]].seed == r->runs[b->runs[j]].seed) {
        used[j] = 1;
        ia[n] = a->runs[i];
        ib[n++] = b->runs[j];
        break;
      }
  free(used);
  return n;
}

static const char *group_label(const report *r, int g) {
  return r->series[r->groups[g].series].label;
}

static double target_mu(const report_run *run) {
  if (run->target.present && isfinite(run->target.mu)) return run->target.mu;
  for (size_t i = 0; i < run->n_history; i++)
    if (run->history[i].step == 0) return run->history[i].mu;
  return NAN;
}

/* ---- verdicts --------------------------------------------------------------- */

/* A property that holds in `holds` of n seeds: the exact sign test. */
static report_verdict count_verdict(int holds, int n, double *p) {
  *p = stats_sign_test_greater((size_t)holds, (size_t)n);
  if (n == 0) return REPORT_VERDICT_NOT_TESTED;
  if (n < REPORT_CLAIM_MIN_PAIRS) return REPORT_VERDICT_NOT_SIGNIFICANT;
  if (*p <= REPORT_CLAIM_ALPHA) return REPORT_VERDICT_HOLDS;
  if (stats_sign_test_greater((size_t)(n - holds), (size_t)n) <= REPORT_CLAIM_ALPHA)
    return REPORT_VERDICT_FAILS;
  return REPORT_VERDICT_NOT_SIGNIFICANT;
}

/* Paired differences d[0..n) that the claim says are > 0: the exact
 * Wilcoxon signed-rank test. */
static report_verdict rank_verdict(const double *d, int n, stats_signed_rank *sr) {
  lethe_err err = {0};
  if (stats_wilcoxon_exact(d, (size_t)n, sr, &err) != 0 || n == 0)
    return REPORT_VERDICT_NOT_TESTED;
  if (n < REPORT_CLAIM_MIN_PAIRS) return REPORT_VERDICT_NOT_SIGNIFICANT;
  if (sr->p_greater <= REPORT_CLAIM_ALPHA) return REPORT_VERDICT_HOLDS;
  if (sr->p_less <= REPORT_CLAIM_ALPHA) return REPORT_VERDICT_FAILS;
  return REPORT_VERDICT_NOT_SIGNIFICANT;
}

/* FQ claims need a split where FQ discriminates: returns 1 (claim not
 * tested) when the gate fails; notes an unverified gate in the detail. */
static int gate_blocks(const report *r, int split, report_claim *c) {
  report_gate g;
  report_gate_of(r, split, &g);
  if (g.status == REPORT_GATE_NOT_DISCRIMINATING) {
    append(c, "Calibration gate not passed at %s: %s", c->split, g.why);
    return 1;
  }
  if (g.status == REPORT_GATE_UNMEASURED)
    append(c, "(Calibration unverified at %s: %s) ", c->split, g.why);
  return 0;
}

/* ---- 1. GA collapses -------------------------------------------------------- */

static void claim_ga_collapses(const report *r, const char *split, report_claim *c) {
  start(c, 1, "ga_collapses",
        "GA collapses: its model utility falls below 0.1 × the target's within the run", split);
  int s = split_of(r, split), g = s < 0 ? -1 : best_group(r, s, GA, -1, 0);
  if (g < 0) {
    append(c, "The suite has no GA runs at %s.", split);
    return;
  }
  const report_group *grp = &r->groups[g];
  double *ratio = lethe_malloc((size_t)grp->n_runs * sizeof *ratio); /* (n_runs) */
  int n = 0, holds = 0;
  for (int i = 0; i < grp->n_runs; i++) {
    const report_run *run = &r->runs[grp->runs[i]];
    double lowest = INFINITY, mu0 = target_mu(run);
    for (size_t k = 0; k < run->n_history; k++)
      if (run->history[k].step > 0 && isfinite(run->history[k].mu) && run->history[k].mu < lowest)
        lowest = run->history[k].mu;
    if (!isfinite(lowest) || !(mu0 > 0)) continue;
    ratio[n] = lowest / mu0;
    holds += ratio[n++] < REPORT_COLLAPSE_MU_RATIO;
  }
  c->n = n;
  if (!n) {
    append(c, "The GA runs at %s have no evaluation after step 0.", split);
    free(ratio);
    return;
  }
  c->verdict = count_verdict(holds, n, &c->p);
  append(c, "%s: lowest MU in the run / target MU, median ", group_label(r, g));
  append_spread(c, ratio, n, 0);
  append(c, " over %d seed%s; below %g in %d of %d; sign test p = %.3g (the opposite: %.3g).", n,
         n == 1 ? "" : "s", REPORT_COLLAPSE_MU_RATIO, holds, n, c->p,
         stats_sign_test_greater((size_t)(n - holds), (size_t)n));
  free(ratio);
}

/* ---- 2. NPO diverges more slowly ---------------------------------------------- */

/* The first evaluation after step 0 with MU < ratio × the target's; -1 never. */
static long first_step_below(const report_run *run, double ratio) {
  double bar = ratio * target_mu(run);
  for (size_t k = 0; k < run->n_history; k++)
    if (run->history[k].step > 0 && run->history[k].mu < bar) return run->history[k].step;
  return -1;
}

/* The forget KL of the last evaluation at or before `step` (-1: the last). */
static double kl_at(const report_run *run, long step) {
  const report_point *at = NULL;
  for (size_t k = 0; k < run->n_history; k++)
    if ((step < 0 || run->history[k].step <= step) && (!at || run->history[k].step >= at->step))
      at = &run->history[k];
  return at ? at->forget_kl : NAN;
}

static long last_step(const report_run *run) {
  long last = -1;
  for (size_t k = 0; k < run->n_history; k++)
    if (run->history[k].step > last) last = run->history[k].step;
  return last;
}

/* One seed pair: 1 holds, 0 fails, -1 cannot be decided (GA never falls
 * below the bar, NPO's run ends before twice GA's step, a KL is unknown). */
static int npo_slower_pair(const report_run *ga, const report_run *npo, double *steps_ratio,
                           double *kl_ratio, double *growth) {
  long t_ga = first_step_below(ga, REPORT_DIVERGE_MU_RATIO);
  long t_npo = first_step_below(npo, REPORT_DIVERGE_MU_RATIO), end = last_step(npo);
  if (t_ga <= 0 || (t_npo < 0 && end < REPORT_DIVERGE_SLOWER * (double)t_ga)) return -1;
  *steps_ratio = t_npo < 0 ? INFINITY : (double)t_npo / (double)t_ga;
  double kl_end = kl_at(npo, -1), kl_two_thirds = kl_at(npo, (2 * end) / 3);
  *kl_ratio = kl_end / kl_at(ga, -1);
  *growth = kl_end / kl_two_thirds;
  if (!isfinite(*kl_ratio) || !isfinite(*growth)) return -1;
  return *steps_ratio >= REPORT_DIVERGE_SLOWER && *growth <= REPORT_KL_PLATEAU_GROWTH &&
         *kl_ratio <= REPORT_KL_WELL_BELOW;
}

/* Runs a and b have the same settings apart from the method, the split and
 * the seed: every other key that both runs set has the same value (a
 * method's own parameter, set for one of them only, does not count). */
static int same_setting(const report *r, const report_run *a, const report_run *b) {
  for (int k = 0; k < r->n_keys; k++) {
    if (!report_key_is_setting(r, k)) continue;
    if (a->values[k][0] && b->values[k][0] && strcmp(a->values[k], b->values[k])) return 0;
  }
  return 1;
}

/* Unlike claims 3 and 4 this one compares GA and NPO at the same setting
 * (the same learning rate): how fast a method diverges depends on the step
 * size, and each method's best learning rate can differ. Every NPO group is
 * paired with the GA group of equal settings, run by run by seed, and the
 * pairs of all settings are pooled. */
static void claim_npo_slower(const report *r, const char *split, report_claim *c) {
  start(c, 2, "npo_slower",
        "NPO diverges more slowly than GA at the same learning rate: steps until MU < 0.5 × "
        "target at least 2 × GA's, and NPO's forget KL plateaus well below GA's",
        split);
  int s = split_of(r, split);
  int any_ga = s >= 0 && best_group(r, s, GA, -1, 0) >= 0;
  int any_npo = s >= 0 && best_group(r, s, NPO, -1, 0) >= 0;
  if (!any_ga || !any_npo) {
    append(c, "The suite has no %s runs at %s.", !any_ga ? "GA" : "NPO", split);
    return;
  }
  int cap = r->n_runs + 1;
  int *ia = lethe_malloc((size_t)cap * sizeof *ia), *ib = lethe_malloc((size_t)cap * sizeof *ib);
  double *steps = lethe_malloc((size_t)cap * 3 * sizeof *steps); /* (3, cap) */
  double *kl = steps + cap, *growth = kl + cap;
  int pairs = 0, n = 0, holds = 0, never = 0, settings = 0;
  char used[256] = "";
  for (int gn = 0; gn < r->n_groups; gn++) {
    const report_group *b = &r->groups[gn];
    if (b->split != s || strcmp(r->series[b->series].method, NPO)) continue;
    for (int gg = 0; gg < r->n_groups; gg++) {
      const report_group *a = &r->groups[gg];
      if (a->split != s || strcmp(r->series[a->series].method, GA) ||
          !same_setting(r, &r->runs[a->runs[0]], &r->runs[b->runs[0]]))
        continue;
      int got = pair_runs(r, a, b, ia, ib), decided = 0;
      pairs += got;
      for (int k = 0; k < got; k++) {
        int h = npo_slower_pair(&r->runs[ia[k]], &r->runs[ib[k]], &steps[n], &kl[n], &growth[n]);
        if (h < 0) continue;
        never += isinf(steps[n]);
        holds += h;
        n++;
        decided++;
      }
      if (decided) {
        size_t len = strlen(used);
        snprintf(used + len, sizeof used - len, "%s%s (%d)", settings ? ", " : "",
                 group_label(r, gn), decided);
        settings++;
      }
      break;
    }
  }
  c->n = n;
  if (!n) {
    append(c, "No pair of GA and NPO runs with the same settings and seed at %s can decide it "
              "(%d pairs: GA never falls below 0.5 × the target's MU, or a forget KL is "
              "unknown).", split, pairs);
  } else {
    c->verdict = count_verdict(holds, n, &c->p);
    append(c, "NPO vs GA at the same settings and seed, %d pair%s: %s. NPO's steps / GA's "
              "steps to MU < %g × target, median ",
           n, n == 1 ? "" : "s", used, REPORT_DIVERGE_MU_RATIO);
    append_spread(c, steps, n, 0);
    append(c, " (NPO never below in %d); NPO's final forget KL / GA's, median ", never);
    append_spread(c, kl, n, 0);
    append(c, "; NPO's KL growth over the last third of the run, median ");
    append_spread(c, growth, n, 0);
    append(c, "; all three hold in %d of %d pairs; sign test p = %.3g (the opposite: %.3g).",
           holds, n, c->p, stats_sign_test_greater((size_t)(n - holds), (size_t)n));
  }
  free(ia);
  free(ib);
  free(steps);
}

/* ---- 3. NPO+RT has the best utility-constrained FQ --------------------------- */

/* Paired log10 FQ differences g_a − g_b into d (room for a's runs); the
 * pair count. */
static int paired_log_fq_diff(const report *r, int g_a, int g_b, double *d) {
  const report_group *a = &r->groups[g_a];
  int *ia = lethe_malloc((size_t)a->n_runs * sizeof *ia), *ib = lethe_malloc((size_t)a->n_runs * sizeof *ib);
  int n = pair_runs(r, a, &r->groups[g_b], ia, ib);
  for (int k = 0; k < n; k++) d[k] = log_fq(&r->runs[ia[k]]) - log_fq(&r->runs[ib[k]]);
  free(ia);
  free(ib);
  return n;
}

/* One comparison's numbers: pairs, median log10 ratio, W+, p. */
static void append_test(report_claim *c, double *d, int n, const stats_signed_rank *sr) {
  append(c, "%d pair%s, median log10 FQ ratio ", n, n == 1 ? "" : "s");
  append_spread(c, d, n, 0);
  append(c, ", Wilcoxon W+ = %g, one-sided p = %.3g (the opposite: %.3g)", sr->statistic,
         sr->p_greater, sr->p_less);
}

static void claim_npo_rt_best(const report *r, const char *split, report_claim *c) {
  start(c, 3, "npo_rt_best",
        "NPO+RT has the best utility-constrained FQ of all methods, each at its best setting "
        "(paired over seeds)",
        split);
  int s = split_of(r, split), g_rt = s < 0 ? -1 : best_group(r, s, NPO_RT, -1, 0);
  if (g_rt < 0) {
    append(c, "The suite has no NPO+RT runs at %s.", split);
    return;
  }
  if (gate_blocks(r, s, c)) return;
  const report_group *rt = &r->groups[g_rt];
  double *d = lethe_malloc((size_t)rt->n_runs * sizeof *d); /* (n_runs) */
  for (int i = 0; i < rt->n_runs; i++) d[i] = log_fq(&r->runs[rt->runs[i]]);
  append(c, "%s: utility-constrained FQ, median ", group_label(r, g_rt));
  append_spread(c, d, rt->n_runs, 1);
  append(c, " over %d seed%s.", rt->n_runs, rt->n_runs == 1 ? "" : "s");
  int competitors = 0, fails = 0, holds = 0;
  c->n = rt->n_runs;
  c->p = 0;
  for (int g = 0; g < r->n_groups; g++) {
    const char *method = r->series[r->groups[g].series].method;
    if (r->groups[g].split != s || !strcmp(method, NPO_RT) || best_group(r, s, method, -1, 0) != g)
      continue;
    int n = paired_log_fq_diff(r, g_rt, g, d);
    stats_signed_rank sr = {0, 1, 1, 0};
    report_verdict v = rank_verdict(d, n, &sr);
    append(c, " vs %s: ", group_label(r, g));
    if (v == REPORT_VERDICT_NOT_TESTED) {
      append(c, "no seed in common.");
    } else {
      append_test(c, d, n, &sr);
      append(c, " → %s.", report_verdict_names[v]);
    }
    competitors++;
    fails += v == REPORT_VERDICT_FAILS;
    holds += v == REPORT_VERDICT_HOLDS;
    if (n < c->n) c->n = n;
    if (sr.p_greater > c->p) c->p = sr.p_greater; /* all must hold: the largest p */
  }
  free(d);
  if (!competitors) {
    append(c, " No other method ran at %s.", split);
    c->p = NAN;
    c->verdict = REPORT_VERDICT_NOT_TESTED;
  } else {
    c->verdict = fails ? REPORT_VERDICT_FAILS
                 : holds == competitors ? REPORT_VERDICT_HOLDS
                                        : REPORT_VERDICT_NOT_SIGNIFICANT;
  }
}

/* ---- 4. FQ rises with the retain weight up to ~2 ------------------------------ */

/* The varying setting named *.retain_coeff; -1 when the suite has none. */
static int retain_coeff_key(const report *r) {
  for (int k = 0; k < r->n_keys; k++) {
    const char *last = strrchr(r->keys[k], '.');
    if (!strcmp(last ? last + 1 : r->keys[k], "retain_coeff")) return k;
  }
  return -1;
}

/* The distinct retain weights of `method`'s groups at split, ascending. */
static int weights_of(const report *r, int split, const char *method, int key, double *w) {
  int n = 0;
  for (int g = 0; g < r->n_groups; g++) {
    double v = r->runs[r->groups[g].runs[0]].numbers[key];
    if (r->groups[g].split != split || !isfinite(v) ||
        strcmp(r->series[r->groups[g].series].method, method))
      continue;
    int seen = 0;
    for (int i = 0; i < n; i++) seen |= w[i] == v;
    if (!seen) w[n++] = v;
  }
  stats_sort(w, (size_t)n);
  return n;
}

static void claim_retain_weight(const report *r, int s, int key, report_claim *c) {
  start(c, 4, "retain_weight",
        "NPO+RT's utility-constrained FQ rises with the retain weight up to ~2", r->splits[s]);
  double *w = lethe_malloc((size_t)r->n_groups * sizeof *w); /* (n_groups) */
  int n_w = weights_of(r, s, NPO_RT, key, w), hi = -1;
  for (int i = 0; i < n_w; i++)
    if (w[i] <= REPORT_RETAIN_WEIGHT_PEAK + 1e-9) hi = i;
  if (hi < 1) {
    append(c, "Needs NPO+RT at two retain weights ≤ %g at %s (has %d weight%s).",
           REPORT_RETAIN_WEIGHT_PEAK, r->splits[s], n_w, n_w == 1 ? "" : "s");
    free(w);
    return;
  }
  if (gate_blocks(r, s, c)) {
    free(w);
    return;
  }
  int g_lo = best_group(r, s, NPO_RT, key, w[0]), g_hi = best_group(r, s, NPO_RT, key, w[hi]);
  append(c, "Utility-constrained FQ by weight, median (range, seeds):");
  for (int i = 0; i < n_w; i++) {
    const report_group *g = &r->groups[best_group(r, s, NPO_RT, key, w[i])];
    double *v = lethe_malloc((size_t)g->n_runs * sizeof *v); /* (n_runs) */
    for (int k = 0; k < g->n_runs; k++) v[k] = log_fq(&r->runs[g->runs[k]]);
    append(c, "%s %g: ", i ? ";" : "", w[i]);
    append_spread(c, v, g->n_runs, 1);
    append(c, ", %d", g->n_runs);
    free(v);
  }
  double *d = lethe_malloc((size_t)r->groups[g_hi].n_runs * sizeof *d); /* (n_runs) */
  int n = paired_log_fq_diff(r, g_hi, g_lo, d);
  stats_signed_rank sr = {0, 1, 1, 0};
  c->verdict = rank_verdict(d, n, &sr);
  c->n = n;
  c->p = n ? sr.p_greater : NAN;
  append(c, ". Weight %g vs %g: ", w[hi], w[0]);
  if (n)
    append_test(c, d, n, &sr);
  else
    append(c, "no seed in common");
  append(c, ".");
  free(d);
  free(w);
}

static void claim_retain_vs_ga_rt(const report *r, int s, int key, report_claim *c) {
  start(c, 4, "retain_weight_vs_ga_rt",
        "At equal retain weights NPO+RT's utility-constrained FQ is above GA+RT's",
        r->splits[s]);
  double *w = lethe_malloc((size_t)r->n_groups * sizeof *w); /* (n_groups) */
  int n_w = weights_of(r, s, NPO_RT, key, w), n = 0, weights = 0;
  double *d = lethe_malloc(((size_t)r->n_runs + 1) * sizeof *d); /* (pairs over weights) */
  for (int i = 0; i < n_w; i++) {
    int g_n = best_group(r, s, NPO_RT, key, w[i]), g_g = best_group(r, s, GA_RT, key, w[i]);
    if (g_g < 0) continue;
    int got = paired_log_fq_diff(r, g_n, g_g, d + n);
    n += got;
    weights += got > 0;
  }
  if (!n) {
    append(c, "The suite has no GA+RT runs with NPO+RT's retain weights and seeds at %s.",
           r->splits[s]);
  } else if (!gate_blocks(r, s, c)) {
    stats_signed_rank sr = {0, 1, 1, 0};
    c->verdict = rank_verdict(d, n, &sr);
    c->n = n;
    c->p = sr.p_greater;
    append(c, "NPO+RT − GA+RT over %d weight%s: ", weights, weights == 1 ? "" : "s");
    append_test(c, d, n, &sr);
    append(c, " (pairs: same weight, same seed).");
  }
  free(d);
  free(w);
}

/* ---- all claims ------------------------------------------------------------------ */

int report_claims(const report *r, report_claim **out) {
  static const char *const splits[] = {"forget05", "forget10"};
  int key = retain_coeff_key(r), cap = 6 + 2 * r->n_splits + 2, n = 0;
  report_claim *c = lethe_calloc((size_t)cap, sizeof *c);
  for (int i = 0; i < 2; i++) claim_ga_collapses(r, splits[i], &c[n++]);
  for (int i = 0; i < 2; i++) claim_npo_slower(r, splits[i], &c[n++]);
  for (int i = 0; i < 2; i++) claim_npo_rt_best(r, splits[i], &c[n++]);
  int grids = 0;
  for (int s = 0; key >= 0 && s < r->n_splits; s++) {
    double *w = lethe_malloc((size_t)r->n_groups * sizeof *w);
    int n_w = weights_of(r, s, NPO_RT, key, w);
    free(w);
    if (n_w < 2) continue;
    claim_retain_weight(r, s, key, &c[n++]);
    claim_retain_vs_ga_rt(r, s, key, &c[n++]);
    grids++;
  }
  if (!grids) {
    start(&c[n], 4, "retain_weight",
          "NPO+RT's utility-constrained FQ rises with the retain weight up to ~2", "–");
    append(&c[n++], "Needs a grid over method.params.retain_coeff with NPO+RT "
                    "(configs/suites/retain_weight.cfg); this suite has none.");
    start(&c[n], 4, "retain_weight_vs_ga_rt",
          "At equal retain weights NPO+RT's utility-constrained FQ is above GA+RT's", "–");
    append(&c[n++], "Needs NPO+RT and GA+RT on the same method.params.retain_coeff grid; "
                    "this suite has none.");
  }
  *out = c;
  return n;
}

static const char *const verdict_marks[4] = {"✓", "✗", "not significant", "not tested"};
static const char *const verdict_classes[4] = {"holds", "fails", "ns", "nt"};

void report_write_claims_html(FILE *out, const report *r) {
  report_claim *c;
  int n = report_claims(r, &c);
  fprintf(out,
          "<h2>Claims</h2>\n<p class=\"caption\">The NPO paper's claims, each computed from "
          "this suite's runs (docs/report.md has the exact rules). ✓: an exact one-sided test "
          "over seeds supports it at p ≤ %g; ✗: the same test supports the opposite; not "
          "significant: fewer than %d seeds (or seed pairs) or p &gt; %g; not tested: the "
          "suite lacks the runs, or the calibration gate failed at the split. Methods are "
          "compared at their best setting (highest median utility-constrained FQ) and "
          "paired by seed.</p>\n"
          "<table class=\"claims\"><thead><tr><th>#</th><th>claim</th><th>split</th>"
          "<th>verdict</th><th title=\"seeds or seed pairs\">seeds</th><th>p</th>"
          "<th>numbers</th></tr></thead><tbody>\n",
          REPORT_CLAIM_ALPHA, REPORT_CLAIM_MIN_PAIRS, REPORT_CLAIM_ALPHA);
  for (int i = 0; i < n; i++) {
    fprintf(out, "<tr class=\"claim %s\"><td>%d</td><td class=\"l w\">",
            verdict_classes[c[i].verdict], c[i].number);
    svg_escape(out, c[i].statement);
    fprintf(out, "</td><td>");
    svg_escape(out, c[i].split);
    fprintf(out, "</td><td class=\"v\"><b>%s</b></td><td>%d</td><td>", verdict_marks[c[i].verdict],
            c[i].n);
    if (isfinite(c[i].p))
      fprintf(out, "%.3g", c[i].p);
    else
      fprintf(out, "–");
    fprintf(out, "</td><td class=\"l w\">");
    svg_escape(out, c[i].detail);
    fprintf(out, "</td></tr>\n");
  }
  fprintf(out, "</tbody></table>\n");
  free(c);
}
