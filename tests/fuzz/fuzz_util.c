/* fuzz_util — temporary files and checks for the harnesses (see fuzz_util.h). */
#include "fuzz_util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FUZZ_MAX_FILES 16

static char *tmp_dir;
static char *made[FUZZ_MAX_FILES];
static int n_made;

static void remove_tmp_dir(void) {
  for (int i = 0; i < n_made; i++) {
    unlink(made[i]);
    free(made[i]);
  }
  n_made = 0;
  if (tmp_dir) rmdir(tmp_dir);
  free(tmp_dir);
  tmp_dir = NULL;
}

static const char *dir(void) {
  if (tmp_dir) return tmp_dir;
  const char *base = getenv("TMPDIR");
  size_t n = strlen(base && *base ? base : "/tmp") + 32;
  tmp_dir = malloc(n);
  snprintf(tmp_dir, n, "%s/lethe_fuzz_XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmp_dir)) {
    perror("fuzz: mkdtemp");
    abort();
  }
  atexit(remove_tmp_dir);
  return tmp_dir;
}

char *fuzz_path(const char *name) {
  const char *d = dir();
  size_t n = strlen(d) + strlen(name) + 2;
  char *path = malloc(n);
  snprintf(path, n, "%s/%s", d, name);
  int known = 0;
  for (int i = 0; i < n_made; i++) known |= !strcmp(made[i], path);
  if (!known && n_made < FUZZ_MAX_FILES) made[n_made++] = strdup(path);
  return path;
}

char *fuzz_write(const char *name, const void *data, size_t size) {
  char *path = fuzz_path(name);
  FILE *f = fopen(path, "wb");
  if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
    perror(path);
    abort();
  }
  return path;
}

char *fuzz_string(const void *data, size_t size) {
  char *s = malloc(size + 1);
  if (size) memcpy(s, data, size);
  s[size] = '\0';
  return s;
}

void fuzz_check(int ok, const char *what, const char *file, int line) {
  if (ok) return;
  fprintf(stderr, "%s:%d: fuzz check failed: %s\n", file, line, what);
  abort();
}
