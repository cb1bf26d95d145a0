/* tensor — oneDNN 2.6 matmul behind strided views, with a primitive cache.
 * Written against the 2.x C API (op descriptors, by-value memory descs). */
#include "tensor/tensor.h"

#include <dnnl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"

#define CACHE_CAPACITY 512

typedef struct mm_key {
  tensor_view a, b, c;
  float alpha;
  int accumulate;
  int in_type; /* tensor_dtype of A and B */
} mm_key;

typedef struct mm_entry {
  mm_key key;
  uint64_t hash;
  long last_use;
  dnnl_primitive_t prim;
  dnnl_memory_t mem_a, mem_b, mem_c;
} mm_entry;

static struct {
  int ready;
  dnnl_engine_t engine;
  dnnl_stream_t stream;
  mm_entry *entries;
  int n_entries;
  long clock, hits, misses, slow;
  char last_impl[128];
} ctx;

static void check(dnnl_status_t st, const char *what) {
  if (st == dnnl_success) return;
  fprintf(stderr, "lethe: oneDNN call %s failed with status %d\n", what, (int)st);
  abort();
}

static void ensure_ready(void) {
  if (ctx.ready) return;
  check(dnnl_engine_create(&ctx.engine, dnnl_cpu, 0), "dnnl_engine_create");
  check(dnnl_stream_create(&ctx.stream, ctx.engine, dnnl_stream_default_flags),
        "dnnl_stream_create");
  ctx.entries = lethe_calloc(CACHE_CAPACITY, sizeof *ctx.entries);
  ctx.ready = 1;
}

tensor_view tensor_view2(int64_t rows, int64_t cols) {
  tensor_view v = {2, {rows, cols}, {cols, 1}};
  return v;
}

tensor_view tensor_transposed(tensor_view v) {
  int n = v.ndim;
  int64_t d = v.dims[n - 1], s = v.strides[n - 1];
  v.dims[n - 1] = v.dims[n - 2];
  v.strides[n - 1] = v.strides[n - 2];
  v.dims[n - 2] = d;
  v.strides[n - 2] = s;
  return v;
}

static uint64_t hash_key(const mm_key *k) {
  const unsigned char *p = (const unsigned char *)k;
  uint64_t h = 1469598103934665603ULL;
  for (size_t i = 0; i < sizeof *k; i++) h = (h ^ p[i]) * 1099511628211ULL;
  return h;
}

static dnnl_memory_desc_t make_md(tensor_view v, int type) {
  dnnl_memory_desc_t md;
  dnnl_dims_t dims, strides;
  for (int i = 0; i < v.ndim; i++) dims[i] = v.dims[i], strides[i] = v.strides[i];
  check(dnnl_memory_desc_init_by_strides(&md, v.ndim, dims,
                                         type == TENSOR_BF16 ? dnnl_bf16 : dnnl_f32, strides),
        "dnnl_memory_desc_init_by_strides");
  return md;
}

static void entry_destroy(mm_entry *e) {
  dnnl_memory_destroy(e->mem_a);
  dnnl_memory_destroy(e->mem_b);
  dnnl_memory_destroy(e->mem_c);
  dnnl_primitive_destroy(e->prim);
  memset(e, 0, sizeof *e);
}

static void entry_create(mm_entry *e, const mm_key *key, uint64_t hash) {
  dnnl_memory_desc_t a = make_md(key->a, key->in_type), b = make_md(key->b, key->in_type);
  dnnl_memory_desc_t c = make_md(key->c, TENSOR_F32);
  dnnl_matmul_desc_t op;
  check(dnnl_matmul_desc_init(&op, &a, &b, NULL, &c), "dnnl_matmul_desc_init");
  dnnl_primitive_attr_t attr;
  check(dnnl_primitive_attr_create(&attr), "dnnl_primitive_attr_create");
  if (key->alpha != 1.0f)
    check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &key->alpha),
          "dnnl_primitive_attr_set_output_scales");
  if (key->accumulate) {
    dnnl_post_ops_t po;
    check(dnnl_post_ops_create(&po), "dnnl_post_ops_create");
    check(dnnl_post_ops_append_sum(po, 1.0f), "dnnl_post_ops_append_sum");
    check(dnnl_primitive_attr_set_post_ops(attr, po), "dnnl_primitive_attr_set_post_ops");
    dnnl_post_ops_destroy(po);
  }
  dnnl_primitive_desc_t pd;
  check(dnnl_primitive_desc_create(&pd, &op, attr, ctx.engine, NULL), "matmul pd create");
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) == dnnl_success && impl) {
    snprintf(ctx.last_impl, sizeof ctx.last_impl, "%s", impl);
    if (!strncmp(impl, "ref", 3)) ctx.slow++;
  }
  e->key = *key;
  e->hash = hash;
  check(dnnl_primitive_create(&e->prim, pd), "dnnl_primitive_create");
  check(dnnl_memory_create(&e->mem_a, &a, ctx.engine, DNNL_MEMORY_NONE), "memory a");
  check(dnnl_memory_create(&e->mem_b, &b, ctx.engine, DNNL_MEMORY_NONE), "memory b");
  check(dnnl_memory_create(&e->mem_c, &c, ctx.engine, DNNL_MEMORY_NONE), "memory c");
  dnnl_primitive_desc_destroy(pd);
  dnnl_primitive_attr_destroy(attr);
}

