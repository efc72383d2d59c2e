/* Request handling: routing, response heads, error pages, access log. */
#include "http.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "route.h"
#include "cgi.h"
#include "delete.h"
#include "filecache.h"
#include "static.h"
#include "tls.h"
#include "upload.h"

#define SERVER_NAME "webserv/" WEBSERV_VERSION

const char *http_reason(int status)
{
    switch (status) {
    case 100: return "Continue";
    case 200: return "OK";
    case 201: return "Created";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 301: return "Moved Permanently";
    case 302: return "Found";
    case 303: return "See Other";
    case 304: return "Not Modified";
    case 307: return "Temporary Redirect";
    case 308: return "Permanent Redirect";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 411: return "Length Required";
    case 413: return "Content Too Large";
    case 414: return "URI Too Long";
    case 415: return "Unsupported Media Type";
    case 416: return "Range Not Satisfiable";
    case 417: return "Expectation Failed";
    case 421: return "Misdirected Request";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 501: return "Not Implemented";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    case 505: return "HTTP Version Not Supported";
    case 507: return "Insufficient Storage";
    default: return status < 300 ? "OK" : status < 400 ? "Redirect" : status < 500 ? "Client Error" : "Server Error";
    }
}

/* "Server: ...\r\nDate: ...\r\nX-Content-Type-Options: nosniff\r\n",
 * rebuilt when the second changes. Every response names its type (from the
 * extension, or the script's): nosniff makes browsers keep to it rather
 * than guess a script or a page from the bytes of an upload. */
const char *http_common_fields(size_t *len)
{
    static char line[128];
    static size_t n;
    static time_t built = -1;
    if (built != clock_wall()) {
        built = clock_wall();
        n = (size_t)snprintf(line, sizeof(line),
                             "Server: " SERVER_NAME "\r\nDate: %s\r\nX-Content-Type-Options: nosniff\r\n",
                             clock_http_date());
    }
    *len = n;
    return line;
}

bool http_status_has_body(int status) { return status >= 200 && status != 204 && status != 304; }

void http_response_start(request_t *rq, int status)
{
    if (rq->error_status)  /* an error_page: whatever served it, the status is the error's */
        status = rq->error_status;
    rq->status = status;
    rq->resp.started = true;
    rq->resp.fields_from = rq->fields.end;
}

int http_add_header(request_t *rq, const char *fmt, ...)
{
    buf_t *x = &rq->fields;
    size_t before = x->end;
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(x, fmt, ap);
    va_end(ap);
    if (rc != 0)
        x->end = before;
    return rc;
}

/* "Expires: ...\r\nCache-Control: ...\r\n" for `expires` of `offset`
 * seconds from now: formatted once a second for the offset last asked
 * (a site has one or two), not per response. */
static const char *expires_lines(int64_t offset, size_t *len)
{
    static char lines[128];
    static size_t n;
    static time_t built = -1;
    static int64_t built_for;
    if (built != clock_wall() || built_for != offset) {
        char date[HTTP_DATE_LEN + 1];
        built = clock_wall();
        built_for = offset;
        http_date_format(built + (time_t)offset, date);
        int k = offset < 0 ? snprintf(lines, sizeof(lines), "Expires: %s\r\nCache-Control: no-cache\r\n", date)
                           : snprintf(lines, sizeof(lines), "Expires: %s\r\nCache-Control: max-age=%lld\r\n",
                                      date, (long long)offset);
        n = k > 0 && (size_t)k < sizeof(lines) ? (size_t)k : 0;
    }
    *len = n;
    return lines;
}

/* `expires` and `add_header` of the location that answers: on 2xx and 3xx
 * responses (an add_header marked `always`: on every one). A value that
 * evaluates empty adds nothing, as in nginx. */
