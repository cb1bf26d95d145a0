/* test_st_shards — weights as real checkpoints store them: the f32 <-> bf16
 * and f16 conversions (every 16-bit pattern, rounding, overflow), sharded and
 * single-file checkpoints written by an independent Python writer
 * (tests/data/st_checkpoint.py) loaded and saved back byte for byte, lethe's
 * own bf16/f16 output read back by that script's parser, and one test per
 * refused index or directory. Fixtures go to a fresh mkdtemp directory. */
#include <check.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "model/llama.h"
#include "model/st_shards.h"

#define PYTHON "/usr/bin/python3"
#define WRITER LETHE_TEST_DATA "/st_checkpoint.py"
#define TINY_CONFIG LETHE_TEST_DATA "/llama-tiny/model/config.json"
#define TIED_CONFIG LETHE_TEST_DATA "/llama-mha-tied/model/config.json"

static char dir[64];

static void make_dir(void) {
  strcpy(dir, "/tmp/lethe_shards_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

static void run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void run(const char *fmt, ...) {
  char cmd[1024];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(cmd, sizeof cmd, fmt, ap);
  va_end(ap);
  ck_assert_msg(system(cmd) == 0, "failed: %s", cmd);
}

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, sizeof f);
  return f;
}

/* ---- conversions ------------------------------------------------------------ */

START_TEST(test_every_16_bit_pattern_survives_f32) {
  for (uint32_t h = 0; h < 65536; h++) {
    ck_assert_uint_eq(st_f32_to_bf16(st_bf16_to_f32((uint16_t)h)), h);
    ck_assert_uint_eq(st_f32_to_f16(st_f16_to_f32((uint16_t)h)), h);
  }
  ck_assert_float_eq(st_f16_to_f32(0x0001), ldexpf(1, -24)); /* smallest subnormal */
  ck_assert_float_eq(st_f16_to_f32(0x03ff), ldexpf(1023, -24));
  ck_assert_float_eq(st_f16_to_f32(0x7bff), 65504.0f);
  ck_assert(isinf(st_f16_to_f32(0xfc00)) && st_f16_to_f32(0xfc00) < 0);
  ck_assert(isnan(st_f16_to_f32(0x7e00)) && isnan(st_bf16_to_f32(0xffc1)));
  ck_assert_float_eq(st_bf16_to_f32(0x0001), ldexpf(1, -133));
}
END_TEST

START_TEST(test_narrowing_rounds_to_nearest_even) {
  /* bf16: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1) */
  ck_assert_uint_eq(st_f32_to_bf16(1.0f + ldexpf(1, -8)), 0x3f80);
  ck_assert_uint_eq(st_f32_to_bf16(1.0f + 3 * ldexpf(1, -8)), 0x3f82); /* tie up to even */
  ck_assert_uint_eq(st_f32_to_bf16(from_bits(0x3f808001)), 0x3f81);    /* above half */
  ck_assert_uint_eq(st_f32_to_bf16(from_bits(0x7f7fffff)), 0x7f80);    /* overflow: inf */
  ck_assert_uint_eq(st_f32_to_bf16(-INFINITY), 0xff80);
  ck_assert_uint_eq(st_f32_to_bf16(from_bits(0x7f800001)) & 0x7f80, 0x7f80); /* NaN stays */
  ck_assert_uint_ne(st_f32_to_bf16(from_bits(0x7f800001)) & 0x7f, 0);
  /* f16 */
  ck_assert_uint_eq(st_f32_to_f16(1.0f + ldexpf(1, -11)), 0x3c00);
  ck_assert_uint_eq(st_f32_to_f16(1.0f + 3 * ldexpf(1, -11)), 0x3c02);
  ck_assert_uint_eq(st_f32_to_f16(65504.0f), 0x7bff);
  ck_assert_uint_eq(st_f32_to_f16(65519.996f), 0x7bff); /* below the halfway point */
  ck_assert_uint_eq(st_f32_to_f16(65520.0f), 0x7c00);   /* halfway to 2^16: to even = inf */
  ck_assert_uint_eq(st_f32_to_f16(-1e10f), 0xfc00);
  ck_assert_uint_eq(st_f32_to_f16(ldexpf(1, -25)), 0x0000);        /* tie to even: 0 */
  ck_assert_uint_eq(st_f32_to_f16(ldexpf(3, -26)), 0x0001);        /* 0.75 units: 1 */
  ck_assert_uint_eq(st_f32_to_f16(ldexpf(3, -25)), 0x0002);        /* 1.5 units: tie to 2 */
  ck_assert_uint_eq(st_f32_to_f16(-ldexpf(1, -14)), 0x8400);       /* smallest normal */
  ck_assert_uint_eq(st_f32_to_f16(ldexpf(1023.5f, -24)), 0x0400);  /* rounds up into normals */
  ck_assert_uint_eq(st_f32_to_f16(1e-30f), 0x0000);
  ck_assert_uint_eq(st_f32_to_f16(from_bits(0xffc00000)), 0xfe00); /* NaN */
}
END_TEST

