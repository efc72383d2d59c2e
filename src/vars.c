/* Variables: compiled once into parts, evaluated per request. */
#include "vars.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "auth.h"
#include "clock.h"
#include "conn.h"
#include "http.h"
#include "path.h"
#include "pattern.h"
#include "tls.h"
#include "util.h"

enum {
    VAR_LITERAL,
    VAR_HOST, VAR_REQUEST_URI, VAR_URI, VAR_ARGS, VAR_ARG, VAR_IS_ARGS, VAR_SCHEME, VAR_HTTPS,
    VAR_REQUEST_METHOD, VAR_REMOTE_ADDR, VAR_REMOTE_PORT, VAR_SERVER_NAME, VAR_SERVER_PORT,
    VAR_SERVER_PROTOCOL, VAR_HTTP, VAR_COOKIE, VAR_CONTENT_TYPE, VAR_CONTENT_LENGTH, VAR_DOCUMENT_ROOT,
    VAR_REQUEST_ID, VAR_MSEC, VAR_TIME_ISO8601, VAR_TIME_LOCAL, VAR_STATUS, VAR_BODY_BYTES_SENT,
    VAR_BYTES_SENT, VAR_REQUEST_TIME, VAR_UPSTREAM, VAR_PROXY_ADD_XFF, VAR_CAPTURE, VAR_SSL_PROTOCOL,
    VAR_SSL_CIPHER, VAR_SSL_CLIENT_VERIFY, VAR_SSL_CLIENT_S_DN, VAR_REQUEST, VAR_REMOTE_USER,
    VAR_SERVER_ADDR, VAR_VERSION, VAR_REALPATH_ROOT, VAR_FASTCGI_PATH_INFO,
};

static const struct {
    const char *name;
    int var;
    bool prefix;  /* NAME follows: $arg_NAME, $http_NAME, $cookie_NAME */
} NAMES[] = {
    {"host", VAR_HOST, false},
    {"request_uri", VAR_REQUEST_URI, false},
    {"uri", VAR_URI, false},
    {"document_uri", VAR_URI, false},
    {"args", VAR_ARGS, false},
    {"query_string", VAR_ARGS, false},
    {"arg_", VAR_ARG, true},
    {"is_args", VAR_IS_ARGS, false},
    {"scheme", VAR_SCHEME, false},
    {"https", VAR_HTTPS, false},
    {"request_method", VAR_REQUEST_METHOD, false},
    {"remote_addr", VAR_REMOTE_ADDR, false},
    {"remote_port", VAR_REMOTE_PORT, false},
    {"server_name", VAR_SERVER_NAME, false},
    {"server_port", VAR_SERVER_PORT, false},
    {"server_protocol", VAR_SERVER_PROTOCOL, false},
    {"http_", VAR_HTTP, true},
    {"cookie_", VAR_COOKIE, true},
    {"content_type", VAR_CONTENT_TYPE, false},
    {"content_length", VAR_CONTENT_LENGTH, false},
    {"document_root", VAR_DOCUMENT_ROOT, false},
    {"request_id", VAR_REQUEST_ID, false},
    {"msec", VAR_MSEC, false},
    {"time_iso8601", VAR_TIME_ISO8601, false},
    {"time_local", VAR_TIME_LOCAL, false},
    {"status", VAR_STATUS, false},
    {"body_bytes_sent", VAR_BODY_BYTES_SENT, false},
    {"bytes_sent", VAR_BYTES_SENT, false},
    {"request_time", VAR_REQUEST_TIME, false},
    /* no upstream yet (the gateway issue): known, and empty */
    {"upstream_addr", VAR_UPSTREAM, false},
    {"upstream_status", VAR_UPSTREAM, false},
    {"upstream_response_time", VAR_UPSTREAM, false},
    {"proxy_add_x_forwarded_for", VAR_PROXY_ADD_XFF, false},
    {"ssl_protocol", VAR_SSL_PROTOCOL, false},
    {"ssl_cipher", VAR_SSL_CIPHER, false},
    {"ssl_client_verify", VAR_SSL_CLIENT_VERIFY, false},
    {"ssl_client_s_dn", VAR_SSL_CLIENT_S_DN, false},
    {"request", VAR_REQUEST, false},
    {"remote_user", VAR_REMOTE_USER, false},
    {"server_addr", VAR_SERVER_ADDR, false},
    {"nginx_version", VAR_VERSION, false},   /* in nginx's fastcgi_params: SERVER_SOFTWARE */
    {"realpath_root", VAR_REALPATH_ROOT, false},
    /* FastCGI's (the gateway issue): the script is the URI until
     * fastcgi_split_path_info divides it; no path info until then */
    {"fastcgi_script_name", VAR_URI, false},
    {"fastcgi_path_info", VAR_FASTCGI_PATH_INFO, false},
};

