/* suite_watch — what a suite's running children do, shown to a person while
 * the suite waits for them (used by suite_pool.c and suite_exec.c only).
 *
 * Each child writes a progress record (core/progress.h) to the file the
 * watch names for it, runs/<run>/progress.<task>; the watch reads them and
 * keeps one status line: the stage tasks done while there are some left,
 * the runs done and an ETA (the running ones take as long as those finished
 * so far did on average, the waiting ones that long each, spread over the
 * slots), then per child its stage, step/total, epoch and ETA:
 *   stages 2/4, runs 0/8 | fine-tune on full 12/43 epoch 3/10 ETA 00:25 | evaluating ...
 * On a terminal the line is rewritten in place and ends with a newline when
 * the suite is over; otherwise it is printed when a child's stage changes and
 * every 20 s. A watch that does not show (--quiet, or a rank other than 0)
 * names no record files and waits for children as before.
 * Not here: starting and reaping the children (suite_pool.c).
 */
#ifndef LETHE_SUITE_WATCH_H
#define LETHE_SUITE_WATCH_H

#include <sys/types.h>

#include "core/progress.h"

typedef struct suite_watch {
  progress_line line;
  int show;
  int done, total;        /* runs (failed ones count as done) */
  int stages_done, stages_total; /* tasks preparing shared stages */
  int done_before;        /* done when the watch started: no time known for them */
  double t_start, t_read;
  double seconds_finished; /* wall time of the tasks finished meanwhile, summed */
  char **records;         /* per slot: the record file of its child; NULL = idle */
  double *t_begin;        /* per slot: when its child started; 0 = idle */
  int slots;
} suite_watch;

/* A watch over `slots` children at a time; done of total runs are done. */
void suite_watch_start(suite_watch *w, int done, int total, int slots, int show);
/* The child about to start in `slot` writes its record to `record` (taken
 * over; a stale file is removed). Returns the path to give the child as
 * $LETHE_PROGRESS_FILE, or NULL when the watch does not show. */
const char *suite_watch_begin(suite_watch *w, int slot, char *record);
/* The children also prepare `total` tasks of shared stages: the header
 * counts them apart ("stages 2/4, runs 3/21") until they are done, and the
 * ETA counts runs only. */
void suite_watch_stages(suite_watch *w, int total);
/* The child in `slot` ended (stage: one preparing stages): the line shows
 * its record a last time (so a stage shorter than a read interval is seen
 * too), then one more stage task or run is done and the record is removed. */
void suite_watch_end(suite_watch *w, int slot, int stage);
/* Waits for any child like waitpid(-1, status, 0); meanwhile reads the
 * records and shows the line (twice a second). */
pid_t suite_watch_wait(suite_watch *w, int *status);
/* Prints msg on a line of its own (quiet or not: the caller decides). */
void suite_watch_note(suite_watch *w, const char *msg);
/* Ends the line: "stages 4/4 and runs 21/21 finished in 08:09" (or "runs
 * 21/21 finished in ..." without stage tasks) when anything ran; removes
 * the records left (children stopped by an error) and frees. */
void suite_watch_finish(suite_watch *w);

#endif
