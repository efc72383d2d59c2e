/* multipart_feed: each body is parsed whole, split at every byte boundary
 * (the bytes not consumed are fed again with the rest), and one byte at a
 * time (kept-back bytes + one new byte). Every feed sees an exactly sized
 * heap copy, so ASan catches reads past `len`; the callbacks record what
 * they saw and check the API's promises (spans inside the consumed bytes,
 * begin/data/end in order, little kept back). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "multipart.h"
#include "unit.h"

#define BD "XyZzy42"
#define CT "multipart/form-data; boundary=" BD
#define MAX_PARTS 8

typedef struct {
    char *name, *filename;  /* filename NULL for a plain field */
    char *data;
    size_t len;
    bool ended;
} got_part_t;

/* Callbacks that fail on purpose: return `status` from part_begin of a file
 * part, from part_data once more than `data_limit` bytes came, or from the
 * `end_at`-th part_end (1-based). 0 = never. */
typedef struct {
    int begin_file_status;
    size_t data_limit;
    int data_status;
    size_t end_at;
    int end_status;
} faults_t;

typedef struct {
    got_part_t parts[MAX_PARTS];
    size_t nparts;
    bool open;
    size_t data_calls, data_total, ends, cap;
    const char *lo, *hi;  /* the bytes of the running feed */
    size_t span_end;      /* end offset of the last data span in this feed */
    const char *bad;      /* a broken API promise, or NULL */
    faults_t faults;
} sink_t;

static int on_begin(void *ctx, const char *name, const char *filename)
{
    sink_t *s = ctx;
    if (s->open || s->nparts == MAX_PARTS || name == NULL) {
        s->bad = "part_begin out of order";
        return 0;
    }
    got_part_t *p = &s->parts[s->nparts++];
    p->name = xstrdup(name);
    p->filename = filename ? xstrdup(filename) : NULL;
    p->data = xmalloc(s->cap + 1);
    p->len = 0;
    p->ended = false;
    s->open = true;
    return filename ? s->faults.begin_file_status : 0;
}

static int on_data(void *ctx, const char *data, size_t len)
{
    sink_t *s = ctx;
    if (!s->open) {
        s->bad = "part_data outside a part";
        return 0;
    }
    got_part_t *p = &s->parts[s->nparts - 1];
    if (len == 0)
        s->bad = "empty part_data";
    else if (data < s->lo || data + len > s->hi)
        s->bad = "data span outside the fed bytes";
    else if (p->len + len > s->cap)
        s->bad = "more data than input";
    if (s->bad)
        return 0;
    memcpy(p->data + p->len, data, len);
    p->len += len;
    s->data_calls++;
    s->data_total += len;
    s->span_end = (size_t)(data + len - s->lo);
    if (s->faults.data_status && s->data_total > s->faults.data_limit)
        return s->faults.data_status;
    return 0;
}

static int on_end(void *ctx)
{
    sink_t *s = ctx;
    if (!s->open) {
        s->bad = "part_end outside a part";
        return 0;
    }
    s->parts[s->nparts - 1].ended = true;
    s->open = false;
    return ++s->ends == s->faults.end_at ? s->faults.end_status : 0;
}

static const multipart_cb_t callbacks = {on_begin, on_data, on_end};

typedef struct {
    ssize_t rc;       /* last return of multipart_feed */
    int status;       /* m->status when rc < 0 */
    size_t consumed;  /* bytes consumed over all feeds */
    size_t max_kept;  /* most bytes kept back by one non-last feed */
    size_t delim_len;
    bool done;
    sink_t sink;
} run_t;

static void run_free(run_t *r)
{
    for (size_t i = 0; i < r->sink.nparts; i++) {
        free(r->sink.parts[i].name);
        free(r->sink.parts[i].filename);
        free(r->sink.parts[i].data);
    }
}

/* Parse in[0..len): at first only `avail` bytes are available; after each
 * feed, `bytewise` adds one byte, else all the rest. The feed that holds
 * the last byte says last = true. */
