/* Resumable HTTP/1.1 request-head parser and chunked decoder.
 *
 * The head parser works a line at a time: it remembers how far it has
 * scanned (r->pos) and only acts on complete lines, so it can be fed a
 * growing buffer byte by byte and never rescans. Everything it records is
 * an offset into that buffer. */
#include "http_parse.h"

#include <string.h>
#include <strings.h>

enum { S_START, S_HEADERS, S_DONE };

/* tchar of RFC 9110 5.6.2: ALPHA DIGIT and !#$%&'*+-.^_`|~ */
#define T1(c) [c] = 1
static const unsigned char TCHAR[256] = {
    T1('!'), T1('#'), T1('$'), T1('%'), T1('&'), T1('\''), T1('*'), T1('+'), T1('-'), T1('.'),
    T1('^'), T1('_'), T1('`'), T1('|'), T1('~'),
    T1('0'), T1('1'), T1('2'), T1('3'), T1('4'), T1('5'), T1('6'), T1('7'), T1('8'), T1('9'),
    T1('A'), T1('B'), T1('C'), T1('D'), T1('E'), T1('F'), T1('G'), T1('H'), T1('I'), T1('J'),
    T1('K'), T1('L'), T1('M'), T1('N'), T1('O'), T1('P'), T1('Q'), T1('R'), T1('S'), T1('T'),
    T1('U'), T1('V'), T1('W'), T1('X'), T1('Y'), T1('Z'),
    T1('a'), T1('b'), T1('c'), T1('d'), T1('e'), T1('f'), T1('g'), T1('h'), T1('i'), T1('j'),
    T1('k'), T1('l'), T1('m'), T1('n'), T1('o'), T1('p'), T1('q'), T1('r'), T1('s'), T1('t'),
    T1('u'), T1('v'), T1('w'), T1('x'), T1('y'), T1('z'),
};
#undef T1

static inline int is_tchar(unsigned char c) { return TCHAR[c]; }

/* Header names the parser acts on or records, by their length first:
 * most names of a request match none, and are told so in a compare or two. */
enum { N_OTHER, N_HOST, N_CONTENT_LENGTH, N_TRANSFER_ENCODING, N_CONNECTION, N_EXPECT, N_KNOWN };

static const struct {
    const char *name;
    unsigned char len, kind, known;
} NAMES[] = {
    {"host", 4, N_HOST, 0},
    {"range", 5, N_KNOWN, HTTP_H_RANGE},
    {"expect", 6, N_EXPECT, 0},
    {"referer", 7, N_KNOWN, HTTP_H_REFERER},
    {"if-range", 8, N_KNOWN, HTTP_H_IF_RANGE},
    {"connection", 10, N_CONNECTION, 0},
    {"user-agent", 10, N_KNOWN, HTTP_H_USER_AGENT},
    {"content-type", 12, N_KNOWN, HTTP_H_CONTENT_TYPE},
    {"if-none-match", 13, N_KNOWN, HTTP_H_IF_NONE_MATCH},
    {"content-length", 14, N_CONTENT_LENGTH, 0},
    {"transfer-encoding", 17, N_TRANSFER_ENCODING, 0},
    {"if-modified-since", 17, N_KNOWN, HTTP_H_IF_MODIFIED_SINCE},
};

#define NAME_LEN_MAX 17
/* Where the names of each length start in NAMES (sorted by length): a
 * header is compared only with the names as long as it. */
static const unsigned char NAMES_BY_LEN[NAME_LEN_MAX + 2] = {0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 5, 7, 7, 8, 9, 10, 10, 10, 12};
_Static_assert(sizeof(NAMES) / sizeof(NAMES[0]) == 12, "NAMES_BY_LEN counts the names of each length");

static int name_kind(str_t name, int *known)
{
    if (name.len > NAME_LEN_MAX)
        return N_OTHER;
    for (size_t i = NAMES_BY_LEN[name.len]; i < NAMES_BY_LEN[name.len + 1]; i++) {
        if ((name.ptr[0] | 0x20) == NAMES[i].name[0] && strncasecmp(name.ptr, NAMES[i].name, name.len) == 0) {
            *known = NAMES[i].known;
            return NAMES[i].kind;
        }
    }
    return N_OTHER;
}

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

