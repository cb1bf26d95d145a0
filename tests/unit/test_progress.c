/* test_progress — progress records (format, the bar's and phases' writes),
 * the status line on a file and on a terminal (a pseudo-terminal). */
#include <check.h>
#include <poll.h>
#include <pty.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "core/progress.h"

/* A fresh directory's file `name`; the caller frees it. */
static char *temp_file(const char *name) {
  char dir[] = "/tmp/lethe_progress_XXXXXX";
  ck_assert_ptr_nonnull(mkdtemp(dir));
  return lethe_path_join(dir, name);
}

static void remove_temp(char *path) {
  unlink(path);
  *strrchr(path, '/') = '\0';
  rmdir(path);
  free(path);
}

START_TEST(test_time) {
  char buf[32];
  progress_time(buf, sizeof buf, 25.7);
  ck_assert_str_eq(buf, "00:25");
  progress_time(buf, sizeof buf, 3725);
  ck_assert_str_eq(buf, "1:02:05");
  progress_time(buf, sizeof buf, -1);
  ck_assert_str_eq(buf, "--:--");
}
END_TEST

START_TEST(test_record_round_trip) {
  char *path = temp_file("progress");
  progress_record r = {"fine-tune on full", 12, 43, 1, 3, 25.3}, back;
  ck_assert_int_eq(progress_record_read(path, &back), -1); /* not there yet */
  ck_assert_int_eq(progress_record_write(path, &r, NULL), 0);
  ck_assert_int_eq(progress_record_read(path, &back), 0);
  ck_assert_str_eq(back.label, "fine-tune on full");
  ck_assert_int_eq(back.step, 12);
  ck_assert_int_eq(back.total, 43);
  ck_assert_int_eq(back.epoch, 1);
  ck_assert_int_eq(back.epochs, 3);
  ck_assert_double_eq_tol(back.eta, 25.3, 1e-9);
  char text[128];
  progress_record_format(&back, text, sizeof text);
  ck_assert_str_eq(text, "fine-tune on full 12/43 epoch 1/3 ETA 00:25");
  progress_record phase = {"evaluating the retain model on forget10", 0, 0, 0, 0, -1};
  progress_record_format(&phase, text, sizeof text);
  ck_assert_str_eq(text, "evaluating the retain model on forget10");
  ck_assert_int_eq(lethe_write_file_atomic(path, "step 3\n", 7, NULL), 0);
  ck_assert_int_eq(progress_record_read(path, &back), -1); /* no label: not a record */
  remove_temp(path);
}
END_TEST

START_TEST(test_phase_needs_the_variable) {
  char *path = temp_file("progress");
  unsetenv(PROGRESS_FILE_ENV);
  progress_phase("waiting for the base model");
  ck_assert(!lethe_file_exists(path));
  setenv(PROGRESS_FILE_ENV, path, 1);
  progress_phase("waiting for the base model");
  progress_record r;
  ck_assert_int_eq(progress_record_read(path, &r), 0);
  ck_assert_str_eq(r.label, "waiting for the base model");
  ck_assert_int_eq(r.total, 0);
  unsetenv(PROGRESS_FILE_ENV);
  remove_temp(path);
}
END_TEST

/* The bar writes its record quiet or not: at the start, at most once a
 * second, at the last step; epochs from the share of the steps done. */
START_TEST(test_bar_writes_records) {
  char *path = temp_file("progress");
  setenv(PROGRESS_FILE_ENV, path, 1);
  lethe_progress p;
  progress_record r;
  progress_start(&p, "base model", 10, 0, 2.0, 1);
  ck_assert_int_eq(progress_record_read(path, &r), 0);
  ck_assert_str_eq(r.label, "base model");
  ck_assert_int_eq(r.step, 0);
  ck_assert_int_eq(r.total, 10);
  ck_assert_int_eq(r.epoch, 1);
  ck_assert_int_eq(r.epochs, 2);
  progress_update(&p, 3, 1.0, 100);
  ck_assert_int_eq(progress_record_read(path, &r), 0);
  ck_assert_int_eq(r.step, 0); /* less than a second after the last write */
  progress_update(&p, 10, 1.0, 100);
  ck_assert_int_eq(progress_record_read(path, &r), 0);
  ck_assert_int_eq(r.step, 10);
  ck_assert_int_eq(r.epoch, 2);
  progress_finish(&p, 10, 1.0);
  ck_assert_int_eq(progress_record_read(path, &r), 0);
  ck_assert_double_eq(r.eta, 0);
  unsetenv(PROGRESS_FILE_ENV);
  remove_temp(path);
}
END_TEST

