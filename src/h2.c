/* HTTP/2 framing (RFC 9113) by libnghttp2: frames, HPACK and flow control
 * are the library's; streams, requests and bounds are ours.
 *
 * Bytes read go to nghttp2_session_mem_recv, whose callbacks build each
 * stream's request head (as HTTP/1.1 text, parsed by the same parser as
 * h1, so every request feature behaves alike) and collect its DATA. After
 * each read, the streams that changed are serviced: a complete head is
 * handled (http_handle), body bytes go to the handler (and are given back
 * to the client's window only as the handler takes them), a ready
 * response is submitted, a producer's new output resumes its stream.
 * nghttp2 writes frames into `out` (bounded: nothing more is asked of it
 * while the socket is slow); a stream's DATA is copied from its
 * response's sources straight behind its frame header (send_data) as the
 * windows allow. */
#include "h2.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "clock.h"
#include "http.h"
#include "log.h"
#include "request.h"

#define OUT_MAX (1024 * 1024)           /* frames waiting for the socket, at most (SPEC) */
#define OUT_LOW (64 * 1024)             /* ask nghttp2 for more frames below this */
#define STREAM_WINDOW 65535             /* per stream: the most body one may buffer */
#define CONN_WINDOW (1024 * 1024)       /* all streams' bodies, together */
#define HEAD_BOMB (4 * HTTP_MAX_HEAD)   /* decoded header bytes that end the connection */
#define REFILL_LOW (16 * 1024)          /* ask a producer for more below this */
#define EMPTY_FRAMES_PER_SECOND 1000    /* empty DATA or SETTINGS: more is a flood */
#define RESETS_PER_SECOND 1000          /* streams the client cancels: more is a rapid reset */
#define ACKS_UNREAD_MAX 10000           /* PING/SETTINGS answers the client leaves unread */

typedef struct stream {
    struct stream *prev, *next;    /* the connection's streams */
    struct stream *dirty_next;     /* on the list of streams to service */
    bool dirty;
    struct h2 *h;
    int32_t id;
    request_t *rq;
    buf_t head;                    /* the request head, as HTTP/1.1 text */
    char method[24];
    buf_t path, authority;         /* :path, :authority (pseudo-fields come first) */
    bool line_done;                /* the request line is in `head` */
    bool host_done;                /* `head` has a host line (from :authority) */
    size_t decoded;                /* header bytes decoded (name + value) */
    bool head_too_large;
    bool head_done;                /* END_HEADERS: the request can begin */
    bool begun;
    buf_t body;                    /* DATA not yet taken by the handler */
    int64_t received;              /* body bytes received in all */
    bool body_end;                 /* END_STREAM received */
    bool drop_body;                /* the request needs no more of its body */
    bool submitted;                /* its response head went to nghttp2 */
    bool deferred;                 /* its DATA waits for its producer */
} stream_t;

typedef struct h2 {
    conn_t *c;
    nghttp2_session *s;
    buf_t out;                     /* frames for the socket */
    stream_t *streams;
    size_t nstreams;
    stream_t *dirty;
    bool goaway;                   /* graceful stop: no new streams */
    bool progress;                 /* a request or response moved: the timer starts again */
    uint64_t flood_second;
    unsigned empty_frames, resets; /* this second */
} h2_t;

#define FREE_STREAMS_MAX 1024

/* Streams are kept on a free list, with their buffers' storage, so that a
 * request costs no malloc of ours. */
static stream_t *free_streams;
static size_t nfree_streams;

static h2_t *h2_of(const conn_t *c) { return c->ps; }
static const conf_scope_t *default_scope(const conn_t *c) { return &c->listener->servers[0]->s; }

static void mark(stream_t *st)
{
    if (st->dirty)
        return;
    st->dirty = true;
    st->dirty_next = st->h->dirty;
    st->h->dirty = st;
}

/* ---- the request's view of its framing ---- */

static const char *rq_head(const request_t *rq, size_t *len)
{
    const stream_t *st = rq->stream;
    *len = buf_len(&st->head);
    return buf_head(&st->head);
}

static void rq_wake(request_t *rq)
{
    stream_t *st = rq->stream;
    mark(st);
    conn_wake(st->h->c);
}

