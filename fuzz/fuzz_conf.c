/* libFuzzer harness: the configuration parser.
 *
 * Input: a configuration text. conf_check_files is off, so no input
 * probes or creates a file, and listen addresses are numeric only, so no
 * input waits on DNS. A rejected text leaves a "FILE:LINE: message"; an
 * accepted one has every setting filled in after the merge. Then the
 * lookups run over what was built, and conf_free releases it all (the leak
 * checker is on). */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "fuzz.h"
#include "http_parse.h"

static void check_scope(const conf_scope_t *s)
{
    FUZZ_CHECK(s->root != NULL && s->root[0] == '/');
    FUZZ_CHECK(s->nindex == 0 || s->index != NULL);
    for (size_t i = 0; i < s->nindex; i++)
        FUZZ_CHECK(s->index[i][0] && !strchr(s->index[i], '/'));
    FUZZ_CHECK(s->autoindex == 0 || s->autoindex == 1);
    FUZZ_CHECK(s->client_max_body_size >= 0);
    FUZZ_CHECK(s->keepalive_timeout >= 0 && s->client_header_timeout >= 0);
    FUZZ_CHECK(s->client_body_timeout >= 0 && s->send_timeout >= 0 && s->cgi_timeout >= 0);
    FUZZ_CHECK(s->methods != 0);
    FUZZ_CHECK(s->return_code == CONF_UNSET || (s->return_code >= 100 && s->return_code <= 999));
    for (size_t i = 0; i < s->nerror_pages; i++)
        FUZZ_CHECK(s->error_pages[i].code >= 300 && s->error_pages[i].code <= 599 && s->error_pages[i].uri);
    for (size_t i = 0; i < s->ncgis; i++)
        FUZZ_CHECK(s->cgis[i].ext[0] == '.' && s->cgis[i].interpreter[0] == '/');
    FUZZ_CHECK(s->upload_store == NULL || s->upload_store[0] == '/');
    FUZZ_CHECK(s->access_log_fd == -1);  /* only conf_open_logs opens them */
}

static void check_conf(const conf_t *c)
{
    FUZZ_CHECK(c->nservers >= 1 && c->worker_processes >= 1);
    check_scope(&c->s);
    conf_server_t *ptrs[8];
    size_t nptrs = 0;
    for (size_t i = 0; i < c->nservers; i++) {
        conf_server_t *srv = &c->servers[i];
        if (nptrs < 8)
            ptrs[nptrs++] = srv;
        check_scope(&srv->s);
        FUZZ_CHECK(srv->nlistens >= 1);
        for (size_t j = 0; j < srv->nlistens; j++) {
            const conf_listen_t *l = &srv->listens[j];
            FUZZ_CHECK(l->port >= 1 && l->port <= 65535 && l->addrlen > 0 && l->addrlen <= sizeof(l->addr));
            FUZZ_CHECK(strnlen(l->text, sizeof(l->text)) < sizeof(l->text));
        }
        for (size_t j = 0; j < srv->nlocations; j++) {
            const conf_location_t *loc = &srv->locations[j];
            FUZZ_CHECK(strlen(loc->prefix) == loc->prefix_len);
            check_scope(&loc->s);
            if (loc->kind == CONF_LOC_REGEX || loc->kind == CONF_LOC_NAMED) {
                FUZZ_CHECK(loc->kind == CONF_LOC_NAMED ? loc->prefix[0] == '@' : loc->re.code != NULL);
                continue;
            }
            FUZZ_CHECK(loc->prefix[0] == '/');
            /* a location's own prefix finds a location at least as long, or a regex */
            const conf_location_t *found = conf_find_location(srv, loc->prefix, loc->prefix_len, NULL);
            FUZZ_CHECK(found != NULL);
            FUZZ_CHECK(found->kind == CONF_LOC_REGEX || found->prefix_len >= loc->prefix_len);
            FUZZ_CHECK(found->kind != CONF_LOC_EXACT || found->prefix_len == loc->prefix_len);
        }
        conf_find_location(srv, "/", 1, NULL);
        conf_find_location(srv, "/index.html", 11, NULL);
        for (size_t j = 0; j < srv->nnames; j++) {
            const char *name = srv->names[j];
            FUZZ_CHECK(conf_find_server(ptrs, nptrs, name, strlen(name)) != NULL);
        }
    }
    FUZZ_CHECK(conf_find_server(ptrs, nptrs, "example.com", 11) != NULL);
    FUZZ_CHECK(conf_find_server(ptrs, nptrs, "", 0) != NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    conf_check_files = false;
    char err[512];
    memset(err, 'X', sizeof(err));
    /* an exactly sized copy without a NUL: the parser must respect len */
    conf_t *c = conf_parse((const char *)data, size, "fuzz.conf", "/nonexistent-fuzz-dir", err, sizeof(err));
    if (!c) {
        FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
        FUZZ_CHECK(strncmp(err, "fuzz.conf:", 10) == 0);
        return 0;
    }
    FUZZ_CHECK(strcmp(c->path, "fuzz.conf") == 0);
    check_conf(c);
    conf_free(c);
    return 0;
}
