/* conf_parse from strings, against a temporary folder tree:
 *   DIR/www/  DIR/www/files/  DIR/up/  DIR/logs/  DIR/other/ */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/in.h>
#include <unistd.h>

#include "conf.h"
#include "http_parse.h"
#include "unit.h"

static char tmpdir[PATH_MAX];

static const char *dir(void)
{
    if (tmpdir[0] == '\0') {
        strcpy(tmpdir, "/tmp/webserv-unit-conf-XXXXXX");
        if (mkdtemp(tmpdir) == NULL) {
            perror("mkdtemp");
            exit(2);
        }
        static const char *const sub[] = {"www", "www/files", "up", "logs", "other"};
        for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
            char p[PATH_MAX + 32];
            snprintf(p, sizeof p, "%s/%s", tmpdir, sub[i]);
            if (mkdir(p, 0755) < 0) {
                perror(p);
                exit(2);
            }
        }
    }
    return tmpdir;
}

/* Remove the tree when the run ends (the runner has no teardown hook). */
__attribute__((destructor)) static void remove_tmpdir(void)
{
    if (tmpdir[0] == '\0')
        return;
    static const char *const sub[] = {"www/files", "www", "up", "logs/access.log", "logs/error.log",
                                      "logs", "other"};
    for (size_t i = 0; i < sizeof sub / sizeof sub[0]; i++) {
        char p[PATH_MAX + 32];
        snprintf(p, sizeof p, "%s/%s", tmpdir, sub[i]);
        remove(p);
    }
    rmdir(tmpdir);
}

static char err[512];

static conf_t *parse(const char *text)
{
    err[0] = '\0';
    return conf_parse(text, strlen(text), "test.conf", dir(), err, sizeof err);
}

/* Parse text that must be accepted; reports the error otherwise. */
static conf_t *parse_ok(const char *text, int line)
{
    conf_t *c = parse(text);
    if (c == NULL)
        unit_fail(__FILE__, line, "conf_parse failed: %s", err);
    unit_checks++;
    return c;
}

#define PARSE_OK(text) parse_ok(text, __LINE__)

/* Parse text that must be refused with "test.conf:LINE: message". */
static void parse_err(const char *text, int want_line, int line)
{
    conf_t *c = parse(text);
    unit_checks++;
    if (c != NULL) {
        unit_fail(__FILE__, line, "accepted, expected an error at line %d", want_line);
        conf_free(c);
        return;
    }
    char prefix[64];
    int n = snprintf(prefix, sizeof prefix, "test.conf:%d: ", want_line);
    if (strncmp(err, prefix, (size_t)n) != 0 || err[n] == '\0')
        unit_fail(__FILE__, line, "error \"%s\", expected \"%s...\"", err, prefix);
}

#define PARSE_ERR(text, want_line) parse_err(text, want_line, __LINE__)

/* True when `path` names the same file as DIR/rel. */
static int same_file(const char *path, const char *rel)
{
    if (path == NULL)
        return 0;
    char want[PATH_MAX + 32];
    snprintf(want, sizeof want, "%s/%s", dir(), rel);
    struct stat a, b;
    if (stat(path, &a) < 0 || stat(want, &b) < 0)
        return 0;
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = s ? strlen(s) : 0, m = strlen(suffix);
    return s != NULL && n >= m && strcmp(s + n - m, suffix) == 0;
}

static const conf_location_t *find_loc(const conf_server_t *srv, const char *path)
{
    return conf_find_location(srv, path, strlen(path), NULL);
}

/* ---- sizes and times ---------------------------------------------------- */

TEST(conf_parse_size)
{
    CHECK_EQ_INT(conf_parse_size("0"), 0);
    CHECK_EQ_INT(conf_parse_size("100"), 100);
    CHECK_EQ_INT(conf_parse_size("10k"), 10240);
    CHECK_EQ_INT(conf_parse_size("1m"), 1048576);
    CHECK_EQ_INT(conf_parse_size("100m"), 104857600);
    CHECK_EQ_INT(conf_parse_size("1g"), 1073741824LL);
    CHECK_EQ_INT(conf_parse_size("8g"), 8589934592LL);
    CHECK_EQ_INT(conf_parse_size(""), -1);
    CHECK_EQ_INT(conf_parse_size("k"), -1);
    CHECK_EQ_INT(conf_parse_size("10x"), -1);
    CHECK_EQ_INT(conf_parse_size("10kk"), -1);
    CHECK_EQ_INT(conf_parse_size("-1"), -1);
    CHECK_EQ_INT(conf_parse_size("+1"), -1);
    CHECK_EQ_INT(conf_parse_size("1.5m"), -1);
    CHECK_EQ_INT(conf_parse_size(" 1m"), -1);
    CHECK_EQ_INT(conf_parse_size("1 m"), -1);
    CHECK_EQ_INT(conf_parse_size("99999999999999999999"), -1);
    CHECK_EQ_INT(conf_parse_size("99999999999999g"), -1);
}

