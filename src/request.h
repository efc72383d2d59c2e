/* The request core: one request and its response, whatever framing
 * carried it (HTTP/1.1: h1.c; HTTP/2: h2.c).
 *
 * A framing parses a request into request_t and calls http_handle; the
 * handler that routing picks answers with a response: a status, header
 * fields, and a body source (memory, a file range, or a stream a producer
 * such as CGI feeds). The framing serializes the response in its own
 * syntax and moves the body, with back-pressure both ways: a producer
 * stops when `resp.mem` is full and is asked for more (`refill`) when it
 * drains; a body consumer takes what it can and wakes the request
 * (request_wake) when it has room. Handlers see only request_t: never a
 * socket, never a connection's state. */
#ifndef WEBSERV_REQUEST_H
#define WEBSERV_REQUEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"
#include "conf.h"
#include "http_parse.h"
#include "pattern.h"

typedef struct request request_t;
typedef struct conn conn_t;
struct fc_entry;

/* What the framing that carries a request does for the core. */
typedef struct {
    /* The bytes the spans of rq->h point into (*len: how many there are).
     * Valid until the framing reads again: never keep the pointer across
     * a return to the loop. */
    const char *(*head)(const request_t *rq, size_t *len);
    /* A producer added output, or a body consumer made room: the framing
     * runs the request again after the current batch of events. */
    void (*wake)(request_t *rq);
    /* Abandon the request with an error status (the error response
     * replaces what was prepared); once any of the response is out, cut it. */
    void (*fail)(request_t *rq, int status);
    /* Cut the response short now. */
    void (*abort)(request_t *rq);
    /* "HTTP/1.1", "HTTP/2.0": the protocol, as logs and CGI name it */
    const char *(*protocol)(const request_t *rq);
} framing_t;

/* Where a request body goes; NULL in request_t means it is read and dropped. */
typedef struct {
    /* Take up to len decoded body bytes, return how many were taken: fewer
     * (even 0) when the consumer is full, which then wakes the request
     * (request_wake) when it has room; or -status to fail the request.
     * `last`: the body ends with these bytes. */
    ssize_t (*data)(request_t *rq, const char *p, size_t len, bool last);
    /* The whole body has been taken: prepare (or start) the response. */
    void (*done)(request_t *rq);
} body_handler_t;

/* The response. Its header fields are rq->fields; its body comes from, in
 * order: mem, the borrowed bytes, the file range. */
typedef struct {
    bool started;           /* a handler began it: fields from `fields_from` on are its own */
    size_t fields_from;
    bool ready;             /* status and fields are final: the head may be sent */
    str_t cached_fields;    /* lines before rq->fields, not owned: a cached file's (held by `entry`) */
    int64_t length;         /* the body's length; -1 = no body, or a stream of unknown length */
    buf_t mem;              /* small bodies, a producer's output (a pooled block) */
    const char *body;       /* not owned: held alive by `entry` or the configuration */
    size_t body_len;
    int file;               /* sent with sendfile; -1 = none (not owned: `entry` holds it) */
    off_t file_off, file_end;
    struct fc_entry *entry; /* released when the response is reset or done */
    bool more;              /* a producer still adds to mem */
    void (*refill)(request_t *rq);  /* mem has room again: the producer may add more */
    /* kept by the framing, for the log */
    int64_t sent;           /* bytes sent, the head's included */
    size_t head_len;
} response_t;

/* The request in progress. Kept on a free list between requests so that
 * a busy connection allocates nothing per request. Everything from `fr`
 * to `resp` is cleared when it is taken again, `resp` is reset when it is
 * given back: a pooled request carries nothing of the one before it. */
