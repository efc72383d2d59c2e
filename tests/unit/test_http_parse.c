/* http_parse_head: every input is also fed split at every byte boundary
 * (a prefix, then the whole), and byte by byte, from exactly sized heap
 * copies at different addresses, and must give the same result. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "unit.h"

/* Inputs longer than this are split at sampled boundaries only (every
 * boundary of a 32 KiB head is 32768 parses of up to 32 KiB each). */
#define SPLIT_ALL_MAX 4096

#define CHECK_SPAN(data, sp, expected) CHECK_EQ_MEM((data) + (sp).off, (sp).len, expected)

static char *copy(const char *data, size_t len)
{
    char *p = malloc(len ? len : 1);
    memcpy(p, data, len);
    return p;
}

static int same_span(http_span_t a, http_span_t b)
{
    return a.off == b.off && a.len == b.len;
}

/* Compare the results that matter after a parse; returns the name of the
 * first differing field, or NULL. */
static const char *diff_result(int rca, const http_request_t *a, int rcb, const http_request_t *b)
{
    if (rca != rcb)
        return "return code";
    if (rca == HTTP_ERROR)
        return a->status == b->status ? NULL : "status";
    if (rca != HTTP_OK)
        return NULL;
    if (a->head_len != b->head_len)
        return "head_len";
    if (a->method != b->method)
        return "method";
    if (!same_span(a->method_name, b->method_name))
        return "method_name";
    if (!same_span(a->target, b->target))
        return "target";
    if (!same_span(a->path, b->path))
        return "path";
    if (a->query.len != b->query.len || (a->query.len && a->query.off != b->query.off))
        return "query";
    if (a->host.len != b->host.len || (a->host.len && a->host.off != b->host.off))
        return "host";
    if (a->version_major != b->version_major || a->version_minor != b->version_minor)
        return "version";
    if (a->content_length != b->content_length)
        return "content_length";
    if (a->chunked != b->chunked || a->keep_alive != b->keep_alive ||
        a->expect_continue != b->expect_continue || a->absolute_target != b->absolute_target)
        return "flags";
    if (a->nheaders != b->nheaders)
        return "nheaders";
    for (size_t i = 0; i < a->nheaders; i++)
        if (!same_span(a->headers[i].name, b->headers[i].name) ||
            !same_span(a->headers[i].value, b->headers[i].value))
            return "headers";
    return NULL;
}

static int parse_once(http_request_t *r, const char *data, size_t len)
{
    char *p = copy(data, len);
    http_request_init(r);
    int rc = http_parse_head(r, p, len);
    free(p);
    return rc;
}

/* Prefix data[0..k) from one buffer, then the whole from another. */
static int parse_split(http_request_t *r, const char *data, size_t len, size_t k)
{
    char *p = copy(data, k);
    http_request_init(r);
    int rc = http_parse_head(r, p, k);
    free(p);
    if (rc != HTTP_AGAIN)
        return rc;
    p = copy(data, len);
    rc = http_parse_head(r, p, len);
    free(p);
    return rc;
}

/* One more byte per call, each time from a fresh buffer. */
static int parse_bytewise(http_request_t *r, const char *data, size_t len)
{
    int rc = HTTP_AGAIN;
    http_request_init(r);
    for (size_t k = 0; k <= len && rc == HTTP_AGAIN; k++) {
        char *p = copy(data, k);
        rc = http_parse_head(r, p, k);
        free(p);
    }
    return rc;
}

static void check_splits(const http_request_t *full, int rc, const char *data, size_t len, int line)
{
    http_request_t *r = malloc(sizeof *r);
    size_t step = len <= SPLIT_ALL_MAX ? 1 : 97;
    for (size_t k = 0; k < len; k += step) {
        int rck = parse_split(r, data, len, k);
        const char *d = diff_result(rc, full, rck, r);
        if (d) {
            unit_fail(__FILE__, line, "split at %zu of %zu: %s differs (rc %d/%d, status %d/%d)",
                      k, len, d, rck, rc, r->status, full->status);
            break;
        }
    }
    if (len > SPLIT_ALL_MAX) {
        /* The last few boundaries, where the end of the head is found. */
        for (size_t k = len - 8; k < len; k++) {
            int rck = parse_split(r, data, len, k);
            const char *d = diff_result(rc, full, rck, r);
            if (d) {
                unit_fail(__FILE__, line, "split at %zu of %zu: %s differs", k, len, d);
                break;
            }
        }
    } else {
        int rcb = parse_bytewise(r, data, len);
        const char *d = diff_result(rc, full, rcb, r);
        if (d)
            unit_fail(__FILE__, line, "byte by byte: %s differs (rc %d/%d, status %d/%d)", d,
                      rcb, rc, r->status, full->status);
    }
    unit_checks++;
    free(r);
}

