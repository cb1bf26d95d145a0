/* test_hostile — files lethe did not write, made to hurt: each must be
 * refused with a message that names the file and what is wrong, without a
 * crash and without memory proportional to what the file claims.
 * Cases already covered elsewhere are not repeated here: malformed
 * safetensors headers (huge header, offsets past the end, overlapping
 * tensors, element-count overflow) in test_safetensors; config.json fields
 * out of range (10^9 layers) in test_safetensors; invalid UTF-8 in TOFU
 * files in test_data; plugins with a wrong ABI, no entry symbol, a missing
 * symbol or a NaN loss/gradient in test_method; suite files whose runs
 * collide in suite_resume_test.sh. See docs/security.md. */
#include <check.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "data/data.h"
#include "method/method_host.h"
#include "model/llama.h"
#include "model/safetensors.h"
#include "model/token_batch.h"
#include "suite/suite.h"
#include "tokenizer/tokenizer.h"

#define ck_assert_has(msg, part) \
  ck_assert_msg(strstr((msg), (part)) != NULL, "expected '%s' in: %s", (part), (msg))

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/lethe_hostile_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static char *write_file(const char *name, const void *data, size_t len) {
  char *path = lethe_path_join(dir, name);
  FILE *f = fopen(path, "wb");
  ck_assert_ptr_nonnull(f);
  ck_assert_uint_eq(fwrite(data, 1, len, f), len);
  fclose(f);
  return path;
}

/* Peak resident memory of this process in MiB. */
static long peak_rss_mib(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss / 1024;
}

