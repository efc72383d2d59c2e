/* Configuration: tokenizer, directive table, server/location tree.
 *
 * Like nginx, the language is a stream of words ended by ';' or opening
 * a '{' block. Each directive is looked up in one table that says where
 * it may appear, how many arguments it takes and how to store them. All
 * memory of a configuration lives in one arena freed by conf_free. */
#include "conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "http_parse.h"

/* ---- arena ---- */

typedef struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    max_align_t data[];
} arena_block_t;

struct conf_arena {
    arena_block_t *head;
};

static void *arena_alloc(struct conf_arena *a, size_t n)
{
    n = (n + sizeof(max_align_t) - 1) & ~(sizeof(max_align_t) - 1);
    arena_block_t *b = a->head;
    if (!b || b->cap - b->used < n) {
        size_t cap = n > 16384 ? n : 16384;
        b = xmalloc(sizeof(*b) + cap);
        b->next = a->head;
        b->used = 0;
        b->cap = cap;
        a->head = b;
    }
    void *p = (char *)b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

static char *arena_strndup(struct conf_arena *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* Append one zeroed element to an arena array, doubling its room at powers of two. */
static void *arena_push(struct conf_arena *a, void **arr, size_t *n, size_t size)
{
    if ((*n & (*n - 1)) == 0) {  /* 0, 1, 2, 4 ...: full */
        void *p = arena_alloc(a, size * (*n ? *n * 2 : 1));
        if (*n)
            memcpy(p, *arr, size * *n);
        *arr = p;
    }
    void *e = (char *)*arr + size * (*n)++;
    memset(e, 0, size);
    return e;
}

/* ---- tokenizer ---- */

enum { T_WORD, T_SEMI, T_OPEN, T_CLOSE, T_EOF, T_ERROR };

typedef struct {
    const char *p, *end;
    int line;
    int last_line;       /* line of the last non-blank text: where EOF is reported */
    char *word;          /* of the last T_WORD, in the arena */
    struct conf_arena *arena;
} lexer_t;

static int lex(lexer_t *lx)
{
    for (;;) {
        while (lx->p < lx->end && isspace((unsigned char)*lx->p)) {
            if (*lx->p == '\n')
                lx->line++;
            lx->p++;
        }
        if (lx->p < lx->end && *lx->p == '#') {
            while (lx->p < lx->end && *lx->p != '\n')
                lx->p++;
            continue;
        }
        break;
    }
    if (lx->p >= lx->end)
        return T_EOF;
    lx->last_line = lx->line;
    char c = *lx->p;
    if (c == ';' || c == '{' || c == '}') {
        lx->p++;
        return c == ';' ? T_SEMI : c == '{' ? T_OPEN : T_CLOSE;
    }
    buf_t w;
    buf_init(&w, 1 << 20);
    bool quoted = c == '"' || c == '\'';
    if (quoted)
        lx->p++;
    /* A backslash keeps the next character from ending the word; as in
     * nginx, \" \' \\ \t \r \n stand for that character and any
     * other pair stays as it is (so a regex's \d or \. reaches PCRE2). */
    while (lx->p < lx->end && (quoted ? *lx->p != c
                                      : !isspace((unsigned char)*lx->p) && *lx->p != ';' && *lx->p != '{' &&
                                            *lx->p != '}')) {
        if (*lx->p == '\\' && lx->p + 1 < lx->end) {
            char e = lx->p[1];
            const char *one = e == 't'                   ? "\t"
                              : e == 'r'                 ? "\r"
                              : e == 'n'                 ? "\n"
                              : e && strchr("\"'\\", e) ? &lx->p[1]
                                                         : NULL;
            if (e == '\n')
                lx->line++;
            if (one)
                buf_append(&w, one, 1);
            else
                buf_append(&w, lx->p, 2);
            lx->p += 2;
            continue;
        }
        if (*lx->p == '\n')
            lx->line++;
        buf_append(&w, lx->p, 1);
        lx->p++;
    }
    if (quoted) {
        if (lx->p >= lx->end) {
            buf_free(&w);
            return T_ERROR;
        }
        lx->p++;
    }
    lx->word = arena_strndup(lx->arena, buf_len(&w) ? buf_head(&w) : "", buf_len(&w));  /* "" is a word too */
    buf_free(&w);
    return T_WORD;
}

/* ---- parser state ---- */

enum { CTX_MAIN = 1, CTX_SERVER = 2, CTX_LOCATION = 4, CTX_TYPES = 8 };
#define CTX_ANY (CTX_MAIN | CTX_SERVER | CTX_LOCATION)

typedef struct {
    conf_t *conf;
    struct conf_arena *arena;
    lexer_t lx;
    char *err;
    size_t errlen;
    int line;             /* of the directive being handled */
    conf_server_t *srv;   /* current server block, if any */
    conf_location_t *loc; /* current location block, if any */
    bool error_log_set;
    const char *file;     /* the file being read: the main one, or an included one */
    int depth;            /* of includes */
} parser_t;

static int perr(parser_t *ps, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int perr(parser_t *ps, int line, const char *fmt, ...)
{
    int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->file, line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

typedef int (*setter_fn)(parser_t *ps, conf_scope_t *s, char **args, int nargs);

typedef struct {
    const char *name;
    int contexts;
    int min_args, max_args;  /* max -1 = unlimited */
    int block;               /* takes a { } block */
    setter_fn set;
} directive_t;

/* ---- value parsers ---- */

static int64_t parse_scaled(const char *s, const char *const *units, const int64_t *scale, int64_t bare)
{
    if (!isdigit((unsigned char)*s))
        return -1;
    int64_t v = 0;
    const char *p = s;
    while (isdigit((unsigned char)*p)) {
        if (v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*p++ - '0');
    }
    int64_t mul = bare;
    if (*p) {
        mul = 0;
        for (int i = 0; units[i]; i++)
            if (strcasecmp(p, units[i]) == 0)
                mul = scale[i];
        if (!mul)
            return -1;
    }
    if (v > INT64_MAX / mul)
        return -1;
    return v * mul;
}

int64_t conf_parse_size(const char *s)
{
    static const char *const units[] = {"k", "m", "g", NULL};
    static const int64_t scale[] = {1024, 1024 * 1024, 1024 * 1024 * 1024};
    return parse_scaled(s, units, scale, 1);
}

int64_t conf_parse_time(const char *s)
{
    static const char *const units[] = {"ms", "s", "m", "h", "d", NULL};
    static const int64_t scale[] = {1, 1000, 60000, 3600000, 86400000};
    return parse_scaled(s, units, scale, 1000);
}

/* Remove "." and ".." segments and repeated slashes of an absolute path,
 * in place, without looking at the file system (as `cd -L`): what reaches
 * CGI (php-cgi refuses a SCRIPT_FILENAME with ".."), the logs and the
 * file system is a clean path. */
static void clean_path(char *p)
{
    char *out = p;  /* p[0] is '/' */
    const char *in = p;
    while (*in) {
        while (*in == '/')
            in++;
        const char *seg = in;
        while (*in && *in != '/')
            in++;
        size_t len = (size_t)(in - seg);
        if (len == 0 || (len == 1 && seg[0] == '.'))
            continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (out > p && *--out != '/')
                ;
            continue;
        }
        *out++ = '/';
        memmove(out, seg, len);
        out += len;
    }
    if (out == p)
        *out++ = '/';
    *out = '\0';
}

static char *resolve_path(parser_t *ps, const char *p)
{
    size_t n = strlen(ps->conf->dir) + strlen(p) + 2;
    char *r = arena_alloc(ps->arena, n);
    if (p[0] == '/')
        snprintf(r, n, "%s", p);
    else
        snprintf(r, n, "%s/%s", ps->conf->dir, p);
    if (r[0] == '/')
        clean_path(r);
    return r;
}

bool conf_check_files = true;

static int check_dir(parser_t *ps, const char *what, const char *path)
{
    if (!conf_check_files)
        return 0;
    struct stat st;
    if (stat(path, &st) != 0)
        return perr(ps, ps->line, "%s \"%s\": %s", what, path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return perr(ps, ps->line, "%s \"%s\" is not a directory", what, path);
    return 0;
}

/* A log file must be creatable: its folder exists and is writable. */
static int check_log_file(parser_t *ps, const char *path)
{
    if (!conf_check_files)
        return 0;
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return perr(ps, ps->line, "cannot open log file \"%s\": %s", path, strerror(errno));
    close(fd);
    return 0;
}

#define DUPLICATE_CHECK(cond, name) \
    if (cond)                       \
    return perr(ps, ps->line, "\"%s\" directive is duplicate", name)

/* ---- setters ---- */

static int set_root(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->root, "root");
    if (s->alias)
        return perr(ps, ps->line, "\"root\" directive is duplicate, \"alias\" directive was specified earlier");
    s->root = resolve_path(ps, a[0]);
    size_t l = strlen(s->root);
    while (l > 1 && s->root[l - 1] == '/')  /* root + "/uri": no double slash */
        s->root[--l] = '\0';
    return check_dir(ps, "root", s->root);
}

static int set_index(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    for (int i = 0; i < n; i++) {
        if (!a[i][0] || strchr(a[i], '/'))
            return perr(ps, ps->line, "invalid index \"%s\"", a[i]);
        char **slot = arena_push(ps->arena, (void **)&s->index, &s->nindex, sizeof(char *));
        *slot = a[i];
    }
    return 0;
}

static int set_autoindex(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->autoindex != CONF_UNSET, "autoindex");
    if (strcmp(a[0], "on") == 0)
        s->autoindex = 1;
    else if (strcmp(a[0], "off") == 0)
        s->autoindex = 0;
    else
        return perr(ps, ps->line, "invalid value \"%s\" in \"autoindex\", it must be \"on\" or \"off\"", a[0]);
    return 0;
}

static int set_body_size(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->client_max_body_size != CONF_UNSET, "client_max_body_size");
    s->client_max_body_size = conf_parse_size(a[0]);
    if (s->client_max_body_size < 0)
        return perr(ps, ps->line, "invalid size \"%s\" in \"client_max_body_size\"", a[0]);
    return 0;
}

static int set_error_page(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    const char *uri = a[n - 1];
    if (uri[0] != '/' && strncmp(uri, "http://", 7) != 0 && strncmp(uri, "https://", 8) != 0)
        return perr(ps, ps->line, "invalid error_page URI \"%s\"", uri);
    for (int i = 0; i < n - 1; i++) {
        char *end;
        long code = strtol(a[i], &end, 10);
        if (*end || end == a[i] || code < 300 || code > 599)
            return perr(ps, ps->line, "invalid status code \"%s\" in \"error_page\"", a[i]);
        conf_error_page_t *ep = arena_push(ps->arena, (void **)&s->error_pages, &s->nerror_pages, sizeof(*ep));
        ep->code = (int)code;
        ep->uri = a[n - 1];
    }
    s->error_pages_set = true;
    return 0;
}

static int set_access_log(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->access_log_set, "access_log");
    s->access_log_set = true;
    if (strcmp(a[0], "off") == 0)
        return 0;
    s->access_log = strcmp(a[0], "stderr") == 0 ? a[0] : resolve_path(ps, a[0]);
    return strcmp(a[0], "stderr") == 0 ? 0 : check_log_file(ps, s->access_log);
}