TEST(conf_parse_time)
{
    CHECK_EQ_INT(conf_parse_time("500ms"), 500);
    CHECK_EQ_INT(conf_parse_time("0"), 0);
    CHECK_EQ_INT(conf_parse_time("30"), 30000);
    CHECK_EQ_INT(conf_parse_time("30s"), 30000);
    CHECK_EQ_INT(conf_parse_time("2m"), 120000);
    CHECK_EQ_INT(conf_parse_time("1h"), 3600000);
    CHECK_EQ_INT(conf_parse_time("65s"), 65000);
    CHECK_EQ_INT(conf_parse_time(""), -1);
    CHECK_EQ_INT(conf_parse_time("s"), -1);
    CHECK_EQ_INT(conf_parse_time("ms"), -1);
    CHECK_EQ_INT(conf_parse_time("10x"), -1);
    CHECK_EQ_INT(conf_parse_time("10mss"), -1);
    CHECK_EQ_INT(conf_parse_time("10sm"), -1);
    CHECK_EQ_INT(conf_parse_time("-5"), -1);
    CHECK_EQ_INT(conf_parse_time("5 s"), -1);
    CHECK_EQ_INT(conf_parse_time("1.5s"), -1);
    CHECK_EQ_INT(conf_parse_time("99999999999999999999"), -1);
    CHECK_EQ_INT(conf_parse_time("9999999999999999h"), -1);
}

/* ---- directives ------------------------------------------------------- */

TEST(conf_full_example)
{
    conf_t *c = PARSE_OK(
        "error_log stderr;\n"
        "worker_processes 2;\n"
        "server {\n"
        "    listen 127.0.0.1:8080;\n"
        "    listen 9090;\n"
        "    listen [::1]:8081;\n"
        "    server_name example.com www.example.com;\n"
        "    root www;\n"
        "    index index.html index.htm;\n"
        "    autoindex off;\n"
        "    client_max_body_size 10k;\n"
        "    error_page 404 /errors/404.html;\n"
        "    error_page 500 502 503 504 /errors/50x.html;\n"
        "    access_log logs/access.log;\n"
        "    keepalive_timeout 65s;\n"
        "    client_header_timeout 500ms;\n"
        "    client_body_timeout 2m;\n"
        "    send_timeout 1h;\n"
        "    location / {\n"
        "        allow_methods GET HEAD;\n"
        "    }\n"
        "    location /old/ {\n"
        "        return 301 /new/;\n"
        "    }\n"
        "    location /files/ {\n"
        "        allow_methods GET HEAD POST PUT DELETE;\n"
        "        autoindex on;\n"
        "        upload_store up;\n"
        "        client_max_body_size 100m;\n"
        "    }\n"
        "    location /cgi-bin/ {\n"
        "        cgi .py /bin/sh;\n"
        "        cgi .php /bin/sh;\n"
        "        cgi_timeout 30s;\n"
        "    }\n"
        "    location = /health {\n"
        "        return 200 \"ok\";\n"
        "    }\n"
        "}\n");
    if (c == NULL)
        return;
    CHECK_EQ_STR(c->path, "test.conf");
    CHECK(c->error_log == NULL);
    CHECK_EQ_INT(c->worker_processes, 2);
    CHECK_EQ_INT(c->nservers, 1);
    const conf_server_t *srv = &c->servers[0];

    CHECK_EQ_INT(srv->nlistens, 3);
    if (srv->nlistens == 3) {
        CHECK_EQ_INT(srv->listens[0].port, 8080);
        CHECK_EQ_STR(srv->listens[0].text, "127.0.0.1:8080");
        CHECK_EQ_INT(srv->listens[0].addr.ss_family, AF_INET);
        const struct sockaddr_in *in4 = (const struct sockaddr_in *)&srv->listens[0].addr;
        CHECK_EQ_INT(ntohs(in4->sin_port), 8080);
        CHECK_EQ_INT(ntohl(in4->sin_addr.s_addr), 0x7f000001);
        CHECK_EQ_INT(srv->listens[1].port, 9090);
        CHECK_EQ_INT(srv->listens[2].port, 8081);
        CHECK_EQ_INT(srv->listens[2].addr.ss_family, AF_INET6);
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&srv->listens[2].addr;
        CHECK_EQ_INT(ntohs(in6->sin6_port), 8081);
        CHECK(memcmp(&in6->sin6_addr, &in6addr_loopback, sizeof in6addr_loopback) == 0);
    }
    CHECK_EQ_INT(srv->nnames, 2);
    if (srv->nnames == 2) {
        CHECK_EQ_STR(srv->names[0], "example.com");
        CHECK_EQ_STR(srv->names[1], "www.example.com");
    }
    CHECK(same_file(srv->s.root, "www"));
    CHECK_EQ_INT(srv->s.nindex, 2);
    if (srv->s.nindex == 2) {
        CHECK_EQ_STR(srv->s.index[0], "index.html");
        CHECK_EQ_STR(srv->s.index[1], "index.htm");
    }
    CHECK_EQ_INT(srv->s.autoindex, 0);
    CHECK_EQ_INT(srv->s.client_max_body_size, 10240);
    CHECK_EQ_INT(srv->s.nerror_pages, 5);
    if (srv->s.nerror_pages == 5) {
        CHECK_EQ_INT(srv->s.error_pages[0].code, 404);
        CHECK_EQ_STR(srv->s.error_pages[0].uri, "/errors/404.html");
        for (int i = 1; i < 5; i++)
            CHECK_EQ_STR(srv->s.error_pages[i].uri, "/errors/50x.html");
        CHECK_EQ_INT(srv->s.error_pages[1].code, 500);
        CHECK_EQ_INT(srv->s.error_pages[4].code, 504);
    }
    CHECK(ends_with(srv->s.access_log, "logs/access.log"));
    CHECK_EQ_INT(srv->s.keepalive_timeout, 65000);
    CHECK_EQ_INT(srv->s.client_header_timeout, 500);
    CHECK_EQ_INT(srv->s.client_body_timeout, 120000);
    CHECK_EQ_INT(srv->s.send_timeout, 3600000);
    CHECK_EQ_INT(srv->s.return_code, CONF_UNSET);

    CHECK_EQ_INT(srv->nlocations, 5);
    const conf_location_t *l = find_loc(srv, "/index.html");
    CHECK(l != NULL && strcmp(l->prefix, "/") == 0);
    if (l) {
        CHECK_EQ_INT(l->s.methods, HTTP_GET | HTTP_HEAD);
        CHECK_EQ_INT(l->kind == CONF_LOC_EXACT, 0);
    }
    l = find_loc(srv, "/old/page");
    CHECK(l != NULL && strcmp(l->prefix, "/old/") == 0);
    if (l) {
        CHECK_EQ_INT(l->s.return_code, 301);
        CHECK_EQ_STR(l->s.return_text, "/new/");
    }
    l = find_loc(srv, "/files/a.txt");
    CHECK(l != NULL && strcmp(l->prefix, "/files/") == 0);
    if (l) {
        CHECK_EQ_INT(l->s.methods, HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_PUT | HTTP_DELETE);
        CHECK_EQ_INT(l->s.autoindex, 1);
        CHECK(same_file(l->s.upload_store, "up"));
        CHECK_EQ_INT(l->s.client_max_body_size, 100 * 1048576LL);
        CHECK(same_file(l->s.root, "www"));
    }
    l = find_loc(srv, "/cgi-bin/x.py");
    CHECK(l != NULL && strcmp(l->prefix, "/cgi-bin/") == 0);
    if (l) {
        CHECK_EQ_INT(l->s.ncgis, 2);
        if (l->s.ncgis == 2) {
            CHECK_EQ_STR(l->s.cgis[0].ext, ".py");
            CHECK_EQ_STR(l->s.cgis[0].interpreter, "/bin/sh");
            CHECK_EQ_STR(l->s.cgis[1].ext, ".php");
        }
        CHECK_EQ_INT(l->s.cgi_timeout, 30000);
    }
    l = find_loc(srv, "/health");
    CHECK(l != NULL && strcmp(l->prefix, "/health") == 0);
    if (l) {
        CHECK_EQ_INT(l->kind == CONF_LOC_EXACT, 1);
        CHECK_EQ_INT(l->s.return_code, 200);
        CHECK_EQ_STR(l->s.return_text, "ok");
    }
    conf_free(c);
}