/* Parse data whole (result in *r) and check every split gives the same. */
static int parse_at(http_request_t *r, const char *data, size_t len, int line)
{
    int rc = parse_once(r, data, len);
    check_splits(r, rc, data, len, line);
    return rc;
}

#define PARSE(r, s) parse_at(r, s, strlen(s), __LINE__)

static http_request_t *req_new(void)
{
    return malloc(sizeof(http_request_t));
}

/* ---- good requests ---------------------------------------------------- */

TEST(http_simple_get)
{
    http_request_t *r = req_new();
    const char *s = "GET /index.html HTTP/1.1\r\nHost: example.com\r\nUser-Agent: t\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    CHECK_EQ_INT(r->method, HTTP_GET);
    CHECK_SPAN(s, r->method_name, "GET");
    CHECK_SPAN(s, r->target, "/index.html");
    CHECK_SPAN(s, r->path, "/index.html");
    CHECK_EQ_INT(r->query.len, 0);
    CHECK_SPAN(s, r->host, "example.com");
    CHECK_EQ_INT(r->version_major, 1);
    CHECK_EQ_INT(r->version_minor, 1);
    CHECK_EQ_INT(r->content_length, -1);
    CHECK_EQ_INT(r->chunked, 0);
    CHECK_EQ_INT(r->keep_alive, 1);
    CHECK_EQ_INT(r->expect_continue, 0);
    CHECK_EQ_INT(r->absolute_target, 0);
    CHECK_EQ_INT(r->nheaders, 2);
    CHECK_SPAN(s, r->headers[0].name, "Host");
    CHECK_SPAN(s, r->headers[0].value, "example.com");
    CHECK_SPAN(s, r->headers[1].name, "User-Agent");
    CHECK_SPAN(s, r->headers[1].value, "t");
    free(r);
}

TEST(http_all_methods)
{
    static const struct {
        const char *name;
        int method;
    } m[] = {
        {"GET", HTTP_GET}, {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST},
        {"PUT", HTTP_PUT}, {"DELETE", HTTP_DELETE},
    };
    http_request_t *r = req_new();
    for (size_t i = 0; i < sizeof m / sizeof m[0]; i++) {
        char s[128];
        snprintf(s, sizeof s, "%s /x HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n", m[i].name);
        unit_context("method %s", m[i].name);
        CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
        CHECK_EQ_INT(r->method, m[i].method);
        CHECK_SPAN(s, r->method_name, m[i].name);
        CHECK_EQ_STR(http_method_name(m[i].method), m[i].name);
        CHECK_EQ_INT(http_method_from((str_t){m[i].name, strlen(m[i].name)}), m[i].method);
    }
    CHECK_EQ_INT(http_method_from(STR_LIT("get")), HTTP_METHOD_UNKNOWN);
    CHECK_EQ_INT(http_method_from(STR_LIT("PATCH")), HTTP_METHOD_UNKNOWN);
    CHECK_EQ_INT(http_method_from(STR_LIT("GETX")), HTTP_METHOD_UNKNOWN);
    CHECK_EQ_INT(http_method_from(STR_LIT("GE")), HTTP_METHOD_UNKNOWN);
    free(r);
}

TEST(http_path_and_query)
{
    http_request_t *r = req_new();
    const char *s = "GET /a%20b/c?x=1&y=%41?z HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->target, "/a%20b/c?x=1&y=%41?z");
    CHECK_SPAN(s, r->path, "/a%20b/c");
    CHECK_SPAN(s, r->query, "x=1&y=%41?z");

    s = "GET /a? HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->path, "/a");
    CHECK_EQ_INT(r->query.len, 0);

    s = "GET /?q HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->path, "/");
    CHECK_SPAN(s, r->query, "q");

    s = "GET / HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->path, "/");
    CHECK_EQ_INT(r->query.len, 0);
    free(r);
}

