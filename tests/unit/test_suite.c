/* test_suite — what a suite writes for the report: suite.json with each
 * run's method name, title and colour from its plugin's descriptor
 * (suite_write_json), and the errors when a run's method does not resolve. */
#include <check.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "suite/suite.h"

static char dir[] = "/tmp/lethe_test_suite_XXXXXX";

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
  ck_assert_ptr_nonnull(mkdtemp(dir));
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

int main(void) {
  Suite *s = suite_create("suite");
  TCase *tc = tcase_create("suite");
  tcase_add_test(tc, test_methods_in_suite_json);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? 1 : 0;
}
