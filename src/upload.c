/* Request bodies to disk (upload_store).
 *
 * A file being written has no name at all (O_TMPFILE). Once its bytes are
 * complete it is linked under a hidden random name; when the whole body
 * has arrived every file is renamed to its final name, so a reader never
 * sees half a file and an aborted upload leaves nothing behind: the
 * request's cleanup unlinks what was not committed. Where the file system
 * has no O_TMPFILE the file is written under the hidden random name. */
#include "upload.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"
#include "filecache.h"
#include "http.h"
#include "log.h"
#include "multipart.h"
#include "path.h"
#include "util.h"

#define UPLOAD_MAX_FILES 64
#define UPLOAD_NAME_MAX 200

typedef struct {
    char tmp[48];                    /* hidden temporary name in the store; "" while it has none */
    char name[UPLOAD_NAME_MAX + 1];  /* final name; "" = generate one */
    bool committed;
} stored_t;

typedef struct {
    int dirfd;       /* the store */
    int fd;          /* file being written, -1 between parts */
    bool multipart;
    bool replaced;   /* a PUT that replaced an existing file */
    multipart_t *mp;
    stored_t files[UPLOAD_MAX_FILES];
    size_t nfiles;
} upload_t;

void upload_sanitize_name(const char *in, size_t len, char *out, size_t outlen)
{
    size_t start = 0;
    for (size_t i = 0; i < len; i++)
        if (in[i] == '/' || in[i] == '\\')
            start = i + 1;
    size_t n = 0;
    for (size_t i = start; i < len && n + 1 < outlen && n < UPLOAD_NAME_MAX; i++) {
        unsigned char ch = (unsigned char)in[i];
        bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch >= 0x80 ||
                  strchr(".-_ ()+,@", ch) != NULL;
        out[n++] = ok && ch ? (char)ch : '_';
    }
    if (n && out[0] == '.')  /* no hidden files, no "." or ".." */
        out[0] = '_';
    out[n] = '\0';
}

static void temp_name(char *out, size_t len)
{
    char r[33];
    util_random_hex(r, 16);
    snprintf(out, len, ".webserv-%s.tmp", r);
}

