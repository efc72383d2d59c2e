/* Static files: GET/HEAD, index, autoindex, conditionals, ranges. */
#ifndef WEBSERV_STATIC_H
#define WEBSERV_STATIC_H

#include <sys/stat.h>

#include "conn.h"

void static_serve(conn_t *c);
/* Send the open file fd (described by st) with `status`; takes the fd. */
void static_send_file(conn_t *c, int status, int fd, const struct stat *st, const char *name);
/* HTML listing of the directory open as dirfd, for the URI path c->rq->path. */
void autoindex_serve(conn_t *c, const char *dirpath);

#endif
