/* svg — plotting primitives for the report (see svg.h). */
#include "report/svg.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FONT "font-family=\"system-ui,-apple-system,'Segoe UI',Roboto,sans-serif\""

/* ---- axes ---------------------------------------------------------------- */

/* The "nice" step (1, 2 or 5 × 10^k) that cuts `span` into about `parts`. */
static double nice_step(double span, int parts) {
  double raw = span / parts;
  double mag = pow(10.0, floor(log10(raw)));
  double f = raw / mag;
  double nice = f <= 1.0 ? 1.0 : f <= 2.0 ? 2.0 : f <= 5.0 ? 5.0 : 10.0;
  return nice * mag;
}

void svg_axis_fit(svg_axis *a, double lo, double hi, int log, int zero_based, double cap) {
  a->log = log;
  if (log) {
    if (!(lo > 0)) lo = hi > 0 ? hi * 1e-3 : 1e-3;
    if (!(hi > 0)) hi = 1.0;
    double dlo = floor(log10(lo)), dhi = ceil(log10(hi));
    if (cap > 0 && dhi > ceil(log10(cap))) dhi = ceil(log10(cap));
    if (dhi <= dlo) dlo = dhi - 1;
    a->lo = pow(10.0, dlo);
    a->hi = pow(10.0, dhi);
    return;
  }
  if (zero_based && lo >= 0) lo = 0;
  if (hi - lo <= 0) {
    double pad = fabs(hi) > 0 ? fabs(hi) * 0.1 : 1.0;
    lo = zero_based && lo >= 0 ? lo : lo - pad;
    hi += pad;
  }
  double step = nice_step(hi - lo, 5);
  a->lo = floor(lo / step + 1e-9) * step;
  a->hi = ceil(hi / step - 1e-9) * step;
  if (cap > 0 && hi <= cap && a->hi > cap) a->hi = cap;
}

static double frac(const svg_axis *a, double v) {
  double t;
  if (a->log) {
    if (!(v > 0)) return 0.0;
    t = (log10(v) - log10(a->lo)) / (log10(a->hi) - log10(a->lo));
  } else {
    t = (v - a->lo) / (a->hi - a->lo);
  }
  return t < 0 ? 0 : t > 1 ? 1 : t;
}

/* Data sit INSET units inside the frame, so markers on an axis end show whole. */
#define INSET 7.0

double svg_x(const svg_plot *p, double x) {
  return p->left + INSET + frac(&p->x, x) * (p->right - p->left - 2 * INSET);
}
double svg_y(const svg_plot *p, double y) {
  return p->bottom - INSET - frac(&p->y, y) * (p->bottom - p->top - 2 * INSET);
}

/* A tick label: plain decimals on linear axes, 10^k on log axes. */
static void tick_label(FILE *out, const svg_axis *a, double v, double step) {
  if (a->log) {
    int k = (int)lround(log10(v));
    if (k == 0)
      fprintf(out, "1");
    else if (k == 1)
      fprintf(out, "10");
    else
      fprintf(out, "10<tspan dy=\"-5\" font-size=\"9\">%d</tspan>", k);
    return;
  }
  int decimals = step >= 1 ? 0 : (int)ceil(-log10(step) - 1e-9);
  if (decimals > 6) decimals = 6;
  double r = fabs(v) < step * 1e-6 ? 0.0 : v;
  fprintf(out, "%.*f", decimals, r);
}

/* Tick positions of an axis: decades (every k-th when there are many) or
 * nice linear steps. Returns the count written to t (at most cap). */
static int ticks(const svg_axis *a, double *t, int cap, double *step_out) {
  int n = 0;
  if (a->log) {
    int d0 = (int)lround(log10(a->lo)), d1 = (int)lround(log10(a->hi));
    int every = (d1 - d0 + 5) / 6;
    if (every < 1) every = 1;
    /* decades at multiples of `every` (1, 10^-5, 10^-10 ...) */
    int top = d1 >= 0 ? d1 / every * every : -((-d1 + every - 1) / every * every);
    for (int d = top; d >= d0 && n < cap; d -= every) t[n++] = pow(10.0, d);
    *step_out = every;
    return n;
  }
  double step = nice_step(a->hi - a->lo, 5);
  for (double v = ceil(a->lo / step - 1e-9) * step; v <= a->hi + step * 1e-6 && n < cap; v += step)
    t[n++] = v;
  *step_out = step;
  return n;
}

