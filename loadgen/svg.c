/* SVG bar charts; see svg.h. */
#include "loadgen/svg.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

/* The seed's charts are 820 × 500 with a grey title and light gridlines. */
#define SVG_W 820
#define SVG_H 520
#define SVG_LEFT 80
#define SVG_RIGHT 30
#define SVG_TOP 110
#define SVG_BOTTOM 60
#define SVG_TICKS 5
#define SVG_FONT "Roboto, Arial, Helvetica, sans-serif"
#define SVG_TEXT_INSIDE_MIN 22 /* px: a shorter bar gets its value above it */

double svg_nice_step(double max, int ticks)
{
    if (!(max > 0) || ticks < 1)
        return 1;
    double raw = max / ticks;
    double mag = pow(10, floor(log10(raw)));
    static const double mults[] = {1, 2, 2.5, 5, 10};
    for (size_t i = 0; i < sizeof mults / sizeof mults[0]; i++)
        if (mults[i] * mag >= raw)
            return mults[i] * mag;
    return 10 * mag;
}

/* Writes s with XML's five special characters escaped. */
static void svg_text(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&apos;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* A value as people read it on a chart: 2, 19.5, 200. */
static const char *svg_num(double v, char *buf, size_t len)
{
    if (v >= 100 || v == floor(v))
        snprintf(buf, len, "%.0f", v);
    else if (v >= 10)
        snprintf(buf, len, "%.1f", v);
    else
        snprintf(buf, len, "%.2g", v);
    return buf;
}

int svg_bar_chart(FILE *f, const char *title, const char *subtitle, const struct svg_bar *bars, size_t nbars,
                  const struct svg_legend *legend, size_t nlegend)
{
    double top = 0;
    for (size_t i = 0; i < nbars; i++) {
        if (bars[i].value > top)
            top = bars[i].value;
        if (bars[i].limit > top)
            top = bars[i].limit;
    }
    double step = svg_nice_step(top * 1.08, SVG_TICKS);
    double ymax = step * ceil(top * 1.08 / step);
    if (ymax <= 0)
        ymax = step;
    const double plot_w = SVG_W - SVG_LEFT - SVG_RIGHT, plot_h = SVG_H - SVG_TOP - SVG_BOTTOM;
    const double base_y = SVG_TOP + plot_h;
    char num[32];

    fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" "
               "font-family=\"%s\">\n",
            SVG_W, SVG_H, SVG_W, SVG_H, SVG_FONT);
    fprintf(f, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", SVG_W, SVG_H);
    fprintf(f, "<text x=\"24\" y=\"40\" font-size=\"20\" fill=\"#757575\">");
    svg_text(f, title);
    fprintf(f, "</text>\n");
    if (subtitle != NULL) {
        fprintf(f, "<text x=\"24\" y=\"62\" font-size=\"12\" fill=\"#9e9e9e\">");
        svg_text(f, subtitle);
        fprintf(f, "</text>\n");
    }
    /* The legend is one row under the subtitle; text width is estimated
     * (no font metrics in a file), generously. */
    double lx = 24;
    for (size_t i = 0; i < nlegend; i++) {
        double ly = 74;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"10\" height=\"10\" fill=\"%s\"/>", lx, ly, legend[i].color);
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#616161\">", lx + 16, ly + 9);
        svg_text(f, legend[i].text);
        fprintf(f, "</text>\n");
        lx += 16 + 6.2 * (double)strlen(legend[i].text) + 24;
    }
    /* y axis: gridlines and tick values */
    fprintf(f, "<text transform=\"translate(28 %.1f) rotate(-90)\" font-size=\"12\" fill=\"#424242\" "
               "text-anchor=\"middle\">",
            SVG_TOP + plot_h / 2);
    svg_text(f, title);
    fprintf(f, "</text>\n");
    for (double v = 0; v <= ymax + step / 2; v += step) {
        double y = base_y - v / ymax * plot_h;
        fprintf(f, "<line x1=\"%d\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" stroke-width=\"1\"/>\n", SVG_LEFT,
                y, SVG_LEFT + plot_w, y, v == 0 ? "#424242" : "#e0e0e0");
        fprintf(f, "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" fill=\"#616161\" text-anchor=\"end\">%s</text>\n",
                SVG_LEFT - 10, y + 4, svg_num(v, num, sizeof num));
    }
    /* bars */
    double slot = nbars > 0 ? plot_w / (double)nbars : plot_w;
    double bw = slot * 0.55;
    for (size_t i = 0; i < nbars; i++) {
        const struct svg_bar *b = &bars[i];
        double x = SVG_LEFT + slot * (double)i + (slot - bw) / 2;
        double h = b->value > 0 ? b->value / ymax * plot_h : 0;
        double y = base_y - h;
        fprintf(f, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n", x, y, bw, h,
                b->color ? b->color : "#4285f4");
        bool inside = h >= SVG_TEXT_INSIDE_MIN;
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" fill=\"%s\" text-anchor=\"middle\">%s</text>\n",
                x + bw / 2, inside ? y + 17 : y - 6, inside ? "#ffffff" : "#212121", svg_num(b->value, num, sizeof num));
        fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" fill=\"#424242\" text-anchor=\"middle\">",
                x + bw / 2, base_y + 22);
        svg_text(f, b->label);
        fprintf(f, "</text>\n");
        if (b->limit > 0) {
            double ly = base_y - b->limit / ymax * plot_h;
            fprintf(f, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#212121\" stroke-width=\"2\" "
                       "stroke-dasharray=\"6 4\"/>\n",
                    x - 8, ly, x + bw + 8, ly);
            fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11\" fill=\"#212121\">limit %s</text>\n", x + bw + 12,
                    ly + 4, svg_num(b->limit, num, sizeof num));
        }
    }
    fprintf(f, "</svg>\n");
    return ferror(f) ? -1 : 0;
}