static run_t run(const char *ct, const char *in, size_t len, size_t avail, bool bytewise, const faults_t *f)
{
    run_t r = {0};
    r.sink.cap = len;
    if (f)
        r.sink.faults = *f;
    multipart_t *m = xmalloc(sizeof *m);
    if (multipart_init(m, (str_t){ct, strlen(ct)}) != 0) {
        r.sink.bad = "multipart_init failed";
        free(m);
        return r;
    }
    r.delim_len = m->delim_len;
    for (size_t calls = 0;; calls++) {
        bool last = avail == len;
        size_t n = avail - r.consumed;
        char *p = xmalloc(n);
        memcpy(p, in + r.consumed, n);
        r.sink.lo = p;
        r.sink.hi = p + n;
        r.sink.span_end = 0;
        r.rc = multipart_feed(m, p, n, last, &callbacks, &r.sink);
        free(p);
        if (r.rc < 0) {
            r.status = m->status;
            if (multipart_feed(m, "", 0, true, &callbacks, &r.sink) != -1 || m->status != r.status)
                r.sink.bad = "the parser went on after an error";
            break;
        }
        if ((size_t)r.rc > n)
            r.sink.bad = "consumed more than given";
        else if (r.sink.span_end > (size_t)r.rc)
            r.sink.bad = "data span in the kept-back bytes";
        if (r.sink.bad)
            break;
        if (!last && n - (size_t)r.rc > r.max_kept)
            r.max_kept = n - (size_t)r.rc;
        r.consumed += (size_t)r.rc;
        if (last)
            break;
        if (calls > 2 * len + 10) {
            r.sink.bad = "no progress";
            break;
        }
        avail = bytewise ? avail + 1 : len;
    }
    r.done = multipart_done(m);
    free(m);
    return r;
}

typedef struct {
    const char *name, *filename, *data;
    size_t len;
} want_t;

/* What went wrong in r against the wanted parts, or NULL. */
static const char *mismatch(const run_t *r, const want_t *w, size_t nw)
{
    static char why[256];
    if (r->sink.bad)
        return r->sink.bad;
    if (r->rc < 0) {
        snprintf(why, sizeof why, "error %d", r->status);
        return why;
    }
    if (r->max_kept >= r->delim_len)
        return "kept back a whole delimiter's worth";
    if (!r->done)
        return "not done";
    if (r->sink.nparts != nw) {
        snprintf(why, sizeof why, "%zu parts, expected %zu", r->sink.nparts, nw);
        return why;
    }
    for (size_t i = 0; i < nw; i++) {
        const got_part_t *g = &r->sink.parts[i];
        bool fn_ok = g->filename == w[i].filename ||
                     (g->filename && w[i].filename && strcmp(g->filename, w[i].filename) == 0);
        const char *what = strcmp(g->name, w[i].name) != 0 ? "name"
                           : !fn_ok                       ? "filename"
                           : g->len != w[i].len || memcmp(g->data, w[i].data, g->len) != 0 ? "data"
                           : !g->ended                    ? "part_end missing"
                                                          : NULL;
        if (what) {
            snprintf(why, sizeof why, "part %zu: %s (name \"%s\", filename \"%s\", %zu data bytes)", i, what,
                     g->name, g->filename ? g->filename : "(null)", g->len);
            return why;
        }
    }
    return NULL;
}

/* Splits at offsets near both ends are all tried; in between, every
 * `stride`-th (1 for the small bodies: every split). */
static size_t next_split(size_t k, size_t len, size_t stride)
{
    return k < 80 || len - k < 80 ? k + 1 : k + stride;
}

static void check_ok_ct(const char *ct, const char *in, size_t len, const want_t *w, size_t nw, size_t stride,
                        int line)
{
    run_t whole = run(ct, in, len, len, false, NULL);
    const char *why = mismatch(&whole, w, nw);
    if (why)
        unit_fail(__FILE__, line, "whole body: %s", why);
    /* Fed whole, each part's data comes out in one span. */
    size_t nonempty = 0;
    for (size_t i = 0; i < nw; i++)
        nonempty += w[i].len > 0;
    if (!why && whole.sink.data_calls != nonempty)
        unit_fail(__FILE__, line, "whole body: %zu part_data calls for %zu parts with data",
                  whole.sink.data_calls, nonempty);
    run_free(&whole);
    for (size_t k = 0; k < len; k = next_split(k, len, stride)) {
        run_t part = run(ct, in, len, k, false, NULL);
        why = mismatch(&part, w, nw);
        if (!why && part.sink.data_calls > nonempty + 1)
            why = "data split into more spans than the feeds need";
        run_free(&part);
        if (why) {
            unit_fail(__FILE__, line, "split at %zu of %zu: %s", k, len, why);
            break;
        }
    }
    run_t bytes = run(ct, in, len, 0, true, NULL);
    why = mismatch(&bytes, w, nw);
    if (why)
        unit_fail(__FILE__, line, "byte by byte: %s", why);
    run_free(&bytes);
    unit_checks++;
}

