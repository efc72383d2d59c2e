/* Rewrite, try_files, and the file a URI names. */
#include "route.h"

#include <errno.h>
#include <string.h>

#include "conn.h"
#include "filecache.h"
#include "http.h"
#include "log.h"

/* The request's query appended to u after `sep` (when it has one). */
static int append_query(request_t *rq, buf_t *u, const char *sep)
{
    str_t q = http_query(rq);
    if (!q.len)
        return 0;
    return buf_appends(u, sep) || buf_append(u, q.ptr, q.len);
}

/* The query of a new URI, after `lead`: its own arguments (captures
 * escaped), then (keep) the request's. */
static int build_args(request_t *rq, const conf_uri_t *to, bool keep, buf_t *u, const char *lead)
{
    if (!to->has_args)
        return keep ? append_query(rq, u, lead) : 0;
    size_t at = u->end;
    if (buf_appends(u, lead) || var_eval_uri(&to->args, rq, u) != 0)
        return -1;
    return keep ? append_query(rq, u, u->end > at + strlen(lead) ? "&" : "") : 0;
}

/* rq->uri = [decoded path][raw query]: make it the request's URI. */
static int set_uri(request_t *rq, size_t path_len)
{
    buf_t *u = &rq->uri;
    const char *d = buf_head(u);
    if (path_len == 0 || d[0] != '/')
        return -1;
    return http_set_uri(rq, (str_t){d, path_len}, (str_t){d + path_len, buf_len(u) - path_len});
}

static int redirect(request_t *rq, const conf_rewrite_t *r)
{
    buf_t *u = &rq->uri;
    u->start = u->end = 0;
    int rc = var_eval_uri(&r->to.path, rq, u);
    if (rc == 0)
        rc = build_args(rq, &r->to, r->keep_args, u, "?");
    if (rc != 0) {
        log_msg(LOG_ERR, "the redirect of \"rewrite\" is over %zu bytes", u->limit);
        http_error(rq, 500);
        return ROUTE_DONE;
    }
    char *v = buf_head(u);
    for (size_t i = 0; i < buf_len(u); i++)  /* a value from the request cannot end the line */
        if (v[i] == '\r' || v[i] == '\n')
            v[i] = ' ';
    if (http_add_header(rq, "Location: %.*s\r\n", (int)buf_len(u), v) != 0) {
        http_error(rq, 500);
        return ROUTE_DONE;
    }
    http_error(rq, r->flag == CONF_REWRITE_PERMANENT ? 301 : 302);
    return ROUTE_DONE;
}

int route_rewrites(request_t *rq, const conf_scope_t *s, size_t from, size_t to, bool *changed)
{
    for (size_t i = from; i < to; i++) {
        const conf_rewrite_t *r = &s->rewrites[i];
        if (!pattern_match(&r->re, rq, rq->path.data, buf_len(&rq->path)))
            continue;
        if (r->external || r->flag == CONF_REWRITE_REDIRECT || r->flag == CONF_REWRITE_PERMANENT)
            return redirect(rq, r);
        buf_t *u = &rq->uri;
        u->start = u->end = 0;
        /* the path is decoded text (as $uri and captures are); the query is raw */
        if (var_eval(&r->to.path, rq, u) != 0) {
            log_msg(LOG_ERR, "the URI of \"rewrite\" is over %zu bytes", u->limit);
            http_error(rq, 500);
            return ROUTE_DONE;
        }
        size_t path_len = buf_len(u);
        if (build_args(rq, &r->to, r->keep_args, u, "") != 0 || set_uri(rq, path_len) != 0) {
            log_msg(LOG_ERR, "rewrite made an invalid URI from \"%s\"", rq->path.data);
            http_error(rq, 500);
            return ROUTE_DONE;
        }
        *changed = true;
        if (r->flag == CONF_REWRITE_LAST)
            return ROUTE_SEARCH;
        if (r->flag == CONF_REWRITE_BREAK)
            return ROUTE_BREAK;
    }
    return ROUTE_NEXT;
}

