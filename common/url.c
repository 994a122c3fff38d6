/* Parsers for redis://, unix://, http:// URLs and host:port addresses.
 * Every read is bounded by the input's NUL or by an explicit length, and
 * every write by the destination's size: these parsers take untrusted text
 * (flags, environment) and are fuzzed. */
#include "common/url.h"

#include "common/errmsg.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define REDIS_PORT_DEFAULT 6379
#define SENTINEL_PORT_DEFAULT 26379 /* Sentinel's own port, as redis-sentinel listens by default */
#define SENTINEL_SCHEME "redis+sentinel://"
#define HTTP_PORT_DEFAULT 80
#define PORT_MAX 65535
/* sizeof(struct sockaddr_un.sun_path) - 1 on Linux: a longer path cannot be connected to. */
#define UNIX_PATH_MAX 107
/* Where a port-only address listens: loopback, so nothing is exposed by accident. */
#define ADDR_HOST_DEFAULT "127.0.0.1"

static bool has_prefix_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* Copies s[0..n) into dst as a string; -1 if it does not fit. */
static int copy_span(char *dst, size_t cap, const char *s, size_t n)
{
    if (n >= cap)
        return -1;
    memcpy(dst, s, n);
    dst[n] = '\0';
    return 0;
}

/* Decimal digits only, no sign, value <= max. */
static int parse_uint(const char *s, size_t n, long max, long *out)
{
    long v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_';
}

/* A host name or IPv4 address: [A-Za-z0-9._-]+. */
static bool host_name_valid(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!is_name_char(s[i]))
            return false;
    }
    return true;
}

/* An IPv6 literal as found between brackets: hex digits, ':' and '.', at
 * least one ':', optionally "%zone". The resolver judges the rest. */
static bool host_v6_valid(const char *s, size_t n)
{
    bool colon = false;
    size_t i = 0;
    for (; i < n && s[i] != '%'; i++) {
        char c = s[i];
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        if (!hex && c != ':' && c != '.')
            return false;
        colon |= c == ':';
    }
    if (!colon)
        return false;
    if (i < n && !host_name_valid(s + i + 1, n - i - 1)) /* the zone */
        return false;
    return true;
}

/* Parses "host", "host:port", "[v6]" or "[v6]:port" from s[0..n) into host
 * (brackets removed). default_port < 0 makes the port required; ports below
 * min_port are rejected. */
static int parse_hostport(const char *s, size_t n, char *host, size_t hostcap, int *port,
                          int default_port, int min_port, char *err, size_t errlen)
{
    const char *h = s, *p = NULL;
    size_t hlen, plen = 0;
    bool v6 = n > 0 && s[0] == '[';

    if (v6) {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return errmsg_fail(err, errlen, "missing ']' after IPv6 address");
        h = s + 1;
        hlen = (size_t)(close - h);
        size_t rest = n - (size_t)(close - s) - 1;
        if (rest > 0) {
            if (close[1] != ':')
                return errmsg_fail(err, errlen, "unexpected characters after ']'");
            p = close + 2;
            plen = rest - 1;
        }
    } else {
        const char *colon = memchr(s, ':', n);
        hlen = colon ? (size_t)(colon - s) : n;
        if (colon != NULL) {
            p = colon + 1;
            plen = n - hlen - 1;
            if (memchr(p, ':', plen) != NULL)
                return errmsg_fail(err, errlen, "an IPv6 address needs brackets: [::1]:port");
        }
    }
    if (hlen == 0)
        return errmsg_fail(err, errlen, "missing host");
    if (v6 ? !host_v6_valid(h, hlen) : !host_name_valid(h, hlen))
        return errmsg_fail(err, errlen, "invalid host (allowed: names, IPv4, [IPv6])");
    if (copy_span(host, hostcap, h, hlen) < 0)
        return errmsg_fail(err, errlen, "host too long (at most %zu bytes)",
                        hostcap > 0 ? hostcap - 1 : 0);
    if (p == NULL) {
        if (default_port < 0)
            return errmsg_fail(err, errlen, "missing port (host:port)");
        *port = default_port;
        return 0;
    }
    long v;
    if (parse_uint(p, plen, PORT_MAX, &v) < 0 || v < min_port)
        return errmsg_fail(err, errlen, "invalid port (must be %d..%d)", min_port, PORT_MAX);
    *port = (int)v;
    return 0;
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0..n) into dst; -1 on a bad escape, %00, or overflow. */
static int percent_decode(const char *s, size_t n, char *dst, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            if (n - i < 3)
                return -1;
            int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
            if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = c;
    }
    if (cap == 0)
        return -1;
    dst[o] = '\0';
    return 0;
}

