/* TLS with OpenSSL.
 *
 * Contexts: one SSL_CTX per server that has certificates (an RSA and an
 * ECDSA pair may both be loaded: OpenSSL picks by the client's offer),
 * made once in the master before the workers fork. SNI switches a
 * connection to the context of the server its name picks; ALPN offers
 * http/1.1.
 *
 * Transport: the handshake runs inside the first reads (SSL_read drives
 * it), so it is non-blocking like any read and its deadline is the
 * connection's head deadline (client_header_timeout from accept).
 * SSL_ERROR_WANT_READ/WRITE become EAGAIN. OpenSSL's error queue is
 * cleared before and drained after every call, so one connection's error
 * never shows up on another. Writes are staged into one record-sized
 * buffer. Files go out with SSL_sendfile when the kernel does the record
 * layer (kernel TLS, probed at start); otherwise they are read 64 KiB at a
 * time into the staging buffer from the page cache and written record by
 * record, so a file never sits in memory whole. */
#include "tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/opensslv.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "http.h"
#include "log.h"

#define RECORD_MAX 16384     /* TLS plaintext record */
#define HANDSHAKE_BYTE 0x16  /* the first byte of a TLS record carrying a handshake */

#define FILE_CHUNK (4 * RECORD_MAX)  /* read from a file at once */

static unsigned char stage[FILE_CHUNK];  /* plaintext on its way into SSL_write */
static bool ktls;  /* the kernel can take over the record layer (the "tls" ULP) */

/* ---- errors ---- */

/* Empty the thread's error queue: looking costs a fifth of ERR_clear_error,
 * and the queue is almost always empty already. */
static void clear_errors(void)
{
    if (ERR_peek_error())
        ERR_clear_error();
}

/* The reason of the first queued error, and the queue emptied. */
static const char *drain_errors(char *buf, size_t len)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, len);
    else
        snprintf(buf, len, "%s", errno ? strerror(errno) : "unexpected EOF");
    clear_errors();
    return buf;
}

/* ---- session ticket keys ----
 * Made, not stored: each period's key is derived from one random secret
 * (made before the workers fork, so every worker derives the same keys)
 * and the period's number. A ticket is sealed with the current period's
 * key and opened with it or the previous one (then renewed), so keys
 * rotate every ssl_session_timeout and an old one is gone after two. */

static unsigned char ticket_secret[32];
static bool ticket_secret_made;

typedef struct {
    unsigned char name[16], aes[16], mac[32];
} ticket_key_t;

static void derive(uint64_t period, const char *label, unsigned char *out, size_t n)
{
    unsigned char msg[32], md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t ll = strlen(label);
    memcpy(msg, label, ll);
    for (int i = 0; i < 8; i++)
        msg[ll + (size_t)i] = (unsigned char)(period >> (8 * i));
    HMAC(EVP_sha256(), ticket_secret, sizeof(ticket_secret), msg, ll + 8, md, &mdlen);
    memcpy(out, md, n);
}

/* A period's key, derived once: HMAC through OpenSSL 3's providers costs
 * microseconds, and every handshake that resumes or issues a ticket asks. */
static const ticket_key_t *ticket_key(uint64_t period)
{
    static struct {
        uint64_t period;
        bool made;
        ticket_key_t key;
    } recent[2];
    unsigned slot = (unsigned)(period & 1);  /* the current and the previous period */
    if (!recent[slot].made || recent[slot].period != period) {
        ticket_key_t *k = &recent[slot].key;
        derive(period, "name", k->name, sizeof(k->name));
        derive(period, "aes", k->aes, sizeof(k->aes));
        derive(period, "mac", k->mac, sizeof(k->mac));
        recent[slot].period = period;
        recent[slot].made = true;
    }
    return &recent[slot].key;
}

static uint64_t ticket_period(SSL *ssl)
{
    long lifetime = SSL_CTX_get_timeout(SSL_get_SSL_CTX(ssl));
    return (uint64_t)time(NULL) / (uint64_t)(lifetime > 0 ? lifetime : 3600);
}

static int set_mac(EVP_MAC_CTX *hctx, unsigned char *key)
{
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
                           OSSL_PARAM_construct_end()};
    return EVP_MAC_init(hctx, key, 32, params);
}

