/* Byte buffers and string slices. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fputs("webserv: out of memory\n", stderr);
        abort();
    }
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p) {
        fputs("webserv: out of memory\n", stderr);
        abort();
    }
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *xstrdup(const char *s) { return xstrndup(s, strlen(s)); }

bool str_eq(str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

bool str_ieq(str_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && strncasecmp(a.ptr, lit, n) == 0;
}

bool str_ieq_str(str_t a, str_t b) { return a.len == b.len && strncasecmp(a.ptr, b.ptr, a.len) == 0; }

str_t str_trim(str_t s)
{
    while (s.len && (s.ptr[0] == ' ' || s.ptr[0] == '\t')) {
        s.ptr++;
        s.len--;
    }
    while (s.len && (s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
        s.len--;
    return s;
}

void buf_init(buf_t *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

char *buf_pool[BUF_POOL_MAX];
size_t buf_pool_len;

void buf_take_block(buf_t *b)
{
    b->data = malloc(BUF_POOL_BLOCK);
    b->cap = b->data ? BUF_POOL_BLOCK : 0;
    b->start = b->end = 0;
    b->failed = false;
}

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

#ifdef BUF_MOVE_ON_RESERVE
/* Sanitizer builds: a buffer that compacts or grows always moves to a new
 * block and frees the old one, so a pointer kept into it across a read is
 * a use-after-free that ASan reports, not a silent read of moved bytes. */
static size_t reserve_moving(buf_t *b, size_t want);

void buf_relocate(buf_t *b)
{
    if (b->data && b->cap)
        reserve_moving(b, 0);
}

static size_t reserve_moving(buf_t *b, size_t want)
{
    size_t len = b->end - b->start;
    size_t ncap = b->cap;
    if (len + want > ncap) {
        size_t need = len + want > b->limit ? b->limit : len + want;
        if (ncap == 0)
            ncap = 1024;
        while (ncap < need)
            ncap *= 2;
        if (ncap > b->limit)
            ncap = b->limit > b->cap ? b->limit : b->cap;
    }
    char *p = malloc(ncap ? ncap : 1);
    if (!p)
        return b->cap - b->end;
    if (len)
        memcpy(p, b->data + b->start, len);
    free(b->data);
    b->data = p;
    b->cap = ncap;
    b->start = 0;
    b->end = len;
    return b->cap - b->end;
}
#endif

size_t buf_reserve(buf_t *b, size_t want)
{
    if (b->cap - b->end >= want)
        return b->cap - b->end;
#ifdef BUF_MOVE_ON_RESERVE
    if (b->cap < b->limit || b->start > 0)
        return reserve_moving(b, want);
#endif
    if (b->start > 0) {  /* compact first: cheaper than growing */
        memmove(b->data, b->data + b->start, b->end - b->start);
        b->end -= b->start;
        b->start = 0;
        if (b->cap - b->end >= want)
            return b->cap - b->end;
    }
    size_t need = b->end + want;
    if (need > b->limit)
        need = b->limit;
    if (need <= b->cap)
        return b->cap - b->end;
    size_t ncap = b->cap ? b->cap : 1024;
    while (ncap < need)
        ncap *= 2;
    if (ncap > b->limit)
        ncap = b->limit;
    char *p = realloc(b->data, ncap);
    if (!p)
        return b->cap - b->end;
    b->data = p;
    b->cap = ncap;
    return b->cap - b->end;
}

void buf_consume(buf_t *b, size_t n)
{
    b->start += n;
    if (b->start >= b->end)
        b->start = b->end = 0;
}

int buf_append(buf_t *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (buf_reserve(b, n) < n) {
        b->failed = true;
        return -1;
    }
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

int buf_vappendf(buf_t *b, const char *fmt, va_list ap)
{
    va_list again;
    va_copy(again, ap);
    size_t room = buf_reserve(b, 256);
    int n = vsnprintf(b->data ? b->data + b->end : NULL, room, fmt, ap);
    if (n >= 0 && (size_t)n >= room) {
        if (buf_reserve(b, (size_t)n + 1) < (size_t)n + 1)
            n = -1;
        else
            vsnprintf(b->data + b->end, (size_t)n + 1, fmt, again);
    }
    va_end(again);
    if (n < 0) {
        b->failed = true;
        return -1;
    }
    b->end += (size_t)n;
    return 0;
}

int buf_appendf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vappendf(b, fmt, ap);
    va_end(ap);
    return rc;
}