static int parse_db(const char *s, size_t n, int *db, char *err, size_t errlen)
{
    long v;
    if (parse_uint(s, n, INT_MAX, &v) < 0)
        return errmsg_fail(err, errlen, "invalid db (must be an integer in 0..%d)", INT_MAX);
    *db = (int)v;
    return 0;
}

/* Percent-decodes a password value into dst (cap bytes); `name` says which
 * one in the message. Refuses a second one. */
static int parse_secret(const char *v, size_t vlen, char *dst, size_t cap, const char *name,
                        char *err, size_t errlen)
{
    if (dst[0] != '\0')
        return errmsg_fail(err, errlen, "%s given twice", name);
    if (percent_decode(v, vlen, dst, cap) < 0)
        return errmsg_fail(err, errlen, "invalid %s (bad %%-escape or too long)", name);
    return 0;
}

/* Parses "db=N&password=X" (both optional; a sentinel URL also takes
 * sentinel_password=X) from a query string. */
static int parse_redis_query(const char *q, struct redis_url *out, bool db_seen, char *err,
                             size_t errlen)
{
    while (*q != '\0') {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        size_t klen = eq ? (size_t)(eq - q) : len;
        const char *v = eq ? eq + 1 : q + len;
        size_t vlen = eq ? len - klen - 1 : 0;
        if (len == 0) {
            /* "a&&b" or a trailing '&': nothing to read */
        } else if (klen == 2 && memcmp(q, "db", 2) == 0) {
            if (db_seen)
                return errmsg_fail(err, errlen, "db given twice");
            if (parse_db(v, vlen, &out->db, err, errlen) < 0)
                return -1;
            db_seen = true;
        } else if (klen == 8 && memcmp(q, "password", 8) == 0) {
            if (parse_secret(v, vlen, out->password, sizeof out->password, "password", err,
                             errlen) < 0)
                return -1;
        } else if (out->is_sentinel && klen == 17 && memcmp(q, "sentinel_password", 17) == 0) {
            if (parse_secret(v, vlen, out->sentinel_password, sizeof out->sentinel_password,
                             "sentinel_password", err, errlen) < 0)
                return -1;
        } else {
            return errmsg_fail(err, errlen, out->is_sentinel
                                                ? "unknown query parameter (allowed: db, password, "
                                                  "sentinel_password)"
                                                : "unknown query parameter (allowed: db, password)");
        }
        q += len;
        if (*q == '&')
            q++;
    }
    return 0;
}

static int parse_unix(const char *rest, struct redis_url *out, char *err, size_t errlen)
{
    if (rest[0] != '/')
        return errmsg_fail(err, errlen,
                           "a unix URL needs an absolute path: unix:///path/to/redis.sock");
    size_t plen = strcspn(rest, "?#");
    if (plen == 1)
        return errmsg_fail(err, errlen, "missing socket path");
    if (plen > UNIX_PATH_MAX || copy_span(out->path, sizeof out->path, rest, plen) < 0)
        return errmsg_fail(err, errlen, "socket path too long (at most %d bytes)", UNIX_PATH_MAX);
    out->is_unix = true;
    if (rest[plen] == '#')
        return errmsg_fail(err, errlen, "unexpected '#' in URL");
    if (rest[plen] == '?')
        return parse_redis_query(rest + plen + 1, out, false, err, errlen);
    return 0;
}