/* Minor ticks at 2..9 × 10^k on a log axis spanning few decades. */
static void minor_log_ticks(const svg_plot *p, const svg_axis *a, int vertical) {
  int d0 = (int)lround(log10(a->lo)), d1 = (int)lround(log10(a->hi));
  if (d1 - d0 > 6) return;
  fprintf(p->out, "<g stroke=\"#999\" stroke-width=\"0.8\">");
  for (int d = d0; d < d1; d++)
    for (int m = 2; m <= 9; m++) {
      double v = m * pow(10.0, d);
      if (vertical) {
        double y = svg_y(p, v);
        fprintf(p->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p->left - 3, y,
                p->left, y);
      } else {
        double x = svg_x(p, v);
        fprintf(p->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", x, p->bottom, x,
                p->bottom + 3);
      }
    }
  fprintf(p->out, "</g>\n");
}

void svg_open(svg_plot *p, FILE *out, double width, double height, const char *title,
              const svg_axis *x, const svg_axis *y) {
  p->out = out;
  p->width = width;
  p->height = height;
  p->left = 64;
  p->right = width - 14;
  p->top = 30;
  p->bottom = height - 42;
  p->x = *x;
  p->y = *y;
  fprintf(out,
          "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 %.0f %.0f\" width=\"100%%\" "
          "role=\"img\" " FONT " font-size=\"12\">\n<title>",
          width, height);
  svg_escape(out, title);
  fprintf(out, "</title>\n<rect width=\"%.0f\" height=\"%.0f\" fill=\"#fff\"/>\n", width, height);
  fprintf(out, "<text x=\"%.1f\" y=\"18\" font-weight=\"600\" font-size=\"13\">", p->left);
  svg_escape(out, title);
  fprintf(out, "</text>\n");

  double t[64], step;
  int n = ticks(&p->y, t, 64, &step);
  fprintf(out, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">");
  for (int i = 0; i < n; i++)
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", p->left, svg_y(p, t[i]),
            p->right, svg_y(p, t[i]));
  fprintf(out, "</g>\n<g text-anchor=\"end\" fill=\"#333\">");
  for (int i = 0; i < n; i++) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", p->left - 6, svg_y(p, t[i]) + 4);
    tick_label(out, &p->y, t[i], step);
    fprintf(out, "</text>");
  }
  fprintf(out, "</g>\n");
  if (p->y.log) minor_log_ticks(p, &p->y, 1);

  n = ticks(&p->x, t, 64, &step);
  fprintf(out, "<g stroke=\"#e6e6e6\" stroke-width=\"1\">");
  for (int i = 0; i < n; i++)
    fprintf(out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>", svg_x(p, t[i]), p->top,
            svg_x(p, t[i]), p->bottom);
  fprintf(out, "</g>\n<g text-anchor=\"middle\" fill=\"#333\">");
  for (int i = 0; i < n; i++) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\">", svg_x(p, t[i]), p->bottom + 16);
    tick_label(out, &p->x, t[i], step);
    fprintf(out, "</text>");
  }
  fprintf(out, "</g>\n");
  if (p->x.log) minor_log_ticks(p, &p->x, 0);

  fprintf(out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"none\" "
          "stroke=\"#555\" stroke-width=\"1\"/>\n",
          p->left, p->top, p->right - p->left, p->bottom - p->top);
  if (p->x.label) {
    fprintf(out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#222\">",
            (p->left + p->right) / 2, height - 8);
    svg_escape(out, p->x.label);
    fprintf(out, "</text>\n");
  }
  if (p->y.label) {
    double cy = (p->top + p->bottom) / 2;
    fprintf(out,
            "<text transform=\"translate(14 %.1f) rotate(-90)\" text-anchor=\"middle\" "
            "fill=\"#222\">",
            cy);
    svg_escape(out, p->y.label);
    fprintf(out, "</text>\n");
  }
}

void svg_close(svg_plot *p) { fprintf(p->out, "</svg>\n"); }

/* ---- marks ---------------------------------------------------------------- */

static void dash_attr(FILE *out, const char *dash) {
  if (dash) fprintf(out, " stroke-dasharray=\"%s\"", dash);
}

void svg_line(const svg_plot *p, const double *x, const double *y, size_t n, const char *colour,
              double width, const char *dash) {
  size_t i = 0;
  while (i < n) {
    while (i < n && !(isfinite(x[i]) && isfinite(y[i]))) i++;
    size_t start = i;
    while (i < n && isfinite(x[i]) && isfinite(y[i])) i++;
    if (i - start < 2) continue;
    fprintf(p->out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%.1f\"", colour, width);
    fprintf(p->out, " stroke-linejoin=\"round\"");
    dash_attr(p->out, dash);
    fprintf(p->out, " points=\"");
    for (size_t k = start; k < i; k++)
      fprintf(p->out, "%s%.1f,%.1f", k > start ? " " : "", svg_x(p, x[k]), svg_y(p, y[k]));
    fprintf(p->out, "\"/>\n");
  }
}

