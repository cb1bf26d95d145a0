/* tensor — the matmul behind strided views: oneDNN 2.6 (with a primitive
 * cache) or lethe's own GEMM, as the probe of tensor_backend_get decides.
 * Written against oneDNN's 2.x C API (op descriptors, by-value memory
 * descs). */
#include "tensor/tensor.h"

#include <dnnl.h>
#include <dnnl_debug.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "tensor/tensor_isa.h"

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
  int have_backend;
  tensor_backend backend;
} ctx;

static void check(dnnl_status_t st, const char *what) {
  if (st == dnnl_success) return;
  fprintf(stderr, "lethe: oneDNN call %s failed: %s (oneDNN ISA %s)\n", what, dnnl_status2str(st),
          dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
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

/* A view as a cache key holds: ndim, then the used dims and strides; the
 * caller zeroed *dst. Copying the whole struct would carry the source's
 * padding and unused entries — stack garbage — into the hash. */
static void key_view(tensor_view *dst, tensor_view v) {
  dst->ndim = v.ndim;
  for (int i = 0; i < v.ndim; i++) dst->dims[i] = v.dims[i], dst->strides[i] = v.strides[i];
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

/* "A bf16 (8×64, strides 64,1) · B bf16 (64×32, strides 1,64) → C f32 (8×32)" */
static void describe_key(const mm_key *k, char *buf, size_t size) {
  const tensor_view *v[3] = {&k->a, &k->b, &k->c};
  const char *names[3] = {"A", " · B", " → C"};
  size_t at = 0;
  for (int t = 0; t < 3 && at < size; t++) {
    at += (size_t)snprintf(buf + at, size - at, "%s %s (", names[t],
                           t < 2 && k->in_type == TENSOR_BF16 ? "bf16" : "f32");
    for (int i = 0; i < v[t]->ndim && at < size; i++)
      at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "×" : "", (long long)v[t]->dims[i]);
    for (int i = 0; i < v[t]->ndim && at < size; i++)
      at += (size_t)snprintf(buf + at, size - at, "%s%lld", i ? "," : ", strides ",
                             (long long)v[t]->strides[i]);
    if (at < size) at += (size_t)snprintf(buf + at, size - at, ")");
  }
}

/* The primitive descriptor of one product, or a oneDNN status. */
static dnnl_status_t matmul_pd(const mm_key *key, dnnl_primitive_desc_t *pd) {
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
  dnnl_status_t st = dnnl_primitive_desc_create(pd, &op, attr, ctx.engine, NULL);
  dnnl_primitive_attr_destroy(attr);
  return st;
}

static const char *impl_of(dnnl_primitive_desc_t pd) {
  const char *impl = NULL;
  if (dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl) != dnnl_success || !impl)
    return "?";
  return impl;
}

/* A product oneDNN cannot do here is a bug of the caller (bf16 is checked up
 * front, tensor_backend_get) or of oneDNN: say what, where, and stop. */
static void matmul_unavailable(const mm_key *key, dnnl_status_t st) {
  char what[512];
  describe_key(key, what, sizeof what);
  fprintf(stderr, "lethe: oneDNN cannot create the matmul %s: %s; oneDNN's ISA here is %s%s\n", what,
          dnnl_status2str(st), dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()),
          key->in_type == TENSOR_BF16 ? " (bf16 matmuls need AVX512_BF16 or AMX: use compute = "
                                        "\"auto\" or \"f32\")"
                                      : "");
  abort();
}

static void entry_create(mm_entry *e, const mm_key *key, uint64_t hash) {
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = matmul_pd(key, &pd);
  if (st != dnnl_success) matmul_unavailable(key, st);
  const char *impl = impl_of(pd);
  snprintf(ctx.last_impl, sizeof ctx.last_impl, "%s", impl);
  if (!strncmp(impl, "ref", 3)) ctx.slow++;
  e->key = *key;
  e->hash = hash;
  check(dnnl_primitive_create(&e->prim, pd), "dnnl_primitive_create (matmul)");
  dnnl_memory_desc_t a = make_md(key->a, key->in_type), b = make_md(key->b, key->in_type);
  dnnl_memory_desc_t c = make_md(key->c, TENSOR_F32);
  check(dnnl_memory_create(&e->mem_a, &a, ctx.engine, DNNL_MEMORY_NONE), "dnnl_memory_create A");
  check(dnnl_memory_create(&e->mem_b, &b, ctx.engine, DNNL_MEMORY_NONE), "dnnl_memory_create B");
  check(dnnl_memory_create(&e->mem_c, &c, ctx.engine, DNNL_MEMORY_NONE), "dnnl_memory_create C");
  dnnl_primitive_desc_destroy(pd);
}