static http_span_t span(size_t off, size_t len) { return (http_span_t){(uint32_t)off, (uint32_t)len}; }

void http_request_init(http_request_t *r)
{
    /* headers[] is filled as it is used; clearing it all would cost more
     * than the rest of the parse. */
    memset(r, 0, offsetof(http_request_t, headers));
    r->content_length = -1;
}

static const struct {
    const char *name;
    int method;
} METHODS[] = {
    {"GET", HTTP_GET}, {"HEAD", HTTP_HEAD}, {"POST", HTTP_POST}, {"PUT", HTTP_PUT}, {"DELETE", HTTP_DELETE},
};

int http_method_from(str_t name)
{
    for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
        if (str_eq(name, METHODS[i].name))
            return METHODS[i].method;
    return HTTP_METHOD_UNKNOWN;
}

const char *http_method_name(int method)
{
    for (size_t i = 0; i < sizeof(METHODS) / sizeof(METHODS[0]); i++)
        if (METHODS[i].method == method)
            return METHODS[i].name;
    return "?";
}

static int fail(http_request_t *r, int status)
{
    r->status = status;
    return HTTP_ERROR;
}

/* Host: reg-name / IPv4 / [IPv6] with an optional port. Returns the host
 * without its port, or len 0 if invalid. */
static http_span_t parse_host(const char *d, size_t off, size_t len)
{
    const char *h = d + off;
    size_t n = len, i = 0;
    if (n == 0)
        return span(0, 0);
    if (h[0] == '[') {
        while (i < n && h[i] != ']')
            i++;
        if (i == n)
            return span(0, 0);
        i++;
    } else {
        while (i < n && h[i] != ':') {
            unsigned char c = (unsigned char)h[i];
            if (!(is_tchar(c) && c != '/' && c != '\\') || (c == '.' && i > 0 && h[i - 1] == '.'))
                return span(0, 0);
            i++;
        }
    }
    size_t hostlen = i;
    if (i < n) {
        if (h[i] != ':')
            return span(0, 0);
        for (i++; i < n; i++)
            if (!is_digit((unsigned char)h[i]))
                return span(0, 0);
    }
    if (hostlen == 0)
        return span(0, 0);
    return span(off, hostlen);
}

static int parse_version(http_request_t *r, const char *v, size_t n)
{
    if (n < 8 || memcmp(v, "HTTP/", 5) != 0)
        return fail(r, 400);
    /* HTTP-version = "HTTP/" DIGIT "." DIGIT, exactly (RFC 9112 2.3) */
    if (n != 8 || !is_digit((unsigned char)v[5]) || v[6] != '.' || !is_digit((unsigned char)v[7]))
        return fail(r, 400);
    int major = v[5] - '0', minor = v[7] - '0';
    if (major != 1)
        return fail(r, 505);
    r->version_major = 1;
    r->version_minor = minor >= 1 ? 1 : 0;
    return HTTP_OK;
}

static int parse_target(http_request_t *r, const char *d, size_t off, size_t len)
{
    const char *t = d + off;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)t[i];
        if (c <= 0x20 || c == 0x7f)
            return fail(r, 400);
    }
    if (len > HTTP_MAX_URI)
        return fail(r, 414);
    r->target = span(off, len);
    if (r->method == HTTP_METHOD_UNKNOWN)  /* answered 501 whatever its form (CONNECT host:port, OPTIONS *) */
        return HTTP_OK;
    size_t p = 0;
    if (t[0] != '/') {
        size_t skip;
        if (len >= 7 && strncasecmp(t, "http://", 7) == 0)
            skip = 7;
        else if (len >= 8 && strncasecmp(t, "https://", 8) == 0)
            skip = 8;
        else
            return fail(r, 400);
        size_t h = skip;
        while (h < len && t[h] != '/' && t[h] != '?')
            h++;
        r->host = parse_host(d, off + skip, h - skip);
        if (r->host.len == 0)
            return fail(r, 400);
        r->absolute_target = 1;
        p = h;
    }
    size_t q = p;
    while (q < len && t[q] != '?')
        q++;
    r->path = span(off + p, q - p);
    r->query = q < len ? span(off + q + 1, len - q - 1) : span(off + len, 0);
    return HTTP_OK;
}

