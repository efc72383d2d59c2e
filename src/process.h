/* Child processes (CGI scripts): how many are forked and not yet reaped.
 * While any is, a forked child may hold copies of any descriptor until
 * its execve closes them. */
#ifndef WEBSERV_PROCESS_H
#define WEBSERV_PROCESS_H

#include <stdbool.h>

void process_forked(void);
void process_reaped(void);
unsigned process_unreaped(void);
static inline bool process_children(void) { return process_unreaped() > 0; }

#endif