static int set_timeout(parser_t *ps, int64_t *slot, const char *name, const char *v)
{
    DUPLICATE_CHECK(*slot != CONF_UNSET, name);
    *slot = conf_parse_time(v);
    if (*slot < 0)
        return perr(ps, ps->line, "invalid time \"%s\" in \"%s\"", v, name);
    return 0;
}

static int set_keepalive(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_timeout(ps, &s->keepalive_timeout, "keepalive_timeout", a[0]);
}
static int set_header_timeout(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_timeout(ps, &s->client_header_timeout, "client_header_timeout", a[0]);
}
static int set_body_timeout(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_timeout(ps, &s->client_body_timeout, "client_body_timeout", a[0]);
}
static int set_send_timeout(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_timeout(ps, &s->send_timeout, "send_timeout", a[0]);
}
static int set_cgi_timeout(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_timeout(ps, &s->cgi_timeout, "cgi_timeout", a[0]);
}

static int set_methods(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->methods, "allow_methods");
    for (int i = 0; i < n; i++) {
        int m = http_method_from((str_t){a[i], strlen(a[i])});
        if (m == HTTP_METHOD_UNKNOWN)
            return perr(ps, ps->line, "unknown method \"%s\" in \"allow_methods\"", a[i]);
        s->methods |= (unsigned)m;
    }
    return 0;
}

static void *arena_for_vars(void *arena, size_t n) { return arena_alloc(arena, n); }

/* Compile a text with variables; an unknown one is an error with its line. */
static int compile_vars(parser_t *ps, var_expr_t *e, const char *text)
{
    char why[256];
    if (!text)
        return 0;
    if (var_compile(e, text, arena_for_vars, ps->arena, why, sizeof(why)) != 0)
        return perr(ps, ps->line, "%s", why);
    return 0;
}

static int set_add_header(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    if (n == 3 && strcmp(a[2], "always") != 0)
        return perr(ps, ps->line, "invalid parameter \"%s\" in \"add_header\"", a[2]);
    for (const char *p = a[0]; *p; p++)  /* a field name is a token */
        if (*p <= ' ' || *p >= 0x7f || strchr("()<>@,;:\\\"/[]?={}", *p))
            return perr(ps, ps->line, "invalid header name \"%s\" in \"add_header\"", a[0]);
    for (const char *p = a[1]; *p; p++)
        if ((*p < ' ' && *p != '\t') || *p == 0x7f)
            return perr(ps, ps->line, "invalid header value in \"add_header\"");
    if (!a[0][0])
        return perr(ps, ps->line, "empty header name in \"add_header\"");
    conf_header_t *h = arena_push(ps->arena, (void **)&s->add_headers, &s->nadd_headers, sizeof(*h));
    h->name = a[0];
    h->always = n == 3;
    s->add_headers_set = true;
    return compile_vars(ps, &h->expr, a[1]);
}

/* allow/deny ADDR | CIDR | all */
static int set_access(parser_t *ps, conf_scope_t *s, const char *arg, bool allow)
{
    const char *name = allow ? "allow" : "deny";
    conf_access_t r;
    memset(&r, 0, sizeof(r));
    r.allow = allow;
    if (strcmp(arg, "all") != 0) {
        char text[INET6_ADDRSTRLEN + 8];
        if (strlen(arg) >= sizeof(text))
            return perr(ps, ps->line, "invalid address \"%s\" in \"%s\"", arg, name);
        strcpy(text, arg);
        char *slash = strchr(text, '/');
        long bits = -1;
        if (slash) {
            char *end;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (*end || end == slash + 1 || bits < 0)
                return perr(ps, ps->line, "invalid address \"%s\" in \"%s\"", arg, name);
        }
        size_t len;
        if (inet_pton(AF_INET, text, r.addr) == 1) {
            r.family = AF_INET;
            len = 4;
        } else if (inet_pton(AF_INET6, text, r.addr) == 1) {
            r.family = AF_INET6;
            len = 16;
        } else {
            return perr(ps, ps->line, "invalid address \"%s\" in \"%s\"", arg, name);
        }
        if (bits < 0)
            bits = (long)len * 8;
        if (bits > (long)len * 8)
            return perr(ps, ps->line, "invalid prefix length in \"%s\" of \"%s\"", arg, name);
        for (size_t i = 0; i < len; i++) {
            long b = bits - (long)i * 8;
            r.mask[i] = (unsigned char)(b >= 8 ? 0xff : b <= 0 ? 0 : (0xff << (8 - b)) & 0xff);
            r.addr[i] &= r.mask[i];  /* bits past the prefix mean nothing */
        }
    }
    conf_access_t *slot = arena_push(ps->arena, (void **)&s->access, &s->naccess, sizeof(r));
    *slot = r;
    s->access_set = true;
    return 0;
}

