/* suite_kind — the experiment-kind table: for each kind how a run is
 * checked, which `lethe` command runs it, how a finished run is summed up in
 * one line and what the suite reports at the end (see suite.h). The kinds'
 * names come from core/kind.h; this file compares none itself. */
#include <jansson.h>
#include <stdio.h>

#include "pipeline/check.h"
#include "muse/muse_run.h"
#include "pipeline/experiment.h"
#include "report/report.h"
#include "suite/suite.h"
#include "synthetic/synthetic.h"

/* ---- tofu: `lethe unlearn` ------------------------------------------------------ */
static int tofu_check(const char *base, const char *const *overrides, int n_overrides,
                         lethe_err *err) {
  experiment e;
  if (experiment_load(&e, base, overrides, n_overrides, err) != 0) return -1;
  /* the run directory is the suite's to make: checked once for the suite */
  int rc = experiment_check(&e, NULL, EXPERIMENT_CHECK_UNLEARN, err);
  experiment_free(&e);
  return rc;
}

static void tofu_run_line(const char *summary_path, char *buf, size_t n) {
  json_t *j = json_load_file(summary_path, 0, NULL);
  json_t *fin = json_object_get(j, "final"), *best = json_object_get(j, "best");
  json_t *privleak = json_object_get(fin, "privleak_loss"); /* absent with eval.mia = false */
  char leak[48] = "";
  if (json_is_number(privleak))
    snprintf(leak, sizeof leak, " PrivLeak %.1f", json_number_value(privleak));
  if (json_object_get(fin, "forget_quality"))
    snprintf(buf, n, "final FQ %.3g MU %.3f%s, best FQ %.3g (%.0f s)",
             json_number_value(json_object_get(fin, "forget_quality")),
             json_number_value(json_object_get(fin, "model_utility")), leak,
             json_number_value(json_object_get(best, "forget_quality")),
             json_number_value(json_object_get(j, "seconds")));
  else
    snprintf(buf, n, "done");
  json_decref(j);
}

/* `lethe report`'s page and tables (it reads the suite's kind). */
static int page_report(const char *out_dir, char *line, size_t n, lethe_err *err) {
  report_options ro = {0};
  if (report_write(out_dir, &ro, err) != 0) return -1;
  snprintf(line, n, "report: %s/report.html", out_dir);
  return 0;
}

/* ---- synthetic: `lethe synthetic` ------------------------------------------------ */
static void synthetic_run_line(const char *summary_path, char *buf, size_t n) {
  json_t *j = json_load_file(summary_path, 0, NULL);
  json_t *fin = json_object_get(j, "final");
  if (json_object_get(fin, "forget_distance"))
    snprintf(buf, n, "final forget distance %.3g, retain distance %.3g, forget KL %.3g",
             json_number_value(json_object_get(fin, "forget_distance")),
             json_number_value(json_object_get(fin, "retain_distance")),
             json_number_value(json_object_get(fin, "forget_kl")));
  else
    snprintf(buf, n, "done");
  json_decref(j);
}

/* The figures are `lethe synthetic-report`'s, on demand: the suite names it. */
static int synthetic_suite_report(const char *out_dir, char *line, size_t n, lethe_err *err) {
  (void)err;
  snprintf(line, n, "suite done: %s (lethe %s-report %s)", out_dir,
           lethe_kind_name(LETHE_KIND_SYNTHETIC), out_dir);
  return 0;
}

/* ---- muse: `lethe muse` ----------------------------------------------------------- */
static int muse_validate(const char *base, const char *const *overrides, int n_overrides,
                         lethe_err *err) {
  experiment e;
  if (experiment_load(&e, base, overrides, n_overrides, err) != 0) return -1;
  int rc = muse_check(&e, err) || experiment_check(&e, NULL, EXPERIMENT_CHECK_UNLEARN, err);
  experiment_free(&e);
  return rc ? -1 : 0;
}

static void muse_run_line(const char *summary_path, char *buf, size_t n) {
  json_t *j = json_load_file(summary_path, 0, NULL);
  json_t *fin = json_object_get(j, "final");
  if (json_object_get(fin, "verbmem_forget"))
    snprintf(buf, n, "final VerbMem %.3f KnowMem forget %.3f retain %.3f PrivLeak %.1f (%.0f s)",
             json_number_value(json_object_get(fin, "verbmem_forget")),
             json_number_value(json_object_get(fin, "knowmem_forget")),
             json_number_value(json_object_get(fin, "knowmem_retain")),
             json_number_value(json_object_get(fin, "privleak")),
             json_number_value(json_object_get(j, "seconds")));
  else
    snprintf(buf, n, "done");
  json_decref(j);
}

/* ---- the table -------------------------------------------------------------------- */
static const suite_kind kinds[LETHE_N_KINDS] = {
    [LETHE_KIND_TOFU] = {LETHE_KIND_TOFU, tofu_check, "unlearn", "--resume", 1,
                         "unlearn.seed", "finetune.seed",
                         tofu_run_line, page_report},
    [LETHE_KIND_SYNTHETIC] = {LETHE_KIND_SYNTHETIC, synth_check, "synthetic", NULL, 0,
                              "synthetic.seed", NULL,
                              synthetic_run_line, synthetic_suite_report},
    [LETHE_KIND_MUSE] = {LETHE_KIND_MUSE, muse_validate, "muse", "--resume", 0, "unlearn.seed",
                         "finetune.seed", muse_run_line, page_report},
};

const suite_kind *suite_kind_find(const char *name) {
  lethe_kind k = lethe_kind_parse(name);
  return k == LETHE_KIND_UNKNOWN ? NULL : &kinds[k];
}

