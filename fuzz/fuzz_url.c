/* libFuzzer target: the input, as a C string, through every URL parser in
 * common/url.c (redis_url_parse, http_url_parse, addr_parse) and through
 * redis_url_redact, with round trips: what a parser accepts and what the
 * redactor writes must parse back to the same fields. */
#include "common/url.h"

#include "fuzz/fuzz.h"

/* Room for the longest redacted URL: a unix path plus "?db=N&password=***",
 * or every sentinel's address and the master's name. */
#define FUZZ_URL_REDACT_MAX ((URL_SENTINELS_MAX + 1) * (URL_HOST_MAX + 8) + URL_MASTER_MAX + URL_PATH_MAX)

/* Outcome bits of fuzz_url_one: which parsers accepted the input. */
enum {
    FUZZ_URL_REDIS = 1,
    FUZZ_URL_HTTP = 2,
    FUZZ_URL_ADDR = 4,
};

static void fuzz_url_check_redact(const struct redis_url *u)
{
    char full[FUZZ_URL_REDACT_MAX], err[256] = "";
    redis_url_redact(u, full, sizeof full);
    FUZZ_CHECK(fuzz_terminated(full, sizeof full), "redact not terminated");
    const char *scheme = u->is_unix ? "unix://" : u->is_sentinel ? "redis+sentinel://" : "redis://";
    FUZZ_CHECK(strncmp(full, scheme, strlen(scheme)) == 0, "redacted \"%s\"", full);
    if (u->password[0] != '\0')
        FUZZ_CHECK(strstr(full, "***") != NULL, "redacted \"%s\" hides no password", full);

    /* Short buffers truncate a prefix and always terminate; 0 writes nothing. */
    static const size_t lens[] = {0, 1, 2, 9, 24};
    for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
        char small[32];
        memset(small, 'x', sizeof small);
        redis_url_redact(u, small, lens[i]);
        if (lens[i] == 0) {
            FUZZ_CHECK(small[0] == 'x', "redact wrote into a 0-byte buffer");
            continue;
        }
        FUZZ_CHECK(fuzz_terminated(small, lens[i]), "redact len %zu not terminated", lens[i]);
        FUZZ_CHECK(strncmp(small, full, strlen(small)) == 0 && strlen(small) < lens[i],
                   "redact len %zu gave \"%s\", full \"%s\"", lens[i], small, full);
    }

    /* The redacted URL parses back to the same place. */
    struct redis_url back;
    FUZZ_CHECK(redis_url_parse(full, &back, err, sizeof err) == 0, "redacted \"%s\": %s", full,
               err);
    FUZZ_CHECK(back.is_unix == u->is_unix && back.port == u->port && back.db == u->db &&
                   strcmp(back.host, u->host) == 0 && strcmp(back.path, u->path) == 0,
               "\"%s\" parses back differently", full);
    FUZZ_CHECK(strcmp(back.password, u->password[0] != '\0' ? "***" : "") == 0,
               "\"%s\" password back \"%s\"", full, back.password);
    FUZZ_CHECK(back.is_sentinel == u->is_sentinel && back.nsentinels == u->nsentinels &&
                   strcmp(back.master, u->master) == 0,
               "\"%s\" sentinels parse back differently", full);
    for (size_t i = 0; i < u->nsentinels; i++)
        FUZZ_CHECK(strcmp(back.sentinels[i].host, u->sentinels[i].host) == 0 &&
                       back.sentinels[i].port == u->sentinels[i].port,
                   "\"%s\" sentinel %zu parses back differently", full, i);
}

static int fuzz_url_redis(const char *s)
{
    struct redis_url u;
    char err[256];
    memset(err, 'x', sizeof err);
    int quiet_rc = redis_url_parse(s, &u, NULL, 0);
    int rc = redis_url_parse(s, &u, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "redis rc %d", rc);
    FUZZ_CHECK(quiet_rc == rc, "redis rc differs without err");
    if (rc < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0', "redis err");
        FUZZ_CHECK(u.password[0] == '\0', "a failed parse left a password");
        return 0;
    }
    FUZZ_CHECK(fuzz_terminated(u.host, sizeof u.host) && fuzz_terminated(u.path, sizeof u.path) &&
                   fuzz_terminated(u.password, sizeof u.password),
               "redis fields not terminated");
    FUZZ_CHECK(u.db >= 0, "db %d", u.db);
    if (u.is_sentinel)
        FUZZ_CHECK(u.nsentinels >= 1 && u.nsentinels <= URL_SENTINELS_MAX && u.master[0] != '\0' &&
                       u.host[0] == '\0' && fuzz_terminated(u.master, sizeof u.master) &&
                       fuzz_terminated(u.sentinel_password, sizeof u.sentinel_password),
                   "sentinel url: %zu sentinels, master \"%s\"", u.nsentinels, u.master);
    else if (u.is_unix)
        FUZZ_CHECK(u.path[0] == '/' && u.path[1] != '\0' && u.host[0] == '\0', "unix path \"%s\"",
                   u.path);
    else
        FUZZ_CHECK(u.host[0] != '\0' && u.path[0] == '\0' && u.port >= 1 && u.port <= 65535,
                   "redis host \"%s\" port %d", u.host, u.port);
    fuzz_url_check_redact(&u);
    return FUZZ_URL_REDIS;
}

