/* Configuration: nginx-style language, directive table, server/location tree. */
#ifndef WEBSERV_CONF_H
#define WEBSERV_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "mime.h"
#include "pattern.h"
#include "vars.h"

typedef struct request request_t;

#define CONF_UNSET (-1)
#define CONF_CGI_MAX_PROCESSES 64  /* default cgi_max_processes */
#define CONF_HTTP2_MAX_STREAMS 128 /* default http2_max_concurrent_streams */
/* TLS 1.2 ciphers by default: ECDHE key exchange and AEAD only */
#define CONF_DEFAULT_CIPHERS                                                      \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"                  \
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"                  \
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

typedef struct {
    int code;
    char *uri;
} conf_error_page_t;

typedef struct {
    char *ext;          /* ".py" */
    char *interpreter;  /* "/usr/bin/python3" */
} conf_cgi_t;

typedef struct {
    char *name;
    var_expr_t expr;    /* the value, compiled (variables) */
    bool always;        /* on every status, not only 2xx/3xx */
} conf_header_t;

/* An allow/deny rule: the client's address masked equals addr, or any
 * address (family 0, `all`). */
typedef struct {
    unsigned char addr[16], mask[16];
    int family;         /* AF_INET, AF_INET6; 0 = all */
    bool allow;
} conf_access_t;

/* A URI with variables, split at its first '?' (a '?' from a variable's
 * value belongs to the path). */
typedef struct {
    var_expr_t path, args;
    bool has_args;
} conf_uri_t;

enum { CONF_REWRITE_NONE, CONF_REWRITE_LAST, CONF_REWRITE_BREAK, CONF_REWRITE_REDIRECT, CONF_REWRITE_PERMANENT };

typedef struct {
    pattern_t re;
    conf_uri_t to;
    bool keep_args;     /* the request's query goes on (the replacement does not end in '?') */
    bool external;      /* http://, https:// or $scheme: always a redirect */
    int flag;           /* CONF_REWRITE_* */
} conf_rewrite_t;

typedef struct {
    char *name;
    var_expr_t value;
    bool if_not_empty;
} conf_param_t;

/* try_files FILE... (URI | =CODE | @name) */
typedef struct {
    var_expr_t *files;
    size_t nfiles;
    int code;           /* =CODE; 0: the fallback is `uri` or `named` */
    const char *named;  /* "@name" */
    conf_uri_t uri;
} conf_try_files_t;

enum { CONF_EXPIRES_UNSET, CONF_EXPIRES_OFF, CONF_EXPIRES_EPOCH, CONF_EXPIRES_MAX, CONF_EXPIRES_TIME };

/* Settings that main, server and location levels share. Unset values are
 * CONF_UNSET / NULL / 0-count-with-flag and are filled from the parent
 * when the tree is merged, so after conf_load every field is set. */
typedef struct {
    char *root;
    char **index;
    size_t nindex;
    int autoindex;
    int64_t client_max_body_size;  /* 0 = unlimited */
    conf_error_page_t *error_pages;
    size_t nerror_pages;
    bool error_pages_set;
    char *access_log;              /* NULL = off */
    bool access_log_set;
    int64_t keepalive_timeout, client_header_timeout, client_body_timeout, send_timeout;  /* ms */
    unsigned methods;              /* HTTP_GET | ...; 0 = unset */
    int return_code;               /* CONF_UNSET when no return */
    char *return_text;             /* URL or text, may be NULL */
    var_expr_t return_expr;        /* return_text compiled (variables) */
    char *upload_store;
    conf_cgi_t *cgis;
    size_t ncgis;
    int64_t cgi_timeout;           /* ms */
    int access_log_fd;             /* opened by conf_open_logs; -1 = off */
    conf_header_t *add_headers;    /* add_header: a level that has any replaces its parent's */
    size_t nadd_headers;
    bool add_headers_set;
    conf_access_t *access;         /* allow/deny in order: a level that has any replaces its parent's */
    size_t naccess;
    bool access_set;
    int expires_mode;              /* CONF_EXPIRES_*; UNSET: inherited */
    int64_t expires;               /* CONF_EXPIRES_TIME: seconds from now (negative: no-cache) */
    /* of this level only, never inherited (server-level ones run before
     * the location is chosen; alias and try_files are a location's) */
    conf_rewrite_t *rewrites;      /* in order */
    size_t nrewrites;
    size_t return_after;           /* rewrites that come before `return` in the file */
    char *alias;                   /* the location's prefix is replaced by it (NULL: root) */
    var_expr_t alias_expr;         /* in a regex location: built from captures */
    conf_try_files_t *try_files;
    /* types { }, default_type, charset: inherited each on its own; `mime`
     * is what they make together (shared by levels that set none) */
    mime_entry_t *types;
    size_t ntypes;
    bool types_set;
    char *default_type;
    const char *charset;           /* NULL unset; "" is `charset off` */
    const mime_map_t *mime;        /* NULL: the built-in behaviour */
    int auth_basic;                /* CONF_UNSET, 0 (off), 1 */
    var_expr_t auth_realm;
    char *auth_user_file;
    int auth_line;                 /* where auth_basic was turned on (for -t) */
    /* fastcgi_param NAME VALUE [if_not_empty]: a level that has any replaces its parent's */
    conf_param_t *fastcgi_params;
    size_t nfastcgi_params;
    bool fastcgi_params_set;
} conf_scope_t;

