/* synthetic_report — the figures of the paper's synthetic experiment from a
 * directory of runs (synthetic_report.c). */
#ifndef LETHE_SYNTHETIC_REPORT_H
#define LETHE_SYNTHETIC_REPORT_H

#include "core/core.h"

/* `lethe synthetic-report DIR`: every run directory under dir (any depth,
 * recognised by summary.json with "kind": "synthetic") is grouped by
 * configuration (all but the seed); writes out_html (Figures 3, 4 and 9,
 * mean over seeds with a min–max band) and out_csv (key numbers). */
int synth_report(const char *dir, const char *out_html, const char *out_csv, lethe_err *err);

#endif
