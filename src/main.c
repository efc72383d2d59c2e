/* webserv: command line, configuration, then the server. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf.h"
#include "default_conf.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#define WEBSERV_VERSION "0.1.0"

static void usage(FILE *f)
{
    fputs("usage: webserv [-c FILE] [-t] [-v] [-h] [FILE]\n"
          "  FILE, -c FILE  configuration file (default: the embedded demo configuration)\n"
          "  -t             check the configuration and exit\n"
          "  -v             print the version and exit\n"
          "  -h             print this help and exit\n",
          f);
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool test_only = false;
    int opt;
    while ((opt = getopt(argc, argv, "c:tvh")) != -1) {
        switch (opt) {
        case 'c': path = optarg; break;
        case 't': test_only = true; break;
        case 'v': printf("webserv %s (built with %s)\n", WEBSERV_VERSION, tls_built_version()); return 0;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (optind < argc) {
        if (path || optind + 1 < argc) {
            usage(stderr);
            return 1;
        }
        path = argv[optind];
    }

    char err[1024];
    conf_t *conf;
    if (path) {
        conf = conf_load(path, err, sizeof(err));
    } else {
        size_t len;
        const char *text = default_conf_text(&len);
        conf = conf_parse(text, len, WEBSERV_CONF_DIR "/default.conf", WEBSERV_CONF_DIR, err, sizeof(err));
    }
    if (!conf || tls_configure(conf, err, sizeof(err)) != 0) {
        fprintf(stderr, "webserv: %s\n", err);
        if (conf) {
            tls_free(conf);
            conf_free(conf);
        }
        return 1;
    }
    if (test_only) {
        fprintf(stderr, "configuration ok\n");
        tls_free(conf);
        conf_free(conf);
        return 0;
    }
    if (log_open(conf->error_log) != 0) {
        fprintf(stderr, "webserv: cannot open error log \"%s\"\n", conf->error_log);
        return 1;
    }
    if (server_open_logs(conf) != 0 || server_listen(conf) != 0)
        return 1;
    tls_start(conf);
    int rc = server_run(conf);
    tls_free(conf);
    conf_free(conf);
    return rc;
}
