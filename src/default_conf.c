/* The embedded default configuration: conf/default.conf of the source tree,
 * built into the binary so that a bare `webserv` serves the demo site. */
#include "default_conf.h"

__asm__(".section .rodata\n"
        ".global webserv_default_conf\n"
        "webserv_default_conf:\n"
        ".incbin \"conf/default.conf\"\n"
        ".global webserv_default_conf_end\n"
        "webserv_default_conf_end:\n"
        ".byte 0\n"
        ".previous\n");

extern const char webserv_default_conf[], webserv_default_conf_end[];

const char *default_conf_text(size_t *len)
{
    *len = (size_t)(webserv_default_conf_end - webserv_default_conf);
    return webserv_default_conf;
}
