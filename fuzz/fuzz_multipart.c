/* libFuzzer harness: the streaming multipart/form-data parser, fed the way
 * src/upload.c feeds it.
 *
 * Input: a mode byte, two bytes that choose the feed sizes, then the body.
 * Modes 0-2 use a fixed Content-Type; mode 3 takes the Content-Type from
 * the input, up to its first LF, so that multipart_init's parameter parsing
 * is fuzzed too. The mode byte's upper bits may make a callback fail (as
 * a full disk or a size limit makes the upload handler fail): the n-th
 * part_begin or part_end call, or the part_data call that passes a byte
 * count. The parser must then stop with that status.
 *
 * The body is fed in pieces: each call gets the kept-back tail of the last
 * call plus the next piece, as one exactly sized heap copy, and the final
 * call says last = true. Fed whole in one call, the same body must give
 * the same verdict and the same parts. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "multipart.h"

static const char *const CONTENT_TYPES[] = {
    "multipart/form-data; boundary=XyZ",
    "multipart/form-data; boundary=\"----WebKitFormBoundary7MA4YWxkTrZu0gW\"",
    "Multipart/Form-Data;boundary=a",
};

#define CB_STATUS 507  /* what a failing callback returns */

typedef struct {
    unsigned fail_at;   /* the begin/end call that fails, counting from 1; 0 = none */
    uint64_t fail_over; /* part_data fails once more bytes than this came; 0 = never */
    unsigned calls;     /* begin/end calls so far */
    bool failed;        /* a callback returned a status */
    const char *fed;    /* the bytes of the current call */
    size_t fed_len;
    size_t data_end;    /* largest end offset of a data span in this call */
    bool in_part;
    size_t parts;
    uint64_t data_bytes;
    uint64_t hash;      /* of the events: begin, names, data bytes, end */
} events_t;

static int fail_if(events_t *e, bool fail)
{
    e->failed = fail;
    return fail ? CB_STATUS : 0;
}

static void check_name(const char *s)
{
    FUZZ_CHECK(s != NULL && strnlen(s, MULTIPART_MAX_NAME + 1) <= MULTIPART_MAX_NAME);
}

static int on_begin(void *ctx, const char *name, const char *filename)
{
    events_t *e = ctx;
    FUZZ_CHECK(!e->failed);  /* nothing after a failed callback */
    FUZZ_CHECK(!e->in_part);
    check_name(name);
    if (filename)
        check_name(filename);
    e->in_part = true;
    e->parts++;
    e->hash = fuzz_fnv(e->hash, "B", 1);
    e->hash = fuzz_fnv(e->hash, name, strlen(name) + 1);
    e->hash = filename ? fuzz_fnv(e->hash, filename, strlen(filename) + 1) : fuzz_fnv(e->hash, "N", 1);
    return fail_if(e, ++e->calls == e->fail_at);
}

static int on_data(void *ctx, const char *data, size_t len)
{
    events_t *e = ctx;
    FUZZ_CHECK(!e->failed);  /* nothing after a failed callback */
    FUZZ_CHECK(e->in_part);
    FUZZ_CHECK(len > 0 && data >= e->fed && data + len <= e->fed + e->fed_len);
    size_t end = (size_t)(data - e->fed) + len;
    if (end > e->data_end)
        e->data_end = end;
    e->data_bytes += len;
    e->hash = fuzz_fnv(e->hash, data, len);
    return fail_if(e, e->fail_over && e->data_bytes > e->fail_over);
}

static int on_end(void *ctx)
{
    events_t *e = ctx;
    FUZZ_CHECK(!e->failed);  /* nothing after a failed callback */
    FUZZ_CHECK(e->in_part);
    e->in_part = false;
    e->hash = fuzz_fnv(e->hash, "E", 1);
    return fail_if(e, ++e->calls == e->fail_at);
}

static const multipart_cb_t CB = {on_begin, on_data, on_end};

