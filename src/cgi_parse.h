/* The header block of a CGI response (RFC 3875 6.2). Pure. */
#ifndef WEBSERV_CGI_PARSE_H
#define WEBSERV_CGI_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "buf.h"

#define CGI_MAX_HEAD (16 * 1024)
#define CGI_MAX_FIELDS 64

typedef struct {
    str_t name, value;
} cgi_field_t;

typedef struct {
    int status;              /* from Status:, 0 when absent */
    str_t location;          /* empty when absent */
    str_t content_type;      /* empty when absent */
    int64_t content_length;  /* -1 when absent */
    cgi_field_t fields[CGI_MAX_FIELDS];  /* every other header, in order */
    size_t nfields;
} cgi_head_t;

/* Parse the header block at the start of data[0..len). Lines end in LF or
 * CRLF; a blank line ends the block. Returns the block's length (with the
 * blank line) when complete, 0 when more bytes are needed, -1 when it is
 * malformed (a line without a colon, a bad name, a bad Status or
 * Content-Length, too many fields, no blank line within CGI_MAX_HEAD). */
ssize_t cgi_parse_head(const char *data, size_t len, cgi_head_t *h);

#endif
