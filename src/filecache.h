/* Open-file cache: path -> stat, descriptor and (for small files) content,
 * with the response header fields that depend only on the file. Entries
 * are invalidated by inotify as soon as the file or its folder changes,
 * and revalidated with stat() at least every FILECACHE_VALID_MS anyway
 * (for file systems inotify does not see). Bounded in entries, open
 * descriptors and bytes. */
#ifndef WEBSERV_FILECACHE_H
#define WEBSERV_FILECACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "mime.h"

#define FILECACHE_VALID_MS 5000

typedef struct fc_entry {
    struct fc_entry *hnext, *lru_prev, *lru_next;
    uint64_t hash;
    char *path;
    size_t pathlen;
    struct stat st;
    int fd;             /* -1 for folders and for files whose content is held */
    char *data;         /* the whole content, for small files */
    char *fields;       /* "Content-Type: ..\r\nLast-Modified: ..\r\nETag: ..\r\nAccept-Ranges: bytes\r\n" */
    unsigned mime_id;   /* the types map its Content-Type comes from (0: the built-in one) */
    size_t fields_len;
    size_t validators_off, validators_len;  /* the Last-Modified and ETag lines in fields (for 304) */
    char etag[48];
    uint64_t validated; /* clock_ms of the last check */
    unsigned refs;      /* responses using it (plus one while in the table) */
    int watch;          /* the folder's watch; -1 when not cached */
    bool cached;        /* in the table (else freed at the last release) */
} fc_entry_t;

/* Set up the cache (inotify in the loop). Limits scale with the descriptor limit. */
void filecache_init(size_t max_fds);
/* The entry for a path, with a reference the caller must release; NULL
 * with errno set when it cannot be opened. Regular files and folders are
 * cached; anything else comes back uncached. The path's extension picks
 * the Content-Type, by `mime` when the entry is made (a location with
 * other types makes its own line: see mime_id). */
fc_entry_t *filecache_get(const char *path, size_t len, const mime_map_t *mime);
void filecache_release(fc_entry_t *e);
/* This process changed files (PUT, DELETE, uploads): the next lookup
 * reads inotify's events first. They are queued by the change itself,
 * but the loop would see them only after the requests it is handling now,
 * such as a GET pipelined behind the DELETE. */
void filecache_changed(void);

#endif
