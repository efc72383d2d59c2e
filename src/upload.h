/* Request bodies to disk (upload_store): raw bodies and multipart/form-data
 * file parts, streamed through the connection's fixed buffer. */
#ifndef WEBSERV_UPLOAD_H
#define WEBSERV_UPLOAD_H

#include <stddef.h>

#include "request.h"

/* A POST or PUT to a location with upload_store: set up the body handler
 * (or prepare an error response). */
void upload_start(request_t *rq);

/* The name a client-supplied file name is stored under: its basename with
 * unsafe bytes replaced; "" when nothing usable remains. */
void upload_sanitize_name(const char *in, size_t len, char *out, size_t outlen);

#endif
