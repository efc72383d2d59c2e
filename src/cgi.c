/* CGI (RFC 3875).
 *
 * The interpreter named by the location's `cgi` line runs the script with
 * the request's meta-variables. Its stdout is a non-blocking pipe in the
 * loop: the header block is parsed, then the body streams into the
 * response's memory, never more than OUT_HIGH bytes at a time
 * (back-pressure: the pipe is read again when the client has taken some).
 * A Content-Length body streams into its stdin pipe the same way; a
 * chunked one is spooled to an unlinked temporary file first, so that
 * CONTENT_LENGTH can be given. Children are reaped on SIGCHLD. */
#include "cgi.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "auth.h"
#include "cgi_parse.h"
#include "conn.h"
#include "http.h"
#include "log.h"
#include "route.h"
#include "process.h"
#include "tls.h"
#include "util.h"

#define OUT_HIGH (64 * 1024)     /* CGI output queued for the client, at most */
#define IN_MAX (64 * 1024)       /* body bytes queued for the CGI, at most */
#define READ_MAX (16 * 1024)
#define ENV_MAX (64 * 1024)
#define ENV_VARS 200

typedef struct cgi {
    request_t *rq;             /* NULL once its request has ended */
    struct cgi *prev, *next;
    pid_t pid;
    bool exited;
    loop_io_t out_io, in_io;   /* fd -1 once closed */
    bool out_ready, in_ready;
    bool out_hup;              /* the script closed its stdout */
    loop_timer_t timer;
    buf_t head;                /* the header block, until parsed */
    bool head_done, redirect_pending;
    int64_t out_left;          /* body bytes the CGI announced and has not sent; -1 = none */
    buf_t in;                  /* body bytes on their way to stdin */
    int spool;                 /* chunked body, spooled; -1 = none */
    int64_t spool_size;
    bool input_done;           /* every body byte has been handed over */
    char script[4096], script_uri[HTTP_MAX_URI + 1], path_info[HTTP_MAX_URI + 1];
    const char *interpreter;
    loop_task_t release;       /* frees it after the batch: an event may still name its pipes */
} cgi_t;

static cgi_t *running;
static unsigned max_processes = CONF_CGI_MAX_PROCESSES;

void cgi_set_max_processes(int n) { max_processes = (unsigned)n; }

static void unlink_running(cgi_t *g)
{
    if (g->prev)
        g->prev->next = g->next;
    else if (running == g)
        running = g->next;
    if (g->next)
        g->next->prev = g->prev;
    g->prev = g->next = NULL;
}

static void close_io(loop_io_t *io)
{
    if (io->fd < 0)
        return;
    loop_del(io);
    close(io->fd);
    io->fd = -1;
}

/* The script's whole process group, even when the script itself has
 * exited: a child it left behind may still hold its stdout. */
static void kill_child(cgi_t *g)
{
    if (g->pid > 0)
        kill(-g->pid, SIGKILL);
}

/* ---- finding the script ---- */

/* The first path prefix, at a segment end, that has a cgi extension.
 * Returns 1 with the script found, 0 when no prefix has one, 404/403 when
 * one has but is not a runnable file. */
static int find_script(request_t *rq, cgi_t *g)
{
    const conf_scope_t *s = rq->scope;
    const char *path = rq->path.data;
    size_t len = buf_len(&rq->path);
    for (size_t i = 1; i <= len; i++) {
        if (i < len && path[i] != '/')
            continue;
        for (size_t k = 0; k < s->ncgis; k++) {
            const char *ext = s->cgis[k].ext;
            size_t el = strlen(ext);
            if (i <= el || memcmp(path + i - el, ext, el) != 0 || path[i - el - 1] == '/')
                continue;
            if (route_map(rq, path, i, NULL) != 0 || buf_len(&rq->fspath) >= sizeof(g->script))
                return 404;
            memcpy(g->script, rq->fspath.data, buf_len(&rq->fspath) + 1);
            struct stat st;
            if (stat(g->script, &st) != 0)
                return errno == ENOENT || errno == ENOTDIR ? 404 : 403;
            if (!S_ISREG(st.st_mode))
                continue;  /* a folder named like a script */
            memcpy(g->script_uri, path, i);
            g->script_uri[i] = '\0';
            memcpy(g->path_info, path + i, len - i);
            g->path_info[len - i] = '\0';
            g->interpreter = s->cgis[k].interpreter;
            return 1;
        }
    }
    return 0;
}

