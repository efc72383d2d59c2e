/* Static files: GET/HEAD, index, autoindex, conditionals, ranges. */
#ifndef WEBSERV_STATIC_H
#define WEBSERV_STATIC_H

#include <sys/stat.h>

#include "request.h"

void static_serve(request_t *rq);
struct fc_entry;
/* Send a cached file with `status` (200: conditionals and ranges apply);
 * takes the caller's reference to the entry. */
void static_send(request_t *rq, int status, struct fc_entry *e);
/* HTML listing of the directory open as dirfd, for the URI path c->rq->path. */
void autoindex_serve(request_t *rq, const char *dirpath);

#endif