TEST(conf_defaults)
{
    conf_t *c = PARSE_OK("server { listen 8080; root www; location / { } }");
    if (c == NULL)
        return;
    const conf_server_t *srv = &c->servers[0];
    CHECK(c->error_log == NULL);
    CHECK_EQ_INT(srv->s.client_max_body_size, 1048576);
    CHECK_EQ_INT(srv->s.methods, HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_DELETE);
    CHECK(srv->s.access_log == NULL);
    CHECK_EQ_INT(srv->s.return_code, CONF_UNSET);
    CHECK_EQ_INT(srv->s.autoindex, 0);
    CHECK(srv->s.upload_store == NULL);
    CHECK_EQ_INT(srv->s.ncgis, 0);
    const conf_location_t *l = find_loc(srv, "/");
    CHECK(l != NULL);
    if (l) {
        CHECK_EQ_INT(l->s.client_max_body_size, 1048576);
        CHECK_EQ_INT(l->s.methods, HTTP_GET | HTTP_HEAD | HTTP_POST | HTTP_DELETE);
        CHECK(same_file(l->s.root, "www"));
        CHECK(l->s.access_log == NULL);
        CHECK_EQ_INT(l->s.return_code, CONF_UNSET);
        /* After the merge every timeout is set. */
        CHECK(l->s.keepalive_timeout >= 0);
        CHECK(l->s.client_header_timeout >= 0);
        CHECK(l->s.client_body_timeout >= 0);
        CHECK(l->s.send_timeout >= 0);
        CHECK(l->s.cgi_timeout >= 0);
    }
    conf_free(c);
}