/* A tiny valid model directory (config.json + model.safetensors). */
static void save_tiny_model(const char *model_dir, llama_model *m) {
  llama_config cfg;
  llama_config_defaults(&cfg);
  cfg.vocab_size = 11, cfg.hidden_size = 8, cfg.intermediate_size = 16;
  cfg.num_hidden_layers = 1, cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1;
  cfg.head_dim = 4, cfg.max_position_embeddings = 16;
  lethe_err err = {0};
  ck_assert_msg(llama_init(m, &cfg, 1, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_save(m, model_dir, &err) == 0, "%s", err.msg);
}

/* ---- model directories ----------------------------------------------------- */
START_TEST(test_config_asking_for_more_than_the_file_holds) {
  make_dir();
  char *model_dir = lethe_path_join(dir, "model");
  llama_model m;
  save_tiny_model(model_dir, &m);
  llama_free(&m);
  /* every size inside its own limit, together ~2^40 parameters (4 TiB) */
  static const char absurd[] =
      "{\"vocab_size\": 4194304, \"hidden_size\": 65536, \"intermediate_size\": 1048576,"
      " \"num_hidden_layers\": 1024, \"num_attention_heads\": 1024}";
  char *cfg_path = lethe_path_join(model_dir, "config.json");
  FILE *f = fopen(cfg_path, "w");
  fputs(absurd, f);
  fclose(f);
  long before = peak_rss_mib();
  lethe_err err = {0};
  ck_assert_int_eq(llama_load(&m, model_dir, &err), -1);
  ck_assert_has(err.msg, "config.json");
  ck_assert_has(err.msg, "parameters, more than the");
  /* sizes that fit the limits, but not the file: refused before allocating */
  static const char big[] =
      "{\"vocab_size\": 50000, \"hidden_size\": 4096, \"intermediate_size\": 11008,"
      " \"num_hidden_layers\": 32, \"num_attention_heads\": 32}";
  f = fopen(cfg_path, "w");
  fputs(big, f);
  fclose(f);
  ck_assert_int_eq(llama_load(&m, model_dir, &err), -1);
  ck_assert_has(err.msg, "asks for 6");
  ck_assert_has(err.msg, "holds only");
  ck_assert_has(err.msg, "model.safetensors");
  /* 10^9 layers: out of range, with the field named */
  f = fopen(cfg_path, "w");
  fputs("{\"vocab_size\": 8, \"hidden_size\": 8, \"intermediate_size\": 8,"
        " \"num_hidden_layers\": 1000000000, \"num_attention_heads\": 2}", f);
  fclose(f);
  ck_assert_int_eq(llama_load(&m, model_dir, &err), -1);
  ck_assert_has(err.msg, "num_hidden_layers = 1000000000 is out of range");
  ck_assert_msg(peak_rss_mib() - before < 64, "memory grew by %ld MiB", peak_rss_mib() - before);
  free(cfg_path);
  free(model_dir);
  remove_dir();
}
END_TEST

START_TEST(test_nan_weight_refused_at_load) {
  make_dir();
  char *model_dir = lethe_path_join(dir, "model");
  llama_model m;
  save_tiny_model(model_dir, &m);
  m.params.w_up[5] = NAN;
  lethe_err err = {0};
  ck_assert_msg(llama_save(&m, model_dir, &err) == 0, "%s", err.msg);
  llama_free(&m);
  ck_assert_int_eq(llama_load(&m, model_dir, &err), -1);
  ck_assert_has(err.msg, "model.safetensors: tensor 'model.layers.0.mlp.up_proj.weight' holds "
                         "a non-finite value (nan at flat index 5)");
  ck_assert_ptr_null(m.params_memory); /* nothing half-loaded is left */
  free(model_dir);
  remove_dir();
}
END_TEST

/* A valid safetensors file with a small tensor and an 8 GiB (sparse) tail:
 * only the header and the tensor asked for are read. */
START_TEST(test_safetensors_memory_follows_tensors_not_file) {
  make_dir();
  char *path = lethe_path_join(dir, "big.safetensors");
  static const char header[] = "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  uint8_t len[8] = {0};
  size_t n = sizeof header - 1;
  for (int i = 0; i < 8; i++) len[i] = (uint8_t)(n >> (8 * i));
  float values[2] = {1.5f, -2.0f};
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(write(fd, len, 8), 8);
  ck_assert_int_eq(write(fd, header, n), (ssize_t)n);
  ck_assert_int_eq(write(fd, values, sizeof values), (ssize_t)sizeof values);
  ck_assert_int_eq(ftruncate(fd, (off_t)8 << 30), 0);
  close(fd);
  long before = peak_rss_mib();
  st_file f;
  lethe_err err = {0};
  ck_assert_msg(st_open(&f, path, &err) == 0, "%s", err.msg);
  float got[2];
  ck_assert_msg(st_read_f32(&f, st_find(&f, "a"), got, 2, &err) == 0, "%s", err.msg);
  ck_assert(got[0] == 1.5f && got[1] == -2.0f);
  st_close(&f);
  ck_assert_msg(peak_rss_mib() - before < 64, "memory grew by %ld MiB", peak_rss_mib() - before);
  unlink(path);
  free(path);
  remove_dir();
}
END_TEST

/* ---- oversized text files ---------------------------------------------------- */
/* A 1 GiB file of one line, sparse (no disk blocks): every reader refuses it
 * from its size alone, without reading it. */
START_TEST(test_one_gigabyte_line_refused_by_every_reader) {
  make_dir();
  char *path = lethe_path_join(dir, "huge.json");
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
  ck_assert_int_ge(fd, 0);
  ck_assert_int_eq(pwrite(fd, "[", 1, 0), 1);
  ck_assert_int_eq(ftruncate(fd, (off_t)1 << 30), 0);
  close(fd);
  long before = peak_rss_mib();
  lethe_err err = {0};
  tofu_set set;
  ck_assert_int_eq(tofu_load(path, 0, &set, &err), -1);
  ck_assert_has(err.msg, "huge.json: file is 1073741824 bytes, more than the 268435456 allowed");
  tofu_idk idk;
  ck_assert_int_eq(tofu_idk_load(path, &idk, &err), -1);
  ck_assert_has(err.msg, "more than the");
  token_batch tb;
  ck_assert_int_eq(token_batch_read_jsonl(&tb, path, 0, &err), -1);
  ck_assert_has(err.msg, "more than the");
  tok_tokenizer *tok;
  ck_assert_int_eq(tok_load(path, &tok, &err), -1);
  ck_assert_has(err.msg, "more than the");
  llama_config cfg;
  ck_assert_int_eq(llama_config_read(&cfg, path, &err), -1);
  ck_assert_has(err.msg, "more than the");
  ck_assert_msg(peak_rss_mib() - before < 64, "memory grew by %ld MiB", peak_rss_mib() - before);
  unlink(path); /* the gigabyte does not outlive the test */
  free(path);
  remove_dir();
}
END_TEST

/* Token rows whose padded batch would be huge: many short rows and one long. */
START_TEST(test_token_rows_padded_size_bounded) {
  make_dir();
  size_t rows = 70000, cap = rows * 24 + (1 << 20);
  char *text = malloc(cap), *p = text;
  p += sprintf(p, "{\"input_ids\": [");
  for (int i = 0; i < 2000; i++) p += sprintf(p, "%s1", i ? "," : "");
  p += sprintf(p, "]}\n");
  for (size_t r = 1; r < rows; r++) p += sprintf(p, "{\"input_ids\": [1]}\n");
  char *path = write_file("rows.jsonl", text, (size_t)(p - text));
  free(text);
  token_batch tb;
  lethe_err err = {0};
  ck_assert_int_eq(token_batch_read_jsonl(&tb, path, 0, &err), -1);
  ck_assert_has(err.msg, "rows.jsonl: 70000 rows padded to the longest (2000 tokens)");
  free(path);
  remove_dir();
}
END_TEST

/* ---- text that is not UTF-8 -------------------------------------------------- */
START_TEST(test_non_utf8_refused_with_line) {
  make_dir();
  static const char idk[] = "I don't know.\nNo idea \xff\xfe.\n";
  char *path = write_file("idontknow.jsonl", idk, sizeof idk - 1);
  tofu_idk out;
  lethe_err err = {0};
  ck_assert_int_eq(tofu_idk_load(path, &out, &err), -1);
  ck_assert_has(err.msg, "idontknow.jsonl:2: not valid UTF-8");
  free(path);
  /* JSON strings with a lone surrogate or raw Latin-1 bytes */
  static const char tok[] = "{\"model\": {\"type\": \"WordLevel\", \"vocab\": {\"caf\xe9\": 0}}}";
  path = write_file("tokenizer.json", tok, sizeof tok - 1);
  tok_tokenizer *t;
  ck_assert_int_eq(tok_load(path, &t, &err), -1);
  ck_assert_has(err.msg, "tokenizer.json:1:");
  free(path);
  static const char rows[] = "{\"question\": \"Who?\", \"answer\": \"\\ud800\"}\n";
  path = write_file("forget10.json", rows, sizeof rows - 1);
  tofu_set set;
  ck_assert_int_eq(tofu_load(path, 0, &set, &err), -1);
  ck_assert_has(err.msg, "forget10.json:1: invalid JSON");
  free(path);
  remove_dir();
}
END_TEST

/* ---- things that are not plugins -------------------------------------------- */
START_TEST(test_not_a_plugin) {
  make_dir();
  static const char text[] = "this is a text file, not a shared object\n";
  char *path = write_file("lethe_x.so", text, sizeof text - 1);
  method_plugin p;
  lethe_err err = {0};
  ck_assert_int_eq(method_plugin_open(&p, path, &err), -1);
  ck_assert_has(err.msg, "cannot load plugin ");
  ck_assert_has(err.msg, "lethe_x.so");
  /* found by name on the search path: the same refusal */
  method_search s;
  method_search_init(&s);
  method_search_add(&s, dir);
  ck_assert_int_eq(method_plugin_find(&p, &s, "x", &err), -1);
  ck_assert_has(err.msg, "cannot load plugin ");
  /* a scan reports it and carries on */
  method_set set;
  method_set_init(&set);
  ck_assert_int_eq(method_set_scan(&set, &s, NULL, NULL), 1);
  ck_assert_int_eq(set.n, 0);
  method_set_free(&set);
  method_search_free(&s);
  free(path);
  /* a real shared library that is not a plugin (the C math library) */
  Dl_info info;
  ck_assert(dladdr((void *)&cos, &info) && info.dli_fname);
  ck_assert_int_eq(method_plugin_open(&p, info.dli_fname, &err), -1);
  ck_assert_has(err.msg, "has no symbol 'lethe_method_entry'");
  /* an empty file and a directory */
  path = write_file("lethe_empty.so", "", 0);
  ck_assert_int_eq(method_plugin_open(&p, path, &err), -1);
  ck_assert_has(err.msg, "cannot load plugin ");
  free(path);
  ck_assert_int_eq(method_plugin_open(&p, dir, &err), -1);
  ck_assert_has(err.msg, "cannot load plugin ");
  remove_dir();
}
END_TEST

/* ---- suite files ---------------------------------------------------------------- */
START_TEST(test_suite_run_count_and_names) {
  make_dir();
  static const char base[] = "unlearn = { epochs = 1; };\n";
  free(write_file("base.cfg", base, sizeof base - 1));
  /* 20 dimensions of 10 values: 10^20 runs overflowed the count (UBSan) */
  char text[4096], *p = text;
  p += sprintf(p, "base = \"base.cfg\";\ngrid = { world = {");
  for (int d = 0; d < 20; d++) p += sprintf(p, " d%d = [0,1,2,3,4,5,6,7,8,9];", d);
  p += sprintf(p, " }; };\n");
  char *path = write_file("big.cfg", text, (size_t)(p - text));
  suite s;
  lethe_err err = {0};
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_has(err.msg, "big.cfg: more than 100000 runs");
  free(path);
  /* a group named ".." would put its run's files in the suite's directory */
  static const char dots[] = "base = \"base.cfg\";\n"
                             "groups = ( { name = \"..\"; set = { seed = 1; }; } );\n";
  path = write_file("dots.cfg", dots, sizeof dots - 1);
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_has(err.msg, "dots.cfg: a run cannot be named '..'");
  free(path);
  /* a group whose settings are not single values (the error path leaked) */
  static const char list[] = "base = \"base.cfg\";\n"
                             "groups = ( { name = \"a\"; set = { seed = [1, 2]; }; } );\n";
  path = write_file("list.cfg", list, sizeof list - 1);
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_has(err.msg, "'seed' must be a single value here");
  free(path);
  /* a run name longer than a directory name: refused (it was cut at 1023
   * bytes, and mkdir failed later); long setting paths and values stay whole
   * (they were cut at 511 bytes) */
  char long_name[301], long_path[701];
  memset(long_name, 'n', 300), long_name[300] = '\0';
  memset(long_path, 'p', 700), long_path[700] = '\0';
  p = text + sprintf(text, "base = \"base.cfg\";\ngroups = ( { name = \"%s\"; set = { seed = 1; }; } );\n",
                     long_name);
  path = write_file("long.cfg", text, (size_t)(p - text));
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_has(err.msg, "is 300 bytes, more than a directory name holds (255)");
  free(path);
  p = text + sprintf(text, "base = \"base.cfg\";\nset = { %s = \"%s\"; };\n", long_path, long_path);
  path = write_file("long_path.cfg", text, (size_t)(p - text));
  ck_assert_msg(suite_load(&s, path, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(s.n_runs, 1);
  ck_assert_int_eq((int)strlen(s.runs[0].overrides[0]), 2 * 700 + 1);
  suite_free(&s);
  free(path);
  /* a base experiment of a kind the suite cannot run */
  static const char kind_base[] = "kind = \"nope\";\n", kind_suite[] = "base = \"kind_base.cfg\";\n";
  free(write_file("kind_base.cfg", kind_base, sizeof kind_base - 1));
  path = write_file("kind.cfg", kind_suite, sizeof kind_suite - 1);
  ck_assert_int_eq(suite_load(&s, path, &err), -1);
  ck_assert_has(err.msg, "unknown kind \"nope\" (known: tofu, synthetic, muse)");
  free(path);
  /* every kind core/kind.h names has a complete row of the suite's table */
  for (int k = 0; k < LETHE_N_KINDS; k++) {
    const suite_kind *row = suite_kind_find(lethe_kind_name((lethe_kind)k));
    ck_assert_ptr_nonnull(row);
    ck_assert_int_eq(row->id, k);
    ck_assert(row->validate && row->command && row->summarize && row->report);
  }
  ck_assert_ptr_null(suite_kind_find("nope"));
  ck_assert_ptr_null(suite_kind_find(NULL));
  remove_dir();
}
END_TEST

int main(void) {
  Suite *s = suite_create("hostile");
  TCase *tc = tcase_create("refused");
  tcase_set_timeout(tc, 60);
  tcase_add_test(tc, test_config_asking_for_more_than_the_file_holds);
  tcase_add_test(tc, test_nan_weight_refused_at_load);
  tcase_add_test(tc, test_safetensors_memory_follows_tensors_not_file);
  tcase_add_test(tc, test_one_gigabyte_line_refused_by_every_reader);
  tcase_add_test(tc, test_token_rows_padded_size_bounded);
  tcase_add_test(tc, test_non_utf8_refused_with_line);
  tcase_add_test(tc, test_not_a_plugin);
  tcase_add_test(tc, test_suite_run_count_and_names);
  suite_add_tcase(s, tc);
  SRunner *sr = srunner_create(s);
  srunner_run_all(sr, CK_ENV);
  int nf = srunner_ntests_failed(sr);
  srunner_free(sr);
  return nf ? EXIT_FAILURE : EXIT_SUCCESS;
}
