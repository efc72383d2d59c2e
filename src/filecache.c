/* Open-file cache.
 *
 * A hot static file should cost no open/fstat/close and no formatting of
 * its ETag, Last-Modified and Content-Type: one hash lookup finds them,
 * and files up to FC_MEM_FILE bytes are held in memory so that the head
 * and the body leave in one writev. Correctness comes from inotify: each
 * cached file's folder is watched, and an event naming a file evicts it
 * before any request of the same batch is served (the inotify descriptor
 * is dispatched first). A stat() every FILECACHE_VALID_MS catches what
 * inotify cannot see (network file systems). */
#include "filecache.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "buf.h"
#include "clock.h"
#include "log.h"
#include "loop.h"
#include "mime.h"

#define FC_BUCKETS 4096
#define FC_MAX_ENTRIES 4096
#define FC_MEM_FILE (32 * 1024)            /* files up to this size are held in memory */
#define FC_MEM_TOTAL (32 * 1024 * 1024)    /* bytes of content held, at most */
#define FC_WATCH_MASK                                                                                   \
    (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE | \
     IN_DELETE_SELF | IN_MOVE_SELF)

static fc_entry_t *buckets[FC_BUCKETS];
static fc_entry_t *lru_head, *lru_tail;  /* head: most recently used */
static size_t nentries, nfds, mem_total, max_fds;
static loop_io_t notify_io = {.fd = -1};
static char **watch_dirs;  /* by watch descriptor */
static size_t nwatch_dirs;

static uint64_t hash_path(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ULL;  /* FNV-1a */
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
    return h;
}

/* ---- table ---- */

static void lru_unlink(fc_entry_t *e)
{
    if (e->lru_prev)
        e->lru_prev->lru_next = e->lru_next;
    else
        lru_head = e->lru_next;
    if (e->lru_next)
        e->lru_next->lru_prev = e->lru_prev;
    else
        lru_tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(fc_entry_t *e)
{
    e->lru_next = lru_head;
    if (lru_head)
        lru_head->lru_prev = e;
    lru_head = e;
    if (!lru_tail)
        lru_tail = e;
}

static void entry_free(fc_entry_t *e)
{
    if (e->fd >= 0)
        close(e->fd);
    free(e->data);
    free(e->fields);
    free(e->path);
    free(e);
}

void filecache_release(fc_entry_t *e)
{
    if (e && --e->refs == 0)
        entry_free(e);
}

static void evict(fc_entry_t *e)
{
    if (!e->cached)
        return;
    fc_entry_t **pp = &buckets[e->hash % FC_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    e->cached = false;
    nentries--;
    if (e->fd >= 0)
        nfds--;
    if (e->data)
        mem_total -= (size_t)e->st.st_size;
    filecache_release(e);  /* the table's reference; responses may hold more */
}

static fc_entry_t *lookup(const char *path, size_t len, uint64_t h)
{
    for (fc_entry_t *e = buckets[h % FC_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && e->pathlen == len && memcmp(e->path, path, len) == 0)
            return e;
    return NULL;
}

static void evict_dir(const char *dir, size_t dlen)
{
    fc_entry_t *e = lru_head;
    while (e) {
        fc_entry_t *next = e->lru_next;
        if (e->pathlen > dlen && memcmp(e->path, dir, dlen) == 0 && e->path[dlen] == '/')
            evict(e);
        e = next;
    }
}

static void evict_all(void)
{
    while (lru_head)
        evict(lru_head);
}

/* ---- inotify ---- */

static void on_notify(loop_io_t *io, uint32_t events)
{
    char buf[16384] __attribute__((aligned(__alignof__(struct inotify_event))));
    for (;;) {
        ssize_t n = read(io->fd, buf, sizeof(buf));
        if (n <= 0)
            return;
        for (char *p = buf; p < buf + n;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof(*ev) + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                evict_all();
                continue;
            }
            if (ev->wd < 0 || (size_t)ev->wd >= nwatch_dirs || !watch_dirs[ev->wd])
                continue;
            const char *dir = watch_dirs[ev->wd];
            size_t dlen = strlen(dir);
            if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED | IN_UNMOUNT)) {
                evict_dir(dir, dlen);
                if (ev->mask & IN_IGNORED) {
                    free(watch_dirs[ev->wd]);
                    watch_dirs[ev->wd] = NULL;
                }
                continue;
            }
            if (ev->len == 0)
                continue;
            char path[8192];
            int plen = snprintf(path, sizeof(path), "%s/%s", dir, ev->name);
            if (plen <= 0 || (size_t)plen >= sizeof(path))
                continue;
            fc_entry_t *e = lookup(path, (size_t)plen, hash_path(path, (size_t)plen));
            if (e)
                evict(e);
            if (ev->mask & (IN_MOVED_FROM | IN_DELETE))
                evict_dir(path, (size_t)plen);  /* a folder moved away: what was under it */
        }
    }
}

