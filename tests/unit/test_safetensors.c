/* test_safetensors — model directory I/O: safetensors read/write (round trip,
 * the Hugging Face llama-tiny file, BF16/F16/F64 conversion, one test per
 * malformed header) and config.json (both rope forms, round trip, one test
 * per rejected config). Fixtures go to a fresh mkdtemp directory. */
#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"
#include "model/config.h"
#include "model/safetensors.h"

#define TINY_DIR LETHE_TEST_DATA "/llama-tiny"
#define MHA_DIR LETHE_TEST_DATA "/llama-mha-tied"

/* Fixtures live in a fresh directory per test (dir must hold 64 bytes). */
static void make_fixture_dir(char *dir) {
  strcpy(dir, "/tmp/lethe_st_XXXXXX");
  ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_fixture_dir(const char *dir) {
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  ck_assert_int_eq(system(cmd), 0);
}

/* Writes bytes to <dir>/name; returns the malloc'd path. */
static char *write_fixture(const char *dir, const char *name, const void *bytes, size_t len) {
  char *path = lethe_path_join(dir, name);
  FILE *fp = fopen(path, "wb");
  ck_assert_ptr_nonnull(fp);
  ck_assert_uint_eq(fwrite(bytes, 1, len, fp), len);
  fclose(fp);
  return path;
}

/* A safetensors file: an 8-byte length (`claimed_len`, or the real header
 * length when UINT64_MAX), the header text, then data_len bytes of `data`
 * (zeros when data is NULL). */
static char *write_st(const char *dir, const char *name, const char *header, uint64_t claimed_len,
                      const void *data, size_t data_len) {
  size_t hlen = strlen(header);
  uint64_t n = claimed_len == UINT64_MAX ? hlen : claimed_len;
  uint8_t *buf = calloc(8 + hlen + data_len + 1, 1);
  for (int i = 0; i < 8; i++) buf[i] = (uint8_t)(n >> (8 * i));
  memcpy(buf + 8, header, hlen);
  if (data) memcpy(buf + 8 + hlen, data, data_len);
  char *path = write_fixture(dir, name, buf, 8 + hlen + data_len);
  free(buf);
  return path;
}

/* Opens a malformed file, which must fail with a message containing `want`
 * and the file name. */
static void expect_st_error(const char *header, uint64_t claimed_len, size_t data_len,
                            const char *want) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  char *path = write_st(fixture_dir, "bad.safetensors", header, claimed_len, NULL, data_len);
  st_file f;
  lethe_err err = {0};
  ck_assert_int_eq(st_open(&f, path, &err), -1);
  ck_assert_msg(strstr(err.msg, want) != NULL, "expected '%s' in: %s", want, err.msg);
  ck_assert_ptr_nonnull(strstr(err.msg, "bad.safetensors"));
  ck_assert_int_ne(err.code, 0);
  ck_assert_ptr_null(f.tensors);
  free(path);
  remove_fixture_dir(fixture_dir);
}

/* ---- safetensors: valid files ------------------------------------------- */

