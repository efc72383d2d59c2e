/* Request handling: routing, response heads, error pages, access log. */
#ifndef WEBSERV_HTTP_H
#define WEBSERV_HTTP_H

#include <stdbool.h>
#include <stdint.h>

#include "request.h"

#define WEBSERV_VERSION "0.1"

/* The internal status of plain HTTP sent to a TLS address (nginx's 497):
 * error_page may name it; the client gets 400 with a page saying so. */
#define HTTP_PLAIN_ON_TLS 497
/* The same for a client certificate: missing (496) or not verified (495). */
#define HTTP_NO_CLIENT_CERT 496
#define HTTP_BAD_CLIENT_CERT 495
/* Internal statuses are sent as 400. */
static inline int http_status_sent(int status) { return status >= 495 && status <= 497 ? 400 : status; }

/* A complete head has been parsed into rq->h: route it and run its
 * handler, which prepares the response (sent by the framing once it is
 * ready) and may take the body. */
void http_handle(request_t *rq);

/* Prepare an error response: the error_page for `status` if one is set
 * (served as if its URI had been requested; the response keeps the
 * error's status), else a built-in page. Header lines added with
 * http_add_header before the call (Allow, Location ...) go with it. */
void http_error(request_t *rq, int status);

/* Add a header line (ending in CRLF) to the response's fields.
 * Returns 0, or -1 when it does not fit (nothing is added). */
int http_add_header(request_t *rq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A handler's response: its status (an error page keeps the error's) ... */
void http_response_start(request_t *rq, int status);
/* ... its fields added (http_add_header), then its body's length (-1:
 * none, or a stream of unknown length): the head is ready to be sent. */
void http_response_ready(request_t *rq, int64_t content_length);

/* "Server", "Date" and "X-Content-Type-Options" lines, for every response. */
const char *http_common_fields(size_t *len);

/* 1xx, 204 and 304 responses never carry a body. */
bool http_status_has_body(int status);

/* The request's query string (of the URI an internal redirect set, else
 * of the request target), or a NULL str. */
str_t http_query(const request_t *rq);

/* Make the decoded path `path` with the raw `query` the request's URI
 * (neither may point into rq->target). Returns 0, or -1 when it is not a
 * valid path. */
int http_set_uri(request_t *rq, str_t path, str_t query);

/* Answer the request as a GET of `uri` instead, without a body (a CGI's
 * local redirect): the current handler's state is released first. */
void http_internal_redirect(request_t *rq, const char *uri, size_t len);

/* Answer the request as if the directory's index file `name` had been
 * requested: its location and handler are chosen again. */
void http_serve_index(request_t *rq, const char *name);

const char *http_reason(int status);
void http_log_access(request_t *rq);

#endif
