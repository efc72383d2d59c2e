/* The connection layer.
 *
 * Sockets are edge-triggered: an event only records readiness
 * (rd_ready / wr_ready); the protocol's step reads or writes until EAGAIN
 * clears it. A connection gets a bounded turn per event so one busy
 * client (pipelining, a fast download) cannot starve the others; the rest
 * of its work is queued as a task for the next loop iteration. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "process.h"

#define IN_LIMIT (64 * 1024)  /* a full request head (32 KiB) and room for body bytes after it */
#define READ_MIN 2048                         /* read when at least this much room is free */
#define TURN_BUDGET 32                        /* steps per turn before yielding */

static conn_t *conns;
static size_t nconns;

size_t conn_count(void) { return nconns; }

/* ---- close ---- */

static void release(loop_task_t *t)
{
    conn_t *c = t->data;
    if (c->proto->release)
        c->proto->release(c);
    buf_give(&c->in);
    free(c);
}

void conn_close(conn_t *c)
{
    if (c->closed)
        return;
    c->closed = true;
    c->proto->close(c);
    loop_timer_stop(&c->timer);
    /* close() alone leaves epoll, unless a forked child still shares the
     * descriptor (until its execve): then it must be removed by hand */
    if (process_children())
        loop_del(&c->io);
    if (c->tp->close)
        c->tp->close(c);
    close(c->io.fd);
    if (c->prev)
        c->prev->next = c->next;
    else
        conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    nconns--;
    /* free after this batch of events: one may still name this connection.
     * If the task is queued already, it runs once, as the release. */
    c->task.fn = release;
    loop_defer(&c->task);
}

void conn_switch(conn_t *c, const protocol_t *p)
{
    c->proto->release(c);
    c->proto = p;
    p->start(c);
}

void conn_wake(conn_t *c)
{
    if (!c->closed)
        loop_defer(&c->task);
}

/* ---- reading ---- */

ssize_t conn_read(conn_t *c)
{
    buf_take(&c->in);
#ifdef BUF_MOVE_ON_RESERVE
    buf_relocate(&c->in);  /* every read may move the bytes: let the sanitizers see it */
#endif
    size_t room = buf_reserve(&c->in, READ_MIN);  /* and all the free room there is */
    if (room == 0)
        return -2;
    ssize_t n = c->tp->recv(c, c->in.data + c->in.end, room);
    if (n > 0) {
        c->in.end += (size_t)n;
        /* a short read drained the socket; edge-triggered epoll reports
         * new data, so skip the read that would only say EAGAIN */
        if ((size_t)n < room && !c->peer_closed && c->tp->short_read_drains)
            c->rd_ready = false;
        return n;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->rd_ready = false;
        return -1;
    }
    if (n < 0 && errno == EINTR)
        return -1;
    conn_close(c);
    return 0;
}

/* ---- events ---- */

static void conn_step(conn_t *c)
{
    for (int budget = TURN_BUDGET; budget > 0; budget--) {
        if (c->closed || c->proto->step(c) == CONN_WAIT)
            return;
    }
    loop_defer(&c->task);  /* turn used up: continue after the others */
}

static void on_io(loop_io_t *io, uint32_t events)
{
    conn_t *c = io->data;
    if (c->closed)
        return;
    if (events & (LOOP_IN | LOOP_HUP | LOOP_ERR | LOOP_RDHUP))
        c->rd_ready = true;
    if (events & (LOOP_RDHUP | LOOP_HUP | LOOP_ERR))
        c->peer_closed = true;  /* the EOF is pending: keep reading until it shows */
    if (events & (LOOP_OUT | LOOP_HUP | LOOP_ERR)) {
        c->wr_ready = true;
        if (c->tls_read_wants_write)  /* a TLS read could not send what it had to */
            c->rd_ready = true;
    }
    conn_step(c);
}

static void on_task(loop_task_t *t)
{
    conn_t *c = t->data;
    if (!c->closed)
        conn_step(c);
}

static void on_timeout(loop_timer_t *t)
{
    conn_t *c = t->data;
    if (c->closed)
        return;
    c->proto->timeout(c);
    if (!c->closed)
        conn_step(c);
}

void conn_accept(listener_t *l, int fd, const struct sockaddr *peer, socklen_t peerlen)
{
    conn_t *c = xcalloc(1, sizeof(*c));
    c->io = (loop_io_t){.fd = fd, .fn = on_io, .data = c};
    c->timer.fn = on_timeout;
    c->timer.data = c;
    c->task.fn = on_task;
    c->task.data = c;
    c->tp = l->transport;
    c->proto = l->protocol;
    c->listener = l;
    c->wr_ready = true;
    buf_init(&c->in, IN_LIMIT);
    if (peer->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)peer)->sin6_addr;
        inet_ntop(AF_INET6, a, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
        c->peer_family = AF_INET6;  /* never IPv4-mapped: IPv6 listeners are IPV6_V6ONLY */
        memcpy(c->peer_addr, a->s6_addr, 16);
    } else {
        const struct in_addr *a = &((const struct sockaddr_in *)peer)->sin_addr;
        inet_ntop(AF_INET, a, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
        c->peer_family = AF_INET;
        memcpy(c->peer_addr, &a->s_addr, 4);
    }
    (void)peerlen;
    if (loop_add(&c->io, LOOP_IN | LOOP_OUT | LOOP_RDHUP | LOOP_ET) != 0) {
        log_msg(LOG_ERR, "epoll_ctl: %s", strerror(errno));
        close(fd);
        free(c);
        return;
    }
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    nconns++;
    c->proto->start(c);
}

void conn_close_all(void)
{
    while (conns)
        conn_close(conns);
}

void conn_shutdown_all(void)
{
    conn_t *c = conns;
    while (c) {
        conn_t *next = c->next;  /* c may close */
        c->shutting_down = true;
        c->proto->shutdown(c);
        c = next;
    }
}