void svg_band(const svg_plot *p, const double *x, const double *lo, const double *hi, size_t n,
              const char *colour, double opacity) {
  size_t i = 0;
  while (i < n) {
    while (i < n && !(isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i]))) i++;
    size_t start = i;
    while (i < n && isfinite(x[i]) && isfinite(lo[i]) && isfinite(hi[i])) i++;
    if (i - start < 2) continue;
    fprintf(p->out, "<polygon fill=\"%s\" fill-opacity=\"%.2f\" stroke=\"none\" points=\"", colour,
            opacity);
    for (size_t k = start; k < i; k++)
      fprintf(p->out, "%.1f,%.1f ", svg_x(p, x[k]), svg_y(p, hi[k]));
    for (size_t k = i; k-- > start;)
      fprintf(p->out, "%.1f,%.1f%s", svg_x(p, x[k]), svg_y(p, lo[k]), k > start ? " " : "");
    fprintf(p->out, "\"/>\n");
  }
}

void svg_hline(const svg_plot *p, double y, const char *colour, const char *dash, const char *label,
               int label_left) {
  if (!isfinite(y)) return;
  double py = svg_y(p, y);
  fprintf(p->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"", p->left,
          py, p->right, py, colour);
  fprintf(p->out, " stroke-width=\"1.3\"");
  dash_attr(p->out, dash);
  fprintf(p->out, "/>\n");
  if (label) {
    double ty = py - 4 < p->top + 10 ? py + 12 : py - 4;
    fprintf(p->out,
            "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\" font-size=\"10.5\">",
            label_left ? p->left + 4 : p->right - 4, ty, label_left ? "start" : "end", colour);
    svg_escape(p->out, label);
    fprintf(p->out, "</text>\n");
  }
}

void svg_vline(const svg_plot *p, double x, const char *colour, const char *dash,
               const char *label) {
  if (!isfinite(x)) return;
  double px = svg_x(p, x);
  fprintf(p->out, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\"", px, p->top,
          px, p->bottom, colour);
  fprintf(p->out, " stroke-width=\"1.3\"");
  dash_attr(p->out, dash);
  fprintf(p->out, "/>\n");
  if (label) {
    fprintf(p->out,
            "<text transform=\"translate(%.1f %.1f) rotate(-90)\" text-anchor=\"end\" "
            "fill=\"%s\" font-size=\"10.5\">",
            px - 4, p->top + 4, colour);
    svg_escape(p->out, label);
    fprintf(p->out, "</text>\n");
  }
}

void svg_marker(const svg_plot *p, double x, double y, int shape, double size, const char *colour,
                int filled, const char *tooltip) {
  if (!isfinite(x) || !isfinite(y)) return;
  double cx = svg_x(p, x), cy = svg_y(p, y), s = size;
  FILE *o = p->out;
  fprintf(o, "<g fill=\"%s\" stroke=\"%s\" stroke-width=\"1.6\">", filled ? colour : "#fff",
          colour);
  if (tooltip) {
    fprintf(o, "<title>");
    svg_escape(o, tooltip);
    fprintf(o, "</title>");
  }
  switch (shape) {
    case SVG_SQUARE:
      fprintf(o, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\"/>", cx - s * 0.85,
              cy - s * 0.85, s * 1.7, s * 1.7);
      break;
    case SVG_DIAMOND:
      fprintf(o, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>", cx, cy - s * 1.25,
              cx + s * 1.25, cy, cx, cy + s * 1.25, cx - s * 1.25, cy);
      break;
    case SVG_TRIANGLE:
      fprintf(o, "<polygon points=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f\"/>", cx, cy - s * 1.2,
              cx + s * 1.1, cy + s * 0.8, cx - s * 1.1, cy + s * 0.8);
      break;
    case SVG_STAR: {
      fprintf(o, "<polygon points=\"");
      for (int k = 0; k < 10; k++) {
        double r = (k % 2 ? 0.5 : 1.35) * s, a = -M_PI / 2 + k * M_PI / 5;
        fprintf(o, "%s%.1f,%.1f", k ? " " : "", cx + r * cos(a), cy + r * sin(a));
      }
      fprintf(o, "\"/>");
      break;
    }
    case SVG_CROSS:
      fprintf(o,
              "<path fill=\"none\" stroke-width=\"2.4\" d=\"M%.1f %.1fL%.1f %.1fM%.1f %.1fL%.1f "
              "%.1f\"/>",
              cx - s, cy - s, cx + s, cy + s, cx - s, cy + s, cx + s, cy - s);
      break;
    default:
      fprintf(o, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%.1f\"/>", cx, cy, s);
  }
  fprintf(o, "</g>\n");
}