/* Runs fn with stderr going to fd. */
static void with_stderr(int fd, void (*fn)(void)) {
  int saved = dup(2);
  dup2(fd, 2);
  fn();
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
}

/* What is waiting to be read on fd (a pseudo-terminal's master): reads
 * until nothing more comes for 0.1 s. */
static char *pending(int fd) {
  static char buf[4096];
  size_t len = 0;
  struct pollfd p = {.fd = fd, .events = POLLIN};
  while (len < sizeof buf - 1 && poll(&p, 1, 100) == 1) {
    ssize_t n = read(fd, buf + len, sizeof buf - 1 - len);
    if (n <= 0) break;
    len += (size_t)n;
  }
  buf[len] = '\0';
  return buf;
}

static void lines_session(void) {
  progress_line l;
  progress_line_start(&l, 0, 1000);
  progress_line_show(&l, "stages: base model 1/9", "base model");
  progress_line_show(&l, "stages: base model 2/9", "base model"); /* same key: not yet */
  progress_line_show(&l, "stages: fine-tune on full 1/9", "fine-tune on full");
  progress_line_note(&l, "a note");
  progress_line_finish(&l, "stages ready");
}

START_TEST(test_line_plain) {
  char *path = temp_file("stderr");
  FILE *f = fopen(path, "w+");
  with_stderr(fileno(f), lines_session);
  rewind(f);
  char buf[512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  buf[n] = '\0';
  fclose(f);
  ck_assert_str_eq(buf, "stages: base model 1/9\nstages: fine-tune on full 1/9\na note\nstages ready\n");
  remove_temp(path);
}
END_TEST

static void long_line(void) {
  progress_line l;
  progress_line_start(&l, 0, 1000);
  progress_line_show(&l, "runs 1/4: unlearn npo on forget10 3/12 ETA 00:04", "x");
  progress_line_note(&l, "[1/4] done");
  progress_line_finish(&l, "runs done");
}

static void quiet_line(void) {
  progress_line l;
  progress_line_start(&l, 1, 1000);
  progress_line_show(&l, "nothing", "x");
  progress_line_note(&l, "a note");
  progress_line_finish(&l, "nothing");
}

/* On a terminal 20 columns wide: one line rewritten in place, cut to 19
 * characters, cleared before a note, ended with a newline. */
START_TEST(test_line_terminal) {
  int master, slave;
  struct winsize ws = {.ws_row = 24, .ws_col = 20};
  ck_assert_int_eq(openpty(&master, &slave, NULL, NULL, &ws), 0);
  struct termios t;
  tcgetattr(slave, &t);
  cfmakeraw(&t); /* no \n -> \r\n translation */
  tcsetattr(slave, TCSANOW, &t);
  with_stderr(slave, long_line);
  char *out = pending(master);
  ck_assert_str_eq(out, "\rruns 1/4: unlearn n\033[K\r\033[K[1/4] done\n\rruns done\033[K\n");
  with_stderr(slave, quiet_line);
  out = pending(master);
  ck_assert_str_eq(out, "a note\n");
  close(slave);
  close(master);
}
END_TEST

int main(void) {
  Suite *s = suite_create("progress");
  TCase *tc = tcase_create("progress");
  tcase_add_test(tc, test_time);
  tcase_add_test(tc, test_record_round_trip);
  tcase_add_test(tc, test_phase_needs_the_variable);
  tcase_add_test(tc, test_bar_writes_records);
  tcase_add_test(tc, test_line_plain);
  tcase_add_test(tc, test_line_terminal);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
