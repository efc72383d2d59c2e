/* The connection layer: a socket, its transport, input buffer, timer and
 * close. What the bytes mean is the protocol's (h1.c, h2.c). */
#ifndef WEBSERV_CONN_H
#define WEBSERV_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "buf.h"
#include "conf.h"
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
    bool http2;           /* some `listen` of this address says `http2` */
    const transport_t *transport;  /* of the connections it accepts */
    const struct protocol *protocol;  /* they speak first */
    conf_server_t **servers;
    size_t nservers;
} listener_t;

/* The protocol a connection speaks (h1.c; h2.c): the connection layer
 * moves bytes and keeps time, the protocol knows the rules. */
typedef struct protocol {
    void (*start)(conn_t *c);     /* accepted: its state is made, its first timer set */
    /* Do what can be done now: CONN_NEXT to be called again, CONN_WAIT
     * when it needs an event (readiness, a timer, a wake). */
    int (*step)(conn_t *c);
    void (*timeout)(conn_t *c);   /* the connection's timer fired */
    void (*shutdown)(conn_t *c);  /* graceful stop: finish what is in flight, take nothing new */
    void (*close)(conn_t *c);     /* closing: end what it carries (before the socket closes) */
    void (*release)(conn_t *c);   /* free its state (after the batch of events) */
} protocol_t;

enum { CONN_NEXT, CONN_WAIT };

struct conn {
    loop_io_t io;
    loop_timer_t timer;   /* the protocol's */
    loop_task_t task;     /* continue after yielding the loop to others; once closed: free */
    const transport_t *tp;
    const protocol_t *proto;
    void *ps;             /* the protocol's state */
    listener_t *listener;
    conn_t *prev, *next;  /* all connections, for shutdown */
    bool closed;
    bool rd_ready, wr_ready;
    bool peer_closed;     /* EPOLLRDHUP seen: reads go on until they return 0 */
    bool shutting_down;
    bool plain_on_tls;    /* plain HTTP arrived on a TLS address: answered 400, then closed */
    bool tls_read_wants_write;  /* the TLS read waits for the socket to be writable */
    bool tls_broken;      /* a TLS error: no close_notify, no resumption of its session */
    bool tls_kept_buffers;  /* a file kept OpenSSL's record buffers: freed when idle */
    void *tls;            /* the SSL of a TLS connection (tls.c) */
    char peer[46];        /* INET6_ADDRSTRLEN */
    int peer_port;
    /* the peer's address in binary, for rules that compare it (allow/deny):
     * AF_INET in the first 4 bytes, or AF_INET6 */
    int peer_family;
    unsigned char peer_addr[16];
    buf_t in;             /* bytes read and not yet used up by the protocol */
};

void conn_accept(listener_t *l, int fd, const struct sockaddr *peer, socklen_t peerlen);
/* Run the connection's protocol after the current batch of events. */
void conn_wake(conn_t *c);
/* Speak protocol p from now on (HTTP/2 after its preface): the current
 * one's state is released (it carries no request), p starts on c->in. */
void conn_switch(conn_t *c, const protocol_t *p);
/* Close now: the protocol ends what it carries first. */
void conn_close(conn_t *c);
/* Read into c->in: >0 bytes, 0 on EOF or error (the connection is then
 * closed), -1 when there is nothing to read now, -2 when c->in is full. */
ssize_t conn_read(conn_t *c);
/* Stop accepting keep-alive and close idle connections (graceful stop). */
void conn_shutdown_all(void);
/* Close every connection, ending its requests (cleanup included): the
 * worker is exiting. */
void conn_close_all(void);
size_t conn_count(void);

#endif
