/* Byte buffers and string slices. */
#ifndef WEBSERV_BUF_H
#define WEBSERV_BUF_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A view into bytes owned by someone else (h2o's iovec idea). */
typedef struct {
    const char *ptr;
    size_t len;
} str_t;

#define STR_LIT(s) ((str_t){(s), sizeof(s) - 1})
#define STR_NULL ((str_t){NULL, 0})

bool str_eq(str_t a, const char *lit);
bool str_ieq(str_t a, const char *lit);       /* ASCII case-insensitive */
bool str_ieq_str(str_t a, str_t b);
str_t str_trim(str_t s);                      /* strip SP/HT both ends */

/* Growable byte buffer with a hard capacity limit. Data lives in
 * [start, end) of data[0..cap). */
typedef struct {
    char *data;
    size_t start, end, cap, limit;
    bool failed;  /* an append did not fit: what was built is incomplete (until cleared) */
} buf_t;

void buf_init(buf_t *b, size_t limit);
void buf_free(buf_t *b);
static inline size_t buf_len(const buf_t *b) { return b->end - b->start; }
static inline char *buf_head(const buf_t *b) { return b->data ? b->data + b->start : NULL; /* NULL + 0 is undefined */ }
/* Make room for at least `want` bytes after end (compacting, then growing
 * up to the limit). Returns free bytes after end, 0 when at the limit or
 * out of memory. */
size_t buf_reserve(buf_t *b, size_t want);
void buf_consume(buf_t *b, size_t n);
#ifdef BUF_MOVE_ON_RESERVE
/* Move the bytes to a new block and free the old one (sanitizer builds:
 * see buf.c). */
void buf_relocate(buf_t *b);
#endif
/* Append, growing as needed; -1 when the limit would be passed (or memory
 * is short), which also sets `failed`. */
int buf_append(buf_t *b, const void *p, size_t n);
int buf_appendf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int buf_vappendf(buf_t *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
static inline int buf_appends(buf_t *b, const char *s) { return buf_append(b, s, __builtin_strlen(s)); }

/* A pool of fixed blocks for the buffers of busy connections and
 * requests: taking one costs no malloc, and an idle connection holds none.
 * buf_take gives b a block when it has none (memory short: it stays
 * empty, and buf_reserve fails softly); buf_give returns it (a buffer that
 * grew past the block size is freed). */
#define BUF_POOL_BLOCK (16 * 1024)
#define BUF_POOL_MAX 1024  /* free blocks kept */
extern char *buf_pool[BUF_POOL_MAX];
extern size_t buf_pool_len;
void buf_take_block(buf_t *b);  /* the pool is empty: malloc */
static inline void buf_take(buf_t *b)
{
    if (b->data)
        return;
    if (!buf_pool_len) {
        buf_take_block(b);
        return;
    }
    b->data = buf_pool[--buf_pool_len];
    b->cap = BUF_POOL_BLOCK;
    b->start = b->end = 0;
    b->failed = false;
}
static inline void buf_give(buf_t *b)
{
    if (!b->data)
        return;
    if (b->cap == BUF_POOL_BLOCK && buf_pool_len < BUF_POOL_MAX) {
        buf_pool[buf_pool_len++] = b->data;
        b->data = NULL;
        b->cap = b->start = b->end = 0;
        b->failed = false;
    } else {
        buf_free(b);
    }
}

/* Out of memory policy: allocation failures of the process's own fixed
 * structures abort (xmalloc); per-connection buffers fail softly and the
 * connection is closed with an error. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

#endif