void svg_errbar_y(const svg_plot *p, double x, double lo, double hi, const char *colour) {
  if (!isfinite(x) || !isfinite(lo) || !isfinite(hi)) return;
  double px = svg_x(p, x), y0 = svg_y(p, lo), y1 = svg_y(p, hi);
  fprintf(p->out,
          "<path stroke=\"%s\" stroke-width=\"1.2\" fill=\"none\" d=\"M%.1f %.1fV%.1fM%.1f "
          "%.1fH%.1fM%.1f %.1fH%.1f\"/>\n",
          colour, px, y0, y1, px - 3, y0, px + 3, px - 3, y1, px + 3);
}

void svg_errbar_x(const svg_plot *p, double y, double lo, double hi, const char *colour) {
  if (!isfinite(y) || !isfinite(lo) || !isfinite(hi)) return;
  double py = svg_y(p, y), x0 = svg_x(p, lo), x1 = svg_x(p, hi);
  fprintf(p->out,
          "<path stroke=\"%s\" stroke-width=\"1.2\" fill=\"none\" d=\"M%.1f %.1fH%.1fM%.1f "
          "%.1fV%.1fM%.1f %.1fV%.1f\"/>\n",
          colour, x0, py, x1, x0, py - 3, py + 3, x1, py - 3, py + 3);
}

void svg_label(const svg_plot *p, double x, double y, double dx, double dy, const char *colour,
               const char *text) {
  if (!isfinite(x) || !isfinite(y)) return;
  double px = svg_x(p, x) + dx;
  const char *anchor = "start";
  if (px > p->right - 40) {
    anchor = "end";
    px = svg_x(p, x) - dx;
  }
  fprintf(p->out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"%s\" fill=\"%s\" font-size=\"10.5\">",
          px, svg_y(p, y) + dy, anchor, colour);
  svg_escape(p->out, text);
  fprintf(p->out, "</text>\n");
}

void svg_note(const svg_plot *p, const char *text) {
  fprintf(p->out, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\" fill=\"#888\">",
          (p->left + p->right) / 2, (p->top + p->bottom) / 2);
  svg_escape(p->out, text);
  fprintf(p->out, "</text>\n");
}

void svg_legend(const svg_plot *p, const char *const *labels, const char *const *colours,
                size_t n) {
  if (!n) return;
  size_t longest = 0;
  for (size_t i = 0; i < n; i++)
    if (strlen(labels[i]) > longest) longest = strlen(labels[i]);
  double w = 30 + 5.8 * (double)longest, x = p->right - w - 4, y = p->top + 4;
  fprintf(p->out,
          "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#fff\" "
          "fill-opacity=\"0.85\" stroke=\"#ccc\"/>\n",
          x, y, w, 13.0 * (double)n + 6);
  for (size_t i = 0; i < n; i++) {
    double ly = y + 10 + 13.0 * (double)i;
    fprintf(p->out,
            "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
            "stroke-width=\"2\"/><text x=\"%.1f\" y=\"%.1f\" font-size=\"10.5\" fill=\"#222\">",
            x + 6, ly, x + 22, ly, colours[i], x + 26, ly + 3.5);
    svg_escape(p->out, labels[i]);
    fprintf(p->out, "</text>\n");
  }
}

/* ---- text and colour ------------------------------------------------------ */

void svg_escape(FILE *out, const char *s) {
  for (; s && *s; s++) switch (*s) {
      case '&':
        fputs("&amp;", out);
        break;
      case '<':
        fputs("&lt;", out);
        break;
      case '>':
        fputs("&gt;", out);
        break;
      case '"':
        fputs("&quot;", out);
        break;
      case '\'':
        fputs("&#39;", out);
        break;
      default:
        fputc(*s, out);
    }
}

void svg_shade(const char *colour, double amount, char buf[8]) {
  unsigned rgb = 0;
  if (!colour || colour[0] != '#' || sscanf(colour + 1, "%6x", &rgb) != 1) rgb = 0x777777;
  int c[3] = {(int)(rgb >> 16) & 255, (int)(rgb >> 8) & 255, (int)rgb & 255};
  for (int k = 0; k < 3; k++) {
    double v = amount >= 0 ? c[k] + (255 - c[k]) * amount : c[k] * (1 + amount);
    c[k] = (int)lround(v < 0 ? 0 : v > 255 ? 255 : v);
  }
  snprintf(buf, 8, "#%02x%02x%02x", c[0], c[1], c[2]);
}

void svg_variant_colour(const char *base, int variant, int variants, char out[8]) {
  svg_shade(base, variants > 1 ? -0.55 + 1.15 * variant / (variants - 1) : 0.0, out);
}

const char *svg_palette(int i) {
  static const char *const colours[] = {"#332288", "#aa4499", "#6699cc",
                                        "#661100", "#ddaa33", "#888888"};
  int n = (int)(sizeof colours / sizeof colours[0]);
  return colours[((i % n) + n) % n];
}
