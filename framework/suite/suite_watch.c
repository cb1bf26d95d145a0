/* suite_watch — the children's progress records on one line (see suite_watch.h). */
#include "suite/suite_watch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WATCH_PLAIN_EVERY 20.0 /* seconds between plain lines that say the same */
#define WATCH_READ_EVERY 0.5   /* seconds between reads of the records */

void suite_watch_start(suite_watch *w, int done, int total, int slots, int show) {
  memset(w, 0, sizeof *w);
  progress_line_start(&w->line, !show, WATCH_PLAIN_EVERY);
  w->show = show;
  w->done = w->done_before = done;
  w->total = total;
  w->t_start = lethe_now();
  w->t_read = -1e30;
  w->slots = slots;
  w->records = lethe_calloc((size_t)slots, sizeof *w->records);
  w->t_begin = lethe_calloc((size_t)slots, sizeof *w->t_begin);
}

const char *suite_watch_begin(suite_watch *w, int slot, char *record) {
  w->t_begin[slot] = lethe_now();
  if (!w->show) {
    free(record);
    return NULL;
  }
  unlink(record); /* a killed suite's: not this child's */
  free(w->records[slot]);
  w->records[slot] = record;
  return record;
}

/* Seconds until the runs end if every task takes the average of those
 * finished meanwhile (at least one): the longest of the running ones' rest,
 * or all the work left spread over the slots, whichever is longer. */
static double runs_eta(const suite_watch *w) {
  double per_task = w->seconds_finished / (w->done - w->done_before), now = lethe_now();
  double longest = 0, work = 0;
  int waiting = w->total - w->done;
  for (int j = 0; j < w->slots; j++) {
    if (w->t_begin[j] == 0) continue;
    double rest = per_task - (now - w->t_begin[j]);
    rest = rest > 0 ? rest : 0;
    longest = rest > longest ? rest : longest;
    work += rest;
    waiting--;
  }
  work += per_task * (waiting > 0 ? waiting : 0);
  return work / w->slots > longest ? work / w->slots : longest;
}

void suite_watch_stages(suite_watch *w, int total) { w->stages_total = total; }

/* "runs 5/21 ETA 03:10" (an ETA once a run finished here), after
 * "stages 2/4, " while shared stages are still prepared. */
static void header(const suite_watch *w, char *buf, size_t n) {
  char eta[32];
  size_t at = 0;
  if (w->stages_done < w->stages_total) {
    snprintf(buf, n, "stages %d/%d, ", w->stages_done, w->stages_total);
    at = strlen(buf);
  }
  if (w->done == w->done_before || w->done >= w->total) {
    snprintf(buf + at, n - at, "runs %d/%d", w->done, w->total);
    return;
  }
  progress_time(eta, sizeof eta, runs_eta(w));
  snprintf(buf + at, n - at, "runs %d/%d ETA %s", w->done, w->total, eta);
}

/* Reads the records and shows the line; key: the children's labels. */
static void show_line(suite_watch *w) {
  char text[2048], key[512] = "", part[160];
  header(w, text, sizeof text);
  for (int j = 0; j < w->slots; j++) {
    progress_record r;
    if (!w->records[j] || progress_record_read(w->records[j], &r) != 0) continue;
    progress_record_format(&r, part, sizeof part);
    size_t used = strlen(text), kused = strlen(key);
    snprintf(text + used, sizeof text - used, " | %s", part);
    snprintf(key + kused, sizeof key - kused, "%s|", r.label);
  }
  if (*key || w->line.tty) /* plain lines only say what children do */
    progress_line_show(&w->line, text, key);
}

void suite_watch_end(suite_watch *w, int slot, int stage) {
  if (w->records[slot]) show_line(w); /* the child's last stage, however short */
  if (stage) {
    w->stages_done++;
  } else {
    w->done++;
    w->seconds_finished += lethe_now() - w->t_begin[slot];
  }
  w->t_begin[slot] = 0;
  if (!w->records[slot]) return;
  unlink(w->records[slot]);
  free(w->records[slot]);
  w->records[slot] = NULL;
}

pid_t suite_watch_wait(suite_watch *w, int *status) {
  if (!w->show) return waitpid(-1, status, 0);
  for (;;) {
    pid_t pid = waitpid(-1, status, WNOHANG);
    if (pid != 0) return pid;
    double now = lethe_now();
    if (now - w->t_read >= WATCH_READ_EVERY) {
      w->t_read = now;
      show_line(w);
    }
    struct timespec pause = {0, 100 * 1000 * 1000}; /* a finished child waits at most 0.1 s */
    nanosleep(&pause, NULL);
  }
}

void suite_watch_note(suite_watch *w, const char *msg) { progress_line_note(&w->line, msg); }

void suite_watch_finish(suite_watch *w) {
  if (w->done > w->done_before || w->stages_done > 0) {
    char text[160], took[32], stages[48] = "";
    progress_time(took, sizeof took, lethe_now() - w->t_start);
    if (w->stages_total > 0)
      snprintf(stages, sizeof stages, "stages %d/%d and ", w->stages_done, w->stages_total);
    snprintf(text, sizeof text, "%sruns %d/%d finished in %s", stages, w->done, w->total, took);
    progress_line_finish(&w->line, text);
  }
  for (int j = 0; j < w->slots; j++) {
    if (w->records[j]) unlink(w->records[j]); /* children stopped by an error */
    free(w->records[j]);
  }
  free(w->records);
  free(w->t_begin);
  memset(w, 0, sizeof *w);
}
