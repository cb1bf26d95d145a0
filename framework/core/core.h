/* core — errors, logging, RNG, whole-file reads and atomic file writes.
 *
 * Everything here is small and dependency-free; every other module uses it.
 * It holds no model, data or method logic.
 */
#ifndef LETHE_CORE_H
#define LETHE_CORE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- errors ------------------------------------------------------------
 * Functions that can fail on outside input return 0 on success and -1 on
 * failure, and fill a caller-owned lethe_err with a message that names the
 * file, line or field and what was expected. There is no global last error. */
typedef struct lethe_err {
  int code;        /* 0 = no error; otherwise non-zero (LETHE_E_*) */
  char msg[1024];  /* human-readable, with context */
} lethe_err;

enum { LETHE_OK = 0, LETHE_E_IO = 1, LETHE_E_FORMAT = 2, LETHE_E_CONFIG = 3,
       LETHE_E_PLUGIN = 4, LETHE_E_NUMERIC = 5, LETHE_E_NOMEM = 6, LETHE_E_USAGE = 7 };

/* Sets err (if non-NULL) to code + formatted message; always returns -1. */
int lethe_errf(lethe_err *err, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prepends "prefix: " to an existing message (for adding context upward). */
int lethe_err_prefix(lethe_err *err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void lethe_err_clear(lethe_err *err);

/* ---- logging (stderr) -------------------------------------------------- */
enum { LETHE_LOG_ERROR = 0, LETHE_LOG_WARN = 1, LETHE_LOG_INFO = 2, LETHE_LOG_DEBUG = 3 };
void lethe_log_set_level(int level);
int lethe_log_level(void);
void lethe_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* ---- memory -------------------------------------------------------------
 * xmalloc-style helpers abort on out-of-memory for internal sizes only; sizes
 * that come from files must be validated before they reach these. */
void *lethe_malloc(size_t n);
void *lethe_calloc(size_t n, size_t size);
void *lethe_realloc(void *p, size_t n);
char *lethe_strdup(const char *s);
/* 64-byte aligned allocation (free with free()); zero-filled. */
void *lethe_alloc_aligned(size_t n);
/* Whole pages mapped for n bytes, reading as zero and costing no memory
 * until written (resident set grows with the pages touched): for buffers
 * of which parts may never be used, or given back (lethe_pages_drop).
 * Blocks of 8 MiB and more start on a 2 MiB boundary and ask for
 * transparent huge pages (MADV_HUGEPAGE): they then grow 2 MiB at a time,
 * with one page fault and one TLB entry per 2 MiB. Free with
 * lethe_pages_free(p, n). */
void *lethe_pages_alloc(size_t n);
void lethe_pages_free(void *p, size_t n);
/* Gives back the whole pages inside [p, p+n) (their contents are lost)
 * and makes them fault when touched (a bug to catch, not zeros to compute
 * with); lethe_pages_restore makes them usable again (reading zero). For
 * memory from lethe_pages_alloc. */
void lethe_pages_drop(void *p, size_t n);
void lethe_pages_restore(void *p, size_t n);

/* ---- text --------------------------------------------------------------- */
/* 1 when s is a colour "#rrggbb" (six hex digits, either case), as method
 * descriptors and result files give one. */
int lethe_is_colour(const char *s);

/* ---- RNG: xoshiro256**, seeded through splitmix64 ----------------------
 * Deterministic on every platform; the state is plain data so training
 * checkpoints can save and restore it. */
typedef struct lethe_rng { uint64_t s[4]; } lethe_rng;
void lethe_rng_seed(lethe_rng *r, uint64_t seed);
uint64_t lethe_rng_u64(lethe_rng *r);
double lethe_rng_uniform(lethe_rng *r);             /* [0, 1) */
uint64_t lethe_rng_below(lethe_rng *r, uint64_t n); /* [0, n), unbiased; n > 0 */
double lethe_rng_normal(lethe_rng *r);              /* N(0, 1) */
void lethe_rng_shuffle(lethe_rng *r, int *a, size_t n);

/* ---- files -------------------------------------------------------------- */
/* Reads a whole file into a NUL-terminated malloc'd buffer; refuses files
 * larger than max_bytes. *len excludes the NUL. */
int lethe_read_file(const char *path, size_t max_bytes, char **out, size_t *len,
                    lethe_err *err);
int lethe_file_exists(const char *path);
int lethe_mkdir_p(const char *path, lethe_err *err);
/* Joins a and b with one '/'; returns a malloc'd string. */
char *lethe_path_join(const char *a, const char *b);
/* The running program's file, canonical (malloc'd; free it), or NULL when
 * /proc/self/exe cannot be resolved. */
char *lethe_exe_path(void);

/* Atomic writes: data goes to "<path>.tmp.<pid>", is fsync'd, then renamed
 * over path and the directory fsync'd. On any failure the temporary file is
 * removed and the previous content of path is untouched. */
typedef struct lethe_atomic_file {
  FILE *fp;       /* write through this */
  char *path;     /* final path */
  char *tmp_path; /* temporary path */
} lethe_atomic_file;
int lethe_atomic_open(lethe_atomic_file *af, const char *path, lethe_err *err);
int lethe_atomic_commit(lethe_atomic_file *af, lethe_err *err); /* closes */
void lethe_atomic_abort(lethe_atomic_file *af);                  /* closes, removes tmp */
int lethe_write_file_atomic(const char *path, const void *data, size_t len, lethe_err *err);
/* The same without the fsyncs: a reader sees the old or the new content,
 * never a mix, but a machine crash may lose the write. For small files
 * rewritten often whose loss does not matter (progress records). */
int lethe_write_file_replace(const char *path, const void *data, size_t len, lethe_err *err);

/* ---- time --------------------------------------------------------------- */
double lethe_now(void); /* monotonic seconds */

#endif
