#ifndef OFFLOAD_LOADGEN_SVG_H
#define OFFLOAD_LOADGEN_SVG_H
/* Self-contained SVG bar charts in the spirit of the seed's: one bar per
 * mode with its value printed on it, the theoretical limit marked on each
 * bar as a dashed tick with its value, a y axis with gridlines. */
#include <stddef.h>
#include <stdio.h>

struct svg_bar {
    const char *label; /* under the bar */
    double value;
    double limit;      /* <= 0: none drawn */
    const char *color; /* "#rrggbb" */
};

struct svg_legend {
    const char *color;
    const char *text;
};

/* Writes the chart to f. `title` goes top left ("Reqs/sec"), `subtitle`
 * under it (may be NULL). Returns 0, or -1 on a write error. */
int svg_bar_chart(FILE *f, const char *title, const char *subtitle, const struct svg_bar *bars, size_t nbars,
                  const struct svg_legend *legend, size_t nlegend);

/* The smallest "nice" step (1, 2, 2.5 or 5 × 10^k) that splits [0, max] into
 * at most `ticks` intervals. Exposed for tests. */
double svg_nice_step(double max, int ticks);

#endif
