/* Streaming multipart/form-data parser (RFC 7578, RFC 2046 5.1).
 * Pure: bytes in, callbacks out; a delimiter may be split across any two
 * feeds, and part bodies may hold CRLF and boundary-like bytes. */
#ifndef WEBSERV_MULTIPART_H
#define WEBSERV_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

#define MULTIPART_MAX_BOUNDARY 70      /* RFC 2046 */
#define MULTIPART_MAX_PART_HEAD 8192   /* header lines of one part, together */
#define MULTIPART_MAX_NAME 1024        /* name / filename parameter, decoded */

typedef struct {
    /* A part begins. `name` is the form field name ("" if none);
     * `filename` is NULL for a plain field (no filename parameter).
     * Return 0, or an HTTP status (e.g. 413, 500) to stop parsing. */
    int (*part_begin)(void *ctx, const char *name, const char *filename);
    /* Bytes of the current part's body (any split). Return 0 or a status. */
    int (*part_data)(void *ctx, const char *data, size_t len);
    /* The current part's body is complete. Return 0 or a status. */
    int (*part_end)(void *ctx);
} multipart_cb_t;

typedef struct {
    int state;
    char delim[4 + MULTIPART_MAX_BOUNDARY + 1];  /* "\r\n--" boundary */
    size_t delim_len;
    size_t head_len;                         /* bytes of the part head so far */
    char line[MULTIPART_MAX_PART_HEAD + 1];  /* the header line being collected */
    size_t line_len;
    char name[MULTIPART_MAX_NAME + 1];
    char filename[MULTIPART_MAX_NAME + 1];
    bool has_filename;
    int status;                              /* on error: the HTTP status */
} multipart_t;

/* From a Content-Type header value: 0 when it is multipart/form-data with a
 * valid boundary parameter (quoted or not), else -1. */
int multipart_init(multipart_t *m, str_t content_type);

/* Feed body bytes. Returns the count consumed, which may be less than len:
 * the parser keeps back a tail that could be the start of a delimiter;
 * call again with those bytes followed by more. Returns -1 on bad input or
 * when a callback returned a status (in m->status: 400 for bad framing).
 * With last = true, data is the end of the body: all of it must be
 * consumed and the closing delimiter seen, or it is an error (400). */
ssize_t multipart_feed(multipart_t *m, const char *data, size_t len, bool last, const multipart_cb_t *cb,
                       void *ctx);

/* True once the closing delimiter ("--boundary--") has been seen. */
bool multipart_done(const multipart_t *m);

#endif
