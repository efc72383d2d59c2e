/* HTTP Basic authentication: credentials, htpasswd files, hashes. */
#include "auth.h"

#include <crypt.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conn.h"
#include "filecache.h"
#include "http.h"
#include "log.h"

#define AUTH_FILE_MAX (4 * 1024 * 1024)  /* an htpasswd file larger than this is refused (500) */
#define AUTH_CREDENTIALS_MAX 1024        /* decoded user:password */

bool auth_credentials(str_t header, char *out, size_t size, str_t *user, str_t *password)
{
    str_t v = str_trim(header);
    if (v.len < 6 || strncasecmp(v.ptr, "Basic ", 6) != 0)
        return false;
    str_t b64 = str_trim((str_t){v.ptr + 6, v.len - 6});
    if (b64.len == 0 || b64.len % 4 != 0 || b64.len / 4 * 3 + 1 > size)
        return false;
    int n = EVP_DecodeBlock((unsigned char *)out, (const unsigned char *)b64.ptr, (int)b64.len);
    if (n < 0)
        return false;
    for (size_t i = b64.len; i > 0 && b64.ptr[i - 1] == '='; i--)
        n--;  /* EVP_DecodeBlock counts the padding as bytes */
    if (n < 0)
        return false;
    out[n] = '\0';
    char *colon = memchr(out, ':', (size_t)n);
    if (!colon)
        return false;
    *user = (str_t){out, (size_t)(colon - out)};
    *password = (str_t){colon + 1, (size_t)(n - (colon + 1 - out))};
    return true;
}

str_t auth_user(const request_t *rq, char *buf, size_t size)
{
    str_t header = http_header_get(&rq->h, request_head(rq), "authorization");
    str_t user, password;
    if (!rq->h.head_len || !header.ptr || !auth_credentials(header, buf, size, &user, &password))
        return (str_t){"", 0};
    OPENSSL_cleanse((char *)password.ptr, password.len);
    return user;
}

str_t auth_find_user(const char *text, size_t len, str_t user)
{
    size_t i = 0;
    while (i < len) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t n = nl ? (size_t)(nl - line) : len - i;
        i += n + (nl ? 1 : 0);
        if (n && line[n - 1] == '\r')
            n--;
        if (n == 0 || line[0] == '#')
            continue;
        const char *colon = memchr(line, ':', n);
        if (!colon || (size_t)(colon - line) != user.len || memcmp(line, user.ptr, user.len) != 0)
            continue;
        const char *hash = colon + 1;
        size_t hlen = n - user.len - 1;
        const char *end = memchr(hash, ':', hlen);  /* a comment may follow */
        return (str_t){hash, end ? (size_t)(end - hash) : hlen};
    }
    return STR_NULL;
}

static const char itoa64[] = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void to64(char **p, unsigned long v, int n)
{
    while (n-- > 0) {
        *(*p)++ = itoa64[v & 0x3f];
        v >>= 6;
    }
}

static void md5_parts(EVP_MD_CTX *ctx, unsigned char *out, const void *a, size_t alen, const void *b, size_t blen,
                      const void *c, size_t clen)
{
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    EVP_DigestUpdate(ctx, a, alen);
    EVP_DigestUpdate(ctx, b, blen);
    EVP_DigestUpdate(ctx, c, clen);
    EVP_DigestFinal_ex(ctx, out, NULL);
}

/* Apache's "$apr1$" MD5 crypt (PHK's md5crypt with another magic), which
 * libcrypt does not have. out: at least 38 bytes. */
