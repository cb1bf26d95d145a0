/* svg — small plotting primitives that write inline SVG for the report:
 * a panel with linear or log10 axes (decade ticks), lines with gaps at NaN,
 * shaded bands, markers with hover tooltips, error bars, reference lines.
 *
 * Everything is written to a FILE* as it is called; nothing is kept. Values
 * outside the axis range are clamped to the plot area's edge, and a value
 * <= 0 on a log axis sits on the bottom edge. Not here: what to plot (the
 * figures are in report_plots.c and synthetic_report.c).
 */
#ifndef LETHE_SVG_H
#define LETHE_SVG_H

#include <stddef.h>
#include <stdio.h>

typedef struct svg_axis {
  double lo, hi;     /* the range shown; on a log axis both > 0 */
  int log;           /* 1: log10 scale, ticks at decades */
  const char *label; /* axis title (borrowed) */
} svg_axis;

/* Fits an axis to data in [lo, hi] (NaN-free; lo <= hi). Linear axes get a
 * "nice" range (steps of 1, 2 or 5 × 10^k), from 0 when zero_based and
 * lo >= 0; log axes get whole decades. `cap` > 0 limits the upper end
 * (e.g. 1 for probabilities): on a linear axis when the data stays below
 * it, on a log axis always. */
void svg_axis_fit(svg_axis *a, double lo, double hi, int log, int zero_based, double cap);

typedef struct svg_plot {
  FILE *out;
  double width, height;            /* the picture (viewBox units) */
  double left, top, right, bottom; /* the plot area's edges */
  svg_axis x, y;
} svg_plot;

/* Opens <svg> of width × height with a title line, a frame, grid lines,
 * ticks and axis titles; the caller then draws and calls svg_close. The
 * picture scales to its container's width (viewBox, width 100%). */
void svg_open(svg_plot *p, FILE *out, double width, double height, const char *title,
              const svg_axis *x, const svg_axis *y);
void svg_close(svg_plot *p);

/* Data → picture coordinates (clamped to the plot area). */
double svg_x(const svg_plot *p, double x);
double svg_y(const svg_plot *p, double y);

/* A polyline through the points whose x and y are finite; a non-finite
 * value breaks the line. dash: NULL (solid) or an SVG dasharray ("6 4"). */
void svg_line(const svg_plot *p, const double *x, const double *y, size_t n, const char *colour,
              double width, const char *dash);
/* A filled band between lo[i] and hi[i] (a gap wherever one is not finite). */
void svg_band(const svg_plot *p, const double *x, const double *lo, const double *hi, size_t n,
              const char *colour, double opacity);
/* A line across the whole plot at y (or x), with an optional label at its
 * right end (at its left end with label_left; a vline's label is at its top). */
void svg_hline(const svg_plot *p, double y, const char *colour, const char *dash, const char *label,
               int label_left);
void svg_vline(const svg_plot *p, double x, const char *colour, const char *dash,
               const char *label);

enum { SVG_CIRCLE, SVG_SQUARE, SVG_DIAMOND, SVG_TRIANGLE, SVG_STAR, SVG_CROSS };
/* A marker of `size` (radius-like, in picture units) at (x, y); filled or a
 * ring; tooltip (may be NULL) shows on hover. Skipped when x or y is not finite. */
void svg_marker(const svg_plot *p, double x, double y, int shape, double size, const char *colour,
                int filled, const char *tooltip);
/* Error bars from lo to hi at a point (skipped when lo or hi is not finite). */
void svg_errbar_y(const svg_plot *p, double x, double lo, double hi, const char *colour);
void svg_errbar_x(const svg_plot *p, double y, double lo, double hi, const char *colour);
/* Text at data coordinates, offset by (dx, dy) picture units. */
void svg_label(const svg_plot *p, double x, double y, double dx, double dy, const char *colour,
               const char *text);
/* A centred grey note over the plot area (e.g. "no data"). */
void svg_note(const svg_plot *p, const char *text);
/* A legend in the plot area's top right corner: a line of colours[i] and
 * labels[i] per entry, on a white box. */
void svg_legend(const svg_plot *p, const char *const *labels, const char *const *colours,
                size_t n);

/* Writes s with &, <, >, " and ' escaped (for SVG and HTML text and attributes). */
void svg_escape(FILE *out, const char *s);

/* Mixes a "#rrggbb" colour towards white (amount > 0) or black (amount < 0),
 * |amount| <= 1, into buf (8 bytes). */
void svg_shade(const char *colour, double amount, char buf[8]);
/* Variant `variant` of `variants` of a colour: dark to light shades (the
 * colour itself when there is one variant). */
void svg_variant_colour(const char *base, int variant, int variants, char out[8]);
/* Colour i of a fixed cycle, for a method that brings no colour of its own. */
const char *svg_palette(int i);

#endif
