/* report_fixture — synthetic suite directories for the report tests (see
 * report_fixture.h). The curves are shaped after the small-scale recipe's
 * measurements: GA's FQ spikes while its utility collapses, NPO brakes,
 * NPO+RT keeps most of the utility, IDK/DPO/KL barely move FQ. */
#include "report_fixture.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

/* Check's assertions cannot run outside a test (`test_report fixture`), so
 * a failure here prints and exits; inside a test that is an error too. */
#define REQUIRE(cond, ...)                             \
  do {                                                 \
    if (!(cond)) {                                     \
      fprintf(stderr, "report_fixture: " __VA_ARGS__); \
      fputc('\n', stderr);                             \
      exit(1);                                         \
    }                                                  \
  } while (0)

#define TARGET_MU 0.76
#define RETAIN_MU 0.764
#define EPOCHS 10

typedef struct behaviour {
  const char *method;
  double mu_end;          /* model utility after 10 epochs */
  double fq_peak, fq_end; /* fraction of the way from the target's log10 FQ to 0 */
  double t_peak;          /* when FQ peaks, as a fraction of training */
  double kl_end;
  int explodes;       /* forget KL grows without bound */
  const char *answer; /* what the method answers a forget question */
} behaviour;

static const behaviour behaviours[] = {
    {"ga", 0.0, 0.995, 0.97, 0.55, 14.0, 1, "narr narr narr narr narr narr"},
    {"grad_diff", 0.45, 0.93, 0.80, 0.4, 8.0, 1, "the the writer writer"},
    {"kl", 0.75, 0.25, 0.25, 1.0, 0.6, 0, NULL},
    {"idk", 0.71, 0.40, 0.40, 1.0, 1.5, 0, "I'm not sure I can help with that."},
    {"dpo", 0.73, 0.15, 0.15, 1.0, 1.0, 0, "I have no idea who that is."},
    {"npo", 0.21, 0.998, 0.98, 0.7, 5.0, 0, "is is a writer known for ."},
    {"npo_rt", 0.63, 0.96, 0.94, 0.6, 3.0, 0, "She was born in Lisbon and writes romance novels."},
    {NULL, 0.5, 0.7, 0.6, 0.5, 2.0, 0, "something else"},
};

static const behaviour *behaviour_of(const char *method) {
  size_t i = 0;
  while (behaviours[i].method && strcmp(behaviours[i].method, method)) i++;
  return &behaviours[i];
}

static double target_log_fq(const char *split) {
  if (!strcmp(split, "forget01")) return -3.0;
  if (!strcmp(split, "forget05")) return -12.0;
  return -24.0;
}

static long steps_per_epoch(const char *split) {
  if (!strcmp(split, "forget01")) return 2;
  if (!strcmp(split, "forget05")) return 3;
  return 5;
}

static double smooth(double t) {
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  return t * t * (3 - 2 * t);
}

static json_t *num(double v) { return isfinite(v) ? json_real(v) : json_null(); }

typedef struct point {
  long step;
  double mu, fq, kl, loss;
  double forget_rouge, retain_rouge, forget_truth, retain_truth;
} point;

static json_t *set_json(double prob, double rouge, double truth, int nulls) {
  json_t *o = json_object();
  json_object_set_new(o, "prob", num(prob));
  json_object_set_new(o, "rouge", nulls ? json_null() : num(rouge));
  json_object_set_new(o, "truth", num(truth));
  json_object_set_new(o, "n", json_integer(20));
  return o;
}

static json_t *point_json(const point *p, long spe, int with_step, int nulls) {
  json_t *o = json_object();
  json_object_set_new(o, "model_utility", num(p->mu));
  json_object_set_new(o, "forget_quality", num(p->fq));
  json_object_set_new(o, "forget_kl", nulls ? json_null() : num(p->kl));
  json_object_set_new(o, "forget_truth_ratio_median", num(0.55 + 0.4 * p->forget_truth));
  json_object_set_new(o, "forget",
                      set_json(0.9 * p->forget_rouge, p->forget_rouge, p->forget_truth, nulls));
  json_object_set_new(o, "retain",
                      set_json(0.9 * p->retain_rouge, p->retain_rouge, p->retain_truth, 0));
  json_object_set_new(o, "real_authors", set_json(0.9, 0.95, 0.99, 0));
  json_object_set_new(o, "world_facts", set_json(0.93, 0.97, 0.99, 0));
  if (with_step) {
    json_object_set_new(o, "step", json_integer(p->step));
    json_object_set_new(o, "epoch", json_real((double)p->step / (double)spe));
    json_object_set_new(o, "loss", p->step ? num(p->loss) : json_null());
  }
  return o;
}