static int parse_request_line(http_request_t *r, const char *d, size_t off, size_t len)
{
    const char *l = d + off;
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= len || l[i] != ' ')
        return fail(r, 400);
    r->method_name = span(off, i);
    r->method = http_method_from((str_t){l, i});
    size_t t = ++i;
    while (i < len && l[i] != ' ')
        i++;
    if (i == t)
        return fail(r, 400);
    if (i == len)  /* HTTP/0.9 style, no version */
        return fail(r, i - t > HTTP_MAX_URI ? 414 : 400);
    if (parse_target(r, d, off + t, i - t) != HTTP_OK)
        return HTTP_ERROR;
    if (parse_version(r, l + i + 1, len - i - 1) != HTTP_OK)
        return HTTP_ERROR;
    if (r->method == HTTP_METHOD_UNKNOWN)
        return fail(r, 501);
    return HTTP_OK;
}

/* Header-level facts gathered while parsing, checked at the end. */
typedef struct {
    int hosts, te_chunked, te_other, te_last_chunked, conn_close, conn_keepalive;
} head_facts_t;

/* Walk a comma-separated list, calling fn on each trimmed, non-empty element. */
#define FOR_EACH_ELEMENT(val, elem, body)                                  \
    do {                                                                   \
        size_t _i = 0;                                                     \
        while (_i <= (val).len) {                                          \
            size_t _s = _i;                                                \
            while (_i < (val).len && (val).ptr[_i] != ',')                 \
                _i++;                                                      \
            str_t elem = str_trim((str_t){(val).ptr + _s, _i - _s});       \
            _i++;                                                          \
            if (elem.len) { body }                                         \
        }                                                                  \
    } while (0)

/* Facts kept in the request between calls (the parser is resumable). */
static head_facts_t *facts(http_request_t *r)
{
    _Static_assert(sizeof(head_facts_t) <= sizeof(((http_request_t *)0)->facts), "facts");
    return (head_facts_t *)(void *)r->facts;
}

static int parse_header_line(http_request_t *r, const char *d, size_t off, size_t len)
{
    const char *l = d + off;
    if (l[0] == ' ' || l[0] == '\t')  /* obs-fold */
        return fail(r, 400);
    size_t i = 0;
    while (i < len && is_tchar((unsigned char)l[i]))
        i++;
    if (i == 0 || i >= len || l[i] != ':')
        return fail(r, 400);
    size_t namelen = i++;
    while (i < len && (l[i] == ' ' || l[i] == '\t'))
        i++;
    size_t vend = len;
    while (vend > i && (l[vend - 1] == ' ' || l[vend - 1] == '\t'))
        vend--;
    for (size_t k = i; k < vend; k++) {
        unsigned char c = (unsigned char)l[k];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return fail(r, 400);
    }
    if (r->nheaders >= HTTP_MAX_HEADERS)
        return fail(r, 431);
    http_header_t *h = &r->headers[r->nheaders++];
    h->name = span(off, namelen);
    h->value = span(off + i, vend - i);
    str_t name = {l, namelen}, val = {l + i, vend - i};
    head_facts_t *f = facts(r);
    int known = 0;
    int kind = name_kind(name, &known);

    if (kind == N_KNOWN) {
        if (!r->known[known])
            r->known[known] = (uint8_t)r->nheaders;  /* index + 1 */
    } else if (kind == N_HOST) {
        if (++f->hosts > 1)
            return fail(r, 400);
        http_span_t host = parse_host(d, off + i, vend - i);
        if (host.len == 0)
            return fail(r, 400);
        if (!r->absolute_target)
            r->host = host;
    } else if (kind == N_CONTENT_LENGTH) {
        if (r->content_length >= 0 || val.len == 0)
            return fail(r, 400);
        int64_t n = 0;
        for (size_t k = 0; k < val.len; k++) {
            int digit = val.ptr[k] - '0';
            if (!is_digit((unsigned char)val.ptr[k]) || n > (INT64_MAX - digit) / 10)
                return fail(r, 400);
            n = n * 10 + digit;
        }
        r->content_length = n;
    } else if (kind == N_TRANSFER_ENCODING) {
        int any = 0;
        FOR_EACH_ELEMENT(val, e, {
            any = 1;
            if (str_ieq(e, "chunked")) {
                f->te_chunked++;
                f->te_last_chunked = 1;
            } else {
                f->te_other++;
                f->te_last_chunked = 0;
            }
        });
        if (!any)
            return fail(r, 400);
    } else if (kind == N_CONNECTION) {
        FOR_EACH_ELEMENT(val, e, {
            if (str_ieq(e, "close"))
                f->conn_close = 1;
            else if (str_ieq(e, "keep-alive"))
                f->conn_keepalive = 1;
        });
    } else if (kind == N_EXPECT && r->version_minor == 1) {  /* HTTP/1.0 ignores it (RFC 9110 10.1.1) */
        if (!str_ieq(val, "100-continue"))
            return fail(r, 417);
        r->expect_continue = 1;
    }
    return HTTP_OK;
}

