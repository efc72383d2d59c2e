/* Static files: GET/HEAD, index, autoindex, conditionals, ranges. */
#include "static.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "filecache.h"
#include "http.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "route.h"

/* fspath = the file of the URI path (+ suffix), NUL-terminated. */
static int build_fspath(request_t *rq, const char *suffix)
{
    return route_map(rq, rq->path.data, buf_len(&rq->path), suffix);
}

/* If-None-Match: a list of entity-tags or "*"; weak comparison (RFC 9110 13.1.2). */
static bool etag_matches(str_t header, const char *etag)
{
    str_t tag = {etag, strlen(etag)};
    size_t i = 0;
    while (i < header.len) {
        while (i < header.len && (header.ptr[i] == ' ' || header.ptr[i] == '\t' || header.ptr[i] == ','))
            i++;
        size_t s = i;
        while (i < header.len && header.ptr[i] != ',')
            i++;
        str_t e = str_trim((str_t){header.ptr + s, i - s});
        if (str_eq(e, "*"))
            return true;
        if (e.len > 2 && e.ptr[0] == 'W' && e.ptr[1] == '/') {
            e.ptr += 2;
            e.len -= 2;
        }
        if (e.len == tag.len && memcmp(e.ptr, tag.ptr, tag.len) == 0)
            return true;
    }
    return false;
}

static bool not_modified(const request_t *rq, const struct stat *st, const char *etag)
{
    const char *d = request_head(rq);
    str_t inm = http_header(&rq->h, d, HTTP_H_IF_NONE_MATCH);
    if (inm.ptr)
        return etag_matches(inm, etag);
    str_t ims = http_header(&rq->h, d, HTTP_H_IF_MODIFIED_SINCE);
    if (ims.ptr) {
        time_t t = http_date_parse(ims.ptr, ims.len);
        return t >= 0 && st->st_mtime <= t;
    }
    return false;
}

static int parse_u64(const char *p, size_t n, off_t *out)
{
    if (n == 0 || n > 18)
        return -1;
    off_t v = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        v = v * 10 + (p[i] - '0');
    }
    *out = v;
    return 0;
}

/* A single "bytes=" range. Returns 1 with [*first, *last] set, 0 to
 * ignore the header (other unit, several ranges, bad syntax: serve 200),
 * -1 for an unsatisfiable range (416). */
static int parse_range(str_t r, off_t size, off_t *first, off_t *last)
{
    r = str_trim(r);
    if (r.len < 6 || strncasecmp(r.ptr, "bytes=", 6) != 0)
        return 0;
    str_t spec = str_trim((str_t){r.ptr + 6, r.len - 6});
    if (memchr(spec.ptr, ',', spec.len))
        return 0;
    const char *dash = memchr(spec.ptr, '-', spec.len);
    if (!dash)
        return 0;
    str_t a = str_trim((str_t){spec.ptr, (size_t)(dash - spec.ptr)});
    str_t b = str_trim((str_t){dash + 1, spec.len - (size_t)(dash - spec.ptr) - 1});
    off_t x, y;
    if (a.len == 0) {  /* suffix: the last y bytes */
        if (parse_u64(b.ptr, b.len, &y) != 0)
            return 0;
        if (y == 0 || size == 0)
            return -1;
        *first = y >= size ? 0 : size - y;
        *last = size - 1;
        return 1;
    }
    if (parse_u64(a.ptr, a.len, &x) != 0)
        return 0;
    if (b.len == 0)
        y = size - 1;
    else if (parse_u64(b.ptr, b.len, &y) != 0 || y < x)
        return 0;
    if (x >= size)
        return -1;
    *first = x;
    *last = y >= size ? size - 1 : y;
    return 1;
}

/* If-Range: the range applies only when the validator still matches. */
static bool if_range_ok(const request_t *rq, const struct stat *st, const char *etag)
{
    str_t ir = http_header(&rq->h, request_head(rq), HTTP_H_IF_RANGE);
    if (!ir.ptr)
        return true;
    ir = str_trim(ir);
    if (ir.len && ir.ptr[0] == '"')
        return ir.len == strlen(etag) && memcmp(ir.ptr, etag, ir.len) == 0;
    time_t t = http_date_parse(ir.ptr, ir.len);
    return t >= 0 && t == st->st_mtime;
}