static int set_allow(parser_t *ps, conf_scope_t *s, char **a, int n) { return set_access(ps, s, a[0], true); }
static int set_deny(parser_t *ps, conf_scope_t *s, char **a, int n) { return set_access(ps, s, a[0], false); }

static int set_expires(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->expires_mode != CONF_EXPIRES_UNSET, "expires");
    if (strcmp(a[0], "off") == 0) {
        s->expires_mode = CONF_EXPIRES_OFF;
    } else if (strcmp(a[0], "epoch") == 0) {
        s->expires_mode = CONF_EXPIRES_EPOCH;
    } else if (strcmp(a[0], "max") == 0) {
        s->expires_mode = CONF_EXPIRES_MAX;
    } else {
        bool negative = a[0][0] == '-';
        const char *t = a[0] + (negative || a[0][0] == '+');
        int64_t ms = conf_parse_time(t);
        if (ms < 0 || ms / 1000 > 100LL * 365 * 86400)
            return perr(ps, ps->line, "invalid value \"%s\" in \"expires\"", a[0]);
        s->expires_mode = CONF_EXPIRES_TIME;
        s->expires = negative ? -(ms / 1000) : ms / 1000;
    }
    return 0;
}

static int set_return(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->return_code != CONF_UNSET, "return");
    s->return_after = s->nrewrites;
    if (n == 1 && (strncmp(a[0], "http://", 7) == 0 || strncmp(a[0], "https://", 8) == 0)) {
        s->return_code = 302;
        s->return_text = a[0];
        return compile_vars(ps, &s->return_expr, s->return_text);
    }
    char *end;
    long code = strtol(a[0], &end, 10);
    if (*end || end == a[0] || code < 200 || code > 999)  /* an interim 1xx is no answer */
        return perr(ps, ps->line, "invalid return code \"%s\"", a[0]);
    s->return_code = (int)code;
    s->return_text = n > 1 ? a[1] : NULL;
    return compile_vars(ps, &s->return_expr, s->return_text);
}

static int set_upload_store(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->upload_store, "upload_store");
    s->upload_store = resolve_path(ps, a[0]);
    return check_dir(ps, "upload_store", s->upload_store);
}

static int set_cgi(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    if (a[0][0] != '.' || !a[0][1] || strchr(a[0], '/'))
        return perr(ps, ps->line, "invalid cgi extension \"%s\", it must look like \".py\"", a[0]);
    char *interp = resolve_path(ps, a[1]);
    if (conf_check_files && access(interp, X_OK) != 0)
        return perr(ps, ps->line, "cgi interpreter \"%s\": %s", interp, strerror(errno));
    conf_cgi_t *c = arena_push(ps->arena, (void **)&s->cgis, &s->ncgis, sizeof(*c));
    c->ext = a[0];
    c->interpreter = interp;
    return 0;
}

static int set_error_log(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(ps->error_log_set, "error_log");
    ps->error_log_set = true;
    if (strcmp(a[0], "stderr") == 0)
        return 0;
    ps->conf->error_log = resolve_path(ps, a[0]);
    return check_log_file(ps, ps->conf->error_log);
}

/* A decimal count in [min, max] for directive `name`. Returns 0 or -1 (reported). */
static int set_count(parser_t *ps, const char *arg, const char *name, long min, long max, int *out)
{
    char *end;
    long v = strtol(arg, &end, 10);
    if (*end || end == arg || v < min || v > max)
        return perr(ps, ps->line, "invalid value \"%s\" in \"%s\"", arg, name);
    *out = (int)v;
    return 0;
}

static int set_http2_streams(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    int *v = ps->srv ? &ps->srv->http2_max_streams : &ps->conf->http2_max_streams;
    DUPLICATE_CHECK(*v, "http2_max_concurrent_streams");
    return set_count(ps, a[0], "http2_max_concurrent_streams", 1, 65536, v);
}

static int set_workers(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(ps->conf->worker_processes, "worker_processes");
    if (strcmp(a[0], "auto") == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        ps->conf->worker_processes = cpus > 0 ? (int)cpus : 1;
        return 0;
    }
    return set_count(ps, a[0], "worker_processes", 1, 256, &ps->conf->worker_processes);
}

static int set_cgi_max(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(ps->conf->cgi_max_processes, "cgi_max_processes");
    return set_count(ps, a[0], "cgi_max_processes", 1, 65536, &ps->conf->cgi_max_processes);
}

static int parse_listen_addr(parser_t *ps, const char *arg, conf_listen_t *l)
{
    char host[256] = "0.0.0.0";
    const char *port;
    const char *colon = strrchr(arg, ':');
    if (arg[0] == '[') {
        const char *rb = strchr(arg, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - arg - 1) >= sizeof(host))
            return perr(ps, ps->line, "invalid listen address \"%s\"", arg);
        memcpy(host, arg + 1, (size_t)(rb - arg - 1));
        host[rb - arg - 1] = '\0';
        port = rb + 2;
    } else if (colon) {
        if ((size_t)(colon - arg) >= sizeof(host) || colon == arg)
            return perr(ps, ps->line, "invalid listen address \"%s\"", arg);
        memcpy(host, arg, (size_t)(colon - arg));
        host[colon - arg] = '\0';
        if (strcmp(host, "*") == 0)
            strcpy(host, "0.0.0.0");
        port = colon + 1;
    } else {
        port = arg;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535)
        return perr(ps, ps->line, "invalid port in \"%s\" of the \"listen\" directive", arg);
    if (strcmp(host, "localhost") == 0)
        strcpy(host, "127.0.0.1");
    /* numeric addresses only: a configuration check never waits on DNS */
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || !res)
        return perr(ps, ps->line, "invalid address in \"%s\" of the \"listen\" directive (an IP address, \"*\" or localhost)", arg);
    memcpy(&l->addr, res->ai_addr, res->ai_addrlen);
    l->addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    l->port = (int)p;
    char ip[INET6_ADDRSTRLEN] = "?";
    if (l->addr.ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&l->addr)->sin6_addr, ip, sizeof(ip));
        snprintf(l->text, sizeof(l->text), "[%s]:%d", ip, l->port);
    } else {
        inet_ntop(AF_INET, &((struct sockaddr_in *)&l->addr)->sin_addr, ip, sizeof(ip));
        snprintf(l->text, sizeof(l->text), "%s:%d", ip, l->port);
    }
    return 0;
}

static int set_listen(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_listen_t l;
    memset(&l, 0, sizeof(l));
    if (parse_listen_addr(ps, a[0], &l) != 0)
        return -1;
    l.line = ps->line;
    for (int i = 1; i < n; i++) {
        if (strcmp(a[i], "ssl") == 0)
            l.ssl = true;
        else if (strcmp(a[i], "http2") == 0)
            l.http2 = true;
        else
            return perr(ps, ps->line, "invalid parameter \"%s\" in \"listen\"", a[i]);
    }
    for (size_t i = 0; i < ps->srv->nlistens; i++)
        if (strcmp(ps->srv->listens[i].text, l.text) == 0)
            return perr(ps, ps->line, "duplicate listen %s", l.text);
    conf_listen_t *slot = arena_push(ps->arena, (void **)&ps->srv->listens, &ps->srv->nlistens, sizeof(l));
    *slot = l;
    return 0;
}