TEST(conf_misc_directives)
{
    conf_t *c = PARSE_OK("worker_processes auto;\n"
                         "error_log logs/error.log;\n"
                         "server { listen 8080; root www; access_log off; client_max_body_size 0;"
                         " return 404; }\n");
    if (c == NULL)
        return;
    CHECK(ends_with(c->error_log, "logs/error.log"));
    const conf_server_t *srv = &c->servers[0];
    CHECK(srv->s.access_log == NULL);
    CHECK(srv->s.access_log_set);
    CHECK_EQ_INT(srv->s.client_max_body_size, 0);
    CHECK_EQ_INT(srv->s.return_code, 404);
    CHECK(srv->s.return_text == NULL);
    conf_free(c);
}

TEST(conf_relative_to_dir)
{
    /* Relative paths resolve against `dir`, not the working directory. */
    char cwd[PATH_MAX];
    CHECK(getcwd(cwd, sizeof cwd) != NULL);
    CHECK(chdir("/") == 0);
    conf_t *c = PARSE_OK("server { listen 8080; root www/files; }");
    if (c) {
        CHECK(same_file(c->servers[0].s.root, "www/files"));
        conf_free(c);
    }
    /* An absolute root is taken as is. */
    char text[PATH_MAX + 64];
    snprintf(text, sizeof text, "server { listen 8080; root %s/other; }", dir());
    c = PARSE_OK(text);
    if (c) {
        CHECK(same_file(c->servers[0].s.root, "other"));
        conf_free(c);
    }
    CHECK(chdir(cwd) == 0);
}

TEST(conf_quoting_and_comments)
{
    conf_t *c = PARSE_OK("# a comment line\n"
                         "server { # after a brace\n"
                         "  listen \"8080\"; # after a directive\n"
                         "  server_name \"a b.example\" 'c.example' d#e;\n"
                         "  root 'www';\n"
                         "  location = /q { return 200 \"semi;colon # not a comment {}\"; }\n"
                         "  location = /s { return 200 'single \"quoted\"'; }\n"
                         "}\n"
                         "# trailing comment without newline");
    if (c == NULL)
        return;
    const conf_server_t *srv = &c->servers[0];
    CHECK_EQ_INT(srv->listens[0].port, 8080);
    CHECK_EQ_INT(srv->nnames, 3);
    if (srv->nnames == 3) {
        CHECK_EQ_STR(srv->names[0], "a b.example");
        CHECK_EQ_STR(srv->names[1], "c.example");
        CHECK_EQ_STR(srv->names[2], "d#e");
    }
    CHECK(same_file(srv->s.root, "www"));
    const conf_location_t *l = find_loc(srv, "/q");
    CHECK(l != NULL);
    if (l)
        CHECK_EQ_STR(l->s.return_text, "semi;colon # not a comment {}");
    l = find_loc(srv, "/s");
    CHECK(l != NULL);
    if (l)
        CHECK_EQ_STR(l->s.return_text, "single \"quoted\"");
    conf_free(c);
}

TEST(conf_whitespace_layout)
{
    /* Tabs, CRLF line ends, several directives on one line, none on another. */
    conf_t *c = PARSE_OK("server\r\n{\r\n\tlisten\t8080 ;\r\n\r\n\troot www;index a.html;}\r\n");
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->servers[0].listens[0].port, 8080);
    CHECK_EQ_INT(c->servers[0].s.nindex, 1);
    conf_free(c);
}

/* ---- inheritance ------------------------------------------------------ */