TEST(http_versions)
{
    http_request_t *r = req_new();
    const char *s = "GET / HTTP/1.0\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->version_major, 1);
    CHECK_EQ_INT(r->version_minor, 0);
    CHECK_EQ_INT(r->host.len, 0);
    CHECK_EQ_INT(r->keep_alive, 0);
    CHECK_EQ_INT(r->head_len, strlen(s));

    s = "GET / HTTP/1.2\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->version_major, 1);
    CHECK_EQ_INT(r->version_minor, 1);

    s = "GET / HTTP/1.9\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->version_major, 1);
    CHECK_EQ_INT(r->version_minor, 1);
    free(r);
}

TEST(http_empty_lines_before_request_line)
{
    http_request_t *r = req_new();
    const char *s = "\r\n\r\nGET /e HTTP/1.1\r\nHost: h\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    CHECK_SPAN(s, r->path, "/e");
    CHECK_SPAN(s, r->method_name, "GET");
    CHECK_SPAN(s, r->host, "h");

    s = "\n\r\n\nGET /e HTTP/1.1\nHost: h\n\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    CHECK_SPAN(s, r->path, "/e");

    /* Only empty lines so far: more is needed, nothing is wrong. */
    CHECK_EQ_INT(parse_once(r, "\r\n\r\n", 4), HTTP_AGAIN);
    free(r);
}

TEST(http_bare_lf_line_ends)
{
    http_request_t *r = req_new();
    const char *s = "GET /lf HTTP/1.1\nHost: h\nX-A: 1\n\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    CHECK_SPAN(s, r->path, "/lf");
    CHECK_SPAN(s, r->host, "h");
    CHECK_EQ_INT(r->nheaders, 2);
    CHECK_SPAN(s, r->headers[1].value, "1");

    s = "GET /mix HTTP/1.1\r\nHost: h\nX-A: 1\r\n\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    CHECK_SPAN(s, r->headers[1].value, "1");

    s = "GET /mix HTTP/1.1\nHost: h\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s));
    free(r);
}

TEST(http_header_values_trimmed)
{
    http_request_t *r = req_new();
    const char *s = "GET / HTTP/1.1\r\nHost:h\r\nX-Sp:   v w  \r\nX-Tab:\tt\t\r\n"
                    "X-Empty:\r\nX-Blank:   \r\nX-Hi: caf\xc3\xa9\xff\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->nheaders, 6);
    CHECK_SPAN(s, r->host, "h");
    CHECK_SPAN(s, r->headers[1].name, "X-Sp");
    CHECK_SPAN(s, r->headers[1].value, "v w");
    CHECK_SPAN(s, r->headers[2].value, "t");
    CHECK_EQ_INT(r->headers[3].value.len, 0);
    CHECK_EQ_INT(r->headers[4].value.len, 0);
    CHECK_SPAN(s, r->headers[5].value, "caf\xc3\xa9\xff");

    str_t v = http_header_get(r, s, "x-sp");
    CHECK_EQ_MEM(v.ptr, v.len, "v w");
    v = http_header_get(r, s, "X-TAB");
    CHECK_EQ_MEM(v.ptr, v.len, "t");
    v = http_header_get(r, s, "X-Missing");
    CHECK(v.ptr == NULL);
    CHECK_EQ_INT(v.len, 0);
    v = http_header_get(r, s, "X-Empty");
    CHECK(v.ptr != NULL);
    CHECK_EQ_INT(v.len, 0);
    free(r);
}

TEST(http_header_get_first_of_repeated)
{
    http_request_t *r = req_new();
    const char *s = "GET / HTTP/1.1\r\nHost: h\r\nAccept: a\r\naccept: b\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    str_t v = http_header_get(r, s, "Accept");
    CHECK_EQ_MEM(v.ptr, v.len, "a");
    free(r);
}