static int set_server_name(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    for (int i = 0; i < n; i++) {
        for (char *c = a[i]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        char **slot = arena_push(ps->arena, (void **)&ps->srv->names, &ps->srv->nnames, sizeof(char *));
        *slot = a[i];
    }
    return 0;
}

static void scope_init(conf_scope_t *s)
{
    memset(s, 0, sizeof(*s));
    s->autoindex = CONF_UNSET;
    s->client_max_body_size = CONF_UNSET;
    s->keepalive_timeout = s->client_header_timeout = CONF_UNSET;
    s->client_body_timeout = s->send_timeout = s->cgi_timeout = CONF_UNSET;
    s->return_code = CONF_UNSET;
    s->access_log_fd = -1;
    s->auth_basic = CONF_UNSET;
}

static int parse_block(parser_t *ps, int ctx, bool file_top);
static void ssl_init(conf_ssl_t *t);

/* try_files ... @name: the server has that named location (it may come
 * after the try_files that names it). */
static int check_named_locations(parser_t *ps, const conf_server_t *srv)
{
    for (size_t i = 0; i <= srv->nlocations; i++) {
        const conf_scope_t *s = i < srv->nlocations ? &srv->locations[i].s : &srv->s;
        if (s->try_files && s->try_files->named && !conf_find_named(srv, s->try_files->named))
            return perr(ps, i < srv->nlocations ? srv->locations[i].line : srv->line,
                        "no location \"%s\" for \"try_files\"", s->try_files->named);
    }
    return 0;
}

static int set_server(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_t *c = ps->conf;
    conf_server_t *srv = arena_push(ps->arena, (void **)&c->servers, &c->nservers, sizeof(*srv));
    (void)srv;
    /* arena_push may move the array: refer to the server by index */
    size_t idx = c->nservers - 1;
    c->servers[idx].line = ps->line;
    scope_init(&c->servers[idx].s);
    ssl_init(&c->servers[idx].ssl);
    ps->srv = &c->servers[idx];
    int rc = parse_block(ps, CTX_SERVER, false);
    if (rc == 0)
        rc = check_named_locations(ps, ps->srv);
    ps->srv = NULL;
    return rc;
}

/* Compile a regex of the configuration (freed with it). */
static int compile_pattern(parser_t *ps, pattern_t *p, const char *re, bool caseless)
{
    char why[512];
    if (pattern_compile(p, re, caseless, why, sizeof(why)) != 0)
        return perr(ps, ps->line, "%s", why);
    pattern_t *kept = arena_push(ps->arena, (void **)&ps->conf->patterns, &ps->conf->npatterns, sizeof(*p));
    *kept = *p;
    return 0;
}

static int set_location(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    static const struct {
        const char *modifier;
        int kind;
    } modifiers[] = {{"=", CONF_LOC_EXACT}, {"^~", CONF_LOC_PREFIX_FIRST}, {"~", CONF_LOC_REGEX}, {"~*", CONF_LOC_REGEX}};
    int kind = a[0][0] == '@' ? CONF_LOC_NAMED : CONF_LOC_PREFIX;
    const char *prefix = a[0];
    if (n == 2) {
        kind = -1;
        for (size_t i = 0; i < sizeof(modifiers) / sizeof(modifiers[0]); i++)
            if (strcmp(a[0], modifiers[i].modifier) == 0)
                kind = modifiers[i].kind;
        if (kind < 0)
            return perr(ps, ps->line, "invalid location modifier \"%s\"", a[0]);
        prefix = a[1];
    }
    if (kind == CONF_LOC_NAMED ? n != 1 || !prefix[1] : kind != CONF_LOC_REGEX && prefix[0] != '/')
        return perr(ps, ps->line, "invalid location \"%s\", it must start with \"/\"", prefix);
    conf_server_t *srv = ps->srv;
    for (size_t i = 0; i < srv->nlocations; i++) {
        const conf_location_t *l = &srv->locations[i];
        bool prefixes = l->kind != CONF_LOC_EXACT && kind != CONF_LOC_EXACT;  /* ^~ /a and /a are one prefix */
        if ((l->kind == kind || (prefixes && l->kind != CONF_LOC_REGEX && kind != CONF_LOC_REGEX)) &&
            strcmp(l->prefix, prefix) == 0)
            return perr(ps, ps->line, "duplicate location \"%s\"", prefix);
    }
    pattern_t re = {0};
    if (kind == CONF_LOC_REGEX && compile_pattern(ps, &re, prefix, strcmp(a[0], "~*") == 0) != 0)
        return -1;
    conf_location_t *loc = arena_push(ps->arena, (void **)&srv->locations, &srv->nlocations, sizeof(*loc));
    loc->prefix = (char *)prefix;
    loc->prefix_len = strlen(prefix);
    loc->kind = kind;
    loc->re = re;
    loc->line = ps->line;
    scope_init(&loc->s);
    ps->loc = loc;
    int rc = parse_block(ps, CTX_LOCATION, false);
    ps->loc = NULL;
    return rc;
}

/* A URI with variables: the path, and the query after the first '?' of
 * the text (a '?' a variable brings belongs to the path). */
static int compile_uri(parser_t *ps, conf_uri_t *u, char *text)
{
    char *q = strchr(text, '?');
    u->has_args = q != NULL;
    if (q) {
        *q = '\0';
        if (compile_vars(ps, &u->args, q + 1) != 0)
            return -1;
    }
    int rc = compile_vars(ps, &u->path, text);
    if (q)
        *q = '?';
    return rc;
}

static int set_alias(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->alias, "alias");
    if (s->root)
        return perr(ps, ps->line, "\"alias\" directive is duplicate, \"root\" directive was specified earlier");
    if (ps->loc->kind == CONF_LOC_NAMED)
        return perr(ps, ps->line, "\"alias\" directive is not allowed here");
    size_t len = strlen(a[0]);
    bool slash = len && a[0][len - 1] == '/';
    if (strchr(a[0], '$') || ps->loc->kind == CONF_LOC_REGEX) {
        /* built per request (a regex location's alias names the whole file):
         * made absolute now, checked for ".." when used */
        s->alias = a[0];
        if (a[0][0] != '/' && a[0][0] != '$') {
            size_t size = strlen(ps->conf->dir) + len + 2;
            s->alias = arena_alloc(ps->arena, size);
            snprintf(s->alias, size, "%s/%s", ps->conf->dir, a[0]);
        }
        return compile_vars(ps, &s->alias_expr, s->alias);
    }
    char *path = resolve_path(ps, a[0]);
    size_t plen = strlen(path);
    if (slash && path[plen - 1] != '/') {  /* the trailing slash is part of the mapping */
        char *with = arena_alloc(ps->arena, plen + 2);
        memcpy(with, path, plen);
        with[plen] = '/';
        path = with;
    }
    s->alias = path;
    return 0;
}

static int set_try_files(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->try_files, "try_files");
    conf_try_files_t *t = arena_alloc(ps->arena, sizeof(*t));
    t->files = arena_alloc(ps->arena, sizeof(var_expr_t) * (size_t)(n - 1));
    for (int i = 0; i < n - 1; i++)
        if (compile_vars(ps, &t->files[t->nfiles++], a[i]) != 0)
            return -1;
    char *last = a[n - 1];
    if (last[0] == '=') {
        char *end;
        long code = strtol(last + 1, &end, 10);
        if (*end || end == last + 1 || code < 200 || code > 599)
            return perr(ps, ps->line, "invalid code \"%s\" in \"try_files\"", last);
        t->code = (int)code;
    } else if (last[0] == '@') {
        t->named = last;  /* checked when the server block ends: it may come later */
    } else if (last[0] != '/' && last[0] != '$') {
        return perr(ps, ps->line, "invalid URI \"%s\" in \"try_files\"", last);
    } else if (compile_uri(ps, &t->uri, last) != 0) {
        return -1;
    }
    s->try_files = t;
    return 0;
}

