/* The request core without a socket: a request is parsed from bytes, routed
 * and handled by http_handle, and the response it produces (status, header
 * fields, body source) is read back. The "framing" here is a stub that
 * records what the core asks of it; no connection moves a byte. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "filecache.h"
#include "http.h"
#include "loop.h"
#include "request.h"
#include "unit.h"

static char root[64];
static conf_t *conf;
static listener_t listener;
static conn_t conn;  /* never accepted: only its facts (peer, listener) are read */
static char head[4096];
static size_t head_len;
static int wakes, fails, fail_status;

static const char *stub_head(const request_t *rq, size_t *len)
{
    *len = head_len;
    return head;
}
static void stub_wake(request_t *rq) { wakes++; }
static void stub_fail(request_t *rq, int status)
{
    fails++;
    fail_status = status;
}
static void stub_abort(request_t *rq) {}
static const char *stub_protocol(const request_t *rq) { return "HTTP/1.1"; }

static const framing_t STUB = {stub_head, stub_wake, stub_fail, stub_abort, stub_protocol};

static void put_file(const char *name, const char *data)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/%s", root, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        if (write(fd, data, strlen(data)) < 0)
            perror(path);
        close(fd);
    }
}

static void remove_root(void)
{
    char path[256];
    snprintf(path, sizeof(path), "%s/a.txt", root);
    unlink(path);
    snprintf(path, sizeof(path), "%s/404.html", root);
    unlink(path);
    rmdir(root);
}

static void setup(void)
{
    if (conf)
        return;
    snprintf(root, sizeof(root), "/tmp/webserv-unit-rq-XXXXXX");
    if (!mkdtemp(root))
        abort();
    atexit(remove_root);
    put_file("a.txt", "0123456789abcdef");
    put_file("404.html", "<p>gone</p>\n");
    char text[1024], err[256];
    snprintf(text, sizeof(text),
             "server {\n"
             "  listen 127.0.0.1:1;\n"
             "  root %s;\n"
             "  location / { allow_methods GET HEAD; }\n"
             "  location /pages/ { error_page 404 /404.html; }\n"
             "  location /old { return 301 /new; }\n"
             "}\n",
             root);
    conf = conf_parse(text, strlen(text), "unit.conf", root, err, sizeof(err));
    if (!conf) {
        fprintf(stderr, "test_request: %s\n", err);
        abort();
    }
    loop_init();
    filecache_init(16);
    listener.addr = &conf->servers[0].listens[0];
    listener.servers = xcalloc(1, sizeof(*listener.servers));
    listener.servers[0] = &conf->servers[0];
    listener.nservers = 1;
    conn.listener = &listener;
    strcpy(conn.peer, "127.0.0.1");
}

/* Parse `req` and handle it; the caller ends it with finish(). */
static request_t *handle(const char *req)
{
    setup();
    head_len = strlen(req);
    memcpy(head, req, head_len);
    wakes = fails = fail_status = 0;
    request_t *rq = request_get(&STUB, NULL, &conn);
    CHECK_EQ_INT(http_parse_head(&rq->h, head, head_len), HTTP_OK);
    rq->keep_alive = true;
    http_handle(rq);
    return rq;
}

static void finish(request_t *rq)
{
    request_end_handler(rq, true);
    request_put(rq);
}

static bool has_field(const request_t *rq, const char *line)
{
    const response_t *r = &rq->resp;
    size_t n = strlen(line);
    if (r->cached_fields.len && memmem(r->cached_fields.ptr, r->cached_fields.len, line, n))
        return true;
    return buf_len(&rq->fields) && memmem(buf_head(&rq->fields), buf_len(&rq->fields), line, n);
}

/* The body as bytes, whatever source holds it. */
static size_t body_of(const request_t *rq, char *out, size_t cap)
{
    const response_t *r = &rq->resp;
    size_t n = 0;
    if (buf_len(&r->mem) && n + buf_len(&r->mem) <= cap) {
        memcpy(out + n, buf_head(&r->mem), buf_len(&r->mem));
        n += buf_len(&r->mem);
    }
    if (r->body_len && n + r->body_len <= cap) {
        memcpy(out + n, r->body, r->body_len);
        n += r->body_len;
    }
    if (r->file >= 0 && r->file_end > r->file_off) {
        ssize_t k = pread(r->file, out + n, (size_t)(r->file_end - r->file_off), r->file_off);
        n += k > 0 ? (size_t)k : 0;
    }
    return n;
}