START_TEST(test_st_round_trip) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  float a[6] = {1, -2, 3.5f, 4, 5, 6e-30f}, b[3] = {7, 8, 9}, s[1] = {-0.25f};
  st_entry entries[] = {
      {.name = "zeta.weight", .ndim = 2, .shape = {2, 3}, .data = a},
      {.name = "alpha", .ndim = 1, .shape = {3}, .data = b},
      {.name = "scalar", .ndim = 0, .data = s},
      {.name = "empty", .ndim = 2, .shape = {0, 5}, .data = NULL},
  };
  const char *meta[] = {"format", "pt", "lethe", "test"};
  char *path = lethe_path_join(fixture_dir, "rt.safetensors");
  lethe_err err = {0};
  ck_assert_int_eq(st_write_f32(path, entries, 4, meta, 2, &err), 0);

  /* The header is padded to a multiple of 8 bytes. */
  char *raw;
  size_t len;
  ck_assert_int_eq(lethe_read_file(path, 1 << 20, &raw, &len, &err), 0);
  uint64_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | (uint8_t)raw[i];
  ck_assert_uint_eq(hlen % 8, 0);
  ck_assert_uint_eq(len, 8 + hlen + 4 * (6 + 3 + 1));
  free(raw);

  st_file f;
  ck_assert_int_eq(st_open(&f, path, &err), 0);
  ck_assert_int_eq(f.n_tensors, 4);
  /* Sorted by name, offsets contiguous. */
  ck_assert_str_eq(f.tensors[0].name, "alpha");
  ck_assert_str_eq(f.tensors[1].name, "empty");
  ck_assert_str_eq(f.tensors[2].name, "scalar");
  ck_assert_str_eq(f.tensors[3].name, "zeta.weight");
  uint64_t offset = 0;
  for (int i = 0; i < 4; i++) {
    ck_assert_uint_eq(f.tensors[i].begin, offset);
    offset = f.tensors[i].end;
  }
  ck_assert_uint_eq(offset, f.data_len);
  ck_assert_ptr_nonnull(strstr(f.metadata_json, "\"lethe\":\"test\""));
  ck_assert_ptr_nonnull(strstr(f.metadata_json, "\"format\":\"pt\""));

  float got[6];
  int64_t shape23[] = {2, 3};
  ck_assert_int_eq(st_load_f32(&f, "zeta.weight", 2, shape23, got, &err), 0);
  ck_assert_mem_eq(got, a, sizeof a);
  const st_tensor *t = st_find(&f, "scalar");
  ck_assert_int_eq(t->ndim, 0);
  ck_assert_uint_eq(t->numel, 1);
  ck_assert_int_eq(st_read_f32(&f, t, got, 1, &err), 0);
  ck_assert_float_eq(got[0], -0.25f);
  ck_assert_uint_eq(st_find(&f, "empty")->numel, 0);
  ck_assert_ptr_null(st_find(&f, "missing"));

  /* Shape and size mismatches name the tensor and both shapes. */
  int64_t shape32[] = {3, 2};
  ck_assert_int_eq(st_load_f32(&f, "zeta.weight", 2, shape32, got, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "zeta.weight"));
  ck_assert_ptr_nonnull(strstr(err.msg, "expected shape [3, 2], found [2, 3]"));
  ck_assert_int_eq(st_load_f32(&f, "nope", 1, shape32, got, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "'nope' is missing"));
  ck_assert_int_eq(st_read_f32(&f, st_find(&f, "alpha"), got, 2, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "destination holds 2"));
  st_close(&f);

  /* Duplicate names are refused by the writer too. */
  st_entry dup[] = {{.name = "x", .ndim = 1, .shape = {1}, .data = s},
                    {.name = "x", .ndim = 1, .shape = {1}, .data = s}};
  ck_assert_int_eq(st_write_f32(path, dup, 2, NULL, 0, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "'x' appears twice"));
  free(path);
  remove_fixture_dir(fixture_dir);
}
END_TEST

START_TEST(test_st_read_llama_tiny) {
  st_file f;
  lethe_err err = {0};
  ck_assert_msg(st_open(&f, TINY_DIR "/model/model.safetensors", &err) == 0, "%s", err.msg);
  ck_assert_int_eq(f.n_tensors, 3 + 2 * 9);
  ck_assert_str_eq(f.metadata_json, "{\"format\":\"pt\"}");
  static const struct { const char *name; int ndim; int64_t shape[2]; } want[] = {
      {"model.embed_tokens.weight", 2, {97, 64}},
      {"lm_head.weight", 2, {97, 64}},
      {"model.layers.0.self_attn.q_proj.weight", 2, {64, 64}},
      {"model.layers.1.self_attn.k_proj.weight", 2, {32, 64}},
      {"model.layers.0.mlp.gate_proj.weight", 2, {160, 64}},
      {"model.layers.1.mlp.down_proj.weight", 2, {64, 160}},
      {"model.norm.weight", 1, {64}},
  };
  for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
    const st_tensor *t = st_find(&f, want[i].name);
    ck_assert_msg(t != NULL, "missing %s", want[i].name);
    ck_assert_int_eq(t->dtype, ST_F32);
    ck_assert_int_eq(t->ndim, want[i].ndim);
    for (int d = 0; d < t->ndim; d++) ck_assert_int_eq(t->shape[d], want[i].shape[d]);
  }
  float *embed = malloc(97 * 64 * sizeof(float));
  ck_assert_int_eq(st_load_f32(&f, "model.embed_tokens.weight", 2, want[0].shape, embed, &err),
                   0);
  double sumsq = 0;
  for (int i = 0; i < 97 * 64; i++) {
    ck_assert(isfinite(embed[i]));
    sumsq += (double)embed[i] * embed[i];
  }
  ck_assert_double_gt(sumsq, 0);
  free(embed);
  st_close(&f);

  ck_assert_int_eq(st_open(&f, TINY_DIR "/golden.safetensors", &err), 0);
  const st_tensor *logits = st_find(&f, "forget.logits");
  ck_assert_ptr_nonnull(logits);
  ck_assert_int_eq(logits->ndim, 3);
  ck_assert_int_eq(logits->shape[2], 97);
  st_close(&f);
}
END_TEST

