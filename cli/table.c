/* Aligned text tables for the offload command; see table.h. */
#include "cli/table.h"

#include <stdlib.h>
#include <string.h>


/* Space between columns. */
#define TABLE_GAP 2

struct table {
    size_t ncols;
    size_t nrows, cap; /* rows of ncols cells, row-major in cells; row 0 the header if any */
    char **cells;
    size_t width[TABLE_COLS_MAX];
};

/* See table.h. */
struct table *table_new(size_t ncols, const char *const *headers)
{
    if (ncols == 0 || ncols > TABLE_COLS_MAX)
        return NULL;
    struct table *t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->ncols = ncols;
    if (headers != NULL && table_add(t, headers) != 0) {
        table_free(t);
        return NULL;
    }
    return t;
}

/* See table.h. The cells are copied: the caller keeps its strings. */
int table_add(struct table *t, const char *const *cells)
{
    if (t->nrows == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 8;
        char **p = realloc(t->cells, cap * t->ncols * sizeof *p);
        if (p == NULL)
            return -1;
        t->cells = p;
        t->cap = cap;
    }
    char **row = t->cells + t->nrows * t->ncols;
    for (size_t i = 0; i < t->ncols; i++) {
        row[i] = strdup(cells[i] != NULL ? cells[i] : "-");
        if (row[i] == NULL) {
            while (i-- > 0)
                free(row[i]);
            return -1;
        }
    }
    for (size_t i = 0; i < t->ncols; i++) {
        size_t w = fmt_width(row[i]);
        if (w > t->width[i])
            t->width[i] = w;
    }
    t->nrows++;
    return 0;
}

void table_print(const struct table *t, FILE *f)
{
    for (size_t r = 0; r < t->nrows; r++) {
        char **row = t->cells + r * t->ncols;
        size_t pad = 0; /* spaces owed before the next non-empty cell */
        for (size_t i = 0; i < t->ncols; i++) {
            if (row[i][0] != '\0') {
                fprintf(f, "%*s%s", (int)pad, "", row[i]);
                pad = 0;
            }
            pad += t->width[i] - fmt_width(row[i]) + TABLE_GAP;
        }
        fputc('\n', f);
    }
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    free(t->cells);
    free(t);
}

/* See table.h. */
int table_print_list(const json_t *list, size_t ncols, const char *const *headers, table_row_fn *row,
                     FILE *f)
{
    char cells[TABLE_COLS_MAX][FMT_CELL_BUF];
    const char *ptrs[TABLE_COLS_MAX];
    const json_t *item;
    size_t i;
    struct table *t = table_new(ncols, headers);
    if (t == NULL)
        return -1;
    for (size_t col = 0; col < ncols; col++)
        ptrs[col] = cells[col];
    json_array_foreach(list, i, item) {
        row(item, cells);
        if (table_add(t, ptrs) != 0) {
            table_free(t);
            return -1;
        }
    }
    table_print(t, f);
    table_free(t);
    return 0;
}
