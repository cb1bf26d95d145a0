/* bench_tokenizer — tok_encode throughput on one thread: every line of a text
 * file (one call per line, no special tokens), a few rounds, best round
 * reported as one JSON line. Run by tests/bench/tokenizer.sh.
 *
 *   bench_tokenizer TOKENIZER_DIR TEXT_FILE [ROUNDS] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tokenizer/tokenizer.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: bench_tokenizer TOKENIZER_DIR TEXT_FILE [ROUNDS]\n");
    return 2;
  }
  int rounds = argc > 3 ? atoi(argv[3]) : 3;
  lethe_err err = {0};
  tok_tokenizer *t;
  char *text;
  size_t len;
  if (tok_load_dir(argv[1], &t, &err) ||
      lethe_read_file(argv[2], (size_t)1 << 30, &text, &len, &err)) {
    fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
    return 1;
  }
  size_t n_lines = 0;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '\n') text[i] = '\0', n_lines++;
  double best = 1e30;
  long tokens = 0;
  for (int r = 0; r < rounds; r++) {
    tokens = 0;
    double t0 = now();
    for (char *line = text; line < text + len; line += strlen(line) + 1) {
      int32_t *ids;
      int n;
      if (tok_encode(t, line, 0, &ids, &n, NULL, &err)) {
        fprintf(stderr, "bench_tokenizer: %s\n", err.msg);
        return 1;
      }
      tokens += n;
      free(ids);
    }
    double dt = now() - t0;
    if (dt < best) best = dt;
  }
  printf("{\"bench\": \"tokenizer\", \"impl\": \"lethe\", \"lines\": %zu, \"bytes\": %zu, "
         "\"tokens\": %ld, \"seconds\": %.4f, \"tokens_per_s\": %.0f}\n",
         n_lines, len, tokens, best, (double)tokens / best);
  free(text);
  tok_free(t);
  return 0;
}
