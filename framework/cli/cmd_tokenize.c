/* lethe tokenize — a Hugging Face tokenizer directory on stdin lines: text to
 * JSON id arrays, or (--decode) id arrays back to text. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "tokenizer/tokenizer.h"

void help_tokenize(void) {
  printf(
      "usage: lethe tokenize --tokenizer DIR [--no-special] [--decode [--skip-special]]\n\n"
      "Reads DIR/tokenizer.json (and DIR/tokenizer_config.json when present:\n"
      "special tokens; add_bos_token / add_eos_token, when set, replace the\n"
      "post-processor as transformers does). Encodes each UTF-8 line of stdin\n"
      "(without its final \\n; \\r and everything else is kept) and writes one\n"
      "JSON array of ids per line, as Hugging Face tokenizers'\n"
      "encode(line, add_special_tokens=True); --no-special leaves out the\n"
      "post-processor's tokens. With --decode, reads one JSON array of ids\n"
      "per line and writes the decoded text per line (decode(ids,\n"
      "skip_special_tokens=False); --skip-special drops special added tokens).\n");
}

static int encode_line(const tok_tokenizer *t, const char *line, int add_special, FILE *out,
                       size_t line_no) {
  int32_t *ids;
  int n;
  lethe_err err = {0};
  if (tok_encode(t, line, add_special, &ids, &n, NULL, &err)) {
    fprintf(stderr, "lethe tokenize: line %zu: %s\n", line_no, err.msg);
    return 1;
  }
  fputc('[', out);
  for (int i = 0; i < n; i++) fprintf(out, i ? ",%d" : "%d", (int)ids[i]);
  fputs("]\n", out);
  free(ids);
  return 0;
}

static int decode_line(const tok_tokenizer *t, const char *line, int skip_special, FILE *out,
                       size_t line_no) {
  json_error_t jerr;
  json_t *arr = json_loads(line, 0, &jerr);
  int n = json_is_array(arr) ? (int)json_array_size(arr) : -1;
  int32_t *ids = lethe_malloc(sizeof *ids * (size_t)(n > 0 ? n : 1));
  for (int i = 0; i < n; i++) {
    json_t *v = json_array_get(arr, (size_t)i);
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > INT32_MAX)
      n = -1;
    else
      ids[i] = (int32_t)json_integer_value(v);
  }
  json_decref(arr);
  if (n < 0) {
    free(ids);
    fprintf(stderr, "lethe tokenize: line %zu: not a JSON array of ids\n", line_no);
    return 1;
  }
  char *text = tok_decode(t, ids, n, skip_special);
  fputs(text, out);
  fputc('\n', out);
  free(text);
  free(ids);
  return 0;
}

int cmd_tokenize(int argc, char **argv) {
  const char *dir = NULL, *v;
  int add_special = 1, decode = 0, skip_special = 0;
  cli_args a = {"tokenize", argc, argv, 1, 0};
  for (; a.i < argc; a.i++) {
    if (cli_opt(&a, "--tokenizer", &v)) dir = v;
    else if (!strcmp(argv[a.i], "--no-special")) add_special = 0;
    else if (!strcmp(argv[a.i], "--decode")) decode = 1;
    else if (!strcmp(argv[a.i], "--skip-special")) skip_special = 1;
    else return cli_unknown(&a);
  }
  if (!dir) return cli_usage_error("tokenize", "--tokenizer DIR is required");
  if (skip_special && !decode) return cli_usage_error("tokenize", "--skip-special needs --decode");
  lethe_err err = {0};
  tok_tokenizer *t;
  if (tok_load_dir(dir, &t, &err)) {
    fprintf(stderr, "lethe tokenize: %s\n", err.msg);
    return 1;
  }
  char *line = NULL;
  size_t cap = 0, line_no = 0;
  ssize_t len;
  int rc = 0;
  while (!rc && (len = getline(&line, &cap, stdin)) >= 0) {
    line_no++;
    if (len > 0 && line[len - 1] == '\n') line[--len] = '\0';
    if ((size_t)len != strlen(line)) {
      fprintf(stderr, "lethe tokenize: line %zu: has a NUL byte\n", line_no);
      rc = 1;
    } else {
      rc = decode ? decode_line(t, line, skip_special, stdout, line_no)
                  : encode_line(t, line, add_special, stdout, line_no);
    }
  }
  free(line);
  tok_free(t);
  if (fflush(stdout) != 0) rc = 1;
  return rc;
}
