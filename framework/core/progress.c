/* progress — bar, records and status line (see progress.h). */
#include "core/progress.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "core/dist.h"

void progress_time(char *buf, size_t n, double s) {
  if (s < 0 || s > 1e7) snprintf(buf, n, "--:--");
  else if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
  else snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

/* ---- terminal ----------------------------------------------------------------- */
static int terminal_width(void) {
  struct winsize ws;
  return ioctl(2, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

/* Replaces the terminal's current line with text, cut to the width. */
static void draw(const char *text) {
  fprintf(stderr, "\r%.*s\033[K", terminal_width() - 1, text);
  fflush(stderr);
}

/* ---- records ------------------------------------------------------------------ */
static const char *record_path(void) {
  const char *path = getenv(PROGRESS_FILE_ENV);
  return path && *path && dist_is_root() ? path : NULL;
}

int progress_record_write(const char *path, const progress_record *r, lethe_err *err) {
  char text[256];
  int n = snprintf(text, sizeof text, "label %s\nstep %ld\ntotal %ld\nepoch %d\nepochs %d\neta %.1f\n",
                   r->label, r->step, r->total, r->epoch, r->epochs, r->eta);
  return lethe_write_file_replace(path, text, (size_t)n, err);
}

int progress_record_read(const char *path, progress_record *r) {
  char *text;
  size_t len;
  memset(r, 0, sizeof *r);
  r->eta = -1;
  if (lethe_read_file(path, 4096, &text, &len, NULL) != 0) return -1;
  int have_label = 0;
  for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
    char *value = strchr(line, ' ');
    if (!value) continue;
    *value++ = '\0';
    if (!strcmp(line, "label")) have_label = 1, snprintf(r->label, sizeof r->label, "%s", value);
    else if (!strcmp(line, "step")) r->step = strtol(value, NULL, 10);
    else if (!strcmp(line, "total")) r->total = strtol(value, NULL, 10);
    else if (!strcmp(line, "epoch")) r->epoch = (int)strtol(value, NULL, 10);
    else if (!strcmp(line, "epochs")) r->epochs = (int)strtol(value, NULL, 10);
    else if (!strcmp(line, "eta")) r->eta = strtod(value, NULL);
  }
  free(text);
  return have_label ? 0 : -1;
}

void progress_record_format(const progress_record *r, char *buf, size_t n) {
  if (r->total <= 0) {
    snprintf(buf, n, "%s", r->label);
    return;
  }
  char epoch[48] = "", eta[32];
  if (r->epochs > 0) snprintf(epoch, sizeof epoch, " epoch %d/%d", r->epoch, r->epochs);
  progress_time(eta, sizeof eta, r->eta);
  snprintf(buf, n, "%s %ld/%ld%s ETA %s", r->label, r->step, r->total, epoch, eta);
}

void progress_phase(const char *label) {
  const char *path = record_path();
  if (!path) return;
  progress_record r = {.eta = -1};
  snprintf(r.label, sizeof r.label, "%s", label);
  progress_record_write(path, &r, NULL); /* a courtesy: a failed write must not stop the work */
}

/* The epoch `step` is in, of how many; 0 and 0 when p->epochs is unknown. */
static void epoch_of(const lethe_progress *p, long step, int *epoch, int *epochs) {
  *epoch = *epochs = 0;
  if (p->epochs <= 0 || p->total <= 0) return;
  *epochs = (int)ceil(p->epochs - 1e-9);
  int e = (int)ceil((double)step * p->epochs / (double)p->total - 1e-9);
  *epoch = e < 1 ? 1 : e > *epochs ? *epochs : e;
}

/* Writes the bar's record: always when forced, else at most once a second. */
static void record_step(lethe_progress *p, long step, double eta, int force) {
  double now = lethe_now();
  if (!p->record || (!force && now - p->t_record < 1.0)) return;
  p->t_record = now;
  progress_record r = {.step = step, .total = p->total, .eta = eta};
  snprintf(r.label, sizeof r.label, "%s", p->label);
  epoch_of(p, step, &r.epoch, &r.epochs);
  progress_record_write(p->record, &r, NULL); /* a courtesy, as in progress_phase */
}

/* ---- bar ---------------------------------------------------------------------- */
void progress_start(lethe_progress *p, const char *label, long total, long first_step, double epochs,
                    int quiet) {
  memset(p, 0, sizeof *p);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total;
  p->epochs = epochs;
  p->quiet = quiet;
  p->tty = !quiet && isatty(2);
  p->t_start = p->t_last_line = lethe_now();
  p->last_line_step = p->first_step = first_step;
  p->record = record_path();
  record_step(p, first_step, -1, 1);
}

void progress_update(lethe_progress *p, long step, double loss, double step_tokens) {
  p->tokens += step_tokens;
  double now = lethe_now(), el = now - p->t_start;
  double tps = el > 0 ? p->tokens / el : 0;
  long todo = p->total - step;
  double per_step = step > p->first_step ? el / (double)(step - p->first_step) : 0;
  record_step(p, step, per_step * (double)todo, step == p->total);
  if (p->quiet) return;
  char eta[32];
  progress_time(eta, sizeof eta, per_step * (double)todo);
  if (p->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * step / p->total) : width;
    char bar[32], text[256];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    snprintf(text, sizeof text, "%s [%s] %ld/%ld loss %.4f %.0f tok/s ETA %s", p->label, bar, step,
             p->total, loss, tps, eta);
    draw(text);
    return;
  }
  long every = p->total / 10 > 1 ? p->total / 10 : 1;
  if (step - p->last_line_step >= every || now - p->t_last_line >= 30.0 || step == p->total) {
    fprintf(stderr, "%s: step %ld/%ld loss %.4f %.0f tok/s ETA %s\n", p->label, step, p->total,
            loss, tps, eta);
    p->last_line_step = step;
    p->t_last_line = now;
  }
}

void progress_note(lethe_progress *p, const char *msg) {
  if (p->quiet) return;
  fprintf(stderr, p->tty ? "\r\033[K%s\n" : "%s\n", msg);
}

void progress_finish(lethe_progress *p, long step, double loss) {
  record_step(p, step, 0, 1);
  if (p->quiet) return;
  char el[32];
  progress_time(el, sizeof el, lethe_now() - p->t_start);
  fprintf(stderr, "%s%s: done, %ld steps in %s, final loss %.4f\n", p->tty ? "\r\033[K" : "",
          p->label, step, el, loss);
}

/* ---- status line -------------------------------------------------------------- */
void progress_line_start(progress_line *l, int quiet, double every) {
  memset(l, 0, sizeof *l);
  l->quiet = quiet;
  l->tty = !quiet && isatty(2);
  l->every = every;
  l->t_last = -1e30;
}

void progress_line_show(progress_line *l, const char *text, const char *key) {
  if (l->quiet) return;
  if (l->tty) {
    draw(text);
    l->drawn = 1;
    return;
  }
  char k[sizeof l->key];
  snprintf(k, sizeof k, "%s", key);
  double now = lethe_now();
  if (!strcmp(k, l->key) && now - l->t_last < l->every) return;
  fprintf(stderr, "%s\n", text);
  memcpy(l->key, k, sizeof k);
  l->t_last = now;
}

void progress_line_note(progress_line *l, const char *msg) {
  fprintf(stderr, l->drawn ? "\r\033[K%s\n" : "%s\n", msg);
  l->drawn = 0;
}

void progress_line_finish(progress_line *l, const char *text) {
  if (l->quiet) return;
  if (l->tty) {
    draw(text);
    fputc('\n', stderr);
  } else {
    fprintf(stderr, "%s\n", text);
  }
  l->drawn = 0;
}
