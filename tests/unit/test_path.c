/* path_normalize, path_url_encode, path_html_escape. */
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "path.h"
#include "unit.h"

/* Normalize `in` (len bytes) into an exactly sized heap buffer, so ASan
 * catches any write past in.len + 1. Returns the result or -1; *out gets a
 * copy of the text (caller frees). */
static long normalize(const char *in, size_t len, char **out)
{
    char *o = malloc(len + 1);
    long n = path_normalize((str_t){in, len}, o);
    *out = o;
    return n;
}

static void check_norm(const char *in, const char *expected, int line)
{
    char *out;
    long n = normalize(in, strlen(in), &out);
    unit_context("line %d: path_normalize(\"%s\")", line, in);
    if (expected == NULL) {
        CHECK_EQ_INT(n, -1);
    } else {
        CHECK_EQ_INT(n, (long)strlen(expected));
        if (n >= 0) {
            CHECK_EQ_STR(out, expected);
            CHECK_EQ_INT(out[n], '\0');
        }
    }
    free(out);
    unit_context("%s", "");
}

#define NORM(in, expected) check_norm(in, expected, __LINE__)

TEST(path_plain)
{
    NORM("/", "/");
    NORM("/a", "/a");
    NORM("/a/b/c.html", "/a/b/c.html");
    NORM("/a/", "/a/");
    NORM("/a/b/", "/a/b/");
    NORM("/...", "/...");
    NORM("/a..b/.c/..d/c.", "/a..b/.c/..d/c.");
    NORM("/~user/x-y_z", "/~user/x-y_z");
}

TEST(path_repeated_slashes)
{
    NORM("//", "/");
    NORM("///", "/");
    NORM("//a", "/a");
    NORM("/a//b", "/a/b");
    NORM("/a///b//", "/a/b/");
    NORM("/a//", "/a/");
}

TEST(path_dot_segments)
{
    NORM("/.", "/");
    NORM("/./", "/");
    NORM("/./a", "/a");
    NORM("/a/.", "/a/");
    NORM("/a/./", "/a/");
    NORM("/a/./b", "/a/b");
    NORM("/a/..", "/");
    NORM("/a/../", "/");
    NORM("/a/../b", "/b");
    NORM("/a/b/..", "/a/");
    NORM("/a/b/../", "/a/");
    NORM("/a/b/../c", "/a/c");
    NORM("/a/b/../../c", "/c");
    NORM("/a/b/c/./../../g", "/a/g");
    NORM("/a/./b/.././c/", "/a/c/");
    NORM("/a//..", "/");
    NORM("/a/b//../c", "/a/c");
    NORM("/a/.../b", "/a/.../b");
    NORM("/a/..b", "/a/..b");
    NORM("/a/b.", "/a/b.");
}

TEST(path_climbing_above_root)
{
    NORM("/..", NULL);
    NORM("/../", NULL);
    NORM("/../a", NULL);
    NORM("/a/../..", NULL);
    NORM("/a/../../b", NULL);
    NORM("/a/b/../../../etc/passwd", NULL);
    NORM("//..", NULL);
    NORM("/./..", NULL);
    NORM("/%2e%2e", NULL);
    NORM("/%2E%2E/etc", NULL);
    NORM("/a/%2e%2e/%2e%2e", NULL);
    NORM("/.%2e/x", NULL);
}

TEST(path_decoded_dots_are_dot_segments)
{
    NORM("/a/%2e", "/a/");
    NORM("/a/%2e%2e", "/");
    NORM("/a/b/%2E%2e/c", "/a/c");
    NORM("/a/.%2E/c", "/c");
}

TEST(path_percent_decoding)
{
    NORM("/%41", "/A");
    NORM("/a%20b", "/a b");
    NORM("/%7e%7E", "/~~");
    NORM("/%e2%82%ac", "/\xe2\x82\xac");
    NORM("/%E2%82%AC", "/\xe2\x82\xac");
    NORM("/%3F%23", "/?#");
    NORM("/%25", "/%");
    NORM("/%2541", "/%41");  /* decoded once only */
    NORM("/%01%1f%7f", "/\x01\x1f\x7f");
    NORM("/a%5c..", "/a\\..");
    NORM("/%ff", "/\xff");
}

TEST(path_bad_input)
{
    NORM("", NULL);
    NORM("a", NULL);
    NORM("a/b", NULL);
    NORM(".", NULL);
    NORM("%2F", NULL);
    NORM("/%zz", NULL);
    NORM("/%4", NULL);
    NORM("/%", NULL);
    NORM("/a%", NULL);
    NORM("/a%4g", NULL);
    NORM("/a%g4", NULL);
    NORM("/%%41", NULL);
    NORM("/% 1", NULL);
    NORM("/%00", NULL);
    NORM("/a%00.html", NULL);
    NORM("/%2f", NULL);
    NORM("/%2F", NULL);
    NORM("/a%2f..%2f..%2fetc", NULL);
    NORM("/..%2f", NULL);
}

TEST(path_raw_nul_rejected)
{
    char *out;
    long n = normalize("/a\0b", 4, &out);
    CHECK_EQ_INT(n, -1);
    free(out);
}

