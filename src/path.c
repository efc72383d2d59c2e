/* URI path decoding and normalisation (RFC 3986 5.2.4); escaping for HTML
 * and URLs. */
#include "path.h"

#include <stdbool.h>

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decode one segment of in[*i..) up to the next raw '/' into out[*o..).
 * Each output byte consumes at least one input byte, so *o never passes
 * *i: that is why out needs no more than in.len + 1 bytes. */
static int decode_segment(str_t in, size_t *i, char *out, size_t *o)
{
    while (*i < in.len && in.ptr[*i] != '/') {
        unsigned char c = (unsigned char)in.ptr[*i];
        if (c == '%') {
            if (in.len - *i < 3)
                return -1;
            int hi = hex_value((unsigned char)in.ptr[*i + 1]);
            int lo = hex_value((unsigned char)in.ptr[*i + 2]);
            if (hi < 0 || lo < 0)
                return -1;
            c = (unsigned char)(hi << 4 | lo);
            /* An encoded '/' would let a segment smuggle a separator past
             * the dot-segment removal; NUL would cut the C string. */
            if (c == '\0' || c == '/')
                return -1;
            *i += 3;
        } else {
            if (c == '\0')
                return -1;
            *i += 1;
        }
        out[(*o)++] = (char)c;
    }
    return 0;
}

/* Drop the last complete segment of out[0..seg), where out[seg - 1] is its
 * trailing '/'; returns the new length (still ending in '/'), or -1 when
 * out is just "/" (the segment would climb above the root). */
static long drop_last_segment(const char *out, size_t seg)
{
    if (seg <= 1)
        return -1;
    size_t o = seg - 1;
    while (out[o - 1] != '/')
        o--;
    return (long)o;
}

long path_normalize(str_t in, char *out)
{
    if (in.len == 0 || in.ptr[0] != '/')
        return -1;
    size_t i = 1, o = 0;
    out[o++] = '/';
    /* Invariant: out[0..o) ends with '/' at the top of each iteration. */
    while (i < in.len) {
        size_t seg = o;
        if (decode_segment(in, &i, out, &o) < 0)
            return -1;
        bool more = i < in.len;  /* stopped at a '/' */
        size_t n = o - seg;
        /* Dot-segments are recognised after decoding, so "%2e%2e" climbs
         * like ".." does (what nginx does, and the safe choice). */
        if (n == 0 || (n == 1 && out[seg] == '.')) {
            o = seg;
        } else if (n == 2 && out[seg] == '.' && out[seg + 1] == '.') {
            long up = drop_last_segment(out, seg);
            if (up < 0)
                return -1;
            o = (size_t)up;
        } else if (more) {
            out[o++] = '/';
        }
        if (more)
            i++;  /* the '/' itself */
    }
    out[o] = '\0';
    return (long)o;
}

static const char hex_upper[] = "0123456789ABCDEF";

static bool url_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~' || c == '/';
}

int path_url_encode(buf_t *b, const char *s, size_t n)
{
    size_t run = 0;  /* start of the pending run of safe bytes */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (url_safe(c))
            continue;
        if (buf_append(b, s + run, i - run) < 0)
            return -1;
        char esc[3] = {'%', hex_upper[c >> 4], hex_upper[c & 15]};
        if (buf_append(b, esc, 3) < 0)
            return -1;
        run = i + 1;
    }
    return buf_append(b, s + run, n - run) < 0 ? -1 : 0;
}

static const char *html_entity(unsigned char c)
{
    switch (c) {
    case '&': return "&amp;";
    case '<': return "&lt;";
    case '>': return "&gt;";
    case '"': return "&quot;";
    case '\'': return "&#39;";
    default: return NULL;
    }
}

int path_html_escape(buf_t *b, const char *s, size_t n)
{
    size_t run = 0;
    for (size_t i = 0; i < n; i++) {
        const char *ent = html_entity((unsigned char)s[i]);
        if (ent == NULL)
            continue;
        if (buf_append(b, s + run, i - run) < 0 || buf_appends(b, ent) < 0)
            return -1;
        run = i + 1;
    }
    return buf_append(b, s + run, n - run) < 0 ? -1 : 0;
}
