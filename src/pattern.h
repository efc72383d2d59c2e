/* Regular expressions (PCRE2, JIT where the machine has it): compiled
 * once when the configuration loads, matched per request. A match keeps
 * its subject and captures in the request, for $1 ... $9. */
#ifndef WEBSERV_PATTERN_H
#define WEBSERV_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct request request_t;

#define PATTERN_CAPTURES 9  /* $1 ... $9 */

typedef struct {
    void *code;      /* pcre2_code */
    int ncaptures;   /* capture groups in the pattern */
} pattern_t;

/* Compile `re`. Returns 0, or -1 with PCRE2's reason (and where) in err. */
int pattern_compile(pattern_t *p, const char *re, bool caseless, char *err, size_t errlen);
void pattern_free(pattern_t *p);

/* Whether p matches subject; on a match with capture groups, they become
 * rq's ($1 ... $9; rq may be NULL), the subject copied so that they
 * outlive it.
 * Returns 1, or 0 (no match; an error is logged and counts as none). */
int pattern_match(const pattern_t *p, request_t *rq, const char *subject, size_t len);

/* Capture n (1 ... 9) of the request's last match; empty when none. */
str_t pattern_capture(const request_t *rq, int n);

#endif
