/* Connection lifecycle: state machine, buffers, timeouts, close. */
#ifndef WEBSERV_CONN_H
#define WEBSERV_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "conf.h"
#include "http_parse.h"
#include "loop.h"

typedef struct conn conn_t;

/* How a connection moves bytes: a plain socket, or TLS (tls.c). Each
 * returns what the system call would: bytes, 0 at EOF, -1 with errno
 * (EAGAIN when it must wait for readiness). */
typedef struct {
    ssize_t (*recv)(conn_t *c, void *buf, size_t n);
    ssize_t (*writev)(conn_t *c, const struct iovec *iov, int iovcnt, bool more);
    ssize_t (*sendfile)(conn_t *c, int fd, off_t *off, size_t n);
    void (*shutdown_write)(conn_t *c);
    void (*close)(conn_t *c);  /* release its state (before the socket closes); may be NULL */
    void (*idle)(conn_t *c);   /* waiting for a next request: drop what can be remade; may be NULL */
    /* a read shorter than asked means the socket is drained (false for
     * TLS: a read returns at most one record, more may be buffered) */
    bool short_read_drains;
} transport_t;

extern const transport_t transport_plain;

/* One listening address and the servers that share it (the first is the default). */
typedef struct {
    loop_io_t io;
    loop_timer_t resume;  /* accept paused after EMFILE */
    const conf_listen_t *addr;
    int *fds;             /* listening socket of each worker (io.fd: this worker's) */
    bool ssl;             /* TLS only: some `listen` of this address says `ssl` */
    const transport_t *transport;  /* of the connections it accepts */
    conf_server_t **servers;
    size_t nservers;
} listener_t;

typedef enum {
    CONN_READ_HEAD,  /* waiting for or reading a request head (idle keep-alive too) */
    CONN_READ_BODY,  /* consuming the request body */
    CONN_WRITE,      /* sending the response */
    CONN_LINGER,     /* write side shut, draining input before close */
    CONN_CLOSED,
} conn_state_t;

/* The response being sent, in order: memory bytes (the head, small bodies,
 * streamed CGI output), borrowed body bytes (a cached file's content),
 * then a file range sent with sendfile. A producer (CGI) may still be
 * adding to mem while it is sent: `more` is set and `refill` is called
 * when mem has drained. */
typedef struct {
    buf_t mem;
    const char *body;       /* not owned: held alive by `entry` */
    size_t body_len;
    int file;               /* descriptor for sendfile, -1 = none (not owned) */
    off_t file_off, file_start, file_end;
    struct fc_entry *entry; /* released at the end of the response */
    size_t head_len;        /* bytes of the response head, for the log */
    int64_t sent;           /* bytes sent so far */
    bool more;
    void (*refill)(conn_t *c);
} out_t;

/* Drop what is queued (closing the file) and start an empty response. */
void out_reset(out_t *o);
/* Send bytes [first, first + len) of a cached file after the head: from its
 * memory when held, else with sendfile. Takes the caller's reference. */
void out_send_entry(out_t *o, struct fc_entry *e, off_t first, off_t len);

/* Where a request body goes; NULL in request_t means it is read and dropped. */
typedef struct {
    /* Take up to len decoded body bytes, return how many were taken: fewer
     * (even 0) when the consumer is full, which then wakes the connection
     * (conn_wake) when it has room; or -status to fail the request. `last`:
     * the body ends with these bytes. */
    ssize_t (*data)(conn_t *c, const char *p, size_t len, bool last);
    /* The whole body has been taken: prepare (or start) the response. */
    void (*done)(conn_t *c);
} body_handler_t;

/* The request in progress. Kept on a free list between requests so that
 * a busy connection allocates nothing per request. Everything from `srv`
 * on is cleared when it is taken again: a pooled request carries nothing
 * of the one before it. */