static void check_err_ct(const char *ct, const char *in, size_t len, int status, const faults_t *f, size_t stride,
                         int line)
{
    for (size_t k = 0; k <= len; k = next_split(k, len, stride)) {
        run_t r = run(ct, in, len, k, false, f);
        if (r.sink.bad)
            unit_fail(__FILE__, line, "split at %zu of %zu: %s", k, len, r.sink.bad);
        else if (r.rc != -1 || r.status != status)
            unit_fail(__FILE__, line, "split at %zu of %zu: rc %zd status %d, expected -1 status %d", k, len,
                      r.rc, r.status, status);
        run_free(&r);
        if (r.sink.bad || r.rc != -1 || r.status != status)
            break;
    }
    run_t r = run(ct, in, len, 0, true, f);
    if (r.sink.bad || r.rc != -1 || r.status != status)
        unit_fail(__FILE__, line, "byte by byte: %s rc %zd status %d, expected -1 status %d",
                  r.sink.bad ? r.sink.bad : "", r.rc, r.status, status);
    run_free(&r);
    unit_checks++;
}

#define PART(name, filename, data) {(name), (filename), (data), sizeof(data) - 1}
#define FIELD(name, data) PART(name, NULL, data)
/* body: a string literal (it may hold NUL bytes); then the wanted parts. */
#define OK(body, ...)                                                                       \
    do {                                                                                    \
        const want_t w_[] = {__VA_ARGS__};                                                  \
        check_ok_ct(CT, body, sizeof(body) - 1, w_, sizeof w_ / sizeof w_[0], 1, __LINE__); \
    } while (0)
#define ERR(body, status) check_err_ct(CT, body, sizeof(body) - 1, status, NULL, 1, __LINE__)

#define CD(name) "Content-Disposition: form-data; name=\"" name "\""
#define CDF(name, file) CD(name) "; filename=\"" file "\""
#define DELIM "\r\n--" BD "\r\n"
#define CLOSE "\r\n--" BD "--\r\n"

TEST(multipart_one_file)
{
    OK("--" BD "\r\n" CDF("file", "a.txt") "\r\nContent-Type: text/plain\r\n\r\n"
       "hello\r\nworld\r\n" CLOSE,
       PART("file", "a.txt", "hello\r\nworld\r\n"));
    /* no line end after the close delimiter */
    OK("--" BD "\r\n" CDF("f", "a") "\r\n\r\nx\r\n--" BD "--", PART("f", "a", "x"));
}

TEST(multipart_three_files_and_fields)
{
    OK("--" BD "\r\n" CD("title") "\r\n\r\nMy upload"
       DELIM CDF("files", "a.txt") "\r\nContent-Type: text/plain\r\n\r\nfirst file\n"
       DELIM CDF("files", "b.bin") "\r\nContent-Type: application/octet-stream\r\n\r\n"
       "\0\x01\x02\xff\xfe\r\n\0\r\n-" "-\0"
       DELIM CDF("files", "c.txt") "\r\n\r\n"
       DELIM CD("note") "\r\n\r\nlast field, after the files" CLOSE,
       FIELD("title", "My upload"),
       PART("files", "a.txt", "first file\n"),
       PART("files", "b.bin", "\0\x01\x02\xff\xfe\r\n\0\r\n-" "-\0"),
       PART("files", "c.txt", ""),
       FIELD("note", "last field, after the files"));
}

