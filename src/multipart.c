/* Streaming multipart/form-data parser (RFC 7578, RFC 2046 5.1.1).
 *
 * The body is scanned for the delimiter "\r\n--boundary" with memchr for
 * its CR: the delimiter holds no other CR, so a failed comparison can resume
 * at the next CR without any backtracking state. Part data goes out as spans
 * of the caller's bytes. When a feed ends in a proper prefix of the
 * delimiter, that tail (at most delim_len - 1 bytes) is not consumed: the
 * caller feeds it again with more bytes, and the span it finally belongs to
 * comes out whole. Everything else is consumed by small states. */
#include "multipart.h"

#include <string.h>

enum {
    MP_START,     /* nothing seen: "--boundary" may open the body */
    MP_PREAMBLE,  /* before the first delimiter; discarded */
    MP_DELIM,     /* just after "--boundary": "--", padding or CRLF */
    MP_PAD,       /* in the transport padding after a delimiter */
    MP_CR,        /* CR of the delimiter line seen, LF due */
    MP_DASH,      /* one '-' of the close delimiter seen */
    MP_HEAD,      /* collecting the part's header lines in m->line */
    MP_BODY,      /* part data up to the next delimiter */
    MP_EPILOGUE,  /* after the close delimiter; ignored */
    MP_ERROR,
};

/* What one state's step did with its bytes. */
typedef enum { STEP_OK, STEP_AGAIN, STEP_ERROR } step_t;

static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

/* RFC 2046 bchars; the caller rejects a trailing space. */
static bool is_bchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("'()+_,-./:=? ", c) != NULL;
}

static size_t token_len(str_t s, size_t i)
{
    size_t n = 0;
    while (i + n < s.len && is_tchar((unsigned char)s.ptr[i + n]))
        n++;
    return n;
}

static void skip_ows(str_t s, size_t *i)
{
    while (*i < s.len && (s.ptr[*i] == ' ' || s.ptr[*i] == '\t'))
        (*i)++;
}

/* Inside a quoted-string a backslash escapes only '"' and '\'; before any
 * other byte it is literal. Browsers send a file's Windows path
 * ("C:\dir\a.txt") unescaped and percent-encode '"', so the strict RFC
 * rule would eat its backslashes (Go's mime package does the same). */
static bool is_escape(str_t s, size_t i)
{
    return s.ptr[i] == '\\' && i + 1 < s.len && (s.ptr[i + 1] == '"' || s.ptr[i + 1] == '\\');
}

/* The next "; name=value" of s from *i, as the parameter's name and the
 * raw extent of its value (a token, or a quoted-string with its quotes).
 * Returns 1, 0 at the end, -1 on a syntax error. Empty parameters (";;")
 * and OWS around ';' and '=' are tolerated. */
static int next_param(str_t s, size_t *i, str_t *name, str_t *value)
{
    for (;;) {
        skip_ows(s, i);
        if (*i == s.len)
            return 0;
        if (s.ptr[*i] != ';')
            return -1;
        (*i)++;
        skip_ows(s, i);
        if (*i == s.len)
            return 0;
        if (s.ptr[*i] != ';')
            break;
    }
    size_t n = token_len(s, *i);
    if (n == 0)
        return -1;
    *name = (str_t){s.ptr + *i, n};
    *i += n;
    skip_ows(s, i);
    if (*i == s.len || s.ptr[*i] != '=')
        return -1;
    (*i)++;
    skip_ows(s, i);
    size_t start = *i;
    if (*i < s.len && s.ptr[*i] == '"') {
        for ((*i)++;; (*i)++) {
            if (*i == s.len)
                return -1;  /* unterminated */
            if (is_escape(s, *i))
                (*i)++;
            else if (s.ptr[*i] == '"')
                break;
        }
        (*i)++;
    } else {
        *i += token_len(s, *i);
        if (*i == start)
            return -1;
    }
    *value = (str_t){s.ptr + start, *i - start};
    return 1;
}

/* Decode a value from next_param into out[0..cap] (NUL-terminated);
 * returns its length, or -1 when it has more than cap bytes. */
static long decode_value(str_t v, char *out, size_t cap)
{
    bool quoted = v.len >= 2 && v.ptr[0] == '"';
    if (quoted)
        v = (str_t){v.ptr + 1, v.len - 2};
    size_t o = 0;
    for (size_t i = 0; i < v.len; i++) {
        if (quoted && is_escape(v, i))
            i++;
        if (o == cap)
            return -1;
        out[o++] = v.ptr[i];
    }
    out[o] = '\0';
    return (long)o;
}

static int fail(multipart_t *m, int status)
{
    m->state = MP_ERROR;
    m->status = status;
    return -1;
}

