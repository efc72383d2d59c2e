/* DELETE of a file under the location's root or upload_store. */
#ifndef WEBSERV_DELETE_H
#define WEBSERV_DELETE_H

#include "request.h"

void delete_serve(request_t *rq);

#endif