/* A value that goes into a header line as it is: no control bytes. */
static bool header_safe(const char *v)
{
    for (; *v; v++)
        if ((unsigned char)*v < ' ' || *v == 0x7f)
            return false;
    return true;
}

static int set_types(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    s->types_set = true;  /* even empty: `types { }` gives every file default_type */
    return parse_block(ps, CTX_TYPES, false);
}

static int set_default_type(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->default_type, "default_type");
    if (!a[0][0] || !header_safe(a[0]))
        return perr(ps, ps->line, "invalid value in \"default_type\"");
    s->default_type = a[0];
    return 0;
}

static int set_charset(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->charset, "charset");
    if (strcmp(a[0], "off") == 0) {
        s->charset = "";
        return 0;
    }
    for (const char *c = a[0]; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("-_.:", *c))
            return perr(ps, ps->line, "invalid charset \"%s\"", a[0]);
    if (!a[0][0])
        return perr(ps, ps->line, "invalid charset \"\"");
    s->charset = a[0];
    return 0;
}

static int set_auth_basic(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->auth_basic != CONF_UNSET, "auth_basic");
    s->auth_basic = strcmp(a[0], "off") != 0;
    s->auth_line = ps->line;
    return s->auth_basic ? compile_vars(ps, &s->auth_realm, a[0]) : 0;
}

static int set_auth_user_file(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    DUPLICATE_CHECK(s->auth_user_file, "auth_basic_user_file");
    s->auth_user_file = resolve_path(ps, a[0]);
    if (conf_check_files && access(s->auth_user_file, R_OK) != 0)
        return perr(ps, ps->line, "auth_basic_user_file \"%s\": %s", s->auth_user_file, strerror(errno));
    return 0;
}

static int set_fastcgi_param(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    if (n == 3 && strcmp(a[2], "if_not_empty") != 0)
        return perr(ps, ps->line, "invalid parameter \"%s\" in \"fastcgi_param\"", a[2]);
    if (!a[0][0] || !header_safe(a[0]))
        return perr(ps, ps->line, "invalid name in \"fastcgi_param\"");
    conf_param_t *p = arena_push(ps->arena, (void **)&s->fastcgi_params, &s->nfastcgi_params, sizeof(*p));
    p->name = a[0];
    p->if_not_empty = n == 3;
    s->fastcgi_params_set = true;
    return compile_vars(ps, &p->value, a[1]);
}

static int set_rewrite(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    static const char *const flags[] = {"", "last", "break", "redirect", "permanent"};
    conf_rewrite_t r;
    memset(&r, 0, sizeof(r));
    if (n == 3) {
        r.flag = -1;
        for (int i = 1; i < 5; i++)
            if (strcmp(a[2], flags[i]) == 0)
                r.flag = i;
        if (r.flag < 0)
            return perr(ps, ps->line, "invalid parameter \"%s\"", a[2]);
    }
    char *to = a[1];
    size_t len = strlen(to);
    r.external = strncmp(to, "http://", 7) == 0 || strncmp(to, "https://", 8) == 0 || strncmp(to, "$scheme", 7) == 0;
    r.keep_args = !(len && to[len - 1] == '?');
    if (!r.keep_args)
        to[len - 1] = '\0';  /* the '?' only says: no query */
    if (compile_pattern(ps, &r.re, a[0], false) != 0 || compile_uri(ps, &r.to, to) != 0)
        return -1;
    conf_rewrite_t *slot = arena_push(ps->arena, (void **)&s->rewrites, &s->nrewrites, sizeof(r));
    *slot = r;
    return 0;
}

/* ---- TLS ---- */

/* The TLS settings of the block being parsed: a server's, else main's. */
static conf_ssl_t *ssl_of(parser_t *ps) { return ps->srv ? &ps->srv->ssl : &ps->conf->ssl; }

static int readable_file(parser_t *ps, const char *what, const char *path)
{
    if (conf_check_files && access(path, R_OK) != 0)
        return perr(ps, ps->line, "%s \"%s\": %s", what, path, strerror(errno));
    return 0;
}

static int push_file(parser_t *ps, conf_file_t **arr, size_t *n, const char *what, const char *arg)
{
    conf_file_t *f = arena_push(ps->arena, (void **)arr, n, sizeof(**arr));
    f->path = resolve_path(ps, arg);
    f->line = ps->line;
    return readable_file(ps, what, f->path);
}

static int set_ssl_certificate(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    return push_file(ps, &t->certs, &t->ncerts, "ssl_certificate", a[0]);
}

static int set_ssl_certificate_key(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    return push_file(ps, &t->keys, &t->nkeys, "ssl_certificate_key", a[0]);
}

static int set_ssl_protocols(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->protocols, "ssl_protocols");
    for (int i = 0; i < n; i++) {
        if (strcmp(a[i], "TLSv1.2") == 0)
            t->protocols |= CONF_TLS1_2;
        else if (strcmp(a[i], "TLSv1.3") == 0)
            t->protocols |= CONF_TLS1_3;
        else if (strcmp(a[i], "SSLv2") == 0 || strcmp(a[i], "SSLv3") == 0 || strcmp(a[i], "TLSv1") == 0 ||
                 strcmp(a[i], "TLSv1.1") == 0)
            return perr(ps, ps->line, "\"%s\" is not supported: TLS 1.2 and 1.3 only", a[i]);
        else
            return perr(ps, ps->line, "invalid value \"%s\" in \"ssl_protocols\"", a[i]);
    }
    return 0;
}

static int set_ssl_ciphers(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->ciphers, "ssl_ciphers");
    t->ciphers = a[0];
    t->ciphers_line = ps->line;
    return 0;
}

static int set_on_off(parser_t *ps, const char *name, const char *arg, int *out)
{
    DUPLICATE_CHECK(*out != CONF_UNSET, name);
    if (strcmp(arg, "on") != 0 && strcmp(arg, "off") != 0)
        return perr(ps, ps->line, "invalid value \"%s\" in \"%s\", it must be \"on\" or \"off\"", arg, name);
    *out = strcmp(arg, "on") == 0;
    return 0;
}

static int set_ssl_prefer(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_on_off(ps, "ssl_prefer_server_ciphers", a[0], &ssl_of(ps)->prefer_server_ciphers);
}

static int set_ssl_tickets(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    return set_on_off(ps, "ssl_session_tickets", a[0], &ssl_of(ps)->session_tickets);
}

/* `on` | `off`, and nginx's forms: `none`, `builtin[:SIZE]`, `shared:NAME:SIZE`. */
static int set_ssl_session_cache(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->session_cache != CONF_UNSET, "ssl_session_cache");
    t->session_cache = 0;
    for (int i = 0; i < n; i++) {
        if (strcmp(a[i], "on") == 0 || strncmp(a[i], "builtin", 7) == 0 || strncmp(a[i], "shared:", 7) == 0)
            t->session_cache = 1;
        else if (strcmp(a[i], "off") != 0 && strcmp(a[i], "none") != 0)
            return perr(ps, ps->line, "invalid value \"%s\" in \"ssl_session_cache\"", a[i]);
    }
    return 0;
}

static int set_ssl_session_timeout(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->session_timeout != CONF_UNSET, "ssl_session_timeout");
    t->session_timeout = conf_parse_time(a[0]);
    if (t->session_timeout < 1000)
        return perr(ps, ps->line, "invalid time \"%s\" in \"ssl_session_timeout\"", a[0]);
    return 0;
}

static int set_ssl_client_certificate(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->client_certificate.path, "ssl_client_certificate");
    t->client_certificate.path = resolve_path(ps, a[0]);
    t->client_certificate.line = ps->line;
    return readable_file(ps, "ssl_client_certificate", t->client_certificate.path);
}

