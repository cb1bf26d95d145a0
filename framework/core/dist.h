/* dist — the group of processes one `lethe` job runs on: this process's rank,
 * the group's size, and the few collective operations data parallelism needs
 * (barrier, broadcast, sums, gathers of contiguous shares).
 *
 * Built against MPI (LETHE_MPI, when CMake finds it) and launched by mpirun or
 * srun, the group is MPI_COMM_WORLD (MPI_Init_thread with FUNNELED: OpenMP
 * threads never call MPI). Otherwise — built without MPI, or started without
 * a launcher — the group is this one process and every function is the
 * trivial single-process version (a sum over one rank is the input, a gather
 * has nothing to fetch). Collectives must be called by every rank in the same
 * order, and the same sizes: a rank's own failure (a file it cannot read, a
 * non-finite loss) must not make it skip a collective the others enter, so a
 * function that communicates agrees on its status (dist_status) before its
 * next collective and returns the same status on every rank. A rank that
 * fails alone may only leave: main then ends the job (dist_fail). A failed
 * MPI call ends the whole job (MPI's default error handler): a rank cannot
 * recover from a collective the others never finish.
 * Not here: what is sharded (train/objective.h, evaluate/), files.
 */
#ifndef LETHE_DIST_H
#define LETHE_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/core.h"

/* Joins the group when launched by an MPI launcher (call once, first thing
 * in main). Fails when a launcher started several processes but lethe was
 * built without MPI: each would run the whole job and write the same files. */
int dist_init(int *argc, char ***argv, lethe_err *err);
/* Leaves the group (after a barrier). No collective may follow. */
void dist_finalize(void);
/* Ends the whole job with `code` after an error on this rank (the other
 * ranks may be waiting in a collective that will never complete). Returns
 * without doing anything when the group is one process. */
void dist_fail(int code);

int dist_rank(void);       /* 0 .. size-1 */
int dist_size(void);       /* processes in the group (1 without MPI) */
int dist_local_size(void); /* processes of the group on this machine */
int dist_is_root(void);    /* rank 0: the one that writes files */

/* Waits for every rank. Idle ranks sleep rather than spin, so a rank that
 * waits for another one's file writes or child processes leaves the cores
 * to them. */
void dist_barrier(void);
/* Copies `bytes` bytes of buf from rank `root` into every rank's buf. */
void dist_bcast(void *buf, size_t bytes, int root);
/* Element-wise sum over ranks, in place; every rank gets the same result. */
void dist_allreduce_sum_f32(float *buf, size_t n);
void dist_allreduce_sum_f64(double *buf, size_t n);
/* 1 when every rank holds the same `bytes` bytes at buf (compares hashes). */
int dist_agree(const void *buf, size_t bytes);
/* Agrees on a status: each rank passes its own (0 = success) and every rank
 * gets 0 when all succeeded, else -1 with *err (when err is non-NULL) set to
 * the error of the lowest-numbered rank that failed. */
int dist_status(int rc, lethe_err *err);

/* Shares of n items (rows of a batch, evaluation batches): rank r owns the
 * contiguous items [*first, *first + *count), in rank order; the n % size
 * ranks starting at rank (turn % size) own one item more than the others.
 * turn = 0 gives the usual balanced split; a caller that splits many small
 * lists advances turn by n % size each time to spread the remainders. */
void dist_share(long n, long turn, long *first, long *count);
/* Gathers shares in place: on entry each rank has filled the items of its
 * own share (dist_share(n, turn)) of buf, an array of n items of item_bytes
 * bytes; on return every rank holds all n items. */
void dist_allgather_shares(void *buf, size_t item_bytes, long n, long turn);

#endif
