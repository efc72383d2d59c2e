/* The header block of a CGI response (RFC 3875 6.2). */
#include "cgi_parse.h"

#include <string.h>

static int is_name_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != ':' && !strchr("()<>@,;\\\"/[]?={}", c);
}

/* Find the end of the block: an empty line. Returns its end offset or 0. */
static size_t block_end(const char *d, size_t len)
{
    size_t i = 0;
    while (i < len) {
        const char *lf = memchr(d + i, '\n', len - i);
        if (!lf)
            return 0;
        size_t ls = i, le = (size_t)(lf - d);
        if (le == ls || (le == ls + 1 && d[ls] == '\r'))
            return le + 1;
        i = le + 1;
    }
    return 0;
}

static int parse_status(str_t v)
{
    if (v.len < 3)
        return -1;
    int s = 0;
    for (int i = 0; i < 3; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        s = s * 10 + (v.ptr[i] - '0');
    }
    if (v.len > 3 && v.ptr[3] != ' ' && v.ptr[3] != '\t')
        return -1;
    return s >= 100 && s <= 999 ? s : -1;
}

static int64_t parse_length(str_t v)
{
    if (v.len == 0 || v.len > 18)
        return -1;
    int64_t n = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (v.ptr[i] < '0' || v.ptr[i] > '9')
            return -1;
        n = n * 10 + (v.ptr[i] - '0');
    }
    return n;
}

ssize_t cgi_parse_head(const char *data, size_t len, cgi_head_t *h)
{
    size_t end = block_end(data, len > CGI_MAX_HEAD ? CGI_MAX_HEAD : len);
    if (!end)
        return len >= CGI_MAX_HEAD ? -1 : 0;
    memset(h, 0, sizeof(*h));
    h->content_length = -1;
    size_t i = 0;
    for (;;) {
        const char *lf = memchr(data + i, '\n', end - i);
        size_t le = (size_t)(lf - data);
        str_t line = {data + i, le - i};
        if (line.len && line.ptr[line.len - 1] == '\r')
            line.len--;
        i = le + 1;
        if (line.len == 0)
            break;
        const char *colon = memchr(line.ptr, ':', line.len);
        if (!colon || colon == line.ptr)
            return -1;
        str_t name = {line.ptr, (size_t)(colon - line.ptr)};
        for (size_t k = 0; k < name.len; k++)
            if (!is_name_char((unsigned char)name.ptr[k]))
                return -1;
        str_t value = str_trim((str_t){colon + 1, line.len - name.len - 1});
        for (size_t k = 0; k < value.len; k++) {
            unsigned char ch = (unsigned char)value.ptr[k];
            if ((ch < 0x20 && ch != '\t') || ch == 0x7f)
                return -1;  /* no header injection through a CGI */
        }
        if (str_ieq(name, "status")) {
            if ((h->status = parse_status(value)) < 0)
                return -1;
        } else if (str_ieq(name, "location")) {
            h->location = value;
        } else if (str_ieq(name, "content-type")) {
            h->content_type = value;
        } else if (str_ieq(name, "content-length")) {
            if ((h->content_length = parse_length(value)) < 0)
                return -1;
        } else if (str_ieq(name, "connection") || str_ieq(name, "transfer-encoding") ||
                   str_ieq(name, "keep-alive")) {
            /* hop-by-hop: the server frames the response itself */
        } else {
            if (h->nfields == CGI_MAX_FIELDS)
                return -1;
            h->fields[h->nfields++] = (cgi_field_t){name, value};
        }
    }
    return (ssize_t)end;
}