static void rq_fail(request_t *rq, int status)
{
    stream_t *st = rq->stream;
    if (st->submitted) {  /* its head is out: the status cannot change */
        nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    } else {
        request_end_handler(rq, false);
        st->drop_body = true;
        http_error(rq, status);
    }
    rq_wake(rq);
}

static void rq_abort(request_t *rq)
{
    stream_t *st = rq->stream;
    nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    rq_wake(rq);
}

static const char *rq_protocol(const request_t *rq) { return "HTTP/2.0"; }

static const framing_t H2_FRAMING = {rq_head, rq_wake, rq_fail, rq_abort, rq_protocol};

/* ---- streams ---- */

static stream_t *stream_new(h2_t *h, int32_t id)
{
    stream_t *st = free_streams;
    buf_t head, path, authority;
    if (st) {
        free_streams = st->next;
        nfree_streams--;
        head = st->head;
        path = st->path;
        authority = st->authority;
        head.start = head.end = path.start = path.end = authority.start = authority.end = 0;
        head.failed = path.failed = authority.failed = false;
    } else {
        st = xmalloc(sizeof(*st));
        buf_init(&head, HTTP_MAX_HEAD + HTTP_MAX_URI);
        buf_init(&path, HTTP_MAX_URI + 1);
        buf_init(&authority, 1024);
    }
    memset(st, 0, sizeof(*st));
    st->head = head;
    st->path = path;
    st->authority = authority;
    st->h = h;
    st->id = id;
    buf_init(&st->body, STREAM_WINDOW);
    st->next = h->streams;
    if (h->streams)
        h->streams->prev = st;
    h->streams = st;
    h->nstreams++;
    return st;
}

/* The stream is over: log its request, end its handler, free it. */
static void stream_free(stream_t *st, bool ok)
{
    h2_t *h = st->h;
    request_t *rq = st->rq;
    if (rq) {
        if (rq->status)
            http_log_access(rq);
        request_end_handler(rq, ok);
        request_put(rq);
    }
    if (buf_len(&st->body))  /* received and never taken: the connection's window gets it back */
        nghttp2_session_consume_connection(h->s, buf_len(&st->body));
    if (st->dirty) {  /* off the dirty list */
        for (stream_t **p = &h->dirty; *p; p = &(*p)->dirty_next)
            if (*p == st) {
                *p = st->dirty_next;
                break;
            }
    }
    if (st->prev)
        st->prev->next = st->next;
    else
        h->streams = st->next;
    if (st->next)
        st->next->prev = st->prev;
    h->nstreams--;
    buf_give(&st->body);
    if (nfree_streams >= FREE_STREAMS_MAX || st->head.cap > BUF_POOL_BLOCK) {
        buf_free(&st->head);
        buf_free(&st->path);
        buf_free(&st->authority);
        free(st);
        return;
    }
    st->next = free_streams;
    free_streams = st;
    nfree_streams++;
}

/* ---- the response ---- */

static bool connection_specific(str_t name)
{
    return str_ieq(name, "connection") || str_ieq(name, "keep-alive") || str_ieq(name, "transfer-encoding") ||
           str_ieq(name, "proxy-connection") || str_ieq(name, "upgrade");
}

/* Header lines "Name: value\r\n" as nghttp2 fields with lower-case
 * names, copied to *names (which has room for all of p's bytes and must
 * outlive the submit). */
static size_t add_lines(nghttp2_nv *nv, size_t n, size_t max, const char *p, size_t len, char **names,
                        bool filter)
{
    if (!len)
        return n;
    const char *end = p + len;
    while (p < end && n < max) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *line_end = eol ? eol : end;
        const char *colon = memchr(p, ':', (size_t)(line_end - p));
        if (colon) {
            str_t name = {p, (size_t)(colon - p)};
            const char *v = colon + 1;
            while (v < line_end && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = line_end;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            if (!filter || !connection_specific(name)) {
                char *lower = *names;
                for (size_t i = 0; i < name.len; i++)
                    lower[i] = (char)(name.ptr[i] >= 'A' && name.ptr[i] <= 'Z' ? name.ptr[i] + 32 : name.ptr[i]);
                *names += name.len;
                nv[n++] = (nghttp2_nv){(uint8_t *)lower, (uint8_t *)v, name.len, (size_t)(ve - v),
                                       NGHTTP2_NV_FLAG_NONE};
            }
        }
        p = eol ? eol + 1 : end;
    }
    return n;
}