/* ---- environment ---- */

typedef struct {
    buf_t b;
    size_t offs[ENV_VARS];
    size_t n;
} env_t;

/* NAME=value. Request bytes are copied with memcpy, which the sanitizers
 * check, so a stale slice of the request shows up there. */
static void env_put(env_t *e, const char *name, str_t value)
{
    size_t at = buf_len(&e->b);
    if (e->n == ENV_VARS)
        return;
    if (buf_appends(&e->b, name) || buf_append(&e->b, "=", 1) || buf_append(&e->b, value.ptr, value.len) ||
        buf_append(&e->b, "", 1)) {
        e->b.end = at;
        return;
    }
    e->offs[e->n++] = at;
}

static void env_cstr(env_t *e, const char *name, const char *value) { env_put(e, name, (str_t){value, strlen(value)}); }

static void env_putf(env_t *e, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void env_putf(env_t *e, const char *name, const char *fmt, ...)
{
    char val[64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(val, sizeof(val), fmt, ap);
    va_end(ap);
    env_cstr(e, name, val);
}

/* HTTP_* for each request header; repeated headers joined with ", ". */
static void env_headers(env_t *e, const http_request_t *h, const char *d)
{
    for (size_t i = 0; i < h->nheaders; i++) {
        str_t name = http_span_str(d, h->headers[i].name);
        if (str_ieq(name, "content-length") || str_ieq(name, "content-type") || str_ieq(name, "proxy") ||
            str_ieq(name, "transfer-encoding") ||
            memchr(name.ptr, '_', name.len))  /* "X_A" would pass for "X-A" */
            continue;
        bool seen = false;
        for (size_t j = 0; j < i && !seen; j++)
            seen = str_ieq_str(http_span_str(d, h->headers[j].name), name);
        if (seen)
            continue;
        char key[256 + 6] = "HTTP_";
        size_t n = 5;
        for (size_t k = 0; k < name.len && n < sizeof(key) - 1; k++) {
            char ch = name.ptr[k];
            key[n++] = ch == '-' ? '_' : (ch >= 'a' && ch <= 'z') ? (char)(ch - 32) : ch;
        }
        key[n] = '\0';
        buf_t v;
        buf_init(&v, HTTP_MAX_HEAD);
        for (size_t j = i; j < h->nheaders; j++) {
            if (!str_ieq_str(http_span_str(d, h->headers[j].name), name))
                continue;
            str_t val = http_span_str(d, h->headers[j].value);
            if (buf_len(&v))
                buf_append(&v, ", ", 2);
            buf_append(&v, val.ptr, val.len);
        }
        env_put(e, key, (str_t){buf_len(&v) ? buf_head(&v) : "", buf_len(&v)});
        buf_free(&v);
    }
}

static void build_env(request_t *rq, cgi_t *g, env_t *e, int64_t content_length)
{
    const conn_t *c = rq->conn;
    const http_request_t *h = &rq->h;
    const char *d = request_head(rq);
    const conf_scope_t *s = rq->scope;
    buf_init(&e->b, ENV_MAX);
    e->n = 0;
    env_cstr(e, "GATEWAY_INTERFACE", "CGI/1.1");
    env_cstr(e, "SERVER_SOFTWARE", "webserv/" WEBSERV_VERSION);
    env_cstr(e, "SERVER_PROTOCOL", rq->fr->protocol(rq));
    if (h->host.len)
        env_put(e, "SERVER_NAME", http_span_str(d, h->host));
    else if (rq->srv->nnames)
        env_cstr(e, "SERVER_NAME", rq->srv->names[0]);
    else
        env_cstr(e, "SERVER_NAME", c->listener->addr->text);
    env_putf(e, "SERVER_PORT", "%d", c->listener->addr->port);
    env_cstr(e, "REQUEST_METHOD", http_method_name(h->method));
    env_put(e, "REQUEST_URI", http_span_str(d, h->target));
    str_t query = http_query(rq);
    env_put(e, "QUERY_STRING", query.ptr ? query : STR_LIT(""));
    env_cstr(e, "SCRIPT_NAME", g->script_uri);
    env_cstr(e, "SCRIPT_FILENAME", g->script);
    env_cstr(e, "PATH_INFO", g->path_info);
    if (g->path_info[0]) {
        char translated[sizeof(g->script) + sizeof(g->path_info)];
        snprintf(translated, sizeof(translated), "%s%s", s->root, g->path_info);
        env_cstr(e, "PATH_TRANSLATED", translated);
    }
    env_cstr(e, "DOCUMENT_ROOT", s->root);
    env_cstr(e, "REMOTE_ADDR", c->peer);
    env_putf(e, "REMOTE_PORT", "%d", c->peer_port);
    if (content_length >= 0) {  /* a body comes: its length and type */
        env_putf(e, "CONTENT_LENGTH", "%lld", (long long)content_length);
        str_t ctype = http_header(h, d, HTTP_H_CONTENT_TYPE);
        if (ctype.ptr)
            env_put(e, "CONTENT_TYPE", ctype);
    }
    if (tls_protocol(c)) {
        env_cstr(e, "HTTPS", "on");
        env_cstr(e, "SSL_PROTOCOL", tls_protocol(c));
        env_cstr(e, "SSL_CIPHER", tls_cipher(c));
        char verify[160], dn[1024];
        env_cstr(e, "SSL_CLIENT_VERIFY", tls_client_verify(c, verify, sizeof(verify)));
        env_cstr(e, "SSL_CLIENT_S_DN", tls_client_s_dn(c, dn, sizeof(dn)));
    }
    if (s->auth_basic == 1) {  /* the request got here by its credentials */
        char user[1024];
        env_cstr(e, "AUTH_TYPE", "Basic");
        env_put(e, "REMOTE_USER", auth_user(rq, user, sizeof(user)));
    }
    env_cstr(e, "REDIRECT_STATUS", "200");  /* php-cgi refuses to run without it */
    env_cstr(e, "PATH", "/usr/local/bin:/usr/bin:/bin");
    env_headers(e, h, d);
}

/* ---- output: stdout -> the client ---- */

static void on_stdout(loop_io_t *io, uint32_t events);
static void read_output(cgi_t *g);

static void refill(request_t *rq)
{
    cgi_t *g = rq->ctx;
    if (g && g->out_ready)
        read_output(g);
}

/* Body bytes already in place at the end of the response's memory. */
static void commit_body(cgi_t *g, size_t n)
{
    request_t *rq = g->rq;
    if (g->out_left >= 0 && (int64_t)n > g->out_left)
        n = (size_t)g->out_left;  /* past the announced length: dropped */
    if (g->out_left >= 0)
        g->out_left -= (int64_t)n;
    if (rq->head_only || !http_status_has_body(rq->status))
        return;
    rq->resp.mem.end += n;
}

/* Copy body bytes that arrived with the header block. */
static void copy_body(cgi_t *g, const char *p, size_t n)
{
    buf_t *m = &g->rq->resp.mem;
    buf_take(m);
    while (n) {
        size_t k = n > READ_MAX ? READ_MAX : n;
        if (buf_reserve(m, k) < k) {
            m->failed = true;  /* body bytes would be lost: the response is not sent */
            return;
        }
        memcpy(m->data + m->end, p, k);
        commit_body(g, k);
        p += k;
        n -= k;
    }
}

/* The script's header block is the response's head; a body of unknown
 * length is framed by the protocol (chunked, or the end of the stream). */
static void start_response(cgi_t *g, const cgi_head_t *h, int status)
{
    request_t *rq = g->rq;
    buf_t *m = &rq->fields;
    http_response_start(rq, status);
    if (h->content_type.len)
        buf_appendf(m, "Content-Type: %.*s\r\n", (int)h->content_type.len, h->content_type.ptr);
    if (h->location.len)
        buf_appendf(m, "Location: %.*s\r\n", (int)h->location.len, h->location.ptr);
    for (size_t i = 0; i < h->nfields; i++)
        buf_appendf(m, "%.*s: %.*s\r\n", (int)h->fields[i].name.len, h->fields[i].name.ptr,
                    (int)h->fields[i].value.len, h->fields[i].value.ptr);
    g->out_left = h->content_length;
    http_response_ready(rq, h->content_length);
    g->head_done = true;
}

static void fail(cgi_t *g, int status, const char *why)
{
    log_msg(LOG_ERR, "cgi \"%s\": %s", g->script, why);
    request_fail(g->rq, status);  /* ends the request: g is freed */
}

/* Returns false when g is gone (the request failed). */
static bool parse_head(cgi_t *g)
{
    cgi_head_t h;
    ssize_t n = cgi_parse_head(buf_head(&g->head), buf_len(&g->head), &h);
    if (n == 0)
        return true;
    if (n < 0) {
        fail(g, 502, "malformed response header");
        return false;
    }
    size_t rest = buf_len(&g->head) - (size_t)n;
    int status = h.status;
    if (status && (status < 200 || status > 599)) {  /* an interim or unknown status is no final answer */
        fail(g, 502, "invalid Status");
        return false;
    }
    if (!status && h.location.len && h.location.ptr[0] == '/' && rest == 0) {
        /* local redirect (RFC 3875 6.2.2), if no body follows: decided at EOF */
        g->redirect_pending = true;
        return true;
    }
    if (!status)
        status = h.location.len ? 302 : 200;
    start_response(g, &h, status);
    copy_body(g, buf_head(&g->head) + n, rest);
    return true;
}

static void finish_output(cgi_t *g)
{
    request_t *rq = g->rq;
    close_io(&g->out_io);
    if (!g->head_done) {
        if (g->redirect_pending) {
            cgi_head_t h;
            cgi_parse_head(buf_head(&g->head), buf_len(&g->head), &h);
            if (h.location.len > HTTP_MAX_URI) {
                fail(g, 502, "local redirect URI too long");
                return;
            }
            /* copied: the redirect ends this request's CGI, and g with it */
            char uri[HTTP_MAX_URI];
            memcpy(uri, h.location.ptr, h.location.len);
            http_internal_redirect(rq, uri, h.location.len);
            return;
        }
        fail(g, 502, buf_len(&g->head) ? "incomplete response header" : "no output");
        return;
    }
    if (g->out_left > 0) {
        log_msg(LOG_ERR, "cgi \"%s\": output shorter than its Content-Length", g->script);
        rq->keep_alive = false;
    }
    rq->resp.more = false;
    request_wake(rq);
}

static void read_output(cgi_t *g)
{
    request_t *rq = g->rq;
    while (g->out_ready && g->out_io.fd >= 0) {
        char *dst;
        size_t room;
        buf_t *m = &rq->resp.mem;
        if (!g->head_done && !g->redirect_pending) {
            room = buf_reserve(&g->head, 4096);
            if (room == 0) {
                fail(g, 502, "response header too large");
                return;
            }
            dst = g->head.data + g->head.end;
        } else {
            if (buf_len(m) >= OUT_HIGH)
                break;  /* the client is slower: read again on refill */
            buf_take(m);
            if (buf_reserve(m, READ_MAX) < READ_MAX)
                break;
            dst = m->data + m->end;
            room = READ_MAX;
        }
        ssize_t n = read(g->out_io.fd, dst, room);
        if (n > 0) {
            if ((size_t)n < room && !g->out_hup)  /* drained; with a hang-up pending, read on to the EOF */
                g->out_ready = false;
            if (g->redirect_pending) {  /* a body after all: an ordinary redirect */
                g->redirect_pending = false;
                cgi_head_t h;
                cgi_parse_head(buf_head(&g->head), buf_len(&g->head), &h);
                char moved[READ_MAX];
                memcpy(moved, dst, (size_t)n);
                start_response(g, &h, 302);
                copy_body(g, moved, (size_t)n);
            } else if (!g->head_done) {
                g->head.end += (size_t)n;
                if (!parse_head(g))
                    return;
            } else {
                commit_body(g, (size_t)n);
            }
            continue;
        }
        if (n == 0) {
            finish_output(g);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            finish_output(g);
            return;
        }
        g->out_ready = false;
    }
    if (g->head_done)
        request_wake(rq);
}

static void on_stdout(loop_io_t *io, uint32_t events)
{
    cgi_t *g = io->data;
    if (!g->rq)  /* its request ended earlier in this batch */
        return;
    g->out_ready = true;
    if (events & (LOOP_HUP | LOOP_RDHUP | LOOP_ERR))
        g->out_hup = true;  /* edge-triggered: this is the only word of it */
    read_output(g);
}

/* ---- input: the request body -> stdin ---- */

static void pump_input(cgi_t *g)
{
    size_t before = buf_len(&g->in);
    while (g->in_io.fd >= 0 && g->in_ready) {
        if (!buf_len(&g->in) && g->spool >= 0) {
            size_t room = buf_reserve(&g->in, IN_MAX);
            ssize_t r = read(g->spool, g->in.data + g->in.end, room);
            if (r > 0)
                g->in.end += (size_t)r;
            else {
                close(g->spool);
                g->spool = -1;
            }
        }
        if (!buf_len(&g->in))
            break;
        ssize_t n = write(g->in_io.fd, buf_head(&g->in), buf_len(&g->in));
        if (n > 0) {
            if ((size_t)n < buf_len(&g->in))
                g->in_ready = false;
            buf_consume(&g->in, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            g->in_ready = false;
            break;
        }
        /* EPIPE: the script does not want (the rest of) the body */
        close_io(&g->in_io);
        buf_consume(&g->in, buf_len(&g->in));
    }
    if (g->in_io.fd >= 0 && g->input_done && !buf_len(&g->in) && g->spool < 0)
        close_io(&g->in_io);  /* EOF for the script */
    if (buf_len(&g->in) < before || g->in_io.fd < 0)
        request_wake(g->rq);  /* the body reader may go on */
}

static void on_stdin(loop_io_t *io, uint32_t events)
{
    cgi_t *g = io->data;
    if (!g->rq)
        return;
    g->in_ready = true;
    pump_input(g);
}

static ssize_t stream_data(request_t *rq, const char *p, size_t len, bool last)
{
    cgi_t *g = rq->ctx;
    if (g->in_io.fd < 0)
        return (ssize_t)len;  /* stdin closed: drop the rest */
    size_t room = IN_MAX > buf_len(&g->in) ? IN_MAX - buf_len(&g->in) : 0;
    size_t take = len < room ? len : room;
    buf_append(&g->in, p, take);
    if (last && take == len)
        g->input_done = true;
    pump_input(g);
    return (ssize_t)take;
}

static void stream_done(request_t *rq)
{
    cgi_t *g = rq->ctx;
    g->input_done = true;
    pump_input(g);
}

/* ---- spawning ---- */

static void release(loop_task_t *t);

static void on_timeout(loop_timer_t *t)
{
    cgi_t *g = t->data;
    log_msg(LOG_ERR, "cgi \"%s\" (pid %d) timed out: killed", g->script, (int)g->pid);
    kill_child(g);
    if (g->head_done)
        request_abort(g->rq);  /* the status is sent already: cut the response short */
    else
        request_fail(g->rq, 504);
}

static void set_nonblock(int fd) { fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK); }

/* fork + execve. Returns 0, or a status (503 when no process can be made). */
static int spawn(request_t *rq, cgi_t *g, int64_t content_length)
{
    if (process_unreaped() >= max_processes) {
        log_msg(LOG_ERR, "cgi \"%s\": %u scripts running already (cgi_max_processes)", g->script,
                process_unreaped());
        return 503;
    }
    int out[2], in[2] = {-1, -1};
    if (pipe2(out, O_CLOEXEC) != 0)
        return 503;
    int child_in;
    if (content_length > 0) {
        if (pipe2(in, O_CLOEXEC) != 0) {
            close(out[0]);
            close(out[1]);
            return 503;
        }
        child_in = in[0];
    } else {
        child_in = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    env_t env;
    build_env(rq, g, &env, content_length);
    char *envp[ENV_VARS + 1];
    for (size_t i = 0; i < env.n; i++)
        envp[i] = env.b.data + env.offs[i];
    envp[env.n] = NULL;
    char dir[sizeof(g->script)];
    memcpy(dir, g->script, sizeof(dir));
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    char *argv[] = {(char *)g->interpreter, g->script, NULL};

    pid_t pid = fork();
    if (pid == 0) {
        /* the child: only async-signal-safe calls until execve */
        setpgid(0, 0);
        dup2(child_in, 0);
        dup2(out[1], 1);
        if (log_fd() != 2)
            dup2(log_fd(), 2);
        if (chdir(dir) != 0)
            _exit(127);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);  /* the server blocks signals for signalfd */
        signal(SIGPIPE, SIG_DFL);               /* ignored dispositions survive execve */
        signal(SIGXFSZ, SIG_DFL);
        execve(g->interpreter, argv, envp);
        _exit(127);
    }
    int err = errno;
    buf_free(&env.b);
    close(out[1]);
    if (child_in >= 0)
        close(child_in);
    if (pid < 0) {
        log_msg(LOG_ERR, "fork for cgi \"%s\": %s", g->script, strerror(err));
        close(out[0]);
        if (in[1] >= 0)
            close(in[1]);
        return 503;
    }
    setpgid(pid, pid);  /* also here: a kill(-pid) may come before the child's own setpgid */
    process_forked();
    g->pid = pid;
    g->next = running;
    if (running)
        running->prev = g;
    running = g;
    set_nonblock(out[0]);
    g->out_io = (loop_io_t){.fd = out[0], .fn = on_stdout, .data = g};
    loop_add(&g->out_io, LOOP_IN | LOOP_RDHUP | LOOP_ET);
    if (in[1] >= 0) {
        set_nonblock(in[1]);
        g->in_io = (loop_io_t){.fd = in[1], .fn = on_stdin, .data = g};
        loop_add(&g->in_io, LOOP_OUT | LOOP_ET);
    }
    rq->resp.refill = refill;  /* a producer runs: the response waits for it */
    g->timer.fn = on_timeout;
    g->timer.data = g;
    loop_timer_set(&g->timer, (uint64_t)rq->scope->cgi_timeout);
    return 0;
}

/* ---- chunked bodies: spooled first ---- */

static ssize_t spool_data(request_t *rq, const char *p, size_t len, bool last)
{
    cgi_t *g = rq->ctx;
    int rc = util_write_all(g->spool, p, len, "cgi body spool");
    if (rc)
        return -rc;
    g->spool_size += (int64_t)len;
    return (ssize_t)len;
}

static const body_handler_t STREAM_HANDLER = {stream_data, stream_done};

static void spool_done(request_t *rq)
{
    cgi_t *g = rq->ctx;
    lseek(g->spool, 0, SEEK_SET);
    int rc = spawn(rq, g, g->spool_size);
    if (rc) {
        request_fail(rq, rc);
        return;
    }
    g->input_done = true;
    pump_input(g);
}

static const body_handler_t SPOOL_HANDLER = {spool_data, spool_done};

/* ---- the request ---- */

static void cleanup(request_t *rq, bool ok)
{
    cgi_t *g = rq->ctx;
    if (!g)
        return;
    close_io(&g->out_io);
    close_io(&g->in_io);
    if (g->spool >= 0)
        close(g->spool);
    loop_timer_stop(&g->timer);
    kill_child(g);  /* a script still running when its request ends */
    unlink_running(g);
    g->rq = NULL;
    rq->ctx = NULL;
    rq->resp.refill = NULL;
    loop_defer(&g->release);
}

static void release(loop_task_t *t)
{
    cgi_t *g = t->data;
    buf_free(&g->head);
    buf_free(&g->in);
    free(g);
}

bool cgi_serve(request_t *rq)
{
    if (!rq->scope->ncgis)
        return false;
    cgi_t *g = xcalloc(1, sizeof(*g));
    int found = find_script(rq, g);
    if (found != 1) {
        free(g);
        if (found)
            http_error(rq, found);
        return found != 0;
    }
    g->rq = rq;
    g->release.fn = release;
    g->release.data = g;
    g->spool = -1;
    g->out_io.fd = g->in_io.fd = -1;
    g->out_left = -1;
    buf_init(&g->head, CGI_MAX_HEAD + 4096);
    buf_init(&g->in, IN_MAX);
    rq->ctx = g;
    rq->cleanup = cleanup;
    rq->resp.more = true;  /* the response comes from the script (refill: once it runs) */
    bool body = rq->has_body && !rq->no_body;
    if (body && rq->h.content_length < 0) {  /* chunked: no length to give the script yet */
        g->spool = open(P_tmpdir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
        if (g->spool < 0) {
            log_msg(LOG_ERR, "cgi body spool in %s: %s", P_tmpdir, strerror(errno));
            http_error(rq, 500);
            return true;
        }
        rq->body = &SPOOL_HANDLER;
        return true;
    }
    int rc = spawn(rq, g, body ? rq->h.content_length : -1);
    if (rc) {
        http_error(rq, rc);
        return true;
    }
    if (body)
        rq->body = &STREAM_HANDLER;
    return true;
}

void cgi_reap(void)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        process_reaped();
        for (cgi_t *g = running; g; g = g->next)
            if (g->pid == pid) {
                g->exited = true;
                if (WIFSIGNALED(status) && WTERMSIG(status) != SIGKILL)
                    log_msg(LOG_ERR, "cgi \"%s\" died of signal %d", g->script, WTERMSIG(status));
            }
    }
}

void cgi_kill_all(void)
{
    for (cgi_t *g = running; g; g = g->next)
        kill_child(g);
}