TEST(http_host)
{
    http_request_t *r = req_new();
    const char *s = "GET / HTTP/1.1\r\nHost: Example.COM:8080\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "Example.COM");

    s = "GET / HTTP/1.1\r\nhOsT: a.b\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "a.b");

    s = "GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "[::1]");

    s = "GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "[::1]");

    s = "GET / HTTP/1.0\r\nHost: old.example\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "old.example");
    free(r);
}

TEST(http_absolute_form_host_beats_host_header)
{
    http_request_t *r = req_new();
    const char *s = "GET http://Abs.Example:8080/a/b?q=1 HTTP/1.1\r\nHost: other.org\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->absolute_target, 1);
    CHECK_SPAN(s, r->target, "http://Abs.Example:8080/a/b?q=1");
    CHECK_SPAN(s, r->host, "Abs.Example");
    CHECK_SPAN(s, r->path, "/a/b");
    CHECK_SPAN(s, r->query, "q=1");

    s = "GET http://abs.example/x HTTP/1.1\r\nHost: other.org\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "abs.example");
    CHECK_SPAN(s, r->path, "/x");
    CHECK_EQ_INT(r->query.len, 0);

    /* The Host header may come first; the target still wins. */
    s = "GET HTTP://abs.example/y HTTP/1.1\r\nHost: other.org:81\r\nX: 1\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "abs.example");
    CHECK_SPAN(s, r->path, "/y");

    /* No path at all: accepted with an empty path span (the router must
     * read it as "/", RFC 9112 3.2.2). */
    s = "GET http://abs.example HTTP/1.1\r\nHost: other.org\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "abs.example");
    CHECK_EQ_INT(r->path.len, 0);
    CHECK_EQ_INT(r->query.len, 0);

    s = "GET https://secure.example/z HTTP/1.1\r\nHost: other.org\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_SPAN(s, r->host, "secure.example");
    CHECK_SPAN(s, r->path, "/z");
    free(r);
}

TEST(http_content_length)
{
    http_request_t *r = req_new();
    const char *s = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 5);
    CHECK_EQ_INT(r->head_len, strlen(s) - 5);
    CHECK_EQ_INT(r->chunked, 0);

    s = "POST /u HTTP/1.1\r\nHost: h\r\ncontent-length:0\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 0);

    s = "POST /u HTTP/1.1\r\nHost: h\r\nContent-Length:   42  \r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 42);

    s = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 1099511627776\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 1099511627776LL);

    s = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 007\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 7);

    s = "POST /u HTTP/1.0\r\nContent-Length: 3\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 3);
    free(r);
}

/* Every value an int64_t holds is a valid Content-Length (RFC 9112 6.3:
 * 1*DIGIT); only values past INT64_MAX are an overflow. */
TEST(http_content_length_19_digits)
{
    http_request_t *r = req_new();
    const char *s = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 1000000000000000000\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 1000000000000000000LL);
    s = "PUT /u HTTP/1.1\r\nHost: h\r\nContent-Length: 9223372036854775807\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 9223372036854775807LL);
    free(r);
}

TEST(http_transfer_encoding_chunked)
{
    http_request_t *r = req_new();
    const char *s = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->chunked, 1);
    CHECK_EQ_INT(r->content_length, -1);

    s = "POST /u HTTP/1.1\r\nHost: h\r\ntransfer-encoding: Chunked\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->chunked, 1);

    s = "POST /u HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: CHUNKED \r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->chunked, 1);
    free(r);
}

TEST(http_keep_alive)
{
    static const struct {
        const char *req;
        int keep_alive;
    } t[] = {
        {"GET / HTTP/1.1\r\nHost: h\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", 0},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.1\r\nHost: h\r\nConnection: TE, close\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\n\r\n", 0},
        {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 1},
        {"GET / HTTP/1.0\r\nConnection: close\r\n\r\n", 0},
        {"GET / HTTP/1.2\r\nHost: h\r\n\r\n", 1},
    };
    http_request_t *r = req_new();
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        unit_context("%zu: %s", i, t[i].req);
        CHECK_EQ_INT(parse_at(r, t[i].req, strlen(t[i].req), __LINE__), HTTP_OK);
        CHECK_EQ_INT(r->keep_alive, t[i].keep_alive);
    }
    free(r);
}