/* The lines the server itself repeats on every response (the common
 * ones, and a hot file's cached ones) are converted once and reused while
 * their text is the same: `original` is compared, `lower` is what the
 * fields point into. */
typedef struct {
    char original[1024], lower[1024];
    size_t len;
    nghttp2_nv nv[16];
    size_t n;
} converted_t;

static size_t add_converted(converted_t *cv, nghttp2_nv *nv, size_t n, size_t max, const char *p, size_t len,
                            char **names)
{
    if (!len)
        return n;
    if (len > sizeof(cv->original))  /* not a line block of ours: converted for this response only */
        return add_lines(nv, n, max, p, len, names, false);
    if (cv->len != len || memcmp(cv->original, p, len) != 0) {
        memcpy(cv->original, p, len);
        cv->len = len;
        char *at = cv->lower;
        cv->n = add_lines(cv->nv, 0, sizeof(cv->nv) / sizeof(cv->nv[0]), cv->original, len, &at, false);
    }
    for (size_t i = 0; i < cv->n && n < max; i++)
        nv[n++] = cv->nv[i];
    return n;
}

/* Copy n bytes of the response's body, in order of its sources, to dst.
 * Returns 0, or -1 when the file could not be read. */
static int take_body(response_t *r, char *dst, size_t n, int32_t id)
{
    size_t k = buf_len(&r->mem) < n ? buf_len(&r->mem) : n;
    if (k) {
        memcpy(dst, buf_head(&r->mem), k);
        buf_consume(&r->mem, k);
        dst += k;
        n -= k;
    }
    k = r->body_len < n ? r->body_len : n;
    if (k) {
        memcpy(dst, r->body, k);
        r->body += k;
        r->body_len -= k;
        dst += k;
        n -= k;
    }
    while (n) {
        ssize_t got = pread(r->file, dst, n, r->file_off);
        if (got <= 0) {
            log_msg(LOG_ERR, "read of a file for h2 stream %d: %s", (int)id, got ? strerror(errno) : "truncated");
            return -1;
        }
        r->file_off += got;
        dst += got;
        n -= (size_t)got;
    }
    return 0;
}

/* How much of the body the next DATA frame carries (up to `length`, the
 * windows' and the frame size's limit). The bytes themselves are copied
 * by send_data, straight behind the frame header in `out`. */
static ssize_t read_body(nghttp2_session *s, int32_t id, uint8_t *buf, size_t length, uint32_t *flags,
                         nghttp2_data_source *src, void *user)
{
    stream_t *st = src->ptr;
    response_t *r = &st->rq->resp;
    size_t mem = buf_len(&r->mem);
    uint64_t avail = mem + r->body_len + (r->file >= 0 ? (uint64_t)(r->file_end - r->file_off) : 0);
    size_t n = avail < length ? (size_t)avail : length;
    if (r->more && r->refill && mem - (n < mem ? n : mem) < REFILL_LOW)
        mark(st);  /* the producer may add more: asked after this round */
    if (n == 0 && r->more) {
        st->deferred = true;
        return NGHTTP2_ERR_DEFERRED;
    }
    if (!r->more && n == avail)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    *flags |= NGHTTP2_DATA_FLAG_NO_COPY;
    return (ssize_t)n;
}