static int fuzz_url_http(const char *s)
{
    struct http_url u;
    char err[256], again[FUZZ_URL_REDACT_MAX];
    memset(err, 'x', sizeof err);
    int rc = http_url_parse(s, &u, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "http rc %d", rc);
    if (rc < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0', "http err");
        FUZZ_CHECK(http_url_parse(s, &u, NULL, 0) == -1, "http rc differs without err");
        return 0;
    }
    FUZZ_CHECK(fuzz_terminated(u.host, sizeof u.host) && fuzz_terminated(u.path, sizeof u.path) &&
                   fuzz_terminated(u.hostport, sizeof u.hostport),
               "http fields not terminated");
    FUZZ_CHECK(u.host[0] != '\0' && u.port >= 1 && u.port <= 65535, "http host \"%s\" port %d",
               u.host, u.port);
    FUZZ_CHECK(u.path[0] == '/', "http path \"%s\"", u.path);
    for (const char *p = u.path; *p != '\0'; p++)
        FUZZ_CHECK((unsigned char)*p > ' ' && (unsigned char)*p < 0x7f && *p != '#',
                   "http path byte 0x%02x", (unsigned char)*p);

    /* What goes on the wire (Host header and request target) names the same URL. */
    struct http_url back;
    snprintf(again, sizeof again, "http://%s%s", u.hostport, u.path);
    FUZZ_CHECK(http_url_parse(again, &back, err, sizeof err) == 0, "\"%s\": %s", again, err);
    FUZZ_CHECK(strcmp(back.host, u.host) == 0 && back.port == u.port &&
                   strcmp(back.path, u.path) == 0 && strcmp(back.hostport, u.hostport) == 0,
               "\"%s\" parses back differently", again);
    return FUZZ_URL_HTTP;
}

static int fuzz_url_addr(const char *s)
{
    char host[URL_HOST_MAX], small[8], err[256];
    int port = -1, small_port = -1;
    memset(err, 'x', sizeof err);
    int rc = addr_parse(s, host, sizeof host, &port, err, sizeof err);
    FUZZ_CHECK(rc == 0 || rc == -1, "addr rc %d", rc);
    FUZZ_CHECK(addr_parse(s, host, sizeof host, &port, NULL, 0) == rc, "addr rc differs without err");
    int small_rc = addr_parse(s, small, sizeof small, &small_port, NULL, 0);
    if (rc < 0) {
        FUZZ_CHECK(fuzz_terminated(err, sizeof err) && err[0] != '\0', "addr err");
        FUZZ_CHECK(small_rc == -1, "a small host buffer accepted what a large one did not");
        return 0;
    }
    FUZZ_CHECK(fuzz_terminated(host, sizeof host) && host[0] != '\0', "addr host");
    FUZZ_CHECK(port >= 0 && port <= 65535, "addr port %d", port);
    /* A host that fits the small buffer parses the same; one that does not is refused. */
    if (strlen(host) < sizeof small)
        FUZZ_CHECK(small_rc == 0 && strcmp(small, host) == 0 && small_port == port,
                   "small host buffer: rc %d", small_rc);
    else
        FUZZ_CHECK(small_rc == -1, "a %zu-byte host fit in %zu bytes", strlen(host), sizeof small);
    return FUZZ_URL_ADDR;
}

/* Returns the FUZZ_URL_* bits of the parsers that accepted data. */
static int fuzz_url_one(const uint8_t *data, size_t size)
{
    char *s = fuzz_cstr(data, size);
    int accepted = fuzz_url_redis(s) | fuzz_url_http(s) | fuzz_url_addr(s);
    free(s);
    return accepted;
}

FUZZ_ENTRY(fuzz_url_one)
