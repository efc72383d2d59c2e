/* Where a request goes inside its server: rewrite, try_files, and the
 * file a URI names under a location's root or alias. The choice of the
 * location itself is conf_find_location's; http.c runs the phases in
 * nginx's order (server rewrites, location, its rewrites and return,
 * access, try_files, handler). */
#ifndef WEBSERV_ROUTE_H
#define WEBSERV_ROUTE_H

#include <stdbool.h>

#include "request.h"

enum {
    ROUTE_NEXT,     /* go on in this location */
    ROUTE_SEARCH,   /* the URI changed: choose the location again */
    ROUTE_BREAK,    /* go on in this location, without further rewrites */
    ROUTE_DONE,     /* answered (a redirect, an error) */
    ROUTE_FALLBACK, /* try_files found nothing: its last argument applies */
};

/* Run rewrites [from, to) of scope s on the request's URI. *changed is
 * set when one replaced it (without a flag, the next ones see the new
 * URI). Returns ROUTE_NEXT, ROUTE_SEARCH (`last`), ROUTE_BREAK or
 * ROUTE_DONE (`redirect`, `permanent`, an external URL, an error). */
int route_rewrites(request_t *rq, const conf_scope_t *s, size_t from, size_t to, bool *changed);

/* try_files' FILE arguments: ROUTE_NEXT when one exists (the request's
 * URI is now that file's), ROUTE_FALLBACK when none does, ROUTE_DONE
 * when a URI could not be made (answered). */
int route_try_files(request_t *rq, const conf_try_files_t *t);

/* Make try_files' fallback URI (variables evaluated) the request's URI
 * (its own query, else the request's). Returns 0, or -1 (answered). */
int route_fallback_uri(request_t *rq, const conf_uri_t *u);

/* rq->fspath = the file for URI path [uri, uri + len) (+ suffix) under
 * the location's root, or its alias. Returns 0; -1 when it is too long;
 * -2 when the alias would lead out of its folder (a ".." made by joining
 * the alias and the URI, or by a capture). */
int route_map(request_t *rq, const char *uri, size_t len, const char *suffix);

#endif