TEST(conf_inheritance)
{
    conf_t *c = PARSE_OK("root www;\n"
                         "client_max_body_size 5m;\n"
                         "keepalive_timeout 7s;\n"
                         "autoindex on;\n"
                         "index main.html;\n"
                         "error_page 404 /main404.html;\n"
                         "access_log logs/access.log;\n"
                         "server {\n"
                         "  listen 8080;\n"
                         "  location / { }\n"
                         "  location /a/ { client_max_body_size 1k; root other; }\n"
                         "}\n"
                         "server {\n"
                         "  listen 8081;\n"
                         "  root other;\n"
                         "  client_max_body_size 2m;\n"
                         "  autoindex off;\n"
                         "  index srv.html;\n"
                         "  allow_methods GET;\n"
                         "  error_page 500 /srv500.html;\n"
                         "  location / { }\n"
                         "  location /b/ { autoindex on; index loc.html; error_page 403 /l403.html;"
                         " allow_methods GET POST; access_log off; }\n"
                         "}\n");
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->nservers, 2);
    if (c->nservers != 2) {
        conf_free(c);
        return;
    }
    /* main -> server */
    const conf_server_t *s1 = &c->servers[0];
    CHECK(same_file(s1->s.root, "www"));
    CHECK_EQ_INT(s1->s.client_max_body_size, 5 * 1048576);
    CHECK_EQ_INT(s1->s.keepalive_timeout, 7000);
    CHECK_EQ_INT(s1->s.autoindex, 1);
    CHECK(s1->s.nindex == 1 && strcmp(s1->s.index[0], "main.html") == 0);
    CHECK(s1->s.nerror_pages == 1 && s1->s.error_pages[0].code == 404);
    CHECK(ends_with(s1->s.access_log, "logs/access.log"));
    /* main -> server -> location */
    const conf_location_t *l = find_loc(s1, "/x");
    CHECK(l != NULL);
    if (l) {
        CHECK(same_file(l->s.root, "www"));
        CHECK_EQ_INT(l->s.client_max_body_size, 5 * 1048576);
        CHECK_EQ_INT(l->s.keepalive_timeout, 7000);
        CHECK_EQ_INT(l->s.autoindex, 1);
        CHECK(l->s.nindex == 1 && strcmp(l->s.index[0], "main.html") == 0);
        CHECK(l->s.nerror_pages == 1 && l->s.error_pages[0].code == 404);
        CHECK(ends_with(l->s.access_log, "logs/access.log"));
    }
    l = find_loc(s1, "/a/x");
    CHECK(l != NULL);
    if (l) {
        CHECK_EQ_INT(l->s.client_max_body_size, 1024);
        CHECK(same_file(l->s.root, "other"));
        CHECK_EQ_INT(l->s.autoindex, 1);
    }
    /* server overrides main, location overrides server */
    const conf_server_t *s2 = &c->servers[1];
    CHECK(same_file(s2->s.root, "other"));
    CHECK_EQ_INT(s2->s.client_max_body_size, 2 * 1048576);
    CHECK_EQ_INT(s2->s.keepalive_timeout, 7000);
    CHECK_EQ_INT(s2->s.autoindex, 0);
    CHECK_EQ_INT(s2->s.methods, HTTP_GET);
    /* error_page set at a level replaces the inherited list (nginx). */
    CHECK(s2->s.nerror_pages == 1 && s2->s.error_pages[0].code == 500);
    l = find_loc(s2, "/");
    CHECK(l != NULL);
    if (l) {
        CHECK(same_file(l->s.root, "other"));
        CHECK_EQ_INT(l->s.client_max_body_size, 2 * 1048576);
        CHECK_EQ_INT(l->s.autoindex, 0);
        CHECK(l->s.nindex == 1 && strcmp(l->s.index[0], "srv.html") == 0);
        CHECK_EQ_INT(l->s.methods, HTTP_GET);
        CHECK(l->s.nerror_pages == 1 && l->s.error_pages[0].code == 500);
    }
    l = find_loc(s2, "/b/c");
    CHECK(l != NULL);
    if (l) {
        CHECK_EQ_INT(l->s.autoindex, 1);
        CHECK(l->s.nindex == 1 && strcmp(l->s.index[0], "loc.html") == 0);
        CHECK(l->s.nerror_pages == 1 && l->s.error_pages[0].code == 403);
        CHECK_EQ_INT(l->s.methods, HTTP_GET | HTTP_POST);
        CHECK(l->s.access_log == NULL);
        CHECK_EQ_INT(l->s.client_max_body_size, 2 * 1048576);
    }
    conf_free(c);
}

/* ---- location and server choice ---------------------------------------- */

TEST(conf_find_location)
{
    conf_t *c = PARSE_OK("server { listen 8080; root www;\n"
                         "  location / { }\n"
                         "  location /files/ { }\n"
                         "  location /files/sub/ { }\n"
                         "  location /health { }\n"
                         "  location = /health { }\n"
                         "  location = /exact/ { }\n"
                         "  location /f { }\n"
                         "}\n");
    if (c == NULL)
        return;
    const conf_server_t *srv = &c->servers[0];
    static const struct {
        const char *path, *prefix;
        int exact;
    } t[] = {
        {"/", "/", 0},
        {"/x", "/", 0},
        {"/files/", "/files/", 0},
        {"/files/a", "/files/", 0},
        {"/files/sub/", "/files/sub/", 0},
        {"/files/sub/deep/x", "/files/sub/", 0},
        {"/files/subx", "/files/", 0},
        {"/files", "/f", 0},
        {"/f", "/f", 0},
        {"/health", "/health", 1},
        {"/health/", "/health", 0},
        {"/healthz", "/health", 0},
        {"/exact/", "/exact/", 1},
        {"/exact/x", "/", 0},
        {"/exact", "/", 0},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++) {
        const conf_location_t *l = find_loc(srv, t[i].path);
        unit_context("path %s", t[i].path);
        CHECK(l != NULL);
        if (l) {
            CHECK_EQ_STR(l->prefix, t[i].prefix);
            CHECK_EQ_INT(l->kind == CONF_LOC_EXACT, t[i].exact);
        }
    }
    unit_context("%s", "");
    /* Only len bytes of the path count. */
    const conf_location_t *l = conf_find_location(srv, "/healthcheck", 7, NULL);
    CHECK(l != NULL && l->kind == CONF_LOC_EXACT);
    conf_free(c);
}