TEST(multipart_data_looks_like_a_delimiter)
{
    /* CRLF and "--" */
    OK("--" BD "\r\n" CD("a") "\r\n\r\n\r\n--\r\n\r\n-" CLOSE, FIELD("a", "\r\n--\r\n\r\n-"));
    /* the boundary without a leading CRLF, or with a lone CR or LF */
    OK("--" BD "\r\n" CD("a") "\r\n\r\n--" BD "--" BD "--\r\n" CLOSE, FIELD("a", "--" BD "--" BD "--\r\n"));
    OK("--" BD "\r\n" CD("a") "\r\n\r\nx\r--" BD "\n--" BD "\r\r--" BD CLOSE,
       FIELD("a", "x\r--" BD "\n--" BD "\r\r--" BD));
    /* a delimiter prefix followed by other bytes */
    OK("--" BD "\r\n" CD("a") "\r\n\r\n\r\n--XyZzy4\r\n--XyZzy\r\n--X\r\n-\r\n--x" CLOSE,
       FIELD("a", "\r\n--XyZzy4\r\n--XyZzy\r\n--X\r\n-\r\n--x"));
    OK("--" BD "\r\n" CD("a") "\r\n\r\n\r\n--XyZzy4\r\n--" BD "--", FIELD("a", "\r\n--XyZzy4"));
    /* a CR as the last data byte, and CRs before the delimiter */
    OK("--" BD "\r\n" CD("a") "\r\n\r\nabc\r" CLOSE, FIELD("a", "abc\r"));
    OK("--" BD "\r\n" CD("a") "\r\n\r\n\r\r\r\r\n\r" CLOSE, FIELD("a", "\r\r\r\r\n\r"));
    /* data that is exactly a CRLF, and empty parts */
    OK("--" BD "\r\n" CD("a") "\r\n\r\n\r\n" CLOSE, FIELD("a", "\r\n"));
    OK("--" BD "\r\n" CD("a") "\r\n\r\n" DELIM CD("b") "\r\n\r\n" CLOSE, FIELD("a", ""), FIELD("b", ""));
    /* "\r\n\r\n--boundary" after the head: the body is "--boundary" */
    OK("--" BD "\r\n" CD("a") "\r\n\r\n--" BD CLOSE, FIELD("a", "--" BD));
}

TEST(multipart_binary)
{
    /* every byte value, twice, with the delimiter's bytes among them */
    char data[512];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)(i % 256);
    char body[1024];
    const char *head = "--" BD "\r\n" CDF("bin", "all.bin") "\r\n\r\n";
    size_t len = strlen(head);
    memcpy(body, head, len);
    memcpy(body + len, data, sizeof data);
    len += sizeof data;
    memcpy(body + len, CLOSE, strlen(CLOSE));
    len += strlen(CLOSE);
    want_t w = {"bin", "all.bin", data, sizeof data};
    check_ok_ct(CT, body, len, &w, 1, 1, __LINE__);
}

TEST(multipart_preamble_epilogue_padding)
{
    OK("This is the preamble. --" BD " is not at a line start,\r\n"
       "nor is --" BD "x, \n--" BD " or \r--" BD "\r\n"
       "\r\n--" BD " \t \r\n" CD("a") "\r\n\r\nA"
       "\r\n--" BD "\t\r\n" CD("b") "\r\n\r\nB"
       "\r\n--" BD "--  trailing\r\nThe epilogue\r\n--" BD "\r\n" CD("c") "\r\n\r\nC\r\n--" BD "--\r\n",
       FIELD("a", "A"), FIELD("b", "B"));
    /* a preamble that is just CRLF */
    OK("\r\n--" BD "\r\n" CD("a") "\r\n\r\nA" CLOSE, FIELD("a", "A"));
    OK("\r\n\r\n--" BD "\r\n" CD("a") "\r\n\r\nA" CLOSE "\r\n", FIELD("a", "A"));
    /* a boundary prefix at the very start is preamble */
    OK("--XyZzy\r\n--" BD "\r\n" CD("a") "\r\n\r\nA" CLOSE, FIELD("a", "A"));
    /* no parts at all */
    check_ok_ct(CT, "--" BD "--", strlen("--" BD "--"), NULL, 0, 1, __LINE__);
    check_ok_ct(CT, "preamble\r\n--" BD "--\r\n", strlen("preamble\r\n--" BD "--\r\n"), NULL, 0, 1, __LINE__);
}

