/* CGI (RFC 3875): fork + execve of the location's interpreter; its stdin
 * and stdout pipes are non-blocking and driven by the same event loop. */
#ifndef WEBSERV_CGI_H
#define WEBSERV_CGI_H

#include <stdbool.h>

#include "request.h"

/* If the request path names a script with a `cgi` extension of its
 * location, run it (or prepare 404/503) and return true; else false. */
bool cgi_serve(request_t *rq);
/* At most this many scripts run at once in a worker; more answer 503. */
void cgi_set_max_processes(int n);
/* SIGCHLD: reap every exited child (no zombie, ever). */
void cgi_reap(void);
/* Kill every running CGI (the worker is exiting). */
void cgi_kill_all(void);

#endif