TEST(request_static_file_is_a_status_fields_and_a_body_source)
{
    request_t *rq = handle("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    char body[64];
    CHECK(rq->resp.ready);
    CHECK_EQ_INT(rq->status, 200);
    CHECK_EQ_INT(rq->resp.length, 16);
    CHECK(has_field(rq, "Content-Type: text/plain"));
    CHECK(has_field(rq, "ETag: "));
    CHECK_EQ_INT(body_of(rq, body, sizeof(body)), 16);
    CHECK(memcmp(body, "0123456789abcdef", 16) == 0);
    CHECK(!rq->resp.more);
    CHECK_EQ_INT(fails, 0);
    finish(rq);
}

TEST(request_range_gives_206_and_the_slice)
{
    request_t *rq = handle("GET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=2-5\r\n\r\n");
    char body[64];
    CHECK_EQ_INT(rq->status, 206);
    CHECK_EQ_INT(rq->resp.length, 4);
    CHECK(has_field(rq, "Content-Range: bytes 2-5/16\r\n"));
    CHECK_EQ_INT(body_of(rq, body, sizeof(body)), 4);
    CHECK(memcmp(body, "2345", 4) == 0);
    finish(rq);
}

TEST(request_head_has_the_length_and_no_body)
{
    request_t *rq = handle("HEAD /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    char body[64];
    CHECK_EQ_INT(rq->status, 200);
    CHECK_EQ_INT(rq->resp.length, 16);
    CHECK_EQ_INT(body_of(rq, body, sizeof(body)), 0);
    finish(rq);
}

TEST(request_missing_file_gets_the_builtin_page_in_memory)
{
    request_t *rq = handle("GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    char body[2048];
    CHECK_EQ_INT(rq->status, 404);
    CHECK(rq->resp.ready);
    CHECK(has_field(rq, "Content-Type: text/html"));
    size_t n = body_of(rq, body, sizeof(body) - 1);
    body[n] = '\0';
    CHECK_EQ_INT(rq->resp.length, (long long)n);
    CHECK(strstr(body, "404 Not Found") != NULL);
    finish(rq);
}

TEST(request_error_page_keeps_the_error_status)
{
    request_t *rq = handle("GET /pages/nope HTTP/1.1\r\nHost: x\r\n\r\n");
    char body[64];
    CHECK_EQ_INT(rq->status, 404);
    size_t n = body_of(rq, body, sizeof(body));
    CHECK_EQ_INT(n, 12);
    CHECK(memcmp(body, "<p>gone</p>\n", 12) == 0);
    CHECK(!has_field(rq, "ETag: "));  /* no validators on an error page */
    finish(rq);
}

TEST(request_method_not_allowed_names_the_allowed_ones)
{
    request_t *rq = handle("DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(rq->status, 405);
    CHECK(has_field(rq, "Allow: GET, HEAD\r\n"));
    finish(rq);
}

TEST(request_return_redirect_sets_location)
{
    request_t *rq = handle("GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
    CHECK_EQ_INT(rq->status, 301);
    CHECK(has_field(rq, "Location: /new\r\n"));
    finish(rq);
}

TEST(request_if_none_match_gives_304_without_body)
{
    request_t *rq = handle("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    char etag[128] = "";
    const char *e = rq->resp.cached_fields.ptr ? memmem(rq->resp.cached_fields.ptr, rq->resp.cached_fields.len,
                                                        "ETag: ", 6)
                                               : NULL;
    CHECK(e != NULL);
    if (e) {
        const char *end = strstr(e, "\r\n");
        snprintf(etag, sizeof(etag), "%.*s", (int)(end - e - 6), e + 6);
    }
    finish(rq);
    char req[512];
    snprintf(req, sizeof(req), "GET /a.txt HTTP/1.1\r\nHost: x\r\nIf-None-Match: %s\r\n\r\n", etag);
    rq = handle(req);
    char body[64];
    CHECK_EQ_INT(rq->status, 304);
    CHECK_EQ_INT(rq->resp.length, -1);
    CHECK_EQ_INT(body_of(rq, body, sizeof(body)), 0);
    finish(rq);
}

TEST(request_reset_drops_the_handler_fields_but_keeps_earlier_ones)
{
    request_t *rq = handle("GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n");
    http_add_header(rq, "X-Late: 1\r\n");  /* the handler's: after its response began */
    http_error(rq, 500);
    CHECK_EQ_INT(rq->status, 500);
    CHECK(!has_field(rq, "X-Late: 1"));
    CHECK(!has_field(rq, "ETag: "));
    CHECK(has_field(rq, "Content-Type: text/html"));
    finish(rq);
}

TEST(request_pooled_request_carries_nothing_over)
{
    request_t *rq = handle("GET /old HTTP/1.1\r\nHost: x\r\n\r\n");
    finish(rq);
    request_t *again = request_get(&STUB, NULL, &conn);
    CHECK_EQ_INT(again->status, 0);
    CHECK_EQ_INT(buf_len(&again->fields), 0);
    CHECK(!again->resp.ready);
    CHECK_EQ_INT(again->resp.length, -1);
    CHECK_EQ_INT(again->resp.file, -1);
    CHECK(again->resp.entry == NULL);
    CHECK(again->resp.cached_fields.ptr == NULL);
    CHECK_EQ_INT(again->resp.sent, 0);
    request_put(again);
}
