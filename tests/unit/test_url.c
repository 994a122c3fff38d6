/* Unit tests for common/url.c: Redis, unix and http URLs, listen addresses,
 * redaction, and robustness against arbitrary input. */
#include "common/url.h"

#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/unit.h"

START_TEST(redis_accepts)
{
    static const struct {
        const char *in;
        bool is_unix;
        const char *host;
        int port;
        const char *path;
        const char *password;
        int db;
    } cases[] = {
        {"redis://127.0.0.1", false, "127.0.0.1", 6379, "", "", 0},
        {"redis://localhost:6380/2", false, "localhost", 6380, "", "", 2},
        {"redis://:s3cret@redis:6379/0", false, "redis", 6379, "", "s3cret", 0},
        {"redis://user:pa%40ss@h", false, "h", 6379, "", "pa@ss", 0},
        {"redis://default:p@w@h:1", false, "h", 1, "", "p@w", 0},
        {"redis://justpass@h", false, "h", 6379, "", "justpass", 0},
        {"redis://[::1]:7000/3", false, "::1", 7000, "", "", 3},
        {"redis://[fe80::1%eth0]", false, "fe80::1%eth0", 6379, "", "", 0},
        {"REDIS://my-redis.svc_1/", false, "my-redis.svc_1", 6379, "", "", 0},
        {"redis://h?db=4", false, "h", 6379, "", "", 4},
        {"redis://h:65535/15?password=x", false, "h", 65535, "", "x", 15},
        {"unix:///var/run/redis.sock", true, "", 6379, "/var/run/redis.sock", "", 0},
        {"unix:///tmp/r.sock?db=5", true, "", 6379, "/tmp/r.sock", "", 5},
        {"unix:///tmp/r.sock?db=5&password=x%20y&", true, "", 6379, "/tmp/r.sock", "x y", 5},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct redis_url u;
        char err[128] = "";
        ck_assert_msg(redis_url_parse(cases[i].in, &u, err, sizeof err) == 0, "%s: %s",
                      cases[i].in, err);
        ck_assert_msg(u.is_unix == cases[i].is_unix, "%s: is_unix", cases[i].in);
        ck_assert_str_eq(u.host, cases[i].host);
        ck_assert_int_eq(u.port, cases[i].port);
        ck_assert_str_eq(u.path, cases[i].path);
        ck_assert_str_eq(u.password, cases[i].password);
        ck_assert_int_eq(u.db, cases[i].db);
    }
}
END_TEST

static char long_host[400];
static char long_password[400];
static char long_socket[400];

static void make_long_inputs(void)
{
    snprintf(long_host, sizeof long_host, "redis://%0300d", 0);
    snprintf(long_password, sizeof long_password, "redis://:%0300d@h", 0);
    snprintf(long_socket, sizeof long_socket, "unix:///%0200d", 0);
}

START_TEST(redis_rejects)
{
    make_long_inputs();
    const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "empty"},
        {"localhost:6379", "must start with redis://, redis+sentinel:// or unix://"},
        {"http://h", "must start with redis://"},
        {"rediss://h", "TLS"},
        {"redis://", "missing host"},
        {"redis://:6379", "missing host"},
        {"redis://:pw@", "missing host"},
        {"redis://h:0", "invalid port"},
        {"redis://h:65536", "invalid port"},
        {"redis://h:abc", "invalid port"},
        {"redis://h:", "invalid port"},
        {"redis://h:-1", "invalid port"},
        {"redis://::1", "brackets"},
        {"redis://[::1", "missing ']'"},
        {"redis://[::1]x", "unexpected characters"},
        {"redis://[nothex]", "invalid host"},
        {"redis://[]", "missing host"},
        {"redis://ho st", "invalid host"},
        {"redis://h\x01", "invalid host"},
        {"redis://h/abc", "invalid db"},
        {"redis://h/-1", "invalid db"},
        {"redis://h/1/2", "invalid db"},
        {"redis://h/99999999999", "invalid db"},
        {"redis://h/1?db=2", "db given twice"},
        {"redis://h?foo=1", "unknown query parameter"},
        {"redis://:%zz@h", "invalid password"},
        {"redis://:%00@h", "invalid password"},
        {"redis://:%4@h", "invalid password"},
        {"redis://h#frag", "'#'"},
        {"unix://relative.sock", "absolute path"},
        {"unix:///", "missing socket path"},
        {"unix:///s?db=x", "invalid db"},
        {"unix:///s?timeout=1", "unknown query parameter"},
        {long_host, "host too long"},
        {long_password, "invalid password"},
        {long_socket, "socket path too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct redis_url u;
        char err[128] = "";
        ck_assert_msg(redis_url_parse(cases[i].in, &u, err, sizeof err) == -1, "accepted %s",
                      cases[i].in);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: got \"%s\", want \"%s\"",
                      cases[i].in, err, cases[i].msg);
    }
    struct redis_url u;
    char err[128] = "";
    ck_assert_int_eq(redis_url_parse(NULL, &u, err, sizeof err), -1);
}
END_TEST