static mm_entry *lookup(const mm_key *key) {
  uint64_t h = hash_key(key);
  ctx.clock++;
  for (int i = 0; i < ctx.n_entries; i++) {
    mm_entry *e = &ctx.entries[i];
    if (e->hash == h && !memcmp(&e->key, key, sizeof *key)) {
      e->last_use = ctx.clock;
      ctx.hits++;
      return e;
    }
  }
  ctx.misses++;
  mm_entry *slot;
  if (ctx.n_entries < CACHE_CAPACITY) {
    slot = &ctx.entries[ctx.n_entries++];
  } else { /* evict the least recently used primitive */
    slot = &ctx.entries[0];
    for (int i = 1; i < ctx.n_entries; i++)
      if (ctx.entries[i].last_use < slot->last_use) slot = &ctx.entries[i];
    entry_destroy(slot);
  }
  entry_create(slot, key, h);
  slot->last_use = ctx.clock;
  return slot;
}

void tensor_matmul(float *c, tensor_view cv, const float *a, tensor_view av, const float *b,
                   tensor_view bv, float alpha, int accumulate) {
  tensor_matmul_typed(c, cv, a, av, b, bv, TENSOR_F32, alpha, accumulate);
}

void tensor_matmul_typed(float *c, tensor_view cv, const void *a, tensor_view av, const void *b,
                         tensor_view bv, tensor_dtype in, float alpha, int accumulate) {
  ensure_ready();
  mm_key key;
  memset(&key, 0, sizeof key); /* padding bytes take part in hashing */
  key.a = av;
  key.b = bv;
  key.c = cv;
  key.alpha = alpha;
  key.accumulate = accumulate != 0;
  key.in_type = in;
  mm_entry *e = lookup(&key);
  check(dnnl_memory_set_data_handle(e->mem_a, (void *)a), "set handle a");
  check(dnnl_memory_set_data_handle(e->mem_b, (void *)b), "set handle b");
  check(dnnl_memory_set_data_handle(e->mem_c, c), "set handle c");
  dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, e->mem_a}, {DNNL_ARG_WEIGHTS, e->mem_b}, {DNNL_ARG_DST, e->mem_c}};
  check(dnnl_primitive_execute(e->prim, ctx.stream, 3, args), "dnnl_primitive_execute");
  check(dnnl_stream_wait(ctx.stream), "dnnl_stream_wait");
}

void tensor_linear_forward_typed(float *y, const void *x, const void *w, tensor_dtype in,
                                 int64_t m, int64_t k, int64_t n, int accumulate) {
  tensor_matmul_typed(y, tensor_view2(m, n), x, tensor_view2(m, k), w,
                      tensor_transposed(tensor_view2(n, k)), in, 1.0f, accumulate);
}

void tensor_linear_backward_data_typed(float *dx, const void *dy, const void *w, tensor_dtype in,
                                       int64_t m, int64_t k, int64_t n, int accumulate) {
  tensor_matmul_typed(dx, tensor_view2(m, k), dy, tensor_view2(m, n), w, tensor_view2(n, k), in,
                      1.0f, accumulate);
}

void tensor_linear_backward_weights_typed(float *dw, const void *dy, const void *x,
                                          tensor_dtype in, int64_t m, int64_t k, int64_t n) {
  tensor_matmul_typed(dw, tensor_view2(n, k), dy, tensor_transposed(tensor_view2(m, n)), x,
                      tensor_view2(m, k), in, 1.0f, 1);
}

void tensor_linear_forward(float *y, const float *x, const float *w, int64_t m, int64_t k,
                           int64_t n, int accumulate) {
  tensor_linear_forward_typed(y, x, w, TENSOR_F32, m, k, n, accumulate);
}

void tensor_linear_backward_data(float *dx, const float *dy, const float *w, int64_t m,
                                 int64_t k, int64_t n, int accumulate) {
  tensor_linear_backward_data_typed(dx, dy, w, TENSOR_F32, m, k, n, accumulate);
}

void tensor_linear_backward_weights(float *dw, const float *dy, const float *x, int64_t m,
                                    int64_t k, int64_t n) {
  tensor_linear_backward_weights_typed(dw, dy, x, TENSOR_F32, m, k, n);
}

/* Conversions run in fixed chunks on the OpenMP threads; the loops are plain
 * integer arithmetic, which the compiler vectorises. */
#define CONVERT_CHUNK 16384

TENSOR_VECTOR_CLONES
static void to_bf16_chunk(uint16_t *dst, const float *src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) dst[i] = tensor_bf16_round(src[i]);
}

void tensor_to_bf16(uint16_t *dst, const float *src, int64_t n) {
  int64_t chunks = (n + CONVERT_CHUNK - 1) / CONVERT_CHUNK;
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    int64_t at = k * CONVERT_CHUNK, len = n - at < CONVERT_CHUNK ? n - at : CONVERT_CHUNK;
    to_bf16_chunk(dst + at, src + at, len);
  }
}

tensor_cache_stats tensor_cache_stats_get(void) {
  tensor_cache_stats s = {ctx.hits, ctx.misses, ctx.n_entries, ctx.slow};
  return s;
}

const char *tensor_last_impl(void) { return ctx.last_impl; }