static int on_ticket_key(SSL *ssl, unsigned char name[16], unsigned char *iv, EVP_CIPHER_CTX *cctx,
                         EVP_MAC_CTX *hctx, int enc)
{
    uint64_t now = ticket_period(ssl);
    if (enc) {
        const ticket_key_t *k = ticket_key(now);
        if (RAND_bytes(iv, 16) != 1 || EVP_EncryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, k->aes, iv) != 1 ||
            set_mac(hctx, (unsigned char *)k->mac) != 1)
            return -1;
        memcpy(name, k->name, 16);
        return 1;
    }
    for (uint64_t age = 0; age < 2 && age <= now; age++) {
        const ticket_key_t *k = ticket_key(now - age);
        if (memcmp(name, k->name, 16) != 0)
            continue;
        if (EVP_DecryptInit_ex(cctx, EVP_aes_128_cbc(), NULL, k->aes, iv) != 1 ||
            set_mac(hctx, (unsigned char *)k->mac) != 1)
            return -1;
        /* 2: valid, and issue a new ticket: under the current key, and in
         * TLS 1.3 always (RFC 8446 C.4: a client uses a ticket once) */
        return age || SSL_version(ssl) == TLS1_3_VERSION ? 2 : 1;
    }
    return 0;  /* an unknown or expired key: a full handshake */
}

/* ---- the session cache shared by the workers ----
 * A fixed table in memory mapped before the workers fork: a session
 * lives in the slot its id hashes to (a newer one evicts it), as its DER
 * encoding, until it expires. A spin lock guards the copies in and out. */

#define CACHE_SLOTS 4096
#define CACHE_DER_MAX 2000  /* larger sessions (long client certificate chains) are not shared */

typedef struct {
    unsigned char id[SSL_MAX_SSL_SESSION_ID_LENGTH];
    unsigned idlen, derlen;
    time_t expires;
    unsigned char der[CACHE_DER_MAX];
} cache_slot_t;

typedef struct {
    int lock;
    cache_slot_t slots[CACHE_SLOTS];
} session_cache_t;

static session_cache_t *cache;

static void cache_lock(void)
{
    while (__atomic_exchange_n(&cache->lock, 1, __ATOMIC_ACQUIRE))
        while (__atomic_load_n(&cache->lock, __ATOMIC_RELAXED))
            ;  /* held for one copy of at most CACHE_DER_MAX bytes */
}

static void cache_unlock(void) { __atomic_store_n(&cache->lock, 0, __ATOMIC_RELEASE); }

static cache_slot_t *slot_for(const unsigned char *id, unsigned len)
{
    uint32_t h = 2166136261u;
    for (unsigned i = 0; i < len; i++)
        h = (h ^ id[i]) * 16777619u;
    return &cache->slots[h % CACHE_SLOTS];
}

/* The server whose context a connection is on (SNI may have switched it). */
static const conf_server_t *server_of(const SSL *ssl) { return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)); }

/* OpenSSL takes session settings from the context a connection started
 * on (the default server's): the callbacks, on every context, apply the
 * settings of the server it is on now. */
static void use_server_timeout(SSL *ssl, SSL_SESSION *sess)
{
    SSL_SESSION_set_timeout(sess, (long)(server_of(ssl)->ssl.session_timeout / 1000));
}

static int on_ticket_made(SSL *ssl, void *arg)
{
    SSL_SESSION *sess = SSL_get_session(ssl);
    if (sess)
        use_server_timeout(ssl, sess);
    return 1;
}

