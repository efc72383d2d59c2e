/* TLS with OpenSSL: a context per server from its configuration, and the
 * TLS transport behind the conn layer's transport_t seam. */
#ifndef WEBSERV_TLS_H
#define WEBSERV_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "conf.h"
#include "conn.h"

/* The transport of a connection accepted on an `ssl` address: the first
 * bytes decide between a TLS handshake and plain HTTP (which is then
 * answered 400 and closed). */
extern const transport_t transport_tls;

/* Build a TLS context for every server with certificates, and check what
 * `-t` checks: files readable, keys matching their certificates, an `ssl`
 * address whose default server has none. Returns 0, or -1 with
 * "FILE:LINE: message" in err. */
int tls_configure(conf_t *conf, char *err, size_t errlen);
/* Free the contexts (before conf_free). */
void tls_free(conf_t *conf);

/* Before the workers start: probe kernel TLS and log what files over TLS
 * will use. */
void tls_start(conf_t *conf);
/* "OpenSSL 3.0.x ..." the binary was built with, and the one it runs with. */
const char *tls_built_version(void);
const char *tls_running_version(void);

/* Facts of a TLS connection for CGI and variables; NULL when it is not
 * (or not yet) one. */
const char *tls_protocol(const conn_t *c);
const char *tls_cipher(const conn_t *c);

/* May `srv` (the server the request's Host chose) answer on this
 * connection? 0 to go on; 421 when it is not the server the handshake
 * chose (SNI) and either of them asks for client certificates (the
 * certificate was verified, or not asked, by the other one); else the
 * client certificate against srv's ssl_verify_client: HTTP_NO_CLIENT_CERT
 * or HTTP_BAD_CLIENT_CERT (answered 400, as nginx's 496 / 495). */
int tls_check_client(const conn_t *c, const conf_server_t *srv);
/* "SUCCESS", "FAILED:reason" (in buf) or "NONE"; the subject of the
 * client certificate as RFC 2253 (in buf), "" without one. NULL when the
 * connection is not TLS. */
const char *tls_client_verify(const conn_t *c, char *buf, size_t len);
const char *tls_client_s_dn(const conn_t *c, char *buf, size_t len);

#endif