TEST(conf_find_location_order_independent)
{
    /* The exact match wins even when declared after a longer prefix, and
     * the longest prefix wins whatever the order. */
    conf_t *c = PARSE_OK("server { listen 8080; root www;\n"
                         "  location /a/b/ { }\n"
                         "  location /a/ { }\n"
                         "  location /a/b/c { }\n"
                         "  location = /a/b/c { }\n"
                         "}\n");
    if (c == NULL)
        return;
    const conf_server_t *srv = &c->servers[0];
    const conf_location_t *l = find_loc(srv, "/a/b/c");
    CHECK(l != NULL && l->kind == CONF_LOC_EXACT && strcmp(l->prefix, "/a/b/c") == 0);
    l = find_loc(srv, "/a/b/cd");
    CHECK(l != NULL && l->kind != CONF_LOC_EXACT && strcmp(l->prefix, "/a/b/c") == 0);
    l = find_loc(srv, "/a/b/x");
    CHECK(l != NULL && strcmp(l->prefix, "/a/b/") == 0);
    l = find_loc(srv, "/a/x");
    CHECK(l != NULL && strcmp(l->prefix, "/a/") == 0);
    /* No location matches: NULL (the server scope applies). */
    CHECK(find_loc(srv, "/b") == NULL);
    CHECK(find_loc(srv, "/") == NULL);
    conf_free(c);
}

TEST(conf_find_server)
{
    conf_t *c = PARSE_OK("root www;\n"
                         "server { listen 8080; server_name first.example; }\n"
                         "server { listen 8080; server_name www.Example.com example.com; }\n"
                         "server { listen 8080; server_name third.example; }\n");
    if (c == NULL)
        return;
    CHECK_EQ_INT(c->nservers, 3);
    if (c->nservers != 3) {
        conf_free(c);
        return;
    }
    conf_server_t *list[3] = {&c->servers[0], &c->servers[1], &c->servers[2]};
#define FIND(h) conf_find_server(list, 3, h, strlen(h))
    CHECK(FIND("www.example.com") == list[1]);
    CHECK(FIND("WWW.EXAMPLE.COM") == list[1]);
    CHECK(FIND("Example.Com") == list[1]);
    CHECK(FIND("third.example") == list[2]);
    CHECK(FIND("first.example") == list[0]);
    CHECK(FIND("unknown.example") == list[0]);
    CHECK(FIND("") == list[0]);
    CHECK(FIND("example.co") == list[0]);
    CHECK(conf_find_server(list, 3, "third.example.org", 13) == list[2]);
    /* The default is the first of the list given (one listen address). */
    CHECK(conf_find_server(list + 1, 2, "nothing", 7) == list[1]);
#undef FIND
    conf_free(c);
}

/* ---- errors and their lines ------------------------------------------ */

TEST(conf_error_unknown_directive)
{
    PARSE_ERR("server {\n  listen 8080;\n  foo bar;\n  root www;\n}\n", 3);
    PARSE_ERR("bogus;\nserver { listen 8080; root www; }\n", 1);
    PARSE_ERR("server {\n listen 8080; root www;\n location / {\n\n  frobnicate on;\n }\n}\n", 5);
}

TEST(conf_error_wrong_block)
{
    PARSE_ERR("server {\n listen 8080;\n root www;\n location / {\n  listen 8081;\n }\n}\n", 5);
    PARSE_ERR("server {\n listen 8080;\n root www;\n worker_processes 2;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n error_log stderr;\n}\n", 4);
    PARSE_ERR("root www;\nlisten 8080;\n", 2);
    PARSE_ERR("root www;\nserver_name a;\nserver { listen 8080; }\n", 2);
    PARSE_ERR("root www;\nlocation / { }\n", 2);
    PARSE_ERR("server {\n listen 8080;\n root www;\n server {\n }\n}\n", 4);
    PARSE_ERR("server {\n listen 8080; root www;\n location / {\n  location /a/ { }\n }\n}\n", 4);
}

TEST(conf_error_arg_count)
{
    PARSE_ERR("server {\n listen 8080;\n root;\n}\n", 3);
    PARSE_ERR("server {\n listen 8080;\n root www other;\n}\n", 3);
    PARSE_ERR("server {\n listen;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 8080;\n root www;\n autoindex;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n error_page 404;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n return;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n return 301 /a /b;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n cgi .py;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n keepalive_timeout 1s 2s;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location { }\n}\n", 4);
    PARSE_ERR("worker_processes;\nserver { listen 8080; root www; }\n", 1);
    PARSE_ERR("server foo {\n listen 8080;\n root www;\n}\n", 1);
}

TEST(conf_error_bad_value)
{
    PARSE_ERR("server {\n listen 8080;\n root www;\n client_max_body_size abc;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n client_max_body_size 1x;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n keepalive_timeout 5x;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n send_timeout -1;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n error_page abc /x.html;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n return abc;\n}\n", 4);
    PARSE_ERR("server {\n listen 99999;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 0x50;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 127.0.0.1:;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 300.0.0.1:80;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 8080;\n root www;\n autoindex maybe;\n}\n", 4);
    PARSE_ERR("worker_processes many;\nserver { listen 8080; root www; }\n", 1);
}