/* Re-writing HF's file with st_write_f32 reproduces it byte for byte: same
 * key order, offsets, compact JSON and padding as the reference writer. */
START_TEST(test_st_rewrite_matches_hf) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  const char *src = TINY_DIR "/model/model.safetensors";
  st_file f;
  lethe_err err = {0};
  ck_assert_int_eq(st_open(&f, src, &err), 0);
  st_entry *entries = calloc((size_t)f.n_tensors, sizeof *entries);
  float **buffers = calloc((size_t)f.n_tensors, sizeof *buffers);
  for (int i = 0; i < f.n_tensors; i++) {
    const st_tensor *t = &f.tensors[i];
    buffers[i] = malloc(t->numel * sizeof(float));
    ck_assert_int_eq(st_read_f32(&f, t, buffers[i], t->numel, &err), 0);
    entries[i].name = t->name;
    entries[i].ndim = t->ndim;
    memcpy(entries[i].shape, t->shape, sizeof t->shape);
    entries[i].data = buffers[i];
  }
  const char *meta[] = {"format", "pt"};
  char *out = lethe_path_join(fixture_dir, "model.safetensors");
  ck_assert_int_eq(st_write_f32(out, entries, f.n_tensors, meta, 1, &err), 0);
  char *want, *got;
  size_t want_len, got_len;
  ck_assert_int_eq(lethe_read_file(src, 1 << 22, &want, &want_len, &err), 0);
  ck_assert_int_eq(lethe_read_file(out, 1 << 22, &got, &got_len, &err), 0);
  ck_assert_uint_eq(got_len, want_len);
  ck_assert(memcmp(got, want, want_len) == 0);
  for (int i = 0; i < f.n_tensors; i++) free(buffers[i]);
  free(buffers);
  free(entries);
  free(want);
  free(got);
  free(out);
  st_close(&f);
  remove_fixture_dir(fixture_dir);
}
END_TEST

/* The second golden model: tied embeddings, so no lm_head tensor. */
START_TEST(test_st_read_mha_tied) {
  st_file f;
  lethe_err err = {0};
  ck_assert_msg(st_open(&f, MHA_DIR "/model/model.safetensors", &err) == 0, "%s", err.msg);
  ck_assert_int_eq(f.n_tensors, 2 + 3 * 9);
  ck_assert_ptr_null(st_find(&f, "lm_head.weight"));
  ck_assert_int_eq(st_find(&f, "model.embed_tokens.weight")->shape[0], 89);
  ck_assert_int_eq(st_find(&f, "model.layers.2.self_attn.k_proj.weight")->shape[0], 48);
  st_close(&f);
}
END_TEST

