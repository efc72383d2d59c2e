/* Connection lifecycle.
 *
 * One explicit state per connection, read top to bottom in conn_step:
 *
 *   READ_HEAD -> (READ_BODY) -> WRITE -> READ_HEAD (keep-alive)
 *                                     -> LINGER -> CLOSED
 *
 * Sockets are edge-triggered: an event only records readiness
 * (rd_ready / wr_ready); the step functions read or write until EAGAIN
 * clears it. A connection gets a bounded turn per event so one busy
 * client (pipelining, a fast download) cannot starve the others; the rest
 * of its work is queued as a task for the next loop iteration. */
#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cgi.h"
#include "clock.h"
#include "filecache.h"
#include "http.h"
#include "log.h"
#include "tls.h"

#define IN_LIMIT (HTTP_MAX_HEAD + 32 * 1024)  /* a full head and room for body bytes after it */
#define OUT_LIMIT (8 * 1024 * 1024)           /* response bytes built in memory (autoindex) */
#define READ_MIN 2048                         /* read when at least this much room is free */
#define TURN_BUDGET 32                        /* steps per turn before yielding */
#define SENDFILE_MAX (1 << 20)
#define LINGER_MS 5000                        /* lingering close: total */
#define LINGER_READ_MS 2000                   /* lingering close: between reads */
#define FREE_REQUESTS_MAX 1024
#define OUT_LOW_WATER (16 * 1024)             /* ask a producer for more below this */
#define POOL_BLOCK (16 * 1024)                /* pooled buffer size */
#define POOL_MAX 1024                         /* free buffers kept */
#define EXTRA_LIMIT (1024 * 1024)             /* added header lines (a return URL has no fixed limit) */

enum { STEP_NEXT, STEP_WAIT };

static conn_t *conns;
static size_t nconns;
static request_t *free_requests;
static size_t nfree_requests;

size_t conn_count(void) { return nconns; }

static const conf_scope_t *default_scope(conn_t *c) { return &c->listener->servers[0]->s; }

/* ---- requests ---- */

static request_t *request_get(void)
{
    request_t *rq = free_requests;
    if (rq) {
        free_requests = rq->next_free;
        nfree_requests--;
        rq->path.start = rq->path.end = rq->fspath.start = rq->fspath.end = 0;
        rq->target.start = rq->target.end = rq->extra.start = rq->extra.end = 0;
        rq->value.start = rq->value.end = 0;
    } else {
        rq = xcalloc(1, sizeof(*rq));
        buf_init(&rq->path, HTTP_MAX_URI + 1);
        buf_init(&rq->fspath, 2 * HTTP_MAX_URI);
        buf_init(&rq->target, HTTP_MAX_URI + 1);
        buf_init(&rq->extra, EXTRA_LIMIT);
        buf_init(&rq->value, EXTRA_LIMIT);
    }
    memset(&rq->srv, 0, offsetof(request_t, h) - offsetof(request_t, srv));
    http_request_init(&rq->h);
    http_chunked_init(&rq->chunk);
    return rq;
}

static void request_put(request_t *rq)
{
    if (nfree_requests >= FREE_REQUESTS_MAX) {
        buf_free(&rq->path);
        buf_free(&rq->fspath);
        buf_free(&rq->target);
        buf_free(&rq->extra);
        buf_free(&rq->value);
        free(rq);
        return;
    }
    if (rq->extra.cap > POOL_BLOCK)  /* a long redirect: give the memory back */
        buf_free(&rq->extra);
    if (rq->value.cap > POOL_BLOCK)
        buf_free(&rq->value);
    rq->next_free = free_requests;
    free_requests = rq;
    nfree_requests++;
}

/* ---- output queue ---- */

void out_reset(out_t *o)
{
    filecache_release(o->entry);
    o->entry = NULL;
    o->body = NULL;
    o->body_len = 0;
    o->file = -1;
    o->file_off = o->file_start = o->file_end = 0;
    o->mem.start = o->mem.end = 0;
    o->mem.failed = false;
    o->head_len = 0;
    o->sent = 0;
    o->more = false;
    o->refill = NULL;
}

