/* HTTP/1.1 framing (RFC 9112).
 *
 * One explicit state per connection, read top to bottom in h1_step:
 *
 *   READ_HEAD -> (READ_BODY) -> WRITE -> READ_HEAD (keep-alive)
 *                                     -> LINGER -> closed
 *
 * A request's head is parsed in place in the connection's input; its body
 * is decoded there (Content-Length or chunked) and handed to the
 * request's body handler; its response is serialized here: the status
 * line and header fields into `out`, then the body from the response's
 * sources, chunked when a producer streams it without a length. */
#include "h1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "clock.h"
#include "h2.h"
#include "http.h"
#include "log.h"
#include "request.h"

#define OUT_LIMIT (1024 * 1024)   /* the head and one chunk's framing */
#define SENDFILE_MAX (1 << 20)
#define LINGER_MS 5000            /* lingering close: total */
#define LINGER_READ_MS 2000       /* lingering close: between reads */
#define OUT_LOW_WATER (16 * 1024) /* ask a producer for more below this */
#define FREE_MAX 1024

typedef enum {
    H1_READ_HEAD,  /* waiting for or reading a request head (idle keep-alive too) */
    H1_READ_BODY,  /* consuming the request body */
    H1_WRITE,      /* sending the response */
    H1_LINGER,     /* write side shut, draining input before close */
} h1_state_t;

typedef struct h1 {
    struct h1 *next_free;
    h1_state_t state;
    request_t *rq;        /* the request in progress (taken when its first byte comes) */
    buf_t out;            /* the response head, and the chunk framing of a stream */
    bool head_sent;       /* the head is in `out` (and maybe sent) */
    bool chunked, last_chunk;
    bool linger;          /* unread input may remain: lingering close */
    bool body_blocked;    /* reading the body waits for its handler to take what is buffered */
    unsigned requests;
    uint64_t head_deadline;
    uint64_t linger_deadline;
    int64_t idle_timeout;
} h1_t;

static h1_t *free_list;
static size_t nfree;

static h1_t *h1_of(const conn_t *c) { return c->ps; }
static const conf_scope_t *default_scope(const conn_t *c) { return &c->listener->servers[0]->s; }

static const conf_scope_t *scope_of(const conn_t *c)
{
    const request_t *rq = h1_of(c)->rq;
    return rq && rq->scope ? rq->scope : default_scope(c);
}

/* ---- the request's view of its framing ---- */

static void fail_request(conn_t *c, int status);

static const char *rq_head(const request_t *rq, size_t *len)
{
    *len = buf_len(&rq->conn->in);
    return buf_head(&rq->conn->in);
}
static void rq_wake(request_t *rq) { conn_wake(rq->conn); }

static void rq_fail(request_t *rq, int status)
{
    if (rq->conn->closed)
        return;
    fail_request(rq->conn, status);
    conn_wake(rq->conn);
}