START_TEST(test_st_half_and_double) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  /* BF16: 1.0, -2.5, 0x3e20 = 0.15625. F16: 1, -2, 2^-24 (smallest subnormal),
   * 0x03ff (largest subnormal), 65504 (max), +inf. F64: 0.1, -3. I32 refused. */
  static const uint16_t bf16[] = {0x3f80, 0xc020, 0x3e20};
  static const uint16_t f16[] = {0x3c00, 0xc000, 0x0001, 0x03ff, 0x7bff, 0x7c00};
  static const double f64[] = {0.1, -3.0};
  uint8_t data[6 + 12 + 16 + 4];
  memcpy(data, bf16, 6);
  memcpy(data + 6, f16, 12);
  memcpy(data + 18, f64, 16);
  memset(data + 34, 0, 4);
  const char *header =
      "{\"b\":{\"dtype\":\"BF16\",\"shape\":[3],\"data_offsets\":[0,6]},"
      "\"h\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[6,18]},"
      "\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[18,34]},"
      "\"i\":{\"dtype\":\"I32\",\"shape\":[1],\"data_offsets\":[34,38]}}";
  char *path = write_st(fixture_dir, "half.safetensors", header, UINT64_MAX, data, sizeof data);
  st_file f;
  lethe_err err = {0};
  ck_assert_msg(st_open(&f, path, &err) == 0, "%s", err.msg);
  ck_assert_int_eq(st_find(&f, "b")->dtype, ST_BF16);
  ck_assert_str_eq(st_dtype_name(ST_BF16), "BF16");
  float out[6];
  ck_assert_int_eq(st_read_f32(&f, st_find(&f, "b"), out, 3, &err), 0);
  ck_assert_float_eq(out[0], 1.0f);
  ck_assert_float_eq(out[1], -2.5f);
  ck_assert_float_eq(out[2], 0.15625f);
  int64_t shape[] = {2, 3};
  ck_assert_int_eq(st_load_f32(&f, "h", 2, shape, out, &err), 0);
  ck_assert_float_eq(out[0], 1.0f);
  ck_assert_float_eq(out[1], -2.0f);
  ck_assert_float_eq(out[2], ldexpf(1.0f, -24));
  ck_assert_float_eq(out[3], ldexpf(1023.0f, -24));
  ck_assert_float_eq(out[4], 65504.0f);
  ck_assert(isinf(out[5]) && out[5] > 0);
  ck_assert_int_eq(st_read_f32(&f, st_find(&f, "d"), out, 2, &err), 0);
  ck_assert_float_eq(out[0], 0.1f);
  ck_assert_float_eq(out[1], -3.0f);
  ck_assert_int_eq(st_read_f32(&f, st_find(&f, "i"), out, 1, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "not a float type"));
  st_close(&f);
  free(path);
  remove_fixture_dir(fixture_dir);
}
END_TEST

/* ---- safetensors: malformed files, one problem each ---------------------- */

#define ENTRY(name, dtype, shape, b, e) \
  "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":[" #b "," #e "]}"

START_TEST(test_st_truncated) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  char *path = write_fixture(fixture_dir, "short.safetensors", "\x10\0\0", 3);
  st_file f;
  lethe_err err = {0};
  ck_assert_int_eq(st_open(&f, path, &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "short.safetensors"));
  ck_assert_ptr_nonnull(strstr(err.msg, "too short for the 8-byte header length"));
  free(path);
  remove_fixture_dir(fixture_dir);
}
END_TEST

START_TEST(test_st_missing_file) {
  st_file f;
  lethe_err err = {0};
  ck_assert_int_eq(st_open(&f, "/nonexistent/x.safetensors", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "cannot open"));
}
END_TEST

START_TEST(test_st_header_past_end) {
  expect_st_error("{}", 4000, 16, "runs past the end of the file");
}
END_TEST

START_TEST(test_st_huge_header) {
  expect_st_error("{}", (uint64_t)1 << 40, 0, "exceeds the limit");
}
END_TEST

START_TEST(test_st_bad_json) {
  expect_st_error("{\"a\": {\"dtype\": ", UINT64_MAX, 0, "not valid JSON");
}
END_TEST

START_TEST(test_st_not_object) {
  expect_st_error("[1, 2]", UINT64_MAX, 0, "header must be a JSON object");
}
END_TEST

START_TEST(test_st_entry_not_object) {
  expect_st_error("{\"w\": 3}", UINT64_MAX, 0, "tensor 'w': entry must be a JSON object");
}
END_TEST

