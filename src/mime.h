/* Content-Type by file extension. */
#ifndef WEBSERV_MIME_H
#define WEBSERV_MIME_H

#include <stdbool.h>
#include <stddef.h>

/* The MIME type for a file name (by its extension, case-insensitive);
 * "application/octet-stream" when unknown. Text types carry
 * "; charset=utf-8". */
const char *mime_type(const char *name, size_t len);

typedef struct {
    const char *ext;   /* lower case, no dot */
    const char *type;
} mime_entry_t;

#define MIME_CHARSET_BUILTIN ((const char *)1)  /* the built-in table's own (utf-8 on text) */

/* The types a location gives files (`types`, `default_type`, `charset`). */
typedef struct {
    bool builtin;               /* the built-in table (no `types` block) */
    const mime_entry_t *types;  /* else these, sorted by ext */
    size_t ntypes;
    const char *default_type;
    const char *charset;        /* NULL: none; MIME_CHARSET_BUILTIN; else appended to charset types */
    unsigned id;                /* distinct for every map a configuration makes (the file cache keys on it) */
} mime_map_t;

/* The Content-Type of a file name under map m (NULL: the built-in
 * behaviour, mime_type's) into out. Returns its length; 0 when it does
 * not fit. */
size_t mime_content_type(const mime_map_t *m, const char *name, size_t len, char *out, size_t size);

/* Sort a types table by extension (for mime_content_type's search). */
void mime_sort(mime_entry_t *types, size_t n);

#endif