TEST(http_expect_continue)
{
    http_request_t *r = req_new();
    const char *s = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->expect_continue, 1);

    s = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\nexpect: 100-Continue\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->expect_continue, 1);

    s = "PUT /f HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->expect_continue, 0);
    free(r);
}

/* RFC 9110 10.1.1: a 100-continue expectation in an HTTP/1.0 request MUST
 * be ignored. */
TEST(http_expect_continue_ignored_in_http10)
{
    http_request_t *r = req_new();
    const char *s = "PUT /f HTTP/1.0\r\nContent-Length: 9\r\nExpect: 100-continue\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->expect_continue, 0);
    free(r);
}

TEST(http_pipelined)
{
    http_request_t *r = req_new();
    const char *s = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b?2 HTTP/1.1\r\nHost: y\r\nConnection: close\r\n\r\n";
    size_t first = strlen("GET /a HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->head_len, first);
    CHECK_SPAN(s, r->path, "/a");
    CHECK_SPAN(s, r->host, "x");
    CHECK_EQ_INT(r->keep_alive, 1);

    const char *s2 = s + r->head_len;
    CHECK_EQ_INT(PARSE(r, s2), HTTP_OK);
    CHECK_EQ_INT(r->head_len, strlen(s2));
    CHECK_SPAN(s2, r->path, "/b");
    CHECK_SPAN(s2, r->query, "2");
    CHECK_SPAN(s2, r->host, "y");
    CHECK_EQ_INT(r->keep_alive, 0);
    free(r);
}

TEST(http_pipelined_with_body)
{
    http_request_t *r = req_new();
    const char *s = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
                    "DELETE /b HTTP/1.1\r\nHost: y\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, 5);
    CHECK_EQ_MEM(s + r->head_len, 5, "hello");
    const char *s2 = s + r->head_len + 5;
    CHECK_EQ_INT(PARSE(r, s2), HTTP_OK);
    CHECK_EQ_INT(r->method, HTTP_DELETE);
    CHECK_SPAN(s2, r->path, "/b");
    CHECK_EQ_INT(r->content_length, -1);
    free(r);
}

/* A request object reused after http_request_init carries nothing over. */
TEST(http_request_init_resets)
{
    http_request_t *r = req_new();
    const char *s = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                    "Connection: close\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    s = "GET /b HTTP/1.1\r\nHost: y\r\n\r\n";
    CHECK_EQ_INT(PARSE(r, s), HTTP_OK);
    CHECK_EQ_INT(r->content_length, -1);
    CHECK_EQ_INT(r->expect_continue, 0);
    CHECK_EQ_INT(r->keep_alive, 1);
    CHECK_EQ_INT(r->nheaders, 1);
    free(r);
}

TEST(http_incomplete_is_again)
{
    static const char *const prefixes[] = {
        "", "G", "GET", "GET ", "GET /", "GET / ", "GET / HTTP/1", "GET / HTTP/1.1",
        "GET / HTTP/1.1\r", "GET / HTTP/1.1\r\n", "GET / HTTP/1.1\r\nHost", "GET / HTTP/1.1\r\nHost: h",
        "GET / HTTP/1.1\r\nHost: h\r\n", "GET / HTTP/1.1\r\nHost: h\r\n\r",
    };
    http_request_t *r = req_new();
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        unit_context("\"%s\"", prefixes[i]);
        CHECK_EQ_INT(parse_once(r, prefixes[i], strlen(prefixes[i])), HTTP_AGAIN);
    }
    free(r);
}

/* ---- limits ----------------------------------------------------------- */

/* "GET /aaa...a HTTP/1.1\r\nHost: h\r\n\r\n" with a target of tlen bytes. */
static char *long_target(size_t tlen, int complete, size_t *len)
{
    char *s = malloc(tlen + 64);
    memcpy(s, "GET /", 5);
    memset(s + 5, 'a', tlen - 1);
    size_t n = 4 + tlen;
    if (complete) {
        memcpy(s + n, " HTTP/1.1\r\nHost: h\r\n\r\n", 22);
        n += 22;
    }
    *len = n;
    return s;
}