/* location [= | ^~ | ~ | ~*] URI, location @name */
enum { CONF_LOC_PREFIX, CONF_LOC_EXACT, CONF_LOC_PREFIX_FIRST, CONF_LOC_REGEX, CONF_LOC_NAMED };

typedef struct {
    char *prefix;       /* the URI prefix; the regex; "@name" */
    size_t prefix_len;
    int kind;           /* CONF_LOC_*; PREFIX_FIRST is ^~: when it is the longest prefix, no regex is tried */
    pattern_t re;       /* CONF_LOC_REGEX */
    int line;
    conf_scope_t s;
} conf_location_t;

typedef struct {
    struct sockaddr_storage addr;
    socklen_t addrlen;
    char text[80];  /* "127.0.0.1:8080" */
    int port;
    bool ssl;       /* `listen ... ssl`: this address speaks TLS only */
    bool http2;     /* `listen ... http2`: h2 by ALPN (TLS) or prior knowledge (h2c) too */
    int line;
} conf_listen_t;

/* TLS settings of a server (main level: defaults for every server). */
enum { CONF_TLS1_2 = 1, CONF_TLS1_3 = 2 };
enum { CONF_VERIFY_OFF, CONF_VERIFY_ON, CONF_VERIFY_OPTIONAL, CONF_VERIFY_OPTIONAL_NO_CA };

typedef struct {
    char *path;
    int line;
} conf_file_t;

typedef struct {
    conf_file_t *certs, *keys;     /* ssl_certificate / ssl_certificate_key, paired in order */
    size_t ncerts, nkeys;
    unsigned protocols;            /* CONF_TLS1_2 | CONF_TLS1_3; 0 = unset */
    char *ciphers;                 /* OpenSSL cipher list for TLS 1.2 */
    int ciphers_line;              /* where it was set (0: the default), for messages */
    int prefer_server_ciphers;     /* CONF_UNSET, 0, 1 */
    int session_cache;             /* CONF_UNSET, 0, 1 */
    int session_tickets;           /* CONF_UNSET, 0, 1 */
    int64_t session_timeout;       /* ms */
    conf_file_t client_certificate;
    int verify_client;             /* CONF_UNSET or CONF_VERIFY_* */
    int verify_client_line;
    int verify_depth;
} conf_ssl_t;

typedef struct {
    conf_listen_t *listens;
    size_t nlistens;
    char **names;
    size_t nnames;
    conf_location_t *locations;
    size_t nlocations;
    conf_scope_t s;  /* server level, also used when no location matches */
    conf_ssl_t ssl;
    void *tls_ctx;   /* its TLS context (SSL_CTX), made by tls_configure; NULL without certificates */
    int http2_max_streams;  /* http2_max_concurrent_streams; 0 = unset */
    int line;
} conf_server_t;

struct conf_arena;

typedef struct {
    struct conf_arena *arena;  /* owns every allocation of this configuration */
    char *path;        /* the file, or "(embedded)" */
    char *dir;         /* relative paths resolve against this */
    char *error_log;   /* NULL = stderr */
    int worker_processes;
    int cgi_max_processes;  /* CGI scripts running at once, per worker */
    int http2_max_streams;  /* main-level http2_max_concurrent_streams; 0 = unset */
    conf_scope_t s;    /* main-level defaults */
    conf_ssl_t ssl;    /* main-level TLS defaults */
    conf_server_t *servers;
    size_t nservers;
    pattern_t *patterns;   /* every compiled regex: freed with the configuration */
    size_t npatterns;
} conf_t;

/* Whether conf_parse checks the files and folders it names (on by default;
 * a fuzzer turns it off so that no input creates or probes files). */
extern bool conf_check_files;

/* Parse `text` (named `path` in messages, relative paths against `dir`),
 * merge inheritance and check the files and folders it names. On error:
 * NULL and `err` holds "FILE:LINE: message". */
conf_t *conf_parse(const char *text, size_t len, const char *path, const char *dir, char *err,
                   size_t errlen);
/* Read a file and conf_parse it. */
conf_t *conf_load(const char *path, char *err, size_t errlen);
void conf_free(conf_t *c);

/* The location for a normalized path, chosen as nginx does: an exact
 * match; else the longest prefix if it is `^~`; else the first regex in
 * the file's order that matches (its captures become rq's, when rq is
 * given); else the longest prefix. NULL when none matches (the server
 * scope answers). Named locations are never chosen. */
const conf_location_t *conf_find_location(const conf_server_t *srv, const char *path, size_t len, request_t *rq);
/* The named location "@name" of a server; NULL when there is none. */
const conf_location_t *conf_find_named(const conf_server_t *srv, const char *name);
/* Server for a Host name among the servers of one listen address. */
const conf_server_t *conf_find_server(conf_server_t *const *servers, size_t n, const char *host,
                                      size_t hostlen);

/* "10k" -> 10240; -1 on error. */
int64_t conf_parse_size(const char *s);
/* "30s" -> 30000 ms; bare number is seconds; -1 on error. */
int64_t conf_parse_time(const char *s);

#endif