TEST(conf_error_unknown_method)
{
    PARSE_ERR("server {\n listen 8080;\n root www;\n allow_methods GET FOO;\n}\n", 4);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location / {\n  allow_methods PATCH;\n }\n}\n",
              5);
    PARSE_ERR("server {\n listen 8080;\n root www;\n allow_methods get;\n}\n", 4);
}

TEST(conf_error_missing_semicolon)
{
    /* Noticed at the '}' that arrives where ';' was due. */
    PARSE_ERR("server {\n listen 8080;\n root www\n}\n", 4);
    /* Noticed at the end of the file. */
    PARSE_ERR("server { listen 8080; root www; }\nworker_processes 1", 2);
    /* Noticed at the '{' of a block directive. */
    PARSE_ERR("server {\n listen 8080;\n root www;\n location /a/\n {\n  autoindex on\n }\n}\n", 7);
}

TEST(conf_error_unclosed_block)
{
    PARSE_ERR("server {\n listen 8080;\n root www;", 3);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location / {\n }", 5);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location / {\n autoindex on;\n #}\n}", 7);
    PARSE_ERR("server {\n listen 8080;\n root www;\n return 200 \"ok;\n}", 5);
}

TEST(conf_error_unexpected_close)
{
    PARSE_ERR("}\n", 1);
    PARSE_ERR("server {\n listen 8080;\n root www;\n}\n}\n", 5);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location / { } }\n\n}\n", 6);
}

TEST(conf_error_missing_folders)
{
    PARSE_ERR("server {\n listen 8080;\n root nothere;\n}\n", 3);
    PARSE_ERR("server {\n listen 8080;\n root www;\n location /u/ {\n  upload_store nothere;\n }\n}\n",
              5);
    /* A root that is a file, not a folder. */
    char file[PATH_MAX + 32];
    snprintf(file, sizeof file, "%s/www/plain.txt", dir());
    FILE *f = fopen(file, "w");
    CHECK(f != NULL);
    if (f)
        fclose(f);
    PARSE_ERR("server {\n listen 8080;\n root www/plain.txt;\n}\n", 3);
    remove(file);
}

TEST(conf_error_message_format)
{
    conf_t *c = parse("server {\n listen 8080;\n root www;\n foo;\n}\n");
    CHECK(c == NULL);
    if (c)
        conf_free(c);
    /* "FILE:LINE: message" and nothing after the message's own text. */
    CHECK(strncmp(err, "test.conf:4: ", 13) == 0);
    CHECK(strchr(err, '\n') == NULL);
    CHECK(strstr(err, "foo") != NULL);
    /* A short buffer is truncated, never overrun. */
    char small[8];
    memset(small, 'x', sizeof small);
    const char *t = "server {\n listen 8080;\n root www;\n foo;\n}\n";
    c = conf_parse(t, strlen(t), "test.conf", dir(), small, 6);
    CHECK(c == NULL);
    CHECK_EQ_INT(small[6], 'x');
    CHECK(memchr(small, '\0', 6) != NULL);
}

TEST(conf_text_not_nul_terminated)
{
    /* Only len bytes of text are read. */
    const char *t = "server { listen 8080; root www; }garbage";
    size_t len = strlen("server { listen 8080; root www; }");
    char *p = malloc(len);
    memcpy(p, t, len);
    err[0] = '\0';
    conf_t *c = conf_parse(p, len, "test.conf", dir(), err, sizeof err);
    CHECK(c != NULL);
    if (c == NULL)
        unit_fail(__FILE__, __LINE__, "error: %s", err);
    else
        conf_free(c);
    free(p);
}

TEST(conf_load_files)
{
    /* The shipped default configuration loads (Makefile passes its folder). */
    char e[512] = "";
    conf_t *c = conf_load(WEBSERV_CONF_DIR "/default.conf", e, sizeof e);
    CHECK(c != NULL);
    if (c == NULL)
        unit_fail(__FILE__, __LINE__, "default.conf: %s", e);
    else
        conf_free(c);

    /* A file's relative paths resolve against its own folder. */
    char path[PATH_MAX + 32];
    snprintf(path, sizeof path, "%s/other/site.conf", dir());
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs("server {\n listen 8080;\n root ../www;\n}\n", f);
    fclose(f);
    c = conf_load(path, e, sizeof e);
    CHECK(c != NULL);
    if (c) {
        CHECK(same_file(c->servers[0].s.root, "www"));
        conf_free(c);
    }
    /* Its errors name the file as given. */
    f = fopen(path, "w");
    if (f) {
        fputs("server {\n listen 8080;\n root ../www;\n bogus;\n}\n", f);
        fclose(f);
    }
    c = conf_load(path, e, sizeof e);
    CHECK(c == NULL);
    char want[PATH_MAX + 64];
    snprintf(want, sizeof want, "%s:4: ", path);
    CHECK(strncmp(e, want, strlen(want)) == 0);
    remove(path);

    /* A missing file is an error, not an empty configuration. */
    e[0] = '\0';
    c = conf_load("/nonexistent/webserv.conf", e, sizeof e);
    CHECK(c == NULL);
    CHECK(e[0] != '\0');
    if (c)
        conf_free(c);
}