static int on_new_session(SSL *ssl, SSL_SESSION *sess)
{
    if (!cache || !server_of(ssl)->ssl.session_cache)
        return 0;
    if (SSL_version(ssl) == TLS1_3_VERSION && !(SSL_get_options(ssl) & SSL_OP_NO_TICKET))
        return 0;  /* the client resumes with the ticket itself: never looked up here */
    use_server_timeout(ssl, sess);
    unsigned idlen;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    int len = i2d_SSL_SESSION(sess, NULL);
    if (len <= 0 || len > CACHE_DER_MAX || idlen == 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return 0;
    unsigned char der[CACHE_DER_MAX], *p = der;
    i2d_SSL_SESSION(sess, &p);
    cache_slot_t *sl = slot_for(id, idlen);
    cache_lock();
    memcpy(sl->id, id, idlen);
    sl->idlen = idlen;
    sl->derlen = (unsigned)len;
    sl->expires = (time_t)SSL_SESSION_get_time(sess) + SSL_SESSION_get_timeout(sess);
    memcpy(sl->der, der, (size_t)len);
    cache_unlock();
    return 0;  /* the cache holds a copy, not a reference */
}

static SSL_SESSION *on_get_session(SSL *ssl, const unsigned char *id, int idlen, int *copy)
{
    unsigned char der[CACHE_DER_MAX];
    unsigned len = 0;
    *copy = 0;
    if (!cache || !server_of(ssl)->ssl.session_cache || idlen <= 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return NULL;
    cache_slot_t *sl = slot_for(id, (unsigned)idlen);
    cache_lock();
    if (sl->idlen == (unsigned)idlen && memcmp(sl->id, id, (size_t)idlen) == 0 && sl->expires > time(NULL)) {
        len = sl->derlen;
        memcpy(der, sl->der, len);
    }
    cache_unlock();
    const unsigned char *p = der;
    SSL_SESSION *sess = len ? d2i_SSL_SESSION(NULL, &p, (long)len) : NULL;
    clear_errors();
    return sess;
}

static void on_remove_session(SSL_CTX *ctx, SSL_SESSION *sess)
{
    if (!cache)
        return;
    unsigned idlen;
    const unsigned char *id = SSL_SESSION_get_id(sess, &idlen);
    if (idlen == 0 || idlen > SSL_MAX_SSL_SESSION_ID_LENGTH)
        return;
    cache_slot_t *sl = slot_for(id, idlen);
    cache_lock();
    if (sl->idlen == idlen && memcmp(sl->id, id, idlen) == 0)
        sl->idlen = 0;
    cache_unlock();
}

static int shared_cache(char *err, size_t errlen, const conf_t *conf, int line)
{
    if (cache)
        return 0;
    void *p = mmap(NULL, sizeof(session_cache_t), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        snprintf(err, errlen, "%s:%d: the TLS session cache: %s", conf->path, line, strerror(errno));
        return -1;
    }
    cache = p;
    return 0;
}

/* ---- contexts ---- */

static int cfg_err(char *err, size_t errlen, const conf_t *conf, int line, const char *what, const char *path)
{
    char reason[256];
    drain_errors(reason, sizeof(reason));
    snprintf(err, errlen, "%s:%d: %s \"%s\": %s", conf->path, line, what, path ? path : "", reason);
    return -1;
}

static int on_client_hello(SSL *ssl, int *alert, void *arg);
static int on_servername(SSL *ssl, int *alert, void *arg);

/* Keep the handshake going whatever the client certificate: its verdict
 * (SSL_get_verify_result) is checked per request. */
static int on_verify(int ok, X509_STORE_CTX *store) { return 1; }

static int on_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                   unsigned int inlen, void *arg)
{
    static const unsigned char with_h2[] = "\x02h2\x08http/1.1";
    const conn_t *c = SSL_get_app_data(ssl);
    const unsigned char *ours = c->listener->http2 ? with_h2 : with_h2 + 3;  /* h2 first: ours is the choice */
    unsigned int ourslen = c->listener->http2 ? sizeof(with_h2) - 1 : sizeof(with_h2) - 4;
    unsigned char *sel;
    if (SSL_select_next_proto(&sel, outlen, ours, ourslen, in, inlen) != OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_ALERT_FATAL;  /* RFC 7301: no_application_protocol */
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static SSL_CTX *make_ctx(const conf_t *conf, const conf_server_t *srv, char *err, size_t errlen)
{
    const conf_ssl_t *t = &srv->ssl;
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx) {
        cfg_err(err, errlen, conf, srv->line, "TLS context", NULL);
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, t->protocols & CONF_TLS1_2 ? TLS1_2_VERSION : TLS1_3_VERSION);
    SSL_CTX_set_max_proto_version(ctx, t->protocols & CONF_TLS1_3 ? TLS1_3_VERSION : TLS1_2_VERSION);
    /* IGNORE_UNEXPECTED_EOF: most clients close without close_notify; HTTP
     * framing, not the TLS alert, tells a cut message from a finished one */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                                 (t->prefer_server_ciphers ? SSL_OP_CIPHER_SERVER_PREFERENCE : 0) |
                                 (t->session_tickets ? 0 : SSL_OP_NO_TICKET));
    /* idle connections keep no record buffers; a write may be retried from
     * a buffer that moved (the output queue compacts) */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    SSL_CTX_set_read_ahead(ctx, 1);  /* a record's header and body in one read(), not two */
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1) {
        snprintf(err, errlen, "%s:%d: no usable cipher in \"%s\"", conf->path,
                 t->ciphers_line ? t->ciphers_line : srv->line, t->ciphers);
        clear_errors();
        goto fail;
    }
    for (size_t i = 0; i < t->ncerts; i++) {
        const conf_file_t *cert = &t->certs[i], *key = &t->keys[i];
        if (SSL_CTX_use_certificate_chain_file(ctx, cert->path) != 1) {
            cfg_err(err, errlen, conf, cert->line, "cannot load certificate", cert->path);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(ctx, key->path, SSL_FILETYPE_PEM) != 1) {
            cfg_err(err, errlen, conf, key->line, "cannot load key", key->path);
            goto fail;
        }
        if (SSL_CTX_check_private_key(ctx) != 1) {
            cfg_err(err, errlen, conf, key->line, "key does not match the certificate", key->path);
            goto fail;
        }
    }
    /* Sessions: the same callbacks on every context (OpenSSL calls those of
     * the context a connection started on), each applying the settings of
     * the server the connection is on */
    if (t->session_cache && shared_cache(err, errlen, conf, srv->line) != 0)
        goto fail;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER | SSL_SESS_CACHE_NO_INTERNAL);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    SSL_CTX_sess_set_get_cb(ctx, on_get_session);
    SSL_CTX_sess_set_remove_cb(ctx, on_remove_session);
    SSL_CTX_set_session_ticket_cb(ctx, on_ticket_made, NULL, NULL);
    SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, on_ticket_key);
    /* a session resumes only on the server that made it */
    char sid_ctx[32];
    int n = snprintf(sid_ctx, sizeof(sid_ctx), "webserv:%zu", (size_t)(srv - conf->servers));
    SSL_CTX_set_session_id_context(ctx, (const unsigned char *)sid_ctx, (unsigned)n);
    SSL_CTX_set_timeout(ctx, (long)(t->session_timeout / 1000));
    if (!t->session_cache && !t->session_tickets)
        SSL_CTX_set_num_tickets(ctx, 0);  /* TLS 1.3 tickets no one could use */
    if (t->verify_client != CONF_VERIFY_OFF) {
        /* ask for a certificate, never fail the handshake over it: the
         * request is answered 400 when the policy says so (as nginx) */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, on_verify);
        SSL_CTX_set_verify_depth(ctx, t->verify_depth);
        const conf_file_t *ca = &t->client_certificate;
        if (ca->path) {
            STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(ca->path);
            if (!names || SSL_CTX_load_verify_locations(ctx, ca->path, NULL) != 1) {
                sk_X509_NAME_pop_free(names, X509_NAME_free);
                cfg_err(err, errlen, conf, ca->line, "cannot load client CA certificates", ca->path);
                goto fail;
            }
            SSL_CTX_set_client_CA_list(ctx, names);
        } else if (t->verify_client != CONF_VERIFY_OPTIONAL_NO_CA) {
            snprintf(err, errlen, "%s:%d: no \"ssl_client_certificate\" for \"ssl_verify_client\"", conf->path,
                     t->verify_client_line ? t->verify_client_line : srv->line);
            goto fail;
        }
    }
    SSL_CTX_set_app_data(ctx, (void *)srv);
    if (!ticket_secret_made && RAND_bytes(ticket_secret, sizeof(ticket_secret)) != 1) {
        cfg_err(err, errlen, conf, srv->line, "random bytes for ticket keys", NULL);
        goto fail;
    }
    ticket_secret_made = true;
    SSL_CTX_set_client_hello_cb(ctx, on_client_hello, NULL);
    SSL_CTX_set_tlsext_servername_callback(ctx, on_servername);
    SSL_CTX_set_alpn_select_cb(ctx, on_alpn, NULL);
    return ctx;