void out_send_entry(out_t *o, fc_entry_t *e, off_t first, off_t len)
{
    o->entry = e;  /* keeps the content or descriptor alive while sending */
    if (e->data) {
        o->body = e->data + first;
        o->body_len = (size_t)len;
    } else {
        o->file = e->fd;
        o->file_start = o->file_off = first;
        o->file_end = first + len;
    }
}

/* ---- close ---- */

void conn_end_handler(conn_t *c, bool ok)
{
    request_t *rq = c->rq;
    if (!rq)
        return;
    if (rq->cleanup)
        rq->cleanup(c, ok);
    rq->cleanup = NULL;
    rq->body = NULL;
    rq->ctx = NULL;
}

/* ---- buffer pool ----
 * An idle keep-alive connection holds no buffer (a few hundred bytes in
 * all); a busy one takes its input and output buffers from this pool, so
 * neither costs a malloc per request. */

static char *pool[POOL_MAX];
static size_t pool_len;

static void buf_take(buf_t *b)
{
    if (b->data)
        return;
    b->data = pool_len ? pool[--pool_len] : malloc(POOL_BLOCK);
    b->cap = b->data ? POOL_BLOCK : 0;  /* out of memory: buf_reserve fails softly */
    b->start = b->end = 0;
    b->failed = false;
}

static void buf_give(buf_t *b)
{
    if (b->data && b->cap == POOL_BLOCK && pool_len < POOL_MAX) {
        pool[pool_len++] = b->data;
        b->data = NULL;
        b->cap = b->start = b->end = 0;
    } else {
        buf_free(b);
    }
}

static void release(loop_task_t *t)
{
    conn_t *c = t->data;
    if (c->rq)
        request_put(c->rq);
    buf_give(&c->in);
    buf_give(&c->out.mem);
    free(c);
}