TEST(path_not_nul_terminated_input)
{
    /* in.ptr need not be a C string: only in.len bytes are read. */
    char *raw = malloc(7);
    memcpy(raw, "/a/../b", 7);
    char *out;
    long n = normalize(raw, 7, &out);
    CHECK_EQ_INT(n, 2);
    CHECK_EQ_STR(out, "/b");
    free(out);
    /* A '%' at the very end of the slice must not read past it. */
    memcpy(raw, "/abc%41", 7);
    n = normalize(raw, 5, &out);
    CHECK_EQ_INT(n, -1);
    free(out);
    n = normalize(raw, 6, &out);
    CHECK_EQ_INT(n, -1);
    free(out);
    free(raw);
}

/* Output never needs more than in.len + 1 bytes: checked by ASan through
 * the exact-size allocation, and here against a canary for every input. */
TEST(path_output_bound)
{
    static const char *inputs[] = {
        "/", "//", "/.", "/..", "/a/..", "/%41", "/%41%42%43/", "/a//b//c//", "/./././",
        "/a/b/c/../../..", "/%2e/", "/x%2e%2e", "/%2e%2e%2e",
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++) {
        size_t len = strlen(inputs[i]);
        char out[64];
        memset(out, '#', sizeof out);
        long n = path_normalize((str_t){inputs[i], len}, out);
        unit_context("input \"%s\"", inputs[i]);
        CHECK(n <= (long)len);
        CHECK_EQ_INT(out[len + 1], '#');
        if (n >= 0)
            CHECK_EQ_INT(out[n], '\0');
    }
    unit_context("%s", "");
}

static char *encode(int (*fn)(buf_t *, const char *, size_t), const char *s, size_t n, int *rc)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    *rc = fn(&b, s, n);
    char *r = malloc(buf_len(&b) + 1);
    if (buf_len(&b))
        memcpy(r, buf_head(&b), buf_len(&b));
    r[buf_len(&b)] = '\0';
    buf_free(&b);
    return r;
}

static void check_encode(int (*fn)(buf_t *, const char *, size_t), const char *in, size_t n,
                         const char *expected, int line)
{
    int rc;
    char *got = encode(fn, in, n, &rc);
    unit_context("line %d", line);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_STR(got, expected);
    unit_context("%s", "");
    free(got);
}

#define URL(in, expected) check_encode(path_url_encode, in, strlen(in), expected, __LINE__)
#define HTML(in, expected) check_encode(path_html_escape, in, strlen(in), expected, __LINE__)

TEST(path_url_encode)
{
    URL("", "");
    URL("/", "/");
    URL("/abcXYZ019-._~/", "/abcXYZ019-._~/");
    URL("a b", "a%20b");
    URL("100%", "100%25");
    URL("?#&=+;:@!$'()*,", "%3F%23%26%3D%2B%3B%3A%40%21%24%27%28%29%2A%2C");
    URL("\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D");
    URL("\xe2\x82\xac", "%E2%82%AC");
    URL("\x01\x1f\x7f\xff", "%01%1F%7F%FF");
    URL("/dir name/file#1.txt", "/dir%20name/file%231.txt");
    check_encode(path_url_encode, "a\0b", 3, "a%00b", __LINE__);
}

TEST(path_url_encode_appends)
{
    buf_t b;
    buf_init(&b, 1 << 20);
    CHECK_EQ_INT(buf_appends(&b, "<a href=\""), 0);
    CHECK_EQ_INT(path_url_encode(&b, "/x y", 4), 0);
    CHECK_EQ_INT(path_url_encode(&b, "/z", 2), 0);
    CHECK_EQ_MEM(buf_head(&b), buf_len(&b), "<a href=\"/x%20y/z");
    buf_free(&b);
}

TEST(path_url_encode_limit)
{
    /* Growing past the buffer's limit fails with -1. */
    buf_t b;
    buf_init(&b, 8);
    CHECK_EQ_INT(path_url_encode(&b, "   ", 3), -1);
    buf_free(&b);
    buf_init(&b, 8);
    CHECK_EQ_INT(path_html_escape(&b, "&&&", 3), -1);
    buf_free(&b);
}

TEST(path_html_escape)
{
    HTML("", "");
    HTML("plain text/with.dots", "plain text/with.dots");
    HTML("&", "&amp;");
    HTML("<script>alert('x')</script>", "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    HTML("a\"b", "a&quot;b");
    HTML("&amp;", "&amp;amp;");
    HTML("<>&\"'", "&lt;&gt;&amp;&quot;&#39;");
    HTML("caf\xc3\xa9 %20", "caf\xc3\xa9 %20");
}

TEST(path_html_escape_keeps_nul_bytes)
{
    int rc;
    buf_t b;
    buf_init(&b, 1 << 20);
    rc = path_html_escape(&b, "a\0<", 3);
    CHECK_EQ_INT(rc, 0);
    CHECK_EQ_INT(buf_len(&b), 6);
    CHECK(buf_len(&b) == 6 && memcmp(buf_head(&b), "a\0&lt;", 6) == 0);
    buf_free(&b);
}