int multipart_init(multipart_t *m, str_t content_type)
{
    /* A parser whose init failed refuses every feed. */
    m->state = MP_ERROR;
    m->status = 400;
    m->delim_len = 0;
    m->head_len = m->line_len = 0;
    m->name[0] = m->filename[0] = '\0';
    m->has_filename = false;

    str_t s = str_trim(content_type);
    size_t i = token_len(s, 0);
    if (!str_ieq((str_t){s.ptr, i}, "multipart") || i == s.len || s.ptr[i] != '/')
        return -1;
    size_t sub = ++i;
    i += token_len(s, i);
    if (!str_ieq((str_t){s.ptr + sub, i - sub}, "form-data"))
        return -1;

    char boundary[MULTIPART_MAX_BOUNDARY + 1];
    long blen = -1;
    str_t name, value;
    int r;
    while ((r = next_param(s, &i, &name, &value)) == 1) {
        if (!str_ieq(name, "boundary"))
            continue;
        if (blen >= 0)
            return -1;  /* two boundaries: which one? */
        blen = decode_value(value, boundary, MULTIPART_MAX_BOUNDARY);
        if (blen <= 0)
            return -1;
    }
    if (r < 0 || blen <= 0 || boundary[blen - 1] == ' ')
        return -1;
    for (long k = 0; k < blen; k++)
        if (!is_bchar((unsigned char)boundary[k]))
            return -1;

    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, (size_t)blen);
    m->delim_len = 4 + (size_t)blen;
    m->delim[m->delim_len] = '\0';
    m->state = MP_START;
    m->status = 0;
    return 0;
}

static step_t step_fail(multipart_t *m, int status)
{
    fail(m, status);
    return STEP_ERROR;
}

bool multipart_done(const multipart_t *m) { return m->state == MP_EPILOGUE; }

/* Offset in p[0..n) of the delimiter (*full) or of a tail that is a proper
 * prefix of it (!*full); n when neither occurs. */
static size_t find_delim(const multipart_t *m, const char *p, size_t n, bool *full)
{
    const char *c = p, *end = p + n;
    *full = false;
    while (c < end && (c = memchr(c, '\r', (size_t)(end - c))) != NULL) {
        size_t avail = (size_t)(end - c);
        if (avail >= m->delim_len) {
            if (memcmp(c, m->delim, m->delim_len) == 0) {
                *full = true;
                return (size_t)(c - p);
            }
        } else if (memcmp(c, m->delim, avail) == 0) {
            return (size_t)(c - p);
        }
        c++;
    }
    return n;
}

/* Preamble or part body: everything before the delimiter is data (emitted
 * for a part, dropped for the preamble). */
static step_t step_scan(multipart_t *m, const char *p, size_t n, size_t *used, const multipart_cb_t *cb,
                        void *ctx)
{
    bool full;
    size_t at = find_delim(m, p, n, &full);
    bool in_part = m->state == MP_BODY;
    if (in_part && at > 0 && cb->part_data) {
        int st = cb->part_data(ctx, p, at);
        if (st != 0)
            return step_fail(m, st);
    }
    if (!full) {
        *used = at;
        return at < n ? STEP_AGAIN : STEP_OK;
    }
    *used = at + m->delim_len;
    m->state = MP_DELIM;
    if (in_part && cb->part_end) {
        int st = cb->part_end(ctx);
        if (st != 0)
            return step_fail(m, st);
    }
    return STEP_OK;
}

/* The very first bytes: the body may open with "--boundary" (no CRLF). */
static step_t step_start(multipart_t *m, const char *p, size_t n, size_t *used)
{
    const char *dash = m->delim + 2;
    size_t want = m->delim_len - 2;
    *used = 0;
    if (n < want) {
        if (memcmp(p, dash, n) == 0)
            return STEP_AGAIN;
    } else if (memcmp(p, dash, want) == 0) {
        *used = want;
        m->state = MP_DELIM;
        return STEP_OK;
    }
    m->state = MP_PREAMBLE;
    return STEP_OK;
}

static void begin_head(multipart_t *m)
{
    m->state = MP_HEAD;
    m->head_len = m->line_len = 0;
    m->name[0] = m->filename[0] = '\0';
    m->has_filename = false;
}

/* After "--boundary": "--" closes the body; else transport padding and
 * CRLF (a bare LF is tolerated) open the next part's head. */
static step_t step_delim_line(multipart_t *m, const char *p, size_t n, size_t *used)
{
    size_t i = 0;
    while (i < n) {
        char c = p[i++];
        switch (m->state) {
        case MP_DELIM:
            if (c == '-') {
                m->state = MP_DASH;
                break;
            }
            /* fall through */
        case MP_PAD:
            if (c == ' ' || c == '\t') {
                m->state = MP_PAD;
            } else if (c == '\r') {
                m->state = MP_CR;
            } else if (c == '\n') {
                begin_head(m);
                *used = i;
                return STEP_OK;
            } else {
                return step_fail(m, 400);
            }
            break;
        case MP_CR:
            if (c != '\n')
                return step_fail(m, 400);
            begin_head(m);
            *used = i;
            return STEP_OK;
        default: /* MP_DASH */
            if (c != '-')
                return step_fail(m, 400);
            m->state = MP_EPILOGUE;
            *used = i;
            return STEP_OK;
        }
    }
    *used = i;
    return STEP_OK;
}