/* Watch the folder of path. Returns 0, or -1 when it cannot be watched. */
static int watch_folder(const char *path, size_t len)
{
    if (notify_io.fd < 0)
        return -1;
    const char *slash = memrchr(path, '/', len);
    if (!slash || slash == path)
        return -1;
    size_t dlen = (size_t)(slash - path);
    char dir[8192];
    if (dlen >= sizeof(dir))
        return -1;
    memcpy(dir, path, dlen);
    dir[dlen] = '\0';
    int wd = inotify_add_watch(notify_io.fd, dir, FC_WATCH_MASK | IN_ONLYDIR);
    if (wd < 0)
        return -1;
    if ((size_t)wd >= nwatch_dirs) {
        size_t n = nwatch_dirs ? nwatch_dirs : 64;
        while (n <= (size_t)wd)
            n *= 2;
        char **grown = realloc(watch_dirs, n * sizeof(*grown));
        if (!grown)
            return -1;
        memset(grown + nwatch_dirs, 0, (n - nwatch_dirs) * sizeof(*grown));
        watch_dirs = grown;
        nwatch_dirs = n;
    }
    if (!watch_dirs[wd])
        watch_dirs[wd] = xstrdup(dir);
    return 0;
}

void filecache_init(size_t fds)
{
    max_fds = fds;
    notify_io.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    notify_io.fn = on_notify;
    notify_io.urgent = true;  /* invalidate before serving the same batch's requests */
    if (notify_io.fd < 0 || loop_add(&notify_io, LOOP_IN) != 0) {
        log_msg(LOG_WARN, "inotify: %s; the open-file cache is off", strerror(errno));
        if (notify_io.fd >= 0)
            close(notify_io.fd);
        notify_io.fd = -1;
    }
}

/* ---- entries ---- */

static bool same_file(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
           a->st_mode == b->st_mode;
}

/* Read a small file whole. Returns 0, or -1 (then the fd is used instead). */
static int load_content(fc_entry_t *e, int fd)
{
    size_t size = (size_t)e->st.st_size;
    e->data = xmalloc(size ? size : 1);
    size_t got = 0;
    while (got < size) {
        ssize_t n = pread(fd, e->data + got, size - got, (off_t)got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    if (got == size)
        return 0;
    free(e->data);
    e->data = NULL;
    return -1;
}

static void format_fields(fc_entry_t *e, const mime_map_t *mime)
{
    char type[256];
    char lastmod[HTTP_DATE_LEN + 1];
    http_date_format(e->st.st_mtime, lastmod);
    snprintf(e->etag, sizeof(e->etag), "\"%llx-%llx\"", (unsigned long long)e->st.st_mtime,
             (unsigned long long)e->st.st_size);
    buf_t f;
    buf_init(&f, 1024);
    if (mime_content_type(mime, e->path, e->pathlen, type, sizeof(type)))
        buf_appendf(&f, "Content-Type: %s\r\n", type);
    e->mime_id = mime ? mime->id : 0;
    e->validators_off = buf_len(&f);
    buf_appendf(&f, "Last-Modified: %s\r\nETag: %s\r\n", lastmod, e->etag);
    e->validators_len = buf_len(&f) - e->validators_off;
    buf_appends(&f, "Accept-Ranges: bytes\r\n");
    e->fields = buf_head(&f);  /* the buffer's memory is the entry's now */
    e->fields_len = buf_len(&f);
}

static void make_room(bool needs_fd, size_t bytes)
{
    while (lru_tail && (nentries >= FC_MAX_ENTRIES || mem_total + bytes > FC_MEM_TOTAL || (needs_fd && nfds >= max_fds)))
        evict(lru_tail);
}

static fc_entry_t *open_entry(const char *path, size_t len, uint64_t h, const mime_map_t *mime)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return NULL;
    fc_entry_t *e = xcalloc(1, sizeof(*e));
    e->fd = -1;
    e->refs = 1;
    e->hash = h;
    e->path = xstrndup(path, len);
    e->pathlen = len;
    if (fstat(fd, &e->st) != 0) {
        int err = errno;
        close(fd);
        entry_free(e);
        errno = err;
        return NULL;
    }
    bool cacheable = S_ISDIR(e->st.st_mode) || S_ISREG(e->st.st_mode);
    if (S_ISREG(e->st.st_mode)) {
        format_fields(e, mime);
        if (e->st.st_size > FC_MEM_FILE || load_content(e, fd) != 0)
            e->fd = fd;
    } else if (!S_ISDIR(e->st.st_mode)) {
        e->fd = fd;
    }
    if (e->fd != fd)
        close(fd);
    e->validated = clock_ms();
    size_t bytes = e->data ? (size_t)e->st.st_size : 0;
    if (!cacheable || bytes > FC_MEM_TOTAL / 4 || watch_folder(path, len) != 0)
        return e;  /* served once, not kept */
    make_room(e->fd >= 0, bytes);
    if (e->fd >= 0 && nfds >= max_fds)
        return e;
    e->cached = true;
    e->refs++;
    e->hnext = buckets[h % FC_BUCKETS];
    buckets[h % FC_BUCKETS] = e;
    lru_push(e);
    nentries++;
    mem_total += bytes;
    if (e->fd >= 0)
        nfds++;
    return e;
}

static bool changed_here;

void filecache_changed(void) { changed_here = true; }

fc_entry_t *filecache_get(const char *path, size_t len, const mime_map_t *mime)
{
    if (changed_here) {
        changed_here = false;
        if (notify_io.fd >= 0)
            on_notify(&notify_io, 0);
    }
    uint64_t h = hash_path(path, len);
    fc_entry_t *e = lookup(path, len, h);
    if (e && clock_ms() - e->validated >= FILECACHE_VALID_MS) {
        struct stat st;
        if (stat(path, &st) == 0 && same_file(&st, &e->st)) {
            e->validated = clock_ms();
        } else {
            evict(e);
            e = NULL;
        }
    }
    if (!e)
        return open_entry(path, len, h, mime);
    if (e != lru_head) {
        lru_unlink(e);
        lru_push(e);
    }
    e->refs++;
    return e;
}