fail:
    SSL_CTX_free(ctx);
    return NULL;
}

/* The first server (in the file's order) listening on the address of `l`:
 * the default server of that address. */
static const conf_server_t *default_server_of(const conf_t *conf, const conf_listen_t *l)
{
    for (size_t i = 0; i < conf->nservers; i++)
        for (size_t j = 0; j < conf->servers[i].nlistens; j++)
            if (strcmp(conf->servers[i].listens[j].text, l->text) == 0)
                return &conf->servers[i];
    return NULL;
}

int tls_configure(conf_t *conf, char *err, size_t errlen)
{
    for (size_t i = 0; i < conf->nservers; i++) {
        conf_server_t *srv = &conf->servers[i];
        const conf_ssl_t *t = &srv->ssl;
        if (t->ncerts != t->nkeys) {
            const conf_file_t *last = t->ncerts > t->nkeys ? &t->certs[t->ncerts - 1] : &t->keys[t->nkeys - 1];
            snprintf(err, errlen, "%s:%d: each \"ssl_certificate\" needs its \"ssl_certificate_key\"", conf->path,
                     last->line);
            return -1;
        }
        if (t->ncerts && !(srv->tls_ctx = make_ctx(conf, srv, err, errlen)))
            return -1;
    }
    for (size_t i = 0; i < conf->nservers; i++)
        for (size_t j = 0; j < conf->servers[i].nlistens; j++) {
            const conf_listen_t *l = &conf->servers[i].listens[j];
            const conf_server_t *def = default_server_of(conf, l);
            if (l->ssl && !def->tls_ctx) {
                snprintf(err, errlen, "%s:%d: no \"ssl_certificate\" is defined for the default server of %s",
                         conf->path, l->line, l->text);
                return -1;
            }
        }
    return 0;
}

