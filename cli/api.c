/* Requests to the offload API for the command; see api.h. */
#include "cli/api.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cli/http.h"

/* The first bytes of a body that is not the API's {"error"} JSON, in a message. */
#define API_SNIPPET_MAX 200
/* Room for curl's longest error text (CURL_ERROR_SIZE) and ours. */
#define API_ERR_MAX 512

/* Makes c->http on first use. Returns CLI_EXIT_OK, or an exit status after
 * saying why. */
static int api_open(struct cli *c)
{
    if (c->http != NULL)
        return CLI_EXIT_OK;
    if (strncasecmp(c->api, "http://", 7) != 0 && strncasecmp(c->api, "https://", 8) != 0) {
        fprintf(stderr, "offload: --api \"%s\": must be an http:// or https:// URL\n", c->api);
        return CLI_EXIT_USAGE;
    }
    if (strpbrk(c->token, "\r\n") != NULL) {
        fprintf(stderr, "offload: --token: must be one line\n");
        return CLI_EXIT_USAGE;
    }
    c->http = http_client_new(c->api, c->token);
    if (c->http == NULL) {
        fprintf(stderr, "offload: cannot start an HTTP client (out of memory?)\n");
        return CLI_EXIT_API;
    }
    if (c->stop != NULL)
        http_client_set_stop(c->http, c->stop);
    return CLI_EXIT_OK;
}

/* Says why a non-2xx answer failed: the API's {"error"} text, else the start
 * of the body, and what to do about a 401. */
static void api_report(const char *method, const char *path, const struct http_answer *a,
                       const json_t *j)
{
    const char *why = json_string_value(json_object_get(j, "error"));
    if (why != NULL)
        fprintf(stderr, "offload: %s %s: %ld %s", method, path, a->code, why);
    else
        fprintf(stderr, "offload: %s %s: HTTP %ld %.*s", method, path, a->code, API_SNIPPET_MAX,
                a->body);
    if (a->code == 401)
        fprintf(stderr, " (give the API's token with --token or OFFLOAD_TOKEN)");
    fputc('\n', stderr);
}

/* See api.h. *out is the caller's. */
int api_call(struct cli *c, const char *method, const char *path, const json_t *body,
             int64_t extra_ms, unsigned flags, json_t **out, long *code)
{
    char *text = NULL;
    char err[API_ERR_MAX];
    struct http_answer a = {0};
    json_t *j = NULL;
    int rc = CLI_EXIT_API;
    *out = NULL;
    if (code != NULL)
        *code = 0;
    if ((rc = api_open(c)) != CLI_EXIT_OK)
        return rc;
    rc = CLI_EXIT_API;
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT | JSON_ENCODE_ANY)) == NULL) {
        fprintf(stderr, "offload: out of memory\n");
        goto err;
    }
    if (http_client_request(c->http, method, path, text, API_TIMEOUT_MS + extra_ms, &a, err,
                            sizeof err) != 0) {
        if (c->stop == NULL || *c->stop == 0) /* else Ctrl-C ended it: nothing to report */
            fprintf(stderr, "offload: %s %s: cannot reach the API at %s: %s (set --api or OFFLOAD_API)\n",
                    method, path, c->api, err);
        goto err;
    }
    if (code != NULL)
        *code = a.code;
    j = a.len == 0 ? json_null() : json_loadb(a.body, a.len, JSON_DECODE_ANY, NULL);
    if (a.code < 200 || a.code > 299) {
        if (!(a.code == 404 && (flags & API_QUIET_404)))
            api_report(method, path, &a, j);
        goto err;
    }
    if (j == NULL) {
        fprintf(stderr, "offload: %s %s: the answer is not JSON: %.*s\n", method, path,
                API_SNIPPET_MAX, a.body);
        goto err;
    }
    *out = j;
    http_answer_free(&a);
    free(text);
    return CLI_EXIT_OK;
err:
    json_decref(j);
    http_answer_free(&a);
    free(text);
    return rc;
}

int api_show(struct cli *c, const char *path, int (*print)(const json_t *answer))
{
    json_t *answer;
    int rc = api_call(c, "GET", path, NULL, 0, 0, &answer, NULL);
    if (rc != CLI_EXIT_OK)
        return rc;
    if (c->json) {
        api_print_json(answer);
    } else if (print(answer) != 0) {
        fprintf(stderr, "offload: out of memory\n");
        rc = CLI_EXIT_API;
    }
    json_decref(answer);
    return rc;
}

void api_close(struct cli *c)
{
    http_client_free(c->http);
    c->http = NULL;
}

int api_print_json(const json_t *j)
{
    json_dumpf(j, stdout, JSON_INDENT(2) | JSON_ENCODE_ANY);
    putchar('\n');
    return CLI_EXIT_OK;
}