static void conn_close(conn_t *c)
{
    if (c->state == CONN_CLOSED)
        return;
    if (c->rq && c->rq->status && c->rq->h.head_len)
        http_log_access(c);  /* an interrupted response is logged with what was sent */
    conn_end_handler(c, false);
    c->state = CONN_CLOSED;
    loop_timer_stop(&c->timer);
    /* close() alone leaves epoll, unless a forked child still shares the
     * descriptor (until its execve): then it must be removed by hand */
    if (cgi_children())
        loop_del(&c->io);
    if (c->tp->close)
        c->tp->close(c);
    close(c->io.fd);
    out_reset(&c->out);
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

void conn_abort(conn_t *c) { conn_close(c); }

void conn_wake(conn_t *c)
{
    if (c->state != CONN_CLOSED)
        loop_defer(&c->task);
}

/* ---- state changes ---- */

static const conf_scope_t *scope_of(conn_t *c)
{
    return c->rq && c->rq->scope ? c->rq->scope : default_scope(c);
}

static void set_idle(conn_t *c)
{
    c->state = CONN_READ_HEAD;
    if (buf_len(&c->in) == 0) {
        buf_give(&c->in);
        buf_give(&c->out.mem);
        if (c->tp->idle)
            c->tp->idle(c);
        loop_timer_set(&c->timer, (uint64_t)c->idle_timeout);
    } else {  /* a pipelined request is already here: its head deadline starts now */
        c->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
        loop_timer_at(&c->timer, c->head_deadline);
    }
}

static void start_linger(conn_t *c)
{
    c->tp->shutdown_write(c);
    c->state = CONN_LINGER;
    c->linger_deadline = clock_ms() + LINGER_MS;
    loop_timer_set(&c->timer, LINGER_READ_MS);
}

static void start_write(conn_t *c)
{
    c->state = CONN_WRITE;
    loop_timer_set(&c->timer, (uint64_t)scope_of(c)->send_timeout);
}

/* An error that ends the connection once the response is sent. Once any
 * of a response is out, its status cannot change: the connection closes. */
static void fail_request(conn_t *c, int status)
{
    if (c->out.sent > 0) {
        conn_close(c);
        return;
    }
    if (!c->rq)
        c->rq = request_get();
    conn_end_handler(c, false);
    c->keep_alive = false;
    c->linger = true;
    http_error(c, status);
    start_write(c);
}

void conn_fail(conn_t *c, int status)
{
    if (c->state == CONN_CLOSED)
        return;
    fail_request(c, status);
    conn_wake(c);
}

/* The response is out: log it, then keep the connection or close it. */
static void finish_response(conn_t *c)
{
    request_t *rq = c->rq;
    out_t *o = &c->out;
    http_log_access(c);
    conn_end_handler(c, true);
    c->idle_timeout = scope_of(c)->keepalive_timeout;
    out_reset(o);
    if (o->mem.cap > POOL_BLOCK)  /* a large listing: give the memory back */
        buf_free(&o->mem);
    if (!rq->h.head_len || (rq->has_body && !rq->body_done))
        c->linger = true;  /* bytes of this request may still be unread */
    else
        buf_consume(&c->in, rq->h.head_len);
    request_put(rq);
    c->rq = NULL;
    if (!c->keep_alive || c->shutting_down) {
        if ((c->linger || buf_len(&c->in)) && !c->shutting_down)
            start_linger(c);
        else
            conn_close(c);
        return;
    }
    set_idle(c);
}

/* Head complete: route it, then read the body (into its handler, or
 * dropped) and answer. */
static void begin_request(conn_t *c)
{
    request_t *rq = c->rq;
    c->requests++;
    c->body_blocked = false;
    rq->start_ms = clock_ms();
    buf_take(&c->out.mem);
    http_handle(c);
    if (c->state == CONN_CLOSED)
        return;
    if (rq->status == 413 || (rq->has_body && !c->keep_alive && !rq->body)) {
        /* the body will not be read: answer and close */
        c->keep_alive = false;
        conn_end_handler(c, false);
        start_write(c);
        return;
    }
    if (!rq->has_body) {
        rq->framing_done = true;
        if (!rq->body) {
            start_write(c);
            return;
        }
    } else if (request_skips_body(rq)) {
        /* the client waits before sending its body: answer without it */
        c->keep_alive = false;
        start_write(c);
        return;
    } else if (rq->h.expect_continue) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        struct iovec iov = {(void *)cont, sizeof(cont) - 1};
        /* the previous response is fully sent, so the socket buffer has room */
        if (c->tp->writev(c, &iov, 1, false) != (ssize_t)iov.iov_len) {
            conn_close(c);
            return;
        }
    }
    c->state = CONN_READ_BODY;
    loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
}

/* ---- reading ---- */

/* recv into the input buffer. Returns >0 bytes, 0 on EOF or error (the
 * connection is closed), -1 when there is nothing to read now, -2 when the
 * buffer is full. */
static ssize_t fill_input(conn_t *c)
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

static int step_read_head(conn_t *c)
{
    if (buf_len(&c->in)) {
        if (!c->rq)  /* taken when bytes arrive: an idle connection holds none */
            c->rq = request_get();
        request_t *rq = c->rq;
        int rc = http_parse_head(&rq->h, buf_head(&c->in), buf_len(&c->in));
        if (rc == HTTP_OK) {
            begin_request(c);
            return STEP_NEXT;
        }
        if (rc == HTTP_ERROR) {
            log_msg(LOG_INFO, "client %s: bad request (%d)", c->peer, rq->h.status);
            fail_request(c, rq->h.status);
            return STEP_NEXT;
        }
    }
    if (!c->rd_ready)
        return STEP_WAIT;
    bool was_empty = buf_len(&c->in) == 0;
    ssize_t n = fill_input(c);
    if (n == -2) {
        fail_request(c, 431);
        return STEP_NEXT;
    }
    if (n > 0 && was_empty && c->requests > 0) {  /* first byte of the next request */
        c->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
        loop_timer_at(&c->timer, c->head_deadline);
    }
    if (n == -1 && buf_len(&c->in) == 0)
        buf_give(&c->in);  /* nothing came (TLS reads until EAGAIN): a waiting connection holds no block */
    return n == -1 ? STEP_WAIT : STEP_NEXT;
}

/* Turn raw body bytes (after the decoded ones) into decoded bytes: the
 * buffer holds [head][body_ready decoded][raw]. Returns 0 or an error status. */
