/* golden_fixture — what the golden tests (test_llama_golden,
 * test_arch_golden) share: one reference directory of tests/data opened as
 * a fixture (its model, golden.safetensors and summary.json), golden tensors
 * read as float32, and the 1e-4 comparison. Test helpers only. */
#ifndef LETHE_TEST_GOLDEN_FIXTURE_H
#define LETHE_TEST_GOLDEN_FIXTURE_H

#include <check.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "model/llama.h"
#include "model/safetensors.h"

typedef struct fixture {
  char dir[512];
  llama_model m;
  st_file golden;
  json_t *summary;
} fixture;

/* Opens LETHE_TEST_DATA/name: model/, golden.safetensors, summary.json. */
static inline void open_case(fixture *f, const char *name) {
  snprintf(f->dir, sizeof f->dir, "%s/%s", LETHE_TEST_DATA, name);
  char path[600];
  lethe_err err = {0};
  snprintf(path, sizeof path, "%s/model", f->dir);
  ck_assert_msg(llama_load(&f->m, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/golden.safetensors", f->dir);
  ck_assert_msg(st_open(&f->golden, path, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/summary.json", f->dir);
  json_error_t jerr;
  f->summary = json_load_file(path, 0, &jerr);
  ck_assert_msg(f->summary != NULL, "%s: %s", path, jerr.text);
}

static inline void close_case(fixture *f) {
  llama_free(&f->m);
  st_close(&f->golden);
  json_decref(f->summary);
}

/* Reads golden tensor `name` (n floats) into a new buffer. */
static inline float *golden(fixture *f, const char *name, size_t n) {
  const st_tensor *t = st_find(&f->golden, name);
  ck_assert_msg(t != NULL, "%s: golden tensor %s missing", f->dir, name);
  ck_assert_msg(t->numel == n, "%s: %s has %llu values, expected %zu", f->dir, name,
                (unsigned long long)t->numel, n);
  float *buf = malloc(n * sizeof(float));
  lethe_err err = {0};
  ck_assert_msg(st_read_f32(&f->golden, t, buf, n, &err) == 0, "%s", err.msg);
  return buf;
}

/* Fails on the first element beyond 1e-4 (absolute, or relative if larger);
 * returns the largest absolute difference. */
static inline double expect_close(const char *what, const float *got, const float *want,
                                  size_t n) {
  double worst = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)got[i] - want[i]), lim = 1e-4 * fmax(1.0, fabs(want[i]));
    ck_assert_msg(d <= lim, "%s[%zu]: got %.8g, want %.8g (diff %.3g)", what, i, got[i],
                  want[i], d);
    if (d > worst) worst = d;
  }
  return worst;
}

#endif