static bool apr1(str_t password, str_t hash, char *out, size_t size)
{
    static const char magic[] = "$apr1$";
    size_t ml = sizeof(magic) - 1;
    const char *salt = hash.ptr + ml;
    size_t sl = 0;
    while (ml + sl < hash.len && sl < 8 && salt[sl] != '$')
        sl++;
    if (size < ml + sl + 1 + 22 + 1)
        return false;
    const unsigned char *pw = (const unsigned char *)password.ptr;
    size_t pl = password.len;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new(), *alt = EVP_MD_CTX_new();
    if (!ctx || !alt) {
        EVP_MD_CTX_free(ctx);
        EVP_MD_CTX_free(alt);
        return false;
    }
    unsigned char fin[16];
    md5_parts(alt, fin, pw, pl, salt, sl, pw, pl);
    EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
    EVP_DigestUpdate(ctx, pw, pl);
    EVP_DigestUpdate(ctx, magic, ml);
    EVP_DigestUpdate(ctx, salt, sl);
    for (size_t i = pl; i > 0; i -= i > 16 ? 16 : i)
        EVP_DigestUpdate(ctx, fin, i > 16 ? 16 : i);
    for (size_t i = pl; i; i >>= 1)
        EVP_DigestUpdate(ctx, (i & 1) ? (const unsigned char *)"" : pw, 1);
    EVP_DigestFinal_ex(ctx, fin, NULL);
    for (int i = 0; i < 1000; i++) {
        EVP_DigestInit_ex(ctx, EVP_md5(), NULL);
        if (i & 1)
            EVP_DigestUpdate(ctx, pw, pl);
        else
            EVP_DigestUpdate(ctx, fin, 16);
        if (i % 3)
            EVP_DigestUpdate(ctx, salt, sl);
        if (i % 7)
            EVP_DigestUpdate(ctx, pw, pl);
        if (i & 1)
            EVP_DigestUpdate(ctx, fin, 16);
        else
            EVP_DigestUpdate(ctx, pw, pl);
        EVP_DigestFinal_ex(ctx, fin, NULL);
    }
    EVP_MD_CTX_free(ctx);
    EVP_MD_CTX_free(alt);
    char *p = out;
    memcpy(p, magic, ml);
    p += ml;
    memcpy(p, salt, sl);
    p += sl;
    *p++ = '$';
    static const int groups[5][3] = {{0, 6, 12}, {1, 7, 13}, {2, 8, 14}, {3, 9, 15}, {4, 10, 5}};
    for (int g = 0; g < 5; g++)
        to64(&p, (unsigned long)fin[groups[g][0]] << 16 | (unsigned long)fin[groups[g][1]] << 8 | fin[groups[g][2]], 4);
    to64(&p, fin[11], 2);
    *p = '\0';
    return true;
}

/* "{SHA}" + base64(SHA-1(password)) */
static bool sha1_b64(str_t password, char *out, size_t size)
{
    unsigned char md[20];
    if (size < 5 + 28 + 1 || !EVP_Digest(password.ptr, password.len, md, NULL, EVP_sha1(), NULL))
        return false;
    memcpy(out, "{SHA}", 5);
    EVP_EncodeBlock((unsigned char *)out + 5, md, sizeof(md));
    return true;
}

bool auth_verify(str_t hash, str_t password)
{
    char made[256];
    const char *computed = NULL;
    if (hash.len > 7 && memcmp(hash.ptr, "{PLAIN}", 7) == 0) {
        return hash.len - 7 == password.len && CRYPTO_memcmp(hash.ptr + 7, password.ptr, password.len) == 0;
    } else if (hash.len > 5 && memcmp(hash.ptr, "{SHA}", 5) == 0) {
        computed = sha1_b64(password, made, sizeof(made)) ? made : NULL;
    } else if (hash.len > 6 && memcmp(hash.ptr, "$apr1$", 6) == 0) {
        computed = apr1(password, hash, made, sizeof(made)) ? made : NULL;
    } else {  /* bcrypt, SHA-crypt, ...: libcrypt; a password with a NUL never matches */
        char setting[CRYPT_OUTPUT_SIZE], phrase[CRYPT_MAX_PASSPHRASE_SIZE];
        if (hash.len >= sizeof(setting) || password.len >= sizeof(phrase) || memchr(password.ptr, '\0', password.len))
            return false;
        memcpy(setting, hash.ptr, hash.len);
        setting[hash.len] = '\0';
        memcpy(phrase, password.ptr, password.len);
        phrase[password.len] = '\0';
        static struct crypt_data data;  /* 32 KiB: not on the stack */
        data.initialized = 0;
        computed = crypt_r(phrase, setting, &data);
        OPENSSL_cleanse(phrase, sizeof(phrase));
        if (!computed || computed[0] == '*')  /* an unknown or broken hash */
            return false;
    }
    return computed && strlen(computed) == hash.len && CRYPTO_memcmp(computed, hash.ptr, hash.len) == 0;
}