TEST(http_uri_limit)
{
    http_request_t *r = req_new();
    size_t len;
    char *s = long_target(HTTP_MAX_URI, 1, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_OK);
    CHECK_EQ_INT(r->target.len, HTTP_MAX_URI);
    free(s);

    s = long_target(HTTP_MAX_URI + 1, 1, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 414);
    free(s);

    /* Known as soon as the target passes the limit, line end or not. */
    s = long_target(HTTP_MAX_URI + 100, 0, &len);
    CHECK_EQ_INT(parse_once(r, s, len), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 414);
    free(s);
    free(r);
}

/* A request whose head is exactly `total` bytes (with CRLF line ends),
 * padded by one large header; `complete` 0 leaves off the blank line. */
static char *sized_head(size_t total, int complete, size_t *len)
{
    const char *pre = "GET / HTTP/1.1\r\nHost: h\r\nX-Pad: ";
    size_t plen = strlen(pre);
    char *s = malloc(total + 1);
    memcpy(s, pre, plen);
    size_t pad = total - plen - 4;
    memset(s + plen, 'p', pad);
    memcpy(s + plen + pad, "\r\n\r\n", 4);
    *len = complete ? total : total - 2;
    return s;
}

TEST(http_head_limit)
{
    http_request_t *r = req_new();
    size_t len;
    char *s = sized_head(HTTP_MAX_HEAD, 1, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_OK);
    CHECK_EQ_INT(r->head_len, HTTP_MAX_HEAD);
    free(s);

    s = sized_head(HTTP_MAX_HEAD + 1, 1, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 431);
    free(s);

    /* A head that never ends is stopped at the limit, not buffered on. */
    s = sized_head(HTTP_MAX_HEAD + 5000, 0, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 431);
    free(s);

    /* Many normal headers adding up past the limit. */
    size_t cap = HTTP_MAX_HEAD + 4096, n = 0;
    s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 0; i < 100; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-Long-%03d: %0340d\r\n", i, 0);
    n += (size_t)snprintf(s + n, cap - n, "\r\n");
    CHECK(n > HTTP_MAX_HEAD);
    CHECK_EQ_INT(parse_at(r, s, n, __LINE__), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 431);
    free(s);
    free(r);
}

static char *many_headers(int count, size_t *len)
{
    size_t cap = 64 + (size_t)count * 32, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "GET / HTTP/1.1\r\nHost: h\r\n");
    for (int i = 1; i < count; i++)
        n += (size_t)snprintf(s + n, cap - n, "X-%d: %d\r\n", i, i);
    n += (size_t)snprintf(s + n, cap - n, "\r\n");
    *len = n;
    return s;
}

TEST(http_header_count_limit)
{
    http_request_t *r = req_new();
    size_t len;
    char *s = many_headers(HTTP_MAX_HEADERS, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_OK);
    CHECK_EQ_INT(r->nheaders, HTTP_MAX_HEADERS);
    CHECK_SPAN(s, r->headers[HTTP_MAX_HEADERS - 1].name, "X-127");
    free(s);

    s = many_headers(HTTP_MAX_HEADERS + 1, &len);
    CHECK_EQ_INT(parse_at(r, s, len, __LINE__), HTTP_ERROR);
    CHECK_EQ_INT(r->status, 431);
    free(s);
    free(r);
}

/* ---- bad input -------------------------------------------------------- */

typedef struct {
    const char *req;
    int status;
    int line;
} bad_t;

#define BAD(req, status) {req, status, __LINE__}
#define H11 " HTTP/1.1\r\nHost: h\r\n"