START_TEST(test_st_unknown_dtype) {
  expect_st_error("{" ENTRY("w", "F33", "[2]", 0, 8) "}", UINT64_MAX, 8,
                  "tensor 'w': unknown dtype 'F33'");
}
END_TEST

START_TEST(test_st_size_mismatch) {
  expect_st_error("{" ENTRY("w", "F32", "[2,3]", 0, 20) "}", UINT64_MAX, 24,
                  "tensor 'w': shape [2, 3] x F32 needs 24 bytes but data_offsets [0, 20] span 20");
}
END_TEST

START_TEST(test_st_offsets_past_end) {
  expect_st_error("{" ENTRY("w", "F32", "[4]", 8, 24) "}", UINT64_MAX, 16,
                  "tensor 'w': data_offsets end 24 is past the end of the data section (16 bytes)");
}
END_TEST

START_TEST(test_st_begin_after_end) {
  expect_st_error("{" ENTRY("w", "F32", "[1]", 8, 4) "}", UINT64_MAX, 16,
                  "tensor 'w': data_offsets begin 8 > end 4");
}
END_TEST

START_TEST(test_st_overlap) {
  expect_st_error("{" ENTRY("a", "F32", "[4]", 8, 24) "," ENTRY("b", "F32", "[4]", 0, 16) "}",
                  UINT64_MAX, 24, "tensors 'b' [0, 16] and 'a' [8, 24] overlap");
}
END_TEST

START_TEST(test_st_duplicate_name) {
  expect_st_error("{" ENTRY("a", "F32", "[1]", 0, 4) "," ENTRY("a", "F32", "[1]", 4, 8) "}",
                  UINT64_MAX, 8, "duplicate");
}
END_TEST

START_TEST(test_st_negative_dim) {
  expect_st_error("{" ENTRY("w", "F32", "[2,-1]", 0, 8) "}", UINT64_MAX, 8,
                  "tensor 'w': shape[1] must be a non-negative integer");
}
END_TEST

START_TEST(test_st_too_many_dims) {
  expect_st_error("{" ENTRY("w", "F32", "[1,1,1,1,1,1,1,1,1]", 0, 4) "}", UINT64_MAX, 4,
                  "tensor 'w': 9 dims, more than the 8 supported");
}
END_TEST

START_TEST(test_st_numel_overflow) {
  expect_st_error("{" ENTRY("w", "F32", "[4294967296,4294967296]", 0, 4) "}", UINT64_MAX, 4,
                  "tensor 'w': element count overflows");
  expect_st_error("{" ENTRY("w", "F32", "[4294967296,1073741824]", 0, 4) "}", UINT64_MAX, 4,
                  "tensor 'w': byte size of 4611686018427387904 x F32 overflows");
}
END_TEST

START_TEST(test_st_bad_metadata) {
  expect_st_error("{\"__metadata__\":{\"format\":7}}", UINT64_MAX, 0,
                  "\"__metadata__\" value of 'format' must be a string");
}
END_TEST

/* ---- config.json ----------------------------------------------------------- */

/* Writes a config.json body into the fixture directory. */
static char *write_config(const char *dir, const char *name, const char *body) {
  return write_fixture(dir, name, body, strlen(body));
}

START_TEST(test_config_llama_tiny) {
  llama_config cfg;
  lethe_err err = {0};
  ck_assert_msg(llama_config_read(&cfg, TINY_DIR "/model/config.json", &err) == 0, "%s",
                err.msg);
  ck_assert_int_eq(cfg.vocab_size, 97);
  ck_assert_int_eq(cfg.hidden_size, 64);
  ck_assert_int_eq(cfg.intermediate_size, 160);
  ck_assert_int_eq(cfg.num_hidden_layers, 2);
  ck_assert_int_eq(cfg.num_attention_heads, 4);
  ck_assert_int_eq(cfg.num_key_value_heads, 2);
  ck_assert_int_eq(cfg.head_dim, 16);
  ck_assert_int_eq(cfg.max_position_embeddings, 128);
  ck_assert_double_eq(cfg.rms_norm_eps, 1e-5);
  ck_assert_double_eq(cfg.rope_theta, 10000.0);
  ck_assert_int_eq(cfg.tie_word_embeddings, 0);
  ck_assert_int_eq(cfg.bos_token_id, 1);
  ck_assert_int_eq(cfg.eos_token_id, 2);
  ck_assert_int_eq(cfg.pad_token_id, 0);
  ck_assert_double_eq(cfg.initializer_range, 0.2);
}
END_TEST

