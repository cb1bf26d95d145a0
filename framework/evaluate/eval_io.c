/* eval_io — the files of evaluation: the eval sets (and the holdout set)
 * read from a TOFU directory, eval.json and summary.json written, a retain model's forget
 * truth ratios read back. Not here: computing any number (evaluate.c). */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/json_file.h"
#include "evaluate/eval_internal.h"

/* The first max_rows rows of a loaded set, as TOFU's code. */
static void truncate_rows(tofu_set *set, int max_rows) {
  for (size_t i = (size_t)max_rows; i < set->n; i++) tofu_qa_free(&set->rows[i]);
  if (set->n > (size_t)max_rows) set->n = (size_t)max_rows;
}

/* holdoutNN.json for forgetNN, when the directory has it (question and
 * answer are all membership inference reads). */
static int load_holdout(eval_data *d, const char *dir, const char *forget_split, int max_rows,
                        lethe_err *err) {
  static const char prefix[] = "forget";
  if (strncmp(forget_split, prefix, sizeof prefix - 1) != 0) return 0;
  char name[96], file[112];
  snprintf(name, sizeof name, "holdout%s", forget_split + sizeof prefix - 1);
  snprintf(file, sizeof file, "%s.json", name);
  char *path = lethe_path_join(dir, file);
  int present = lethe_file_exists(path);
  free(path);
  if (!present) return 0;
  if (tofu_load_split(dir, name, 0, &d->holdout, err) != 0) {
    eval_data_free(d);
    return -1;
  }
  truncate_rows(&d->holdout, max_rows);
  d->holdout_split = lethe_strdup(name);
  return 0;
}

int eval_data_load(eval_data *d, const char *dir, const char *forget_split, int max_rows,
                   lethe_err *err) {
  memset(d, 0, sizeof *d);
  char forget_name[96];
  snprintf(forget_name, sizeof forget_name, "%s_perturbed", forget_split);
  const char *names[TOFU_N_SETS] = {forget_name, "retain_perturbed", "real_authors_perturbed",
                                    "world_facts_perturbed"};
  unsigned need[TOFU_N_SETS] = {TOFU_F_PARA_A | TOFU_F_PERTURBED, TOFU_F_PARA_A | TOFU_F_PERTURBED,
                                TOFU_F_PERTURBED, TOFU_F_PERTURBED};
  for (int s = 0; s < TOFU_N_SETS; s++) {
    if (tofu_load_split(dir, names[s], need[s], &d->sets[s], err) != 0) {
      eval_data_free(d);
      return -1;
    }
    truncate_rows(&d->sets[s], max_rows);
  }
  d->forget_split = lethe_strdup(forget_split);
  return load_holdout(d, dir, forget_split, max_rows, err);
}

void eval_data_free(eval_data *d) {
  for (int s = 0; s < TOFU_N_SETS; s++) tofu_set_free(&d->sets[s]);
  tofu_set_free(&d->holdout);
  free(d->forget_split);
  free(d->holdout_split);
  memset(d, 0, sizeof *d);
}

/* JSON numbers: NaN/Inf become null. */
static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

json_t *eval_summary_json(const eval_report *r) {
  json_t *o = json_object();
  json_object_set_new(o, "model_utility", num(r->model_utility));
  json_object_set_new(o, "forget_quality", num(r->forget_quality));
  json_object_set_new(o, "forget_kl", num(r->forget_kl));
  json_object_set_new(o, "forget_truth_ratio_median", num(r->forget_truth_ratio_median));
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *set = json_object();
    json_object_set_new(set, "prob", num(r->summary[s].prob));
    json_object_set_new(set, "rouge", num(r->summary[s].rouge));
    json_object_set_new(set, "truth", num(r->summary[s].truth));
    json_object_set_new(set, "n", json_integer((json_int_t)r->n[s]));
    json_object_set_new(o, tofu_set_keys[s], set);
  }
  if (r->holdout) {
    for (int a = 0; a < EVAL_N_MIA; a++) {
      char key[48];
      snprintf(key, sizeof key, "mia_%s_auc", eval_mia_keys[a]);
      json_object_set_new(o, key, num(r->mia_auc[a]));
    }
    json_object_set_new(o, "n_holdout", json_integer((json_int_t)r->n_holdout));
  }
  if (r->against_retain)
    for (int a = 0; a < EVAL_N_MIA; a++) {
      char key[48];
      snprintf(key, sizeof key, "privleak_%s", eval_mia_keys[a]);
      json_object_set_new(o, key, num(r->privleak[a]));
    }
  /* the teacher-forced pass ran: ES is defined for every example */
  for (int s = 0; s < TOFU_N_SETS; s++) {
    if (isnan(r->mean_es[s])) continue;
    char key[48];
    snprintf(key, sizeof key, "%s_es", tofu_set_keys[s]);
    json_object_set_new(o, key, num(r->mean_es[s]));
    snprintf(key, sizeof key, "%s_em", tofu_set_keys[s]);
    json_object_set_new(o, key, num(r->mean_em[s]));
  }
  return o;
}

/* The teacher-forced pass's values of an example: the attack scores as
 * "mia_KEY", "es" and "em" (those it has). */