static int set_ssl_verify_client(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    static const char *const names[] = {"off", "on", "optional", "optional_no_ca"};
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->verify_client != CONF_UNSET, "ssl_verify_client");
    for (int i = 0; i < 4; i++)
        if (strcmp(a[0], names[i]) == 0) {
            t->verify_client = i;
            t->verify_client_line = ps->line;
            return 0;
        }
    return perr(ps, ps->line, "invalid value \"%s\" in \"ssl_verify_client\"", a[0]);
}

static int set_ssl_verify_depth(parser_t *ps, conf_scope_t *s, char **a, int n)
{
    conf_ssl_t *t = ssl_of(ps);
    DUPLICATE_CHECK(t->verify_depth != CONF_UNSET, "ssl_verify_depth");
    return set_count(ps, a[0], "ssl_verify_depth", 0, 100, &t->verify_depth);
}

static void ssl_init(conf_ssl_t *t)
{
    memset(t, 0, sizeof(*t));
    t->prefer_server_ciphers = t->session_cache = t->session_tickets = CONF_UNSET;
    t->session_timeout = CONF_UNSET;
    t->verify_client = t->verify_depth = CONF_UNSET;
}

/* A server's unset TLS settings come from main's, then the defaults. */
static void merge_ssl(conf_ssl_t *c, const conf_ssl_t *p)
{
    if (!c->ncerts && !c->nkeys) {  /* certificates are inherited as a pair list */
        c->certs = p->certs;
        c->ncerts = p->ncerts;
        c->keys = p->keys;
        c->nkeys = p->nkeys;
    }
    if (!c->protocols)
        c->protocols = p->protocols ? p->protocols : CONF_TLS1_2 | CONF_TLS1_3;
    if (!c->ciphers) {
        c->ciphers = p->ciphers ? p->ciphers : CONF_DEFAULT_CIPHERS;
        c->ciphers_line = p->ciphers_line;
    }
    if (c->verify_client == CONF_UNSET)
        c->verify_client_line = p->verify_client_line;
#define INHERIT_OR(field, dflt) \
    if (c->field == CONF_UNSET)  \
        c->field = p->field != CONF_UNSET ? p->field : (dflt);
    INHERIT_OR(prefer_server_ciphers, 1)
    INHERIT_OR(session_cache, 1)
    INHERIT_OR(session_tickets, 1)
    INHERIT_OR(session_timeout, 3600 * 1000)
    INHERIT_OR(verify_client, CONF_VERIFY_OFF)
    INHERIT_OR(verify_depth, 1)
#undef INHERIT_OR
    if (!c->client_certificate.path)
        c->client_certificate = p->client_certificate;
}

static const directive_t DIRECTIVES[] = {
    {"error_log", CTX_MAIN, 1, 1, 0, set_error_log},
    {"worker_processes", CTX_MAIN, 1, 1, 0, set_workers},
    {"cgi_max_processes", CTX_MAIN, 1, 1, 0, set_cgi_max},
    {"server", CTX_MAIN, 0, 0, 1, set_server},
    {"listen", CTX_SERVER, 1, 3, 0, set_listen},
    {"add_header", CTX_ANY, 2, 3, 0, set_add_header},
    {"expires", CTX_ANY, 1, 1, 0, set_expires},
    {"allow", CTX_ANY, 1, 1, 0, set_allow},
    {"deny", CTX_ANY, 1, 1, 0, set_deny},
    {"http2_max_concurrent_streams", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_http2_streams},
    {"server_name", CTX_SERVER, 1, -1, 0, set_server_name},
    {"location", CTX_SERVER, 1, 2, 1, set_location},
    {"root", CTX_ANY, 1, 1, 0, set_root},
    {"alias", CTX_LOCATION, 1, 1, 0, set_alias},
    {"types", CTX_ANY, 0, 0, 1, set_types},
    {"default_type", CTX_ANY, 1, 1, 0, set_default_type},
    {"charset", CTX_ANY, 1, 1, 0, set_charset},
    {"fastcgi_param", CTX_ANY, 2, 3, 0, set_fastcgi_param},
    {"auth_basic", CTX_ANY, 1, 1, 0, set_auth_basic},
    {"auth_basic_user_file", CTX_ANY, 1, 1, 0, set_auth_user_file},
    {"try_files", CTX_SERVER | CTX_LOCATION, 2, -1, 0, set_try_files},
    {"rewrite", CTX_SERVER | CTX_LOCATION, 2, 3, 0, set_rewrite},
    {"index", CTX_ANY, 1, -1, 0, set_index},
    {"autoindex", CTX_ANY, 1, 1, 0, set_autoindex},
    {"client_max_body_size", CTX_ANY, 1, 1, 0, set_body_size},
    {"error_page", CTX_ANY, 2, -1, 0, set_error_page},
    {"access_log", CTX_ANY, 1, 1, 0, set_access_log},
    {"keepalive_timeout", CTX_ANY, 1, 1, 0, set_keepalive},
    {"client_header_timeout", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_header_timeout},
    {"client_body_timeout", CTX_ANY, 1, 1, 0, set_body_timeout},
    {"send_timeout", CTX_ANY, 1, 1, 0, set_send_timeout},
    {"allow_methods", CTX_ANY, 1, -1, 0, set_methods},
    {"return", CTX_ANY, 1, 2, 0, set_return},
    {"upload_store", CTX_ANY, 1, 1, 0, set_upload_store},
    {"cgi", CTX_ANY, 2, 2, 0, set_cgi},
    {"cgi_timeout", CTX_ANY, 1, 1, 0, set_cgi_timeout},
    {"ssl_certificate", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_certificate},
    {"ssl_certificate_key", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_certificate_key},
    {"ssl_protocols", CTX_MAIN | CTX_SERVER, 1, -1, 0, set_ssl_protocols},
    {"ssl_ciphers", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_ciphers},
    {"ssl_prefer_server_ciphers", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_prefer},
    {"ssl_session_cache", CTX_MAIN | CTX_SERVER, 1, 2, 0, set_ssl_session_cache},
    {"ssl_session_tickets", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_tickets},
    {"ssl_session_timeout", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_session_timeout},
    {"ssl_client_certificate", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_client_certificate},
    {"ssl_verify_client", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_verify_client},
    {"ssl_verify_depth", CTX_MAIN | CTX_SERVER, 1, 1, 0, set_ssl_verify_depth},
};

static const directive_t *find_directive(const char *name)
{
    for (size_t i = 0; i < sizeof(DIRECTIVES) / sizeof(DIRECTIVES[0]); i++)
        if (strcmp(DIRECTIVES[i].name, name) == 0)
            return &DIRECTIVES[i];
    return NULL;
}

#define MAX_ARGS 64

static int run_directive(parser_t *ps, int ctx, char **words, int nwords, int line, int block)
{
    ps->line = line;
    const directive_t *d = find_directive(words[0]);
    if (!d)
        return perr(ps, line, "unknown directive \"%s\"", words[0]);
    if (!(d->contexts & ctx))
        return perr(ps, line, "\"%s\" directive is not allowed here", words[0]);
    int nargs = nwords - 1;
    if (nargs < d->min_args || (d->max_args >= 0 && nargs > d->max_args))
        return perr(ps, line, "invalid number of arguments in \"%s\" directive", words[0]);
    if (d->block && !block)
        return perr(ps, line, "directive \"%s\" has no opening \"{\"", words[0]);
    if (!d->block && block)
        return perr(ps, line, "directive \"%s\" is not terminated by \";\"", words[0]);
    conf_scope_t *s = ps->loc ? &ps->loc->s : ps->srv ? &ps->srv->s : &ps->conf->s;
    return d->set(ps, s, words + 1, nargs);
}

/* A line of a types { } block: TYPE EXT...; a later line's extension
 * replaces an earlier one's (as nginx, which warns). */