START_TEST(test_config_mha_tied) {
  llama_config cfg;
  lethe_err err = {0};
  ck_assert_msg(llama_config_read(&cfg, MHA_DIR "/model/config.json", &err) == 0, "%s", err.msg);
  ck_assert_double_eq(cfg.rope_theta, 500000.0);
  ck_assert_int_eq(cfg.num_key_value_heads, 4);
  ck_assert_int_eq(cfg.head_dim, 12);
  ck_assert_int_eq(cfg.num_hidden_layers, 3);
  ck_assert_int_eq(cfg.tie_word_embeddings, 1);
  ck_assert_double_eq(cfg.rms_norm_eps, 1e-6);
}
END_TEST

START_TEST(test_config_top_level_rope_and_defaults) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  char *path = write_config(fixture_dir, "config.json",
                            "{\"model_type\": \"llama\", \"vocab_size\": 89, \"hidden_size\": 48,"
                            " \"intermediate_size\": 128, \"num_hidden_layers\": 3,"
                            " \"num_attention_heads\": 4, \"rope_theta\": 500000.0,"
                            " \"rope_scaling\": null, \"tie_word_embeddings\": true,"
                            " \"eos_token_id\": [2, 5], \"pad_token_id\": null}");
  llama_config cfg;
  lethe_err err = {0};
  ck_assert_msg(llama_config_read(&cfg, path, &err) == 0, "%s", err.msg);
  ck_assert_double_eq(cfg.rope_theta, 500000.0);
  ck_assert_int_eq(cfg.num_key_value_heads, 4);
  ck_assert_int_eq(cfg.head_dim, 12);
  ck_assert_int_eq(cfg.tie_word_embeddings, 1);
  ck_assert_double_eq(cfg.rms_norm_eps, 1e-6);
  ck_assert_int_eq(cfg.max_position_embeddings, 2048);
  ck_assert_double_eq(cfg.initializer_range, 0.02);
  ck_assert_int_eq(cfg.bos_token_id, -1);
  ck_assert_int_eq(cfg.eos_token_id, 2);
  ck_assert_int_eq(cfg.pad_token_id, -1);

  /* Written back and read again, every field survives; both rope forms are
   * present for transformers 4 and 5. */
  cfg.rms_norm_eps = 1e-5;
  char *out = lethe_path_join(fixture_dir, "written.json");
  ck_assert_int_eq(llama_config_write(&cfg, out, &err), 0);
  llama_config again;
  ck_assert_msg(llama_config_read(&again, out, &err) == 0, "%s", err.msg);
  ck_assert_mem_eq(&again, &cfg, sizeof cfg);
  char *text;
  ck_assert_int_eq(lethe_read_file(out, 1 << 16, &text, NULL, &err), 0);
  ck_assert_ptr_nonnull(strstr(text, "\"rope_theta\": 500000.0,"));
  ck_assert_ptr_nonnull(strstr(text, "\"rope_parameters\": {\"rope_theta\": 500000.0"));
  ck_assert_ptr_nonnull(strstr(text, "\"rms_norm_eps\": 1e-05,"));
  ck_assert_ptr_nonnull(strstr(text, "\"architectures\": [\"LlamaForCausalLM\"]"));
  ck_assert_ptr_nonnull(strstr(text, "\"torch_dtype\": \"float32\""));
  free(text);
  free(out);
  free(path);
  remove_fixture_dir(fixture_dir);
}
END_TEST

