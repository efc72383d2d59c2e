/* HTTP/2 framing by libnghttp2: streams in, responses out. */
#ifndef WEBSERV_H2_H
#define WEBSERV_H2_H

#include <stdbool.h>
#include <stddef.h>

#include "conn.h"

extern const protocol_t protocol_h2;

/* Do the first bytes of a connection, p[0..len), begin the client
 * preface of HTTP/2 ("PRI * HTTP/2.0...")? *complete: all of it is there. */
bool h2_preface(const char *p, size_t len, bool *complete);

#endif