static bool name_char(char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_';
}

/* Which variable `name` is; -1 when none. Sets *arg to the NAME part of a prefixed one. */
static int lookup(const char *name, size_t len, const char **arg, size_t *arglen)
{
    if (len == 1 && name[0] >= '1' && name[0] <= '9') {  /* $1 ... $9: regex captures */
        *arg = name;
        *arglen = 1;
        return VAR_CAPTURE;
    }
    for (size_t i = 0; i < sizeof(NAMES) / sizeof(NAMES[0]); i++) {
        size_t n = strlen(NAMES[i].name);
        if (NAMES[i].prefix ? len > n && strncasecmp(name, NAMES[i].name, n) == 0
                            : len == n && strncasecmp(name, NAMES[i].name, n) == 0) {
            *arg = name + n;
            *arglen = len - n;
            return NAMES[i].var;
        }
    }
    return -1;
}

int var_compile(var_expr_t *e, const char *text, void *(*alloc)(void *ctx, size_t n), void *ctx, char *err,
                size_t errlen)
{
    size_t max = 1;  /* parts: at most one per '$' and one literal around each */
    for (const char *p = text; *p; p++)
        max += *p == '$' ? 2 : 0;
    e->parts = alloc(ctx, max * sizeof(var_part_t));
    e->nparts = 0;
    e->has_vars = false;
    const char *p = text;
    while (*p) {
        const char *dollar = strchr(p, '$');
        size_t lit = dollar ? (size_t)(dollar - p) : strlen(p);
        if (lit)
            e->parts[e->nparts++] = (var_part_t){VAR_LITERAL, p, lit};
        if (!dollar)
            break;
        const char *name = dollar + 1;
        bool braced = *name == '{';
        if (braced)
            name++;
        size_t len = 0;
        while (name_char(name[len]))
            len++;
        if (len == 0 || (braced && name[len] != '}')) {
            snprintf(err, errlen, "invalid variable name in \"%s\"", text);
            return -1;
        }
        const char *arg;
        size_t arglen;
        int var = lookup(name, len, &arg, &arglen);
        if (var < 0) {
            snprintf(err, errlen, "unknown variable \"$%.*s\"", (int)len, name);
            return -1;
        }
        if (var == VAR_HTTP || var == VAR_ARG || var == VAR_COOKIE) {
            char *copy = alloc(ctx, arglen + 1);
            for (size_t i = 0; i < arglen; i++)  /* $http_x_real_ip names X-Real-IP */
                copy[i] = var == VAR_HTTP && arg[i] == '_' ? '-' : arg[i];
            arg = copy;
        }
        e->parts[e->nparts++] = (var_part_t){var, arg, arglen};
        e->has_vars = true;
        p = name + len + (braced ? 1 : 0);
    }
    return 0;
}

/* ---- values ---- */

static int put(buf_t *out, const char *s, size_t n) { return n ? buf_append(out, s, n) : 0; }
static int puts_(buf_t *out, const char *s) { return s ? put(out, s, strlen(s)) : 0; }
static int put_str(buf_t *out, str_t s) { return s.ptr ? put(out, s.ptr, s.len) : 0; }

/* The value of NAME in a list of "name=value" separated by `sep`
 * (query arguments by '&', cookies by ';'). */
static str_t list_value(str_t list, const char *name, size_t nlen, char sep, bool nocase)
{
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.ptr[i] == ' ' || list.ptr[i] == sep))
            i++;
        size_t start = i;
        while (i < list.len && list.ptr[i] != sep)
            i++;
        str_t item = {list.ptr + start, i - start};
        const char *eq = memchr(item.ptr, '=', item.len);
        size_t klen = eq ? (size_t)(eq - item.ptr) : item.len;
        if (klen == nlen &&
            (nocase ? strncasecmp(item.ptr, name, nlen) == 0 : memcmp(item.ptr, name, nlen) == 0))
            return eq ? (str_t){eq + 1, item.len - klen - 1} : (str_t){item.ptr + item.len, 0};
    }
    return STR_NULL;
}

