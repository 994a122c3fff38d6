#ifndef OFFLOAD_UI_H
#define OFFLOAD_UI_H
/* The dashboard: the files of ui/, built into the binary by tools/embed.sh
 * (nothing is fetched from elsewhere, so it works air-gapped), served under
 * /ui/. They hold no data, so they need no token; the routes the page calls
 * do. */
#include <stddef.h>

#include "api/req.h"

struct ui_file {
    const char *name;         /* "index.html": the path under /ui/ */
    const char *content_type;
    const char *etag;         /* quoted, from the content's CRC-32 and length */
    const unsigned char *data;
    size_t len;
};

/* The generated table ($(BUILD)/gen/ui_files.c). */
extern const struct ui_file ui_files[];
extern const size_t ui_files_count;

/* The file served as /ui/`name` ("" or NULL: index.html), or NULL. */
const struct ui_file *ui_find(const char *name);
/* Answers GET/HEAD /ui, /ui/ and /ui/{file}: the file with its type, ETag,
 * Cache-Control: no-cache and the CSP, 304 when If-None-Match names the
 * ETag, 404 for an unknown file. Frees r. */
void ui_handle(struct api_req *r, const char *name);

#endif
