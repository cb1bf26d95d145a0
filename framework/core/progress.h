/* progress — how far a long computation is, for a person and for the
 * process that started it.
 *
 * A bar (lethe_progress): on a terminal one line rewritten in place
 * (step/total, loss, tokens/s, ETA), plain periodic lines when stderr is not
 * a terminal, nothing when quiet.
 *
 * A record (progress_record): when $LETHE_PROGRESS_FILE names a file (lethe
 * suite sets it for the processes it starts), the bar and progress_phase
 * keep there what this process does: label, step/total, epoch, ETA. Quiet or
 * not; replaced whole (rename) at the start, at most once a second while
 * steps run, and at the end. Unset (a command run by hand): nothing is
 * written. Under MPI only rank 0 writes it.
 *
 * A status line (progress_line): for a process that watches others; on a
 * terminal one line rewritten in place and cut to its width, otherwise plain
 * lines when what is being done changes and every so often.
 * Not here: which records a watcher reads (suite/suite_watch.c).
 */
#ifndef LETHE_PROGRESS_H
#define LETHE_PROGRESS_H

#include <stddef.h>

#include "core/core.h"

#define PROGRESS_FILE_ENV "LETHE_PROGRESS_FILE"

typedef struct lethe_progress {
  char label[64];
  long total;
  double epochs; /* passes over the data in total steps; 0 = unknown */
  int quiet, tty;
  double t_start, t_last_line, t_record;
  long last_line_step, first_step;
  double tokens;
  const char *record; /* $LETHE_PROGRESS_FILE, or NULL */
} lethe_progress;

void progress_start(lethe_progress *p, const char *label, long total, long first_step, double epochs,
                    int quiet);
/* Reports that `step` (1-based count of finished steps) is done. */
void progress_update(lethe_progress *p, long step, double loss, double step_tokens);
/* Prints a message line without breaking the bar. */
void progress_note(lethe_progress *p, const char *msg);
void progress_finish(lethe_progress *p, long step, double loss);

/* ---- records ---------------------------------------------------------------
 * File format: one "key value" line each for label, step, total, epoch,
 * epochs and eta, e.g. "label fine-tune on full\nstep 12\ntotal 43\n...". */
typedef struct progress_record {
  char label[64];    /* "fine-tune on full", "evaluating the retain model" */
  long step, total;  /* total 0: a phase without steps */
  int epoch, epochs; /* 0: unknown */
  double eta;        /* seconds left; < 0: unknown */
} progress_record;

int progress_record_write(const char *path, const progress_record *r, lethe_err *err);
/* 0 with *r filled; -1 when path is missing or holds no record. */
int progress_record_read(const char *path, progress_record *r);
/* "fine-tune on full 12/43 epoch 1/3 ETA 00:25"; a phase without steps is
 * its label alone. */
void progress_record_format(const progress_record *r, char *buf, size_t n);
/* Records a phase without steps (e.g. "waiting for fine-tune on full") when
 * $LETHE_PROGRESS_FILE is set; nothing otherwise. */
void progress_phase(const char *label);
/* Seconds as "mm:ss" or "h:mm:ss"; "--:--" when negative or huge. */
void progress_time(char *buf, size_t n, double seconds);

/* ---- status line ---------------------------------------------------------- */
typedef struct progress_line {
  int quiet, tty, drawn; /* drawn: a status line is on the terminal */
  double every;          /* plain lines: seconds between lines that say the same */
  double t_last;         /* when the last plain line was printed */
  char key[256];         /* what the last plain line said was being done */
} progress_line;

void progress_line_start(progress_line *l, int quiet, double every);
/* Shows text. On a terminal it replaces the line; otherwise it is printed
 * when key (what is being done, e.g. the labels) differs from the last
 * printed line's, or `every` seconds after it. */
void progress_line_show(progress_line *l, const char *text, const char *key);
/* Prints msg on a line of its own, quiet or not (the caller decides); the
 * next show draws the status line again. */
void progress_line_note(progress_line *l, const char *msg);
/* Leaves text as the last line (ends it with a newline on a terminal). */
void progress_line_finish(progress_line *l, const char *text);

#endif
