/* Variables ($host, $request_uri ...): a text with variables is compiled
 * once, when the configuration loads, into literal and variable parts;
 * each request evaluates it into a buffer of its own, with no allocation
 * per variable. */
#ifndef WEBSERV_VARS_H
#define WEBSERV_VARS_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct request request_t;

typedef struct {
    int var;           /* VAR_LITERAL, or which variable */
    const char *text;  /* the literal, or the NAME of $arg_NAME, $http_NAME, $cookie_NAME */
    size_t len;
} var_part_t;

typedef struct {
    var_part_t *parts;
    size_t nparts;
    bool has_vars;     /* false: the text is all literal */
} var_expr_t;

/* Compile `text` into e, its parts allocated with alloc(ctx, size) (the
 * configuration's arena). Returns 0, or -1 with the reason in err (an
 * unknown variable, a bad name). */
int var_compile(var_expr_t *e, const char *text, void *(*alloc)(void *ctx, size_t n), void *ctx, char *err,
                size_t errlen);

/* Append the value of e for the request of c to out. Returns 0, or -1
 * when it does not fit out's limit. */
int var_eval(const var_expr_t *e, request_t *rq, buf_t *out);

/* The same for a URI: the captures ($1 ... $9, decoded text) are
 * percent-encoded, so that what they hold stays data. */
int var_eval_uri(const var_expr_t *e, request_t *rq, buf_t *out);

/* The same for a log line: each value escaped (control bytes, quotes,
 * backslashes and non-ASCII as \xHH), cut at max_value bytes, and "-"
 * when empty. */
int var_eval_log(const var_expr_t *e, request_t *rq, buf_t *out, size_t max_value);

#endif