static int finish_head(http_request_t *r)
{
    head_facts_t *f = facts(r);
    if (r->version_minor == 1 && f->hosts == 0)
        return fail(r, 400);
    if (f->te_chunked || f->te_other) {
        if (r->version_minor == 0 || r->content_length >= 0 || f->te_chunked > 1)
            return fail(r, 400);
        if (f->te_other || !f->te_last_chunked)
            return fail(r, 501);
        r->chunked = 1;
    }
    if (r->version_minor == 1)
        r->keep_alive = !f->conn_close;
    else
        r->keep_alive = f->conn_keepalive && !f->conn_close;
    return HTTP_OK;
}

int http_parse_head(http_request_t *r, const char *data, size_t len)
{
    if (r->state == S_DONE)
        return HTTP_OK;
    while (r->pos < len) {
        const char *lf = memchr(data + r->pos, '\n', len - r->pos);
        if (!lf) {
            r->pos = len;
            break;
        }
        size_t end = (size_t)(lf - data);
        size_t ls = r->line_start, ll = end - ls;
        r->pos = r->line_start = end + 1;
        if (ll && data[ls + ll - 1] == '\r')
            ll--;
        if (memchr(data + ls, '\r', ll))  /* a bare CR is not a line end */
            return fail(r, 400);
        if (r->pos - r->skipped > HTTP_MAX_HEAD)
            return fail(r, 431);
        if (r->state == S_START) {
            if (ll == 0) {  /* empty lines before the request line */
                r->skipped = r->pos;
                if (r->skipped > HTTP_MAX_HEAD)
                    return fail(r, 400);
                continue;
            }
            if (parse_request_line(r, data, ls, ll) != HTTP_OK)
                return HTTP_ERROR;
            r->state = S_HEADERS;
        } else if (ll == 0) {
            if (finish_head(r) != HTTP_OK)
                return HTTP_ERROR;
            r->state = S_DONE;
            r->head_len = r->pos;
            return HTTP_OK;
        } else if (parse_header_line(r, data, ls, ll) != HTTP_OK) {
            return HTTP_ERROR;
        }
    }
    if (r->state == S_START && len - r->line_start > HTTP_MAX_URI + 64)
        return fail(r, 414);
    if (len - r->skipped > HTTP_MAX_HEAD)
        return fail(r, 431);
    return HTTP_AGAIN;
}

str_t http_header_get(const http_request_t *r, const char *data, const char *name)
{
    for (size_t i = 0; i < r->nheaders; i++)
        if (str_ieq(http_span_str(data, r->headers[i].name), name))
            return http_span_str(data, r->headers[i].value);
    return STR_NULL;
}

/* ---- chunked transfer coding (RFC 9112 7.1) ---- */

enum {
    C_SIZE, C_SIZE_MORE, C_SIZE_WS, C_EXT, C_SIZE_LF, C_DATA, C_DATA_CR, C_DATA_LF,
    C_TRAILER_START, C_TRAILER_NAME, C_TRAILER_VALUE, C_TRAILER_LF, C_FINAL_LF, C_DONE,
};