static int decode_body(conn_t *c)
{
    request_t *rq = c->rq;
    char *base = buf_head(&c->in) + rq->h.head_len;
    size_t end = buf_len(&c->in) - rq->h.head_len;
    size_t raw = end - rq->body_ready;
    if (rq->framing_done || raw == 0)
        return 0;
    if (!rq->h.chunked) {
        size_t take = (int64_t)raw < rq->body_left ? raw : (size_t)rq->body_left;
        rq->body_left -= (int64_t)take;
        rq->body_size += (int64_t)take;
        rq->body_ready += take;
        rq->framing_done = rq->body_left == 0;
        return 0;
    }
    int64_t max = scope_of(c)->client_max_body_size;
    size_t dst = rq->body_ready, src = rq->body_ready;
    int status = 0;
    while (src < end && !rq->framing_done) {
        size_t consumed, dlen;
        const char *data;
        int rc = http_chunked_parse(&rq->chunk, base + src, end - src, &consumed, &data, &dlen);
        if (dlen) {
            memmove(base + dst, data, dlen);
            dst += dlen;
        }
        src += consumed;
        rq->body_size += (int64_t)dlen;
        if (rc == HTTP_ERROR) {
            status = rq->chunk.status;
            break;
        }
        /* the chunk's announced size counts: too large is known from its size line */
        if (max && (rq->body_size > max || rq->chunk.size > (uint64_t)(max - rq->body_size))) {
            status = 413;
            break;
        }
        if (rc == HTTP_OK)
            rq->framing_done = true;
        if (consumed == 0)
            break;
    }
    memmove(base + dst, base + src, end - src);  /* close the gap left by chunk framing */
    c->in.end -= src - dst;
    rq->body_ready = dst;
    return status;
}

/* Hand decoded bytes to the body's handler (or drop them). Returns bytes
 * taken, or -status. */
static ssize_t deliver_body(conn_t *c)
{
    request_t *rq = c->rq;
    char *base = buf_head(&c->in) + rq->h.head_len;
    size_t ready = rq->body_ready;
    ssize_t took = rq->body ? rq->body->data(c, base, ready, rq->framing_done) : (ssize_t)ready;
    if (took <= 0)
        return took;
    memmove(base, base + took, buf_len(&c->in) - rq->h.head_len - (size_t)took);
    c->in.end -= (size_t)took;
    rq->body_ready -= (size_t)took;
    return took;
}

static bool flush_out(conn_t *c);

static int step_read_body(conn_t *c)
{
    request_t *rq = c->rq;
    if (c->out.more && buf_len(&c->out.mem) && c->wr_ready && !flush_out(c))  /* a CGI may answer early */
        return STEP_NEXT;
    int status = decode_body(c);
    ssize_t took = 0;
    if (!status && (rq->body_ready || rq->framing_done)) {
        took = deliver_body(c);
        if (took < 0)
            status = (int)-took;
        if (c->state != CONN_READ_BODY)  /* the handler failed the request */
            return STEP_NEXT;
        if (took > 0 && c->body_blocked) {  /* the client waited for the handler, not we for it */
            c->body_blocked = false;
            loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
        }
    }
    if (status) {
        log_msg(LOG_INFO, "client %s: request body rejected (%d)", c->peer, status);
        fail_request(c, status);
        return STEP_NEXT;
    }
    if (rq->framing_done && rq->body_ready == 0) {
        rq->body_done = true;
        if (rq->body)
            rq->body->done(c);
        if (c->state == CONN_READ_BODY)
            start_write(c);
        return STEP_NEXT;
    }
    if (rq->framing_done || !c->rd_ready)
        return STEP_WAIT;  /* the handler wakes us when it has room */
    ssize_t n = fill_input(c);
    if (n == -2) {
        /* buffer full of body the handler has not taken yet: the client
         * waits for the handler (whose producer has its own timeout), so
         * its timer stops until the handler takes some */
        c->body_blocked = true;
        loop_timer_stop(&c->timer);
        return STEP_WAIT;
    }
    if (n > 0)
        loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
    return n == -1 ? STEP_WAIT : STEP_NEXT;
}

