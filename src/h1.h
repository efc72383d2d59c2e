/* HTTP/1.1 framing: request heads and bodies in, responses out. */
#ifndef WEBSERV_H1_H
#define WEBSERV_H1_H

#include "conn.h"

extern const protocol_t protocol_h1;

#endif
