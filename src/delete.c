/* DELETE of a file under the location's root or upload_store.
 * The URI path is already normalized (it cannot climb out of either). */
#include "delete.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "filecache.h"
#include "http.h"
#include "route.h"
#include "log.h"

/* The upload_store file for this URI, when the location has a store and
 * the file exists there; else the root file. */
static int target_path(request_t *rq, char *out, size_t len)
{
    const char *path = rq->path.data;
    const conf_scope_t *s = rq->scope;
    if (s->upload_store && rq->loc && rq->loc->kind != CONF_LOC_EXACT && rq->loc->kind != CONF_LOC_REGEX) {
        const char *rest = path + rq->loc->prefix_len;
        while (*rest == '/')
            rest++;
        struct stat st;
        if ((size_t)snprintf(out, len, "%s/%s", s->upload_store, rest) < len && lstat(out, &st) == 0)
            return 0;
    }
    if (route_map(rq, path, buf_len(&rq->path), NULL) != 0)
        return -1;
    return (size_t)snprintf(out, len, "%s", rq->fspath.data) < len ? 0 : -1;
}

void delete_serve(request_t *rq)
{
    char file[8192 + 4096];
    if (target_path(rq, file, sizeof(file)) != 0) {
        http_error(rq, 414);
        return;
    }
    struct stat st;
    if (lstat(file, &st) != 0) {
        http_error(rq, errno == ENOENT || errno == ENOTDIR ? 404 : 403);
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        http_error(rq, 403);
        return;
    }
    if (unlink(file) != 0) {
        int err = errno;
        log_msg(LOG_ERR, "unlink \"%s\": %s", file, strerror(err));
        http_error(rq, err == ENOENT ? 404 : err == EBUSY || err == ETXTBSY ? 409 : err == EACCES || err == EPERM ? 403 : 500);
        return;
    }
    filecache_changed();
    http_response_start(rq, 204);
    http_response_ready(rq, -1);
}
