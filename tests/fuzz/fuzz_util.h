/* fuzz_util — what every libFuzzer harness shares: a private temporary
 * directory per process (removed at exit), the fuzz input written to a file
 * in it for APIs that take a path, and a check that aborts with a message
 * (libFuzzer then saves the input as a crash).
 * Not here: any parser logic; each fuzz_<name>.c drives one parser. */
#ifndef LETHE_FUZZ_UTIL_H
#define LETHE_FUZZ_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Writes data[0..size) to DIR/name (DIR = this process's temporary
 * directory, made on first use under $TMPDIR or /tmp) and returns the path
 * (malloc'd; the caller frees it). Aborts if the file cannot be written. */
char *fuzz_write(const char *name, const void *data, size_t size);
/* The path DIR/name without writing anything (malloc'd). */
char *fuzz_path(const char *name);
/* Copies data into a malloc'd NUL-terminated string. */
char *fuzz_string(const void *data, size_t size);
/* Aborts with "fuzz check failed: what" when cond is false. */
#define FUZZ_CHECK(cond, what) fuzz_check((cond) != 0, what, __FILE__, __LINE__)
void fuzz_check(int ok, const char *what, const char *file, int line);

#endif
