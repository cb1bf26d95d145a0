/* test_core — errors, RNG determinism, atomic writes, file helpers, kind names. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/kind.h"

START_TEST(test_errf_and_prefix) {
  lethe_err err = {0};
  ck_assert_int_eq(lethe_errf(&err, LETHE_E_IO, "%s:%d: bad", "f.json", 7), -1);
  ck_assert_str_eq(err.msg, "f.json:7: bad");
  ck_assert_int_eq(err.code, LETHE_E_IO);
  lethe_err_prefix(&err, "loading %s", "model");
  ck_assert_str_eq(err.msg, "loading model: f.json:7: bad");
  lethe_err_clear(&err);
  ck_assert_int_eq(err.code, 0);
}
END_TEST

START_TEST(test_rng_deterministic) {
  lethe_rng a, b, c;
  lethe_rng_seed(&a, 42);
  lethe_rng_seed(&b, 42);
  lethe_rng_seed(&c, 43);
  int differ = 0;
  for (int i = 0; i < 100; i++) {
    uint64_t x = lethe_rng_u64(&a), y = lethe_rng_u64(&b), z = lethe_rng_u64(&c);
    ck_assert_uint_eq(x, y);
    differ += x != z;
  }
  ck_assert_int_gt(differ, 90);
  double sum = 0, sq = 0;
  for (int i = 0; i < 20000; i++) {
    double u = lethe_rng_uniform(&a);
    ck_assert(u >= 0 && u < 1);
    double n = lethe_rng_normal(&a);
    sum += n;
    sq += n * n;
    ck_assert_uint_lt(lethe_rng_below(&a, 7), 7);
  }
  ck_assert_double_eq_tol(sum / 20000, 0.0, 0.05);
  ck_assert_double_eq_tol(sq / 20000, 1.0, 0.05);
}
END_TEST

START_TEST(test_atomic_write_keeps_old_on_failure) {
  char dir[] = "/tmp/lethe_core_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *path = lethe_path_join(dir, "a.txt");
  lethe_err err = {0};
  ck_assert_int_eq(lethe_write_file_atomic(path, "hello", 5, &err), 0);
  char *buf;
  size_t len;
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &buf, &len, &err), 0);
  ck_assert_str_eq(buf, "hello");
  free(buf);
  /* the same without fsync (progress records): replaced whole */
  ck_assert_int_eq(lethe_write_file_replace(path, "hi", 2, &err), 0);
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &buf, &len, &err), 0);
  ck_assert_str_eq(buf, "hi");
  free(buf);
  ck_assert_int_eq(lethe_write_file_atomic(path, "hello", 5, &err), 0);
  /* A read-only directory: the write fails with a message, the old file stays. */
  if (geteuid() != 0) {
    chmod(dir, 0555);
    ck_assert_int_eq(lethe_write_file_atomic(path, "bye", 3, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "a.txt"));
    chmod(dir, 0755);
  }
  lethe_atomic_file af;
  ck_assert_int_eq(lethe_atomic_open(&af, path, &err), 0);
  fputs("partial", af.fp);
  lethe_atomic_abort(&af);
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &buf, &len, &err), 0);
  ck_assert_str_eq(buf, "hello");
  free(buf);
  ck_assert_int_eq(lethe_read_file(path, 2, &buf, &len, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "more than"));
  unlink(path);
  free(path);
  rmdir(dir);
}
END_TEST

START_TEST(test_mkdir_p_and_join) {
  char dir[] = "/tmp/lethe_core_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  char *deep = lethe_path_join(dir, "x/y/z");
  lethe_err err = {0};
  ck_assert_int_eq(lethe_mkdir_p(deep, &err), 0);
  ck_assert(lethe_file_exists(deep));
  char *j = lethe_path_join("a/", "b");
  ck_assert_str_eq(j, "a/b");
  free(j);
  free(deep);
}
END_TEST

START_TEST(test_exe_path) {
  char *exe = lethe_exe_path(), *expected = realpath(LETHE_BINARY_DIR "/tests/test_core", NULL);
  ck_assert_ptr_nonnull(exe);
  ck_assert_ptr_nonnull(expected);
  ck_assert_str_eq(exe, expected);
  free(exe);
  free(expected);
}
END_TEST

START_TEST(test_kind_names_round_trip) {
  for (int k = 0; k < LETHE_N_KINDS; k++) {
    const char *name = lethe_kind_name((lethe_kind)k);
    ck_assert_ptr_nonnull(name);
    ck_assert_int_eq(lethe_kind_parse(name), k);
  }
  ck_assert_str_eq(lethe_kind_name(LETHE_KIND_TOFU), "tofu");
  ck_assert_str_eq(lethe_kind_name(LETHE_KIND_SYNTHETIC), "synthetic");
  ck_assert_ptr_null(lethe_kind_name(LETHE_KIND_UNKNOWN));
  ck_assert_int_eq(lethe_kind_parse(NULL), LETHE_KIND_UNKNOWN);
  ck_assert_int_eq(lethe_kind_parse("Tofu"), LETHE_KIND_UNKNOWN);
  ck_assert_int_eq(lethe_kind_parse(""), LETHE_KIND_UNKNOWN);
}
END_TEST

START_TEST(test_is_colour) {
  ck_assert(lethe_is_colour("#00AAff"));
  ck_assert(lethe_is_colour("#000000"));
  ck_assert(!lethe_is_colour("#00aaf"));
  ck_assert(!lethe_is_colour("#00aaffe"));
  ck_assert(!lethe_is_colour("00aaff"));
  ck_assert(!lethe_is_colour("#00aafg"));
  ck_assert(!lethe_is_colour("# 0aaff"));
  ck_assert(!lethe_is_colour(""));
  ck_assert(!lethe_is_colour(NULL));
}
END_TEST

int main(void) {
  Suite *s = suite_create("core");
  TCase *tc = tcase_create("core");
  tcase_add_test(tc, test_errf_and_prefix);
  tcase_add_test(tc, test_is_colour);
  tcase_add_test(tc, test_rng_deterministic);
  tcase_add_test(tc, test_atomic_write_keeps_old_on_failure);
  tcase_add_test(tc, test_mkdir_p_and_join);
  tcase_add_test(tc, test_exe_path);
  tcase_add_test(tc, test_kind_names_round_trip);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