void tls_free(conf_t *conf)
{
    for (size_t i = 0; i < conf->nservers; i++) {
        SSL_CTX_free(conf->servers[i].tls_ctx);
        conf->servers[i].tls_ctx = NULL;
    }
}

/* ---- kernel TLS ----
 * Probed on a loopback connection: the "tls" module may load on first use,
 * so /proc/sys/net/ipv4/tcp_available_ulp alone would not tell. */
static bool ktls_probe(char *why, size_t len)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t salen = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int cfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = false;
    if (lfd < 0 || cfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &salen) != 0 || connect(cfd, (struct sockaddr *)&sa, salen) != 0)
        snprintf(why, len, "the loopback probe failed: %s", strerror(errno));
    else if (setsockopt(cfd, SOL_TCP, TCP_ULP, "tls", sizeof("tls")) != 0)
        snprintf(why, len, "setsockopt TCP_ULP \"tls\": %s", strerror(errno));
    else
        ok = true;
    if (lfd >= 0)
        close(lfd);
    if (cfd >= 0)
        close(cfd);
    return ok;
}

void tls_start(conf_t *conf)
{
    bool any = false;
    for (size_t i = 0; i < conf->nservers; i++)
        any |= conf->servers[i].tls_ctx != NULL;
    if (!any)
        return;
    char why[160];
    ktls = ktls_probe(why, sizeof(why));
    if (!ktls) {
        log_msg(LOG_INFO, "kernel TLS: off (%s); files over TLS are copied through a %d-byte buffer", why,
                FILE_CHUNK);
        return;
    }
    for (size_t i = 0; i < conf->nservers; i++)
        if (conf->servers[i].tls_ctx)
            SSL_CTX_set_options(conf->servers[i].tls_ctx, SSL_OP_ENABLE_KTLS);
    log_msg(LOG_INFO, "kernel TLS: on; files over TLS go out with SSL_sendfile when the cipher allows");
}

const char *tls_built_version(void) { return OPENSSL_VERSION_TEXT; }
const char *tls_running_version(void) { return OpenSSL_version(OPENSSL_VERSION); }

/* ---- SNI ---- */

/* The host name of a ClientHello's server_name extension (RFC 6066
 * section 3), or 0 when it has none. */
static size_t hello_server_name(SSL *ssl, const char **name)
{
    const unsigned char *p;
    size_t len;
    if (!SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_server_name, &p, &len) || len < 5)
        return 0;
    size_t list = (size_t)p[0] << 8 | p[1], n = (size_t)p[3] << 8 | p[4];
    if (list != len - 2 || p[2] != TLSEXT_NAMETYPE_host_name || n == 0 || n > len - 5)
        return 0;
    *name = (const char *)p + 5;
    return n;
}

/* Move the connection to the context of the server SNI names, before
 * OpenSSL looks its session up or picks a version, a cipher or a
 * certificate (the servername callback comes after the session lookup, so
 * a session of one server would resume on another). SSL_set_SSL_CTX moves
 * the certificates and the session id context only: the rest of the
 * server's settings are copied here. */