#define CHUNK_LINE_MAX 4096
#define CHUNK_TRAILER_MAX HTTP_MAX_HEAD

void http_chunked_init(http_chunked_t *c) { memset(c, 0, sizeof(*c)); }

static int hexval(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch |= 0x20;
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    return -1;
}

static int chunk_fail(http_chunked_t *c)
{
    c->status = 400;
    return HTTP_ERROR;
}

int http_chunked_parse(http_chunked_t *c, const char *in, size_t len, size_t *consumed,
                       const char **data, size_t *data_len)
{
    size_t i = 0;
    *data = NULL;
    *data_len = 0;
    *consumed = 0;  /* also what an error reports: the framing is lost anyway */
    while (i < len && c->state != C_DONE) {
        unsigned char ch = (unsigned char)in[i];
        int h;
        switch (c->state) {
        case C_SIZE:
        case C_SIZE_MORE:
            h = hexval(ch);
            if (h >= 0) {
                if (c->size > ((uint64_t)INT64_MAX - (uint64_t)h) / 16)  /* a size must fit in int64_t */
                    return chunk_fail(c);
                c->size = c->size * 16 + (uint64_t)h;
                c->state = C_SIZE_MORE;
                break;
            }
            if (c->state == C_SIZE)
                return chunk_fail(c);
            __attribute__((fallthrough)); /* first byte after the digits */
        case C_SIZE_WS:
            if (ch == ' ' || ch == '\t')
                c->state = C_SIZE_WS;
            else if (ch == ';') {
                c->state = C_EXT;
                c->line_len = 0;
            } else if (ch == '\r')
                c->state = C_SIZE_LF;
            else  /* a bare LF too: framing lines end in CRLF, nothing else */
                return chunk_fail(c);
            break;
        case C_EXT:
            if (++c->line_len > CHUNK_LINE_MAX)
                return chunk_fail(c);
            if (ch == '\r')
                c->state = C_SIZE_LF;
            else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return chunk_fail(c);
            break;
        case C_SIZE_LF:
            if (ch != '\n')
                return chunk_fail(c);
            c->state = c->size ? C_DATA : C_TRAILER_START;
            break;
        case C_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->size)
                n = (size_t)c->size;
            *data = in + i;
            *data_len = n;
            c->size -= n;
            if (c->size == 0)
                c->state = C_DATA_CR;
            *consumed = i + n;
            return HTTP_AGAIN;
        }
        case C_DATA_CR:
            if (ch != '\r')
                return chunk_fail(c);
            c->state = C_DATA_LF;
            break;
        case C_DATA_LF:
            if (ch != '\n')
                return chunk_fail(c);
            c->state = C_SIZE;
            break;
        /* trailer section: field lines (RFC 9112 7.1.2), read and dropped */
        case C_TRAILER_START:
            if (ch == '\r')
                c->state = C_FINAL_LF;
            else if (is_tchar(ch))
                c->state = C_TRAILER_NAME;
            else  /* not a field line: obs-fold, a bare LF, a request line's space ... */
                return chunk_fail(c);
            break;
        case C_TRAILER_NAME:
            if (ch == ':')
                c->state = C_TRAILER_VALUE;
            else if (!is_tchar(ch))
                return chunk_fail(c);
            break;
        case C_TRAILER_VALUE:
            if (ch == '\r')
                c->state = C_TRAILER_LF;
            else if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return chunk_fail(c);
            break;
        case C_TRAILER_LF:
            if (ch != '\n')
                return chunk_fail(c);
            c->state = C_TRAILER_START;
            break;
        case C_FINAL_LF:
            if (ch != '\n')
                return chunk_fail(c);
            c->state = C_DONE;
            break;
        }
        if (c->state >= C_TRAILER_START && ++c->trailer_len > CHUNK_TRAILER_MAX)
            return chunk_fail(c);
        if (c->state == C_SIZE)
            c->size = 0;
        i++;
    }
    *consumed = i;
    return c->state == C_DONE ? HTTP_OK : HTTP_AGAIN;
}