static int add_type(parser_t *ps, char **words, int nwords)
{
    conf_scope_t *s = ps->loc ? &ps->loc->s : ps->srv ? &ps->srv->s : &ps->conf->s;
    if (nwords < 2)
        return perr(ps, ps->line, "invalid number of arguments in \"types\" block (a type and its extensions)");
    if (!header_safe(words[0]))
        return perr(ps, ps->line, "invalid type \"%s\"", words[0]);
    for (int i = 1; i < nwords; i++) {
        for (char *c = words[i]; *c; c++)
            *c = (char)tolower((unsigned char)*c);
        mime_entry_t *e = NULL;
        for (size_t k = 0; k < s->ntypes && !e; k++)
            if (strcmp(s->types[k].ext, words[i]) == 0)
                e = &s->types[k];
        if (!e)
            e = arena_push(ps->arena, (void **)&s->types, &s->ntypes, sizeof(*e));
        e->ext = words[i];
        e->type = words[0];
    }
    return 0;
}

#define MAX_INCLUDE_DEPTH 16

static int include_file(parser_t *ps, int ctx, const char *path)
{
    FILE *f = fopen(path, "re");
    if (!f)
        return perr(ps, ps->line, "open() \"%s\" failed (%s)", path, strerror(errno));
    buf_t b;
    buf_init(&b, 16 * 1024 * 1024);
    char tmp[8192];
    size_t n;
    int rc = 0;
    while (rc == 0 && (n = fread(tmp, 1, sizeof(tmp), f)) > 0)
        rc = buf_append(&b, tmp, n);
    fclose(f);
    if (rc != 0) {
        buf_free(&b);
        return perr(ps, ps->line, "\"%s\" is too large", path);
    }
    lexer_t saved = ps->lx;
    const char *saved_file = ps->file;
    ps->lx = (lexer_t){.p = buf_head(&b) ? buf_head(&b) : "", .line = 1, .last_line = 1, .arena = ps->arena};
    ps->lx.end = ps->lx.p + buf_len(&b);
    ps->file = arena_strndup(ps->arena, path, strlen(path));
    ps->depth++;
    rc = parse_block(ps, ctx, true);
    ps->depth--;
    ps->file = saved_file;
    ps->lx = saved;
    buf_free(&b);
    return rc;
}

/* include FILE | GLOB: the files' directives stand where the include does. */
static int include(parser_t *ps, int ctx, char **words, int nwords)
{
    if (nwords != 2)
        return perr(ps, ps->line, "invalid number of arguments in \"include\" directive");
    if (ps->depth >= MAX_INCLUDE_DEPTH)
        return perr(ps, ps->line, "includes nested over %d deep (does a file include itself?)", MAX_INCLUDE_DEPTH);
    if (!conf_check_files)  /* the fuzzer reads no file */
        return 0;
    const char *path = resolve_path(ps, words[1]);
    if (!strpbrk(words[1], "*?["))
        return include_file(ps, ctx, path);
    glob_t g;
    int rc = glob(path, 0, NULL, &g);
    if (rc == GLOB_NOMATCH)
        return 0;
    if (rc != 0)
        return perr(ps, ps->line, "glob() \"%s\" failed", path);
    for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)  /* in glob's sorted order */
        rc = include_file(ps, ctx, g.gl_pathv[i]);
    globfree(&g);
    return rc;
}

/* A block's directives, up to its '}' (file_top: up to the end of the
 * file, the main one or an included one). */
static int parse_block(parser_t *ps, int ctx, bool file_top)
{
    char *words[MAX_ARGS];
    int nwords = 0;
    for (;;) {
        int t = lex(&ps->lx);
        switch (t) {
        case T_ERROR:
            return perr(ps, ps->lx.line, "unterminated quoted string");
        case T_WORD:
            if (nwords == MAX_ARGS)
                return perr(ps, ps->lx.line, "too many arguments");
            words[nwords++] = ps->lx.word;
            break;
        case T_SEMI:
        case T_OPEN:
            if (nwords == 0)
                return perr(ps, ps->lx.line, "unexpected \"%c\"", t == T_SEMI ? ';' : '{');
            /* like nginx, a directive's errors name the line of its terminator:
             * where a missing ';' is noticed */
            ps->line = ps->lx.line;
            int rc;
            if (t == T_SEMI && strcmp(words[0], "include") == 0)
                rc = include(ps, ctx, words, nwords);
            else if (ctx == CTX_TYPES)
                rc = t == T_OPEN ? perr(ps, ps->line, "unexpected \"{\" in \"types\"") : add_type(ps, words, nwords);
            else
                rc = run_directive(ps, ctx, words, nwords, ps->lx.line, t == T_OPEN);
            if (rc != 0)
                return -1;
            nwords = 0;
            break;
        case T_CLOSE:
            if (nwords)
                return perr(ps, ps->lx.line, "unexpected \"}\", expecting \";\"");
            if (file_top)
                return perr(ps, ps->lx.line, "unexpected \"}\"");
            return 0;
        case T_EOF:
            if (nwords)
                return perr(ps, ps->lx.last_line, "unexpected end of file, expecting \";\" or \"}\"");
            if (!file_top)
                return perr(ps, ps->lx.last_line, "unexpected end of file, expecting \"}\"");
            return 0;
        }
    }
}

/* ---- inheritance ---- */

/* `location`: whether c is a location's scope (p its server's). A
 * server's return runs before its locations are searched: a location
 * does not inherit it. */
/* The map of a level's types, default_type and charset (merged);
 * NULL when none is set anywhere: the built-in behaviour. */
static const mime_map_t *make_mime(parser_t *ps, conf_scope_t *s)
{
    static unsigned ids;
    if (!s->types_set && !s->default_type && !s->charset)
        return NULL;
    mime_map_t *m = arena_alloc(ps->arena, sizeof(*m));
    m->builtin = !s->types_set;
    if (s->ntypes)
        mime_sort(s->types, s->ntypes);
    m->types = s->types;
    m->ntypes = s->ntypes;
    m->default_type = s->default_type ? s->default_type : "application/octet-stream";
    m->charset = !s->charset ? (s->types_set ? NULL : MIME_CHARSET_BUILTIN) : s->charset[0] ? s->charset : NULL;
    m->id = ++ids;
    return m;
}

static void merge_scope(parser_t *ps, conf_scope_t *c, const conf_scope_t *p, bool location)
{
    bool own_mime = c->types_set || c->default_type || c->charset;
#define INHERIT(field, unset) \
    if (c->field == (unset))  \
        c->field = p->field;
    INHERIT(root, NULL);
    INHERIT(autoindex, CONF_UNSET);
    INHERIT(client_max_body_size, CONF_UNSET);
    INHERIT(keepalive_timeout, CONF_UNSET);
    INHERIT(client_header_timeout, CONF_UNSET);
    INHERIT(client_body_timeout, CONF_UNSET);
    INHERIT(send_timeout, CONF_UNSET);
    INHERIT(cgi_timeout, CONF_UNSET);
    INHERIT(methods, 0u);
    INHERIT(upload_store, NULL);
    INHERIT(default_type, NULL);
    INHERIT(charset, NULL);
#undef INHERIT
#define INHERIT_PTR(field) \
    if (!c->field)          \
        c->field = p->field;
    if (c->return_code == CONF_UNSET && !location) {
        c->return_code = p->return_code;
        c->return_text = p->return_text;
        c->return_expr = p->return_expr;
    }
    if (!c->nindex) {
        c->index = p->index;
        c->nindex = p->nindex;
    }
/* a list: a level that has any of its own replaces its parent's */
#define INHERIT_LIST(list, count, set) \
    if (!c->set) {                     \
        c->list = p->list;             \
        c->count = p->count;           \
        c->set = p->set;               \
    }
    INHERIT_LIST(error_pages, nerror_pages, error_pages_set);
    INHERIT_LIST(add_headers, nadd_headers, add_headers_set);
    INHERIT_LIST(access, naccess, access_set);
    INHERIT_LIST(types, ntypes, types_set);
    INHERIT_LIST(fastcgi_params, nfastcgi_params, fastcgi_params_set);
#undef INHERIT_LIST
    c->mime = own_mime ? make_mime(ps, c) : p->mime;
    if (!c->access_log_set) {
        c->access_log = p->access_log;
        c->access_log_set = p->access_log_set;
    }
    if (!c->ncgis) {
        c->cgis = p->cgis;
        c->ncgis = p->ncgis;
    }
    if (c->auth_basic == CONF_UNSET) {
        c->auth_basic = p->auth_basic;
        c->auth_realm = p->auth_realm;
        c->auth_line = p->auth_line;
    }
    INHERIT_PTR(auth_user_file);
#undef INHERIT_PTR
    if (c->expires_mode == CONF_EXPIRES_UNSET) {
        c->expires_mode = p->expires_mode;
        c->expires = p->expires;
    }
}