START_TEST(test_config_validate_in_code) {
  llama_config cfg;
  lethe_err err = {0};
  llama_config_defaults(&cfg);
  ck_assert_int_eq(llama_config_validate(&cfg, "built", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "built: vocab_size = 0"));
  cfg.vocab_size = 10, cfg.hidden_size = 8, cfg.intermediate_size = 16;
  cfg.num_hidden_layers = 1, cfg.num_attention_heads = 2, cfg.num_key_value_heads = 1;
  cfg.head_dim = 4;
  ck_assert_int_eq(llama_config_validate(&cfg, "built", &err), 0);
  cfg.pad_token_id = 10;
  ck_assert_int_eq(llama_config_validate(&cfg, "built", &err), -1);
  ck_assert_ptr_nonnull(strstr(err.msg, "pad_token_id = 10 is out of range"));
}
END_TEST

#define CFG_BASE "\"vocab_size\": 97, \"hidden_size\": 64, \"intermediate_size\": 160"

/* Reads body as config.json; must fail mentioning `want`. */
static void expect_config_error(const char *body, const char *want) {
  char fixture_dir[64];
  make_fixture_dir(fixture_dir);
  char *path = write_config(fixture_dir, "config.json", body);
  llama_config cfg;
  lethe_err err = {0};
  ck_assert_int_eq(llama_config_read(&cfg, path, &err), -1);
  ck_assert_msg(strstr(err.msg, want) != NULL, "expected '%s' in: %s", want, err.msg);
  ck_assert_ptr_nonnull(strstr(err.msg, "config.json"));
  free(path);
  remove_fixture_dir(fixture_dir);
}

START_TEST(test_config_missing_field) {
  expect_config_error("{" CFG_BASE ", \"num_attention_heads\": 4}",
                      "required field \"num_hidden_layers\" is missing");
}
END_TEST

START_TEST(test_config_wrong_type) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": \"2\", \"num_attention_heads\": 4}",
                      "field \"num_hidden_layers\" must be an integer");
}
END_TEST

START_TEST(test_config_wrong_type_bool) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                      " \"tie_word_embeddings\": 1}",
                      "field \"tie_word_embeddings\" must be true or false");
}
END_TEST

START_TEST(test_config_zero_heads) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": 2, \"num_attention_heads\": 0}",
                      "num_attention_heads = 0 is out of range");
}
END_TEST

START_TEST(test_config_heads_not_divisible) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                      " \"num_key_value_heads\": 3}",
                      "num_attention_heads (4) must be divisible by num_key_value_heads (3)");
}
END_TEST

START_TEST(test_config_absurd_layers) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": 1000000000,"
                      " \"num_attention_heads\": 4}",
                      "num_hidden_layers = 1000000000 is out of range (1..1024)");
}
END_TEST

START_TEST(test_config_unsupported_act) {
  expect_config_error("{" CFG_BASE ", \"num_hidden_layers\": 2, \"num_attention_heads\": 4,"
                      " \"hidden_act\": \"gelu\"}",
                      "hidden_act \"gelu\" is not supported");
}
END_TEST

#define CFG_SHAPE CFG_BASE ", \"num_hidden_layers\": 2, \"num_attention_heads\": 4, "

/* What a family cannot honour is refused naming the key. */
START_TEST(test_config_bias) {
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"phi\", \"qk_layernorm\": true}",
                      "qk_layernorm = true is not supported");
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"qwen2\", \"use_sliding_window\": true}",
                      "use_sliding_window = true is not supported");
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"phi\", \"hidden_act\": \"gelu\"}",
                      "hidden_act \"gelu\" is not supported (phi:");
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"phi\", \"head_dim\": 16}",
                      "phi has no head_dim key");
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"phi\", \"partial_rotary_factor\": 0.1}",
                      "rotary dims (1 = head_dim x partial_rotary_factor) must be even");
  expect_config_error("{" CFG_SHAPE "\"attention_bias\": 1}",
                      "field \"attention_bias\" must be true or false");
}
END_TEST

