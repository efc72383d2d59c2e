/* URI path decoding and normalisation; escaping for HTML and URLs. */
#ifndef WEBSERV_PATH_H
#define WEBSERV_PATH_H

#include <stddef.h>

#include "buf.h"

/* Decode %XX escapes and remove dot-segments and repeated slashes from a
 * raw URI path (starting with '/'). out must hold at least in.len + 1
 * bytes; it is NUL-terminated. Returns the output length, or -1 for bad
 * input: bad escape, encoded NUL or '/', a path not starting with '/',
 * dot-segments climbing above '/'. */
long path_normalize(str_t in, char *out);

/* Percent-encode a path for use in a URL (keeps '/' and unreserved bytes). */
int path_url_encode(buf_t *b, const char *s, size_t n);
/* Escape &, <, >, ", ' for HTML text and attributes. */
int path_html_escape(buf_t *b, const char *s, size_t n);

#endif