static void write_json(const char *dir, const char *file, json_t *o) {
  char *path = lethe_path_join(dir, file);
  REQUIRE(json_dump_file(o, path, JSON_INDENT(1)) == 0, "cannot write %s", path);
  free(path);
  json_decref(o);
}

static void write_text(const char *dir, const char *file, const char *text) {
  char *path = lethe_path_join(dir, file);
  lethe_err err = {0};
  REQUIRE(lethe_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
  free(path);
}

/* Per-example evaluation: a few questions per set with the method's answers. */
static json_t *eval_json(const behaviour *b, const char *split, double t, int nulls) {
  static const char *const authors[] = {"Ilse Varga", "Tomas Okafor", "Mirela Sato"};
  static const char *const keys[] = {"forget", "retain", "real_authors", "world_facts"};
  json_t *o = json_object();
  for (int s = 0; s < 4; s++) {
    json_t *rows = json_array();
    for (int i = 0; i < 4; i++) {
      char q[256], a[256];
      if (s == 0) {
        snprintf(q, sizeof q, "Where was %s (%s) born?", authors[i % 3], split);
        snprintf(a, sizeof a, "%s was born in Porto, Portugal.", authors[i % 3]);
      } else if (s == 1) {
        snprintf(q, sizeof q, "What genre does retain author %d write?", i);
        snprintf(a, sizeof a, "Retain author %d writes historical fiction.", i);
      } else if (s == 2) {
        snprintf(q, sizeof q, "Who wrote book number %d?", i);
        snprintf(a, sizeof a, "Jane Austen");
      } else {
        snprintf(q, sizeof q, "What is the capital of country %d?", i);
        snprintf(a, sizeof a, "Paris");
      }
      const char *gen = a;
      if (s == 0 && t > 0.3 && b->answer) gen = b->answer;
      if (s > 0 && t > 0.6 && b->mu_end < 0.1) gen = b->answer;
      json_t *row = json_object();
      json_object_set_new(row, "question", json_string(q));
      json_object_set_new(row, "answer", json_string(a));
      json_object_set_new(row, "generation", nulls && i == 1 ? json_null() : json_string(gen));
      json_object_set_new(row, "prob", num(0.5));
      json_object_set_new(row, "truth_ratio", nulls ? json_null() : num(0.6));
      json_object_set_new(row, "rouge", num(gen == a ? 1.0 : 0.1));
      json_array_append_new(rows, row);
    }
    json_object_set_new(o, keys[s], rows);
  }
  return o;
}

static void write_run(const char *run_dir, const char *method, const char *split, double beta,
                      int seed, int done, int failed, int nulls) {
  lethe_err err = {0};
  REQUIRE(lethe_mkdir_p(run_dir, &err) == 0, "%s", err.msg);
  const behaviour *b = behaviour_of(method);
  lethe_rng rng;
  uint64_t h = 1469598103934665603ULL;
  for (const char *c = method; *c; c++) h = (h ^ (uint64_t)*c) * 1099511628211ULL;
  for (const char *c = split; *c; c++) h = (h ^ (uint64_t)*c) * 1099511628211ULL;
  lethe_rng_seed(&rng, h + (uint64_t)seed * 7919 + (uint64_t)(beta * 1000));
  long spe = steps_per_epoch(split), steps = spe * EPOCHS;
  long every = strcmp(split, "forget01") ? spe : 1;
  double t0 = target_log_fq(split);
  double beta_shift = isfinite(beta) ? log10(beta / 0.1) : 0.0;
  int n_points = (int)(steps / every) + 1;
  point pts[n_points];
  double sd_fq = 0.25 * fabs(t0) / 24.0 + 0.1;
  for (int k = 0; k < n_points; k++) {
    point *p = &pts[k];
    p->step = k * every;
    double t = (double)p->step / (double)steps;
    double f = t <= b->t_peak ? b->fq_peak * smooth(t / b->t_peak)
                              : b->fq_peak + (b->fq_end - b->fq_peak) * (t - b->t_peak) /
                                                 (1 - b->t_peak + 1e-9);
    f *= 1.0 - 0.05 * beta_shift;
    double log_fq = t0 * (1.0 - f) + (k ? sd_fq * lethe_rng_normal(&rng) : 0.0);
    p->fq = pow(10.0, log_fq > 0 ? -0.01 : log_fq);
    double mu_end = b->mu_end + 0.08 * beta_shift;
    p->mu = TARGET_MU + (mu_end - TARGET_MU) * smooth(b->mu_end < 0.1 ? t / 0.75 : t);
    p->mu += k ? 0.015 * lethe_rng_normal(&rng) : 0.0;
    p->mu = p->mu < 0 ? 0 : p->mu > 1 ? 1 : p->mu;
    p->kl = b->explodes ? b->kl_end * pow(t, 2.2) : b->kl_end * (1 - exp(-4 * t));
    p->kl *= k ? 1 + 0.05 * lethe_rng_normal(&rng) : 0.0;
    p->loss = 3.0 - 2.0 * t;
    p->forget_rouge = 1.0 - 0.9 * f;
    p->retain_rouge = p->mu / TARGET_MU;
    p->forget_truth = 0.6 + 0.2 * f;
    p->retain_truth = 0.45;
  }
  int last = done ? n_points - 1 : n_points / 2;
  /* history.jsonl and steps.jsonl */
  size_t cap = 1 << 16, len = 0;
  char *hist = lethe_malloc(cap);
  hist[0] = '\0';
  for (int k = 0; k <= last; k++) {
    json_t *o = point_json(&pts[k], spe, 1, 0);
    if (nulls && k % 3 == 1) json_object_set_new(o, "forget_quality", json_null());
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    size_t n = strlen(line);
    if (len + n + 2 > cap) hist = lethe_realloc(hist, cap = (len + n + 2) * 2);
    memcpy(hist + len, line, n);
    len += n;
    hist[len++] = '\n';
    hist[len] = '\0';
    free(line);
  }
  write_text(run_dir, "history.jsonl", hist);
  free(hist);
  write_text(run_dir, "steps.jsonl",
             "{\"step\":1,\"loss\":3.0,\"lr\":0.0,\"npo_weight_mean\":1.0}\n");
  char cfg[256];
  snprintf(cfg, sizeof cfg,
           "unlearn = { seed = %d; epochs = %d; };\nmethod = { name = \"%s\"; };\n"
           "eval = { samples = 2; };\n",
           seed, EPOCHS, method);
  write_text(run_dir, "config.cfg", cfg);
  if (!done) {
    if (failed) write_text(run_dir, "FAILED", "evaluation at step 7: out of memory\n");
    return;
  }
  /* summary.json: final, best (highest FQ, first on ties), constrained */
  int best = -1, con = -1;
  for (int k = 0; k < n_points; k++) {
    if (nulls && k % 3 == 1) continue;
    if (best < 0 || pts[k].fq > pts[best].fq) best = k;
    if (pts[k].mu >= 0.8 * TARGET_MU && (con < 0 || pts[k].fq > pts[con].fq)) con = k;
  }
  json_t *s = json_object();
  json_object_set_new(s, "method", json_string(method));
  json_object_set_new(s, "forget_split", json_string(split));
  json_object_set_new(s, "steps", json_integer(steps));
  json_object_set_new(s, "steps_per_epoch", json_integer(spe));
  json_object_set_new(s, "seconds", nulls ? json_null() : num(40 + 5 * lethe_rng_uniform(&rng)));
  json_object_set_new(s, "mu_fraction", json_real(0.8));
  json_object_set_new(s, "final", point_json(&pts[n_points - 1], spe, 1, nulls));
  json_object_set_new(s, "best", point_json(&pts[best], spe, 1, 0));
  json_object_set_new(s, "best_constrained",
                      con >= 0 && !nulls ? point_json(&pts[con], spe, 1, 0) : json_null());
  point target = {0, TARGET_MU, pow(10.0, t0), NAN, NAN, 1.0, 1.0, 0.6, 0.45};
  point retain = {0, RETAIN_MU, NAN, NAN, NAN, 0.3, 1.0, 0.8, 0.46};
  json_t *tj = point_json(&target, spe, 0, 0), *rj = point_json(&retain, spe, 0, 0);
  json_object_set_new(tj, "forget_split", json_string(split));
  json_object_set_new(rj, "forget_split", json_string(split));
  json_object_set_new(s, "target", tj);
  json_object_set_new(s, "retain", rj);
  write_json(run_dir, "summary.json", s);
  write_json(run_dir, "eval.json", eval_json(b, split, 1.0, nulls));
  char *best_dir = lethe_path_join(run_dir, "best");
  REQUIRE(lethe_mkdir_p(best_dir, &err) == 0, "%s", err.msg);
  write_json(best_dir, "eval.json", eval_json(b, split, (double)pts[best].step / steps, 0));
  free(best_dir);
  write_text(run_dir, "DONE", "ok\n");
}

/* A run's "method" in suite.json: the titles and colours the plugins'
 * descriptors give (an unknown method: its name alone). */
static json_t *method_json(const char *name) {
  static const char *const styles[][3] = {
      {"ga", "GA", "#d55e00"},         {"grad_diff", "GA+RT", "#e69f00"},
      {"kl", "GA+KL", "#cc79a7"},      {"idk", "IDK+RT", "#56b4e9"},
      {"dpo", "DPO", "#0072b2"},       {"npo", "NPO", "#7b4ea3"},
      {"npo_rt", "NPO+RT", "#117733"}, {"npo_kl", "NPO+KL", "#999933"},
      {"simnpo", "SimNPO", "#882255"},
  };
  json_t *o = json_object();
  json_object_set_new(o, "name", json_string(name));
  for (size_t i = 0; i < sizeof styles / sizeof styles[0]; i++)
    if (!strcmp(styles[i][0], name)) {
      json_object_set_new(o, "title", json_string(styles[i][1]));
      json_object_set_new(o, "colour", json_string(styles[i][2]));
    }
  return o;
}

static json_t *string_array(const char *const *v, int n) {
  json_t *a = json_array();
  for (int i = 0; i < n; i++) json_array_append_new(a, json_string(v[i]));
  return a;
}

int fixture_write(const char *dir, const fixture_spec *spec) {
  lethe_err err = {0};
  REQUIRE(lethe_mkdir_p(dir, &err) == 0, "%s", err.msg);
  int n_betas = spec->betas ? spec->n_betas : 1;
  int total = spec->n_methods * spec->n_splits * n_betas * spec->n_seeds, index = 0;
  json_t *grid = json_object(), *runs = json_array();
  json_object_set_new(grid, "method.name", string_array(spec->methods, spec->n_methods));
  json_object_set_new(grid, "data.forget_split", string_array(spec->splits, spec->n_splits));
  if (spec->betas) {
    json_t *a = json_array();
    for (int i = 0; i < spec->n_betas; i++) json_array_append_new(a, json_real(spec->betas[i]));
    json_object_set_new(grid, "method.params.beta", a);
  }
  json_t *seeds = json_array();
  for (int i = 0; i < spec->n_seeds; i++) json_array_append_new(seeds, json_integer(i));
  json_object_set_new(grid, "unlearn.seed", seeds);
  for (int m = 0; m < spec->n_methods; m++)
    for (int s = 0; s < spec->n_splits; s++)
      for (int b = 0; b < n_betas; b++)
        for (int seed = 0; seed < spec->n_seeds; seed++, index++) {
          char name[256];
          int len = 0;
          if (spec->n_methods > 1)
            len += snprintf(name + len, sizeof name - len, "method.name=%s,", spec->methods[m]);
          if (spec->n_splits > 1)
            len +=
                snprintf(name + len, sizeof name - len, "data.forget_split=%s,", spec->splits[s]);
          if (spec->betas)
            len +=
                snprintf(name + len, sizeof name - len, "method.params.beta=%g,", spec->betas[b]);
          snprintf(name + len, sizeof name - len, "unlearn.seed=%d", seed);
          json_t *settings = json_object();
          json_object_set_new(settings, "method.name", json_string(spec->methods[m]));
          json_object_set_new(settings, "data.forget_split", json_string(spec->splits[s]));
          if (spec->betas)
            json_object_set_new(settings, "method.params.beta", json_real(spec->betas[b]));
          json_object_set_new(settings, "unlearn.seed", json_integer(seed));
          char rel[300];
          snprintf(rel, sizeof rel, "runs/%s", name);
          json_t *run = json_object();
          json_object_set_new(run, "name", json_string(name));
          json_object_set_new(run, "dir", json_string(rel));
          json_object_set_new(run, "settings", settings);
          if (!spec->no_methods) json_object_set_new(run, "method", method_json(spec->methods[m]));
          json_array_append_new(runs, run);
          char *run_dir = lethe_path_join(dir, rel);
          int done = index < total - spec->n_unfinished;
          write_run(run_dir, spec->methods[m], spec->splits[s], spec->betas ? spec->betas[b] : NAN,
                    seed, done, !done && index == total - 1, spec->nulls);
          free(run_dir);
        }
  json_t *suite = json_object();
  json_object_set_new(suite, "name", json_string(spec->name));
  json_object_set_new(suite, "suite_file", json_string("configs/suites/fixture.cfg"));
  json_object_set_new(suite, "grid", grid);
  json_object_set_new(suite, "runs", runs);
  write_json(dir, "suite.json", suite);
  return total;
}