START_TEST(test_config_rope_scaling) {
  expect_config_error("{" CFG_SHAPE "\"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8.0}}",
                      "rope_scaling.rope_type \"llama3\" needs rope_scaling.low_freq_factor");
  expect_config_error("{" CFG_SHAPE "\"rope_parameters\": {\"rope_type\": \"yarn\", \"rope_theta\": 1e4}}",
                      "rope_parameters.rope_type \"yarn\" is not supported (supported: default, "
                      "linear, llama3)");
  expect_config_error("{" CFG_SHAPE "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}}",
                      "rope_scaling.type \"dynamic\" is not supported");
  expect_config_error("{" CFG_SHAPE "\"rope_scaling\": {\"type\": \"linear\", \"factor\": -2.0}}",
                      "rope factor = -2 must be > 0");
  expect_config_error("{" CFG_SHAPE "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, "
                      "\"rope_parameters\": {\"rope_type\": \"linear\", \"factor\": 4.0}}",
                      "rope_scaling and rope_parameters describe different rotary rules");
}
END_TEST

START_TEST(test_config_model_type) {
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"gemma\"}",
                      "model_type \"gemma\" is not supported (supported: llama, mistral, qwen2, "
                      "qwen3, phi)");
  expect_config_error("{" CFG_SHAPE "\"model_type\": \"mistral\", "
                      "\"architectures\": [\"LlamaForCausalLM\"]}",
                      "architectures[0] \"LlamaForCausalLM\" does not match model_type "
                      "\"mistral\" (expected \"MistralForCausalLM\")");
}
END_TEST

START_TEST(test_config_not_json) {
  expect_config_error("{\"vocab_size\": 97,", "not valid JSON");
}
END_TEST

Suite *safetensors_suite(void) {
  Suite *s = suite_create("model_io");
  TCase *ok = tcase_create("safetensors");
  tcase_add_test(ok, test_st_round_trip);
  tcase_add_test(ok, test_st_read_llama_tiny);
  tcase_add_test(ok, test_st_rewrite_matches_hf);
  tcase_add_test(ok, test_st_read_mha_tied);
  tcase_add_test(ok, test_st_half_and_double);
  suite_add_tcase(s, ok);

  TCase *bad = tcase_create("safetensors_malformed");
  tcase_add_test(bad, test_st_truncated);
  tcase_add_test(bad, test_st_missing_file);
  tcase_add_test(bad, test_st_header_past_end);
  tcase_add_test(bad, test_st_huge_header);
  tcase_add_test(bad, test_st_bad_json);
  tcase_add_test(bad, test_st_not_object);
  tcase_add_test(bad, test_st_entry_not_object);
  tcase_add_test(bad, test_st_unknown_dtype);
  tcase_add_test(bad, test_st_size_mismatch);
  tcase_add_test(bad, test_st_offsets_past_end);
  tcase_add_test(bad, test_st_begin_after_end);
  tcase_add_test(bad, test_st_overlap);
  tcase_add_test(bad, test_st_duplicate_name);
  tcase_add_test(bad, test_st_negative_dim);
  tcase_add_test(bad, test_st_too_many_dims);
  tcase_add_test(bad, test_st_numel_overflow);
  tcase_add_test(bad, test_st_bad_metadata);
  suite_add_tcase(s, bad);

  TCase *cfg = tcase_create("config");
  tcase_add_test(cfg, test_config_llama_tiny);
  tcase_add_test(cfg, test_config_mha_tied);
  tcase_add_test(cfg, test_config_top_level_rope_and_defaults);
  tcase_add_test(cfg, test_config_validate_in_code);
  tcase_add_test(cfg, test_config_missing_field);
  tcase_add_test(cfg, test_config_wrong_type);
  tcase_add_test(cfg, test_config_wrong_type_bool);
  tcase_add_test(cfg, test_config_zero_heads);
  tcase_add_test(cfg, test_config_heads_not_divisible);
  tcase_add_test(cfg, test_config_absurd_layers);
  tcase_add_test(cfg, test_config_unsupported_act);
  tcase_add_test(cfg, test_config_bias);
  tcase_add_test(cfg, test_config_rope_scaling);
  tcase_add_test(cfg, test_config_model_type);
  tcase_add_test(cfg, test_config_not_json);
  suite_add_tcase(s, cfg);
  return s;
}

int main(void) {
  SRunner *sr = srunner_create(safetensors_suite());
  srunner_run_all(sr, CK_ENV);
  int failed = srunner_ntests_failed(sr);
  srunner_free(sr);
  return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