void static_send(request_t *rq, int status, fc_entry_t *e)
{
    const struct stat *st = &e->st;
    off_t first = 0, last = st->st_size - 1;
    if (status == 200 && !rq->error_status) {
        if (not_modified(rq, st, e->etag)) {
            http_response_start(rq, 304);
            rq->resp.cached_fields = (str_t){e->fields + e->validators_off, e->validators_len};
            rq->resp.entry = e;  /* holds the fields */
            http_response_ready(rq, -1);
            return;
        }
        str_t range = http_header(&rq->h, request_head(rq), HTTP_H_RANGE);
        if (range.ptr && if_range_ok(rq, st, e->etag)) {
            int rr = parse_range(range, st->st_size, &first, &last);
            if (rr < 0) {
                http_add_header(rq, "Content-Range: bytes */%lld\r\n", (long long)st->st_size);
                filecache_release(e);
                http_error(rq, 416);
                return;
            }
            if (rr > 0)
                status = 206;
        }
    }
    off_t len = st->st_size ? last - first + 1 : 0;
    http_response_start(rq, status);
    /* an error page has the error's status: no validators, so no 304 or range */
    str_t cached = {e->fields, rq->error_status ? e->validators_off : e->fields_len};
    const mime_map_t *mime = rq->scope ? rq->scope->mime : NULL;
    if (e->mime_id != (mime ? mime->id : 0)) {  /* the entry's Content-Type is another location's */
        char type[256];
        if (mime_content_type(mime, e->path, e->pathlen, type, sizeof(type)))
            http_add_header(rq, "Content-Type: %s\r\n", type);
        cached.ptr += e->validators_off;
        cached.len -= e->validators_off;
    }
    rq->resp.cached_fields = cached;
    if (status == 206)
        buf_appendf(&rq->fields, "Content-Range: bytes %lld-%lld/%lld\r\n", (long long)first, (long long)last,
                    (long long)st->st_size);
    http_response_ready(rq, len);
    if (rq->head_only || len == 0) {
        rq->resp.entry = e;  /* holds the fields */
        return;
    }
    response_send_entry(rq, e, first, len);
}

static int open_status(int err)
{
    switch (err) {
    case ENOENT:
    case ENOTDIR:
    case ENAMETOOLONG:
        return 404;
    case EACCES:
    case EPERM:
    case ELOOP:
        return 403;
    case EMFILE:
    case ENFILE:
        return 503;  /* out of descriptors: a retry may succeed */
    default:
        return 500;
    }
}

/* A directory URI without its trailing slash: redirect to the slashed form. */
static void redirect_slash(request_t *rq)
{
    buf_t *x = &rq->fields;
    size_t mark = x->end;
    str_t q = http_query(rq);
    int rc = buf_appends(x, "Location: ");
    rc |= path_url_encode(x, rq->path.data, buf_len(&rq->path));
    rc |= buf_append(x, "/", 1);
    if (q.len) {
        rc |= buf_append(x, "?", 1);
        rc |= buf_append(x, q.ptr, q.len);
    }
    rc |= buf_append(x, "\r\n", 2);
    if (rc) {
        x->end = mark;
        http_error(rq, 500);
        return;
    }
    http_error(rq, 301);
}

static void serve_directory(request_t *rq)
{
    const conf_scope_t *s = rq->scope;
    if (rq->path.data[buf_len(&rq->path) - 1] != '/') {
        redirect_slash(rq);
        return;
    }
    for (size_t i = 0; i < s->nindex; i++) {
        if (build_fspath(rq, s->index[i]) != 0)
            break;
        fc_entry_t *e = filecache_get(rq->fspath.data, buf_len(&rq->fspath), rq->scope->mime);
        if (!e) {
            if (errno == ENOENT || errno == ENOTDIR)
                continue;
            http_error(rq, open_status(errno));
            return;
        }
        bool regular = S_ISREG(e->st.st_mode);
        filecache_release(e);
        if (regular) {  /* served as if its URI had been requested: a script runs */
            http_serve_index(rq, s->index[i]);
            return;
        }
    }
    if (s->autoindex && build_fspath(rq, NULL) == 0) {
        autoindex_serve(rq, rq->fspath.data);
        return;
    }
    http_error(rq, 403);
}

void static_serve(request_t *rq)
{
    int mapped = build_fspath(rq, NULL);
    if (mapped != 0) {
        http_error(rq, mapped == -2 ? 404 : 414);
        return;
    }
    fc_entry_t *e = filecache_get(rq->fspath.data, buf_len(&rq->fspath), rq->scope->mime);
    if (!e) {
        int err = errno;
        if (err != ENOENT && err != ENOTDIR)
            log_msg(LOG_ERR, "open \"%s\": %s", rq->fspath.data, strerror(err));
        http_error(rq, open_status(err));
        return;
    }
    if (S_ISDIR(e->st.st_mode)) {
        filecache_release(e);
        serve_directory(rq);
        return;
    }
    if (!S_ISREG(e->st.st_mode)) {
        filecache_release(e);
        http_error(rq, 403);
        return;
    }
    static_send(rq, 200, e);
}