static const bad_t bad_inputs[] = {
    /* request line */
    BAD("GET /\r\nHost: h\r\n\r\n", 400),
    BAD("GET\r\nHost: h\r\n\r\n", 400),
    BAD("GET \r\nHost: h\r\n\r\n", 400),
    BAD(" GET / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD(" / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1.1 x\r\nHost: h\r\n\r\n", 400),
    BAD("GET /a b HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("G(T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GE:T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET foo HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET /\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1.x\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTPS/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET / http/1.1\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1.1x\r\nHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1..1\r\nHost: h\r\n\r\n", 400),
    /* versions */
    BAD("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
    BAD("GET / HTTP/3.0\r\nHost: h\r\n\r\n", 505),
    BAD("GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505),
    /* methods: valid tokens we do not implement */
    BAD("PATCH /" H11 "\r\n", 501),
    BAD("BREW /" H11 "\r\n", 501),
    BAD("get /" H11 "\r\n", 501),
    BAD("OPTIONS /" H11 "\r\n", 501),
    BAD("GETS /" H11 "\r\n", 501),
    /* line ends */
    BAD("GET / HTTP/1.1\rHost: h\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: h\rX: 1\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: h\r\n\r\r\n", 400),
    BAD("GET /\r HTTP/1.1\r\nHost: h\r\n\r\n", 400),
    /* header lines */
    BAD("GET /" H11 "NoColon\r\n\r\n", 400),
    BAD("GET /" H11 ": no-name\r\n\r\n", 400),
    BAD("GET /" H11 "X-A : b\r\n\r\n", 400),
    BAD("GET /" H11 "X-A\t: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),
    BAD("GET /" H11 "X A: b\r\n\r\n", 400),
    BAD("GET /" H11 "X(A): b\r\n\r\n", 400),
    BAD("GET /" H11 "X-A: a\r\n folded\r\n\r\n", 400),
    BAD("GET /" H11 "X-A: a\r\n\tfolded\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400),
    BAD("GET /" H11 "X-A: a\x01b\r\n\r\n", 400),
    BAD("GET /" H11 "X-A: \x1f\r\n\r\n", 400),
    BAD("GET /" H11 "X-A: a\x7f\r\n\r\n", 400),
    /* Host */
    BAD("GET / HTTP/1.1\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nX-Host: h\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
    BAD("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n", 400),
    /* Content-Length */
    BAD("POST /" H11 "Content-Length: 5\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 5\r\nContent-Length: 6\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 5, 5\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: +5\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: -1\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: \r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 1 2\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 5a\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 0x5\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 99999999999999999999\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 9223372036854775808\r\n\r\n", 400),
    BAD("POST /" H11 "Content-Length: 18446744073709551621\r\n\r\n", 400),
    /* Transfer-Encoding */
    BAD("POST /" H11 "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("POST /" H11 "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n", 400),
    BAD("POST /" H11 "Transfer-Encoding: gzip\r\n\r\n", 501),
    BAD("POST /" H11 "Transfer-Encoding: chunked, gzip\r\n\r\n", 501),
    BAD("POST /" H11 "Transfer-Encoding: identity\r\n\r\n", 501),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
    BAD("POST / HTTP/1.0\r\nTransfer-Encoding: gzip\r\n\r\n", 400),
};

TEST(http_bad_input_statuses)
{
    http_request_t *r = req_new();
    for (size_t i = 0; i < sizeof bad_inputs / sizeof bad_inputs[0]; i++) {
        const bad_t *b = &bad_inputs[i];
        size_t len = strlen(b->req);
        int rc = parse_once(r, b->req, len);
        if (rc != HTTP_ERROR || r->status != b->status) {
            unit_fail(__FILE__, b->line, "got rc %d status %d, expected HTTP_ERROR %d", rc,
                      rc == HTTP_ERROR ? r->status : 0, b->status);
        }
        unit_checks++;
        check_splits(r, rc, b->req, len, b->line);
    }
    free(r);
}

/* Control bytes are rejected, HT and obs-text (>= 0x80) are not. */
TEST(http_value_bytes)
{
    http_request_t *r = req_new();
    for (int c = 0; c < 256; c++) {
        char s[64];
        int n = snprintf(s, sizeof s, "GET / HTTP/1.1\r\nHost: h\r\nX-A: a");
        s[n++] = (char)c;
        n += snprintf(s + n, sizeof s - (size_t)n, "b\r\n\r\n");
        int ok = c == '\t' || (c >= 0x20 && c != 0x7f);
        unit_context("byte 0x%02x in a header value", c);
        int rc = parse_once(r, s, (size_t)n);
        if (c == '\n') {
            CHECK_EQ_INT(rc, HTTP_ERROR);  /* "b" is then a line without a colon */
            continue;
        }
        CHECK_EQ_INT(rc, ok ? HTTP_OK : HTTP_ERROR);
        if (rc == HTTP_ERROR)
            CHECK_EQ_INT(r->status, 400);
    }
    free(r);
}
