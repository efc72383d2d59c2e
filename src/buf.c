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

void buf_free(buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->start = b->end = b->cap = 0;
}

size_t buf_reserve(buf_t *b, size_t want)
{
    if (b->cap - b->end >= want)
        return b->cap - b->end;
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
    if (buf_reserve(b, n) < n)
        return -1;
    memcpy(b->data + b->end, p, n);
    b->end += n;
    return 0;
}

int buf_appendf(buf_t *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = buf_reserve(b, 256);
    va_start(ap, fmt);
    int n = vsnprintf(b->data ? b->data + b->end : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n >= room) {
        if (buf_reserve(b, (size_t)n + 1) < (size_t)n + 1)
            return -1;
        va_start(ap, fmt);
        vsnprintf(b->data + b->end, (size_t)n + 1, fmt, ap);
        va_end(ap);
    }
    b->end += (size_t)n;
    return 0;
}
