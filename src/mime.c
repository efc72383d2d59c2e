/* Content-Type by file extension: a sorted static table, binary search. */
#include "mime.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MIME_DEFAULT "application/octet-stream"
#define UTF8 "; charset=utf-8"
#define MIME_MAX_EXT 16  /* longer than any extension in the table */

/* Sorted by ext (strcmp order): mime_type() bisects it; the unit tests
 * look every entry up, which fails if the order is broken. */
static const mime_entry_t mime_table[] = {
    {"7z", "application/x-7z-compressed"},
    {"aac", "audio/aac"},
    {"apng", "image/apng"},
    {"atom", "application/atom+xml"},
    {"avi", "video/x-msvideo"},
    {"avif", "image/avif"},
    {"bmp", "image/bmp"},
    {"bz2", "application/x-bzip2"},
    {"c", "text/plain" UTF8},
    {"cjs", "application/javascript" UTF8},
    {"conf", "text/plain" UTF8},
    {"cpp", "text/plain" UTF8},
    {"css", "text/css" UTF8},
    {"csv", "text/csv" UTF8},
    {"doc", "application/msword"},
    {"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    {"eot", "application/vnd.ms-fontobject"},
    {"epub", "application/epub+zip"},
    {"flac", "audio/flac"},
    {"gif", "image/gif"},
    {"gz", "application/gzip"},
    {"h", "text/plain" UTF8},
    {"htm", "text/html" UTF8},
    {"html", "text/html" UTF8},
    {"ico", "image/x-icon"},
    {"ics", "text/calendar" UTF8},
    {"ini", "text/plain" UTF8},
    {"jar", "application/java-archive"},
    {"jpeg", "image/jpeg"},
    {"jpg", "image/jpeg"},
    {"js", "application/javascript" UTF8},
    {"json", "application/json" UTF8},
    {"jsonld", "application/ld+json"},
    {"log", "text/plain" UTF8},
    {"m4a", "audio/mp4"},
    {"m4v", "video/mp4"},
    {"map", "application/json" UTF8},
    {"md", "text/markdown" UTF8},
    {"mid", "audio/midi"},
    {"midi", "audio/midi"},
    {"mjs", "application/javascript" UTF8},
    {"mkv", "video/x-matroska"},
    {"mov", "video/quicktime"},
    {"mp3", "audio/mpeg"},
    {"mp4", "video/mp4"},
    {"mpeg", "video/mpeg"},
    {"mpg", "video/mpeg"},
    {"odp", "application/vnd.oasis.opendocument.presentation"},
    {"ods", "application/vnd.oasis.opendocument.spreadsheet"},
    {"odt", "application/vnd.oasis.opendocument.text"},
    {"oga", "audio/ogg"},
    {"ogg", "audio/ogg"},
    {"ogv", "video/ogg"},
    {"opus", "audio/opus"},
    {"otf", "font/otf"},
    {"pdf", "application/pdf"},
    {"php", "text/plain" UTF8},
    {"png", "image/png"},
    {"ppt", "application/vnd.ms-powerpoint"},
    {"pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"},
    {"ps", "application/postscript"},
    {"py", "text/plain" UTF8},
    {"rar", "application/vnd.rar"},
    {"rss", "application/rss+xml"},
    {"rtf", "application/rtf"},
    {"sh", "text/plain" UTF8},
    {"svg", "image/svg+xml"},
    {"tar", "application/x-tar"},
    {"tgz", "application/gzip"},
    {"tif", "image/tiff"},
    {"tiff", "image/tiff"},
    {"toml", "text/plain" UTF8},
    {"ttf", "font/ttf"},
    {"txt", "text/plain" UTF8},
    {"vtt", "text/vtt" UTF8},
    {"wasm", "application/wasm"},
    {"wav", "audio/wav"},
    {"webm", "video/webm"},
    {"webmanifest", "application/manifest+json"},
    {"webp", "image/webp"},
    {"woff", "font/woff"},
    {"woff2", "font/woff2"},
    {"xhtml", "application/xhtml+xml"},
    {"xls", "application/vnd.ms-excel"},
    {"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    {"xml", "application/xml"},
    {"xz", "application/x-xz"},
    {"yaml", "text/yaml" UTF8},
    {"yml", "text/yaml" UTF8},
    {"zip", "application/zip"},
};

static int entry_cmp(const void *key, const void *elem)
{
    return strcmp(key, ((const mime_entry_t *)elem)->ext);
}

/* The extension of a file name, lower case, into ext (MIME_MAX_EXT + 1
 * bytes). Returns false when there is none (or it is too long to be in
 * a table). The extension follows the last '.' of the last path
 * component; a leading dot (".bashrc") marks a hidden file, not an
 * extension. */
static bool extension(const char *name, size_t len, char *ext)
{
    size_t base = len;
    while (base > 0 && name[base - 1] != '/')
        base--;
    size_t dot = len;
    while (dot > base && name[dot - 1] != '.')
        dot--;
    if (dot <= base + 1)
        return false;
    size_t n = len - dot;
    if (n == 0 || n > MIME_MAX_EXT)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[dot + i];
        if (c == '\0')
            return false;
        ext[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
    }
    ext[n] = '\0';
    return true;
}

static const char *lookup(const mime_entry_t *types, size_t n, const char *ext)
{
    const mime_entry_t *e = bsearch(ext, types, n, sizeof(*types), entry_cmp);
    return e ? e->type : NULL;
}

const char *mime_type(const char *name, size_t len)
{
    char ext[MIME_MAX_EXT + 1];
    const char *t = extension(name, len, ext) ? lookup(mime_table, sizeof mime_table / sizeof mime_table[0], ext) : NULL;
    return t ? t : MIME_DEFAULT;
}

/* nginx's charset_types: the types `charset` applies to. */
static bool charset_type(const char *type, size_t n)
{
    static const char *const types[] = {"text/html", "text/xml", "text/plain", "text/vnd.wap.wml",
                                        "application/javascript", "application/rss+xml"};
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
        if (strlen(types[i]) == n && strncasecmp(types[i], type, n) == 0)
            return true;
    return false;
}

size_t mime_content_type(const mime_map_t *m, const char *name, size_t len, char *out, size_t size)
{
    if (!m) {
        int k = snprintf(out, size, "%s", mime_type(name, len));
        return k > 0 && (size_t)k < size ? (size_t)k : 0;
    }
    char ext[MIME_MAX_EXT + 1];
    bool has_ext = extension(name, len, ext);
    const char *type = NULL;
    size_t n = 0;
    if (has_ext)
        type = m->builtin ? lookup(mime_table, sizeof mime_table / sizeof mime_table[0], ext)
                          : lookup(m->types, m->ntypes, ext);
    if (!type)
        type = m->default_type;
    n = strlen(type);
    if (m->builtin && m->charset != MIME_CHARSET_BUILTIN && n > strlen(UTF8) &&
        strcmp(type + n - strlen(UTF8), UTF8) == 0)
        n -= strlen(UTF8);  /* the built-in table's charset gives way to `charset` */
    int k = m->charset && m->charset != MIME_CHARSET_BUILTIN && charset_type(type, n)
                ? snprintf(out, size, "%.*s; charset=%s", (int)n, type, m->charset)
                : snprintf(out, size, "%.*s", (int)n, type);
    return k > 0 && (size_t)k < size ? (size_t)k : 0;
}

static int sort_cmp(const void *a, const void *b)
{
    return strcmp(((const mime_entry_t *)a)->ext, ((const mime_entry_t *)b)->ext);
}

void mime_sort(mime_entry_t *types, size_t n) { qsort(types, n, sizeof(*types), sort_cmp); }