/* Open a new temporary file in the store for files[nfiles]. Returns 0 or a status. */
static int open_temp(upload_t *up, const char *name)
{
    if (up->nfiles == UPLOAD_MAX_FILES)
        return 413;
    stored_t *f = &up->files[up->nfiles];
    f->tmp[0] = '\0';
    up->fd = openat(up->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
    for (int tries = 0; up->fd < 0 && (errno == EOPNOTSUPP || errno == EISDIR || errno == EEXIST) && tries < 10;
         tries++) {  /* no O_TMPFILE here: a name nobody can guess */
        temp_name(f->tmp, sizeof(f->tmp));
        up->fd = openat(up->dirfd, f->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    }
    if (up->fd < 0) {
        log_msg(LOG_ERR, "cannot create an upload file: %s", strerror(errno));
        f->tmp[0] = '\0';
        return errno == EMFILE || errno == ENFILE ? 503 : util_write_status(errno);
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->committed = false;
    up->nfiles++;
    return 0;
}

/* Give a complete anonymous file its hidden name. Returns 0 or -1. */
static int link_temp(upload_t *up, stored_t *f)
{
    char proc[32];
    snprintf(proc, sizeof(proc), "/proc/self/fd/%d", up->fd);
    for (int tries = 0; tries < 10; tries++) {
        temp_name(f->tmp, sizeof(f->tmp));
        if (linkat(AT_FDCWD, proc, up->dirfd, f->tmp, AT_SYMLINK_FOLLOW) == 0 ||
            linkat(up->fd, "", up->dirfd, f->tmp, AT_EMPTY_PATH) == 0)  /* without /proc */
            return 0;
        if (errno != EEXIST)
            break;
    }
    log_msg(LOG_ERR, "cannot link an upload file: %s", strerror(errno));
    f->tmp[0] = '\0';
    return -1;
}

static int write_all(upload_t *up, const char *p, size_t len) { return util_write_all(up->fd, p, len, "upload write"); }

/* The current file's bytes are complete: name it (hidden) and close it. */
static int close_file(upload_t *up)
{
    if (up->fd < 0)
        return 0;
    stored_t *f = &up->files[up->nfiles - 1];
    int rc = !f->tmp[0] && link_temp(up, f) != 0 ? 500 : 0;
    if (close(up->fd) != 0 && !rc)
        rc = util_write_status(errno);  /* e.g. a quota noticed at close */
    up->fd = -1;
    return rc;
}

/* ---- multipart callbacks ---- */

static int part_begin(void *ctx, const char *name, const char *filename)
{
    upload_t *up = ctx;
    (void)name;
    if (!filename || !filename[0])  /* a plain form field, or no file chosen */
        return 0;
    char clean[UPLOAD_NAME_MAX + 1];
    upload_sanitize_name(filename, strlen(filename), clean, sizeof(clean));
    return open_temp(up, clean);
}

static int part_data(void *ctx, const char *data, size_t len)
{
    upload_t *up = ctx;
    return up->fd >= 0 ? write_all(up, data, len) : 0;
}

static int part_end(void *ctx) { return close_file(ctx); }

static const multipart_cb_t MULTIPART_CB = {part_begin, part_data, part_end};

/* ---- body handler ---- */

static ssize_t upload_data(request_t *rq, const char *p, size_t len, bool last)
{
    upload_t *up = rq->ctx;
    if (up->multipart) {
        ssize_t n = multipart_feed(up->mp, p, len, last, &MULTIPART_CB, up);
        return n < 0 ? -(ssize_t)up->mp->status : n;
    }
    int rc = write_all(up, p, len);
    return rc ? -rc : (ssize_t)len;
}

/* A POST body's name: unguessable, so that one upload cannot be found
 * from another's. */
static void generated_name(char *out, size_t len)
{
    char r[25];
    util_random_hex(r, 12);
    snprintf(out, len, "upload-%s", r);
}

/* Rename the temporary files to their names. Returns 0 or a status. */
static int commit(upload_t *up)
{
    for (size_t i = 0; i < up->nfiles; i++) {
        stored_t *f = &up->files[i];
        bool generate = f->name[0] == '\0';
        for (int tries = 0; tries < 100; tries++) {
            if (generate)
                generated_name(f->name, sizeof(f->name));
            /* a generated name never replaces a file; a chosen one does */
            int rc = renameat2(up->dirfd, f->tmp, up->dirfd, f->name, generate ? RENAME_NOREPLACE : 0);
            if (rc == 0) {
                f->committed = true;
                filecache_changed();
                break;
            }
            if (!generate || errno != EEXIST) {
                log_msg(LOG_ERR, "upload rename to \"%s\": %s", f->name, strerror(errno));
                return 500;
            }
        }
        if (!f->committed)
            return 500;
    }
    return 0;
}

/* "PREFIX/NAME" of a stored file, percent-encoded, into b. Returns 0 or -1. */
static int stored_uri(buf_t *b, const char *prefix, const char *name)
{
    size_t plen = strlen(prefix);
    int rc = buf_append(b, prefix, plen);
    if (!plen || prefix[plen - 1] != '/')
        rc |= buf_append(b, "/", 1);
    return rc | path_url_encode(b, name, strlen(name));
}

/* 201 with the first file's URI in Location and a list of all of them. */
static void respond_created(request_t *rq, upload_t *up)
{
    const char *prefix = rq->loc && (rq->loc->kind == CONF_LOC_PREFIX || rq->loc->kind == CONF_LOC_PREFIX_FIRST)
                             ? rq->loc->prefix
                             : "/";
    buf_t uri, body;
    buf_init(&uri, 2 * HTTP_MAX_URI);
    buf_init(&body, 256 * 1024);
    int rc = buf_appends(&body, "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>201 Created</title></head>\n"
                                "<body>\n<h1>Created</h1>\n<ul>\n");
    for (size_t i = 0; i < up->nfiles && rc == 0; i++) {
        uri.start = uri.end = 0;
        rc |= stored_uri(&uri, prefix, up->files[i].name);
        rc |= buf_appends(&body, "<li><a href=\"");
        rc |= path_html_escape(&body, buf_head(&uri), buf_len(&uri));
        rc |= buf_appends(&body, "\">");
        rc |= path_html_escape(&body, up->files[i].name, strlen(up->files[i].name));
        rc |= buf_appends(&body, "</a></li>\n");
    }
    rc |= buf_appends(&body, "</ul>\n</body>\n</html>\n");
    if (rc) {  /* the files are stored: say so, without the list */
        body.start = body.end = 0;
        buf_appends(&body, "<!DOCTYPE html>\n<html>\n<body>\n<h1>Created</h1>\n</body>\n</html>\n");
    }
    uri.start = uri.end = 0;
    if (stored_uri(&uri, prefix, up->files[0].name) != 0 ||
        http_add_header(rq, "Location: %.*s\r\n", (int)buf_len(&uri), buf_head(&uri)) != 0) {
        log_msg(LOG_ERR, "upload: the 201 response does not fit its buffers");
        buf_free(&uri);
        buf_free(&body);
        http_error(rq, 500);
        return;
    }
    http_response_start(rq, 201);
    buf_appends(&rq->fields, "Content-Type: text/html; charset=utf-8\r\n");
    http_response_ready(rq, (int64_t)buf_len(&body));
    if (!rq->head_only) {
        buf_take(&rq->resp.mem);
        buf_append(&rq->resp.mem, buf_head(&body), buf_len(&body));
    }
    buf_free(&uri);
    buf_free(&body);
}

static void upload_done(request_t *rq)
{
    upload_t *up = rq->ctx;
    int rc = close_file(up);
    if (!rc && up->nfiles == 0)
        rc = 400;  /* a form without a file */
    if (!rc && !up->multipart) {
        struct stat st;
        up->replaced = up->files[0].name[0] && fstatat(up->dirfd, up->files[0].name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    }
    if (!rc)
        rc = commit(up);
    if (rc) {
        request_fail(rq, rc);
        return;
    }
    if (up->replaced && rq->h.method == HTTP_PUT) {
        http_response_start(rq, 204);
        http_response_ready(rq, -1);
        return;
    }
    respond_created(rq, up);
}

static void upload_cleanup(request_t *rq, bool ok)
{
    upload_t *up = rq->ctx;
    if (!up)
        return;
    if (up->fd >= 0)
        close(up->fd);
    for (size_t i = 0; i < up->nfiles; i++)
        if (!up->files[i].committed && up->files[i].tmp[0])
            unlinkat(up->dirfd, up->files[i].tmp, 0);
    close(up->dirfd);
    free(up->mp);
    free(up);
}

static const body_handler_t UPLOAD_HANDLER = {upload_data, upload_done};

void upload_start(request_t *rq)
{
    const char *d = request_head(rq);
    str_t ctype = http_header(&rq->h, d, HTTP_H_CONTENT_TYPE);
    bool multipart = ctype.ptr && ctype.len >= 10 && strncasecmp(ctype.ptr, "multipart/", 10) == 0;
    char name[UPLOAD_NAME_MAX + 1] = "";
    if (!multipart && rq->h.method == HTTP_PUT) {
        const char *path = rq->path.data;
        size_t len = buf_len(&rq->path);
        if (path[len - 1] == '/') {  /* a PUT names a file, not a folder */
            http_error(rq, 409);
            return;
        }
        upload_sanitize_name(path, len, name, sizeof(name));
    }
    upload_t *up = xcalloc(1, sizeof(*up));
    up->fd = -1;
    up->multipart = multipart;
    up->dirfd = open(rq->scope->upload_store, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (up->dirfd < 0) {
        log_msg(LOG_ERR, "upload_store \"%s\": %s", rq->scope->upload_store, strerror(errno));
        free(up);
        http_error(rq, 500);
        return;
    }
    rq->ctx = up;
    rq->cleanup = upload_cleanup;
    if (multipart) {
        up->mp = xmalloc(sizeof(*up->mp));
        if (multipart_init(up->mp, ctype) != 0) {
            http_error(rq, 400);
            return;
        }
    } else {
        int rc = open_temp(up, name);
        if (rc) {
            http_error(rq, rc);
            return;
        }
    }
    rq->body = &UPLOAD_HANDLER;
}