static int send_data(nghttp2_session *s, nghttp2_frame *f, const uint8_t *framehd, size_t length,
                     nghttp2_data_source *src, void *user)
{
    h2_t *h = user;
    stream_t *st = src->ptr;
    buf_t *o = &h->out;
    if (buf_reserve(o, 9 + length) < 9 + length)
        return NGHTTP2_ERR_WOULDBLOCK;  /* cannot happen: frames are asked for only below OUT_LOW */
    if (take_body(&st->rq->resp, o->data + o->end + 9, length, st->id) != 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;  /* the stream is reset */
    memcpy(o->data + o->end, framehd, 9);
    o->end += 9 + length;
    h->progress = true;
    st->rq->resp.sent += (int64_t)length;
    return 0;
}

static void submit_response(stream_t *st)
{
    request_t *rq = st->rq;
    response_t *r = &rq->resp;
    nghttp2_nv nv[HTTP_MAX_HEADERS];
    char status[3], length[24];
    size_t n = 0;
    int code = http_status_sent(rq->status) % 1000;
    status[0] = (char)('0' + code / 100);
    status[1] = (char)('0' + code / 10 % 10);
    status[2] = (char)('0' + code % 10);
    nv[n++] = (nghttp2_nv){(uint8_t *)":status", (uint8_t *)status, 7, 3, NGHTTP2_NV_FLAG_NONE};
    size_t common_len;
    const char *common = http_common_fields(&common_len);
    size_t names_len = common_len + r->cached_fields.len + buf_len(&rq->fields);
    char names_mem[4096];
    char *names = names_len <= sizeof(names_mem) ? names_mem : xmalloc(names_len), *at = names;
    /* the common and cached lines are the server's own: no connection-specific field among them */
    static converted_t common_cv, cached_cv;
    n = add_converted(&common_cv, nv, n, HTTP_MAX_HEADERS - 1, common, common_len, &at);
    n = add_converted(&cached_cv, nv, n, HTTP_MAX_HEADERS - 1, r->cached_fields.ptr, r->cached_fields.len, &at);
    n = add_lines(nv, n, HTTP_MAX_HEADERS - 1, buf_head(&rq->fields), buf_len(&rq->fields), &at, true);
    bool has_body = http_status_has_body(rq->status);
    if (r->length < 0 && has_body && !r->more && !rq->head_only)  /* a stream that ended already */
        r->length = (int64_t)(buf_len(&r->mem) + r->body_len) + (r->file >= 0 ? r->file_end - r->file_off : 0);
    if (r->length >= 0 && has_body) {
        char *d = length + sizeof(length);
        uint64_t v = (uint64_t)r->length;
        do {
            *--d = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        nv[n++] = (nghttp2_nv){(uint8_t *)"content-length", (uint8_t *)d, 14, (size_t)(length + sizeof(length) - d),
                               NGHTTP2_NV_FLAG_NONE};
    }
    bool body = has_body && !rq->head_only && (r->more || response_pending(r));
    nghttp2_data_provider dp = {.source.ptr = st, .read_callback = read_body};
    int rc = nghttp2_submit_response(st->h->s, st->id, nv, n, body ? &dp : NULL);
    if (names != names_mem)
        free(names);
    if (rc != 0) {
        log_msg(LOG_ERR, "h2 stream %d: %s", (int)st->id, nghttp2_strerror(rc));
        nghttp2_submit_rst_stream(st->h->s, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
    }
    st->submitted = true;
    st->h->progress = true;
}

/* ---- requests ---- */

/* The request line (and Host, from :authority), once the pseudo-header
 * fields are all in: before the first regular field, or at the end. */
static int start_head(stream_t *st)
{
    buf_t *hd = &st->head;
    st->line_done = true;
    int rc = buf_append(hd, st->method, strlen(st->method)) || buf_append(hd, " ", 1) ||
             buf_append(hd, buf_head(&st->path), buf_len(&st->path)) || buf_append(hd, " HTTP/1.1\r\n", 11);
    if (!rc && buf_len(&st->authority)) {  /* :authority plays Host */
        st->host_done = true;
        rc = buf_append(hd, "host: ", 6) || buf_append(hd, buf_head(&st->authority), buf_len(&st->authority)) ||
             buf_append(hd, "\r\n", 2);
    }
    return rc;
}

/* END_HEADERS: the request head as HTTP/1.1 text, parsed and handled. */
static void begin(stream_t *st)
{
    h2_t *h = st->h;
    conn_t *c = h->c;
    st->begun = true;
    request_t *rq = st->rq = request_get(&H2_FRAMING, st, c);
    rq->start_ms = clock_ms();
    rq->keep_alive = true;
    buf_t *hd = &st->head;
    if (!st->line_done && start_head(st) != 0)
        st->head_too_large = true;
    int status = st->head_too_large || buf_append(hd, "\r\n", 2) ? 431 : 0;
    if (!status && http_parse_head(&rq->h, buf_head(hd), buf_len(hd)) != HTTP_OK)
        status = rq->h.status ? rq->h.status : 400;
    rq->has_body = !st->body_end || buf_len(&st->body);
    if (!rq->has_body && rq->h.content_length < 0)
        rq->h.content_length = 0;  /* END_STREAM with the head: the body is known to be empty */
    rq->body_left = rq->h.content_length;
    if (status) {
        log_msg(LOG_INFO, "client %s: bad h2 request on stream %d (%d)", c->peer, (int)st->id, status);
        st->drop_body = true;
        http_error(rq, status);
        return;
    }
    http_handle(rq);
    if (rq->status == 413 || (rq->has_body && !rq->body && rq->resp.ready))
        st->drop_body = true;  /* answered without its body */
}

/* Hand buffered body bytes to the handler; the taken ones go back to the
 * client's windows. */
static void deliver_body(stream_t *st)
{
    h2_t *h = st->h;
    request_t *rq = st->rq;
    int64_t max = rq->scope ? rq->scope->client_max_body_size : 0;
    rq->body_size = st->received;
    if (max && st->received > max && !st->drop_body) {
        log_msg(LOG_INFO, "client %s: body of stream %d over client_max_body_size %lld", h->c->peer, (int)st->id,
                (long long)max);
        rq_fail(rq, 413);
    }
    size_t ready = buf_len(&st->body);
    ssize_t took;
    if (st->drop_body || !rq->body) {
        took = (ssize_t)ready;
    } else {
        bool last = st->body_end;
        took = ready || last ? rq->body->data(rq, buf_head(&st->body), ready, last) : 0;
        if (took < 0) {
            log_msg(LOG_INFO, "client %s: request body rejected (%d)", h->c->peer, (int)-took);
            rq_fail(rq, (int)-took);
            took = (ssize_t)ready;  /* dropped from now on */
        }
    }
    if (took > 0) {
        buf_consume(&st->body, (size_t)took);
        nghttp2_session_consume(h->s, st->id, (size_t)took);
    }
    if (st->body_end && !buf_len(&st->body) && !rq->body_done) {
        rq->body_done = true;
        if (rq->body && !st->drop_body)
            rq->body->done(rq);
    }
}

static void service(stream_t *st)
{
    h2_t *h = st->h;
    if (!st->begun) {
        if (!st->head_done)
            return;
        begin(st);
    }
    request_t *rq = st->rq;
    if (!rq->body_done)
        deliver_body(st);
    response_t *r = &rq->resp;
    if (!st->submitted) {
        if (r->ready && (rq->body_done || st->drop_body || r->more))
            submit_response(st);
        return;
    }
    if (r->more && r->refill && buf_len(&r->mem) < REFILL_LOW)
        r->refill(rq);
    if (st->deferred && (response_pending(r) || !r->more)) {
        st->deferred = false;
        nghttp2_session_resume_data(h->s, st->id);
    }
}

static void service_dirty(h2_t *h)
{
    for (int rounds = 0; h->dirty && rounds < 64; rounds++) {
        stream_t *list = h->dirty;
        h->dirty = NULL;
        while (list) {
            stream_t *st = list;
            list = st->dirty_next;
            st->dirty = false;
            service(st);
        }
    }
}

/* ---- nghttp2 callbacks ---- */

static int on_begin_headers(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    h2_t *h = user;
    if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    stream_t *st = stream_new(h, f->hd.stream_id);
    nghttp2_session_set_stream_user_data(s, f->hd.stream_id, st);
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t namelen,
                     const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
    h2_t *h = user;
    stream_t *st = nghttp2_session_get_stream_user_data(s, f->hd.stream_id);
    if (!st || st->head_done)
        return 0;  /* trailers: ignored */
    st->decoded += namelen + valuelen + 32;
    if (st->decoded > HEAD_BOMB) {  /* an HPACK bomb: no request is that large */
        log_msg(LOG_INFO, "client %s: h2 header list over %d bytes: cut", h->c->peer, HEAD_BOMB);
        nghttp2_session_terminate_session(s, NGHTTP2_ENHANCE_YOUR_CALM);
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    }
    if (st->head_too_large)
        return 0;
    const char *n = (const char *)name, *v = (const char *)value;
    int rc = 0;
    if (namelen && n[0] == ':') {
        if (namelen == 7 && memcmp(n, ":method", 7) == 0) {
            if (valuelen >= sizeof(st->method))
                st->head_too_large = true;
            else
                memcpy(st->method, v, valuelen), st->method[valuelen] = '\0';
        } else if (namelen == 5 && memcmp(n, ":path", 5) == 0) {
            rc = buf_append(&st->path, v, valuelen);
        } else if (namelen == 10 && memcmp(n, ":authority", 10) == 0) {
            rc = buf_append(&st->authority, v, valuelen);
        }
        /* :scheme is the connection's */
    } else {
        if (!st->line_done)
            rc = start_head(st);
        if (st->host_done && namelen == 4 && memcmp(n, "host", 4) == 0)
            return 0;  /* :authority has said it (RFC 9113 8.3.1) */
        buf_t *hd = &st->head;
        rc = rc || buf_append(hd, n, namelen) || buf_append(hd, ": ", 2) || buf_append(hd, v, valuelen) ||
             buf_append(hd, "\r\n", 2);
    }
    if (rc)
        st->head_too_large = true;  /* answered 431 */
    return 0;
}

/* Frames that cost the server and give it nothing, counted per second:
 * past the limit the connection is cut with GOAWAY (ENHANCE_YOUR_CALM). */
static void count_flood(h2_t *h, unsigned *count, unsigned limit, const char *what)
{
    uint64_t second = clock_ms() / 1000;
    if (second != h->flood_second) {
        h->flood_second = second;
        h->empty_frames = h->resets = 0;
    }
    if (++*count == limit + 1) {
        log_msg(LOG_INFO, "client %s: h2 flood (%s): cut", h->c->peer, what);
        nghttp2_session_terminate_session(h->s, NGHTTP2_ENHANCE_YOUR_CALM);
    }
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    h2_t *h = user;
    stream_t *st = f->hd.stream_id ? nghttp2_session_get_stream_user_data(s, f->hd.stream_id) : NULL;
    switch (f->hd.type) {
    case NGHTTP2_HEADERS:
        if (!st)
            break;
        h->progress = true;
        if (f->hd.flags & NGHTTP2_FLAG_END_STREAM)
            st->body_end = true;
        if ((f->hd.flags & NGHTTP2_FLAG_END_HEADERS) && !st->head_done) {
            st->head_done = true;
            mark(st);
        }
        break;
    case NGHTTP2_DATA:
        if (f->hd.length == 0 && !(f->hd.flags & NGHTTP2_FLAG_END_STREAM))
            count_flood(h, &h->empty_frames, EMPTY_FRAMES_PER_SECOND, "empty DATA frames");
        if (st && (f->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
            st->body_end = true;
            mark(st);
        }
        break;
    case NGHTTP2_SETTINGS:
        if (!(f->hd.flags & NGHTTP2_FLAG_ACK))
            count_flood(h, &h->empty_frames, EMPTY_FRAMES_PER_SECOND, "SETTINGS frames");
        break;
    case NGHTTP2_RST_STREAM:  /* rapid reset (CVE-2023-44487) */
        count_flood(h, &h->resets, RESETS_PER_SECOND, "streams reset");
        break;
    default:
        break;
    }
    return 0;
}

static int on_data_chunk(nghttp2_session *s, uint8_t flags, int32_t id, const uint8_t *data, size_t len, void *user)
{
    stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    if (!st) {
        nghttp2_session_consume_connection(s, len);
        return 0;
    }
    if (st->drop_body) {
        nghttp2_session_consume(s, id, len);
        return 0;
    }
    st->received += (int64_t)len;
    st->h->progress = true;
    buf_take(&st->body);
    if (buf_append(&st->body, data, len) != 0) {  /* more than the window it was given */
        nghttp2_session_consume(s, id, len);
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    mark(st);
    return 0;
}

static int on_stream_close(nghttp2_session *s, int32_t id, uint32_t error_code, void *user)
{
    stream_t *st = nghttp2_session_get_stream_user_data(s, id);
    if (st) {
        nghttp2_session_set_stream_user_data(s, id, NULL);
        stream_free(st, error_code == NGHTTP2_NO_ERROR && st->submitted);
    }
    return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
    static nghttp2_session_callbacks *cb;
    if (!cb) {
        if (nghttp2_session_callbacks_new(&cb) != 0)
            abort();
        nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
        nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
        nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
        nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
        nghttp2_session_callbacks_set_send_data_callback(cb, send_data);
    }
    return cb;
}

static nghttp2_option *options(void)
{
    static nghttp2_option *opt;
    if (!opt) {
        if (nghttp2_option_new(&opt) != 0)
            abort();
        nghttp2_option_set_no_auto_window_update(opt, 1);  /* a window opens as the handler takes bytes */
        nghttp2_option_set_max_outbound_ack(opt, ACKS_UNREAD_MAX);
        nghttp2_option_set_no_closed_streams(opt, 1);
        /* rapid reset: our count (RESETS_PER_SECOND) answers ENHANCE_YOUR_CALM first;
         * nghttp2's own limit (INTERNAL_ERROR) stays as a backstop */
        nghttp2_option_set_stream_reset_rate_limit(opt, 10 * RESETS_PER_SECOND, RESETS_PER_SECOND);
        nghttp2_option_set_max_continuations(opt, 8);               /* CVE-2024-27316 */
    }
    return opt;
}

/* ---- the connection ---- */

static bool flush(conn_t *c);

/* The connection's one timer: keepalive_timeout without streams, else
 * send_timeout. It starts again only when a request or a response moves
 * (HEADERS or DATA either way), never for control frames: a client that
 * PINGs cannot hold a stalled stream, or an idle connection, for ever. */
static void set_timer(conn_t *c)
{
    h2_t *h = h2_of(c);
    const conf_scope_t *s = default_scope(c);
    h->progress = false;
    loop_timer_set(&c->timer, (uint64_t)(h->nstreams ? s->send_timeout : s->keepalive_timeout));
}

static void h2_start(conn_t *c)
{
    h2_t *h = xcalloc(1, sizeof(*h));
    h->c = c;
    c->ps = h;
    buf_init(&h->out, OUT_MAX + 64 * 1024);
    if (nghttp2_session_server_new2(&h->s, callbacks(), h, options()) != 0)
        abort();
    const conf_server_t *srv = c->listener->servers[0];
    nghttp2_settings_entry iv[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, (uint32_t)srv->http2_max_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, HTTP_MAX_HEAD},
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_NO_RFC7540_PRIORITIES, 1},  /* no priority tree to keep (RFC 9218) */
    };
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, iv, sizeof(iv) / sizeof(iv[0]));
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONN_WINDOW);
    if (c->shutting_down)
        h->goaway = true;
    set_timer(c);
}

/* Frames into `out`, then to the socket. Returns false once closed. */
static bool flush(conn_t *c)
{
    h2_t *h = h2_of(c);
    for (int i = 0; i < 16 && c->wr_ready; i++) {
        while (buf_len(&h->out) < OUT_LOW) {
            const uint8_t *data;
            ssize_t n = nghttp2_session_mem_send(h->s, &data);
            if (n < 0) {
                log_msg(LOG_ERR, "client %s: h2: %s", c->peer, nghttp2_strerror((int)n));
                conn_close(c);
                return false;
            }
            if (n == 0)
                break;
            if (buf_append(&h->out, data, (size_t)n) != 0) {
                log_msg(LOG_ERR, "client %s: h2 output over its bound", c->peer);
                conn_close(c);
                return false;
            }
        }
        size_t len = buf_len(&h->out);
        if (!len)
            break;
        struct iovec iov = {buf_head(&h->out), len};
        ssize_t n = c->tp->writev(c, &iov, 1, false);
        if (n > 0) {
            buf_consume(&h->out, (size_t)n);
            if ((size_t)n < len)
                c->wr_ready = false;
            if (h->progress)
                set_timer(c);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            c->wr_ready = false;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        conn_close(c);
        return false;
    }
    return true;
}

static int h2_step(conn_t *c)
{
    h2_t *h = h2_of(c);
    if (buf_len(&c->in)) {  /* read earlier (the preface, by h1) or just now */
        ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)buf_head(&c->in), buf_len(&c->in));
        if (n < 0) {
            log_msg(LOG_INFO, "client %s: h2: %s", c->peer, nghttp2_strerror((int)n));
            if (n == NGHTTP2_ERR_FLOODED || n == NGHTTP2_ERR_BAD_CLIENT_MAGIC)
                nghttp2_session_terminate_session(h->s, n == NGHTTP2_ERR_FLOODED ? NGHTTP2_ENHANCE_YOUR_CALM
                                                                                 : NGHTTP2_PROTOCOL_ERROR);
            buf_consume(&c->in, buf_len(&c->in));
            flush(c);  /* the GOAWAY, if it can go */
            conn_close(c);
            return CONN_NEXT;
        }
        buf_consume(&c->in, (size_t)n);
        if (h->progress)
            set_timer(c);
    }
    service_dirty(h);
    if (!flush(c))
        return CONN_NEXT;
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s) && !buf_len(&h->out)) {
        conn_close(c);  /* GOAWAY sent and every stream done */
        return CONN_NEXT;
    }
    if (h->goaway && h->nstreams == 0 && !buf_len(&h->out) && !nghttp2_session_want_write(h->s)) {
        conn_close(c);
        return CONN_NEXT;
    }
    if (h->dirty)
        return CONN_NEXT;
    if (c->rd_ready) {
        ssize_t n = conn_read(c);
        if (n == 0)
            return CONN_NEXT;  /* closed */
        if (n == -2)  /* cannot happen: every read is taken whole */
            buf_consume(&c->in, buf_len(&c->in));
        if (n > 0)
            return CONN_NEXT;
    }
    if (!buf_len(&c->in))  /* waiting: an idle connection holds no buffer */
        buf_give(&c->in);
    if (!buf_len(&h->out) && !h->nstreams) {
        buf_free(&h->out);
        if (c->tp->idle)
            c->tp->idle(c);
    }
    return CONN_WAIT;
}

