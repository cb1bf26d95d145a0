/* core — errors, logging, memory, RNG, files (see core.h). */
#include "core/core.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- errors ------------------------------------------------------------ */
int lethe_errf(lethe_err *err, int code, const char *fmt, ...) {
  if (!err) return -1;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err->msg, sizeof err->msg, fmt, ap);
  va_end(ap);
  err->code = code ? code : LETHE_E_FORMAT;
  return -1;
}

int lethe_err_prefix(lethe_err *err, const char *fmt, ...) {
  if (!err) return -1;
  char prefix[512], old[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(prefix, sizeof prefix, fmt, ap);
  va_end(ap);
  memcpy(old, err->msg, sizeof old);
  char joined[sizeof prefix + sizeof old + 2]; /* then truncated into msg */
  snprintf(joined, sizeof joined, "%s: %s", prefix, old);
  memcpy(err->msg, joined, sizeof err->msg - 1);
  err->msg[sizeof err->msg - 1] = '\0';
  if (!err->code) err->code = LETHE_E_FORMAT;
  return -1;
}

void lethe_err_clear(lethe_err *err) {
  if (!err) return;
  err->code = 0;
  err->msg[0] = '\0';
}

/* ---- logging ----------------------------------------------------------- */
static int log_level = LETHE_LOG_INFO;
void lethe_log_set_level(int level) { log_level = level; }
int lethe_log_level(void) { return log_level; }

void lethe_log(int level, const char *fmt, ...) {
  if (level > log_level) return;
  static const char *const tags[] = {"error", "warning", "info", "debug"};
  fprintf(stderr, "lethe: %s: ", tags[level < 0 ? 0 : level > 3 ? 3 : level]);
  va_list ap;
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
}

/* ---- memory ------------------------------------------------------------ */
static void out_of_memory(size_t n) {
  fprintf(stderr, "lethe: out of memory allocating %zu bytes\n", n);
  abort();
}

void *lethe_malloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) out_of_memory(n);
  return p;
}

void *lethe_calloc(size_t n, size_t size) {
  void *p = calloc(n ? n : 1, size ? size : 1);
  if (!p) out_of_memory(n * size);
  return p;
}

void *lethe_realloc(void *p, size_t n) {
  void *q = realloc(p, n ? n : 1);
  if (!q) out_of_memory(n);
  return q;
}

char *lethe_strdup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = lethe_malloc(n);
  memcpy(d, s, n);
  return d;
}

int lethe_is_colour(const char *s) {
  if (!s || s[0] != '#' || strlen(s) != 7) return 0;
  for (int i = 1; i < 7; i++)
    if (!isxdigit((unsigned char)s[i])) return 0;
  return 1;
}

void *lethe_alloc_aligned(size_t n) {
  size_t rounded = (n + 63) & ~(size_t)63;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (!p) out_of_memory(n);
  memset(p, 0, rounded ? rounded : 64);
  return p;
}

/* Blocks from this size on are placed on 2 MiB boundaries and marked for
 * transparent huge pages (where the kernel is set to "madvise", as Debian's
 * is): one fault and one TLB entry per 2 MiB instead of per 4 KiB. */
#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_FROM (4 * HUGE_PAGE)

void *lethe_pages_alloc(size_t n) {
  size_t want = n ? n : 1, extra = want >= HUGE_FROM ? HUGE_PAGE : 0;
  char *p = mmap(NULL, want + extra, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) out_of_memory(n);
  if (!extra) return p;
  char *at = (char *)(((uintptr_t)p + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE);
  if (at > p) munmap(p, (size_t)(at - p)); /* keep exactly [at, at + want) */
  if (at + want < p + want + extra) munmap(at + want, (size_t)(p + extra - at));
#ifdef MADV_HUGEPAGE
  madvise(at, want, MADV_HUGEPAGE); /* a hint: without it, 4 KiB pages as before */
#endif
  return at;
}

void lethe_pages_free(void *p, size_t n) {
  if (p) munmap(p, n ? n : 1);
}

/* The whole pages inside [p, p+n): their start and length (0: none). */
static size_t inner_pages(void *p, size_t n, char **start) {
  size_t page = (size_t)sysconf(_SC_PAGESIZE);
  uintptr_t a = ((uintptr_t)p + page - 1) / page * page, b = ((uintptr_t)p + n) / page * page;
  *start = (char *)a;
  return b > a ? (size_t)(b - a) : 0;
}

void lethe_pages_drop(void *p, size_t n) {
  char *start;
  size_t len = inner_pages(p, n, &start);
  if (!len) return;
  madvise(start, len, MADV_DONTNEED);
  mprotect(start, len, PROT_NONE);
}

void lethe_pages_restore(void *p, size_t n) {
  char *start;
  size_t len = inner_pages(p, n, &start);
  if (len) mprotect(start, len, PROT_READ | PROT_WRITE);
}

/* ---- RNG ---------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

void lethe_rng_seed(lethe_rng *r, uint64_t seed) {
  uint64_t x = seed;
  for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t lethe_rng_u64(lethe_rng *r) {
  uint64_t *s = r->s;
  uint64_t result = rotl(s[1] * 5, 7) * 9;
  uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

double lethe_rng_uniform(lethe_rng *r) {
  return (double)(lethe_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t lethe_rng_below(lethe_rng *r, uint64_t n) {
  uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t x;
  do x = lethe_rng_u64(r);
  while (x >= limit);
  return x % n;
}

double lethe_rng_normal(lethe_rng *r) {
  double u1 = lethe_rng_uniform(r), u2 = lethe_rng_uniform(r);
  if (u1 < 1e-300) u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

void lethe_rng_shuffle(lethe_rng *r, int *a, size_t n) {
  for (size_t i = n; i > 1; i--) {
    size_t j = (size_t)lethe_rng_below(r, i);
    int t = a[i - 1];
    a[i - 1] = a[j];
    a[j] = t;
  }
}

/* ---- files --------------------------------------------------------------- */
int lethe_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                    lethe_err *err) {
  *out = NULL;
  if (len) *len = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return lethe_errf(err, LETHE_E_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
    fclose(f);
    return lethe_errf(err, LETHE_E_IO, "%s: not a regular file", path);
  }
  if ((unsigned long long)st.st_size > max_bytes) {
    fclose(f);
    return lethe_errf(err, LETHE_E_FORMAT, "%s: file is %lld bytes, more than the %zu allowed",
                      path, (long long)st.st_size, max_bytes);
  }
  size_t n = (size_t)st.st_size;
  char *buf = lethe_malloc(n + 1);
  if (n && fread(buf, 1, n, f) != n) {
    free(buf);
    fclose(f);
    return lethe_errf(err, LETHE_E_IO, "%s: read error", path);
  }
  fclose(f);
  buf[n] = '\0';
  *out = buf;
  if (len) *len = n;
  return 0;
}

