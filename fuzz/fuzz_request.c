/* libFuzzer harness: the request-head parser and the chunked decoder, fed
 * the way src/h1.c feeds them.
 *
 * Input: two control bytes, then the byte stream of a connection. Each
 * request head is parsed three ways that must agree: whole, split at a
 * point chosen by the first control byte (the prefix arrives first, as an
 * exactly sized heap copy, so ASan catches a read past it; then the whole,
 * elsewhere in memory, as when the input buffer grows), and one byte at a
 * time. After a complete head its body is skipped (Content-Length) or
 * decoded (chunked, whole and split at a point chosen by the second
 * control byte, which must agree), and the bytes after it are the next
 * pipelined request, until an error, a request that closes the connection
 * or the end of the input. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http_parse.h"

#define MAX_PIPELINED 64

static bool span_in(http_span_t s, size_t limit) { return (uint64_t)s.off + s.len <= limit; }

static bool span_within(http_span_t inner, http_span_t outer)
{
    return inner.off >= outer.off && (uint64_t)inner.off + inner.len <= (uint64_t)outer.off + outer.len;
}

static bool is_tchar(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* What a finished head promises about itself and the bytes it came from. */
static void check_head(const http_request_t *r, const char *d, size_t n)
{
    size_t hl = r->head_len;
    FUZZ_CHECK(hl > 0 && hl <= n);
    FUZZ_CHECK(d[hl - 1] == '\n');
    FUZZ_CHECK(r->pos == hl);
    FUZZ_CHECK(hl - r->skipped <= HTTP_MAX_HEAD);
    FUZZ_CHECK(r->method != HTTP_METHOD_UNKNOWN);
    FUZZ_CHECK(span_in(r->method_name, hl) && r->method_name.len > 0);
    FUZZ_CHECK(r->method == http_method_from(http_span_str(d, r->method_name)));
    FUZZ_CHECK(strcmp(http_method_name(r->method), "?") != 0);
    FUZZ_CHECK(span_in(r->target, hl) && r->target.len > 0 && r->target.len <= HTTP_MAX_URI);
    for (size_t i = 0; i < r->target.len; i++) {
        unsigned char c = (unsigned char)d[r->target.off + i];
        FUZZ_CHECK(c > 0x20 && c != 0x7f);
    }
    FUZZ_CHECK(span_within(r->path, r->target) && span_within(r->query, r->target));
    FUZZ_CHECK(r->path.len == 0 || d[r->path.off] == '/');
    FUZZ_CHECK(memchr(d + r->path.off, '?', r->path.len) == NULL);
    FUZZ_CHECK(span_in(r->host, hl));
    FUZZ_CHECK(!r->absolute_target || r->host.len > 0);
    FUZZ_CHECK(r->version_major == 1 && (r->version_minor == 0 || r->version_minor == 1));
    FUZZ_CHECK(r->version_minor == 0 || r->host.len > 0);  /* HTTP/1.1 needs a Host */
    FUZZ_CHECK(r->content_length >= -1);
    FUZZ_CHECK(!r->chunked || (r->content_length == -1 && r->version_minor == 1));
    FUZZ_CHECK(r->nheaders <= HTTP_MAX_HEADERS);
    for (size_t i = 0; i < r->nheaders; i++) {
        http_span_t name = r->headers[i].name, value = r->headers[i].value;
        FUZZ_CHECK(span_in(name, hl) && span_in(value, hl) && name.len > 0);
        FUZZ_CHECK(name.off + name.len <= value.off);
        for (size_t k = 0; k < name.len; k++)
            FUZZ_CHECK(is_tchar((unsigned char)d[name.off + k]));
        for (size_t k = 0; k < value.len; k++) {
            unsigned char c = (unsigned char)d[value.off + k];
            FUZZ_CHECK(c >= 0x20 ? c != 0x7f : c == '\t');
        }
        if (value.len) {
            FUZZ_CHECK(d[value.off] != ' ' && d[value.off] != '\t');
            FUZZ_CHECK(d[value.off + value.len - 1] != ' ' && d[value.off + value.len - 1] != '\t');
        }
    }
    for (int k = 0; k < HTTP_H_COUNT; k++) {
        FUZZ_CHECK(r->known[k] <= r->nheaders);
        str_t v = http_header(r, d, k);
        FUZZ_CHECK(!r->known[k] || (v.ptr >= d && v.ptr + v.len <= d + hl));
    }
    static const char *const names[] = {"host", "content-length", "transfer-encoding", "X-Unknown"};
    for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
        str_t v = http_header_get(r, d, names[k]);
        FUZZ_CHECK(!v.ptr || (v.ptr >= d && v.ptr + v.len <= d + hl));
    }
}