TEST(multipart_lf_header_lines)
{
    OK("--" BD "\n" CDF("a", "a.txt") "\nContent-Type: text/plain\n\ndata\n" CLOSE,
       PART("a", "a.txt", "data\n"));
    OK("--" BD "\r\n" CD("a") "\nX-Other: 1\r\n\ndata" DELIM CD("b") "\n\r\nB" CLOSE,
       FIELD("a", "data"), FIELD("b", "B"));
}

TEST(multipart_disposition_parameters)
{
    /* escaped quote; Windows paths sent raw or escaped are reported raw */
    OK("--" BD "\r\n" CDF("f", "a\\\"b.txt") "\r\n\r\nx" CLOSE, PART("f", "a\"b.txt", "x"));
    OK("--" BD "\r\n" CDF("f", "C:\\dir\\a.txt") "\r\n\r\nx" CLOSE, PART("f", "C:\\dir\\a.txt", "x"));
    OK("--" BD "\r\n" CDF("f", "C:\\\\dir\\\\a.txt") "\r\n\r\nx" CLOSE, PART("f", "C:\\dir\\a.txt", "x"));
    OK("--" BD "\r\n" CDF("f", "../../etc/passwd") "\r\n\r\nx" CLOSE, PART("f", "../../etc/passwd", "x"));
    OK("--" BD "\r\n" CDF("f", "\xc3\xa9t\xc3\xa9 ;=,.txt") "\r\n\r\nx" CLOSE,
       PART("f", "\xc3\xa9t\xc3\xa9 ;=,.txt", "x"));
    /* any order, any case, token values, OWS, filename* ignored */
    OK("--" BD "\r\ncontent-DISPOSITION:FORM-DATA ; FILENAME=b.txt;Name=up ; filename*=UTF-8''%e2%82%ac.txt\r\n\r\n"
       "x" CLOSE,
       PART("up", "b.txt", "x"));
    OK("--" BD "\r\nContent-Disposition: form-data; filename=\"z\"; name=\"y\";\r\n\r\nx" CLOSE,
       PART("y", "z", "x"));
    /* an empty filename (a file input left empty) is not a missing one */
    OK("--" BD "\r\n" CDF("f", "") "\r\nContent-Type: application/octet-stream\r\n\r\n" CLOSE, PART("f", "", ""));
    /* no name, and no Content-Disposition at all */
    OK("--" BD "\r\nContent-Disposition: form-data\r\n\r\nx" DELIM "Content-Type: text/plain\r\n\r\ny" CLOSE,
       FIELD("", "x"), FIELD("", "y"));
}

TEST(multipart_missing_close_delimiter)
{
    static const char body[] = "--" BD "\r\n" CDF("f", "a.txt") "\r\n\r\nhello" DELIM CD("g") "\r\n\r\nv" CLOSE;
    size_t close_end = sizeof body - 1 - 2;  /* up to and with "--boundary--" */
    /* Every truncation before the close delimiter is complete is a 400
     * (the empty body included); from there on it parses. */
    for (size_t n = 0; n < close_end; n++)
        check_err_ct(CT, body, n, 400, NULL, 1, __LINE__);
    OK("--" BD "\r\n" CDF("f", "a.txt") "\r\n\r\nhello" DELIM CD("g") "\r\n\r\nv\r\n--" BD "--",
       PART("f", "a.txt", "hello"), FIELD("g", "v"));
    ERR("preamble only\r\n", 400);
    ERR("--" BD "\r\n" CD("a") "\r\n\r\nabc\r\n--" BD "\r\n", 400);
}