static void h2_timeout(conn_t *c)
{
    h2_t *h = h2_of(c);
    for (stream_t *st = h->streams; st; st = st->next)
        if (st->rq && st->rq->resp.more && st->rq->resp.refill) {  /* a producer at work has its own timeout */
            set_timer(c);
            return;
        }
    if (h->nstreams)
        log_msg(LOG_INFO, "client %s: h2 connection timed out", c->peer);
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                          NULL, 0);
    flush(c);  /* the GOAWAY, if it can go */
    conn_close(c);
}

static void h2_shutdown(conn_t *c)
{
    h2_t *h = h2_of(c);
    if (h->goaway)
        return;
    h->goaway = true;
    nghttp2_submit_goaway(h->s, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(h->s), NGHTTP2_NO_ERROR,
                          NULL, 0);
    conn_wake(c);
}

static void h2_close(conn_t *c)
{
    h2_t *h = h2_of(c);
    for (stream_t *st = h->streams; st; st = st->next)
        if (st->rq) {
            if (st->rq->status)
                http_log_access(st->rq);
            request_end_handler(st->rq, false);
            st->rq->status = 0;  /* logged */
        }
}

static void h2_release(conn_t *c)
{
    h2_t *h = h2_of(c);
    while (h->streams)
        stream_free(h->streams, false);
    nghttp2_session_del(h->s);
    buf_free(&h->out);
    free(h);
    c->ps = NULL;
}

const protocol_t protocol_h2 = {h2_start, h2_step, h2_timeout, h2_shutdown, h2_close, h2_release};

bool h2_preface(const char *p, size_t len, bool *complete)
{
    static const char preface[] = NGHTTP2_CLIENT_MAGIC;
    size_t n = len < sizeof(preface) - 1 ? len : sizeof(preface) - 1;
    *complete = len >= sizeof(preface) - 1;
    return memcmp(p, preface, n) == 0;
}
