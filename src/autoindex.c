/* Directory listings: names HTML-escaped, links percent-encoded,
 * directories first, then by name. */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "log.h"
#include "path.h"
#include "static.h"

/* A listing is built whole in memory (it needs a Content-Length), so it
 * is bounded: past these, the rest of the folder is not listed. */
#define AUTOINDEX_MAX_ENTRIES 10000
#define AUTOINDEX_MAX_BYTES (1024 * 1024)
#define AUTOINDEX_SLACK 8192  /* room for one row past the cap, and the footer */

typedef struct {
    char *name;
    bool dir;
    off_t size;
    time_t mtime;
} entry_t;

static int entry_cmp(const void *a, const void *b)
{
    const entry_t *x = a, *y = b;
    if (x->dir != y->dir)
        return x->dir ? -1 : 1;
    return strcmp(x->name, y->name);
}

static void human_size(off_t n, char *out, size_t len)
{
    if (n < 1024)
        snprintf(out, len, "%lld", (long long)n);
    else if (n < 1024 * 1024)
        snprintf(out, len, "%.1fK", (double)n / 1024);
    else if (n < 1024LL * 1024 * 1024)
        snprintf(out, len, "%.1fM", (double)n / (1024 * 1024));
    else
        snprintf(out, len, "%.1fG", (double)n / (1024.0 * 1024 * 1024));
}

static size_t read_entries(const char *dirpath, entry_t **out, bool *truncated)
{
    DIR *d = opendir(dirpath);
    *out = NULL;
    *truncated = false;
    if (!d)
        return 0;
    size_t n = 0, cap = 0;
    entry_t *v = NULL;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')  /* hidden files, "." and ".." */
            continue;
        if (n == AUTOINDEX_MAX_ENTRIES) {
            *truncated = true;
            break;
        }
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, 0) != 0)
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            entry_t *nv = realloc(v, cap * sizeof(*v));
            if (!nv)
                break;
            v = nv;
        }
        v[n++] = (entry_t){xstrdup(de->d_name), S_ISDIR(st.st_mode), st.st_size, st.st_mtime};
    }
    closedir(d);
    if (n > 1)  /* qsort(NULL, 0) is undefined */
        qsort(v, n, sizeof(*v), entry_cmp);
    *out = v;
    return n;
}

static int render(buf_t *b, const char *uri, size_t urilen, entry_t *v, size_t n, bool truncated)
{
    int rc = 0;
    rc |= buf_appends(b, "<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><title>Index of ");
    rc |= path_html_escape(b, uri, urilen);
    rc |= buf_appends(b, "</title>\n<style>body{font-family:sans-serif;margin:2em}"
                         "td{padding:.1em 1em .1em 0}td.s{text-align:right}</style></head>\n<body>\n<h1>Index of ");
    rc |= path_html_escape(b, uri, urilen);
    rc |= buf_appends(b, "</h1>\n<hr>\n<table>\n");
    if (urilen > 1)
        rc |= buf_appends(b, "<tr><td><a href=\"../\">../</a></td><td></td><td></td></tr>\n");
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (buf_len(b) > AUTOINDEX_MAX_BYTES) {
            truncated = true;
            break;
        }
        char when[32], size[32];
        struct tm tm;
        gmtime_r(&v[i].mtime, &tm);
        strftime(when, sizeof(when), "%d-%b-%Y %H:%M", &tm);
        if (v[i].dir)
            strcpy(size, "-");
        else
            human_size(v[i].size, size, sizeof(size));
        size_t nl = strlen(v[i].name);
        rc |= buf_appends(b, "<tr><td><a href=\"");
        rc |= path_url_encode(b, v[i].name, nl);
        rc |= buf_appends(b, v[i].dir ? "/\">" : "\">");
        rc |= path_html_escape(b, v[i].name, nl);
        rc |= buf_appendf(b, "%s</a></td><td>%s</td><td class=\"s\">%s</td></tr>\n", v[i].dir ? "/" : "", when, size);
    }
    rc |= buf_appends(b, "</table>\n");
    if (truncated)
        rc |= buf_appends(b, "<p>The folder has more entries than are listed here.</p>\n");
    rc |= buf_appends(b, "<hr>\n</body>\n</html>\n");
    return rc;
}

void autoindex_serve(request_t *rq, const char *dirpath)
{
    entry_t *v;
    bool truncated;
    size_t n = read_entries(dirpath, &v, &truncated);
    buf_t body;
    buf_init(&body, AUTOINDEX_MAX_BYTES + AUTOINDEX_SLACK);
    int rc = render(&body, rq->path.data, buf_len(&rq->path), v, n, truncated);
    for (size_t i = 0; i < n; i++)
        free(v[i].name);
    free(v);
    if (rc != 0) {
        log_msg(LOG_ERR, "autoindex of \"%s\" is too large", dirpath);
        buf_free(&body);
        http_error(rq, 500);
        return;
    }
    http_response_start(rq, 200);
    buf_appends(&rq->fields, "Content-Type: text/html; charset=utf-8\r\n");
    http_response_ready(rq, (int64_t)buf_len(&body));
    buf_take(&rq->resp.mem);
    if (!rq->head_only && buf_append(&rq->resp.mem, buf_head(&body), buf_len(&body)) != 0) {
        buf_free(&body);
        http_error(rq, 500);
        return;
    }
    buf_free(&body);
}