TEST(multipart_bad_framing)
{
    /* after a delimiter: neither "--" nor padding + CRLF */
    ERR("--" BD "x\r\n" CD("a") "\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "-x" CLOSE, 400);
    ERR("preamble\r\n--" BD "x\r\n" CD("a") "\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\rx" CLOSE, 400);
    ERR("--" BD "\r\n" CD("a") "\r\n\r\nA\r\n--" BD "x\r\n" CLOSE, 400);
    ERR("--" BD "\r\n" CD("a") "\r\n\r\nA\r\n--" BD " x\r\n" CLOSE, 400);
    /* bad header lines */
    ERR("--" BD "\r\nno colon here\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nX-Name : v\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\n: v\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\n" CD("a") "\r\n folded\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nX-A: a\0b\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nX-A: a\rb\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nContent-Disposition: form-data; name=\"a\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nContent-Disposition: form-data; name=\"a\"; name=\"b\"\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nContent-Disposition: form-data; name=\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nContent-Disposition: form-data; name=\"a\" x\r\n\r\nA" CLOSE, 400);
    ERR("--" BD "\r\nContent-Disposition: ; name=\"a\"\r\n\r\nA" CLOSE, 400);
}

/* A body whose one part has a name and filename of n bytes each. */
static size_t name_body(char *out, size_t n)
{
    size_t len = (size_t)sprintf(out, "--%s\r\nContent-Disposition: form-data; name=\"", BD);
    memset(out + len, 'n', n);
    len += n;
    len += (size_t)sprintf(out + len, "\"; filename=\"");
    memset(out + len, 'f', n);
    len += n;
    len += (size_t)sprintf(out + len, "\"\r\n\r\nx%s", CLOSE);
    return len;
}

TEST(multipart_name_length)
{
    char *body = xmalloc(3 * MULTIPART_MAX_NAME);
    char *name = xmalloc(MULTIPART_MAX_NAME + 1), *file = xmalloc(MULTIPART_MAX_NAME + 1);
    memset(name, 'n', MULTIPART_MAX_NAME);
    memset(file, 'f', MULTIPART_MAX_NAME);
    name[MULTIPART_MAX_NAME] = file[MULTIPART_MAX_NAME] = '\0';
    size_t len = name_body(body, MULTIPART_MAX_NAME);
    want_t w = {name, file, "x", 1};
    check_ok_ct(CT, body, len, &w, 1, 97, __LINE__);
    len = name_body(body, MULTIPART_MAX_NAME + 1);
    check_err_ct(CT, body, len, 400, NULL, 97, __LINE__);
    free(body);
    free(name);
    free(file);
}

/* A part head of exactly `head` bytes (from after the delimiter line to the
 * end of the empty line), padded by an X-Pad header. */
static size_t head_body(char *out, size_t head)
{
    size_t len = (size_t)sprintf(out, "--%s\r\n", BD);
    size_t start = len;
    len += (size_t)sprintf(out + len, "%s\r\nX-Pad: ", CD("a"));
    size_t pad = head - (len - start) - 4;
    memset(out + len, 'p', pad);
    len += pad;
    len += (size_t)sprintf(out + len, "\r\n\r\nA%s", CLOSE);
    return len;
}

TEST(multipart_part_head_too_large)
{
    char *body = xmalloc(MULTIPART_MAX_PART_HEAD + 256);
    want_t w = {"a", NULL, "A", 1};
    size_t len = head_body(body, MULTIPART_MAX_PART_HEAD);
    check_ok_ct(CT, body, len, &w, 1, 101, __LINE__);
    len = head_body(body, MULTIPART_MAX_PART_HEAD + 1);
    check_err_ct(CT, body, len, 400, NULL, 101, __LINE__);
    /* many short lines add up too */
    len = (size_t)sprintf(body, "--%s\r\n", BD);
    while (len < MULTIPART_MAX_PART_HEAD + 64)
        len += (size_t)sprintf(body + len, "X-A: 1\r\n");
    len += (size_t)sprintf(body + len, "\r\nA%s", CLOSE);
    check_err_ct(CT, body, len, 400, NULL, 101, __LINE__);
    free(body);
}

TEST(multipart_callback_status)
{
    static const char body[] = "--" BD "\r\n" CD("title") "\r\n\r\nhello world"
                               DELIM CDF("f", "a.txt") "\r\n\r\n0123456789" CLOSE;
    size_t len = sizeof body - 1;
    faults_t f = {.begin_file_status = 413};
    check_err_ct(CT, body, len, 413, &f, 1, __LINE__);
    f = (faults_t){.data_limit = 15, .data_status = 413};
    check_err_ct(CT, body, len, 413, &f, 1, __LINE__);
    f = (faults_t){.end_at = 1, .end_status = 500};
    check_err_ct(CT, body, len, 500, &f, 1, __LINE__);
    f = (faults_t){.end_at = 2, .end_status = 507};
    check_err_ct(CT, body, len, 507, &f, 1, __LINE__);
}

TEST(multipart_keep_back)
{
    multipart_t m;
    sink_t s = {.cap = 64};
    CHECK_EQ_INT(multipart_init(&m, STR_LIT(CT)), 0);
    /* at the start, a prefix of "--boundary" */
    s.lo = "--XyZ";
    s.hi = s.lo + 5;
    CHECK_EQ_INT(multipart_feed(&m, "--XyZ", 5, false, &callbacks, &s), 0);
    const char *in = "--" BD "\r\n" CD("a") "\r\n\r\nabc\r\n--XyZ";
    size_t n = strlen(in);
    s.lo = in;
    s.hi = in + n;
    /* the delimiter prefix "\r\n--XyZ" is kept back, "abc" comes out */
    CHECK_EQ_INT(multipart_feed(&m, in, n, false, &callbacks, &s), n - 7);
    CHECK_EQ_INT(s.nparts, 1);
    CHECK_EQ_MEM(s.parts[0].data, s.parts[0].len, "abc");
    /* more bytes that do not complete it: all data, nothing kept */
    s.lo = "\r\n--XyZq";
    s.hi = s.lo + 8;
    CHECK_EQ_INT(multipart_feed(&m, s.lo, 8, false, &callbacks, &s), 8);
    CHECK_EQ_MEM(s.parts[0].data, s.parts[0].len, "abc\r\n--XyZq");
    s.lo = "z\r";
    s.hi = s.lo + 2;
    CHECK_EQ_INT(multipart_feed(&m, s.lo, 2, false, &callbacks, &s), 1);
    s.lo = "\rx";
    s.hi = s.lo + 2;
    CHECK_EQ_INT(multipart_feed(&m, s.lo, 2, false, &callbacks, &s), 2);
    CHECK_EQ_MEM(s.parts[0].data, s.parts[0].len, "abc\r\n--XyZqz\rx");
    CHECK(!multipart_done(&m));
    s.lo = CLOSE "epilogue";
    s.hi = s.lo + strlen(s.lo);
    CHECK_EQ_INT(multipart_feed(&m, s.lo, strlen(s.lo), true, &callbacks, &s), strlen(s.lo));
    CHECK(multipart_done(&m));
    CHECK(s.parts[0].ended);
    CHECK(s.bad == NULL);
    run_t r = {.sink = s};
    run_free(&r);
}

TEST(multipart_large_part)
{
    size_t n = 200000;
    char *data = xmalloc(n);
    unsigned x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        data[i] = (x >> 16) % 7 == 0 ? '\r' : (x >> 16) % 7 == 1 ? '\n' : (x >> 16) % 7 == 2 ? '-' : (char)(x >> 8);
    }
    const char *ct = "multipart/form-data; boundary=----WebKitFormBoundary7MA4YWxkTrZu0gW";
    const char *head = "------WebKitFormBoundary7MA4YWxkTrZu0gW\r\n"
                       "Content-Disposition: form-data; name=\"file\"; filename=\"big.bin\"\r\n"
                       "Content-Type: application/octet-stream\r\n\r\n";
    const char *tail = "\r\n------WebKitFormBoundary7MA4YWxkTrZu0gW--\r\n";
    size_t hl = strlen(head), tl = strlen(tail), len = hl + n + tl;
    char *body = xmalloc(len);
    memcpy(body, head, hl);
    memcpy(body + hl, data, n);
    memcpy(body + hl + n, tail, tl);
    want_t w = {"file", "big.bin", data, n};
    check_ok_ct(ct, body, len, &w, 1, 7919, __LINE__);

    /* fed in 4 KiB reads: a few spans per read, never byte by byte */
    multipart_t *m = xmalloc(sizeof *m);
    CHECK_EQ_INT(multipart_init(m, (str_t){ct, strlen(ct)}), 0);
    sink_t s = {.cap = len};
    char win[4096 + 64];
    size_t have = 0, off = 0, feeds = 0;
    while (off < len || have > 0) {
        size_t add = len - off < 4096 ? len - off : 4096;
        memcpy(win + have, body + off, add);
        have += add;
        off += add;
        s.lo = win;
        s.hi = win + have;
        ssize_t r = multipart_feed(m, win, have, off == len, &callbacks, &s);
        feeds++;
        CHECK(r >= 0);
        if (r < 0)
            break;
        CHECK(have - (size_t)r <= m->delim_len);
        memmove(win, win + r, have - (size_t)r);
        have -= (size_t)r;
        if (off == len)
            break;
    }
    CHECK(multipart_done(m));
    CHECK(s.bad == NULL);
    CHECK_EQ_INT(s.nparts, 1);
    CHECK(s.parts[0].len == n && memcmp(s.parts[0].data, data, n) == 0);
    CHECK(s.data_calls <= feeds);
    run_t r = {.sink = s};
    run_free(&r);
    free(m);
    free(body);
    free(data);
}