static int put_host(buf_t *out, const request_t *rq)
{
    str_t host = rq->h.host.len ? http_span_str(request_head(rq), rq->h.host) : STR_NULL;
    if (!host.len)
        return rq->srv && rq->srv->nnames ? puts_(out, rq->srv->names[0]) : 0;
    size_t at = out->end;
    if (put(out, host.ptr, host.len) != 0)
        return -1;
    for (size_t i = at; i < out->end; i++)
        if (out->data[i] >= 'A' && out->data[i] <= 'Z')
            out->data[i] = (char)(out->data[i] + 32);
    return 0;
}

static int putf(buf_t *out, const char *fmt, long long v) { return buf_appendf(out, fmt, v); }

static int eval_part(const var_part_t *p, request_t *rq, buf_t *out)
{
    const conn_t *c = rq->conn;
    const http_request_t *h = &rq->h;
    const char *d = request_head(rq);
    char tmp[1024];
    switch (p->var) {
    case VAR_LITERAL: return put(out, p->text, p->len);
    case VAR_HOST: return put_host(out, rq);
    case VAR_REQUEST_URI: return put_str(out, http_span_str(d, h->target));
    case VAR_URI: return put(out, rq->path.data, buf_len(&rq->path));
    case VAR_ARGS: return put_str(out, http_query(rq));
    case VAR_ARG: return put_str(out, list_value(http_query(rq), p->text, p->len, '&', true));
    case VAR_IS_ARGS: return http_query(rq).len ? put(out, "?", 1) : 0;
    case VAR_SCHEME: return puts_(out, c->tls ? "https" : "http");
    case VAR_HTTPS: return puts_(out, c->tls ? "on" : "");
    case VAR_REQUEST_METHOD: return puts_(out, http_method_name(h->method));
    case VAR_REMOTE_ADDR: return puts_(out, c->peer);
    case VAR_REMOTE_PORT: return putf(out, "%lld", c->peer_port);
    case VAR_SERVER_NAME: return rq->srv && rq->srv->nnames ? puts_(out, rq->srv->names[0]) : 0;
    case VAR_SERVER_PORT: return putf(out, "%lld", c->listener->addr->port);
    case VAR_SERVER_PROTOCOL: return puts_(out, rq->fr->protocol(rq));
    case VAR_HTTP: return h->head_len ? put_str(out, http_header_get(h, d, p->text)) : 0;
    case VAR_COOKIE: {
        for (size_t i = 0; i < h->nheaders; i++)  /* every Cookie header */
            if (str_ieq(http_span_str(d, h->headers[i].name), "cookie")) {
                str_t v = list_value(http_span_str(d, h->headers[i].value), p->text, p->len, ';', false);
                if (v.ptr)
                    return put_str(out, v);
            }
        return 0;
    }
    case VAR_CONTENT_TYPE: return put_str(out, http_header(h, d, HTTP_H_CONTENT_TYPE));
    case VAR_CONTENT_LENGTH: return put_str(out, http_header_get(h, d, "content-length"));
    case VAR_DOCUMENT_ROOT: return rq->scope ? puts_(out, rq->scope->root) : 0;
    case VAR_REQUEST_ID:
        if (!rq->request_id[0])  /* made when first asked for, then the same for the request */
            util_random_hex(rq->request_id, 16);
        return puts_(out, rq->request_id);
    case VAR_MSEC: {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return buf_appendf(out, "%lld.%03ld", (long long)ts.tv_sec, ts.tv_nsec / 1000000);
    }
    case VAR_TIME_ISO8601: {
        time_t t = clock_wall();
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(tmp, sizeof(tmp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
        return puts_(out, tmp);
    }
    case VAR_TIME_LOCAL: return puts_(out, clock_access_time());
    case VAR_STATUS: return putf(out, "%03lld", rq->status);
    case VAR_BODY_BYTES_SENT: {
        int64_t body = rq->resp.sent - (int64_t)rq->resp.head_len;
        return putf(out, "%lld", body > 0 ? body : 0);
    }
    case VAR_BYTES_SENT: return putf(out, "%lld", rq->resp.sent);
    case VAR_REQUEST_TIME: {
        uint64_t ms = clock_ms() - rq->start_ms;
        return buf_appendf(out, "%llu.%03llu", (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000));
    }
    case VAR_UPSTREAM: return 0;
    case VAR_PROXY_ADD_XFF: {
        str_t xff = http_header_get(h, d, "x-forwarded-for");
        if (xff.ptr && (put_str(out, xff) != 0 || put(out, ", ", 2) != 0))
            return -1;
        return puts_(out, c->peer);
    }
    case VAR_CAPTURE: return put_str(out, pattern_capture(rq, p->text[0] - '0'));
    case VAR_SSL_PROTOCOL: return puts_(out, tls_protocol(c));
    case VAR_SSL_CIPHER: return puts_(out, tls_cipher(c));
    case VAR_SSL_CLIENT_VERIFY: return puts_(out, tls_client_verify(c, tmp, sizeof(tmp)));
    case VAR_SSL_CLIENT_S_DN: return puts_(out, tls_client_s_dn(c, tmp, sizeof(tmp)));
    case VAR_REQUEST: {  /* the request line as received, or what arrived of it */
        const char *proto = rq->fr->protocol(rq);
        if (strncmp(proto, "HTTP/1.", 7) != 0) {  /* HTTP/2: from its pseudo-header fields */
            if (!h->head_len)
                return 0;
            return put_str(out, http_span_str(d, h->method_name)) || put(out, " ", 1) ||
                   put_str(out, http_span_str(d, h->target)) || put(out, " ", 1) || puts_(out, proto);
        }
        size_t avail, n = 0;
        rq->fr->head(rq, &avail);
        if (avail <= h->skipped)
            return 0;
        const char *line = d + h->skipped;
        avail -= h->skipped;
        while (n < avail && line[n] != '\r' && line[n] != '\n')
            n++;
        return put(out, line, n);
    }
    case VAR_REMOTE_USER: return put_str(out, auth_user(rq, tmp, sizeof(tmp)));
    case VAR_SERVER_ADDR: {
        struct sockaddr_storage ss;
        socklen_t len = sizeof(ss);
        if (getsockname(c->io.fd, (struct sockaddr *)&ss, &len) != 0)
            return 0;
        const void *a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
                                                  : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
        return inet_ntop(ss.ss_family, a, tmp, sizeof(tmp)) ? puts_(out, tmp) : 0;
    }
    case VAR_VERSION: return puts_(out, WEBSERV_VERSION);
    case VAR_REALPATH_ROOT: {
        char *real = rq->scope ? realpath(rq->scope->root, NULL) : NULL;
        int rc = real ? puts_(out, real) : 0;
        free(real);
        return rc;
    }
    case VAR_FASTCGI_PATH_INFO: return 0;
    default: return 0;
    }
}

int var_eval(const var_expr_t *e, request_t *rq, buf_t *out)
{
    for (size_t i = 0; i < e->nparts; i++)
        if (eval_part(&e->parts[i], rq, out) != 0)
            return -1;
    return 0;
}

int var_eval_uri(const var_expr_t *e, request_t *rq, buf_t *out)
{
    for (size_t i = 0; i < e->nparts; i++) {
        const var_part_t *p = &e->parts[i];
        str_t c = p->var == VAR_CAPTURE ? pattern_capture(rq, p->text[0] - '0') : STR_NULL;
        if ((p->var == VAR_CAPTURE ? path_url_encode(out, c.ptr, c.len) : eval_part(p, rq, out)) != 0)
            return -1;
    }
    return 0;
}

/* Bytes a log line must not carry as they are: control bytes, quotes,
 * backslashes and non-ASCII become \xHH (so a line cannot be forged). */
static int put_escaped(buf_t *out, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789ABCDEF";
    if (n > max)
        n = max;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x7f || ch == '"' || ch == '\\') {
            char esc[4] = {'\\', 'x', hex[ch >> 4], hex[ch & 15]};
            if (buf_append(out, esc, 4) != 0)
                return -1;
        } else if (buf_append(out, &s[i], 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int var_eval_log(const var_expr_t *e, request_t *rq, buf_t *out, size_t max_value)
{
    static char scratch_mem[8192];
    for (size_t i = 0; i < e->nparts; i++) {
        const var_part_t *p = &e->parts[i];
        if (p->var == VAR_LITERAL) {
            if (put(out, p->text, p->len) != 0)
                return -1;
            continue;
        }
        buf_t v = {.data = scratch_mem, .cap = sizeof(scratch_mem), .limit = sizeof(scratch_mem)};
        eval_part(p, rq, &v);  /* a value over the scratch is cut, as the line would be */
        int rc = buf_len(&v) ? put_escaped(out, v.data, buf_len(&v), max_value) : put(out, "-", 1);
        if (rc != 0)
            return -1;
    }
    return 0;
}
