/* HTTP Basic authentication (auth_basic, auth_basic_user_file):
 * htpasswd files with bcrypt, SHA-256/512 crypt, Apache's apr1 MD5,
 * {SHA} and {PLAIN} entries. */
#ifndef WEBSERV_AUTH_H
#define WEBSERV_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "request.h"

/* The location's auth_basic, if any: 0 when the request may go on, else
 * the status it gets (401 with its WWW-Authenticate field added, 500
 * when the user file cannot be read). */
int auth_check(request_t *rq, const conf_scope_t *s);

/* The user name and password of an "Authorization: Basic ..." value,
 * decoded into out (NUL-separated: user, then password). Returns false
 * when it is not Basic credentials. */
bool auth_credentials(str_t header, char *out, size_t size, str_t *user, str_t *password);

/* The user name the request's Authorization header gives (Basic), into
 * buf; an empty str when there is none. ($remote_user, REMOTE_USER) */
str_t auth_user(const request_t *rq, char *buf, size_t size);

/* The hash of `user` in htpasswd text (lines "user:hash[:comment]", '#'
 * comments), or a NULL str. */
str_t auth_find_user(const char *text, size_t len, str_t user);

/* Whether password matches an htpasswd hash (compared in constant time). */
bool auth_verify(str_t hash, str_t password);

#endif
