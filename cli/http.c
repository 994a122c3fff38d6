/* Blocking HTTP for the offload command; see http.h. */
#include "cli/http.h"

#include <curl/curl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errmsg.h"

/* An answer bigger than this is not something the API sends: stop reading
 * rather than grow without bound. */
#define HTTP_ANSWER_MAX (64u << 20)
/* Connecting to the API takes a round trip; past this it is not there. */
#define HTTP_CONNECT_TIMEOUT_MS 3000L

struct http_client {
    CURL *curl;
    char *base;
    struct curl_slist *headers; /* Content-Type, Authorization */
    volatile sig_atomic_t *stop;
};

struct http_buf {
    char *data;
    size_t len, cap;
    bool too_big;
};

static size_t http_on_data(char *ptr, size_t size, size_t n, void *arg)
{
    struct http_buf *b = arg;
    size_t add = size * n;
    if (b->len + add + 1 > HTTP_ANSWER_MAX) {
        b->too_big = true;
        return 0;
    }
    if (b->len + add + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + add + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (p == NULL)
            return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* Non-zero aborts the transfer: Ctrl-C during `offload top`. */
static int http_on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                            curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    const struct http_client *h = arg;
    return h->stop != NULL && *h->stop != 0;
}

/* See http.h. The caller frees the client with http_client_free. */
struct http_client *http_client_new(const char *base, const char *token)
{
    struct http_client *h = calloc(1, sizeof *h);
    char *auth = NULL;
    if (h == NULL)
        goto err;
    h->base = strdup(base);
    h->curl = curl_easy_init();
    if (h->base == NULL || h->curl == NULL)
        goto err;
    size_t blen = strlen(h->base);
    while (blen > 0 && h->base[blen - 1] == '/')
        h->base[--blen] = '\0';
    struct curl_slist *l = curl_slist_append(NULL, "Content-Type: application/json");
    if (l == NULL)
        goto err;
    h->headers = l;
    if (token != NULL && *token != '\0') {
        size_t alen = strlen(token) + sizeof "Authorization: Bearer ";
        auth = malloc(alen);
        if (auth == NULL)
            goto err;
        snprintf(auth, alen, "Authorization: Bearer %s", token);
        l = curl_slist_append(h->headers, auth); /* copies auth */
        if (l == NULL)
            goto err;
        h->headers = l;
        free(auth);
    }
    return h;
err:
    free(auth);
    http_client_free(h);
    return NULL;
}

void http_client_set_stop(struct http_client *h, volatile sig_atomic_t *stop)
{
    h->stop = stop;
}

/* See http.h. The answer's body is the caller's. */
int http_client_request(struct http_client *h, const char *method, const char *path,
                        const char *body, int64_t timeout_ms, struct http_answer *out, char *err,
                        size_t errlen)
{
    struct http_buf buf = {0};
    char *url = NULL;
    char curl_err[CURL_ERROR_SIZE] = "";
    memset(out, 0, sizeof *out);
    size_t ulen = strlen(h->base) + strlen(path) + 1;
    url = malloc(ulen);
    if (url == NULL) {
        errmsg_fail(err, errlen, "out of memory");
        goto err;
    }
    snprintf(url, ulen, "%s%s", h->base, path);

    CURL *c = h->curl;
    curl_easy_reset(c); /* keeps the connection, forgets the last request's options */
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h->headers);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, HTTP_CONNECT_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, curl_err);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, http_on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &buf);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, http_on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body != NULL) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    CURLcode rc = curl_easy_perform(c);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, NULL); /* curl_err dies with this frame */
    if (rc != CURLE_OK) {
        if (buf.too_big)
            errmsg_fail(err, errlen, "the answer is over %u MiB", HTTP_ANSWER_MAX >> 20);
        else if (rc == CURLE_ABORTED_BY_CALLBACK)
            errmsg_fail(err, errlen, "interrupted");
        else
            errmsg_fail(err, errlen, "%s", curl_err[0] ? curl_err : curl_easy_strerror(rc));
        goto err;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->code);
    if (buf.data == NULL && (buf.data = calloc(1, 1)) == NULL) {
        errmsg_fail(err, errlen, "out of memory");
        goto err;
    }
    out->body = buf.data;
    out->len = buf.len;
    free(url);
    return 0;
err:
    free(buf.data);
    free(url);
    return -1;
}

void http_client_free(struct http_client *h)
{
    if (h == NULL)
        return;
    if (h->curl != NULL)
        curl_easy_cleanup(h->curl);
    curl_slist_free_all(h->headers);
    free(h->base);
    free(h);
}

void http_answer_free(struct http_answer *a)
{
    free(a->body);
    memset(a, 0, sizeof *a);
}