/* ---- splitting into shards --------------------------------------------------- */

START_TEST(test_split_as_transformers) {
  static const float data[8] = {0};
  /* F32 tensors of 12, 32, 12, 16 bytes with a 24-byte limit: the 32-byte one
   * is a shard of its own, numbered when met; the last overflows shard 0 */
  st_entry e[] = {{"a", 1, {3}, data, ST_F32}, {"big", 1, {8}, data, ST_F32},
                  {"c", 1, {3}, data, ST_F32}, {"d", 1, {4}, data, ST_F32}};
  int shard_of[4];
  ck_assert_int_eq(st_split_shards(e, 4, 24, shard_of), 3);
  ck_assert(shard_of[0] == 0 && shard_of[1] == 1 && shard_of[2] == 0 && shard_of[3] == 2);
  ck_assert_int_eq(st_split_shards(e, 4, 72, shard_of), 0); /* all fit: one file */
  ck_assert(shard_of[0] == 0 && shard_of[3] == 0);
  ck_assert_int_eq(st_split_shards(e, 4, 0, shard_of), 0); /* no limit */
  e[1].dtype = ST_BF16;                                    /* 16 bytes now */
  ck_assert_int_eq(st_split_shards(e, 4, 28, shard_of), 2); /* 12+16 | 12+16: exactly full */
  ck_assert(shard_of[0] == 0 && shard_of[1] == 0 && shard_of[2] == 1 && shard_of[3] == 1);
}
END_TEST

/* ---- round trips through lethe --------------------------------------------- */

/* Compares two files byte for byte. */
static void assert_same_file(const char *a, const char *b) {
  char *x, *y;
  size_t nx, ny;
  lethe_err err = {0};
  ck_assert_msg(lethe_read_file(a, 1u << 30, &x, &nx, &err) == 0, "%s", err.msg);
  ck_assert_msg(lethe_read_file(b, 1u << 30, &y, &ny, &err) == 0, "%s", err.msg);
  ck_assert_msg(nx == ny && memcmp(x, y, nx) == 0, "%s and %s differ", a, b);
  free(x);
  free(y);
}

/* The Python writer makes DIR/in; lethe loads it and saves DIR/out; every
 * weights file of in (index and shards, or model.safetensors) must be in out
 * byte for byte, and out must hold no other weights file. */
