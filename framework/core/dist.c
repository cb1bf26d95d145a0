/* dist — the process group over MPI, or one process (see dist.h).
 *
 * The public functions are written once over a handful of transport
 * primitives (net_*), defined with MPI when LETHE_MPI is set and as empty
 * stubs otherwise; the stubs are never reached, because without MPI the group
 * is one process and every public function returns before communicating.
 * MPI takes int counts, so large buffers travel in chunks of at most 1 GiB. */
#include "core/dist.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef LETHE_MPI
#include <mpi.h>
#endif

#define DIST_CHUNK ((size_t)1 << 30)

/* The only global state of lethe: which group this process belongs to. */
static struct {
  int active; /* MPI initialised by dist_init */
  int rank, size, local_size;
} group = {0, 0, 1, 1};

static int multi(void) { return group.active && group.size > 1; }

/* ---- transport ------------------------------------------------------------ */
#ifdef LETHE_MPI
static void net_init(int *argc, char ***argv) {
  int provided;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &group.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &group.size);
  MPI_Comm node;
  MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node);
  MPI_Comm_size(node, &group.local_size);
  MPI_Comm_free(&node);
  group.active = 1;
}
static void net_finalize(void) { MPI_Finalize(); }
static void net_abort(int code) { MPI_Abort(MPI_COMM_WORLD, code); }
static int net_barrier_begin(void **req) {
  *req = malloc(sizeof(MPI_Request));
  return MPI_Ibarrier(MPI_COMM_WORLD, *req);
}
static int net_barrier_done(void *req) {
  int done = 0;
  MPI_Test(req, &done, MPI_STATUS_IGNORE);
  if (done) free(req);
  return done;
}
static void net_bcast(void *buf, int bytes, int root) {
  MPI_Bcast(buf, bytes, MPI_BYTE, root, MPI_COMM_WORLD);
}
static void net_sum_f32(float *buf, int n) {
  MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
}
static void net_sum_f64(double *buf, int n) {
  MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
}
static void net_min_u64(uint64_t *buf, int n) {
  MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
}
static void net_allgatherv(void *buf, const int *counts, const int *displs) {
  MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, buf, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
}
#else
static void net_init(int *argc, char ***argv) { (void)argc, (void)argv; }
static void net_finalize(void) {}
static void net_abort(int code) { (void)code; }
static int net_barrier_begin(void **req) { return *req = NULL, 0; }
static int net_barrier_done(void *req) { return (void)req, 1; }
static void net_bcast(void *buf, int bytes, int root) { (void)buf, (void)bytes, (void)root; }
static void net_sum_f32(float *buf, int n) { (void)buf, (void)n; }
static void net_sum_f64(double *buf, int n) { (void)buf, (void)n; }
static void net_min_u64(uint64_t *buf, int n) { (void)buf, (void)n; }
static void net_allgatherv(void *buf, const int *counts, const int *displs) {
  (void)buf, (void)counts, (void)displs;
}
#endif

/* ---- the group -------------------------------------------------------------- */
/* A launcher's process count from its environment (0 = not launched by one):
 * Open MPI's mpirun and PMI (srun, MPICH) give the size; PMIx (srun
 * --mpi=pmix) only the rank, and a rank above 0 means there are several. */
static long launcher_size(void) {
  static const char *const size_vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", NULL};
  static const char *const rank_vars[] = {"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"};
  long size = 0;
  for (int i = 0; i < 3; i++) {
    const char *s = size_vars[i] ? getenv(size_vars[i]) : NULL, *r = getenv(rank_vars[i]);
    if (s && atol(s) > size) size = atol(s);
    if (r && size < 1) size = 1;
    if (r && atol(r) > 0 && size < 2) size = 2;
  }
  return size;
}

int dist_init(int *argc, char ***argv, lethe_err *err) {
  long launched = launcher_size();
  if (launched == 0) return 0;
#ifndef LETHE_MPI
  if (launched > 1)
    return lethe_errf(err, LETHE_E_USAGE,
                      "started as one of %ld processes of an MPI launcher, but this lethe was built "
                      "without MPI (install libopenmpi-dev and rebuild, or run one process)",
                      launched);
  return 0; /* a launcher with one process: single-process anyway */
#endif
  (void)err;
  net_init(argc, argv);
  return 0;
}

void dist_finalize(void) {
  if (!group.active) return;
  dist_barrier();
  net_finalize();
  group.active = 0;
}