START_TEST(redis_failure_hides_password)
{
    struct redis_url u;
    char err[128] = "";
    ck_assert_int_eq(redis_url_parse("redis://:hunter2@h:99999", &u, err, sizeof err), -1);
    ck_assert_ptr_null(strstr(err, "hunter2"));
    ck_assert_str_eq(u.password, ""); /* nothing half-parsed is left behind */
}
END_TEST

START_TEST(redis_redact)
{
    struct redis_url u;
    char err[128], buf[512];
    ck_assert_int_eq(redis_url_parse("redis://:s3cret@h:1/2", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "redis://:***@h:1/2");
    ck_assert_int_eq(redis_url_parse("redis://h", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "redis://h:6379/0");
    ck_assert_int_eq(redis_url_parse("redis://[::1]", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "redis://[::1]:6379/0");
    ck_assert_int_eq(redis_url_parse("unix:///tmp/r.sock?password=pw&db=3", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "unix:///tmp/r.sock?db=3&password=***");
    /* the redacted URL parses back to the same place */
    struct redis_url back;
    ck_assert_int_eq(redis_url_parse("redis://:pw@[::1]:7/9", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_int_eq(redis_url_parse(buf, &back, err, sizeof err), 0);
    ck_assert_str_eq(back.host, "::1");
    ck_assert_int_eq(back.port, 7);
    ck_assert_int_eq(back.db, 9);
    /* truncation keeps a terminated string */
    char small[10];
    redis_url_redact(&u, small, sizeof small);
    ck_assert_str_eq(small, "redis://:");
}
END_TEST

START_TEST(sentinel_accepts)
{
    struct redis_url u;
    char err[160] = "";
    ck_assert_msg(redis_url_parse("redis+sentinel://:pw%40x@10.0.0.1:26380,[::1]:5000,s3/mymaster/2",
                                  &u, err, sizeof err) == 0, "%s", err);
    ck_assert(u.is_sentinel);
    ck_assert(!u.is_unix);
    ck_assert_str_eq(u.host, ""); /* found through the sentinels at connect time */
    ck_assert_int_eq(u.port, 0);
    ck_assert_str_eq(u.password, "pw@x");
    ck_assert_str_eq(u.sentinel_password, "");
    ck_assert_str_eq(u.master, "mymaster");
    ck_assert_int_eq(u.db, 2);
    ck_assert_uint_eq(u.nsentinels, 3);
    ck_assert_str_eq(u.sentinels[0].host, "10.0.0.1");
    ck_assert_int_eq(u.sentinels[0].port, 26380);
    ck_assert_str_eq(u.sentinels[1].host, "::1");
    ck_assert_int_eq(u.sentinels[1].port, 5000);
    ck_assert_str_eq(u.sentinels[2].host, "s3");
    ck_assert_int_eq(u.sentinels[2].port, 26379); /* Sentinel's default port */

    ck_assert_msg(redis_url_parse("REDIS+SENTINEL://h/m.a_s-1?db=3&password=p&sentinel_password=s%20p",
                                  &u, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(u.nsentinels, 1);
    ck_assert_str_eq(u.master, "m.a_s-1");
    ck_assert_int_eq(u.db, 3);
    ck_assert_str_eq(u.password, "p");
    ck_assert_str_eq(u.sentinel_password, "s p");
    ck_assert_msg(redis_url_parse("redis+sentinel://h:1/m/", &u, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(u.db, 0);
}
END_TEST

START_TEST(sentinel_rejects)
{
    static char nine[256], long_master[300];
    size_t off = (size_t)snprintf(nine, sizeof nine, "redis+sentinel://");
    for (int i = 0; i < URL_SENTINELS_MAX + 1; i++)
        off += (size_t)snprintf(nine + off, sizeof nine - off, "%sh%d:1", i ? "," : "", i);
    snprintf(nine + off, sizeof nine - off, "/m");
    snprintf(long_master, sizeof long_master, "redis+sentinel://h/%0200d", 0);
    const struct {
        const char *in, *msg;
    } cases[] = {
        {"redis+sentinel://", "missing sentinel address"},
        {"redis+sentinel:///m", "missing sentinel address"},
        {"redis+sentinel://:pw@/m", "missing sentinel address"},
        {"redis+sentinel://h:1", "missing master name"},
        {"redis+sentinel://h:1/", "missing master name"},
        {"redis+sentinel://h:1?db=1", "missing master name"},
        {"redis+sentinel://h:1,/m", "sentinel address 2 (\"\"): missing host"},
        {"redis+sentinel://a:1,b:0/m", "sentinel address 2 (\"b:0\"): invalid port"},
        {"redis+sentinel://a:1,b:x/m", "sentinel address 2 (\"b:x\"): invalid port"},
        {"redis+sentinel://::1:5/m", "sentinel address 1 (\"::1:5\"): an IPv6 address needs brackets"},
        {"redis+sentinel://[::1:5/m", "missing ']'"},
        {"redis+sentinel://h/m a", "invalid master name"},
        {"redis+sentinel://h/m%41", "invalid master name"},
        {"redis+sentinel://h/m/x", "invalid db"},
        {"redis+sentinel://h/m/1?db=1", "db given twice"},
        {"redis+sentinel://h/m?timeout=1", "allowed: db, password, sentinel_password"},
        {"redis+sentinel://h/m?sentinel_password=a&sentinel_password=b", "sentinel_password given twice"},
        {"redis+sentinel://h/m?sentinel_password=%zz", "invalid sentinel_password"},
        {"redis+sentinel://h/m#x", "'#'"},
        {"redis://h?sentinel_password=x", "allowed: db, password)"},
        {"sentinel://h/m", "redis+sentinel://"},
        {nine, "more than 8 sentinel addresses"},
        {long_master, "master name too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct redis_url u;
        char err[160] = "";
        ck_assert_msg(redis_url_parse(cases[i].in, &u, err, sizeof err) == -1, "accepted %s",
                      cases[i].in);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: got \"%s\", want \"%s\"",
                      cases[i].in, err, cases[i].msg);
        ck_assert_str_eq(u.password, "");
        ck_assert_str_eq(u.sentinel_password, "");
    }
}
END_TEST

START_TEST(sentinel_redact)
{
    struct redis_url u, back;
    char err[160], buf[512];
    ck_assert_int_eq(redis_url_parse("redis+sentinel://:s3cret@h1:1,[::1]:2/mm/4?sentinel_password=sp",
                                     &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "redis+sentinel://:***@h1:1,[::1]:2/mm/4?sentinel_password=***");
    ck_assert_int_eq(redis_url_parse(buf, &back, err, sizeof err), 0);
    ck_assert(back.is_sentinel);
    ck_assert_uint_eq(back.nsentinels, 2);
    ck_assert_str_eq(back.sentinels[1].host, "::1");
    ck_assert_str_eq(back.master, "mm");
    ck_assert_int_eq(back.db, 4);
    ck_assert_int_eq(redis_url_parse("redis+sentinel://h/m", &u, err, sizeof err), 0);
    redis_url_redact(&u, buf, sizeof buf);
    ck_assert_str_eq(buf, "redis+sentinel://h:26379/m/0");
    char small[12];
    redis_url_redact(&u, small, sizeof small);
    ck_assert_str_eq(small, "redis+senti");
}
END_TEST

START_TEST(http_accepts)
{
    static const struct {
        const char *in, *host;
        int port;
        const char *path, *hostport;
    } cases[] = {
        {"http://127.0.0.1:8081/", "127.0.0.1", 8081, "/", "127.0.0.1:8081"},
        {"http://example.com", "example.com", 80, "/", "example.com:80"},
        {"http://h:9/a/b?x=1&y=2#frag", "h", 9, "/a/b?x=1&y=2", "h:9"},
        {"http://h?q=1", "h", 80, "/?q=1", "h:80"},
        {"http://[::1]:8081/x", "::1", 8081, "/x", "[::1]:8081"},
        {"HTTP://Slow-Svc/delay%20ms", "Slow-Svc", 80, "/delay%20ms", "Slow-Svc:80"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_url u;
        char err[128] = "";
        ck_assert_msg(http_url_parse(cases[i].in, &u, err, sizeof err) == 0, "%s: %s",
                      cases[i].in, err);
        ck_assert_str_eq(u.host, cases[i].host);
        ck_assert_int_eq(u.port, cases[i].port);
        ck_assert_str_eq(u.path, cases[i].path);
        ck_assert_str_eq(u.hostport, cases[i].hostport);
    }
}
END_TEST

START_TEST(http_rejects)
{
    static char long_path[3000];
    snprintf(long_path, sizeof long_path, "http://h/%02500d", 0);
    const struct {
        const char *in, *msg;
    } cases[] = {
        {"", "empty"},
        {"https://h/", "https:// is not supported"},
        {"ftp://h/", "must start with http://"},
        {"h:80/", "must start with http://"},
        {"http://", "missing host"},
        {"http:///x", "missing host"},
        {"http://u:p@h/", "credentials"},
        {"http://h:0/", "invalid port"},
        {"http://h:80x/", "invalid port"},
        {"http://h/a b", "percent-encode"},
        {"http://h/\r\nX-Injected: 1", "percent-encode"},
        {"http://h/caf\xc3\xa9", "percent-encode"},
        {long_path, "path too long"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct http_url u;
        char err[128] = "";
        ck_assert_msg(http_url_parse(cases[i].in, &u, err, sizeof err) == -1, "accepted %s",
                      cases[i].in);
        ck_assert_msg(strstr(err, cases[i].msg) != NULL, "%s: got \"%s\", want \"%s\"",
                      cases[i].in, err, cases[i].msg);
    }
}
END_TEST

START_TEST(addr_forms)
{
    static const struct {
        const char *in, *host;
        int port;
    } ok[] = {
        {"127.0.0.1:8080", "127.0.0.1", 8080}, {"[::1]:8080", "::1", 8080},
        {"localhost:80", "localhost", 80},     {":8080", "127.0.0.1", 8080},
        {"8080", "127.0.0.1", 8080},           {"0.0.0.0:0", "0.0.0.0", 0},
        {"0", "127.0.0.1", 0},                 {"[::]:65535", "::", 65535},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        char host[64] = "", err[128] = "";
        int port = -1;
        ck_assert_msg(addr_parse(ok[i].in, host, sizeof host, &port, err, sizeof err) == 0,
                      "%s: %s", ok[i].in, err);
        ck_assert_str_eq(host, ok[i].host);
        ck_assert_int_eq(port, ok[i].port);
    }
    static const struct {
        const char *in, *msg;
    } bad[] = {
        {"", "empty"},           {"localhost", "missing port"}, {"h:99999", "invalid port"},
        {":", "invalid port"},   {"::1:80", "brackets"},        {"h:-1", "invalid port"},
        {"a b:80", "invalid host"}, {"65536", "invalid port"},  {"[::1]", "missing port"},
        {"[::1]:", "invalid port"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char host[64], err[128] = "";
        int port;
        ck_assert_msg(addr_parse(bad[i].in, host, sizeof host, &port, err, sizeof err) == -1,
                      "accepted %s", bad[i].in);
        ck_assert_msg(strstr(err, bad[i].msg) != NULL, "%s: got \"%s\"", bad[i].in, err);
    }
    char tiny[4], err[128] = "";
    int port;
    ck_assert_int_eq(addr_parse("localhost:80", tiny, sizeof tiny, &port, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "host too long"));
    ck_assert_int_eq(addr_parse(NULL, tiny, sizeof tiny, &port, err, sizeof err), -1);
}
END_TEST

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

/* Feeds one input to every parser and checks the invariants that hold for
 * any input: 0 or -1, a message on -1, terminated strings, sane fields. */
static const char *check_any_input(const char *in)
{
    char err[96];
    struct redis_url r;
    struct http_url h;
    char host[32];
    int port;

    err[0] = '\0';
    int rc = redis_url_parse(in, &r, err, sizeof err);
    if (rc == -1 ? err[0] == '\0' : rc != 0)
        return "redis: bad return or empty message";
    if (rc == 0 && r.is_sentinel &&
        (r.nsentinels < 1 || r.nsentinels > URL_SENTINELS_MAX || r.master[0] == '\0' ||
         !terminated(r.master, sizeof r.master) || !terminated(r.password, sizeof r.password) ||
         !terminated(r.sentinel_password, sizeof r.sentinel_password) || r.db < 0))
        return "redis: broken sentinel result";
    for (size_t i = 0; rc == 0 && r.is_sentinel && i < r.nsentinels; i++)
        if (!terminated(r.sentinels[i].host, sizeof r.sentinels[i].host) || r.sentinels[i].host[0] == '\0' ||
            r.sentinels[i].port < 1 || r.sentinels[i].port > 65535)
            return "redis: broken sentinel address";
    if (rc == 0 && !r.is_sentinel &&
        (!terminated(r.host, sizeof r.host) || !terminated(r.path, sizeof r.path) ||
         !terminated(r.password, sizeof r.password) || r.port < 1 || r.port > 65535 || r.db < 0 ||
         (r.is_unix ? r.path[0] != '/' : r.host[0] == '\0')))
        return "redis: broken result";
    if (rc == 0) {
        char red[64];
        redis_url_redact(&r, red, sizeof red);
        if (!terminated(red, sizeof red))
            return "redact: unterminated";
    }
    err[0] = '\0';
    rc = http_url_parse(in, &h, err, sizeof err);
    if (rc == -1 ? err[0] == '\0' : rc != 0)
        return "http: bad return or empty message";
    if (rc == 0 && (!terminated(h.host, sizeof h.host) || !terminated(h.path, sizeof h.path) ||
                    !terminated(h.hostport, sizeof h.hostport) || h.path[0] != '/' ||
                    h.host[0] == '\0' || h.port < 1 || h.port > 65535))
        return "http: broken result";
    err[0] = '\0';
    rc = addr_parse(in, host, sizeof host, &port, err, sizeof err);
    if (rc == -1 ? err[0] == '\0' : rc != 0)
        return "addr: bad return or empty message";
    if (rc == 0 && (!terminated(host, sizeof host) || port < 0 || port > 65535))
        return "addr: broken result";
    return NULL;
}

/* Every prefix of valid inputs (a parser that reads past the end of a
 * truncated URL shows up here under AddressSanitizer), then random strings
 * over the characters that matter to the grammar. */
START_TEST(any_input_is_safe)
{
    static const char *const seeds[] = {
        "redis://user:pa%40ss@[fe80::1%eth0]:6380/2?db=&password=x%41",
        "unix:///tmp/r.sock?db=5&password=x",
        "redis+sentinel://u:p%41@h:1,[::1]:2,[fe80::1%eth0]/mymaster/3?db=&password=x&sentinel_password=y",
        "http://[::1]:8081/a/b?x=1#f",
        "[::1]:8080",
        "localhost:80",
    };
    for (size_t s = 0; s < sizeof seeds / sizeof seeds[0]; s++) {
        size_t n = strlen(seeds[s]);
        for (size_t len = 0; len <= n; len++) {
            char *buf = malloc(len + 1); /* exact size, so ASan sees any overread */
            ck_assert_ptr_nonnull(buf);
            memcpy(buf, seeds[s], len);
            buf[len] = '\0';
            const char *why = check_any_input(buf);
            ck_assert_msg(why == NULL, "%s on \"%s\"", why ? why : "", buf);
            free(buf);
        }
    }
    static const char alphabet[] = "redis:/unixhtp@[]%:?&=#,.0123456789abcdefAF \x01\xff";
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int iter = 0; iter < 200000; iter++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        size_t len = x % 40;
        char *buf = malloc(len + 1);
        ck_assert_ptr_nonnull(buf);
        size_t prefix = (x >> 8) % 4; /* often start with a real scheme (http:// is a seed) */
        static const char *const schemes[] = {"", "redis://", "unix://", "redis+sentinel://"};
        size_t sl = strlen(schemes[prefix]) < len ? strlen(schemes[prefix]) : len;
        memcpy(buf, schemes[prefix], sl);
        uint64_t y = x;
        for (size_t i = sl; i < len; i++) {
            y = y * 6364136223846793005ull + 1442695040888963407ull;
            buf[i] = alphabet[(y >> 33) % (sizeof alphabet - 1)];
        }
        buf[len] = '\0';
        const char *why = check_any_input(buf);
        if (why != NULL)
            ck_abort_msg("%s on \"%s\"", why, buf);
        free(buf);
    }
}
END_TEST

static Suite *url_suite(void)
{
    Suite *s = suite_create("url");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, redis_accepts);
    tcase_add_test(tc, redis_rejects);
    tcase_add_test(tc, redis_failure_hides_password);
    tcase_add_test(tc, redis_redact);
    tcase_add_test(tc, sentinel_accepts);
    tcase_add_test(tc, sentinel_rejects);
    tcase_add_test(tc, sentinel_redact);
    tcase_add_test(tc, http_accepts);
    tcase_add_test(tc, http_rejects);
    tcase_add_test(tc, addr_forms);
    tcase_add_test(tc, any_input_is_safe);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    return unit_run(url_suite());
}
