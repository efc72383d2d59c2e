#ifndef WEBSERV_DEFAULT_CONF_H
#define WEBSERV_DEFAULT_CONF_H

#include <stddef.h>

/* Relative paths of the embedded configuration resolve against this folder. */
#ifndef WEBSERV_CONF_DIR
#define WEBSERV_CONF_DIR "conf"
#endif

const char *default_conf_text(size_t *len);

#endif