typedef struct request {
    /* storage kept across requests (emptied when taken) */
    struct request *next_free;
    buf_t path;          /* decoded, normalized URI path, NUL-terminated */
    buf_t fspath;        /* file system path */
    buf_t target;        /* the raw URI of an internal redirect */
    buf_t extra;         /* header lines added to the response head (Allow, Location ...) */
    buf_t value;         /* a value built from variables (the text of a `return`) */
    /* per request: zeroed when taken */
    const conf_server_t *srv;
    const conf_location_t *loc;
    const conf_scope_t *scope;
    /* The query string: in `target` once an internal redirect replaced the
     * URI, else in the head. Offsets, never pointers: c->in may move. */
    http_span_t query;
    bool rewritten;      /* the URI is in `target` */
    bool no_body;        /* the handler gets no body (an internal redirect is a GET) */
    int status;
    int error_status;    /* serving the error_page of this status: it is the response's status */
    size_t error_extra;  /* bytes of `extra` that belong to that error */
    bool head_only;      /* HEAD: headers without the body */
    /* body framing: [head][body_ready decoded bytes][raw bytes] in conn->in */
    int64_t body_left;   /* Content-Length bytes still to come */
    http_chunked_t chunk;
    int64_t body_size;   /* decoded body bytes received */
    size_t body_ready;
    bool has_body, framing_done, body_done;
    int redirects;       /* internal redirects so far */
    uint64_t start_ms;   /* its head was complete ($request_time) */
    char request_id[33]; /* $request_id, made when first used */
    const body_handler_t *body;
    void *ctx;                           /* the handler's state */
    void (*cleanup)(conn_t *c, bool ok); /* at the end of the request; ok = response sent */
    http_request_t h;    /* last: initialized by http_request_init, which leaves the header array */
} request_t;

struct conn {
    loop_io_t io;
    loop_timer_t timer;
    loop_task_t task;     /* continue after yielding the loop to others; once closed: free */
    const transport_t *tp;
    listener_t *listener;
    conn_t *prev, *next;  /* all connections, for shutdown */
    conn_state_t state;
    bool rd_ready, wr_ready;
    bool peer_closed;     /* EPOLLRDHUP seen: reads go on until they return 0 */
    bool keep_alive;      /* after the current response */
    bool linger;          /* unread input may remain: lingering close */
    bool shutting_down;
    bool body_blocked;    /* reading the body waits for its handler to take what is buffered */
    bool plain_on_tls;    /* plain HTTP arrived on a TLS address: answered 400, then closed */
    bool tls_read_wants_write;  /* the TLS read waits for the socket to be writable */
    bool tls_broken;      /* a TLS error: no close_notify, no resumption of its session */
    bool tls_kept_buffers;  /* a file kept OpenSSL's record buffers: freed when idle */
    void *tls;            /* the SSL of a TLS connection (tls.c) */
    uint64_t head_deadline;
    uint64_t linger_deadline;
    int64_t idle_timeout;
    char peer[46];        /* INET6_ADDRSTRLEN */
    int peer_port;
    buf_t in;
    out_t out;
    request_t *rq;
    unsigned requests;
};

/* An error answered before a body the client holds back (Expect:
 * 100-continue): the body is never read, so the connection closes. */
static inline bool request_skips_body(const request_t *rq)
{
    return rq->status >= 400 && rq->has_body && rq->h.expect_continue && !rq->body_done;
}

void conn_accept(listener_t *l, int fd, const struct sockaddr *peer, socklen_t peerlen);
/* Run the connection's state machine after the current batch of events
 * (a producer or consumer of its request changed state). */
void conn_wake(conn_t *c);
/* Abandon the request with an error status: the response replaces anything
 * prepared, and the connection closes after it. */
void conn_fail(conn_t *c, int status);
/* The request's handler is done with: its cleanup runs (ok = the response
 * was sent) and it is detached from the request. */
void conn_end_handler(conn_t *c, bool ok);
/* Close now (the response cannot be completed). */
void conn_abort(conn_t *c);
/* Stop accepting keep-alive and close idle connections (graceful stop). */
void conn_shutdown_all(void);
/* Close every connection, ending its request (cleanup included): the
 * worker is exiting. */
void conn_close_all(void);
size_t conn_count(void);

#endif
