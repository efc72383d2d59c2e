/* Small helpers shared by modules that write request bodies to files. */
#ifndef WEBSERV_UTIL_H
#define WEBSERV_UTIL_H

#include <stddef.h>

/* The HTTP status for a failed file write: 507 when the disk, a quota or
 * RLIMIT_FSIZE is full, else 500. */
int util_write_status(int err);
/* Write all of p to a regular file (whose writes do not wait on the
 * network). Returns 0, or the status of util_write_status after logging
 * the failure with `what`. */
int util_write_all(int fd, const char *p, size_t len, const char *what);

/* 2 * nbytes random hex digits and a NUL into out (nbytes <= 32): names
 * nobody can guess. */
void util_random_hex(char *out, size_t nbytes);

#endif