static int on_client_hello(SSL *ssl, int *alert, void *arg)
{
    conn_t *c = SSL_get_app_data(ssl);
    const char *name;
    size_t len = hello_server_name(ssl, &name);
    if (!c || !len)
        return SSL_CLIENT_HELLO_SUCCESS;  /* no SNI: the default server */
    const listener_t *l = c->listener;
    const conf_server_t *srv = conf_find_server(l->servers, l->nservers, name, len);
    SSL_CTX *ctx = srv ? srv->tls_ctx : NULL;
    if (!ctx || ctx == SSL_get_SSL_CTX(ssl))
        return SSL_CLIENT_HELLO_SUCCESS;
    SSL_set_SSL_CTX(ssl, ctx);
    SSL_clear_options(ssl, SSL_get_options(ssl));
    SSL_set_options(ssl, SSL_CTX_get_options(ctx));
    SSL_set_min_proto_version(ssl, SSL_CTX_get_min_proto_version(ctx));
    SSL_set_max_proto_version(ssl, SSL_CTX_get_max_proto_version(ctx));
    SSL_set_num_tickets(ssl, SSL_CTX_get_num_tickets(ctx));
    if (SSL_set_cipher_list(ssl, srv->ssl.ciphers) != 1) {
        clear_errors();
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_verify(ssl, SSL_CTX_get_verify_mode(ctx), SSL_CTX_get_verify_callback(ctx));
    SSL_set_verify_depth(ssl, SSL_CTX_get_verify_depth(ctx));
    STACK_OF(X509_NAME) *names = SSL_CTX_get_client_CA_list(ctx);
    SSL_set_client_CA_list(ssl, names ? SSL_dup_CA_list(names) : NULL);
    return SSL_CLIENT_HELLO_SUCCESS;
}

/* Acknowledge the name (the switch was made in on_client_hello). */
static int on_servername(SSL *ssl, int *alert, void *arg) { return SSL_TLSEXT_ERR_OK; }

/* ---- transport ---- */

static SSL *ssl_of(const conn_t *c) { return c->tls; }

/* Map an SSL call's failure to errno (EAGAIN to wait, EPROTO for a TLS
 * error, which is logged) and return -1, or 0 for a clean EOF. */
static ssize_t failed(conn_t *c, int rc, bool reading)
{
    int saved = errno;
    int e = SSL_get_error(ssl_of(c), rc);
    char reason[256];
    switch (e) {
    case SSL_ERROR_WANT_READ:
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_WANT_WRITE:
        if (reading)
            c->tls_read_wants_write = true;  /* retry the read when the socket takes bytes */
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:  /* close_notify, or EOF (SSL_OP_IGNORE_UNEXPECTED_EOF) */
        clear_errors();
        return 0;
    case SSL_ERROR_SYSCALL:
        clear_errors();
        if (saved == 0)  /* EOF without close_notify: a plain EOF to us */
            return 0;
        errno = saved;
        return -1;
    default:
        c->tls_broken = true;  /* its session must not be resumed */
        log_msg(LOG_INFO, "client %s: TLS %s: %s", c->peer, SSL_is_init_finished(ssl_of(c)) ? "error" : "handshake failed",
                drain_errors(reason, sizeof(reason)));
        errno = EPROTO;
        return -1;
    }
}

/* The first bytes of a connection: a TLS handshake, or plain HTTP. */
static int start(conn_t *c)
{
    unsigned char first;
    ssize_t n = recv(c->io.fd, &first, 1, MSG_PEEK);
    if (n <= 0)
        return (int)n;
    /* a TLS record, or an SSLv2-format ClientHello (high bit set: OpenSSL
     * refuses it); anything else is plain HTTP on a TLS address, answered
     * 400 by the conn layer */
    if (first != HANDSHAKE_BYTE && !(first & 0x80)) {
        c->plain_on_tls = true;
        c->tp = &transport_plain;
        return 1;
    }
    SSL *ssl = SSL_new(c->listener->servers[0]->tls_ctx);
    if (!ssl || SSL_set_fd(ssl, c->io.fd) != 1) {
        char reason[256];
        log_msg(LOG_ERR, "SSL_new: %s", drain_errors(reason, sizeof(reason)));
        SSL_free(ssl);
        errno = ENOMEM;
        return -1;
    }
    SSL_set_app_data(ssl, c);
    SSL_set_accept_state(ssl);
    c->tls = ssl;
    return 1;
}

static ssize_t tls_recv(conn_t *c, void *buf, size_t n)
{
    if (!c->tls) {
        int rc = start(c);
        if (rc <= 0)
            return rc;
        if (!c->tls)
            return c->tp->recv(c, buf, n);
    }
    c->tls_read_wants_write = false;
    clear_errors();
    errno = 0;
    int rc = SSL_read(ssl_of(c), buf, n > INT32_MAX ? INT32_MAX : (int)n);
    return rc > 0 ? rc : failed(c, rc, true);
}

/* SSL_write from the staging buffer until all of `len` is taken or the
 * socket is full. A record that was only partly sent is retried by the
 * next call with the same leading bytes, which the caller still holds. */
static ssize_t write_staged(conn_t *c, const unsigned char *from, size_t len)
{
    clear_errors();
    errno = 0;
    int rc = SSL_write(ssl_of(c), from, (int)len);
    return rc > 0 ? rc : failed(c, rc, false);
}

static ssize_t tls_writev(conn_t *c, const struct iovec *iov, int iovcnt, bool more)
{
    ssize_t total = 0;
    int i = 0;
    size_t skip = 0;  /* bytes of iov[i] already written */
    while (i < iovcnt) {
        /* stage up to one record from where the last write stopped */
        size_t len = 0;
        int j = i;
        size_t off = skip;
        while (j < iovcnt && len < RECORD_MAX) {
            size_t k = iov[j].iov_len - off;
            if (k > RECORD_MAX - len)
                k = RECORD_MAX - len;
            memcpy(stage + len, (const char *)iov[j].iov_base + off, k);
            len += k;
            off += k;
            if (off == iov[j].iov_len) {
                j++;
                off = 0;
            }
        }
        if (len == 0)
            break;
        ssize_t w = write_staged(c, stage, len);
        if (w < 0)
            return total ? total : -1;
        total += w;
        /* advance past w bytes */
        size_t adv = (size_t)w;
        while (adv && i < iovcnt) {
            size_t k = iov[i].iov_len - skip;
            if (adv < k) {
                skip += adv;
                adv = 0;
            } else {
                adv -= k;
                i++;
                skip = 0;
            }
        }
        if ((size_t)w < len)
            break;
    }
    return total;
}

/* Files: with kernel TLS on the connection (the cipher must suit the
 * kernel), SSL_sendfile; else read into the staging buffer and written,
 * record by record, until `n` bytes are sent or the socket is full. */
static ssize_t tls_sendfile(conn_t *c, int fd, off_t *off, size_t n)
{
    if (ktls && BIO_get_ktls_send(SSL_get_wbio(ssl_of(c)))) {
        clear_errors();
        errno = 0;
        ossl_ssize_t w = SSL_sendfile(ssl_of(c), fd, *off, n, 0);
        if (w <= 0)
            return failed(c, (int)w, false);
        *off += w;
        return w;
    }
    /* OpenSSL's write buffer stays while the file goes out (released after
     * every record, it would be allocated again for each 16 KiB); the
     * connection lets go of it when idle (tls_idle) */
    SSL_clear_mode(ssl_of(c), SSL_MODE_RELEASE_BUFFERS);
    c->tls_kept_buffers = true;
    ssize_t total = 0, failure = 0;
    while ((size_t)total < n) {
        size_t want = n - (size_t)total > FILE_CHUNK ? FILE_CHUNK : n - (size_t)total;
        ssize_t r = pread(fd, stage, want, *off);
        if (r <= 0) {
            failure = r;
            break;
        }
        size_t done = 0;  /* of the chunk, one record per SSL_write */
        while (done < (size_t)r) {
            size_t len = (size_t)r - done > RECORD_MAX ? RECORD_MAX : (size_t)r - done;
            ssize_t w = write_staged(c, stage + done, len);
            if (w < 0) {
                failure = -1;
                break;
            }
            done += (size_t)w;
            if ((size_t)w < len)
                break;
        }
        *off += (off_t)done;
        total += (ssize_t)done;
        if (done < (size_t)r)
            break;
    }
    SSL_set_mode(ssl_of(c), SSL_MODE_RELEASE_BUFFERS);
    return total ? total : failure;
}

/* Waiting for a next request: no record buffers. SSL_MODE_RELEASE_BUFFERS
 * frees them after each read and write, but for those a file kept. */
static void tls_idle(conn_t *c)
{
    if (!c->tls_kept_buffers)
        return;
    c->tls_kept_buffers = false;
    if (SSL_free_buffers(ssl_of(c)) != 1)
        clear_errors();  /* bytes still buffered: they stay */
}

static void tls_shutdown_write(conn_t *c)
{
    if (c->tls) {
        clear_errors();
        SSL_shutdown(ssl_of(c));  /* close_notify, as far as the socket takes it: never waits */
        clear_errors();
    }
    shutdown(c->io.fd, SHUT_WR);
}

static void tls_close(conn_t *c)
{
    SSL *ssl = ssl_of(c);
    if (ssl && SSL_is_init_finished(ssl) && !c->tls_broken) {
        /* close_notify, as far as the socket takes it: a session that was
         * not shut down is dropped from the cache by SSL_free */
        clear_errors();
        if (!(SSL_get_shutdown(ssl) & SSL_SENT_SHUTDOWN))
            SSL_shutdown(ssl);
        SSL_set_shutdown(ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
        clear_errors();
    }
    SSL_free(ssl);
    c->tls = NULL;
}

const transport_t transport_tls = {
    .recv = tls_recv,
    .writev = tls_writev,
    .sendfile = tls_sendfile,
    .shutdown_write = tls_shutdown_write,
    .close = tls_close,
    .idle = tls_idle,
    .short_read_drains = false,
};

const char *tls_protocol(const conn_t *c) { return c->tls ? SSL_get_version(ssl_of(c)) : NULL; }

const char *tls_cipher(const conn_t *c) { return c->tls ? SSL_get_cipher_name(ssl_of(c)) : NULL; }

/* ---- client certificates ---- */

/* The server whose context the handshake ended with (SNI may switch it). */
static const conf_server_t *handshake_server(const conn_t *c)
{
    return SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl_of(c)));
}

