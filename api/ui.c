#include "api/ui.h"

#include <string.h>

/* Scripts, styles and requests from this origin only, no inline script or
 * style, no frames, no plugins: a value that slipped into the page
 * unescaped still could not run. */
#define UI_CSP                                                                                         \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " \
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const struct ui_file *ui_find(const char *name)
{
    if (name == NULL || name[0] == '\0')
        name = "index.html";
    for (size_t i = 0; i < ui_files_count; i++)
        if (strcmp(ui_files[i].name, name) == 0)
            return &ui_files[i];
    return NULL;
}

/* Whether an If-None-Match value names etag (or is "*"): a list of
 * quoted tags, perhaps weak (W/"…"), compared weakly as RFC 9110 says. */
static int ui_etag_matches(const char *header, const char *etag)
{
    size_t n = strlen(etag);
    const char *p;
    if (header == NULL)
        return 0;
    if (header[strspn(header, " \t")] == '*')
        return 1;
    for (p = strstr(header, etag); p != NULL; p = strstr(p + 1, etag)) {
        char after = p[n];
        if (after == '\0' || after == ',' || after == ' ' || after == '\t')
            return 1;
    }
    return 0;
}

void ui_handle(struct api_req *r, const char *name)
{
    const struct ui_file *f = ui_find(name);
    const char *inm;
    if (f == NULL) {
        req_reply_error(r, 404, "no dashboard file %s", name);
        return;
    }
    /* no-cache: the browser asks again each time and gets a 304 while the
     * binary is the same, so a new build's page is never stale */
    req_add_header(r, "Cache-Control", "no-cache");
    req_add_header(r, "ETag", f->etag);
    req_add_header(r, "Content-Security-Policy", UI_CSP);
    req_add_header(r, "X-Content-Type-Options", "nosniff");
    req_add_header(r, "Referrer-Policy", "no-referrer");
    inm = evhttp_find_header(evhttp_request_get_input_headers(r->req), "If-None-Match");
    if (ui_etag_matches(inm, f->etag)) {
        req_reply_raw(r, 304, NULL, NULL, 0);
        return;
    }
    req_reply_raw(r, 200, f->content_type, f->data, f->len);
}