/* ---- the user file ---- */

/* A worker's copy of one user file, loaded again when the file changes. */
typedef struct auth_file {
    struct auth_file *next;
    char *path;
    struct stat st;
    char *text;
    size_t len;
} auth_file_t;

static auth_file_t *files;

static bool same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* The current text of a user file; NULL when it cannot be read. */
static const auth_file_t *user_file(const char *path)
{
    auth_file_t *f = files;
    while (f && strcmp(f->path, path) != 0)
        f = f->next;
    fc_entry_t *e = filecache_get(path, strlen(path), NULL);  /* its stat, kept fresh by inotify */
    if (!e) {
        log_msg(LOG_ERR, "open() \"%s\" failed (%s)", path, strerror(errno));
        return NULL;
    }
    if (f && same(&f->st, &e->st)) {
        filecache_release(e);
        return f;
    }
    if (!S_ISREG(e->st.st_mode) || e->st.st_size > AUTH_FILE_MAX) {
        log_msg(LOG_ERR, "auth_basic_user_file \"%s\" is not a file of at most %d bytes", path, AUTH_FILE_MAX);
        filecache_release(e);
        return NULL;
    }
    size_t len = (size_t)e->st.st_size;
    char *text = xmalloc(len + 1);
    size_t got = 0;
    if (e->data) {
        memcpy(text, e->data, len);
        got = len;
    }
    while (got < len) {  /* a local file of bounded size: read as the file cache reads one */
        ssize_t n = pread(e->fd, text + got, len - got, (off_t)got);
        if (n <= 0 && !(n < 0 && errno == EINTR))
            break;
        got += n > 0 ? (size_t)n : 0;
    }
    if (got < len) {
        log_msg(LOG_ERR, "read() \"%s\" failed", path);
        free(text);
        filecache_release(e);
        return NULL;
    }
    if (!f) {
        f = xcalloc(1, sizeof(*f));
        f->path = xstrdup(path);
        f->next = files;
        files = f;
    }
    free(f->text);
    f->text = text;
    f->len = len;
    f->st = e->st;
    filecache_release(e);
    return f;
}

static int unauthorized(request_t *rq, const conf_scope_t *s)
{
    buf_t *v = &rq->value;
    v->start = v->end = 0;
    if (var_eval(&s->auth_realm, rq, v) != 0)
        return 500;
    buf_t *x = &rq->fields;
    size_t mark = x->end;
    int rc = buf_appends(x, "WWW-Authenticate: Basic realm=\"");
    for (size_t i = 0; i < buf_len(v) && rc == 0; i++) {  /* a quoted-string */
        char ch = buf_head(v)[i];
        if (ch == '"' || ch == '\\')
            rc = buf_append(x, "\\", 1);
        if (rc == 0 && (unsigned char)ch >= ' ' && ch != 0x7f)
            rc = buf_append(x, &ch, 1);
    }
    rc = rc || buf_appends(x, "\"\r\n");
    if (rc) {
        x->end = mark;
        x->failed = false;
        return 500;
    }
    return 401;
}

int auth_check(request_t *rq, const conf_scope_t *s)
{
    str_t header = http_header_get(&rq->h, request_head(rq), "authorization");
    char creds[AUTH_CREDENTIALS_MAX];
    str_t user, password;
    if (!header.ptr || !auth_credentials(header, creds, sizeof(creds), &user, &password)) {
        if (header.ptr)
            log_msg(LOG_INFO, "client %s: no user/password was provided for basic authentication", rq->conn->peer);
        return unauthorized(rq, s);
    }
    const auth_file_t *f = user_file(s->auth_user_file);
    if (!f) {
        OPENSSL_cleanse(creds, sizeof(creds));
        return 500;
    }
    str_t hash = auth_find_user(f->text, f->len, user);
    bool ok = hash.ptr && auth_verify(hash, password);
    if (!ok)
        log_msg(LOG_ERR, "client %s: user \"%.*s\": %s", rq->conn->peer, (int)(user.len > 64 ? 64 : user.len), user.ptr,
                hash.ptr ? "password mismatch" : "was not found");
    OPENSSL_cleanse(creds, sizeof(creds));
    return ok ? 0 : unauthorized(rq, s);
}