TEST(conf_return_codes)
{
    /* an interim 1xx is no final answer; 204/304 are fine (sent without a body) */
    PARSE_ERR("server {\n listen 8080; root www;\n location / { return 100; }\n}\n", 3);
    PARSE_ERR("server {\n listen 8080; root www;\n return 199 x;\n}\n", 3);
    conf_t *c = PARSE_OK("server { listen 8080; root www; location / { return 204 \"x\"; } }\n");
    if (c)
        conf_free(c);
}

TEST(conf_cgi_max_processes)
{
    conf_t *c = PARSE_OK("server { listen 8080; root www; }\n");
    if (c) {
        CHECK_EQ_INT(c->cgi_max_processes, CONF_CGI_MAX_PROCESSES);
        conf_free(c);
    }
    c = PARSE_OK("cgi_max_processes 3;\nserver { listen 8080; root www; }\n");
    if (c) {
        CHECK_EQ_INT(c->cgi_max_processes, 3);
        conf_free(c);
    }
    PARSE_ERR("cgi_max_processes 0;\nserver { listen 8080; root www; }\n", 1);
    PARSE_ERR("server { listen 8080; root www;\n cgi_max_processes 2;\n}\n", 2);
    PARSE_ERR("cgi_max_processes 2;\ncgi_max_processes 3;\nserver { listen 8080; root www; }\n", 2);
}

TEST(conf_paths_are_clean)
{
    /* php-cgi refuses a SCRIPT_FILENAME with "..": configured paths are
     * cleaned when they load (without resolving links) */
    conf_t *c = PARSE_OK("server { listen 8080; root ./other/..//www/./files/../; "
                         "upload_store up/../up/.; location /x/ { root www/files/..; } }\n");
    if (!c)
        return;
    const conf_server_t *srv = &c->servers[0];
    CHECK(same_file(srv->s.root, "www"));
    CHECK(ends_with(srv->s.root, "/www"));
    CHECK(strstr(srv->s.root, "/.") == NULL && strstr(srv->s.root, "//") == NULL);
    CHECK(ends_with(srv->s.upload_store, "/up"));
    CHECK(strstr(srv->s.upload_store, "/.") == NULL);
    CHECK(ends_with(srv->locations[0].s.root, "/www"));
    conf_free(c);
}

TEST(conf_ssl_directives)
{
    /* main-level defaults reach servers; a server's own settings win */
    conf_t *c = PARSE_OK("ssl_protocols TLSv1.3;\nssl_session_timeout 5m;\n"
                         "server { listen 8443 ssl; root www; ssl_verify_client optional; }\n"
                         "server { listen 8080; root www; ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off; }\n");
    if (c) {
        const conf_ssl_t *a = &c->servers[0].ssl, *b = &c->servers[1].ssl;
        CHECK(c->servers[0].listens[0].ssl && !c->servers[1].listens[0].ssl);
        CHECK_EQ_INT(c->servers[0].listens[0].line, 3);
        CHECK_EQ_INT((int)a->protocols, CONF_TLS1_3);
        CHECK_EQ_INT((int)b->protocols, CONF_TLS1_2 | CONF_TLS1_3);
        CHECK(a->session_timeout == 300000 && b->session_timeout == 300000);
        CHECK(a->session_cache == 1 && b->session_cache == 0);
        CHECK(a->session_tickets == 1 && a->prefer_server_ciphers == 1);
        CHECK_EQ_INT(a->verify_client, CONF_VERIFY_OPTIONAL);
        CHECK_EQ_INT(b->verify_client, CONF_VERIFY_OFF);
        CHECK(strcmp(a->ciphers, CONF_DEFAULT_CIPHERS) == 0);
        conf_free(c);
    }
    c = PARSE_OK("server { listen 8443 ssl; root www; ssl_session_cache shared:SSL:10m; }\n");
    if (c) {
        CHECK_EQ_INT(c->servers[0].ssl.session_cache, 1);
        conf_free(c);
    }
    PARSE_ERR("server {\n listen 8443 tls;\n root www;\n}\n", 2);
    PARSE_ERR("server {\n listen 8443 ssl;\n root www;\n ssl_protocols TLSv1.1 TLSv1.2;\n}\n", 4);
    PARSE_ERR("server {\n listen 8443 ssl;\n root www;\n ssl_certificate missing.pem;\n}\n", 4);
    PARSE_ERR("server {\n listen 8443 ssl;\n root www;\n ssl_verify_client maybe;\n}\n", 4);
    PARSE_ERR("server {\n root www;\n location / {\n  ssl_protocols TLSv1.2;\n }\n}\n", 4);
    PARSE_ERR("ssl_session_timeout 0;\nserver { listen 8080; root www; }\n", 1);
}