/* Splits the authority rest[0..auth_len) at its last '@': the password
 * before it (user:password, the user ignored as Redis 5 has no ACL users,
 * or password alone, as redis-cli reads it) goes into out->password, and
 * *hp, *hp_len get what follows. Returns 0 or -1. */
static int parse_userinfo(const char *rest, size_t auth_len, struct redis_url *out, const char **hp,
                          size_t *hp_len, char *err, size_t errlen)
{
    const char *at = NULL;
    *hp = rest;
    *hp_len = auth_len;
    for (size_t i = 0; i < auth_len; i++) { /* the last '@' ends the userinfo */
        if (rest[i] == '@')
            at = rest + i;
    }
    if (at == NULL)
        return 0;
    size_t ulen = (size_t)(at - rest);
    const char *colon = memchr(rest, ':', ulen);
    const char *pw = colon ? colon + 1 : rest;
    size_t pwlen = colon ? ulen - (size_t)(colon - rest) - 1 : ulen;
    if (percent_decode(pw, pwlen, out->password, sizeof out->password) < 0)
        return errmsg_fail(err, errlen, "invalid password (bad %%-escape or too long)");
    *hp = at + 1;
    *hp_len = auth_len - ulen - 1;
    return 0;
}

/* The sentinels' "host[:port],host[:port]..." from s[0..n) into out. */
static int parse_sentinel_list(const char *s, size_t n, struct redis_url *out, char *err,
                               size_t errlen)
{
    const char *p = s, *end = s + n;
    if (n == 0)
        return errmsg_fail(err, errlen, "missing sentinel address (host:port[,host:port...])");
    for (;;) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        size_t len = comma ? (size_t)(comma - p) : (size_t)(end - p);
        char why[160];
        if (out->nsentinels == URL_SENTINELS_MAX)
            return errmsg_fail(err, errlen, "more than %d sentinel addresses", URL_SENTINELS_MAX);
        struct redis_addr *a = &out->sentinels[out->nsentinels++];
        if (parse_hostport(p, len, a->host, sizeof a->host, &a->port, SENTINEL_PORT_DEFAULT, 1,
                           why, sizeof why) < 0)
            return errmsg_fail(err, errlen, "sentinel address %zu (\"%.*s\"): %s", out->nsentinels,
                               (int)(len < 64 ? len : 64), p, why);
        if (comma == NULL)
            return 0;
        p = comma + 1;
    }
}

/* The "/MASTER[/db][?query]" after the sentinels' addresses. */
static int parse_sentinel_tail(const char *tail, struct redis_url *out, char *err, size_t errlen)
{
    bool db_seen = false;
    if (*tail != '/')
        return errmsg_fail(err, errlen,
                           "missing master name: redis+sentinel://host:port[,host:port...]/MASTER[/db]");
    tail++;
    size_t mlen = strcspn(tail, "/?#");
    if (mlen == 0)
        return errmsg_fail(err, errlen,
                           "missing master name: redis+sentinel://host:port[,host:port...]/MASTER[/db]");
    if (!host_name_valid(tail, mlen))
        return errmsg_fail(err, errlen, "invalid master name (allowed: A-Z a-z 0-9 . _ -)");
    if (copy_span(out->master, sizeof out->master, tail, mlen) < 0)
        return errmsg_fail(err, errlen, "master name too long (at most %d bytes)", URL_MASTER_MAX - 1);
    tail += mlen;
    if (*tail == '/') {
        size_t seg = strcspn(tail + 1, "?#");
        if (seg > 0) {
            if (parse_db(tail + 1, seg, &out->db, err, errlen) < 0)
                return -1;
            db_seen = true;
        }
        tail += 1 + seg;
    }
    if (*tail == '#')
        return errmsg_fail(err, errlen, "unexpected '#' in URL");
    if (*tail == '?')
        return parse_redis_query(tail + 1, out, db_seen, err, errlen);
    return 0;
}