/* One feed call on an exactly sized copy of p[0..n). */
static ssize_t feed(multipart_t *m, const char *p, size_t n, bool last, events_t *e)
{
    char *copy = malloc(n ? n : 1);
    memcpy(copy, p, n);
    e->fed = copy;
    e->fed_len = n;
    e->data_end = 0;
    ssize_t r = multipart_feed(m, copy, n, last, &CB, e);
    free(copy);
    FUZZ_CHECK(r >= -1 && r <= (ssize_t)n);
    if (r < 0) {
        FUZZ_CHECK(m->status == (e->failed ? CB_STATUS : 400));  /* else bad framing */
        return r;
    }
    FUZZ_CHECK(!e->failed);  /* a failed callback fails the feed */
    FUZZ_CHECK(e->data_end <= (size_t)r);  /* data comes from consumed bytes only */
    if (last)
        FUZZ_CHECK((size_t)r == n && multipart_done(m) && !e->in_part);
    else
        FUZZ_CHECK(n - (size_t)r < m->delim_len);  /* the kept-back tail is a delimiter's proper prefix */
    return r;
}

typedef struct {
    uint32_t state;
    unsigned max_piece;
} pieces_t;

static size_t next_piece(pieces_t *p)
{
    p->state ^= p->state << 13;
    p->state ^= p->state >> 17;
    p->state ^= p->state << 5;
    return 1 + p->state % p->max_piece;
}

/* Feed body[0..len) in pieces; true when the body was accepted. */
static bool run_pieces(multipart_t *m, const char *body, size_t len, pieces_t pc, events_t *e)
{
    size_t start = 0, avail = 0;  /* body[start..avail) is what the next call sees */
    for (;;) {
        size_t piece = next_piece(&pc);
        avail = len - avail <= piece ? len : avail + piece;
        bool last = avail == len;
        ssize_t r = feed(m, body + start, avail - start, last, e);
        if (r < 0) {
            /* a failed parser stays failed */
            FUZZ_CHECK(multipart_feed(m, "x", 1, false, &CB, e) == -1);
            return false;
        }
        start += (size_t)r;
        if (last)
            return true;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    unsigned mode = data[0] % 4;
    static const unsigned sizes[] = {1, 2, 3, 5, 8, 16, 64, 4096};
    pieces_t pc = {(uint32_t)data[1] << 8 | data[2] | 0x10000u, sizes[data[1] & 7]};
    const char *body = (const char *)data + 3;
    size_t len = size - 3;
    str_t ctype;
    if (mode < 3) {
        ctype = (str_t){CONTENT_TYPES[mode], strlen(CONTENT_TYPES[mode])};
    } else {
        const char *lf = memchr(body, '\n', len);
        if (!lf)
            return 0;
        ctype = (str_t){body, (size_t)(lf - body)};
        len -= ctype.len + 1;
        body = lf + 1;
    }
    static multipart_t a, b;  /* large: keep them off the stack */
    int ra = multipart_init(&a, ctype);
    int rb = multipart_init(&b, ctype);
    FUZZ_CHECK(ra == rb && (ra == 0 || ra == -1));
    if (ra < 0) {
        FUZZ_CHECK(multipart_feed(&a, body, len, true, &CB, NULL) == -1);
        return 0;
    }
    FUZZ_CHECK(a.delim_len > 4 && a.delim_len <= 4 + MULTIPART_MAX_BOUNDARY);
    FUZZ_CHECK(memcmp(a.delim, "\r\n--", 4) == 0 && strlen(a.delim) == a.delim_len);

    unsigned spec = data[0] >> 2;  /* 0: no callback fails; 1-31: begin/end; 32-63: data */
    events_t whole = {.hash = FUZZ_FNV_INIT};
    if (spec >= 32)
        whole.fail_over = (spec - 31) * 16;
    else
        whole.fail_at = spec;
    events_t split = whole;
    ssize_t r = feed(&a, body, len, true, &whole);
    bool ok_whole = r >= 0;
    bool ok_split = run_pieces(&b, body, len, pc, &split);
    FUZZ_CHECK(ok_whole == ok_split);
    FUZZ_CHECK(a.status == b.status);
    if (ok_whole) {
        FUZZ_CHECK(whole.parts == split.parts && whole.data_bytes == split.data_bytes);
        FUZZ_CHECK(whole.hash == split.hash);
        FUZZ_CHECK(whole.data_bytes <= len);
    }
    return 0;
}
