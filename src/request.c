/* The request core: the request pool, handler lifetime, response sources. */
#include "request.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "filecache.h"

#define FREE_REQUESTS_MAX 1024
#define FIELDS_LIMIT (1024 * 1024)  /* response header lines (a return URL has no fixed limit) */
#define RESP_MEM_LIMIT (8 * 1024 * 1024)  /* a body built in memory (autoindex) */

static request_t *free_requests;
static size_t nfree_requests;

request_t *request_get(const framing_t *fr, void *stream, conn_t *conn)
{
    request_t *rq = free_requests;
    if (rq) {
        free_requests = rq->next_free;
        nfree_requests--;
        rq->path.start = rq->path.end = rq->fspath.start = rq->fspath.end = 0;
        rq->target.start = rq->target.end = rq->fields.start = rq->fields.end = 0;
        rq->value.start = rq->value.end = rq->uri.start = rq->uri.end = 0;
        rq->captured.start = rq->captured.end = 0;
    } else {
        rq = xcalloc(1, sizeof(*rq));
        buf_init(&rq->path, HTTP_MAX_URI + 1);
        buf_init(&rq->fspath, 2 * HTTP_MAX_URI);
        buf_init(&rq->target, HTTP_MAX_URI + 1);
        buf_init(&rq->fields, FIELDS_LIMIT);
        buf_init(&rq->value, FIELDS_LIMIT);
        buf_init(&rq->uri, 2 * HTTP_MAX_URI);
        buf_init(&rq->captured, HTTP_MAX_URI + 1);
        buf_init(&rq->resp.mem, RESP_MEM_LIMIT);
        response_reset(rq);
    }
    memset(&rq->fr, 0, offsetof(request_t, resp) - offsetof(request_t, fr));
    rq->fr = fr;
    rq->stream = stream;
    rq->conn = conn;
    rq->resp.sent = 0;
    rq->resp.head_len = 0;
    http_request_init(&rq->h);
    http_chunked_init(&rq->chunk);
    return rq;
}

void request_put(request_t *rq)
{
    response_reset(rq);
    buf_give(&rq->resp.mem);
    if (nfree_requests >= FREE_REQUESTS_MAX) {
        buf_free(&rq->path);
        buf_free(&rq->fspath);
        buf_free(&rq->target);
        buf_free(&rq->fields);
        buf_free(&rq->value);
        buf_free(&rq->uri);
        buf_free(&rq->captured);
        free(rq);
        return;
    }
    if (rq->fields.cap > BUF_POOL_BLOCK)  /* a long redirect: give the memory back */
        buf_free(&rq->fields);
    if (rq->value.cap > BUF_POOL_BLOCK)
        buf_free(&rq->value);
    rq->next_free = free_requests;
    free_requests = rq;
    nfree_requests++;
}

void request_end_handler(request_t *rq, bool ok)
{
    if (rq->cleanup)
        rq->cleanup(rq, ok);
    rq->cleanup = NULL;
    rq->body = NULL;
    rq->ctx = NULL;
}

void response_reset(request_t *rq)
{
    response_t *r = &rq->resp;
    if (r->started)
        rq->fields.end = r->fields_from;
    r->started = false;
    filecache_release(r->entry);
    r->entry = NULL;
    r->ready = false;
    r->cached_fields = STR_NULL;
    r->length = -1;
    r->body = NULL;
    r->body_len = 0;
    r->file = -1;
    r->file_off = r->file_end = 0;
    r->mem.start = r->mem.end = 0;
    r->mem.failed = false;
    if (r->mem.cap > BUF_POOL_BLOCK)  /* a large listing: give the memory back */
        buf_free(&r->mem);
    r->more = false;
    r->refill = NULL;
}

void response_send_entry(request_t *rq, fc_entry_t *e, off_t first, off_t len)
{
    response_t *r = &rq->resp;
    r->entry = e;  /* keeps the content or descriptor alive while sending */
    if (e->data) {
        r->body = e->data + first;
        r->body_len = (size_t)len;
    } else {
        r->file = e->fd;
        r->file_off = first;
        r->file_end = first + len;
    }
}
