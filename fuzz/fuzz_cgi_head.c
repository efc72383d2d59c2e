/* libFuzzer harness: the CGI response-header parser.
 *
 * Input: what a CGI script writes to stdout. A complete header block is no
 * longer than the input or CGI_MAX_HEAD, ends in a blank line, and every
 * field points inside it. src/cgi.c calls the parser again as output
 * arrives, so a prefix of a complete block must read as "need more". */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "cgi_parse.h"
#include "fuzz.h"

static bool str_in(str_t s, const char *d, size_t n)
{
    if (s.len == 0)
        return true;
    return s.ptr >= d && s.ptr + s.len <= d + n;
}

static void check_clean(str_t v)
{
    for (size_t k = 0; k < v.len; k++) {
        unsigned char c = (unsigned char)v.ptr[k];
        FUZZ_CHECK(c >= 0x20 ? c != 0x7f : c == '\t');  /* no header injection */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    static cgi_head_t h;  /* large: keep it off the stack */
    ssize_t n = cgi_parse_head(d, size, &h);
    FUZZ_CHECK(n >= -1 && (n < 0 || (size_t)n <= size) && n <= CGI_MAX_HEAD);
    if (n == 0)
        FUZZ_CHECK(size < CGI_MAX_HEAD);
    if (n <= 0)
        return 0;
    FUZZ_CHECK(d[n - 1] == '\n');
    FUZZ_CHECK(h.status == 0 || (h.status >= 100 && h.status <= 999));
    FUZZ_CHECK(h.content_length >= -1);
    FUZZ_CHECK(str_in(h.location, d, (size_t)n) && str_in(h.content_type, d, (size_t)n));
    check_clean(h.location);
    check_clean(h.content_type);
    FUZZ_CHECK(h.nfields <= CGI_MAX_FIELDS);
    for (size_t i = 0; i < h.nfields; i++) {
        str_t name = h.fields[i].name, value = h.fields[i].value;
        FUZZ_CHECK(name.len > 0 && str_in(name, d, (size_t)n) && str_in(value, d, (size_t)n));
        FUZZ_CHECK(memchr(name.ptr, ':', name.len) == NULL);
        for (size_t k = 0; k < name.len; k++)
            FUZZ_CHECK(name.ptr[k] > 0x20 && name.ptr[k] < 0x7f);
        check_clean(value);
    }
    /* The same block arriving in two parts: the first part is not enough
     * (an exactly sized copy, so a read past it is caught). */
    size_t cut = (size_t)n - 1 - (size_t)data[0] % (size_t)n;
    char *p = malloc(cut ? cut : 1);
    memcpy(p, d, cut);
    static cgi_head_t h2;
    FUZZ_CHECK(cgi_parse_head(p, cut, &h2) == 0);
    free(p);
    /* Bytes after the block (the body) change nothing. */
    FUZZ_CHECK(cgi_parse_head(d, (size_t)n, &h2) == n && h2.nfields == h.nfields);
    FUZZ_CHECK(h2.status == h.status && h2.content_length == h.content_length);
    return 0;
}
