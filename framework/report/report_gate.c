/* report_gate — the calibration gate: per forget split, whether forget
 * quality can tell a model that knows the forget authors (the target) from
 * one that never saw them (the retain model), and whether it accepts a
 * second retain model trained with another data order. A benchmark that
 * fails either cannot support a claim about forgetting at that split. Reads
 * the loaded report only; writes one HTML section (the JSON fields are in
 * report_results.c). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "report/report.h"
#include "report/svg.h"

const char *const report_gate_status_names[3] = {"pass", "not discriminating",
                                                 "second retain model not measured"};

void report_gate_of(const report *r, int split, report_gate *g) {
  const report_point *target = report_split_ref(r, split, 0);
  const report_point *replica = NULL;
  for (int i = 0; i < r->n_runs && !replica; i++)
    if (!strcmp(r->runs[i].split, r->splits[split]) && r->runs[i].retain_replica.present &&
        isfinite(r->runs[i].retain_replica.fq))
      replica = &r->runs[i].retain_replica;
  g->target_fq = target ? target->fq : NAN;
  g->replica_fq = replica ? replica->fq : NAN;
  g->replica_mu = replica ? replica->mu : NAN;
  int target_bad = isfinite(g->target_fq) && g->target_fq > REPORT_GATE_TARGET_FQ_MAX;
  int replica_bad = replica && g->replica_fq < REPORT_GATE_REPLICA_FQ_MIN;
  size_t len = 0;
  g->why[0] = '\0';
  if (target_bad)
    len += (size_t)snprintf(g->why + len, sizeof g->why - len,
                            "The target's FQ %.3g is above %g: FQ barely tells it from the "
                            "retain model. ",
                            g->target_fq, REPORT_GATE_TARGET_FQ_MAX);
  if (replica_bad)
    len += (size_t)snprintf(g->why + len, sizeof g->why - len,
                            "A second retain model scores FQ %.3g, below %g: FQ rejects a model "
                            "that never saw the forget authors. ",
                            g->replica_fq, REPORT_GATE_REPLICA_FQ_MIN);
  if (!isfinite(g->target_fq))
    len += (size_t)snprintf(g->why + len, sizeof g->why - len, "The target's FQ is unknown. ");
  if (!replica)
    snprintf(g->why + len, sizeof g->why - len, "Second retain model not measured.");
  if (target_bad || replica_bad)
    g->status = REPORT_GATE_NOT_DISCRIMINATING;
  else if (!replica || !isfinite(g->target_fq))
    g->status = REPORT_GATE_UNMEASURED;
  else
    g->status = REPORT_GATE_PASS;
}

void report_write_gate_html(FILE *out, const report *r) {
  if (!r->n_splits) return;
  fprintf(out,
          "<h2>Calibration gate</h2>\n<p class=\"caption\">Before any comparison: at each "
          "forget split forget quality must reject the target (FQ ≤ %g against the retain "
          "model) and accept a second retain model trained with another data order (FQ ≥ %g "
          "against the first). Otherwise FQ at that split does not measure forgetting, and "
          "the claims that rest on FQ there are not tested.</p>\n"
          "<table class=\"gate\"><thead><tr><th>split</th><th>target FQ</th>"
          "<th>second retain FQ</th><th>second retain MU</th><th>gate</th></tr></thead>"
          "<tbody>\n",
          REPORT_GATE_TARGET_FQ_MAX, REPORT_GATE_REPLICA_FQ_MIN);
  for (int s = 0; s < r->n_splits; s++) {
    report_gate g;
    report_gate_of(r, s, &g);
    char a[32], b[32], c[32];
    fprintf(out, "<tr><td class=\"l\">");
    svg_escape(out, r->splits[s]);
    fprintf(out, "</td><td>%s</td><td>%s</td><td>%s</td><td class=\"l %s\"><b>%s</b>",
            report_fmt(a, sizeof a, g.target_fq, REPORT_F_FQ),
            report_fmt(b, sizeof b, g.replica_fq, REPORT_F_FQ),
            report_fmt(c, sizeof c, g.replica_mu, REPORT_F_MU),
            g.status == REPORT_GATE_PASS ? "pass" : "fail", report_gate_status_names[g.status]);
    if (g.why[0] && g.status != REPORT_GATE_UNMEASURED) {
      fprintf(out, " <small>");
      svg_escape(out, g.why);
      fprintf(out, "</small>");
    }
    fprintf(out, "</td></tr>\n");
  }
  fprintf(out, "</tbody></table>\n");
}