static bool span_eq(http_span_t a, http_span_t b) { return a.off == b.off && a.len == b.len; }

/* Results of two parses of the same bytes must agree whatever the feeding. */
static void check_same(int rc_a, const http_request_t *a, int rc_b, const http_request_t *b)
{
    FUZZ_CHECK(rc_a == rc_b);
    if (rc_a != HTTP_OK)
        return;  /* error statuses may differ: 414/431 can be seen before a line ends */
    FUZZ_CHECK(a->head_len == b->head_len && a->skipped == b->skipped);
    FUZZ_CHECK(a->method == b->method && span_eq(a->method_name, b->method_name));
    FUZZ_CHECK(span_eq(a->target, b->target) && span_eq(a->path, b->path) && span_eq(a->query, b->query));
    FUZZ_CHECK(span_eq(a->host, b->host) && a->absolute_target == b->absolute_target);
    FUZZ_CHECK(a->version_minor == b->version_minor && a->content_length == b->content_length);
    FUZZ_CHECK(a->chunked == b->chunked && a->keep_alive == b->keep_alive);
    FUZZ_CHECK(a->expect_continue == b->expect_continue);
    FUZZ_CHECK(memcmp(a->known, b->known, sizeof(a->known)) == 0);
    FUZZ_CHECK(a->nheaders == b->nheaders);
    for (size_t i = 0; i < a->nheaders; i++)
        FUZZ_CHECK(span_eq(a->headers[i].name, b->headers[i].name) &&
                   span_eq(a->headers[i].value, b->headers[i].value));
}

static void check_rc(int rc, const http_request_t *r, size_t n)
{
    FUZZ_CHECK(rc == HTTP_OK || rc == HTTP_AGAIN || rc == HTTP_ERROR);
    if (rc == HTTP_ERROR)
        FUZZ_CHECK(r->status >= 400 && r->status <= 599);
    if (rc == HTTP_AGAIN)
        FUZZ_CHECK(r->pos == n && r->line_start <= n && r->skipped <= r->line_start);
}

/* The prefix arrives first in its own exactly sized buffer, then all of it. */
static int parse_split(http_request_t *r, const char *d, size_t n, size_t cut)
{
    http_request_init(r);
    if (cut > 0 && cut < n) {
        char *p = malloc(cut);
        memcpy(p, d, cut);
        int rc = http_parse_head(r, p, cut);
        check_rc(rc, r, cut);
        if (rc == HTTP_OK)
            check_head(r, p, cut);
        free(p);
        if (rc != HTTP_AGAIN)
            return rc;
    }
    int rc = http_parse_head(r, d, n);
    check_rc(rc, r, n);
    return rc;
}

static int parse_bytewise(http_request_t *r, const char *d, size_t n)
{
    http_request_init(r);
    int rc = HTTP_AGAIN;
    for (size_t k = 1; k <= n && rc == HTTP_AGAIN; k++)
        rc = http_parse_head(r, d, k);
    return rc;
}

typedef struct {
    int rc, status;
    size_t consumed;  /* framing and data, in total */
    char *body;       /* decoded bytes */
    size_t body_len;
} dechunk_t;

/* Decode in[0..len) where the first `avail` bytes arrive first; each call
 * sees an exactly sized heap copy of the bytes not yet consumed. */
