/* report_format — numbers as the report prints them, in its tables, tooltips
 * and headlines (see report.h). Not here: where they appear. */
#include <math.h>
#include <stdio.h>

#include "report/report.h"

const char *report_fmt(char *buf, size_t n, double v, int field) {
  if (!isfinite(v))
    snprintf(buf, n, "–");
  else if (field == REPORT_F_FQ)
    snprintf(buf, n, "%.3g", v);
  else if (field == REPORT_F_STEP)
    snprintf(buf, n, "%.0f", v);
  else if (field == REPORT_F_PRIVLEAK) /* percent */
    snprintf(buf, n, "%.1f", v);
  else
    snprintf(buf, n, "%.3f", v);
  return buf;
}
