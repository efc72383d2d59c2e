/* Resumable HTTP/1.1 request-head parser and chunked-body decoder.
 * Pure: bytes in, results out; knows nothing of sockets. */
#ifndef WEBSERV_HTTP_PARSE_H
#define WEBSERV_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

enum {
    HTTP_OK = 0,      /* finished */
    HTTP_AGAIN = 1,   /* need more bytes */
    HTTP_ERROR = -1,  /* bad input; the status to send is in ->status */
};

enum {
    HTTP_METHOD_UNKNOWN = 0,
    HTTP_GET = 1 << 0,
    HTTP_HEAD = 1 << 1,
    HTTP_POST = 1 << 2,
    HTTP_PUT = 1 << 3,
    HTTP_DELETE = 1 << 4,
};

#define HTTP_MAX_URI 8192            /* longer target: 414 */
#define HTTP_MAX_HEAD (32 * 1024)    /* longer head: 431 */
#define HTTP_MAX_HEADERS 128         /* more header lines: 431 */

/* Request headers the server looks at, found once while parsing. */
enum {
    HTTP_H_CONTENT_TYPE,
    HTTP_H_IF_NONE_MATCH,
    HTTP_H_IF_MODIFIED_SINCE,
    HTTP_H_RANGE,
    HTTP_H_IF_RANGE,
    HTTP_H_REFERER,
    HTTP_H_USER_AGENT,
    HTTP_H_COUNT
};

/* Offsets, relative to the start of the parsed bytes, so that the buffer
 * may move (grow) between calls. */
typedef struct {
    uint32_t off, len;
} http_span_t;

typedef struct {
    http_span_t name, value;
} http_header_t;

typedef struct {
    /* parser state */
    int state;
    size_t pos;         /* bytes examined so far */
    size_t line_start;  /* start of the line being scanned */
    size_t skipped;     /* empty lines skipped before the request line */

    /* results */
    int status;         /* on HTTP_ERROR: 400, 414, 431, 501, 505 ... */
    size_t head_len;    /* on HTTP_OK: bytes of the head, including the blank line */
    int method;         /* HTTP_GET ...; HTTP_METHOD_UNKNOWN for others */
    http_span_t method_name, target, path, query;  /* path and query: raw (still encoded) */
    http_span_t host;   /* from an absolute-form target, else the Host header, port stripped */
    int version_major, version_minor;  /* 1.2+ is reported as 1.1 */
    int64_t content_length;            /* -1 when absent */
    unsigned chunked : 1, keep_alive : 1, expect_continue : 1, absolute_target : 1;
    int facts[8];       /* parser-private: header facts checked at the end */
    uint8_t known[HTTP_H_COUNT];  /* index + 1 in headers[] of the first such header; 0 = absent */
    size_t nheaders;
    http_header_t headers[HTTP_MAX_HEADERS];
} http_request_t;

void http_request_init(http_request_t *r);
/* Parse the head in data[0..len). Call again with the same (possibly
 * longer) data after HTTP_AGAIN; the parser resumes where it stopped. */
int http_parse_head(http_request_t *r, const char *data, size_t len);
/* The value of the first header called `name` (case-insensitive), or a NULL str. */
str_t http_header_get(const http_request_t *r, const char *data, const char *name);
/* The value of a header of the HTTP_H_* list, or a NULL str. */
static inline str_t http_header(const http_request_t *r, const char *data, int which)
{
    unsigned i = r->known[which];
    return i ? (str_t){data + r->headers[i - 1].value.off, r->headers[i - 1].value.len} : STR_NULL;
}
static inline str_t http_span_str(const char *data, http_span_t s)
{
    return (str_t){data + s.off, s.len};
}
const char *http_method_name(int method);
int http_method_from(str_t name);  /* HTTP_METHOD_UNKNOWN if not one of ours */

/* Chunked transfer-coding decoder. Each call consumes framing bytes and
 * yields at most one span of body data pointing into `in`. */
typedef struct {
    int state;
    uint64_t size;      /* bytes left in the current chunk */
    size_t line_len;    /* bytes of the current extension / trailer line */
    size_t trailer_len; /* total trailer bytes */
    int status;         /* on HTTP_ERROR */
} http_chunked_t;

void http_chunked_init(http_chunked_t *c);
/* Returns HTTP_OK when the last chunk and trailers are consumed,
 * HTTP_AGAIN when it needs more bytes, HTTP_ERROR on bad framing.
 * *consumed: bytes of `in` used (framing and data); *data and *data_len: the
 * body bytes found (may be empty). */
int http_chunked_parse(http_chunked_t *c, const char *in, size_t len, size_t *consumed,
                       const char **data, size_t *data_len);

#endif