/* redis+sentinel://[:password@]host[:port][,host[:port]...]/MASTER[/db][?query] */
static int parse_sentinel(const char *rest, struct redis_url *out, char *err, size_t errlen)
{
    size_t auth_len = strcspn(rest, "/?#");
    const char *hp;
    size_t hp_len;
    out->is_sentinel = true;
    out->port = 0;
    if (parse_userinfo(rest, auth_len, out, &hp, &hp_len, err, errlen) < 0 ||
        parse_sentinel_list(hp, hp_len, out, err, errlen) < 0)
        return -1;
    return parse_sentinel_tail(rest + auth_len, out, err, errlen);
}

/* Fills out from s; see url.h. out is zeroed first, so a failed parse
 * leaves no half-filled password behind. */
int redis_url_parse(const char *s, struct redis_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    out->port = REDIS_PORT_DEFAULT;
    if (s == NULL || *s == '\0')
        return errmsg_fail(err, errlen, "empty Redis URL");
    if (has_prefix_ci(s, "unix://")) {
        if (parse_unix(s + 7, out, err, errlen) < 0)
            goto err;
        return 0;
    }
    if (has_prefix_ci(s, SENTINEL_SCHEME)) {
        if (parse_sentinel(s + strlen(SENTINEL_SCHEME), out, err, errlen) < 0)
            goto err;
        return 0;
    }
    if (has_prefix_ci(s, "rediss://")) {
        errmsg_fail(err, errlen, "rediss:// (TLS) is not supported");
        goto err;
    }
    if (!has_prefix_ci(s, "redis://")) {
        errmsg_fail(err, errlen, "a Redis URL must start with redis://, redis+sentinel:// or unix://");
        goto err;
    }

    const char *rest = s + 8;
    size_t auth_len = strcspn(rest, "/?#");
    const char *hp;
    size_t hp_len;
    if (parse_userinfo(rest, auth_len, out, &hp, &hp_len, err, errlen) < 0)
        goto err;
    if (parse_hostport(hp, hp_len, out->host, sizeof out->host, &out->port, REDIS_PORT_DEFAULT,
                       1, err, errlen) < 0)
        goto err;

    const char *tail = rest + auth_len;
    bool db_seen = false;
    if (*tail == '/') {
        size_t seg = strcspn(tail + 1, "?#");
        if (seg > 0) {
            if (parse_db(tail + 1, seg, &out->db, err, errlen) < 0)
                goto err;
            db_seen = true;
        }
        tail += 1 + seg;
    }
    if (*tail == '#') {
        errmsg_fail(err, errlen, "unexpected '#' in URL");
        goto err;
    }
    if (*tail == '?' && parse_redis_query(tail + 1, out, db_seen, err, errlen) < 0)
        goto err;
    return 0;
err:
    memset(out, 0, sizeof *out);
    return -1;
}

/* Appends printf output at *off in buf[0..len), truncating; *off never
 * passes len - 1, so the result stays terminated. */
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t len, size_t *off, const char *fmt, ...)
{
    va_list ap;
    if (*off + 1 >= len)
        return;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *off, len - *off, fmt, ap);
    va_end(ap);
    if (n > 0)
        *off = *off + (size_t)n < len ? *off + (size_t)n : len - 1;
}

/* redis_url_redact for a sentinel URL. */
static void redact_sentinel(const struct redis_url *u, char *buf, size_t len)
{
    size_t off = 0;
    buf[0] = '\0';
    append(buf, len, &off, "%s%s", SENTINEL_SCHEME, u->password[0] ? ":***@" : "");
    for (size_t i = 0; i < u->nsentinels; i++) {
        const struct redis_addr *a = &u->sentinels[i];
        bool v6 = strchr(a->host, ':') != NULL;
        append(buf, len, &off, "%s%s%s%s:%d", i ? "," : "", v6 ? "[" : "", a->host, v6 ? "]" : "",
               a->port);
    }
    append(buf, len, &off, "/%s/%d%s", u->master, u->db,
           u->sentinel_password[0] ? "?sentinel_password=***" : "");
}