int route_try_files(request_t *rq, const conf_try_files_t *t)
{
    buf_t *u = &rq->uri;
    for (size_t i = 0; i < t->nfiles; i++) {
        u->start = u->end = 0;
        if (var_eval(&t->files[i], rq, u) != 0 || !buf_len(u) || buf_head(u)[0] != '/')
            continue;
        size_t len = buf_len(u);
        bool dir = buf_head(u)[len - 1] == '/';
        if (route_map(rq, buf_head(u), len, NULL) != 0)
            continue;
        fc_entry_t *e = filecache_get(rq->fspath.data, buf_len(&rq->fspath), rq->scope->mime);
        if (!e)
            continue;
        bool found = dir == S_ISDIR(e->st.st_mode);
        filecache_release(e);
        if (!found)
            continue;
        /* served here, as that file's URI: the request keeps its query */
        if (append_query(rq, u, "") != 0 || set_uri(rq, len) != 0)
            continue;
        return ROUTE_NEXT;
    }
    return ROUTE_FALLBACK;
}

int route_fallback_uri(request_t *rq, const conf_uri_t *to)
{
    buf_t *u = &rq->uri;
    u->start = u->end = 0;
    int rc = var_eval(&to->path, rq, u);
    size_t path_len = buf_len(u);
    /* as nginx: the fallback's own query, or none (hence "/index.php?$args") */
    if (rc != 0 || build_args(rq, to, false, u, "") != 0 || set_uri(rq, path_len) != 0) {
        log_msg(LOG_ERR, "try_files made an invalid URI at \"%s\"", rq->path.data);
        http_error(rq, 500);
        return -1;
    }
    return 0;
}

/* A ".." segment: the alias and the URI joined climb out of the alias. */
static bool climbs(const char *p, size_t len)
{
    for (size_t i = 0; i + 2 <= len; i++)
        if (p[i] == '.' && p[i + 1] == '.' && (i == 0 || p[i - 1] == '/') && (i + 2 == len || p[i + 2] == '/'))
            return true;
    return false;
}

int route_map(request_t *rq, const char *uri, size_t len, const char *suffix)
{
    const conf_scope_t *s = rq->scope;
    const conf_location_t *l = rq->loc;
    buf_t *f = &rq->fspath;
    f->start = f->end = 0;
    int rc;
    if (!l || !s->alias) {
        rc = buf_appends(f, s->root) || buf_append(f, uri, len);
    } else if (s->alias_expr.parts) {  /* the whole file of the request's URI, maybe from captures */
        size_t cur = buf_len(&rq->path);
        if (len < cur || memcmp(uri, rq->path.data, cur) != 0)
            return -2;  /* another URI (try_files): only what extends this one maps here */
        rc = var_eval(&s->alias_expr, rq, f) || buf_append(f, uri + cur, len - cur);
    } else {
        if (len < l->prefix_len || memcmp(uri, l->prefix, l->prefix_len) != 0)
            return -2;
        const char *rest = uri + l->prefix_len;
        size_t alias_len = strlen(s->alias);
        /* "/img" + "x": a sibling of the alias's folder, never served */
        if (len > l->prefix_len && rest[0] != '/' && s->alias[alias_len - 1] != '/')
            return -2;
        rc = buf_append(f, s->alias, alias_len) || buf_append(f, rest, len - l->prefix_len);
    }
    if (rc || (suffix && buf_appends(f, suffix)) || buf_append(f, "", 1))
        return -1;
    f->end--;  /* the NUL stays out of the length */
    if (l && s->alias && climbs(buf_head(f), buf_len(f))) {
        log_msg(LOG_INFO, "client %s: \"%s\" leads out of the alias of location \"%s\"", rq->conn->peer,
                rq->path.data, l->prefix);
        return -2;
    }
    return 0;
}
