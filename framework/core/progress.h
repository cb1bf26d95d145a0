/* progress — a progress bar on a terminal (step/total, loss, tokens/s, ETA),
 * plain periodic lines when stderr is not a terminal, nothing when quiet. */
#ifndef LETHE_PROGRESS_H
#define LETHE_PROGRESS_H

typedef struct lethe_progress {
  char label[64];
  long total;
  int quiet, tty;
  double t_start, t_last_line;
  long last_line_step, first_step;
  double tokens;
} lethe_progress;

void progress_start(lethe_progress *p, const char *label, long total, long first_step, int quiet);
/* Reports that `step` (1-based count of finished steps) is done. */
void progress_update(lethe_progress *p, long step, double loss, double step_tokens);
/* Prints a message line without breaking the bar. */
void progress_note(lethe_progress *p, const char *msg);
void progress_finish(lethe_progress *p, long step, double loss);

#endif
