/* libFuzzer harness: URI path decoding and normalisation, and the URL and
 * HTML escapes.
 *
 * Input: a raw request path. A normalised path is no longer than the raw
 * one, starts with '/', holds no NUL, no empty or dot segment, and comes
 * back unchanged through path_url_encode and path_normalize. The escapes
 * must round-trip, and fail cleanly when their buffer's limit is reached. */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "path.h"

static bool url_safe(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~' || c == '/';
}

static void check_normalized(const char *out, long n, size_t in_len)
{
    FUZZ_CHECK(n >= 1 && (size_t)n <= in_len);
    FUZZ_CHECK(out[0] == '/' && out[n] == '\0' && strlen(out) == (size_t)n);
    FUZZ_CHECK(strstr(out, "//") == NULL);
    FUZZ_CHECK(strstr(out, "/./") == NULL && strstr(out, "/../") == NULL);
    FUZZ_CHECK(!(n >= 2 && memcmp(out + n - 2, "/.", 2) == 0));
    FUZZ_CHECK(!(n >= 3 && memcmp(out + n - 3, "/..", 3) == 0));
}

static void check_url_encode(const char *s, size_t n, size_t limit)
{
    buf_t b;
    buf_init(&b, limit);
    if (path_url_encode(&b, s, n) == 0) {
        size_t o = 0, len = buf_len(&b);
        const char *e = len ? buf_head(&b) : "";  /* buf_head of a never-used buffer is NULL + 0 */
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)e[i];
            if (c == '%') {
                FUZZ_CHECK(i + 2 < len && strchr("0123456789ABCDEF", e[i + 1]) && strchr("0123456789ABCDEF", e[i + 2]));
                unsigned v = (unsigned)((e[i + 1] <= '9' ? e[i + 1] - '0' : e[i + 1] - 'A' + 10) << 4 |
                                        (e[i + 2] <= '9' ? e[i + 2] - '0' : e[i + 2] - 'A' + 10));
                FUZZ_CHECK(o < n && (unsigned char)s[o] == v && !url_safe((unsigned char)v));
                i += 2;
            } else {
                FUZZ_CHECK(url_safe(c) && o < n && s[o] == (char)c);
            }
            o++;
        }
        FUZZ_CHECK(o == n);
    } else {
        FUZZ_CHECK(n * 3 > limit);  /* only the limit makes it fail */
    }
    buf_free(&b);
}

static void check_html_escape(const char *s, size_t n, size_t limit)
{
    static const char *const ent[] = {"&amp;", "&lt;", "&gt;", "&quot;", "&#39;"};
    static const char raw[] = "&<>\"'";
    buf_t b;
    buf_init(&b, limit);
    if (path_html_escape(&b, s, n) == 0) {
        size_t o = 0, len = buf_len(&b);
        const char *e = len ? buf_head(&b) : "";
        for (size_t i = 0; i < len; o++) {
            FUZZ_CHECK(o < n);
            if (e[i] == '&') {
                size_t k = 0;
                while (k < 5 && strncmp(e + i, ent[k], strlen(ent[k])) != 0)
                    k++;
                FUZZ_CHECK(k < 5 && i + strlen(ent[k]) <= len && s[o] == raw[k]);
                i += strlen(ent[k]);
            } else {
                FUZZ_CHECK(!strchr("<>\"'", e[i]) || e[i] == '\0');
                FUZZ_CHECK(s[o] == e[i]);
                i++;
            }
        }
        FUZZ_CHECK(o == n);
    } else {
        FUZZ_CHECK(n > 0 && limit < 6 * n);
    }
    buf_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    str_t in = {(const char *)data, size};
    char *out = malloc(size + 1);  /* exactly what path.h asks for */
    long n = path_normalize(in, out);
    FUZZ_CHECK(n >= -1);
    if (n >= 0) {
        check_normalized(out, n, size);
        /* idempotent on its own output, once re-encoded */
        buf_t b;
        buf_init(&b, 3 * (size_t)n + 1);
        FUZZ_CHECK(path_url_encode(&b, out, (size_t)n) == 0);
        size_t elen = buf_len(&b);
        char *enc = malloc(elen), *again = malloc(elen + 1);
        memcpy(enc, buf_head(&b), elen);
        buf_free(&b);
        long m = path_normalize((str_t){enc, elen}, again);
        FUZZ_CHECK(m == n && memcmp(again, out, (size_t)n + 1) == 0);
        free(enc);
        free(again);
    } else {
        FUZZ_CHECK(size == 0 || data[0] != '/' || memchr(data, '%', size) || memchr(data, '\0', size) ||
                   memmem(data, size, "..", 2));
    }
    free(out);
    /* The escapes take any bytes; a limit from the input makes them fail sometimes. */
    size_t limit = size ? (size_t)data[size - 1] * 8 : 1;
    check_url_encode((const char *)data, size, 1 << 20);
    check_url_encode((const char *)data, size, limit);
    check_html_escape((const char *)data, size, 1 << 20);
    check_html_escape((const char *)data, size, limit);
    return 0;
}
