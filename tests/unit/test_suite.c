/* test_suite — what a suite writes for the report: suite.json with each
 * run's method name, title and colour from its plugin's descriptor
 * (suite_write_json), and the errors when a run's method does not resolve;
 * seeds and model seeds as suite dimensions (counts, names, settings, the
 * conflicts refused). */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suite/suite.h"

static char dir[] = "/tmp/lethe_test_suite_XXXXXX";

/* A fresh directory for one test (CK_FORK=no runs them in one process). */
static void make_dir(void) {
  strcpy(dir, "/tmp/lethe_test_suite_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static char *write_file(const char *name, const char *text) {
  char *path = lethe_path_join(dir, name);
  lethe_err err = {0};
  ck_assert_msg(lethe_write_file_atomic(path, text, strlen(text), &err) == 0, "%s", err.msg);
  return path;
}

/* suite_load + suite_write_json of a suite file; returns suite.json parsed
 * (NULL when writing failed: err says why). */
static json_t *written(const char *suite_text, lethe_err *err) {
  char *path = write_file("s.cfg", suite_text), *out = lethe_path_join(dir, "suite.json");
  suite s;
  ck_assert_msg(suite_load(&s, path, err) == 0, "%s", err->msg);
  json_t *root = NULL;
  if (suite_write_json(&s, out, err) == 0) {
    json_error_t jerr;
    root = json_load_file(out, 0, &jerr);
    ck_assert_msg(root != NULL, "%s: %s", out, jerr.text);
  }
  suite_free(&s);
  unlink(out);
  free(path);
  free(out);
  return root;
}

static void expect_method(const json_t *root, size_t run, const char *name, const char *title,
                          const char *colour) {
  const json_t *m = json_object_get(json_array_get(json_object_get(root, "runs"), run), "method");
  ck_assert_str_eq(json_string_value(json_object_get(m, "name")), name);
  ck_assert_str_eq(json_string_value(json_object_get(m, "title")), title);
  ck_assert_str_eq(json_string_value(json_object_get(m, "colour")), colour);
}

START_TEST(test_methods_in_suite_json) {
  make_dir();
  free(write_file("base.cfg", "unlearn = { epochs = 1; };\n"));
  free(write_file("synth.cfg", "kind = \"synthetic\";\n"));
  lethe_err err = {0};
  json_t *root = written("base = \"base.cfg\";\n"
                         "grid = { method = { name = [\"ga\", \"npo_rt\"]; }; };\n",
                         &err);
  ck_assert_msg(root != NULL, "%s", err.msg);
  ck_assert_int_eq(json_array_size(json_object_get(root, "runs")), 2);
  expect_method(root, 0, "ga", "GA", "#d55e00");
  expect_method(root, 1, "npo_rt", "NPO+RT", "#117733");
  /* the rest of the expansion as suite_load made it */
  ck_assert_str_eq(json_string_value(json_object_get(root, "kind")), "tofu");
  const json_t *run0 = json_array_get(json_object_get(root, "runs"), 0);
  ck_assert_str_eq(json_string_value(json_object_get(run0, "name")), "name=ga");
  ck_assert_str_eq(
      json_string_value(json_object_get(json_object_get(run0, "settings"), "method.name")), "ga");
  json_decref(root);

  /* a method no plugin provides: the error names the suite file and the run */
  root = written("base = \"base.cfg\";\n"
                 "grid = { method = { name = [\"ga\", \"no_such_method\"]; }; };\n",
                 &err);
  ck_assert_ptr_null(root);
  ck_assert_msg(strstr(err.msg, "s.cfg: run name=no_such_method") &&
                    strstr(err.msg, "no plugin for method 'no_such_method'"),
                "%s", err.msg);

  /* other kinds: the expansion alone (their runs write their own method) */
  root = written("base = \"synth.cfg\";\ngrid = { synthetic = { seed = [1, 2]; }; };\n", &err);
  ck_assert_msg(root != NULL, "%s", err.msg);
  const json_t *run1 = json_array_get(json_object_get(root, "runs"), 1);
  ck_assert_ptr_null(json_object_get(run1, "method"));
  json_decref(root);

  char *paths[] = {lethe_path_join(dir, "base.cfg"), lethe_path_join(dir, "synth.cfg"),
                   lethe_path_join(dir, "s.cfg")};
  for (int i = 0; i < 3; i++) unlink(paths[i]), free(paths[i]);
  rmdir(dir);
}
END_TEST

static const char *run_name(const suite *s, int r) { return s->runs[r].name; }

/* 1 when run r has the override o. */
static int has_override(const suite *s, int r, const char *o) {
  for (int i = 0; i < s->runs[r].n_overrides; i++)
    if (!strcmp(s->runs[r].overrides[i], o)) return 1;
  return 0;
}

/* suite_load of text as s.cfg must fail with a message containing want. */
static void expect_refused(const char *text, const char *want) {
  char *path = write_file("s.cfg", text);
  suite s;
  lethe_err err = {0};
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_msg(strstr(err.msg, want), "'%s' not in: %s", want, err.msg);
  free(path);
}

START_TEST(test_seeds) {
  make_dir();
  free(write_file("base.cfg", "unlearn = { epochs = 1; };\n"));
  free(write_file("synth.cfg", "kind = \"synthetic\";\n"));
  lethe_err err = {0};
  /* 2 methods x 2 splits x 2 model seeds x 3 seeds, the seed fastest */
  json_t *root = written("base = \"base.cfg\";\n"
                         "grid = { method = { name = [\"ga\", \"npo_rt\"]; };\n"
                         "         data = { forget_split = [\"forget01\", \"forget10\"]; }; };\n"
                         "seeds = 3;\nmodel_seeds = 2;\n",
                         &err);
  ck_assert_msg(root != NULL, "%s", err.msg);
  const json_t *runs = json_object_get(root, "runs");
  ck_assert_int_eq(json_array_size(runs), 24);
  ck_assert_int_eq(json_integer_value(json_object_get(root, "seeds")), 3);
  ck_assert_int_eq(json_integer_value(json_object_get(root, "model_seeds")), 2);
  static const struct { int run, model_seed, seed; const char *name; } want[] = {
      {0, 0, 0, "name=ga,forget_split=forget01,model_seed=0,seed=0"},
      {2, 0, 2, "name=ga,forget_split=forget01,model_seed=0,seed=2"},
      {3, 1, 0, "name=ga,forget_split=forget01,model_seed=1,seed=0"},
      {23, 1, 2, "name=npo_rt,forget_split=forget10,model_seed=1,seed=2"}};
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const json_t *run = json_array_get(runs, (size_t)want[i].run), *set = json_object_get(run, "settings");
    ck_assert_str_eq(json_string_value(json_object_get(run, "name")), want[i].name);
    ck_assert_int_eq(json_integer_value(json_object_get(run, "seed")), want[i].seed);
    ck_assert_int_eq(json_integer_value(json_object_get(run, "model_seed")), want[i].model_seed);
    ck_assert_int_eq(json_integer_value(json_object_get(set, "unlearn.seed")), want[i].seed);
    ck_assert_int_eq(json_integer_value(json_object_get(set, "finetune.seed")), want[i].model_seed);
  }
  json_decref(root);

  /* the overrides a run gets, and a gridded *.seed named by its whole path */
  char *path = write_file("s.cfg", "base = \"base.cfg\";\n"
                                   "grid = { base = { seed = [0, 1]; }; };\nseeds = 2;\n");
  suite s;
  ck_assert_msg(suite_load(&s, path, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(s.n_runs, 4);
  ck_assert_int_eq(s.seeds, 2);
  ck_assert_int_eq(s.model_seeds, 0);
  ck_assert_str_eq(run_name(&s, 1), "base.seed=0,seed=1");
  ck_assert(has_override(&s, 1, "base.seed=0") && has_override(&s, 1, "unlearn.seed=1"));
  ck_assert_int_eq(s.runs[1].override_line[1], 3);
  /* an -s override of a varied seed would make the runs the same */
  const char *extra[] = {"unlearn.seed=4"};
  ck_assert_int_eq(suite_validate(&s, extra, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "-s unlearn.seed=4: the suite ") && strstr(err.msg, "(seeds = 2)"), "%s",
                err.msg);
  suite_free(&s);
  free(path);
  /* no grid at all: one run per seed */
  path = write_file("s.cfg", "base = \"base.cfg\";\nseeds = 2;\n");
  ck_assert_msg(suite_load(&s, path, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(s.n_runs, 2);
  ck_assert_str_eq(run_name(&s, 0), "seed=0");
  suite_free(&s);
  free(path);
  /* a learning rate as written, with the fewest digits that read back exactly */
  path = write_file("s.cfg", "base = \"base.cfg\";\ngrid = { unlearn = { lr = [3e-4, 0.1]; }; };\n"
                             "seeds = 2;\n");
  ck_assert_msg(suite_load(&s, path, &err) == 0, "%s", err.msg);
  ck_assert_str_eq(run_name(&s, 1), "lr=0.0003,seed=1");
  ck_assert_str_eq(run_name(&s, 2), "lr=0.1,seed=0");
  ck_assert(has_override(&s, 1, "unlearn.lr=0.0003"));
  suite_free(&s);
  free(path);
  /* a synthetic suite varies synthetic.seed, and has no model seed */
  path = write_file("s.cfg", "base = \"synth.cfg\";\nseeds = 2;\n");
  ck_assert_msg(suite_load(&s, path, &err) == 0, "%s", err.msg);
  ck_assert(has_override(&s, 1, "synthetic.seed=1"));
  suite_free(&s);
  free(path);
  expect_refused("base = \"synth.cfg\";\nmodel_seeds = 2;\n",
                 "s.cfg:2: model_seeds: this kind of experiment has no model seed");

  /* the seed set elsewhere in the file: refused with the line of each */
  expect_refused("base = \"base.cfg\";\nseeds = 3;\n"
                 "grid = { method = { name = [\"ga\"]; };\n  unlearn = { seed = [0, 1]; }; };\n",
                 "s.cfg:4: unlearn.seed is set here, but seeds = 3 (");
  expect_refused("base = \"base.cfg\";\nseeds = 3;\nset = { unlearn = { seed = 1; }; };\n",
                 "s.cfg:3: unlearn.seed is set here");
  expect_refused("base = \"base.cfg\";\nseeds = 3;\n"
                 "groups = ( { name = \"a\"; set = { unlearn = { seed = 1; }; }; } );\n",
                 "s.cfg:3: unlearn.seed is set here");
  expect_refused("base = \"base.cfg\";\nmodel_seeds = 2;\nset = { finetune = { seed = 1; }; };\n",
                 "s.cfg:3: finetune.seed is set here, but model_seeds = 2 (");
  /* counts: whole numbers from 1, and the run limit over all dimensions */
  expect_refused("base = \"base.cfg\";\nseeds = 0;\n", "s.cfg:2: seeds must be a whole number");
  expect_refused("base = \"base.cfg\";\nseeds = 2.5;\n", "s.cfg:2: seeds must be a whole number");
  expect_refused("base = \"base.cfg\";\nseeds = \"5\";\n", "s.cfg:2: seeds must be a whole number");
  expect_refused("base = \"base.cfg\";\nseeds = 1000;\nmodel_seeds = 1000;\n",
                 "more than 100000 runs (grid x groups x model_seeds x seeds)");

  char *paths[] = {lethe_path_join(dir, "base.cfg"), lethe_path_join(dir, "synth.cfg"),
                   lethe_path_join(dir, "s.cfg")};
  for (int i = 0; i < 3; i++) unlink(paths[i]), free(paths[i]);
  rmdir(dir);
}
END_TEST

int main(void) {
  Suite *s = suite_create("suite");
  TCase *tc = tcase_create("suite");
  tcase_add_test(tc, test_methods_in_suite_json);
  tcase_add_test(tc, test_seeds);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