TEST(multipart_curl_body)
{
    /* what curl -F 'name=Ann' -F 'photo=@cat.jpg' sends */
    static const char body[] = "--------------------------d74496d66958873e\r\n"
                               "Content-Disposition: form-data; name=\"name\"\r\n\r\nAnn\r\n"
                               "--------------------------d74496d66958873e\r\n"
                               "Content-Disposition: form-data; name=\"photo\"; filename=\"cat.jpg\"\r\n"
                               "Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff\xe0JFIF\r\n"
                               "--------------------------d74496d66958873e--\r\n";
    const want_t w[] = {FIELD("name", "Ann"), PART("photo", "cat.jpg", "\xff\xd8\xff\xe0JFIF")};
    check_ok_ct("multipart/form-data; boundary=------------------------d74496d66958873e", body, sizeof body - 1, w,
                2, 1, __LINE__);
}

static int init(const char *ct, multipart_t *m) { return multipart_init(m, (str_t){ct, strlen(ct)}); }

TEST(multipart_content_type)
{
    static multipart_t m;
    CHECK_EQ_INT(init("multipart/form-data; boundary=abc", &m), 0);
    CHECK_EQ_MEM(m.delim, m.delim_len, "\r\n--abc");
    CHECK_EQ_INT(init("Multipart/Form-Data;BOUNDARY=\"a b'()+_,-./:=?Z\"", &m), 0);
    CHECK_EQ_MEM(m.delim, m.delim_len, "\r\n--a b'()+_,-./:=?Z");
    CHECK_EQ_INT(init("  multipart/form-data ; charset=utf-8; boundary=xyz ; foo=\"b;ar\"  ", &m), 0);
    CHECK_EQ_MEM(m.delim, m.delim_len, "\r\n--xyz");
    CHECK_EQ_INT(init("multipart/form-data; boundary=\"q\"", &m), 0);
    CHECK_EQ_MEM(m.delim, m.delim_len, "\r\n--q");
    static const char b70[] = "0123456789012345678901234567890123456789012345678901234567890123456789";
    char ct[160];
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%s", b70);
    CHECK_EQ_INT(init(ct, &m), 0);
    CHECK_EQ_INT(m.delim_len, 74);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=%sx", b70);
    CHECK_EQ_INT(init(ct, &m), -1);
    snprintf(ct, sizeof ct, "multipart/form-data; boundary=\"%sx\"", b70);
    CHECK_EQ_INT(init(ct, &m), -1);

    static const char *const bad[] = {
        "",
        "multipart/form-data",
        "multipart/form-data;",
        "multipart/form-data; charset=utf-8",
        "multipart/mixed; boundary=abc",
        "text/plain; boundary=abc",
        "multipart/form-datax; boundary=abc",
        "multipart; boundary=abc",
        "multipart/form-data boundary=abc",
        "multipart/form-data; boundary=",
        "multipart/form-data; boundary=\"\"",
        "multipart/form-data; boundary=\"abc \"",
        "multipart/form-data; boundary=\"abc",
        "multipart/form-data; boundary=a%b",
        "multipart/form-data; boundary=a\"b\"",
        "multipart/form-data; boundary=abc def",
        "multipart/form-data; boundary=abc; boundary=abc",
        "multipart/form-data; boundary=\"a{b\"",
        "multipart/form-data; =abc",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unit_context("\"%s\"", bad[i]);
        CHECK_EQ_INT(init(bad[i], &m), -1);
        /* a parser whose init failed refuses input */
        CHECK_EQ_INT(multipart_feed(&m, "--abc--", 7, true, &callbacks, NULL), -1);
        CHECK_EQ_INT(m.status, 400);
    }
    unit_context("%s", "");
}
