/* report_format — the numbers of a point by field, and as the report prints
 * them in its tables, tooltips, headlines and CSV cells (see report.h). Not
 * here: where they appear. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report/report.h"

const char *report_fmt(char *buf, size_t n, double v, int field) {
  if (!isfinite(v))
    snprintf(buf, n, "–");
  else if (field == REPORT_F_FQ)
    snprintf(buf, n, "%.3g", v);
  else if (field == REPORT_F_STEP)
    snprintf(buf, n, "%.0f", v);
  else if (field == REPORT_F_PRIVLEAK || field == REPORT_F_PRIVLEAK_LOSS) /* percent */
    snprintf(buf, n, "%.1f", v);
  else
    snprintf(buf, n, "%.3f", v);
  return buf;
}

double report_field(const report_point *p, int field) {
  if (!p->present) return NAN;
  switch (field) {
    case REPORT_F_FQ:
      return p->fq;
    case REPORT_F_MU:
      return p->mu;
    case REPORT_F_KL:
      return p->forget_kl;
    case REPORT_F_TR_MEDIAN:
      return p->tr_median;
    case REPORT_F_FORGET_ROUGE:
      return p->set[TOFU_SET_FORGET].rouge;
    case REPORT_F_RETAIN_ROUGE:
      return p->set[TOFU_SET_RETAIN].rouge;
    case REPORT_F_FORGET_TRUTH:
      return p->set[TOFU_SET_FORGET].truth;
    case REPORT_F_RETAIN_TRUTH:
      return p->set[TOFU_SET_RETAIN].truth;
    case REPORT_F_FORGET_PROB:
      return p->set[TOFU_SET_FORGET].prob;
    case REPORT_F_RETAIN_PROB:
      return p->set[TOFU_SET_RETAIN].prob;
    case REPORT_F_MIA_AUC:
      return p->mia_auc[MIA_PRIVLEAK_ATTACK];
    case REPORT_F_PRIVLEAK:
      return p->privleak[MIA_PRIVLEAK_ATTACK];
    case REPORT_F_FORGET_ES:
      return p->set[TOFU_SET_FORGET].es;
    case REPORT_F_FORGET_EM:
      return p->set[TOFU_SET_FORGET].em;
    case REPORT_F_STEP:
      return p->step >= 0 ? (double)p->step : NAN;
    case REPORT_F_PRIVLEAK_LOSS:
      return p->privleak[MIA_LOSS];
    case REPORT_F_VERBMEM_FORGET:
      return p->verbmem_forget;
    case REPORT_F_KNOWMEM_FORGET:
      return p->knowmem_forget;
    case REPORT_F_KNOWMEM_RETAIN:
      return p->knowmem_retain;
    default:
      return NAN;
  }
}

int report_field_is_log(int field) { return field == REPORT_F_FQ; }

/* ---- CSV cells ---------------------------------------------------------------- */

void report_csv_text(FILE *out, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, out);
    return;
  }
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"') fputc('"', out);
    fputc(*s, out);
  }
  fputc('"', out);
}

void report_csv_number(FILE *out, double v) {
  if (!isfinite(v)) return;
  if (v == floor(v) && fabs(v) < 1e15) {
    fprintf(out, "%.0f", v);
    return;
  }
  /* the shortest text that reads back as the same double */
  char buf[40];
  for (int digits = 6; digits <= 17; digits++) {
    snprintf(buf, sizeof buf, "%.*g", digits, v);
    if (strtod(buf, NULL) == v) break;
  }
  fputs(buf, out);
}

void report_csv_lead_head(FILE *out, const report *r) {
  fprintf(out, "name");
  for (int k = 0; k < r->n_keys; k++) {
    fputc(',', out);
    report_csv_text(out, r->keys[k]);
  }
  fprintf(out, ",method,split");
}

void report_csv_lead(FILE *out, const report *r, const report_run *run) {
  report_csv_text(out, run->name);
  for (int k = 0; k < r->n_keys; k++) {
    fputc(',', out);
    report_csv_text(out, run->values[k]);
  }
  fputc(',', out);
  report_csv_text(out, run->method);
  fputc(',', out);
  report_csv_text(out, run->split);
}
