/* mime_type: table lookups, case, extension rules. */
#include <string.h>

#include "mime.h"
#include "unit.h"

#define OCTET "application/octet-stream"

static const char *mt(const char *name)
{
    return mime_type(name, strlen(name));
}

static void check_mime(const char *name, const char *expected, int line)
{
    unit_context("line %d: mime_type(\"%s\")", line, name);
    CHECK_EQ_STR(mt(name), expected);
    unit_context("%s", "");
}

#define MIME(name, expected) check_mime(name, expected, __LINE__)

/* Every extension the brief asks for, in table order or not: a lookup that
 * misses one of these means the table is unsorted or the entry is gone. */
TEST(mime_required_types)
{
    static const struct {
        const char *ext, *type;
    } want[] = {
        {"html", "text/html; charset=utf-8"},
        {"htm", "text/html; charset=utf-8"},
        {"css", "text/css; charset=utf-8"},
        {"js", "application/javascript; charset=utf-8"},
        {"mjs", "application/javascript; charset=utf-8"},
        {"json", "application/json; charset=utf-8"},
        {"xml", "application/xml"},
        {"txt", "text/plain; charset=utf-8"},
        {"csv", "text/csv; charset=utf-8"},
        {"md", "text/markdown; charset=utf-8"},
        {"svg", "image/svg+xml"},
        {"png", "image/png"},
        {"jpg", "image/jpeg"},
        {"jpeg", "image/jpeg"},
        {"gif", "image/gif"},
        {"webp", "image/webp"},
        {"avif", "image/avif"},
        {"ico", "image/x-icon"},
        {"bmp", "image/bmp"},
        {"tif", "image/tiff"},
        {"tiff", "image/tiff"},
        {"woff", "font/woff"},
        {"woff2", "font/woff2"},
        {"ttf", "font/ttf"},
        {"otf", "font/otf"},
        {"eot", "application/vnd.ms-fontobject"},
        {"mp3", "audio/mpeg"},
        {"ogg", "audio/ogg"},
        {"wav", "audio/wav"},
        {"m4a", "audio/mp4"},
        {"flac", "audio/flac"},
        {"mp4", "video/mp4"},
        {"webm", "video/webm"},
        {"ogv", "video/ogg"},
        {"avi", "video/x-msvideo"},
        {"mov", "video/quicktime"},
        {"mkv", "video/x-matroska"},
        {"pdf", "application/pdf"},
        {"zip", "application/zip"},
        {"gz", "application/gzip"},
        {"tgz", "application/gzip"},
        {"bz2", "application/x-bzip2"},
        {"xz", "application/x-xz"},
        {"7z", "application/x-7z-compressed"},
        {"tar", "application/x-tar"},
        {"rar", "application/vnd.rar"},
        {"wasm", "application/wasm"},
        {"map", "application/json; charset=utf-8"},
        {"webmanifest", "application/manifest+json"},
        {"rss", "application/rss+xml"},
        {"atom", "application/atom+xml"},
        {"jsonld", "application/ld+json"},
        {"yaml", "text/yaml; charset=utf-8"},
        {"yml", "text/yaml; charset=utf-8"},
        {"sh", "text/plain; charset=utf-8"},
        {"php", "text/plain; charset=utf-8"},
        {"py", "text/plain; charset=utf-8"},
        {"c", "text/plain; charset=utf-8"},
        {"h", "text/plain; charset=utf-8"},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char name[64] = "file.";
        strcat(name, want[i].ext);
        unit_context("mime_type(\"%s\")", name);
        CHECK_EQ_STR(mt(name), want[i].type);
    }
}

/* The charset rule: text types and JavaScript/JSON carry it, nothing else. */
TEST(mime_charset_rule)
{
    static const char *names[] = {
        "a.html", "a.htm", "a.css", "a.js", "a.mjs", "a.json", "a.xml", "a.txt", "a.csv",
        "a.md", "a.svg", "a.png", "a.jpg", "a.gif", "a.webp", "a.avif", "a.ico", "a.bmp",
        "a.tiff", "a.woff", "a.woff2", "a.ttf", "a.otf", "a.eot", "a.mp3", "a.ogg", "a.wav",
        "a.m4a", "a.flac", "a.mp4", "a.webm", "a.ogv", "a.avi", "a.mov", "a.mkv", "a.pdf",
        "a.zip", "a.gz", "a.tgz", "a.bz2", "a.xz", "a.7z", "a.tar", "a.rar", "a.wasm", "a.map",
        "a.webmanifest", "a.rss", "a.atom", "a.jsonld", "a.yaml", "a.yml", "a.sh", "a.php",
        "a.py", "a.c", "a.h", "a.unknownext",
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *t = mt(names[i]);
        unit_context("mime_type(\"%s\") = \"%s\"", names[i], t);
        int charset = strstr(t, "; charset=utf-8") != NULL;
        int wants = strncmp(t, "text/", 5) == 0 || strncmp(t, "application/javascript", 22) == 0 ||
                    strncmp(t, "application/json", 16) == 0;
        /* application/json... also matches a future application/json-seq;
         * exact type prefix plus ';' keeps the rule honest. */
        if (strncmp(t, "application/json", 16) == 0)
            wants = t[16] == ';' || t[16] == '\0';
        CHECK_EQ_INT(charset, wants);
        if (charset)
            CHECK_EQ_STR(strstr(t, ";"), "; charset=utf-8");
    }
}

TEST(mime_case_insensitive)
{
    MIME("INDEX.HTML", "text/html; charset=utf-8");
    MIME("Photo.JpG", "image/jpeg");
    MIME("font.WOFF2", "font/woff2");
    MIME("x.Js", "application/javascript; charset=utf-8");
    MIME("a.7Z", "application/x-7z-compressed");
    MIME("a.WebManifest", "application/manifest+json");
}

TEST(mime_extension_rules)
{
    MIME("", OCTET);
    MIME("README", OCTET);
    MIME("Makefile", OCTET);
    MIME("file.", OCTET);
    MIME(".", OCTET);
    MIME("..", OCTET);
    MIME(".bashrc", OCTET);
    MIME(".html", OCTET);
    MIME("/srv/www/.htaccess", OCTET);
    MIME("/srv/www/.css", OCTET);
    MIME("archive.tar.gz", "application/gzip");
    MIME("archive.gz.tar", "application/x-tar");
    MIME("x.min.js", "application/javascript; charset=utf-8");
    MIME("a.unknownext", OCTET);
    MIME("a.htmlx", OCTET);
    MIME("a.ht", OCTET);
    MIME("a.verylongextensionthatisnotinthetable", OCTET);
    MIME("a.webmanifestx", OCTET);
    MIME(".config.json", "application/json; charset=utf-8");
    MIME("/www/img/logo.png", "image/png");
    MIME("/www/dir.d/README", OCTET);
    MIME("/www/dir.html/", OCTET);
    MIME("/www/dir.d/.hidden", OCTET);
    MIME("a.png ", OCTET);
}

TEST(mime_uses_len_not_nul)
{
    /* Only name[0..len) counts: "page.html.bak" cut after ".html". */
    const char *s = "page.html.bak";
    CHECK_EQ_STR(mime_type(s, 9), "text/html; charset=utf-8");
    CHECK_EQ_STR(mime_type(s, 13), OCTET);
    CHECK_EQ_STR(mime_type(s, 4), OCTET);
    CHECK_EQ_STR(mime_type(s, 0), OCTET);
}
