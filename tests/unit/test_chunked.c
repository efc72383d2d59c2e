/* http_chunked_parse: the decoder is fed whole, split at every byte
 * boundary, and byte by byte; each call sees an exactly sized heap copy
 * of the bytes not yet consumed, so ASan catches reads past `len`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "unit.h"

typedef struct {
    int rc;            /* last return code */
    int status;        /* on HTTP_ERROR */
    size_t consumed;   /* total bytes consumed */
    char *body;        /* concatenated data spans */
    size_t body_len;
    const char *bad;   /* a broken API promise, or NULL */
} dechunk_t;

/* Run the decoder over in[0..len): at first only `avail` bytes are
 * available; whenever it needs more, `bytewise` adds one byte, else all. */
static dechunk_t dechunk(const char *in, size_t len, size_t avail, int bytewise)
{
    dechunk_t d = {HTTP_AGAIN, 0, 0, malloc(len + 1), 0, NULL};
    http_chunked_t c;
    http_chunked_init(&c);
    size_t calls = 0;
    for (;;) {
        size_t n = avail - d.consumed;
        char *p = malloc(n ? n : 1);
        memcpy(p, in + d.consumed, n);
        size_t used = 0, data_len = 0;
        const char *data = NULL;
        d.rc = http_chunked_parse(&c, p, n, &used, &data, &data_len);
        if (used > n) {
            d.bad = "consumed more than given";
        } else if (data_len && (data < p || data + data_len > p + used)) {
            d.bad = "data span outside the consumed bytes";
        } else if (d.body_len + data_len > len) {
            d.bad = "more data than input";
        } else if (data_len) {
            memcpy(d.body + d.body_len, data, data_len);
            d.body_len += data_len;
        }
        free(p);
        d.consumed += used <= n ? used : 0;
        if (d.bad || d.rc != HTTP_AGAIN)
            break;
        if (++calls > 10 * (len + 10)) {
            d.bad = "no progress";
            break;
        }
        if (used == 0 && data_len == 0) {
            if (avail == len)
                break;
            avail = bytewise ? avail + 1 : len;
        }
    }
    if (d.rc == HTTP_ERROR)
        d.status = c.status;
    return d;
}

static const char *diff(const dechunk_t *a, const dechunk_t *b)
{
    if (a->bad || b->bad)
        return a->bad ? a->bad : b->bad;
    if (a->rc != b->rc)
        return "return code";
    if (a->rc == HTTP_ERROR)
        return a->status == b->status ? NULL : "status";
    if (a->consumed != b->consumed)
        return "consumed";
    if (a->body_len != b->body_len || memcmp(a->body, b->body, a->body_len) != 0)
        return "body";
    return NULL;
}

/* Decode whole and check that every split and byte-by-byte feeding agree. */
static dechunk_t decode_at(const char *in, size_t len, int line)
{
    dechunk_t whole = dechunk(in, len, len, 0);
    if (whole.bad)
        unit_fail(__FILE__, line, "whole input: %s", whole.bad);
    for (size_t k = 0; k < len; k++) {
        dechunk_t part = dechunk(in, len, k, 0);
        const char *d = diff(&whole, &part);
        free(part.body);
        if (d) {
            unit_fail(__FILE__, line, "split at %zu of %zu: %s differs", k, len, d);
            break;
        }
    }
    dechunk_t bytes = dechunk(in, len, 0, 1);
    const char *d = diff(&whole, &bytes);
    if (d)
        unit_fail(__FILE__, line, "byte by byte: %s differs", d);
    free(bytes.body);
    unit_checks++;
    return whole;
}

static void check_ok(const char *in, size_t len, const char *body, size_t body_len,
                     size_t consumed, int line)
{
    dechunk_t d = decode_at(in, len, line);
    unit_context("line %d", line);
    CHECK_EQ_INT(d.rc, HTTP_OK);
    CHECK_EQ_INT(d.consumed, consumed);
    CHECK_EQ_INT(d.body_len, body_len);
    CHECK(d.body_len == body_len && memcmp(d.body, body, body_len) == 0);
    unit_context("%s", "");
    free(d.body);
}

static void check_error(const char *in, size_t len, int line)
{
    dechunk_t d = decode_at(in, len, line);
    unit_context("line %d", line);
    CHECK_EQ_INT(d.rc, HTTP_ERROR);
    if (d.rc == HTTP_ERROR)
        CHECK_EQ_INT(d.status, 400);
    unit_context("%s", "");
    free(d.body);
}

#define OK(in, body) check_ok(in, strlen(in), body, strlen(body), strlen(in), __LINE__)
#define ERR(in) check_error(in, strlen(in), __LINE__)

TEST(chunked_normal)
{
    OK("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n", "hello world");
    OK("0\r\n\r\n", "");
    OK("1\r\nx\r\n0\r\n\r\n", "x");
    OK("a\r\n0123456789\r\nA\r\nabcdefghij\r\n0\r\n\r\n", "0123456789abcdefghij");
    OK("1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n", "0123456789012345678901234567890");
    OK("0005\r\nhello\r\n000\r\n\r\n", "hello");
}

TEST(chunked_data_looks_like_framing)
{
    /* Chunk data is opaque: CRLFs and "0\r\n\r\n" inside it are data. */
    OK("7\r\n0\r\n\r\nab\r\n2\r\n\r\n\r\n0\r\n\r\n", "0\r\n\r\nab\r\n");
    check_ok("3\r\na\0b\r\n0\r\n\r\n", 13, "a\0b", 3, 13, __LINE__);
}

