/* Content-Type by file extension. */
#ifndef WEBSERV_MIME_H
#define WEBSERV_MIME_H

#include <stddef.h>

/* The MIME type for a file name (by its extension, case-insensitive);
 * "application/octet-stream" when unknown. Text types carry
 * "; charset=utf-8". */
const char *mime_type(const char *name, size_t len);

#endif