/* Content-Disposition: form-data; name="field"; filename="a.txt". Other
 * parameters (filename* included) are checked for syntax and ignored; a
 * repeated name or filename is an error rather than a guess. */
static int parse_disposition(multipart_t *m, str_t v)
{
    size_t i = token_len(v, 0);
    if (i == 0)
        return -1;
    bool has_name = false;
    m->name[0] = m->filename[0] = '\0';
    m->has_filename = false;
    str_t pname, pvalue;
    int r;
    while ((r = next_param(v, &i, &pname, &pvalue)) == 1) {
        char *out;
        if (str_ieq(pname, "name")) {
            if (has_name)
                return -1;
            has_name = true;
            out = m->name;
        } else if (str_ieq(pname, "filename")) {
            if (m->has_filename)
                return -1;
            m->has_filename = true;
            out = m->filename;
        } else {
            continue;
        }
        if (decode_value(pvalue, out, MULTIPART_MAX_NAME) < 0)
            return -1;
    }
    return r;
}

/* One header line without its line end. Control bytes (NUL would cut the
 * names short), obs-fold and a line without a colon are errors. */
static int parse_header_line(multipart_t *m, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return -1;
    }
    const char *colon = memchr(s, ':', len);
    if (colon == NULL)
        return -1;
    str_t name = {s, (size_t)(colon - s)};
    if (name.len == 0 || token_len(name, 0) != name.len)
        return -1;
    str_t value = str_trim((str_t){colon + 1, len - name.len - 1});
    if (str_ieq(name, "Content-Disposition"))
        return parse_disposition(m, value);
    return 0;
}

/* Header lines are copied into m->line (they may span feeds); the whole
 * head, line ends included, may not pass MULTIPART_MAX_PART_HEAD. */
static step_t step_head(multipart_t *m, const char *p, size_t n, size_t *used, const multipart_cb_t *cb,
                        void *ctx)
{
    size_t i = 0;
    while (i < n) {
        const char *lf = memchr(p + i, '\n', n - i);
        size_t take = lf ? (size_t)(lf - (p + i)) + 1 : n - i;
        if (m->head_len + take > MULTIPART_MAX_PART_HEAD)
            return step_fail(m, 400);
        memcpy(m->line + m->line_len, p + i, take);
        m->line_len += take;
        m->head_len += take;
        i += take;
        if (lf == NULL)
            break;
        size_t len = m->line_len - 1;
        if (len > 0 && m->line[len - 1] == '\r')
            len--;
        m->line_len = 0;
        if (len > 0) {
            if (parse_header_line(m, m->line, len) < 0)
                return step_fail(m, 400);
            continue;
        }
        *used = i;
        m->state = MP_BODY;
        if (cb->part_begin) {
            int st = cb->part_begin(ctx, m->name, m->has_filename ? m->filename : NULL);
            if (st != 0)
                return step_fail(m, st);
        }
        return STEP_OK;
    }
    *used = i;
    return STEP_OK;
}

static step_t step(multipart_t *m, const char *p, size_t n, size_t *used, const multipart_cb_t *cb, void *ctx)
{
    switch (m->state) {
    case MP_START:
        return step_start(m, p, n, used);
    case MP_PREAMBLE:
    case MP_BODY:
        return step_scan(m, p, n, used, cb, ctx);
    case MP_DELIM:
    case MP_PAD:
    case MP_CR:
    case MP_DASH:
        return step_delim_line(m, p, n, used);
    case MP_HEAD:
        return step_head(m, p, n, used, cb, ctx);
    case MP_EPILOGUE:
        *used = n;
        return STEP_OK;
    default:
        return STEP_ERROR;
    }
}

ssize_t multipart_feed(multipart_t *m, const char *data, size_t len, bool last, const multipart_cb_t *cb,
                       void *ctx)
{
    if (m->state == MP_ERROR)
        return -1;
    size_t i = 0;
    while (i < len) {
        size_t used = 0;
        step_t r = step(m, data + i, len - i, &used, cb, ctx);
        if (r == STEP_ERROR)
            return -1;
        i += used;
        if (r == STEP_AGAIN)
            break;
    }
    /* The end of the body settles any kept-back tail: it can no longer
     * become a delimiter, and without the close delimiter the body is
     * truncated. */
    if (last && (i != len || m->state != MP_EPILOGUE))
        return fail(m, 400);
    return (ssize_t)i;
}
