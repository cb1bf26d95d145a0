/* cmd_data — `lethe data stats DIR`: counts, lengths and vocabulary of a
 * TOFU-format data directory (the embedded world's or real TOFU files). */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "data/data.h"

void help_data(void) {
  printf(
      "usage: lethe data stats DIR\n\n"
      "For every *.json split in DIR (not tokenizer.json, tokenizer_config.json,\n"
      "config.json or world.json): rows, the optional fields present, answer length\n"
      "in words (min/mean/max) and, with DIR/tokenizer.json, the longest prompt +\n"
      "answer in tokens (prompt format \"[INST] \" question \" [/INST]\" answer) and\n"
      "the pieces missing from the vocabulary. Then idontknow.jsonl and the\n"
      "vocabulary size. Any invalid file is an error naming file, line and field.\n");
}

static int is_split_file(const char *name) {
  static const char *const skip[] = {"tokenizer.json", "tokenizer_config.json", "config.json",
                                     "world.json", "special_tokens_map.json"};
  size_t n = strlen(name);
  if (n < 6 || strcmp(name + n - 5, ".json")) return 0;
  for (size_t i = 0; i < sizeof skip / sizeof skip[0]; i++)
    if (!strcmp(name, skip[i])) return 0;
  return 1;
}

static int by_name(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static int count_words(const char *s) {
  int n = 0, in = 0;
  for (; *s; s++) {
    int space = *s == ' ' || *s == '\t' || *s == '\n' || *s == '\r';
    n += !space && !in;
    in = !space;
  }
  return n;
}

typedef struct stats_ctx {
  const tok_tokenizer *tok;
  tofu_format fmt;
  tok_builder *words; /* distinct words across every file */
  long unknown;
} stats_ctx;

static int split_stats(stats_ctx *c, const char *dir, const char *file, lethe_err *err) {
  char *path = lethe_path_join(dir, file);
  tofu_set set;
  int rc = tofu_load(path, 0, &set, err);
  free(path);
  if (rc) return -1;
  int wmin = 1 << 30, wmax = 0, tmax = 0;
  long wsum = 0, unknown = 0;
  for (size_t i = 0; i < set.n; i++) {
    const tofu_qa *qa = &set.rows[i];
    int words = count_words(qa->answer);
    wmin = words < wmin ? words : wmin;
    wmax = words > wmax ? words : wmax;
    wsum += words;
    tok_builder_add(c->words, qa->question, NULL);
    tok_builder_add(c->words, qa->answer, NULL);
    if (!c->tok) continue;
    int32_t *ids;
    int n, unk;
    size_t cap = strlen(qa->question) + strlen(qa->answer) + 3 * DATA_SETTING_STRLEN;
    char *text = lethe_malloc(cap);
    snprintf(text, cap, "%s%s%s%s%s", c->fmt.question_start, qa->question, c->fmt.question_end,
             c->fmt.answer_tag, qa->answer);
    tok_encode(c->tok, text, 1, &ids, &n, &unk, NULL); /* loaded text is valid UTF-8 */
    free(text);
    free(ids);
    tmax = n > tmax ? n : tmax;
    unknown += unk;
  }
  char fields[64] = "";
  if (set.fields & TOFU_F_PARA_Q) strcat(fields, "para_q ");
  if (set.fields & TOFU_F_PARA_A) strcat(fields, "para_a ");
  if (set.fields & TOFU_F_PERTURBED) strcat(fields, "perturbed ");
  if (set.fields & TOFU_F_OPTIONS) strcat(fields, "options ");
  char name[64];
  snprintf(name, sizeof name, "%.*s", (int)(strlen(file) - 5), file);
  printf("%-24s %6zu  %-29s %3d %6.1f %3d", name, set.n, fields[0] ? fields : "-", wmin,
         (double)wsum / (double)set.n, wmax);
  if (c->tok) printf("  %6d %6ld", tmax, unknown);
  printf("\n");
  c->unknown += unknown;
  tofu_set_free(&set);
  return 0;
}

static int data_stats(const char *dir) {
  lethe_err err = {0};
  stats_ctx c = {0};
  tofu_format_default(&c.fmt);
  c.words = tok_builder_new();
  tok_tokenizer *tok = NULL;
  char *tok_path = lethe_path_join(dir, "tokenizer.json");
  int rc = 0;
  if (lethe_file_exists(tok_path) && tok_load(tok_path, &tok, &err)) {
    fprintf(stderr, "lethe data: %s\n", err.msg);
    rc = 1;
  }
  c.tok = tok;
  DIR *d = rc ? NULL : opendir(dir);
  if (!rc && !d) {
    fprintf(stderr, "lethe data: cannot open directory %s\n", dir);
    rc = 1;
  }
  char **files = NULL;
  size_t n_files = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    if (is_split_file(e->d_name)) {
      files = lethe_realloc(files, (n_files + 1) * sizeof *files);
      files[n_files++] = lethe_strdup(e->d_name);
    }
  if (d) closedir(d);
  if (files) qsort(files, n_files, sizeof *files, by_name);
  if (!rc) {
    printf("data directory %s\n%-24s %6s  %-29s %-14s", dir, "split", "rows", "optional fields",
           "answer words");
    if (tok) printf("  %6s %6s", "tokens", "unk");
    printf("\n%-24s %6s  %-29s %3s %6s %3s%s\n", "", "", "", "min", "mean", "max",
           tok ? "     max pieces" : "");
  }
  for (size_t i = 0; !rc && i < n_files; i++)
    if (split_stats(&c, dir, files[i], &err)) {
      fprintf(stderr, "lethe data: %s\n", err.msg);
      rc = 1;
    }
  char *idk_path = lethe_path_join(dir, "idontknow.jsonl");
  if (!rc && lethe_file_exists(idk_path)) {
    tofu_idk idk;
    if (tofu_idk_load(idk_path, &idk, &err)) {
      fprintf(stderr, "lethe data: %s\n", err.msg);
      rc = 1;
    } else {
      printf("idontknow.jsonl: %zu answers\n", idk.n);
      for (size_t i = 0; i < idk.n; i++) tok_builder_add(c.words, idk.answers[i], NULL);
      tofu_idk_free(&idk);
    }
  }
  if (!rc) {
    printf("distinct words (pre-tokenized pieces of questions, answers, idk): %zu\n",
           tok_builder_distinct(c.words));
    if (tok)
      printf("tokenizer.json: vocabulary size %d, pieces not in it: %ld\n", tok_vocab_size(tok),
             c.unknown);
    else
      printf("tokenizer.json: absent\n");
  }
  for (size_t i = 0; i < n_files; i++) free(files[i]);
  free(files);
  free(idk_path);
  free(tok_path);
  tok_free(tok);
  tok_builder_free(c.words);
  return rc;
}

int cmd_data(int argc, char **argv) {
  if (argc < 2) return cli_usage_error("data", "missing subcommand (stats)");
  if (strcmp(argv[1], "stats")) return cli_usage_error("data", "unknown subcommand '%s'", argv[1]);
  if (argc != 3) return cli_usage_error("data", "stats expects exactly one DIR");
  return data_stats(argv[2]);
}