static void add_configured_fields(request_t *rq)
{
    const conf_scope_t *s = rq->scope;
    if (!s)
        return;
    buf_t *f = &rq->fields;
    bool success = rq->status >= 200 && rq->status < 400;
    if (success && s->expires_mode > CONF_EXPIRES_OFF) {
        if (s->expires_mode == CONF_EXPIRES_EPOCH) {
            buf_appends(f, "Expires: Thu, 01 Jan 1970 00:00:01 GMT\r\nCache-Control: no-cache\r\n");
        } else if (s->expires_mode == CONF_EXPIRES_MAX) {
            buf_appends(f, "Expires: Thu, 31 Dec 2037 23:55:55 GMT\r\nCache-Control: max-age=315360000\r\n");
        } else {
            size_t len;
            const char *lines = expires_lines(s->expires, &len);
            buf_append(f, lines, len);
        }
    }
    for (size_t i = 0; i < s->nadd_headers; i++) {
        const conf_header_t *h = &s->add_headers[i];
        if (!success && !h->always)
            continue;
        size_t mark = f->end;
        if (buf_appends(f, h->name) || buf_append(f, ": ", 2))
            break;
        size_t value_at = f->end;
        if (var_eval(&h->expr, rq, f) != 0 || f->end == value_at) {  /* too long, or empty */
            f->end = mark;
            f->failed = false;
            continue;
        }
        for (size_t k = value_at; k < f->end; k++)  /* a value from the request cannot end the line */
            if (f->data[k] == '\r' || f->data[k] == '\n')
                f->data[k] = ' ';
        buf_append(f, "\r\n", 2);
    }
}

void http_response_ready(request_t *rq, int64_t content_length)
{
    const conf_scope_t *s = rq->scope;
    rq->resp.length = http_status_has_body(rq->status) ? content_length : -1;
    if (s && (s->nadd_headers || s->expires_mode > CONF_EXPIRES_OFF))
        add_configured_fields(rq);
    rq->resp.ready = true;
}

static const conf_server_t *default_server(const request_t *rq) { return rq->conn->listener->servers[0]; }

static const conf_scope_t *current_scope(const request_t *rq)
{
    return rq->scope ? rq->scope : &default_server(rq)->s;
}

str_t http_query(const request_t *rq)
{
    if (!rq->query.len)
        return STR_NULL;
    const char *base = rq->rewritten ? buf_head(&rq->target) : request_head(rq);
    return (str_t){base + rq->query.off, rq->query.len};
}

static void dispatch(request_t *rq);
static int set_path(request_t *rq, str_t raw);

/* rq->target holds a raw URI (still percent-encoded, maybe with a
 * query): make it the request's. Returns 0, or -1 when its path is not
 * valid. */
static int use_target(request_t *rq)
{
    const char *u = buf_head(&rq->target);
    size_t len = buf_len(&rq->target);
    const char *q = memchr(u, '?', len);
    size_t plen = q ? (size_t)(q - u) : len;
    rq->rewritten = true;
    rq->query = q ? (http_span_t){(uint32_t)plen + 1, (uint32_t)(len - plen - 1)} : (http_span_t){0, 0};
    return set_path(rq, (str_t){u, plen});
}

static int set_target(request_t *rq, const char *uri, size_t len)
{
    buf_t *t = &rq->target;
    t->start = t->end = 0;
    if (len == 0 || buf_append(t, uri, len) != 0)
        return -1;
    return use_target(rq);
}

int http_set_uri(request_t *rq, str_t path, str_t query)
{
    buf_t *t = &rq->target;
    t->start = t->end = 0;
    if (path_url_encode(t, path.ptr, path.len) != 0 ||
        (query.len && (buf_append(t, "?", 1) != 0 || buf_append(t, query.ptr, query.len) != 0)))
        return -1;
    return use_target(rq);
}

#define MAX_INTERNAL_REDIRECTS 10

/* One more internal redirect or location search; false (answered 500)
 * past the limit. */
static bool may_redirect(request_t *rq)
{
    if (++rq->redirects <= MAX_INTERNAL_REDIRECTS)
        return true;
    log_msg(LOG_ERR, "too many internal redirects at \"%s\"", rq->path.data);
    http_error(rq, 500);
    return false;
}

/* The URI changed: route the request again. */
static void restart(request_t *rq)
{
    if (may_redirect(rq))
        dispatch(rq);
}

/* Serve the error_page for `status` as if its URI had been requested
 * (with GET, no body): its location's rules and handler apply, and the
 * response keeps the error's status. Returns -1 when there is none. */
static int error_page(request_t *rq, int status)
{
    const conf_scope_t *s = current_scope(rq);
    const conf_error_page_t *ep = NULL;
    for (size_t i = 0; i < s->nerror_pages && !ep; i++)
        if (s->error_pages[i].code == status)
            ep = &s->error_pages[i];
    if (!ep)
        return -1;
    if (ep->uri[0] != '/') {  /* a URL: redirect the client there, as nginx does */
        rq->fields.start = rq->fields.end = 0;
        if (http_add_header(rq, "Location: %s\r\nContent-Type: text/html\r\n", ep->uri) != 0)
            return -1;
        http_response_start(rq, 302);
        http_response_ready(rq, 0);
        return 0;
    }
    request_end_handler(rq, false);  /* what failed lets go of its resources first */
    rq->error_status = http_status_sent(status);
    rq->error_fields = buf_len(&rq->fields);
    rq->no_body = true;
    rq->h.method = rq->head_only ? HTTP_HEAD : HTTP_GET;
    if (!rq->srv)  /* an error before routing (a bad request line) */
        rq->srv = default_server(rq);
    if (set_target(rq, ep->uri, strlen(ep->uri)) != 0)
        return -1;
    dispatch(rq);
    return 0;
}

