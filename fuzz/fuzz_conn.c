/* libFuzzer harness: a real connection (src/conn.c, src/h1.c and the handlers behind
 * it) fed its bytes in pieces, the way a slow or hostile client sends them.
 *
 * Input: two control bytes that seed the piece sizes, then the byte stream
 * of the connection. The stream goes through a socketpair into a
 * connection accepted by conn_accept, on a configuration with static files,
 * index, autoindex, error pages, return and uploads; after each piece the
 * loop runs until it is idle and the response bytes are drained. Built with
 * BUF_MOVE_ON_RESERVE: every time a buffer compacts or grows it moves and
 * its old block is freed, so a pointer into the input buffer kept across a
 * read is a use-after-free that ASan reports the first time it is used.
 * Checked: the server's output starts with a status line, and every
 * connection ends with nothing leaked (LeakSanitizer at exit). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf.h"
#include "conn.h"
#include "h1.h"
#include "filecache.h"
#include "fuzz.h"
#include "log.h"
#include "loop.h"

#define MAX_ROUNDS 64  /* loop rounds after a piece before the next one */
#ifndef FUZZ_H2
#define FUZZ_H2 0  /* fuzz_h2.c: the same harness, on an `http2` address, fed HTTP/2 frames */
#endif

static listener_t listener;
static char upload_dir[512];

static void put_file(const char *dir, const char *name, const char *data, size_t len)
{
    char path[1024];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    FUZZ_CHECK(fd >= 0);
    FUZZ_CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

static void setup(void)
{
    char dir[] = "/tmp/webserv-fuzz-conn-XXXXXX";
    FUZZ_CHECK(mkdtemp(dir) != NULL);
    char www[600], sub[700];
    snprintf(www, sizeof(www), "%s/www", dir);
    snprintf(sub, sizeof(sub), "%s/sub", www);
    snprintf(upload_dir, sizeof(upload_dir), "%s/up", www);
    FUZZ_CHECK(mkdir(www, 0755) == 0 && mkdir(sub, 0755) == 0 && mkdir(upload_dir, 0755) == 0);
    put_file(www, "index.html", "<html>index</html>\n", 19);
    put_file(www, "a.txt", "0123456789abcdef", 16);
    put_file(www, "404.html", "<html>not here</html>\n", 22);
    put_file(sub, "index.html", "sub index\n", 10);
    static char big[200 * 1024];  /* larger than the cache keeps in memory: sendfile */
    memset(big, 'b', sizeof(big));
    put_file(www, "big.bin", big, sizeof(big));

    char text[2048];
    int n = snprintf(text, sizeof(text),
                     "error_log /dev/null;\n"
                     "server {\n"
                     "  listen 127.0.0.1:1;\n"
                     "  server_name a.test;\n"
                     "  root %s;\n"
                     "  index index.html;\n"
                     "  error_page 404 /404.html;\n"
                     "  error_page 405 /sub/;\n"
                     "  client_max_body_size 64k;\n"
                     "  location / { allow_methods GET HEAD; }\n"
                     "  location /sub/ { autoindex on; }\n"
                     "  location /up/ { allow_methods GET HEAD POST PUT DELETE; upload_store %s; autoindex on; }\n"
                     "  location /old/ { return 301 http://a.test/new/; }\n"
                     "  location = /t { return 200 \"text\"; }\n"
                     "  location = /nc { return 204 \"never sent\"; }\n"
                     "}\n",
                     www, upload_dir);
    char err[512];
    conf_t *conf = conf_parse(text, (size_t)n, "fuzz.conf", dir, err, sizeof(err));
    if (!conf)
        fprintf(stderr, "fuzz_conn: %s\n", err);
    FUZZ_CHECK(conf != NULL);
    log_open("/dev/null");
    signal(SIGPIPE, SIG_IGN);
    FUZZ_CHECK(loop_init() == 0);
    filecache_init(64);
    listener.addr = &conf->servers[0].listens[0];
    listener.servers = xcalloc(1, sizeof(*listener.servers));
    listener.servers[0] = &conf->servers[0];
    listener.nservers = 1;
    listener.transport = &transport_plain;
    listener.protocol = &protocol_h1;
    listener.http2 = FUZZ_H2;
}

/* Run the loop until a round has nothing to do. */
static void settle(void)
{
    for (int i = 0; i < MAX_ROUNDS; i++)
        if (loop_run_once(0) == 0 && loop_run_once(0) == 0)
            return;
}

/* Read what the server sent; false once it closed. */
static bool drain(int fd, bool *seen_any)
{
    char buf[65536];
    for (;;) {
        ssize_t n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            if (!*seen_any && FUZZ_H2)  /* the first bytes of HTTP/2 are the server's SETTINGS frame */
                FUZZ_CHECK((size_t)n < 4 || buf[3] == 4);
            else if (!*seen_any)  /* the first bytes of a connection are a status line */
                FUZZ_CHECK((size_t)n < 9 ? memcmp(buf, "HTTP/1.1 ", (size_t)n) == 0 : memcmp(buf, "HTTP/1.1 ", 9) == 0);
            *seen_any = true;
            continue;
        }
        return n != 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
    }
}

static void empty_upload_dir(void)
{
    DIR *d = opendir(upload_dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            unlinkat(dirfd(d), de->d_name, 0);
    closedir(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        setup();
        ready = true;
    }
    if (size < 2)
        return 0;
    uint32_t rng = (uint32_t)data[0] << 8 | data[1] | 1u;
    data += 2;
    size -= 2;

    int sv[2];
    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000), .sin_addr.s_addr = htonl(0x7f000001)};
    conn_accept(&listener, sv[0], (struct sockaddr *)&peer, sizeof(peer));
    if (FUZZ_H2) {  /* the input is the frames after the client preface */
        static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
        FUZZ_CHECK(write(sv[1], preface, sizeof(preface) - 1) == (ssize_t)sizeof(preface) - 1);
    }
    bool open = true, seen_any = false;
    size_t off = 0;
    int stalls = 0;
    while (off < size && open && stalls < 8) {
        rng ^= rng << 13;  /* xorshift: piece sizes from 1 byte to 8 KiB */
        rng ^= rng >> 17;
        rng ^= rng << 5;
        size_t piece = 1 + (rng % 8 == 0 ? rng % 8192 : rng % 64);
        if (piece > size - off)
            piece = size - off;
        ssize_t w = write(sv[1], data + off, piece);
        if (w > 0) {
            off += (size_t)w;
            stalls = 0;
        } else {
            stalls++;  /* the server reads no more now (back-pressure, or done) */
        }
        settle();
        open = drain(sv[1], &seen_any);
    }
    shutdown(sv[1], SHUT_WR);  /* the client is done: EOF */
    settle();
    drain(sv[1], &seen_any);
    close(sv[1]);
    settle();
    conn_close_all();  /* what a timer would end later (lingering close, a stalled body) */
    loop_flush_tasks();
    FUZZ_CHECK(conn_count() == 0);
    empty_upload_dir();
    return 0;
}
