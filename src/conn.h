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

/* How a connection moves bytes: a plain socket today, TLS could be another. */
typedef struct {
    ssize_t (*recv)(conn_t *c, void *buf, size_t n);
    ssize_t (*writev)(conn_t *c, const struct iovec *iov, int iovcnt, bool more);
    ssize_t (*sendfile)(conn_t *c, int fd, off_t *off, size_t n);
    void (*shutdown_write)(conn_t *c);
} transport_t;

extern const transport_t transport_plain;

/* One listening address and the servers that share it (the first is the default). */
typedef struct {
    loop_io_t io;
    loop_timer_t resume;  /* accept paused after EMFILE */
    const conf_listen_t *addr;
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

/* The response being sent: memory bytes (head and small bodies) then an
 * optional file range sent with sendfile. */
typedef struct {
    buf_t mem;
    size_t mem_sent;
    size_t head_len;  /* bytes of mem that are the response head */
    int fd;
    off_t file_off, file_start, file_end;
} out_t;

/* Drop what is queued (closing the file) and start an empty response. */
void out_reset(out_t *o);

/* The request in progress. Kept on a free list between requests so that
 * a busy connection allocates nothing per request. */
typedef struct request {
    struct request *next_free;
    http_request_t h;
    const conf_server_t *srv;
    const conf_location_t *loc;
    const conf_scope_t *scope;
    buf_t path;          /* decoded, normalized URI path, NUL-terminated */
    buf_t fspath;        /* file system path */
    int status;
    bool head_only;      /* HEAD: headers without the body */
    /* body framing */
    int64_t body_left;   /* Content-Length bytes still to come */
    http_chunked_t chunk;
    int64_t body_size;   /* bytes of body received */
    bool has_body, body_done;
    int64_t body_sent;   /* response body bytes sent, for the log */
} request_t;

struct conn {
    loop_io_t io;
    loop_timer_t timer;
    loop_task_t task;     /* continue after yielding the loop to others */
    loop_task_t release;  /* free after the current batch */
    const transport_t *tp;
    listener_t *listener;
    conn_t *prev, *next;  /* all connections, for shutdown */
    conn_state_t state;
    bool rd_ready, wr_ready;
    bool peer_closed;     /* EPOLLRDHUP seen: reads go on until they return 0 */
    bool keep_alive;      /* after the current response */
    bool linger;          /* unread input may remain: lingering close */
    bool shutting_down;
    uint64_t head_deadline;
    uint64_t linger_deadline;
    int64_t idle_timeout;
    char peer[64];
    buf_t in;
    out_t out;
    request_t *rq;
    unsigned requests;
};

void conn_accept(listener_t *l, int fd, const struct sockaddr *peer, socklen_t peerlen);
/* Stop accepting keep-alive and close idle connections (graceful stop). */
void conn_shutdown_all(void);
size_t conn_count(void);

#endif
