/* test_config — schema ← file ← override layering: defaults filled in,
 * unknown keys and wrong types refused with file:line, ints accepted for
 * floats, @include relative to the file, open groups, overrides. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pipeline/config.h"

static const char *schema =
    "seed = 0;\n"
    "train = { lr = 0.001; epochs = 5; name = \"x\"; clip = false; betas = [0.9, 0.999]; };\n"
    "method = { name = \"ga\"; params = { }; };\n";
static const char *const open_groups[] = {"method.params", NULL};

static char dir[64];
static void setup(void) {
  strcpy(dir, "/tmp/lethe_cfg_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static char *write_file(const char *name, const char *text) {
  char *path = malloc(256);
  snprintf(path, 256, "%s/%s", dir, name);
  FILE *f = fopen(path, "w");
  fputs(text, f);
  fclose(f);
  return path;
}

START_TEST(test_defaults_file_overrides) {
  setup();
  free(write_file("inc.cfg", "seed = 7;\n"));
  char *p = write_file("a.cfg", "@include \"inc.cfg\"\ntrain = { lr = 1; };\n"
                                "method = { name = \"npo\"; params = { beta = 0.5; }; };\n");
  const char *over[] = {"train.epochs=9", "train.name=hello", "method.params.extra=2"};
  lcfg c;
  lethe_err err = {0};
  ck_assert_msg(lcfg_load(&c, schema, open_groups, p, over, 3, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(lcfg_int(&c, "seed"), 7);
  ck_assert_double_eq(lcfg_float(&c, "train.lr"), 1.0); /* int accepted for float */
  ck_assert_int_eq(lcfg_int(&c, "train.epochs"), 9);
  ck_assert_str_eq(lcfg_string(&c, "train.name"), "hello");
  ck_assert_int_eq(lcfg_bool(&c, "train.clip"), 0);
  ck_assert_str_eq(lcfg_string(&c, "method.name"), "npo");
  ck_assert_int_eq(lcfg_int(&c, "method.params.extra"), 2);
  char *text = lcfg_to_string(&c);
  ck_assert_ptr_nonnull(strstr(text, "beta = 0.5"));
  free(text);
  lcfg_free(&c);
  free(p);
}
END_TEST

START_TEST(test_unknown_key_has_file_and_line) {
  setup();
  char *p = write_file("b.cfg", "seed = 1;\ntrain = {\n  lrr = 0.1;\n};\n");
  lcfg c;
  lethe_err err = {0};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, p, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "b.cfg:3") && strstr(err.msg, "unknown setting 'train.lrr'"),
                "%s", err.msg);
  free(p);
}
END_TEST

START_TEST(test_wrong_type_has_file_and_line) {
  setup();
  char *p = write_file("c.cfg", "seed = \"zero\";\n");
  lcfg c;
  lethe_err err = {0};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, p, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "c.cfg:1") && strstr(err.msg, "must be an integer"), "%s",
                err.msg);
  free(p);
  p = write_file("d.cfg", "train = { lr = 1e-3 };\nseed = 1;;\n");
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, p, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "d.cfg:"), "%s", err.msg); /* syntax error with its line */
  free(p);
}
END_TEST

START_TEST(test_bad_overrides) {
  lcfg c;
  lethe_err err = {0};
  const char *unknown[] = {"train.lrx=1"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, unknown, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "unknown setting 'train.lrx'"), "%s", err.msg);
  const char *badtype[] = {"train.epochs=fast"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, badtype, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "cannot parse") || strstr(err.msg, "must be"), "%s", err.msg);
  const char *noeq[] = {"train.epochs"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, noeq, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "path=value"), "%s", err.msg);
  const char *floatint[] = {"train.epochs=2.5"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, floatint, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "must be an integer"), "%s", err.msg);
  /* found by fuzz_override: a name libconfig refuses used to crash the walk */
  const char *badname[] = {"method.params._x.y=1"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, badname, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "'_x' is not a valid setting name"), "%s", err.msg);
  /* a whole group would replace the defaults of its other members */
  const char *group[] = {"train={ lr = 1; }"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, group, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "one setting at a time"), "%s", err.msg);
  /* found by fuzz_override: 1e999 is inf, and the resolved file could not be read back */
  const char *inf[] = {"train.lr=1e999"};
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, NULL, inf, 1, &err), -1);
  ck_assert_msg(strstr(err.msg, "'train.lr' must be a finite number"), "%s", err.msg);
  setup();
  char *p = write_file("inf.cfg", "seed = 1;\nmethod = { params = { beta = -1e999; }; };\n");
  ck_assert_int_eq(lcfg_load(&c, schema, open_groups, p, NULL, 0, &err), -1);
  ck_assert_msg(strstr(err.msg, "inf.cfg:2") && strstr(err.msg, "method.params.beta"), "%s",
                err.msg);
  free(p);
}
END_TEST

int main(void) {
  Suite *s = suite_create("config");
  TCase *tc = tcase_create("layering");
  tcase_add_test(tc, test_defaults_file_overrides);
  tcase_add_test(tc, test_unknown_key_has_file_and_line);
  tcase_add_test(tc, test_wrong_type_has_file_and_line);
  tcase_add_test(tc, test_bad_overrides);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
