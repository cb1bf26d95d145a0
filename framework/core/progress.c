/* progress — terminal bar or periodic lines (see progress.h). */
#include "core/progress.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

void progress_start(lethe_progress *p, const char *label, long total, long first_step, int quiet) {
  memset(p, 0, sizeof *p);
  snprintf(p->label, sizeof p->label, "%s", label);
  p->total = total;
  p->quiet = quiet;
  p->tty = !quiet && isatty(2);
  p->t_start = p->t_last_line = lethe_now();
  p->last_line_step = p->first_step = first_step;
}

static void fmt_time(char *buf, size_t n, double s) {
  if (s < 0 || s > 1e7) snprintf(buf, n, "--:--");
  else if (s >= 3600) snprintf(buf, n, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
  else snprintf(buf, n, "%02d:%02d", (int)s / 60, (int)s % 60);
}

void progress_update(lethe_progress *p, long step, double loss, double step_tokens) {
  if (p->quiet) return;
  p->tokens += step_tokens;
  double now = lethe_now(), el = now - p->t_start;
  double tps = el > 0 ? p->tokens / el : 0;
  long todo = p->total - step;
  double per_step = step > p->first_step ? el / (double)(step - p->first_step) : 0;
  char eta[32];
  fmt_time(eta, sizeof eta, per_step * (double)todo);
  if (p->tty) {
    int width = 24, fill = p->total > 0 ? (int)(width * step / p->total) : width;
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = '\0';
    fprintf(stderr, "\r%s [%s] %ld/%ld loss %.4f %.0f tok/s ETA %s ", p->label, bar, step,
            p->total, loss, tps, eta);
    fflush(stderr);
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
  if (p->quiet) return;
  char el[32];
  fmt_time(el, sizeof el, lethe_now() - p->t_start);
  fprintf(stderr, "%s%s: done, %ld steps in %s, final loss %.4f\n", p->tty ? "\r\033[K" : "",
          p->label, step, el, loss);
}