/* ---- which backend ------------------------------------------------------------ */
/* oneDNN's implementation of a 64×64×64 product of type `in` into name, or
 * why there is none; returns 1 when it is a native (not reference) kernel. */
static int probe(tensor_dtype in, char *name, size_t size) {
  mm_key key;
  memset(&key, 0, sizeof key);
  key.a = key.b = key.c = tensor_view2(64, 64);
  key.alpha = 1.0f;
  key.in_type = in;
  dnnl_primitive_desc_t pd;
  dnnl_status_t st = matmul_pd(&key, &pd);
  if (st != dnnl_success) {
    snprintf(name, size, "none (%s)", dnnl_status2str(st));
    return 0;
  }
  snprintf(name, size, "%s", impl_of(pd));
  dnnl_primitive_desc_destroy(pd);
  return strncmp(name, "ref", 3) != 0;
}

const tensor_backend *tensor_backend_get(void) {
  if (ctx.have_backend) return &ctx.backend;
  ensure_ready();
  tensor_backend *b = &ctx.backend;
  snprintf(b->onednn_isa, sizeof b->onednn_isa, "%s", dnnl_cpu_isa2str(dnnl_get_effective_cpu_isa()));
  int f32_native = probe(TENSOR_F32, b->f32_impl, sizeof b->f32_impl);
  int bf16_native = probe(TENSOR_BF16, b->bf16_impl, sizeof b->bf16_impl);
  int avx512 = tensor_isa_level() >= TENSOR_ISA_AVX512;
  b->f32_onednn = avx512 && f32_native && !strncmp(b->f32_impl, "brg", 3);
  const char *force = getenv("LETHE_MATMUL");
  if (force && !strcmp(force, "onednn")) b->f32_onednn = 1;
  if (force && !strcmp(force, "lethe")) b->f32_onednn = 0;
  b->bf16 = avx512 && bf16_native && (strstr(b->bf16_impl, "bf16") || strstr(b->bf16_impl, "amx"));
  ctx.have_backend = 1;
  return b;
}