/* ---- writing ---- */

/* Send what the output queue holds. Returns false when the connection was
 * closed (write error). */
static bool flush_out(conn_t *c)
{
    out_t *o = &c->out;
    if (o->mem.failed) {  /* a part of the response did not fit: never send a broken one */
        log_msg(LOG_ERR, "client %s: the response does not fit its buffer (out of memory)", c->peer);
        conn_close(c);
        return false;
    }
    for (int i = 0; i < 8 && c->wr_ready; i++) {
        size_t mem_left = buf_len(&o->mem);
        bool file_left = o->file >= 0 && o->file_off < o->file_end;
        if (!mem_left && !o->body_len && !file_left)
            break;
        ssize_t n;
        if (mem_left || o->body_len) {
            struct iovec iov[2];
            int cnt = 0;
            if (mem_left)
                iov[cnt++] = (struct iovec){buf_head(&o->mem), mem_left};
            if (o->body_len)
                iov[cnt++] = (struct iovec){(void *)o->body, o->body_len};
            /* MSG_MORE only when the file surely follows: for a producer's
             * output it could hold the last bytes back for 200 ms */
            size_t want = mem_left + o->body_len;
            n = c->tp->writev(c, iov, cnt, file_left);
            if (n > 0) {
                size_t from_mem = (size_t)n < mem_left ? (size_t)n : mem_left;
                buf_consume(&o->mem, from_mem);
                if ((size_t)n > from_mem) {  /* body may be NULL: no arithmetic on it then */
                    o->body += (size_t)n - from_mem;
                    o->body_len -= (size_t)n - from_mem;
                }
                if ((size_t)n < want)  /* socket buffer full: wait for EPOLLOUT */
                    c->wr_ready = false;
            }
        } else {
            off_t left = o->file_end - o->file_off;
            size_t want = left > SENDFILE_MAX ? SENDFILE_MAX : (size_t)left;
            n = c->tp->sendfile(c, o->file, &o->file_off, want);
            if (n > 0 && (size_t)n < want)
                c->wr_ready = false;
            if (n == 0) {  /* the file shrank under us */
                log_msg(LOG_ERR, "file truncated while sending to %s", c->peer);
                conn_close(c);
                return false;
            }
        }
        if (n > 0) {
            o->sent += n;
            if (c->state == CONN_WRITE)  /* while the body is read, its own timer runs */
                loop_timer_set(&c->timer, (uint64_t)scope_of(c)->send_timeout);
            continue;
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            c->wr_ready = false;
            break;
        }
        if (errno == EINTR)
            continue;
        conn_close(c);  /* EPIPE, ECONNRESET: the client is gone */
        return false;
    }
    if (o->more && o->refill && buf_len(&o->mem) < OUT_LOW_WATER)
        o->refill(c);  /* room again: let the producer add more */
    return true;
}

/* The client went away (EOF or reset) while a producer still works for
 * it: stop the producer now rather than when its output finds no reader.
 * Bytes the client sent before its EOF (pipelined requests) are kept. */
static bool client_gone(conn_t *c)
{
    while (c->peer_closed && c->rd_ready && c->state == CONN_WRITE) {
        ssize_t n = fill_input(c);  /* closes the connection on EOF or error */
        if (n <= 0)
            return n == 0;
    }
    return false;
}

static int step_write(conn_t *c)
{
    out_t *o = &c->out;
    if (o->more && client_gone(c))
        return STEP_NEXT;
    if (!flush_out(c))
        return STEP_NEXT;
    bool pending = buf_len(&o->mem) || o->body_len || (o->file >= 0 && o->file_off < o->file_end);
    if (!pending && !o->more) {
        finish_response(c);
        return STEP_NEXT;
    }
    return c->wr_ready && pending ? STEP_NEXT : STEP_WAIT;
}