static void set_defaults(parser_t *ps, conf_scope_t *s)
{
    static char *default_index[] = {"index.html"};
    conf_scope_t d;
    scope_init(&d);
    d.root = resolve_path(ps, "html");
    d.index = default_index;
    d.nindex = 1;
    d.autoindex = 0;
    d.client_max_body_size = 1024 * 1024;
    d.keepalive_timeout = 65000;
    d.client_header_timeout = 60000;
    d.client_body_timeout = 60000;
    d.send_timeout = 60000;
    d.cgi_timeout = 30000;
    d.methods = HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_DELETE;
    merge_scope(ps, s, &d, false);
}

/* auth_basic on needs its user file (nginx would let every request in). */
static int check_auth(parser_t *ps, const conf_scope_t *s)
{
    if (s->auth_basic == 1 && !s->auth_user_file)
        return perr(ps, s->auth_line, "\"auth_basic\" without \"auth_basic_user_file\"");
    return 0;
}

static int merge_tree(parser_t *ps)
{
    conf_t *c = ps->conf;
    set_defaults(ps, &c->s);
    if (!c->worker_processes)
        c->worker_processes = 1;
    if (!c->cgi_max_processes)
        c->cgi_max_processes = CONF_CGI_MAX_PROCESSES;
    for (size_t i = 0; i < c->nservers; i++) {
        conf_server_t *srv = &c->servers[i];
        merge_scope(ps, &srv->s, &c->s, false);
        merge_ssl(&srv->ssl, &c->ssl);
        if (!srv->http2_max_streams)
            srv->http2_max_streams = c->http2_max_streams ? c->http2_max_streams : CONF_HTTP2_MAX_STREAMS;
        if (check_auth(ps, &srv->s) != 0)
            return -1;
        for (size_t j = 0; j < srv->nlocations; j++) {
            merge_scope(ps, &srv->locations[j].s, &srv->s, true);
            if (check_auth(ps, &srv->locations[j].s) != 0)
                return -1;
        }
        if (!srv->nlistens) {  /* nginx's default: *:80 */
            ps->line = srv->line;
            conf_listen_t *l = arena_push(ps->arena, (void **)&srv->listens, &srv->nlistens, sizeof(*l));
            parse_listen_addr(ps, "80", l);
        }
    }
    return 0;
}

conf_t *conf_parse(const char *text, size_t len, const char *path, const char *dir, char *err, size_t errlen)
{
    struct conf_arena *arena = xcalloc(1, sizeof(*arena));
    conf_t *c = arena_alloc(arena, sizeof(*c));
    c->arena = arena;
    c->path = arena_strndup(arena, path, strlen(path));
    c->dir = arena_strndup(arena, dir, strlen(dir));
    scope_init(&c->s);
    ssl_init(&c->ssl);
    parser_t ps = {.conf = c, .arena = arena, .err = err, .errlen = errlen, .file = c->path};
    ps.lx = (lexer_t){.p = text, .end = text + len, .line = 1, .last_line = 1, .arena = arena};
    if (parse_block(&ps, CTX_MAIN, true) != 0) {
        conf_free(c);
        return NULL;
    }
    if (c->nservers == 0) {
        perr(&ps, ps.lx.last_line, "no \"server\" block");
        conf_free(c);
        return NULL;
    }
    if (merge_tree(&ps) != 0) {
        conf_free(c);
        return NULL;
    }
    return c;
}

conf_t *conf_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "re");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf_t b;
    buf_init(&b, 16 * 1024 * 1024);
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof(tmp), f)) > 0) {
        if (buf_append(&b, tmp, n) != 0) {
            snprintf(err, errlen, "%s: file too large", path);
            fclose(f);
            buf_free(&b);
            return NULL;
        }
    }
    fclose(f);
    char *abs = realpath(path, NULL);
    char *dir = xstrdup(abs ? abs : path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    conf_t *c = conf_parse(buf_head(&b) ? buf_head(&b) : "", buf_len(&b), path, dir, err, errlen);
    free(abs);
    free(dir);
    buf_free(&b);
    return c;
}

void conf_free(conf_t *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->npatterns; i++)
        pattern_free(&c->patterns[i]);
    struct conf_arena *a = c->arena;
    arena_block_t *b = a->head;
    while (b) {
        arena_block_t *next = b->next;
        free(b);
        b = next;
    }
    free(a);
}

/* ---- lookups ---- */

const conf_location_t *conf_find_location(const conf_server_t *srv, const char *path, size_t len, request_t *rq)
{
    const conf_location_t *best = NULL;
    bool regexes = false;
    for (size_t i = 0; i < srv->nlocations; i++) {
        const conf_location_t *l = &srv->locations[i];
        switch (l->kind) {
        case CONF_LOC_EXACT:
            if (l->prefix_len == len && memcmp(l->prefix, path, len) == 0)
                return l;
            break;
        case CONF_LOC_PREFIX:
        case CONF_LOC_PREFIX_FIRST:
            if (l->prefix_len <= len && memcmp(l->prefix, path, l->prefix_len) == 0 &&
                (!best || l->prefix_len > best->prefix_len))
                best = l;
            break;
        case CONF_LOC_REGEX:
            regexes = true;
            break;
        }
    }
    if (!regexes || (best && best->kind == CONF_LOC_PREFIX_FIRST))
        return best;
    for (size_t i = 0; i < srv->nlocations; i++) {
        const conf_location_t *l = &srv->locations[i];
        if (l->kind == CONF_LOC_REGEX && pattern_match(&l->re, rq, path, len))
            return l;
    }
    return best;
}

const conf_location_t *conf_find_named(const conf_server_t *srv, const char *name)
{
    for (size_t i = 0; i < srv->nlocations; i++)
        if (srv->locations[i].kind == CONF_LOC_NAMED && strcmp(srv->locations[i].prefix, name) == 0)
            return &srv->locations[i];
    return NULL;
}

static bool name_matches(const char *name, const char *host, size_t hostlen)
{
    size_t n = strlen(name);
    if (n > 2 && name[0] == '*' && name[1] == '.')  /* *.example.com */
        return hostlen > n - 1 && strncasecmp(host + hostlen - (n - 1), name + 1, n - 1) == 0;
    if (n > 2 && name[n - 1] == '*' && name[n - 2] == '.')  /* www.example.* */
        return hostlen > n - 1 && strncasecmp(host, name, n - 1) == 0;
    return n == hostlen && strncasecmp(name, host, n) == 0;
}

const conf_server_t *conf_find_server(conf_server_t *const *servers, size_t n, const char *host, size_t hostlen)
{
    if (hostlen && host[hostlen - 1] == '.')  /* "example.com." is example.com */
        hostlen--;
    /* exact names first, then wildcards, as nginx does */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < servers[i]->nnames; j++) {
                const char *name = servers[i]->names[j];
                bool wild = strchr(name, '*') != NULL;
                if (wild == (pass == 1) && name_matches(name, host, hostlen))
                    return servers[i];
            }
    return n ? servers[0] : NULL;
}