void tensor_backend_describe(char *buf, size_t size) {
  const tensor_backend *b = tensor_backend_get();
  const char *level = tensor_isa_name(tensor_isa_level());
  char f32[128], bf16[192];
  if (b->f32_onednn) snprintf(f32, sizeof f32, "oneDNN %s", b->f32_impl);
  else snprintf(f32, sizeof f32, "lethe gemm %s", level);
  if (b->bf16) snprintf(bf16, sizeof bf16, "oneDNN %s", b->bf16_impl);
  else if (tensor_isa_level() < TENSOR_ISA_AVX512)
    snprintf(bf16, sizeof bf16, "not available (needs AVX512_BF16; level %s)", level);
  else snprintf(bf16, sizeof bf16, "not available (oneDNN %s: %s)", b->onednn_isa, b->bf16_impl);
  snprintf(buf, size, "CPU %s%s; lethe kernels %s; f32 matmul: %s; bf16 matmul: %s",
           tensor_isa_name(tensor_isa_cpu()), tensor_isa_cpu_bf16() ? "+bf16" : "", level, f32, bf16);
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

/* The view's two batch dimensions (outer, inner) and their strides. */
static void batch_dims(tensor_view v, int64_t *outer, int64_t *inner, int64_t strides[2]) {
  *outer = *inner = 1;
  strides[0] = strides[1] = 0;
  if (v.ndim == 3) *outer = v.dims[0], strides[0] = v.strides[0];
  if (v.ndim == 4) {
    *outer = v.dims[0], *inner = v.dims[1];
    strides[0] = v.strides[0], strides[1] = v.strides[1];
  }
}

static void lethe_gemm(float *c, tensor_view cv, const float *a, tensor_view av, const float *b,
                       tensor_view bv, float alpha, int accumulate) {
  int n = cv.ndim;
  int64_t outer, inner;
  tensor_gemm_args g = {c, a, b, cv.dims[n - 2], cv.dims[n - 1], av.dims[n - 1], 0, 0,
                        av.strides[n - 2], av.strides[n - 1], bv.strides[n - 2], bv.strides[n - 1],
                        cv.strides[n - 2], cv.strides[n - 1], {0, 0}, {0, 0}, {0, 0}, alpha,
                        accumulate != 0};
  batch_dims(av, &outer, &inner, g.sa_b);
  batch_dims(bv, &outer, &inner, g.sb_b);
  batch_dims(cv, &outer, &inner, g.sc_b);
  g.batch = outer * inner;
  g.batch_inner = inner;
  tensor_isa level = tensor_isa_level();
  if (level >= TENSOR_ISA_AVX512) tensor_gemm_avx512(&g); /* 12 × 32 tiles of zmm */
  else if (level == TENSOR_ISA_AVX2) tensor_gemm_avx2(&g);
  else tensor_gemm_baseline(&g);
}

void tensor_matmul_typed(float *c, tensor_view cv, const void *a, tensor_view av, const void *b,
                         tensor_view bv, tensor_dtype in, float alpha, int accumulate) {
  const tensor_backend *be = tensor_backend_get();
  if (in == TENSOR_F32 && !be->f32_onednn) {
    lethe_gemm(c, cv, a, av, b, bv, alpha, accumulate);
    return;
  }
  mm_key key;
  memset(&key, 0, sizeof key); /* padding bytes take part in hashing */
  key_view(&key.a, av);
  key_view(&key.b, bv);
  key_view(&key.c, cv);
  key.alpha = alpha;
  key.accumulate = accumulate != 0;
  key.in_type = in;
  if (in == TENSOR_BF16 && !be->bf16) matmul_unavailable(&key, dnnl_unimplemented);
  mm_entry *e = lookup(&key);
  check(dnnl_memory_set_data_handle(e->mem_a, (void *)a), "dnnl_memory_set_data_handle A");
  check(dnnl_memory_set_data_handle(e->mem_b, (void *)b), "dnnl_memory_set_data_handle B");
  check(dnnl_memory_set_data_handle(e->mem_c, c), "dnnl_memory_set_data_handle C");
  dnnl_exec_arg_t args[3] = {
      {DNNL_ARG_SRC, e->mem_a}, {DNNL_ARG_WEIGHTS, e->mem_b}, {DNNL_ARG_DST, e->mem_c}};
  check(dnnl_primitive_execute(e->prim, ctx.stream, 3, args), "dnnl_primitive_execute (matmul)");
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

/* Conversions run in fixed chunks on the OpenMP threads. */
#define CONVERT_CHUNK 16384

void tensor_to_bf16(uint16_t *dst, const float *src, int64_t n) {
  int64_t chunks = (n + CONVERT_CHUNK - 1) / CONVERT_CHUNK;
  tensor_isa level = tensor_isa_level();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < chunks; k++) {
    int64_t at = k * CONVERT_CHUNK, len = n - at < CONVERT_CHUNK ? n - at : CONVERT_CHUNK;
    if (level >= TENSOR_ISA_AVX512) tensor_bf16_chunk_avx512(dst + at, src + at, len);
    else if (level == TENSOR_ISA_AVX2) tensor_bf16_chunk_avx2(dst + at, src + at, len);
    else tensor_bf16_chunk_baseline(dst + at, src + at, len);
  }
}

tensor_cache_stats tensor_cache_stats_get(void) {
  tensor_cache_stats s = {ctx.hits, ctx.misses, ctx.n_entries, ctx.slow};
  return s;
}

const char *tensor_last_impl(void) { return ctx.last_impl; }
