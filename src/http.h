/* Request handling: routing, response heads, error pages, access log. */
#ifndef WEBSERV_HTTP_H
#define WEBSERV_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "conn.h"

/* The internal status of plain HTTP sent to a TLS address (nginx's 497):
 * error_page may name it; the client gets 400 with a page saying so. */
#define HTTP_PLAIN_ON_TLS 497
/* The same for a client certificate: missing (496) or not verified (495). */
#define HTTP_NO_CLIENT_CERT 496
#define HTTP_BAD_CLIENT_CERT 495
/* Internal statuses are sent as 400. */
static inline int http_status_sent(int status) { return status >= 495 && status <= 497 ? 400 : status; }

/* A complete head has been parsed into c->rq: route it and prepare the
 * response in c->out (it is sent once the body, if any, is consumed). */
void http_handle(conn_t *c);

/* Prepare an error response: the error_page for `status` if one is set
 * (served as if its URI had been requested; the response keeps the
 * error's status), else a built-in page. Header lines added with
 * http_add_header before the call (Allow, Location ...) go with it. */
void http_error(conn_t *c, int status);

/* Add a header line (ending in CRLF) to the response head being prepared.
 * Returns 0, or -1 when it does not fit (nothing is added). */
int http_add_header(conn_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Response head in c->out.mem: status line and the common headers ... */
void http_head_start(conn_t *c, int status);
/* ... then the added lines, Content-Length (when >= 0 and the status has a
 * body), Connection and the blank line. */
void http_head_end(conn_t *c, int64_t content_length);

/* 1xx, 204 and 304 responses never carry a body. */
bool http_status_has_body(int status);

/* The request's query string (of the URI an internal redirect set, else
 * of the request target), or a NULL str. */
str_t http_query(const conn_t *c);

/* Answer the request as a GET of `uri` instead, without a body (a CGI's
 * local redirect): the current handler's state is released first. */
void http_internal_redirect(conn_t *c, const char *uri, size_t len);

/* Answer the request as if the directory's index file `name` had been
 * requested: its location and handler are chosen again. */
void http_serve_index(conn_t *c, const char *name);

const char *http_reason(int status);
void http_log_access(conn_t *c);

#endif
