/* Listening sockets, accepting, and the worker processes. */
#ifndef WEBSERV_SERVER_H
#define WEBSERV_SERVER_H

#include "conf.h"

/* Bind every listen address of the configuration. -1 with a message on stderr. */
int server_listen(conf_t *conf);
/* Open the access logs named in the configuration. */
int server_open_logs(conf_t *conf);
/* Run the workers (in this process when there is one) until SIGINT/SIGTERM.
 * Returns the exit status. */
int server_run(conf_t *conf);

#endif