/* Writes the URL with the password as "***"; always NUL-terminates. */
void redis_url_redact(const struct redis_url *u, char *buf, size_t len)
{
    if (len == 0)
        return;
    bool pw = u->password[0] != '\0';
    if (u->is_sentinel) {
        redact_sentinel(u, buf, len);
        return;
    }
    if (u->is_unix) {
        snprintf(buf, len, "unix://%s?db=%d%s", u->path, u->db, pw ? "&password=***" : "");
        return;
    }
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(buf, len, "redis://%s%s%s%s:%d/%d", pw ? ":***@" : "", v6 ? "[" : "", u->host,
             v6 ? "]" : "", u->port, u->db);
}

/* The request target must go on the request line as is: printable ASCII only. */
static bool path_valid(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c >= 0x7f)
            return false;
    }
    return true;
}

int http_url_parse(const char *s, struct http_url *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    if (s == NULL || *s == '\0')
        return errmsg_fail(err, errlen, "empty URL");
    if (has_prefix_ci(s, "https://"))
        return errmsg_fail(err, errlen, "https:// is not supported (use http://)");
    if (!has_prefix_ci(s, "http://"))
        return errmsg_fail(err, errlen, "a URL must start with http://");
    const char *rest = s + 7;
    size_t auth_len = strcspn(rest, "/?#");
    if (memchr(rest, '@', auth_len) != NULL)
        return errmsg_fail(err, errlen, "credentials in the URL are not supported");
    if (parse_hostport(rest, auth_len, out->host, sizeof out->host, &out->port,
                       HTTP_PORT_DEFAULT, 1, err, errlen) < 0)
        return -1;

    const char *target = rest + auth_len;
    size_t tlen = strcspn(target, "#"); /* a fragment is never sent */
    const char *lead = target[0] == '/' ? "" : "/";
    if (!path_valid(target, tlen))
        return errmsg_fail(err, errlen,
                           "the path has spaces, control or non-ASCII bytes (percent-encode them)");
    if (strlen(lead) + tlen >= sizeof out->path)
        return errmsg_fail(err, errlen, "path too long (at most %d bytes)", URL_PATH_MAX - 1);
    snprintf(out->path, sizeof out->path, "%s%.*s", lead, (int)tlen, target);
    bool v6 = strchr(out->host, ':') != NULL;
    snprintf(out->hostport, sizeof out->hostport, v6 ? "[%s]:%d" : "%s:%d", out->host, out->port);
    return 0;
}

int addr_parse(const char *s, char *host, size_t hostlen, int *port, char *err, size_t errlen)
{
    if (s == NULL || *s == '\0')
        return errmsg_fail(err, errlen, "empty address");
    size_t n = strlen(s);
    long v;
    bool port_only = strspn(s, "0123456789") == n;
    bool no_host = s[0] == ':' && strchr(s + 1, ':') == NULL; /* not "::1:80" */
    if (port_only || no_host) { /* "8080" or ":8080" */
        const char *p = s[0] == ':' ? s + 1 : s;
        if (parse_uint(p, strlen(p), PORT_MAX, &v) < 0)
            return errmsg_fail(err, errlen, "invalid port (must be 0..%d)", PORT_MAX);
        if (copy_span(host, hostlen, ADDR_HOST_DEFAULT, strlen(ADDR_HOST_DEFAULT)) < 0)
            return errmsg_fail(err, errlen, "host too long");
        *port = (int)v;
        return 0;
    }
    return parse_hostport(s, n, host, hostlen, port, -1, 0, err, errlen);
}

bool redis_policy_refused(const char *policy, char *why, size_t len)
{
    if (policy == NULL || strcmp(policy, "noeviction") == 0)
        return false;
    snprintf(why, len,
             "redis may evict keys (maxmemory-policy %s), so accepted jobs could vanish: "
             "set maxmemory-policy noeviction, or pass --allow-eviction",
             policy);
    return true;
}