static int step_linger(conn_t *c)
{
    char sink[16384];
    if (!c->rd_ready)
        return STEP_WAIT;
    ssize_t n = c->tp->recv(c, sink, sizeof(sink));
    if (n > 0) {
        if ((size_t)n < sizeof(sink) && !c->peer_closed && c->tp->short_read_drains)
            c->rd_ready = false;
        uint64_t now = clock_ms();
        uint64_t next = now + LINGER_READ_MS < c->linger_deadline ? now + LINGER_READ_MS : c->linger_deadline;
        loop_timer_at(&c->timer, next);
        return STEP_NEXT;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->rd_ready = false;
        return STEP_WAIT;
    }
    if (n < 0 && errno == EINTR)
        return STEP_NEXT;
    conn_close(c);
    return STEP_NEXT;
}

static void conn_step(conn_t *c)
{
    for (int budget = TURN_BUDGET; budget > 0; budget--) {
        int rc;
        switch (c->state) {
        case CONN_READ_HEAD: rc = step_read_head(c); break;
        case CONN_READ_BODY: rc = step_read_body(c); break;
        case CONN_WRITE: rc = step_write(c); break;
        case CONN_LINGER: rc = step_linger(c); break;
        default: return;
        }
        if (rc == STEP_WAIT)
            return;
    }
    loop_defer(&c->task);  /* turn used up: continue after the others */
}

/* ---- events ---- */

static void on_io(loop_io_t *io, uint32_t events)
{
    conn_t *c = io->data;
    if (c->state == CONN_CLOSED)
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
    if (c->state != CONN_CLOSED)
        conn_step(c);
}

static void on_timeout(loop_timer_t *t)
{
    conn_t *c = t->data;
    switch (c->state) {
    case CONN_READ_HEAD:
        if (buf_len(&c->in) == 0 && (!c->rq || !c->rq->h.pos)) {  /* idle: close quietly */
            conn_close(c);
            return;
        }
        log_msg(LOG_INFO, "client %s timed out sending the request head", c->peer);
        break;
    case CONN_READ_BODY:
        log_msg(LOG_INFO, "client %s timed out sending the request body", c->peer);
        break;
    case CONN_WRITE:
        if (c->out.more && c->out.refill && !buf_len(&c->out.mem)) {
            /* waiting for a running producer, which has its own timeout */
            loop_timer_set(&c->timer, (uint64_t)scope_of(c)->send_timeout);
            return;
        }
        if (c->out.more && !buf_len(&c->out.mem)) {
            log_msg(LOG_ERR, "client %s: the response has no producer left", c->peer);
            conn_close(c);
            return;
        }
        log_msg(LOG_INFO, "client %s timed out reading the response", c->peer);
        conn_close(c);
        return;
    case CONN_LINGER:
        conn_close(c);
        return;
    default:
        return;
    }
    /* head or body timed out: a best-effort 408 (unless a response has
     * begun), then close */
    fail_request(c, 408);
    if (c->state != CONN_CLOSED)
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
    c->listener = l;
    c->out.file = -1;
    c->wr_ready = true;
    buf_init(&c->in, IN_LIMIT);
    buf_init(&c->out.mem, OUT_LIMIT);
    if (peer->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)peer)->sin6_addr, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(((const struct sockaddr_in6 *)peer)->sin6_port);
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)peer)->sin_addr, c->peer, sizeof(c->peer));
        c->peer_port = ntohs(((const struct sockaddr_in *)peer)->sin_port);
    }
    (void)peerlen;
    if (loop_add(&c->io, LOOP_IN | LOOP_OUT | LOOP_RDHUP | LOOP_ET) != 0) {
        log_msg(LOG_ERR, "epoll_ctl: %s", strerror(errno));
        close(fd);
        buf_free(&c->in);
        buf_free(&c->out.mem);
        free(c);
        return;
    }
    c->next = conns;
    if (conns)
        conns->prev = c;
    conns = c;
    nconns++;
    c->state = CONN_READ_HEAD;
    c->idle_timeout = default_scope(c)->keepalive_timeout;
    c->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
    loop_timer_at(&c->timer, c->head_deadline);
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
        conn_t *next = c->next;
        c->shutting_down = true;
        bool idle = c->state == CONN_READ_HEAD && buf_len(&c->in) == 0 && (!c->rq || !c->rq->h.pos);
        if (idle || c->state == CONN_LINGER)  /* nothing more to send them */
            conn_close(c);
        c = next;
    }
}
