/* The dashboard's files, served by the real api from the binary: types,
 * CSP, ETag revalidation, 404, and no token needed while the data routes
 * keep needing it. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "tests/harness/stack.h"

static struct stack S;

static void up(const char *const *api_args)
{
    struct stack_opts o = {.workers = 0, .api_args = api_args};
    ck_assert_msg(stack_start(&S, &o) == 0, "stack did not start");
}

/* GETs path (optional extra headers), expects `code`; the answer in *r. */
static void get(const char *path, const char *const *headers, long code, struct http_resp *r)
{
    ck_assert_int_eq(stack_http(&S, "GET", path, NULL, headers, 10000, r), 0);
    ck_assert_msg(r->code == code, "GET %s: want %ld got %ld: %s", path, code, r->code, r->body);
}

static void check_header_starts(const struct http_resp *r, const char *name, const char *want)
{
    char buf[512];
    const char *v = http_resp_header(r, name, buf, sizeof buf);
    ck_assert_msg(v != NULL, "no %s header", name);
    ck_assert_msg(strncmp(v, want, strlen(want)) == 0, "%s: \"%s\", want \"%s…\"", name, v, want);
}

START_TEST(page_and_files_served_with_types_and_csp)
{
    struct http_resp r;
    char buf[512];
    up(NULL);
    get("/ui/", NULL, 200, &r);
    check_header_starts(&r, "Content-Type", "text/html");
    check_header_starts(&r, "Cache-Control", "no-cache");
    check_header_starts(&r, "Content-Security-Policy", "default-src 'self'");
    const char *csp = http_resp_header(&r, "Content-Security-Policy", buf, sizeof buf);
    /* inline scripts refused: script-src names no 'unsafe-inline' */
    ck_assert_msg(strstr(csp, "script-src 'self'") != NULL && strstr(csp, "unsafe-inline") == NULL, "CSP %s", csp);
    ck_assert_msg(strstr(r.body, "<script src=\"/ui/app.js\"") != NULL, "no app.js tag in %s", r.body);
    ck_assert_msg(strstr(r.body, "<script>") == NULL && strstr(r.body, "style=") == NULL, "inline code in the page");
    http_resp_free(&r);

    get("/ui", NULL, 200, &r); /* the same page without the slash */
    check_header_starts(&r, "Content-Type", "text/html");
    http_resp_free(&r);

    get("/ui/app.js", NULL, 200, &r);
    check_header_starts(&r, "Content-Type", "text/javascript");
    check_header_starts(&r, "Content-Security-Policy", "default-src 'self'");
    ck_assert(strstr(r.body, "setTimeout(poll, POLL_MS)") != NULL);
    ck_assert(strstr(r.body, "innerHTML =") == NULL);
    http_resp_free(&r);

    get("/ui/app.css", NULL, 200, &r);
    check_header_starts(&r, "Content-Type", "text/css");
    ck_assert(strstr(r.body, "@media") != NULL);
    http_resp_free(&r);

    get("/ui/nope.js", NULL, 404, &r);
    http_resp_free(&r);
    get("/ui/app.js/x", NULL, 404, &r);
    http_resp_free(&r);

    ck_assert_int_eq(stack_http(&S, "POST", "/ui/app.js", "", NULL, 10000, &r), 0);
    ck_assert_int_eq(r.code, 405);
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

START_TEST(etag_revalidates_with_304)
{
    struct http_resp r;
    char etag[128], inm[192];
    up(NULL);
    get("/ui/app.js", NULL, 200, &r);
    ck_assert_ptr_nonnull(http_resp_header(&r, "ETag", etag, sizeof etag));
    ck_assert_msg(etag[0] == '"', "ETag %s not quoted", etag);
    http_resp_free(&r);

    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    get("/ui/app.js", (const char *const[]){inm, NULL}, 304, &r);
    ck_assert_uint_eq(r.len, 0);
    check_header_starts(&r, "ETag", etag);
    http_resp_free(&r);

    snprintf(inm, sizeof inm, "If-None-Match: \"other\", W/%s", etag); /* a list, weak form */
    get("/ui/app.js", (const char *const[]){inm, NULL}, 304, &r);
    http_resp_free(&r);

    get("/ui/app.js", (const char *const[]){"If-None-Match: \"other\"", NULL}, 200, &r);
    ck_assert(r.len > 0);
    http_resp_free(&r);

    /* another file has another tag */
    snprintf(inm, sizeof inm, "If-None-Match: %s", etag);
    get("/ui/app.css", (const char *const[]){inm, NULL}, 200, &r);
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

START_TEST(files_need_no_token_data_does)
{
    struct http_resp r;
    up((const char *const[]){"--auth-token", "s3cret", NULL});
    get("/ui/", NULL, 200, &r);
    http_resp_free(&r);
    get("/ui/app.js", NULL, 200, &r);
    http_resp_free(&r);
    get("/queues", NULL, 401, &r);
    http_resp_free(&r);
    get("/workers", NULL, 401, &r);
    http_resp_free(&r);
    get("/queues", (const char *const[]){"Authorization: Bearer s3cret", NULL}, 200, &r);
    http_resp_free(&r);
    stack_stop(&S);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ui");
    TCase *tc = tcase_create("ui");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, page_and_files_served_with_types_and_csp);
    tcase_add_test(tc, etag_revalidates_with_304);
    tcase_add_test(tc, files_need_no_token_data_does);
    suite_add_tcase(s, tc);
    return harness_run_suite(s);
}