static dechunk_t dechunk(const char *in, size_t len, size_t avail)
{
    dechunk_t d = {HTTP_AGAIN, 0, 0, malloc(len + 1), 0};
    http_chunked_t c;
    http_chunked_init(&c);
    size_t calls = 0;
    for (;;) {
        size_t n = avail - d.consumed;
        char *p = malloc(n ? n : 1);
        memcpy(p, in + d.consumed, n);
        size_t used = (size_t)-1, data_len = (size_t)-1;
        const char *data = (const char *)1;
        d.rc = http_chunked_parse(&c, p, n, &used, &data, &data_len);
        FUZZ_CHECK(d.rc == HTTP_OK || d.rc == HTTP_AGAIN || d.rc == HTTP_ERROR);
        FUZZ_CHECK(data_len != (size_t)-1);
        /* Every return sets *consumed: src/h1.c adds it to its read
         * offset before it looks at the return code. */
        FUZZ_CHECK(used != (size_t)-1);
        FUZZ_CHECK(used <= n);
        if (d.rc != HTTP_ERROR) {
            FUZZ_CHECK(data_len == 0 || (data >= p && data + data_len <= p + used));
            FUZZ_CHECK(d.body_len + data_len <= d.consumed + used);  /* decoded never exceeds input */
            memcpy(d.body + d.body_len, data_len ? data : "", data_len);
            d.body_len += data_len;
            d.consumed += used;
        }
        free(p);
        if (d.rc != HTTP_AGAIN)
            break;
        FUZZ_CHECK(++calls <= 2 * len + 10);  /* progress */
        if (used == 0 && data_len == 0) {
            if (avail == len)
                break;
            avail = len;
        }
    }
    FUZZ_CHECK(d.consumed <= len && d.body_len <= d.consumed);
    if (d.rc == HTTP_ERROR)
        d.status = c.status;
    else
        FUZZ_CHECK(d.rc == HTTP_OK || d.consumed == len);  /* AGAIN: everything taken */
    return d;
}

/* Chunked body at in[0..len): whole and split must agree. Returns the bytes
 * the body took, or -1 when the connection cannot go on. */
static long body_chunked(const char *in, size_t len, size_t cut)
{
    dechunk_t a = dechunk(in, len, len);
    dechunk_t b = dechunk(in, len, cut <= len ? cut : len);
    FUZZ_CHECK(a.rc == b.rc);
    if (a.rc == HTTP_ERROR) {
        FUZZ_CHECK(a.status == b.status && a.status >= 400 && a.status <= 599);
    } else {
        FUZZ_CHECK(a.consumed == b.consumed);
        FUZZ_CHECK(a.body_len == b.body_len && memcmp(a.body, b.body, a.body_len) == 0);
    }
    long taken = a.rc == HTTP_OK ? (long)a.consumed : -1;
    free(a.body);
    free(b.body);
    return taken;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    unsigned cut_head = data[0], cut_body = data[1];
    const char *s = (const char *)data + 2;
    size_t n = size - 2, off = 0;
    static http_request_t whole, split, bytewise;  /* large: keep them off the stack */
    for (int k = 0; k < MAX_PIPELINED && off < n; k++) {
        const char *d = s + off;
        size_t len = n - off;
        http_request_init(&whole);
        int rc = http_parse_head(&whole, d, len);
        check_rc(rc, &whole, len);
        int rc_split = parse_split(&split, d, len, (len * cut_head) >> 8);
        check_same(rc, &whole, rc_split, &split);
        int rc_bytes = parse_bytewise(&bytewise, d, len);
        check_same(rc, &whole, rc_bytes, &bytewise);
        if (rc != HTTP_OK)
            return 0;
        check_head(&whole, d, len);
        size_t hl = whole.head_len, rest = len - hl;
        /* Parsing again after HTTP_OK changes nothing. */
        FUZZ_CHECK(http_parse_head(&whole, d, len) == HTTP_OK && whole.head_len == hl);
        if (whole.chunked) {
            long taken = body_chunked(d + hl, rest, (rest * cut_body) >> 8);
            if (taken < 0)
                return 0;
            off += hl + (size_t)taken;
        } else if (whole.content_length > 0) {
            if ((uint64_t)whole.content_length > rest)
                return 0;
            off += hl + (size_t)whole.content_length;
        } else {
            off += hl;
        }
        if (!whole.keep_alive)
            return 0;
    }
    return 0;
}
