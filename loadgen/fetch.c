/* One blocking HTTP GET; see fetch.h. */
#include "loadgen/fetch.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/defaults.h"
#include "common/errmsg.h"
#include "loadgen/http_client.h"
#include "loadgen/request.h"
#include "loadgen/run.h"

/* What the callback hands back to fetch_get. */
struct fetch_state {
    struct event_base *base;
    struct fetch_result *out;
    enum conn_error err;
    bool done, oom;
};

static void fetch_on_done(struct conn *c, enum conn_error err, const struct http_parser *p, void *arg)
{
    (void)c;
    struct fetch_state *st = arg;
    st->done = true;
    st->err = err;
    if (err == CONN_OK) {
        st->out->status = p->status;
        st->out->body = malloc(p->body_len + 1);
        if (st->out->body == NULL) {
            st->oom = true;
        } else {
            if (p->body_len > 0)
                memcpy(st->out->body, p->body, p->body_len);
            st->out->body[p->body_len] = '\0';
            st->out->len = p->body_len;
        }
    }
    event_base_loopbreak(st->base);
}

int fetch_get(const struct http_url *url, int64_t timeout_ms, struct fetch_result *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    struct fetch_state st = {.out = out};
    struct request req = {0};
    struct conn *c = NULL;
    char *scratch = NULL;
    struct sockaddr_storage addr;
    socklen_t addrlen;
    int rc = -1;
    if (run_resolve(url->host, url->port, &addr, &addrlen, err, errlen) != 0)
        return -1;
    if (request_build(&req, "GET", url, NULL, 0, NULL, 0, err, errlen) != 0)
        return -1;
    st.base = event_base_new();
    scratch = malloc(CONN_READ_BUF);
    if (st.base == NULL || scratch == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        goto err;
    }
    c = conn_new(st.base, (struct sockaddr *)&addr, addrlen, scratch, fetch_on_done, &st);
    if (c == NULL) {
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
        goto err;
    }
    conn_send(c, req.buf, req.len, false, true);
    struct timeval tv = clock_ms_timeval(timeout_ms);
    event_base_loopexit(st.base, &tv);
    event_base_dispatch(st.base);
    if (!st.done)
        errmsg_fail(err, errlen, "GET %s:%d%s: no answer within %lld ms", url->host, url->port, url->path,
                    (long long)timeout_ms);
    else if (st.err != CONN_OK)
        errmsg_fail(err, errlen, "GET %s:%d%s: %s", url->host, url->port, url->path,
                    st.err == CONN_ERR_CONNECT ? "cannot connect" : "connection failed");
    else if (st.oom)
        errmsg_fail(err, errlen, MSG_OUT_OF_MEMORY);
    else
        rc = 0;
err:
    conn_free(c);
    if (st.base != NULL)
        event_base_free(st.base);
    free(scratch);
    request_free(&req);
    if (rc != 0)
        fetch_result_free(out);
    return rc;
}

void fetch_result_free(struct fetch_result *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
}