static void builtin_page(request_t *rq, int status)
{
    char body[600];
    const char *detail = status == HTTP_PLAIN_ON_TLS     ? "<center>The plain HTTP request was sent to HTTPS port</center>\r\n"
                         : status == HTTP_NO_CLIENT_CERT ? "<center>No required SSL certificate was sent</center>\r\n"
                         : status == HTTP_BAD_CLIENT_CERT ? "<center>The SSL certificate error</center>\r\n"
                                                          : "";
    status = http_status_sent(status);
    const char *reason = http_reason(status);
    int n = snprintf(body, sizeof(body),
                     "<!DOCTYPE html>\r\n<html>\r\n<head><title>%d %s</title></head>\r\n<body>\r\n"
                     "<center><h1>%d %s</h1></center>\r\n%s<hr><center>webserv</center>\r\n</body>\r\n</html>\r\n",
                     status, reason, status, reason, detail);
    bool body_allowed = http_status_has_body(status);
    http_response_start(rq, status);
    if (body_allowed)
        buf_appends(&rq->fields, "Content-Type: text/html; charset=utf-8\r\n");
    http_response_ready(rq, body_allowed ? n : -1);
    if (!rq->head_only && body_allowed) {
        buf_take(&rq->resp.mem);
        buf_append(&rq->resp.mem, body, (size_t)n);
    }
}

void http_error(request_t *rq, int status)
{
    response_reset(rq);
    if (status == 400 || status == 408 || status == 413 || status == 414 || status == 431 || status == 505 ||
        status == 501 || status == 411 || http_status_sent(status) != status)
        rq->keep_alive = false;  /* framing may be lost: nginx closes too */
    if (rq->error_status) {
        /* the error page itself failed: the built-in page of the first error */
        status = rq->error_status;
        rq->fields.end = rq->fields.start + rq->error_fields;
    } else if (error_page(rq, status) == 0) {
        return;
    }
    response_reset(rq);
    builtin_page(rq, status);
}

static void method_not_allowed(request_t *rq, unsigned methods)
{
    static const int order[] = {HTTP_GET, HTTP_HEAD, HTTP_POST, HTTP_PUT, HTTP_DELETE};
    buf_t *x = &rq->fields;
    size_t mark = x->end;
    int rc = buf_appends(x, "Allow: ");
    const char *sep = "";
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        if (methods & (unsigned)order[i]) {
            rc |= buf_appendf(x, "%s%s", sep, http_method_name(order[i]));
            sep = ", ";
        }
    rc |= buf_appends(x, "\r\n");
    if (rc)
        x->end = mark;
    http_error(rq, 405);
}

static void do_return(request_t *rq, const conf_scope_t *s)
{
    int code = s->return_code;
    const char *text = s->return_text;
    size_t len = text ? strlen(text) : 0;
    if (text && s->return_expr.has_vars) {  /* built for this request */
        buf_t *v = &rq->value;
        v->start = v->end = 0;
        if (var_eval(&s->return_expr, rq, v) != 0) {
            log_msg(LOG_ERR, "the value of \"return\" is over %zu bytes", v->limit);
            http_error(rq, 500);
            return;
        }
        text = buf_len(v) ? buf_head(v) : "";
        len = buf_len(v);
    }
    bool redirect = code == 301 || code == 302 || code == 303 || code == 307 || code == 308;
    if (redirect && text) {
        if (http_add_header(rq, "Location: %.*s\r\n", (int)len, text) != 0) {
            http_error(rq, 500);
            return;
        }
        http_error(rq, code);  /* a small HTML body, as nginx sends */
        return;
    }
    if (!text && code >= 400) {
        http_error(rq, code);
        return;
    }
    if (!http_status_has_body(code))
        len = 0;
    http_response_start(rq, code);
    if (len)
        buf_appends(&rq->fields, "Content-Type: text/plain; charset=utf-8\r\n");
    http_response_ready(rq, (int64_t)len);
    if (!rq->head_only && len) {  /* from the configuration or the request: both outlive the response */
        rq->resp.body = text;
        rq->resp.body_len = len;
    }
}