static void rq_abort(request_t *rq) { conn_close(rq->conn); }
static const char *rq_protocol(const request_t *rq) { return rq->h.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1"; }

static const framing_t H1_FRAMING = {rq_head, rq_wake, rq_fail, rq_abort, rq_protocol};

static request_t *new_request(conn_t *c) { return request_get(&H1_FRAMING, c->ps, c); }

/* ---- state changes ---- */

static void set_idle(conn_t *c)
{
    h1_t *h = h1_of(c);
    h->state = H1_READ_HEAD;
    if (buf_len(&c->in) == 0) {
        buf_give(&c->in);
        buf_give(&h->out);
        if (c->tp->idle)
            c->tp->idle(c);
        loop_timer_set(&c->timer, (uint64_t)h->idle_timeout);
    } else {  /* a pipelined request is already here: its head deadline starts now */
        h->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
        loop_timer_at(&c->timer, h->head_deadline);
    }
}

static void start_linger(conn_t *c)
{
    h1_t *h = h1_of(c);
    c->tp->shutdown_write(c);
    h->state = H1_LINGER;
    h->linger_deadline = clock_ms() + LINGER_MS;
    loop_timer_set(&c->timer, LINGER_READ_MS);
}

static void start_write(conn_t *c)
{
    h1_of(c)->state = H1_WRITE;
    loop_timer_set(&c->timer, (uint64_t)scope_of(c)->send_timeout);
}

/* Forget a head serialized and not sent: another response replaces it. */
static void drop_head(h1_t *h)
{
    h->out.start = h->out.end = 0;
    h->out.failed = false;
    h->head_sent = h->chunked = h->last_chunk = false;
}

/* An error that ends the connection once the response is sent. Once any
 * of a response is out, its status cannot change: the connection closes. */
static void fail_request(conn_t *c, int status)
{
    h1_t *h = h1_of(c);
    if (h->rq && h->rq->resp.sent > 0) {
        conn_close(c);
        return;
    }
    if (!h->rq)
        h->rq = new_request(c);
    request_t *rq = h->rq;
    request_end_handler(rq, false);
    drop_head(h);
    rq->keep_alive = false;
    h->linger = true;
    http_error(rq, status);
    start_write(c);
}

/* The response is out: log it, then keep the connection or close it. */
static void finish_response(conn_t *c)
{
    h1_t *h = h1_of(c);
    request_t *rq = h->rq;
    http_log_access(rq);
    request_end_handler(rq, true);
    h->idle_timeout = scope_of(c)->keepalive_timeout;
    drop_head(h);
    if (h->out.cap > BUF_POOL_BLOCK)  /* a long head: give the memory back */
        buf_free(&h->out);
    if (!rq->h.head_len || (rq->has_body && !rq->body_done) || c->plain_on_tls)
        h->linger = true;  /* bytes of this request may still be unread */
    else
        buf_consume(&c->in, rq->h.head_len);
    bool keep = rq->keep_alive;
    request_put(rq);
    h->rq = NULL;
    if (!keep || c->shutting_down) {
        if ((h->linger || buf_len(&c->in)) && !c->shutting_down)
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
    h1_t *h = h1_of(c);
    request_t *rq = h->rq;
    h->requests++;
    h->body_blocked = false;
    rq->start_ms = clock_ms();
    rq->keep_alive = rq->h.keep_alive && !c->shutting_down;
    rq->has_body = rq->h.chunked || rq->h.content_length > 0;
    rq->body_left = rq->h.content_length > 0 ? rq->h.content_length : 0;
    buf_take(&h->out);
    http_handle(rq);
    if (c->closed)
        return;
    if (rq->status == 413 || (rq->has_body && !rq->keep_alive && !rq->body)) {
        /* the body will not be read: answer and close */
        rq->keep_alive = false;
        request_end_handler(rq, false);
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
        rq->keep_alive = false;
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
    h->state = H1_READ_BODY;
    loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
}

/* ---- reading ---- */

/* The first bytes of an `http2` address: HTTP/2's preface (prior
 * knowledge, or after ALPN chose h2) hands the connection over. Returns
 * true while they may still become one. */
static bool h2_coming(conn_t *c)
{
    bool complete;
    if (!h2_preface(buf_head(&c->in), buf_len(&c->in), &complete))
        return false;
    if (complete)
        conn_switch(c, &protocol_h2);
    return true;
}

static int step_read_head(conn_t *c)
{
    h1_t *h = h1_of(c);
    if (buf_len(&c->in) && h->requests == 0 && c->listener->http2 && h2_coming(c)) {
        if (c->proto != &protocol_h1)
            return CONN_NEXT;  /* now HTTP/2 */
    } else if (buf_len(&c->in)) {
        if (!h->rq)  /* taken when bytes arrive: an idle connection holds none */
            h->rq = new_request(c);
        request_t *rq = h->rq;
        int rc = http_parse_head(&rq->h, buf_head(&c->in), buf_len(&c->in));
        if (rc == HTTP_OK) {
            begin_request(c);
            return CONN_NEXT;
        }
        if (rc == HTTP_ERROR) {
            log_msg(LOG_INFO, "client %s: bad request (%d)", c->peer, rq->h.status);
            fail_request(c, rq->h.status);
            return CONN_NEXT;
        }
    }
    if (!c->rd_ready)
        return CONN_WAIT;
    bool was_empty = buf_len(&c->in) == 0;
    ssize_t n = conn_read(c);
    if (n == -2) {
        fail_request(c, 431);
        return CONN_NEXT;
    }
    if (n > 0 && was_empty && h->requests > 0) {  /* first byte of the next request */
        h->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
        loop_timer_at(&c->timer, h->head_deadline);
    }
    if (n == -1 && buf_len(&c->in) == 0)
        buf_give(&c->in);  /* nothing came (TLS reads until EAGAIN): a waiting connection holds no block */
    return n == -1 ? CONN_WAIT : CONN_NEXT;
}

/* Turn raw body bytes (after the decoded ones) into decoded bytes: the
 * buffer holds [head][body_ready decoded][raw]. Returns 0 or an error status. */
static int decode_body(conn_t *c)
{
    request_t *rq = h1_of(c)->rq;
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
    request_t *rq = h1_of(c)->rq;
    char *base = buf_head(&c->in) + rq->h.head_len;
    size_t ready = rq->body_ready;
    ssize_t took = rq->body ? rq->body->data(rq, base, ready, rq->framing_done) : (ssize_t)ready;
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
    h1_t *h = h1_of(c);
    request_t *rq = h->rq;
    if (rq->resp.more && rq->resp.ready && c->wr_ready && !flush_out(c))  /* a CGI may answer early */
        return CONN_NEXT;
    if (h->state != H1_READ_BODY)  /* its producer failed the request */
        return CONN_NEXT;
    int status = decode_body(c);
    ssize_t took = 0;
    if (!status && (rq->body_ready || rq->framing_done)) {
        took = deliver_body(c);
        if (took < 0)
            status = (int)-took;
        if (h->state != H1_READ_BODY || c->closed)  /* the handler failed the request */
            return CONN_NEXT;
        if (took > 0 && h->body_blocked) {  /* the client waited for the handler, not we for it */
            h->body_blocked = false;
            loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
        }
    }
    if (status) {
        log_msg(LOG_INFO, "client %s: request body rejected (%d)", c->peer, status);
        fail_request(c, status);
        return CONN_NEXT;
    }
    if (rq->framing_done && rq->body_ready == 0) {
        rq->body_done = true;
        if (rq->body)
            rq->body->done(rq);
        if (h->state == H1_READ_BODY && !c->closed)
            start_write(c);
        return CONN_NEXT;
    }
    if (rq->framing_done || !c->rd_ready)
        return CONN_WAIT;  /* the handler wakes us when it has room */
    ssize_t n = conn_read(c);
    if (n == -2) {
        /* buffer full of body the handler has not taken yet: the client
         * waits for the handler (whose producer has its own timeout), so
         * its timer stops until the handler takes some */
        h->body_blocked = true;
        loop_timer_stop(&c->timer);
        return CONN_WAIT;
    }
    if (n > 0)
        loop_timer_set(&c->timer, (uint64_t)scope_of(c)->client_body_timeout);
    return n == -1 ? CONN_WAIT : CONN_NEXT;
}

/* ---- writing ---- */

/* Decimal digits of v into the end of out (which has room for 20); returns the start. */
static char *format_u64(uint64_t v, char *end)
{
    do {
        *--end = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return end;
}

/* The status line, the common fields, the response's fields, its framing
 * (Content-Length or chunked) and Connection, into `out`: one reservation,
 * then copies (the hot path of every response). */
static void write_head(conn_t *c)
{
    h1_t *h = h1_of(c);
    request_t *rq = h->rq;
    response_t *r = &rq->resp;
    int status = rq->status;
    char line[64];
    size_t line_len;
    if (status == 200) {  /* no formatting */
        memcpy(line, "HTTP/1.1 200 OK\r\n", line_len = 17);
    } else {
        int k = snprintf(line, sizeof(line), "HTTP/1.1 %d %s\r\n", status, http_reason(status));
        line_len = k < 0 ? 0 : (size_t)k < sizeof(line) ? (size_t)k : sizeof(line) - 1;
    }
    bool has_body = http_status_has_body(status);
    if (r->length < 0 && has_body && !r->more && !rq->head_only)  /* a stream that ended already */
        r->length = (int64_t)(buf_len(&r->mem) + r->body_len) + (r->file >= 0 ? r->file_end - r->file_off : 0);
    char framing[64];
    size_t framing_len = 0;
    if (r->length >= 0 && has_body) {
        char digits[24];
        char *d = format_u64((uint64_t)r->length, digits + sizeof(digits));
        size_t dl = (size_t)(digits + sizeof(digits) - d);
        memcpy(framing, "Content-Length: ", 16);
        memcpy(framing + 16, d, dl);
        memcpy(framing + 16 + dl, "\r\n", 2);
        framing_len = 16 + dl + 2;
    } else if (r->length < 0 && has_body && r->more && !rq->head_only) {
        if (rq->h.version_minor == 1) {  /* a stream of unknown length */
            memcpy(framing, "Transfer-Encoding: chunked\r\n", framing_len = 28);
            h->chunked = true;
        } else {
            rq->keep_alive = false;  /* HTTP/1.0: the body ends when the connection does */
        }
    }
    if (request_skips_body(rq))
        rq->keep_alive = false;  /* its body will not be read: say so */
    str_t end = !rq->keep_alive              ? STR_LIT("Connection: close\r\n\r\n")
                : rq->h.version_minor == 0 ? STR_LIT("Connection: keep-alive\r\n\r\n")
                                           : STR_LIT("\r\n");
    size_t common_len;
    const char *common = http_common_fields(&common_len);
    str_t parts[] = {{line, line_len},
                     {common, common_len},
                     r->cached_fields,
                     {buf_head(&rq->fields), buf_len(&rq->fields)},
                     {framing, framing_len},
                     end};
    size_t total = 0;
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        total += parts[i].len;
    buf_t *m = &h->out;
    if (buf_reserve(m, total) < total) {
        m->failed = true;  /* flush_out closes the connection */
        return;
    }
    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++)
        if (parts[i].len) {
            memcpy(m->data + m->end, parts[i].ptr, parts[i].len);
            m->end += parts[i].len;
        }
    r->head_len = buf_len(m);
    h->head_sent = true;
}

/* A producer's bytes in chunked coding: framed into `out` (when it is
 * empty) as they are taken; the last chunk once the producer is done. */
static void frame_chunk(h1_t *h, response_t *r)
{
    if (buf_len(&h->out))
        return;
    size_t n = buf_len(&r->mem);
    if (n) {
        char size[24];
        int k = snprintf(size, sizeof(size), "%zx\r\n", n);
        buf_append(&h->out, size, (size_t)k);
        buf_append(&h->out, buf_head(&r->mem), n);
        buf_append(&h->out, "\r\n", 2);
        buf_consume(&r->mem, n);
    } else if (!r->more && !h->last_chunk) {
        buf_append(&h->out, "0\r\n\r\n", 5);
        h->last_chunk = true;
    }
}

/* Send what the response has ready. Returns false when the connection was
 * closed (write error). */
static bool flush_out(conn_t *c)
{
    h1_t *h = h1_of(c);
    request_t *rq = h->rq;
    response_t *r = &rq->resp;
    if (!h->head_sent) {
        if (!r->ready)
            return true;  /* the producer has not answered yet */
        write_head(c);
    }
    for (int i = 0; i < 8 && c->wr_ready; i++) {
        if (h->chunked)
            frame_chunk(h, r);
        if (h->out.failed || r->mem.failed) {  /* a part of the response did not fit: never send a broken one */
            log_msg(LOG_ERR, "client %s: the response does not fit its buffer (out of memory)", c->peer);
            conn_close(c);
            return false;
        }
        size_t out_left = buf_len(&h->out);
        size_t mem_left = h->chunked ? 0 : buf_len(&r->mem);
        bool file_left = r->file >= 0 && r->file_off < r->file_end;
        if (!out_left && !mem_left && !r->body_len && !file_left)
            break;
        ssize_t n;
        if (out_left || mem_left || r->body_len) {
            struct iovec iov[3];
            int cnt = 0;
            if (out_left)
                iov[cnt++] = (struct iovec){buf_head(&h->out), out_left};
            if (mem_left)
                iov[cnt++] = (struct iovec){buf_head(&r->mem), mem_left};
            if (r->body_len)
                iov[cnt++] = (struct iovec){(void *)r->body, r->body_len};
            /* MSG_MORE only when the file surely follows: for a producer's
             * output it could hold the last bytes back for 200 ms */
            size_t want = out_left + mem_left + r->body_len;
            n = c->tp->writev(c, iov, cnt, file_left);
            if (n > 0) {
                size_t left = (size_t)n;
                size_t k = left < out_left ? left : out_left;
                buf_consume(&h->out, k);
                left -= k;
                k = left < mem_left ? left : mem_left;
                buf_consume(&r->mem, k);
                left -= k;
                if (left) {  /* body may be NULL: no arithmetic on it then */
                    r->body += left;
                    r->body_len -= left;
                }
                if ((size_t)n < want)  /* socket buffer full: wait for EPOLLOUT */
                    c->wr_ready = false;
            }
        } else {
            off_t left = r->file_end - r->file_off;
            size_t want = left > SENDFILE_MAX ? SENDFILE_MAX : (size_t)left;
            n = c->tp->sendfile(c, r->file, &r->file_off, want);
            if (n > 0 && (size_t)n < want)
                c->wr_ready = false;
            if (n == 0) {  /* the file shrank under us */
                log_msg(LOG_ERR, "file truncated while sending to %s", c->peer);
                conn_close(c);
                return false;
            }
        }
        if (n > 0) {
            r->sent += n;
            if (h->state == H1_WRITE)  /* while the body is read, its own timer runs */
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
    if (r->more && r->refill && buf_len(&r->mem) < OUT_LOW_WATER)
        r->refill(rq);  /* room again: let the producer add more */
    return !c->closed;
}

/* The client went away (EOF or reset) while a producer still works for
 * it: stop the producer now rather than when its output finds no reader.
 * Bytes the client sent before its EOF (pipelined requests) are kept. */
static bool client_gone(conn_t *c)
{
    while (c->peer_closed && c->rd_ready && h1_of(c)->state == H1_WRITE) {
        ssize_t n = conn_read(c);  /* closes the connection on EOF or error */
        if (n <= 0)
            return n == 0;
    }
    return false;
}

static int step_write(conn_t *c)
{
    h1_t *h = h1_of(c);
    response_t *r = &h->rq->resp;
    if (r->more && client_gone(c))
        return CONN_NEXT;
    if (!flush_out(c) || h->state != H1_WRITE)
        return CONN_NEXT;
    r = &h->rq->resp;
    bool pending = buf_len(&h->out) || response_pending(r);
    if (h->head_sent && !pending && !r->more && (!h->chunked || h->last_chunk)) {
        finish_response(c);
        return CONN_NEXT;
    }
    return c->wr_ready && pending ? CONN_NEXT : CONN_WAIT;
}

static int step_linger(conn_t *c)
{
    h1_t *h = h1_of(c);
    char sink[16384];
    if (!c->rd_ready)
        return CONN_WAIT;
    ssize_t n = c->tp->recv(c, sink, sizeof(sink));
    if (n > 0) {
        if ((size_t)n < sizeof(sink) && !c->peer_closed && c->tp->short_read_drains)
            c->rd_ready = false;
        uint64_t now = clock_ms();
        uint64_t next = now + LINGER_READ_MS < h->linger_deadline ? now + LINGER_READ_MS : h->linger_deadline;
        loop_timer_at(&c->timer, next);
        return CONN_NEXT;
    }
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->rd_ready = false;
        return CONN_WAIT;
    }
    if (n < 0 && errno == EINTR)
        return CONN_NEXT;
    conn_close(c);
    return CONN_NEXT;
}

/* ---- the protocol ---- */

static int h1_step(conn_t *c)
{
    switch (h1_of(c)->state) {
    case H1_READ_HEAD: return step_read_head(c);
    case H1_READ_BODY: return step_read_body(c);
    case H1_WRITE: return step_write(c);
    case H1_LINGER: return step_linger(c);
    }
    return CONN_WAIT;
}

static void h1_timeout(conn_t *c)
{
    h1_t *h = h1_of(c);
    response_t *r = h->rq ? &h->rq->resp : NULL;
    switch (h->state) {
    case H1_READ_HEAD:
        if (buf_len(&c->in) == 0 && (!h->rq || !h->rq->h.pos)) {  /* idle: close quietly */
            conn_close(c);
            return;
        }
        log_msg(LOG_INFO, "client %s timed out sending the request head", c->peer);
        break;
    case H1_READ_BODY:
        log_msg(LOG_INFO, "client %s timed out sending the request body", c->peer);
        break;
    case H1_WRITE:
        if (r->more && !buf_len(&h->out) && !buf_len(&r->mem)) {
            if (r->refill) {  /* waiting for a running producer, which has its own timeout */
                loop_timer_set(&c->timer, (uint64_t)scope_of(c)->send_timeout);
                return;
            }
            log_msg(LOG_ERR, "client %s: the response has no producer left", c->peer);
            conn_close(c);
            return;
        }
        log_msg(LOG_INFO, "client %s timed out reading the response", c->peer);
        conn_close(c);
        return;
    case H1_LINGER:
        conn_close(c);
        return;
    }
    /* head or body timed out: a best-effort 408 (unless a response has
     * begun), then close */
    fail_request(c, 408);
}

static void h1_start(conn_t *c)
{
    h1_t *h = free_list;
    if (h) {
        free_list = h->next_free;
        nfree--;
    } else {
        h = xmalloc(sizeof(*h));
    }
    memset(h, 0, sizeof(*h));
    buf_init(&h->out, OUT_LIMIT);
    c->ps = h;
    h->state = H1_READ_HEAD;
    h->idle_timeout = default_scope(c)->keepalive_timeout;
    h->head_deadline = clock_ms() + (uint64_t)default_scope(c)->client_header_timeout;
    loop_timer_at(&c->timer, h->head_deadline);
}

static void h1_shutdown(conn_t *c)
{
    h1_t *h = h1_of(c);
    bool idle = h->state == H1_READ_HEAD && buf_len(&c->in) == 0 && (!h->rq || !h->rq->h.pos);
    if (idle || h->state == H1_LINGER)  /* nothing more to send them */
        conn_close(c);
}

static void h1_close(conn_t *c)
{
    request_t *rq = h1_of(c)->rq;
    if (!rq)
        return;
    if (rq->status && rq->h.head_len)
        http_log_access(rq);  /* an interrupted response is logged with what was sent */
    request_end_handler(rq, false);
}

static void h1_release(conn_t *c)
{
    h1_t *h = h1_of(c);
    if (h->rq)
        request_put(h->rq);
    buf_give(&h->out);
    if (nfree >= FREE_MAX) {
        free(h);
    } else {
        h->next_free = free_list;
        free_list = h;
        nfree++;
    }
    c->ps = NULL;
}

const protocol_t protocol_h1 = {h1_start, h1_step, h1_timeout, h1_shutdown, h1_close, h1_release};