static void round_trip(const char *config, const char *dtype, long max_shard, int sharded,
                       const char *old) {
  make_dir();
  run(PYTHON " " WRITER " write %s/in %s %s %ld 7 %s", dir, config, dtype, max_shard, old);
  char in[128], out[128];
  snprintf(in, sizeof in, "%s/in", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  llama_model m;
  lethe_err err = {0};
  ck_assert_msg(llama_load(&m, in, &err) == 0, "%s", err.msg);
  ck_assert_msg(llama_save(&m, out, &err) == 0, "%s", err.msg);
  run("cd %s/in && ls model*.safetensors* > ../in.txt && cd ../out && ls model*.safetensors* "
      "> ../out.txt && cmp ../in.txt ../out.txt", dir);
  char *list;
  size_t len;
  snprintf(in, sizeof in, "%s/in.txt", dir);
  ck_assert(lethe_read_file(in, 1 << 20, &list, &len, &err) == 0);
  int n_shards = 0;
  for (char *name = strtok(list, "\n"); name; name = strtok(NULL, "\n")) {
    char a[256], b[256];
    snprintf(a, sizeof a, "%s/in/%s", dir, name);
    snprintf(b, sizeof b, "%s/out/%s", dir, name);
    assert_same_file(a, b);
    n_shards += strstr(name, "-of-") != NULL;
  }
  ck_assert_int_eq(m.storage.n_shards, n_shards);
  ck_assert_int_eq(n_shards > 1, sharded);
  llama_free(&m);
  free(list);
  remove_dir();
}

START_TEST(test_bf16_sharded_round_trip) { round_trip(TINY_CONFIG, "BF16", 16000, 1, ""); }
END_TEST

START_TEST(test_f16_sharded_tied_round_trip) { round_trip(TIED_CONFIG, "F16", 30000, 1, ""); }
END_TEST

START_TEST(test_bf16_single_file_round_trip) { round_trip(TINY_CONFIG, "BF16", 0, 0, ""); }
END_TEST

START_TEST(test_f32_sharded_round_trip) { round_trip(TINY_CONFIG, "F32", 100000, 1, ""); }
END_TEST

/* F32 norms among BF16 matrices: each tensor keeps its dtype, F32 first in
 * each file (the reference writer's order by element size) */
START_TEST(test_mixed_dtypes_round_trip) { round_trip(TINY_CONFIG, "MIXED", 30000, 1, ""); }
END_TEST

/* an index without total_parameters (transformers before mid-2025) stays so */
START_TEST(test_old_index_round_trip) { round_trip(TIED_CONFIG, "BF16", 20000, 1, "old"); }
END_TEST

/* lethe narrows an F32 model to bf16 / f16 shards; the independent parser
 * checks the files (tiling, alignment, metadata, index) and every value
 * against its own round-to-nearest-even of the F32 input. */
static void narrow_and_verify(int dtype) {
  make_dir();
  run(PYTHON " " WRITER " write %s/ref %s F32 0 3", dir, TINY_CONFIG);
  char ref[128], out[128];
  snprintf(ref, sizeof ref, "%s/ref", dir);
  snprintf(out, sizeof out, "%s/out", dir);
  llama_model m;
  lethe_err err = {0};
  ck_assert_msg(llama_load(&m, ref, &err) == 0, "%s", err.msg);
  llama_storage how = {.dtype = dtype, .max_shard_size = 40000};
  ck_assert_msg(llama_save_as(&m, out, &how, &err) == 0, "%s", err.msg);
  run(PYTHON " " WRITER " verify %s %s > /dev/null", out, ref);
  run("grep -q '\"torch_dtype\": \"%s\"' %s/config.json", dtype == ST_BF16 ? "bfloat16" : "float16",
      out);
  /* and lethe reads back exactly the rounded values, remembering the layout */
  llama_model back;
  ck_assert_msg(llama_load(&back, out, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(back.storage.dtype, dtype);
  ck_assert_int_gt(back.storage.n_shards, 1);
  for (size_t i = 0; i < m.n_params; i++) {
    float x = m.params_memory[i];
    float want = dtype == ST_BF16 ? st_bf16_to_f32(st_f32_to_bf16(x))
                                  : st_f16_to_f32(st_f32_to_f16(x));
    ck_assert_msg(back.params_memory[i] == want, "param %zu: %g != %g", i, back.params_memory[i],
                  want);
  }
  llama_free(&back);
  llama_free(&m);
  remove_dir();
}

START_TEST(test_lethe_bf16_output_is_readable) { narrow_and_verify(ST_BF16); }
END_TEST

START_TEST(test_lethe_f16_output_is_readable) { narrow_and_verify(ST_F16); }
END_TEST

/* Saving a sharded layout over a single file (and back) leaves only the new
 * layout's files. */
START_TEST(test_save_removes_the_other_layout) {
  make_dir();
  run(PYTHON " " WRITER " write %s/m %s BF16 0 5", dir, TINY_CONFIG);
  char path[128];
  snprintf(path, sizeof path, "%s/m", dir);
  llama_model m;
  lethe_err err = {0};
  ck_assert_msg(llama_load(&m, path, &err) == 0, "%s", err.msg);
  llama_storage split = {.dtype = ST_BF16, .max_shard_size = 50000};
  ck_assert_msg(llama_save_as(&m, path, &split, &err) == 0, "%s", err.msg);
  run("cd %s && test ! -e model.safetensors && test -e model.safetensors.index.json && "
      "test $(ls model-*-of-*.safetensors | wc -l) -gt 1", path);
  llama_storage fewer = {.dtype = ST_BF16, .max_shard_size = 100000};
  ck_assert_msg(llama_save_as(&m, path, &fewer, &err) == 0, "%s", err.msg);
  run("cd %s && test $(ls model-*-of-00002.safetensors | wc -l) -eq 2 && "
      "test $(ls model-*.safetensors | wc -l) -eq 2", path);
  ck_assert_msg(llama_save(&m, path, &err) == 0, "%s", err.msg); /* the loaded layout */
  run("cd %s && test -e model.safetensors && test ! -e model.safetensors.index.json && "
      "test -z \"$(ls model-* 2>/dev/null)\"", path);
  llama_free(&m);
  remove_dir();
}
END_TEST

/* ---- refused directories ----------------------------------------------------- */

/* Shards a.safetensors (x, y) and b.safetensors (z) of float data. */
static void write_shards(void) {
  static const float data[6] = {1, 2, 3, 4, 5, 6};
  st_entry a[] = {{"x", 1, {2}, data, ST_BF16}, {"y", 1, {2}, data, ST_F32}};
  st_entry b[] = {{"z", 2, {1, 2}, data, ST_F16}};
  lethe_err err = {0};
  char path[128];
  snprintf(path, sizeof path, "%s/a.safetensors", dir);
  ck_assert_msg(st_write_f32(path, a, 2, NULL, 0, &err) == 0, "%s", err.msg);
  snprintf(path, sizeof path, "%s/b.safetensors", dir);
  ck_assert_msg(st_write_f32(path, b, 1, NULL, 0, &err) == 0, "%s", err.msg);
}

/* Writes index text to DIR/model.safetensors.index.json and opens DIR,
 * which must fail with every one of the `want` strings in the message. */
static void expect_refused(const char *index, const char *want, const char *want2) {
  make_dir();
  write_shards();
  char *path = lethe_path_join(dir, ST_INDEX_NAME);
  lethe_err err = {0};
  ck_assert(lethe_write_file_atomic(path, index, strlen(index), &err) == 0);
  free(path);
  st_set s;
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  ck_assert_msg(strstr(err.msg, want) && strstr(err.msg, want2), "expected '%s', '%s' in: %s",
                want, want2, err.msg);
  ck_assert_ptr_null(s.files);
  remove_dir();
}

#define MAP_OK "\"x\": \"a.safetensors\", \"y\": \"a.safetensors\", \"z\": \"b.safetensors\""

START_TEST(test_index_accepted) {
  make_dir();
  write_shards();
  static const char index[] =
      "{\"metadata\": {\"total_size\": 16}, \"weight_map\": {" MAP_OK "}}";
  char *path = lethe_path_join(dir, ST_INDEX_NAME);
  lethe_err err = {0};
  ck_assert(lethe_write_file_atomic(path, index, strlen(index), &err) == 0);
  free(path);
  st_set s;
  ck_assert_msg(st_set_open(&s, dir, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(s.n_files, 2);
  ck_assert_uint_eq(s.data_bytes, 4 + 8 + 4);
  int file = -1;
  ck_assert_ptr_nonnull(st_set_find(&s, "z", &file));
  ck_assert_int_eq(file, 1);
  float z[2];
  int64_t shape[2] = {1, 2};
  ck_assert_msg(st_set_load_f32(&s, "z", 2, shape, z, &err) == 0, "%s", err.msg);
  ck_assert(z[0] == 1 && z[1] == 2);
  ck_assert_int_eq(st_set_load_f32(&s, "w", 2, shape, z, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "'w' is in none of the 2 shards"));
  shape[0] = 2;
  ck_assert_int_eq(st_set_load_f32(&s, "z", 2, shape, z, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "b.safetensors: tensor 'z': expected shape [2, 2]"));
  st_set_close(&s);
  remove_dir();
}
END_TEST

START_TEST(test_index_total_size_mismatch) {
  expect_refused("{\"metadata\": {\"total_size\": 13}, \"weight_map\": {" MAP_OK "}}",
                 "index.json: metadata.total_size is 13", "hold 16 bytes");
}
END_TEST

START_TEST(test_index_total_size_not_integer) {
  expect_refused("{\"metadata\": {\"total_size\": \"16\"}, \"weight_map\": {" MAP_OK "}}",
                 "index.json: metadata.total_size", "non-negative integer");
  expect_refused("{\"metadata\": {\"total_size\": 16.5}, \"weight_map\": {" MAP_OK "}}",
                 "index.json: metadata.total_size", "non-negative integer");
  expect_refused("{\"metadata\": {\"total_size\": -16.0}, \"weight_map\": {" MAP_OK "}}",
                 "index.json: metadata.total_size", "non-negative integer");
  /* 17.0 is an integer written as a real (accepted), but not the sum */
  expect_refused("{\"metadata\": {\"total_size\": 17.0}, \"weight_map\": {" MAP_OK "}}",
                 "metadata.total_size is 17", "hold 16 bytes");
}
END_TEST

START_TEST(test_index_shard_escapes_dir) {
  expect_refused("{\"weight_map\": {\"x\": \"../a.safetensors\"}}", "weight_map['x']",
                 "file name in the model directory");
  expect_refused("{\"weight_map\": {\"x\": \"/etc/passwd\"}}", "weight_map['x']", "'/'");
  expect_refused("{\"weight_map\": {\"x\": \"..\"}}", "weight_map['x']", "'..'");
  expect_refused("{\"weight_map\": {\"x\": 3}}", "weight_map['x']", "a string");
}
END_TEST

START_TEST(test_index_tensor_missing_from_shard) {
  expect_refused("{\"weight_map\": {" MAP_OK ", \"w\": \"b.safetensors\"}}",
                 "tensor 'w' is listed for shard b.safetensors", "does not hold it");
}
END_TEST

START_TEST(test_index_tensor_not_listed) {
  expect_refused("{\"weight_map\": {\"x\": \"a.safetensors\", \"z\": \"b.safetensors\"}}",
                 "a.safetensors: tensor 'y'", "not in the index's weight_map");
}
END_TEST

START_TEST(test_index_duplicate_across_shards) {
  make_dir();
  write_shards();
  static const float data[2] = {7, 8};
  st_entry again[] = {{"x", 1, {2}, data, ST_F32}};
  lethe_err err = {0};
  char path[128];
  snprintf(path, sizeof path, "%s/b.safetensors", dir);
  ck_assert(st_write_f32(path, again, 1, NULL, 0, &err) == 0);
  static const char index[] = "{\"weight_map\": {\"x\": \"a.safetensors\", \"y\": "
                              "\"a.safetensors\", \"q\": \"b.safetensors\"}}";
  char *ipath = lethe_path_join(dir, ST_INDEX_NAME);
  ck_assert(lethe_write_file_atomic(ipath, index, strlen(index), &err) == 0);
  free(ipath);
  st_set s;
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  /* q is listed for b, which does not hold it: the first finding */
  ck_assert_ptr_nonnull(strstr(err.msg, "'q'"));
  static const char index2[] = "{\"weight_map\": {\"x\": \"b.safetensors\", \"y\": "
                               "\"a.safetensors\"}}";
  ipath = lethe_path_join(dir, ST_INDEX_NAME);
  ck_assert(lethe_write_file_atomic(ipath, index2, strlen(index2), &err) == 0);
  free(ipath);
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  ck_assert_msg(strstr(err.msg, "a.safetensors: tensor 'x' is also in shard b.safetensors"),
                "%s", err.msg);
  remove_dir();
}
END_TEST

START_TEST(test_index_bad_json) {
  expect_refused("{\"weight_map\": ", "index.json: not valid JSON", "line 1");
  expect_refused("{\"weight_map\": {}}", "index.json", "non-empty object");
  expect_refused("[1]", "index.json", "\"weight_map\"");
  expect_refused("{\"weight_map\": {" MAP_OK ", \"x\": \"a.safetensors\"}}", "index.json",
                 "duplicate");
}
END_TEST

START_TEST(test_index_shard_missing_or_broken) {
  expect_refused("{\"weight_map\": {\"x\": \"c.safetensors\"}}", "c.safetensors", "cannot open");
  make_dir();
  write_shards();
  char *path = lethe_path_join(dir, "c.safetensors");
  lethe_err err = {0};
  static const char bad[] = "\x14\0\0\0\0\0\0\0{\"t\":{\"dtype\":\"Q7\"}}";
  ck_assert(lethe_write_file_atomic(path, bad, sizeof bad - 1, &err) == 0);
  free(path);
  static const char index[] = "{\"weight_map\": {\"t\": \"c.safetensors\"}}";
  path = lethe_path_join(dir, ST_INDEX_NAME);
  ck_assert(lethe_write_file_atomic(path, index, strlen(index), &err) == 0);
  free(path);
  st_set s;
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  ck_assert_msg(strstr(err.msg, "c.safetensors: tensor 't': unknown dtype 'Q7'") &&
                    strstr(err.msg, "shard of"), "%s",
                err.msg);
  remove_dir();
}
END_TEST

START_TEST(test_both_layouts_or_none) {
  make_dir();
  st_set s;
  lethe_err err = {0};
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  ck_assert_msg(strstr(err.msg, "model.safetensors: cannot open"), "%s", err.msg);
  write_shards();
  char *a = lethe_path_join(dir, "a.safetensors"), *single = lethe_path_join(dir, ST_SINGLE_NAME);
  ck_assert_int_eq(rename(a, single), 0);
  ck_assert_msg(st_set_open(&s, dir, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(s.sharded, 0);
  st_set_close(&s);
  char *index = lethe_path_join(dir, ST_INDEX_NAME);
  ck_assert(lethe_write_file_atomic(index, "{}", 2, &err) == 0);
  ck_assert_int_eq(st_set_open(&s, dir, &err), -1);
  ck_assert_msg(strstr(err.msg, "holds both model.safetensors and model.safetensors.index.json"),
                "%s", err.msg);
  free(a);
  free(single);
  free(index);
  remove_dir();
}
END_TEST

/* A model whose checkpoint holds an integer tensor or a wrong shape is
 * refused naming the file and the tensor. */
START_TEST(test_model_refuses_dtype_and_shape) {
  make_dir();
  run(PYTHON " " WRITER " write %s/m %s BF16 30000 9 && cd %s/m && sed -i "
      "'s/\"model.norm.weight\":{\"dtype\":\"BF16\"/\"model.norm.weight\":{ \"dtype\":\"I16\"/' "
      "model-*.safetensors", dir, TINY_CONFIG, dir);
  char path[128];
  snprintf(path, sizeof path, "%s/m", dir);
  llama_model m;
  lethe_err err = {0};
  ck_assert_int_eq(llama_load(&m, path, &err), -1);
  ck_assert_msg(strstr(err.msg, "safetensors: tensor 'model.norm.weight'"), "%s", err.msg);
  ck_assert_msg(strstr(err.msg, "dtype I16 is not a float type"), "%s", err.msg);
  remove_dir();
  make_dir();
  run(PYTHON " " WRITER " write %s/m %s BF16 30000 9 && sed -i 's/\"hidden_size\": 64/"
      "\"hidden_size\": 32/' %s/m/config.json", dir, TINY_CONFIG, dir);
  snprintf(path, sizeof path, "%s/m", dir);
  ck_assert_int_eq(llama_load(&m, path, &err), -1);
  ck_assert_msg(strstr(err.msg, "safetensors: tensor 'model.embed_tokens.weight': expected "
                               "shape [97, 32], found [97, 64]"), "%s", err.msg);
  remove_dir();
}
END_TEST

static Suite *shards_suite(void) {
  Suite *s = suite_create("st_shards");
  TCase *conv = tcase_create("conversions");
  tcase_add_test(conv, test_every_16_bit_pattern_survives_f32);
  tcase_add_test(conv, test_narrowing_rounds_to_nearest_even);
  tcase_add_test(conv, test_split_as_transformers);
  suite_add_tcase(s, conv);
  TCase *trip = tcase_create("round_trip");
  tcase_add_test(trip, test_bf16_sharded_round_trip);
  tcase_add_test(trip, test_f16_sharded_tied_round_trip);
  tcase_add_test(trip, test_bf16_single_file_round_trip);
  tcase_add_test(trip, test_f32_sharded_round_trip);
  tcase_add_test(trip, test_old_index_round_trip);
  tcase_add_test(trip, test_mixed_dtypes_round_trip);
  tcase_add_test(trip, test_lethe_bf16_output_is_readable);
  tcase_add_test(trip, test_lethe_f16_output_is_readable);
  tcase_add_test(trip, test_save_removes_the_other_layout);
  suite_add_tcase(s, trip);
  TCase *bad = tcase_create("refused");
  tcase_add_test(bad, test_index_accepted);
  tcase_add_test(bad, test_index_total_size_mismatch);
  tcase_add_test(bad, test_index_total_size_not_integer);
  tcase_add_test(bad, test_index_shard_escapes_dir);
  tcase_add_test(bad, test_index_tensor_missing_from_shard);
  tcase_add_test(bad, test_index_tensor_not_listed);
  tcase_add_test(bad, test_index_duplicate_across_shards);
  tcase_add_test(bad, test_index_bad_json);
  tcase_add_test(bad, test_index_shard_missing_or_broken);
  tcase_add_test(bad, test_both_layouts_or_none);
  tcase_add_test(bad, test_model_refuses_dtype_and_shape);
  suite_add_tcase(s, bad);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(shards_suite());
  srunner_run_all(sr, CK_NORMAL);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
