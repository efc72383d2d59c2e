/* Request handling: routing, response heads, error pages, access log. */
#ifndef WEBSERV_HTTP_H
#define WEBSERV_HTTP_H

#include <stdint.h>

#include "conn.h"

/* A complete head has been parsed into c->rq: route it and prepare the
 * response in c->out (it is sent once the body, if any, is consumed). */
void http_handle(conn_t *c);

/* Prepare an error response: the error_page for `status` if one is set
 * and readable, else a built-in page. `extra` holds additional header
 * lines (each ending in CRLF) or NULL. */
void http_error(conn_t *c, int status, const char *extra);

/* Response head in c->out.mem: status line and the common headers ... */
void http_head_start(conn_t *c, int status);
/* ... then Content-Length (when >= 0), Connection and the blank line. */
void http_head_end(conn_t *c, int64_t content_length);

/* Answer the request as a GET of `uri` instead (a CGI's local redirect):
 * the current handler's state is released first. */
void http_internal_redirect(conn_t *c, const char *uri, size_t len);

const char *http_reason(int status);
void http_log_access(conn_t *c);

#endif