int lethe_file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

int lethe_mkdir_p(const char *path, lethe_err *err) {
  char *p = lethe_strdup(path);
  for (char *s = p + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0755) != 0 && errno != EEXIST) {
      int e = errno;
      lethe_errf(err, LETHE_E_IO, "%s: cannot create directory: %s", p, strerror(e));
      free(p);
      return -1;
    }
    *s = '/';
  }
  int rc = 0;
  if (mkdir(p, 0755) != 0 && errno != EEXIST)
    rc = lethe_errf(err, LETHE_E_IO, "%s: cannot create directory: %s", p, strerror(errno));
  free(p);
  return rc;
}

char *lethe_path_join(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  while (la > 1 && a[la - 1] == '/') la--;
  char *s = lethe_malloc(la + lb + 2);
  memcpy(s, a, la);
  s[la] = '/';
  memcpy(s + la + 1, b, lb + 1);
  return s;
}

char *lethe_exe_path(void) { return realpath("/proc/self/exe", NULL); }

/* ---- atomic writes ------------------------------------------------------- */
int lethe_atomic_open(lethe_atomic_file *af, const char *path, lethe_err *err) {
  memset(af, 0, sizeof *af);
  size_t n = strlen(path) + 32;
  af->path = lethe_strdup(path);
  af->tmp_path = lethe_malloc(n);
  snprintf(af->tmp_path, n, "%s.tmp.%ld", path, (long)getpid());
  af->fp = fopen(af->tmp_path, "wb");
  if (!af->fp) {
    lethe_errf(err, LETHE_E_IO, "%s: cannot write: %s", path, strerror(errno));
    free(af->path);
    free(af->tmp_path);
    memset(af, 0, sizeof *af);
    return -1;
  }
  return 0;
}

static void fsync_parent_dir(const char *path) {
  char *dir = lethe_strdup(path);
  char *slash = strrchr(dir, '/');
  if (slash == dir) slash[1] = '\0';
  else if (slash) *slash = '\0';
  else strcpy(dir, ".");
  int fd = open(dir, O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
  free(dir);
}

static void atomic_release(lethe_atomic_file *af) {
  free(af->path);
  free(af->tmp_path);
  memset(af, 0, sizeof *af);
}

/* Closes af and renames it into place; durable: fsync the file first and
 * its directory after. */
static int atomic_finish(lethe_atomic_file *af, int durable, lethe_err *err) {
  int failed = 0, saved_errno = 0;
  if (fflush(af->fp) != 0 || ferror(af->fp)) failed = 1, saved_errno = errno;
  if (!failed && durable && fsync(fileno(af->fp)) != 0) failed = 1, saved_errno = errno;
  if (fclose(af->fp) != 0 && !failed) failed = 1, saved_errno = errno;
  af->fp = NULL;
  if (!failed && rename(af->tmp_path, af->path) != 0) failed = 1, saved_errno = errno;
  if (failed) {
    unlink(af->tmp_path);
    lethe_errf(err, LETHE_E_IO, "%s: write failed: %s (the previous file, if any, is intact)",
               af->path, strerror(saved_errno));
    atomic_release(af);
    return -1;
  }
  if (durable) fsync_parent_dir(af->path);
  atomic_release(af);
  return 0;
}

int lethe_atomic_commit(lethe_atomic_file *af, lethe_err *err) { return atomic_finish(af, 1, err); }

void lethe_atomic_abort(lethe_atomic_file *af) {
  if (af->fp) fclose(af->fp);
  if (af->tmp_path) unlink(af->tmp_path);
  atomic_release(af);
}

static int write_via_tmp(const char *path, const void *data, size_t len, int durable,
                         lethe_err *err) {
  lethe_atomic_file af;
  if (lethe_atomic_open(&af, path, err) != 0) return -1;
  if (len && fwrite(data, 1, len, af.fp) != len) {
    int e = errno;
    lethe_atomic_abort(&af);
    return lethe_errf(err, LETHE_E_IO, "%s: write failed: %s", path, strerror(e));
  }
  return atomic_finish(&af, durable, err);
}

int lethe_write_file_atomic(const char *path, const void *data, size_t len, lethe_err *err) {
  return write_via_tmp(path, data, len, 1, err);
}

int lethe_write_file_replace(const char *path, const void *data, size_t len, lethe_err *err) {
  return write_via_tmp(path, data, len, 0, err);
}

double lethe_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