/* allow/deny of the location, in order, first match wins. */
static bool access_denied(const request_t *rq, const conf_scope_t *s)
{
    const conn_t *c = rq->conn;
    size_t len = c->peer_family == AF_INET ? 4 : 16;
    for (size_t i = 0; i < s->naccess; i++) {
        const conf_access_t *r = &s->access[i];
        if (r->family && r->family != c->peer_family)
            continue;
        bool match = true;
        for (size_t k = 0; k < len && match && r->family; k++)
            match = (c->peer_addr[k] & r->mask[k]) == r->addr[k];
        if (match)
            return !r->allow;
    }
    return false;
}

/* The rewrite phase of one level: its rewrites and its return, in the
 * order of the file. */
static int rewrite_phase(request_t *rq, const conf_scope_t *s)
{
    bool changed = false;
    int r = route_rewrites(rq, s, 0, s->return_after, &changed);
    if (r == ROUTE_NEXT && s->return_code != CONF_UNSET) {
        do_return(rq, s);
        return ROUTE_DONE;
    }
    if (r == ROUTE_NEXT)
        r = route_rewrites(rq, s, s->return_after, s->nrewrites, &changed);
    return r == ROUTE_NEXT && changed ? ROUTE_SEARCH : r;
}

/* The handler for the request's method and location. */
static void run_handler(request_t *rq)
{
    if (cgi_serve(rq))
        return;
    switch (rq->h.method) {
    case HTTP_GET:
    case HTTP_HEAD:
        static_serve(rq);
        return;
    case HTTP_DELETE:
        delete_serve(rq);
        return;
    default:  /* POST, PUT */
        if (rq->scope->upload_store) {
            upload_start(rq);
            return;
        }
        /* nothing here takes a body: name what does work */
        method_not_allowed(rq, rq->scope->methods & ~(unsigned)(HTTP_POST | HTTP_PUT));
        return;
    }
}

static void in_location(request_t *rq, const conf_location_t *loc);

/* try_files found nothing: its last argument. */
static void try_files_fallback(request_t *rq, const conf_try_files_t *t)
{
    if (t->code) {
        http_error(rq, t->code);
    } else if (t->named) {
        if (may_redirect(rq))
            in_location(rq, conf_find_named(rq->srv, t->named));
    } else if (route_fallback_uri(rq, &t->uri) == 0) {
        restart(rq);  /* method and body kept: a front controller gets the POST */
    }
}

/* Serve the request in location loc (NULL: the server's own scope, whose
 * rewrites have run): the location's checks and rewrites (a changed URI
 * chooses the location again), access, try_files, the handler. */
static void in_location(request_t *rq, const conf_location_t *loc)
{
    http_request_t *h = &rq->h;
    const conf_scope_t *s;
    for (;;) {
        rq->loc = loc;
        s = rq->scope = loc ? &loc->s : &rq->srv->s;
        if (s->keepalive_timeout == 0)  /* as in nginx: keep-alive disabled */
            rq->keep_alive = false;
        if (!(s->methods & (unsigned)h->method)) {
            method_not_allowed(rq, s->methods);
            return;
        }
        if (!rq->no_body) {
            if ((h->method == HTTP_POST || h->method == HTTP_PUT) && !rq->has_body && h->content_length < 0) {
                http_error(rq, 411);
                return;
            }
            if (s->client_max_body_size && h->content_length > s->client_max_body_size) {
                log_msg(LOG_INFO, "client %s: body of %lld bytes is over client_max_body_size %lld", rq->conn->peer,
                        (long long)h->content_length, (long long)s->client_max_body_size);
                http_error(rq, 413);
                return;
            }
        }
        int r = loc ? rewrite_phase(rq, s) : ROUTE_NEXT;
        if (r == ROUTE_DONE)
            return;
        if (r != ROUTE_SEARCH)
            break;
        if (!may_redirect(rq))
            return;
        loc = conf_find_location(rq->srv, rq->path.data, buf_len(&rq->path), rq);
    }
    if (s->naccess && access_denied(rq, s)) {
        log_msg(LOG_ERR, "client %s: access forbidden by rule, request \"%s\"", rq->conn->peer, rq->path.data);
        http_error(rq, 403);
        return;
    }
    if (s->auth_basic == 1) {
        int status = auth_check(rq, s);
        if (status) {
            http_error(rq, status);
            return;
        }
    }
    if (s->try_files && route_try_files(rq, s->try_files) == ROUTE_FALLBACK) {
        try_files_fallback(rq, s->try_files);
        return;
    }
    run_handler(rq);
}