TEST(chunked_extensions)
{
    OK("5;name=value\r\nhello\r\n0\r\n\r\n", "hello");
    OK("5;a\r\nhello\r\n0;last=1\r\n\r\n", "hello");
    OK("5;a=1;b=\"x y\"\r\nhello\r\n0\r\n\r\n", "hello");
}

TEST(chunked_trailers)
{
    OK("5\r\nhello\r\n0\r\nX-Checksum: abc\r\n\r\n", "hello");
    OK("5\r\nhello\r\n0\r\nX-A: 1\r\nX-B: 2\r\n\r\n", "hello");
    OK("0\r\nX-Empty:\r\n\r\n", "");
    /* trailer lines must be field lines: a request line there is an attack */
    ERR("0\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n");
    ERR("0\r\n: no name\r\n\r\n");
    ERR("0\r\n folded\r\n\r\n");
    ERR("0\r\nX-A: a\x01b\r\n\r\n");
}

TEST(chunked_bare_lf)
{
    /* RFC 9112 7.1: chunk lines end in CRLF; the bare-LF leniency of 2.2
     * covers the start line and header fields only, and a parser that
     * differs here is a smuggling vector */
    ERR("5\nhello\r\n0\r\n\r\n");
    ERR("5\r\nhello\n0\r\n\r\n");
    ERR("5;ext\nhello\r\n0\r\n\r\n");
    ERR("5\r\nhello\r\n0\n\r\n");
    ERR("5\r\nhello\r\n0\r\nX-A: 1\n\r\n");
    ERR("5\r\nhello\r\n0\r\n\n");
}

TEST(chunked_stops_at_end)
{
    /* Bytes after the last chunk (a pipelined request) are not consumed. */
    const char *s = "5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n";
    size_t framing = strlen("5\r\nhello\r\n0\r\n\r\n");
    check_ok(s, strlen(s), "hello", 5, framing, __LINE__);
    s = "0\r\nT: 1\r\n\r\n0\r\n\r\n";
    check_ok(s, strlen(s), "", 0, strlen("0\r\nT: 1\r\n\r\n"), __LINE__);
}

TEST(chunked_large_chunk)
{
    size_t n = 70000, len = 0;
    char *s = malloc(n + 64);
    char *body = malloc(n);
    for (size_t i = 0; i < n; i++)
        body[i] = (char)('a' + i % 26);
    len += (size_t)sprintf(s, "%zx\r\n", n);
    memcpy(s + len, body, n);
    len += n;
    len += (size_t)sprintf(s + len, "\r\n0\r\n\r\n");
    /* Every split of 70 KB is 70 K decodes: check a few by hand instead. */
    size_t splits[] = {0, 1, 3, 5, 6, 7, 100, n / 2, n + 6, n + 7, n + 8, len - 1};
    dechunk_t whole = dechunk(s, len, len, 0);
    CHECK(whole.bad == NULL);
    CHECK_EQ_INT(whole.rc, HTTP_OK);
    CHECK_EQ_INT(whole.consumed, len);
    CHECK(whole.body_len == n && memcmp(whole.body, body, n) == 0);
    for (size_t i = 0; i < sizeof splits / sizeof splits[0]; i++) {
        dechunk_t part = dechunk(s, len, splits[i], 0);
        unit_context("split at %zu", splits[i]);
        CHECK(diff(&whole, &part) == NULL);
        free(part.body);
    }
    free(whole.body);
    free(body);
    free(s);
}

TEST(chunked_incomplete_is_again)
{
    static const char *const prefixes[] = {
        "", "5", "5\r", "5\r\n", "5\r\nhel", "5\r\nhello", "5\r\nhello\r", "5\r\nhello\r\n",
        "5\r\nhello\r\n0", "5\r\nhello\r\n0\r\n", "5\r\nhello\r\n0\r\n\r", "0\r\nX-A: 1\r\n",
        "5;ext", "5;ext=\"a b\"\r",
    };
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        dechunk_t d = dechunk(prefixes[i], strlen(prefixes[i]), strlen(prefixes[i]), 0);
        unit_context("\"%s\"", prefixes[i]);
        CHECK(d.bad == NULL);
        CHECK_EQ_INT(d.rc, HTTP_AGAIN);
        free(d.body);
    }
}

TEST(chunked_bad_framing)
{
    /* chunk size overflow */
    ERR("FFFFFFFFFFFFFFFFF\r\n");
    ERR("10000000000000000\r\nx");
    ERR("100000000000000000000000000000000\r\n");
    /* no CRLF after the chunk data */
    ERR("5\r\nhelloX\r\n0\r\n\r\n");
    ERR("5\r\nhelloworld\r\n0\r\n\r\n");
    ERR("5\r\nhello0\r\n\r\n");
    ERR("5\r\nhello\rX0\r\n\r\n");
    /* bad size lines */
    ERR("\r\n");
    ERR("\r\n5\r\nhello\r\n0\r\n\r\n");
    ERR("g\r\nhello\r\n0\r\n\r\n");
    ERR("-5\r\nhello\r\n0\r\n\r\n");
    ERR("0x5\r\nhello\r\n0\r\n\r\n");
    ERR("5\rhello\r\n0\r\n\r\n");
    ERR(";ext\r\nhello\r\n0\r\n\r\n");
}
