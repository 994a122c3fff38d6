#ifndef OFFLOAD_CLI_TABLE_H
#define OFFLOAD_CLI_TABLE_H
/* A table of text printed with aligned columns, the way `docker ps` does:
 * a header row in capitals, then rows, columns two spaces apart. */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

#include "cli/fmt.h"

struct table;

/* A table of ncols columns (1..TABLE_COLS_MAX) with these headers, or
 * headers NULL for none (a key/value listing). Copies the headers. Returns
 * NULL on OOM. Free with table_free. */
struct table *table_new(size_t ncols, const char *const *headers);
/* Appends a row of ncols cells (copied; NULL prints as "-"). 0 or -1 (OOM). */
int table_add(struct table *t, const char *const *cells);
/* Prints the table to f: every column but the last padded to its widest
 * cell (counted in UTF-8 characters), trailing spaces trimmed. */
void table_print(const struct table *t, FILE *f);
void table_free(struct table *t);

#define TABLE_COLS_MAX 16

/* Fills a row's cells from one element of a list. */
typedef void table_row_fn(const json_t *item, char cells[][FMT_CELL_BUF]);
/* Prints the elements of a JSON array as a table under ncols headers, each
 * row made by row, to f. Returns 0, or -1 (OOM: nothing printed). */
int table_print_list(const json_t *list, size_t ncols, const char *const *headers, table_row_fn *row,
                     FILE *f);

#endif