struct request {
    /* storage kept across requests (emptied when taken) */
    request_t *next_free;
    buf_t path;          /* decoded, normalized URI path, NUL-terminated */
    buf_t fspath;        /* file system path */
    buf_t target;        /* the raw URI of an internal redirect */
    buf_t fields;        /* the response's header lines, "Name: value\r\n" each */
    buf_t value;         /* a value built from variables (the text of a `return`) */
    buf_t uri;           /* a new URI being built (rewrite, try_files) */
    buf_t captured;      /* the subject of the last regex match with captures */
    /* per request: zeroed when taken */
    const framing_t *fr;
    void *stream;        /* the framing's own state for this request */
    conn_t *conn;        /* the client's connection: its address, listener and TLS, read only */
    const conf_server_t *srv;
    const conf_location_t *loc;
    const conf_scope_t *scope;
    /* The query string: in `target` once an internal redirect replaced the
     * URI, else in the head. Offsets, never pointers: the head may move. */
    http_span_t query;
    bool rewritten;      /* the URI is in `target` */
    bool no_body;        /* the handler gets no body (an internal redirect is a GET) */
    bool keep_alive;     /* the connection may carry another request after this one */
    int status;
    int error_status;    /* serving the error_page of this status: it is the response's status */
    size_t error_fields; /* bytes of `fields` that belong to that error */
    bool head_only;      /* HEAD: headers without the body */
    /* the body, as the framing delivers it */
    bool has_body;       /* the request has one */
    bool body_done;      /* all of it went to its handler (or was dropped) */
    int64_t body_size;   /* decoded body bytes received */
    /* HTTP/1.1 body framing: [head][body_ready decoded bytes][raw bytes] in the input */
    int64_t body_left;   /* Content-Length bytes still to come */
    http_chunked_t chunk;
    size_t body_ready;
    bool framing_done;
    int redirects;       /* internal redirects so far */
    int ncaptures;       /* $1 ... $n of the last regex match: offsets in `captured` */
    uint32_t captures[PATTERN_CAPTURES][2];
    uint64_t start_ms;   /* its head was complete ($request_time) */
    char request_id[33]; /* $request_id, made when first used */
    const body_handler_t *body;
    void *ctx;                              /* the handler's state */
    void (*cleanup)(request_t *rq, bool ok); /* at the end of the request; ok = response sent */
    response_t resp;     /* reset by request_put */
    http_request_t h;    /* last: initialized by http_request_init, which leaves the header array */
};

/* A request from the pool, cleared, carried by framing `fr` on `conn`. */
request_t *request_get(const framing_t *fr, void *stream, conn_t *conn);
/* Back to the pool: the handler must be ended and the response reset. */
void request_put(request_t *rq);

static inline const char *request_head(const request_t *rq)
{
    size_t len;
    return rq->fr->head(rq, &len);
}
static inline void request_wake(request_t *rq) { rq->fr->wake(rq); }
static inline void request_fail(request_t *rq, int status) { rq->fr->fail(rq, status); }
static inline void request_abort(request_t *rq) { rq->fr->abort(rq); }

/* The request's handler is done with: its cleanup runs (ok = the response
 * was sent) and it is detached from the request. */
void request_end_handler(request_t *rq, bool ok);

/* An error answered before a body the client holds back (Expect:
 * 100-continue): the body is never read. */
static inline bool request_skips_body(const request_t *rq)
{
    return rq->status >= 400 && rq->has_body && rq->h.expect_continue && !rq->body_done;
}

/* Drop the response's head and body, and the fields its handler added
 * (those added before it began, such as Allow or Location for an error,
 * stay), to start another. */
void response_reset(request_t *rq);
/* Send bytes [first, first + len) of a cached file as the body: from its
 * memory when held, else with sendfile. Takes the caller's reference. */
void response_send_entry(request_t *rq, struct fc_entry *e, off_t first, off_t len);
/* Body bytes still queued in the response's sources. */
static inline bool response_pending(const response_t *r)
{
    return buf_len(&r->mem) || r->body_len || (r->file >= 0 && r->file_off < r->file_end);
}

#endif