void dist_fail(int code) {
  if (multi()) net_abort(code ? code : 1);
}

int dist_rank(void) { return group.rank; }
int dist_size(void) { return group.size; }
int dist_local_size(void) { return group.local_size; }
int dist_is_root(void) { return group.rank == 0; }

void dist_barrier(void) {
  if (!multi()) return;
  void *req;
  net_barrier_begin(&req);
  /* answer fast when everyone is already there, then poll gently */
  for (long polls = 0; !net_barrier_done(req); polls++)
    if (polls > 1000) nanosleep(&(struct timespec){0, 200000}, NULL);
}

void dist_bcast(void *buf, size_t bytes, int root) {
  if (!multi()) return;
  for (size_t at = 0; at < bytes; at += DIST_CHUNK)
    net_bcast((char *)buf + at, (int)(bytes - at < DIST_CHUNK ? bytes - at : DIST_CHUNK), root);
}

void dist_allreduce_sum_f32(float *buf, size_t n) {
  if (!multi()) return;
  size_t chunk = DIST_CHUNK / sizeof(float);
  for (size_t at = 0; at < n; at += chunk) net_sum_f32(buf + at, (int)(n - at < chunk ? n - at : chunk));
}

void dist_allreduce_sum_f64(double *buf, size_t n) {
  if (!multi()) return;
  size_t chunk = DIST_CHUNK / sizeof(double);
  for (size_t at = 0; at < n; at += chunk) net_sum_f64(buf + at, (int)(n - at < chunk ? n - at : chunk));
}

/* FNV-1a over 8-byte words (then the tail bytes). */
static uint64_t hash_bytes(const void *buf, size_t bytes) {
  const unsigned char *p = buf;
  uint64_t h = 1469598103934665603ull, w;
  size_t i = 0;
  for (; i + 8 <= bytes; i += 8) {
    memcpy(&w, p + i, 8);
    h = (h ^ w) * 1099511628211ull;
  }
  for (; i < bytes; i++) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

int dist_agree(const void *buf, size_t bytes) {
  if (!multi()) return 1;
  uint64_t h = hash_bytes(buf, bytes), v[2] = {h, ~h};
  net_min_u64(v, 2); /* v = {min h, ~max h} */
  return v[0] == ~v[1];
}

int dist_status(int rc, lethe_err *err) {
  if (!multi()) return rc != 0 ? -1 : 0;
  uint64_t failed = rc != 0 ? (uint64_t)group.rank : UINT64_MAX;
  net_min_u64(&failed, 1);
  if (failed == UINT64_MAX) return 0;
  lethe_err first = {0};
  if (rc != 0 && err) first = *err;
  dist_bcast(&first, sizeof first, (int)failed);
  if (!first.code) lethe_errf(&first, LETHE_E_IO, "rank %d failed without a message", (int)failed);
  if (err) *err = first;
  return -1;
}

/* ---- shares -------------------------------------------------------------------- */
static void share_of(long n, long turn, int rank, long *first, long *count) {
  int size = group.size;
  long base = n / size, extra = n % size, start = ((turn % size) + size) % size;
  *first = 0;
  for (int r = 0; r < rank; r++) *first += base + ((r - start + size) % size < extra);
  *count = base + ((rank - start + size) % size < extra);
}

void dist_share(long n, long turn, long *first, long *count) {
  if (!multi()) {
    *first = 0, *count = n;
    return;
  }
  share_of(n, turn, group.rank, first, count);
}

void dist_allgather_shares(void *buf, size_t item_bytes, long n, long turn) {
  if (!multi()) return;
  int size = group.size;
  long first, count;
  if ((size_t)n * item_bytes <= (size_t)INT_MAX) {
    int *counts = malloc(sizeof(int) * 2 * (size_t)size), *displs = counts + size;
    if (!counts) abort();
    for (int r = 0; r < size; r++) {
      share_of(n, turn, r, &first, &count);
      counts[r] = (int)((size_t)count * item_bytes);
      displs[r] = (int)((size_t)first * item_bytes);
    }
    net_allgatherv(buf, counts, displs);
    free(counts);
    return;
  }
  for (int r = 0; r < size; r++) { /* too large for int displacements */
    share_of(n, turn, r, &first, &count);
    dist_bcast((char *)buf + (size_t)first * item_bytes, (size_t)count * item_bytes, r);
  }
}