/* Route the normalized path in rq->path and run its handler: the
 * server's rewrites, then the location's phases. */
static void dispatch(request_t *rq)
{
    const conf_scope_t *s = &rq->srv->s;
    rq->loc = NULL;
    rq->scope = s;
    if ((s->nrewrites || s->return_code != CONF_UNSET) && rewrite_phase(rq, s) == ROUTE_DONE)
        return;
    in_location(rq, conf_find_location(rq->srv, rq->path.data, buf_len(&rq->path), rq));
}

/* Decode and normalize a raw URI path into rq->path. Returns 0 or -1 (400). */
static int set_path(request_t *rq, str_t raw)
{
    if (raw.len == 0)
        raw = STR_LIT("/");
    rq->path.start = rq->path.end = 0;  /* path_normalize writes from data[0] */
    if (buf_reserve(&rq->path, raw.len + 1) < raw.len + 1)
        return -1;
    long n = path_normalize(raw, rq->path.data);
    if (n < 0) {
        log_msg(LOG_INFO, "client %s: bad request path \"%.*s\"", rq->conn->peer, (int)(raw.len > 200 ? 200 : raw.len),
                raw.ptr);
        return -1;
    }
    rq->path.end = (size_t)n;
    return 0;
}

void http_handle(request_t *rq)
{
    http_request_t *h = &rq->h;
    conn_t *c = rq->conn;
    const char *d = request_head(rq);
    rq->head_only = h->method == HTTP_HEAD;
    rq->query = h->query;

    listener_t *l = c->listener;
    rq->srv = h->host.len ? conf_find_server(l->servers, l->nservers, d + h->host.off, h->host.len)
                          : default_server(rq);
    /* after routing: the server Host chose decides, and a HEAD gets no body */
    int refused = c->plain_on_tls ? HTTP_PLAIN_ON_TLS : c->tls ? tls_check_client(c, rq->srv) : 0;
    if (refused) {
        http_error(rq, refused);
        return;
    }
    if (set_path(rq, http_span_str(d, h->path)) != 0) {
        http_error(rq, 400);
        return;
    }
    dispatch(rq);
}

void http_internal_redirect(request_t *rq, const char *uri, size_t len)
{
    request_end_handler(rq, false);
    response_reset(rq);
    rq->no_body = true;  /* a GET: what is left of the body is read and dropped */
    rq->h.method = rq->head_only ? HTTP_HEAD : HTTP_GET;
    if (set_target(rq, uri, len) != 0)
        http_error(rq, 400);
    else
        restart(rq);
    request_wake(rq);
}

void http_serve_index(request_t *rq, const char *name)
{
    buf_t *p = &rq->path;
    if (buf_append(p, name, strlen(name) + 1) != 0) {
        http_error(rq, 414);
        return;
    }
    p->end--;  /* the NUL stays out of the length */
    restart(rq);
}

/* Memory for a format compiled once and kept for the process's life. */
static void *format_alloc(void *ctx, size_t n)
{
    static max_align_t mem[256];
    size_t *used = ctx;
    size_t units = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t);
    if (*used + units > sizeof(mem) / sizeof(mem[0]))
        abort();  /* a built-in format larger than its arena: a programming error */
    void *p = &mem[*used];
    *used += units;
    return p;
}

/* nginx's "combined" format, compiled when first used. */
static const var_expr_t *combined_format(void)
{
    static var_expr_t e;
    static size_t used;
    if (!e.parts) {
        char err[128];
        if (var_compile(&e, "$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
                            "\"$http_referer\" \"$http_user_agent\"\n",
                        format_alloc, &used, err, sizeof(err)) != 0)
            abort();
    }
    return &e;
}

void http_log_access(request_t *rq)
{
    const conf_scope_t *s = current_scope(rq);
    if (!rq || s->access_log_fd < 0)
        return;
    char line[4096];
    buf_t b = {.data = line, .cap = sizeof(line), .limit = sizeof(line)};
    if (var_eval_log(combined_format(), rq, &b, 1024) != 0) {  /* too long: end the line anyway */
        b.end = b.cap - 1;
        line[b.end++] = '\n';
    }
    log_write(s->access_log_fd, b.data, buf_len(&b));
}