static void add_mia(json_t *o, const eval_example *e) {
  for (int a = 0; a < EVAL_N_MIA; a++) {
    char key[48];
    snprintf(key, sizeof key, "mia_%s", eval_mia_keys[a]);
    if (!isnan(e->mia[a])) json_object_set_new(o, key, num(e->mia[a]));
  }
  if (!isnan(e->es)) json_object_set_new(o, "es", num(e->es));
  if (!isnan(e->em)) json_object_set_new(o, "em", num(e->em));
}

/* Per example of the holdout set: question, answer, attack scores. */
static json_t *holdout_json(const eval_report *r, const eval_data *d) {
  json_t *arr = json_array();
  for (size_t i = 0; i < r->n_holdout; i++) {
    json_t *o = json_object();
    json_object_set_new(o, "question", json_string(d->holdout.rows[i].question));
    json_object_set_new(o, "answer", json_string(d->holdout.rows[i].answer));
    add_mia(o, &r->holdout[i]);
    json_array_append_new(arr, o);
  }
  return arr;
}

static int write_json(const char *dir, const char *name, json_t *j, lethe_err *err) {
  char *path = lethe_path_join(dir, name);
  int rc = lethe_json_write_atomic(path, j, JSON_INDENT(1) | JSON_ENSURE_ASCII, LETHE_JSON_NEWLINE,
                                   err);
  free(path);
  return rc;
}

int eval_report_write(const eval_report *r, const eval_data *d, const char *dir, lethe_err *err) {
  if (lethe_mkdir_p(dir, err) != 0) return -1;
  json_t *all = json_object();
  for (int s = 0; s < TOFU_N_SETS; s++) {
    json_t *arr = json_array();
    for (size_t i = 0; i < r->n[s]; i++) {
      const eval_example *e = &r->ex[s][i];
      json_t *o = json_object();
      json_object_set_new(o, "question", json_string(d->sets[s].rows[i].question));
      json_object_set_new(o, "answer", json_string(d->sets[s].rows[i].answer));
      json_object_set_new(o, "generation", json_string(e->generation ? e->generation : ""));
      json_object_set_new(o, "avg_nll", num(e->avg_nll));
      json_object_set_new(o, "prob", num(e->prob));
      json_object_set_new(o, "truth_ratio", num(e->truth_ratio));
      json_object_set_new(o, "rouge", num(e->rouge));
      if (isfinite(e->kl)) json_object_set_new(o, "kl", num(e->kl));
      add_mia(o, e);
      json_array_append_new(arr, o);
    }
    json_object_set_new(all, tofu_set_keys[s], arr);
  }
  if (r->holdout) json_object_set_new(all, "holdout", holdout_json(r, d));
  json_t *summary = eval_summary_json(r);
  json_object_set_new(summary, "forget_split", json_string(d->forget_split));
  if (r->holdout) json_object_set_new(summary, "holdout_split", json_string(d->holdout_split));
  int rc = write_json(dir, "eval.json", all, err);
  if (rc == 0) rc = write_json(dir, "summary.json", summary, err);
  json_decref(all);
  json_decref(summary);
  return rc;
}

/* The attack scores "mia_KEY" of an example object that has them. */
static void read_mia(const json_t *o, eval_example *e) {
  for (int a = 0; a < EVAL_N_MIA; a++) {
    char key[48];
    snprintf(key, sizeof key, "mia_%s", eval_mia_keys[a]);
    json_t *v = json_object_get(o, key);
    e->mia[a] = json_is_number(v) ? json_number_value(v) : NAN;
  }
}

/* The n examples of an array (NULL: none) with their attack scores. */
static eval_example *read_examples(const json_t *arr, size_t *n) {
  *n = json_is_array(arr) ? json_array_size(arr) : 0;
  eval_example *ex = lethe_calloc(*n + 1, sizeof *ex);
  for (size_t i = 0; i < *n; i++) read_mia(json_array_get(arr, i), &ex[i]);
  return ex;
}

int eval_read_retain(const char *eval_json, eval_retain *ret, lethe_err *err) {
  memset(ret, 0, sizeof *ret);
  json_error_t jerr;
  json_t *root = json_load_file(eval_json, 0, &jerr);
  if (!root)
    return lethe_errf(err, LETHE_E_FORMAT, "%s:%d: %s", eval_json, jerr.line, jerr.text);
  json_t *forget = json_object_get(root, "forget");
  if (!json_is_array(forget) || json_array_size(forget) == 0) {
    json_decref(root);
    return lethe_errf(err, LETHE_E_FORMAT, "%s: no \"forget\" array of examples", eval_json);
  }
  ret->forget = read_examples(forget, &ret->n_forget);
  ret->holdout = read_examples(json_object_get(root, "holdout"), &ret->n_holdout);
  ret->forget_tr = lethe_malloc(sizeof(double) * ret->n_forget);
  for (size_t i = 0; i < ret->n_forget; i++) {
    json_t *v = json_object_get(json_array_get(forget, i), "truth_ratio");
    if (!json_is_number(v)) {
      json_decref(root);
      eval_retain_free(ret);
      return lethe_errf(err, LETHE_E_FORMAT, "%s: forget example %zu has no numeric truth_ratio",
                        eval_json, i);
    }
    ret->forget_tr[i] = json_number_value(v);
  }
  json_decref(root);
  eval_retain_self_reference(ret);
  return 0;
}

void eval_retain_free(eval_retain *ret) {
  free(ret->forget_tr);
  free(ret->forget);
  free(ret->holdout);
  memset(ret, 0, sizeof *ret);
}