int tls_check_client(const conn_t *c, const conf_server_t *srv)
{
    if (!c->tls)
        return 0;
    const conf_server_t *hs = handshake_server(c);
    if (srv != hs && (srv->ssl.verify_client != CONF_VERIFY_OFF || hs->ssl.verify_client != CONF_VERIFY_OFF)) {
        log_msg(LOG_INFO, "client %s: Host names a server other than the one the TLS handshake chose", c->peer);
        return 421;
    }
    int policy = srv->ssl.verify_client;
    if (policy == CONF_VERIFY_OFF || policy == CONF_VERIFY_OPTIONAL_NO_CA)
        return 0;
    X509 *peer = SSL_get1_peer_certificate(ssl_of(c));
    long result = SSL_get_verify_result(ssl_of(c));
    X509_free(peer);
    if (!peer)
        return policy == CONF_VERIFY_ON ? HTTP_NO_CLIENT_CERT : 0;
    return result == X509_V_OK ? 0 : HTTP_BAD_CLIENT_CERT;
}

const char *tls_client_verify(const conn_t *c, char *buf, size_t len)
{
    if (!c->tls)
        return NULL;
    const conf_server_t *srv = handshake_server(c);
    X509 *peer = SSL_get1_peer_certificate(ssl_of(c));
    if (!peer || !srv || srv->ssl.verify_client == CONF_VERIFY_OFF) {
        X509_free(peer);
        return "NONE";
    }
    X509_free(peer);
    long result = SSL_get_verify_result(ssl_of(c));
    if (result == X509_V_OK)
        return "SUCCESS";
    snprintf(buf, len, "FAILED:%s", X509_verify_cert_error_string(result));
    return buf;
}

const char *tls_client_s_dn(const conn_t *c, char *buf, size_t len)
{
    if (!c->tls)
        return NULL;
    X509 *peer = SSL_get1_peer_certificate(ssl_of(c));
    if (!peer)
        return "";
    BIO *mem = BIO_new(BIO_s_mem());
    size_t n = 0;
    if (mem && X509_NAME_print_ex(mem, X509_get_subject_name(peer), 0, XN_FLAG_RFC2253) >= 0) {
        int r = BIO_read(mem, buf, len > 1 ? (int)len - 1 : 0);
        n = r > 0 ? (size_t)r : 0;
    }
    if (len)
        buf[n] = '\0';
    BIO_free(mem);
    X509_free(peer);
    clear_errors();
    return buf;
}
