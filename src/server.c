/* Listening sockets, accepting, signals, and the worker processes.
 *
 * With one worker the process itself runs the loop. With several, this
 * process becomes a master: it forks the workers, which share the
 * listening sockets, forwards SIGINT/SIGTERM/SIGQUIT to them and starts a
 * new worker when one dies unexpectedly.
 *
 * SIGINT/SIGTERM stop soon: in-flight responses get SHUTDOWN_GRACE_MS.
 * SIGQUIT stops gracefully: nothing new is accepted (HTTP/2 clients get
 * GOAWAY), every in-flight response is finished, then the worker exits 0. */
#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cgi.h"
#include "clock.h"
#include "conn.h"
#include "h1.h"
#include "filecache.h"
#include "log.h"
#include "loop.h"
#include "tls.h"

#define ACCEPT_BATCH 256        /* accepts per readiness event, then others get a turn */
#define ACCEPT_PAUSE_MS 100     /* after EMFILE: retry accepting later */
#define SHUTDOWN_GRACE_MS 5000  /* in-flight responses get this long after a stop signal */

static listener_t *listeners;
static size_t nlisteners;
static loop_io_t signal_io;
static loop_timer_t grace_timer;
static loop_timer_t drain_check;
static bool stopping;
static size_t max_conns = SIZE_MAX;
static size_t max_cached_fds = 256;
static bool conn_limit_logged;

/* Connections we accept: a quarter of the descriptors (and a few more) stay
 * free for the files, pipes and logs that serving them needs. */
static void set_conn_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return;
    if (rl.rlim_cur < rl.rlim_max) {  /* use what we are allowed, as nginx's worker_rlimit_nofile */
        rlim_t want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 1048576 ? 1048576 : rl.rlim_max;
        struct rlimit raised = {want, rl.rlim_max};
        if (want > rl.rlim_cur && setrlimit(RLIMIT_NOFILE, &raised) == 0)
            rl.rlim_cur = want;
    }
    size_t n = (size_t)rl.rlim_cur;
    size_t reserve = n / 4 + 16;
    max_conns = n > reserve + 1 ? n - reserve : 1;
    max_cached_fds = n / 16 < 1024 ? n / 16 : 1024;  /* a part of the reserve */
}

/* ---- listening ---- */

static int listen_socket(const conf_listen_t *a, bool reuseport)
{
    int fd = socket(a->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    if (a->addr.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    /* accepted sockets inherit it: no setsockopt per connection */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&a->addr, a->addrlen) != 0 || listen(fd, SOMAXCONN) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* One socket per worker. With several workers they form an SO_REUSEPORT
 * group, so the kernel spreads connections over the workers (no thundering
 * herd); a plain bind first makes sure no other process holds the address,
 * which a reuseport group would otherwise silently share. */
static int open_listener(listener_t *l, int nworkers)
{
    l->fds = xcalloc((size_t)nworkers, sizeof(*l->fds));
    if (nworkers > 1) {
        int probe = listen_socket(l->addr, false);
        if (probe < 0)
            return -1;
        close(probe);
    }
    for (int w = 0; w < nworkers; w++)
        if ((l->fds[w] = listen_socket(l->addr, nworkers > 1)) < 0)
            return -1;
    return 0;
}

int server_listen(conf_t *conf)
{
    size_t total = 0;
    for (size_t i = 0; i < conf->nservers; i++)
        total += conf->servers[i].nlistens;
    listeners = xcalloc(total, sizeof(*listeners));
    for (size_t i = 0; i < conf->nservers; i++) {
        conf_server_t *srv = &conf->servers[i];
        for (size_t j = 0; j < srv->nlistens; j++) {
            const conf_listen_t *a = &srv->listens[j];
            listener_t *l = NULL;
            for (size_t k = 0; k < nlisteners && !l; k++)
                if (strcmp(listeners[k].addr->text, a->text) == 0)
                    l = &listeners[k];
            if (!l) {
                l = &listeners[nlisteners++];
                l->addr = a;
                l->servers = xcalloc(conf->nservers, sizeof(*l->servers));
            }
            l->servers[l->nservers++] = srv;
            l->ssl |= a->ssl;
            l->http2 |= a->http2;
        }
    }
    for (size_t i = 0; i < nlisteners; i++) {
        listeners[i].transport = listeners[i].ssl ? &transport_tls : &transport_plain;
        listeners[i].protocol = &protocol_h1;
    }
    for (size_t i = 0; i < nlisteners; i++) {
        if (open_listener(&listeners[i], conf->worker_processes) != 0) {
            fprintf(stderr, "webserv: cannot listen on %s: %s\n", listeners[i].addr->text, strerror(errno));
            return -1;
        }
    }
    return 0;
}

int server_open_logs(conf_t *conf)
{
    /* one descriptor per distinct path, shared by every scope naming it */
    typedef struct {
        const char *path;
        int fd;
    } opened_t;
    opened_t opened[64];
    size_t nopened = 0;
    conf_scope_t *scopes[1 + 1024];
    for (size_t i = 0; i < conf->nservers; i++) {
        conf_server_t *srv = &conf->servers[i];
        size_t ns = 0;
        scopes[ns++] = &srv->s;
        for (size_t j = 0; j < srv->nlocations && ns < sizeof(scopes) / sizeof(scopes[0]); j++)
            scopes[ns++] = &srv->locations[j].s;
        for (size_t k = 0; k < ns; k++) {
            conf_scope_t *s = scopes[k];
            s->access_log_fd = -1;
            if (!s->access_log)
                continue;
            if (strcmp(s->access_log, "stderr") == 0) {
                s->access_log_fd = 2;
                continue;
            }
            for (size_t m = 0; m < nopened; m++)
                if (strcmp(opened[m].path, s->access_log) == 0)
                    s->access_log_fd = opened[m].fd;
            if (s->access_log_fd >= 0)
                continue;
            int fd = open(s->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) {
                fprintf(stderr, "webserv: cannot open access log \"%s\": %s\n", s->access_log, strerror(errno));
                return -1;
            }
            s->access_log_fd = fd;
            if (nopened < sizeof(opened) / sizeof(opened[0]))
                opened[nopened++] = (opened_t){s->access_log, fd};
        }
    }
    return 0;
}

/* ---- accepting ---- */

static void on_accept(loop_io_t *io, uint32_t events);

static void resume_accept(loop_timer_t *t)
{
    listener_t *l = t->data;
    conn_limit_logged = false;
    if (!stopping)
        loop_mod(&l->io, LOOP_IN);
}

/* Pause a listener; accepting resumes after ACCEPT_PAUSE_MS (the listener
 * stays readable, so watching it meanwhile would spin). */
static void pause_accept(listener_t *l)
{
    loop_mod(&l->io, 0);
    loop_timer_set(&l->resume, ACCEPT_PAUSE_MS);
}

static void on_accept(loop_io_t *io, uint32_t events)
{
    listener_t *l = io->data;
    for (int i = 0; i < ACCEPT_BATCH; i++) {
        if (conn_count() >= max_conns) {
            /* keep descriptors for the files and pipes of the connections we hold */
            if (!conn_limit_logged) {
                log_msg(LOG_WARN, "%zu connections: the descriptor limit allows no more; pausing accepts",
                        conn_count());
                conn_limit_logged = true;
            }
            pause_accept(l);
            return;
        }
        struct sockaddr_storage peer;
        socklen_t len = sizeof(peer);
        int fd = accept4(io->fd, (struct sockaddr *)&peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
                continue;
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: serve the open connections, retry later
                 * (the listener stays readable; watching it now would spin) */
                log_msg(LOG_WARN, "accept: %s; pausing accepts for %d ms", strerror(errno), ACCEPT_PAUSE_MS);
                pause_accept(l);
                return;
            }
            log_msg(LOG_ERR, "accept: %s", strerror(errno));
            return;
        }
        conn_accept(l, fd, (struct sockaddr *)&peer, len);
    }
}

/* ---- stopping ---- */

static void check_drained(loop_timer_t *t)
{
    if (conn_count() == 0)
        loop_stop();
    else
        loop_timer_set(t, 50);
}

static void on_grace_over(loop_timer_t *t)
{
    if (conn_count())
        log_msg(LOG_WARN, "stopping with %zu connections still open", conn_count());
    loop_stop();
}

/* graceful: wait for every in-flight response (SIGQUIT); else give them
 * SHUTDOWN_GRACE_MS. A SIGTERM after a SIGQUIT shortens the wait. */
static void begin_stop(bool graceful)
{
    if (!graceful && !loop_timer_armed(&grace_timer)) {
        grace_timer.fn = on_grace_over;
        loop_timer_set(&grace_timer, SHUTDOWN_GRACE_MS);
    }
    if (stopping)
        return;
    stopping = true;
    for (size_t i = 0; i < nlisteners; i++) {
        loop_del(&listeners[i].io);
        close(listeners[i].io.fd);
        loop_timer_stop(&listeners[i].resume);
    }
    conn_shutdown_all();
    drain_check.fn = check_drained;
    check_drained(&drain_check);
}

static void on_signal(loop_io_t *io, uint32_t events)
{
    struct signalfd_siginfo si;
    while (read(io->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
        if (si.ssi_signo == SIGINT || si.ssi_signo == SIGTERM || si.ssi_signo == SIGQUIT)
            begin_stop(si.ssi_signo == SIGQUIT);
        else if (si.ssi_signo == SIGCHLD)
            cgi_reap();
    }
}

static int block_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGQUIT);
    sigaddset(set, SIGCHLD);
    return sigprocmask(SIG_BLOCK, set, NULL);
}

static int run_worker(int slot)
{
    sigset_t set;
    block_signals(&set);
    set_conn_limit();
    if (loop_init() != 0) {
        log_msg(LOG_ERR, "epoll_create: %s", strerror(errno));
        return 1;
    }
    filecache_init(max_cached_fds);
    signal_io.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
    signal_io.fn = on_signal;
    if (signal_io.fd < 0 || loop_add(&signal_io, LOOP_IN) != 0) {
        log_msg(LOG_ERR, "signalfd: %s", strerror(errno));
        return 1;
    }
    for (size_t i = 0; i < nlisteners; i++) {
        listener_t *l = &listeners[i];
        l->io.fd = l->fds[slot];
        l->io.fn = on_accept;
        l->io.data = l;
        l->resume.fn = resume_accept;
        l->resume.data = l;
        if (loop_add(&l->io, LOOP_IN) != 0) {
            log_msg(LOG_ERR, "epoll_ctl: %s", strerror(errno));
            return 1;
        }
    }
    int rc = loop_run();
    conn_close_all();  /* what is still open ends its request: uploads remove their files */
    cgi_kill_all();
    loop_flush_tasks();
    return rc == 0 ? 0 : 1;
}

/* ---- master ---- */

static pid_t spawn_worker(int slot)
{
    pid_t pid = fork();
    if (pid == 0)
        _exit(run_worker(slot));
    if (pid < 0)
        log_msg(LOG_ERR, "fork: %s", strerror(errno));
    return pid;
}

static int run_master(int nworkers)
{
    sigset_t set;
    block_signals(&set);
    pid_t *pids = xcalloc((size_t)nworkers, sizeof(*pids));
    for (int i = 0; i < nworkers; i++)
        pids[i] = spawn_worker(i);
    log_msg(LOG_INFO, "started %d workers", nworkers);
    bool stop = false;
    int alive = nworkers;
    while (alive > 0) {
        int signo;
        if (sigwait(&set, &signo) != 0)
            continue;
        if (signo == SIGINT || signo == SIGTERM || signo == SIGQUIT) {
            stop = true;
            for (int i = 0; i < nworkers; i++)
                if (pids[i] > 0)
                    kill(pids[i], signo == SIGQUIT ? SIGQUIT : SIGTERM);
        }
        int status;
        pid_t pid;
        while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
            for (int i = 0; i < nworkers; i++) {
                if (pids[i] != pid)
                    continue;
                pids[i] = 0;
                alive--;
                if (!stop) {
                    log_msg(LOG_ERR, "worker %d exited (status %d); starting a new one", (int)pid, status);
                    pids[i] = spawn_worker(i);
                    if (pids[i] > 0)
                        alive++;
                }
            }
        }
    }
    free(pids);
    return 0;
}

int server_run(conf_t *conf)
{
    signal(SIGPIPE, SIG_IGN);  /* a client that goes away is an EPIPE, not a death */
    signal(SIGXFSZ, SIG_IGN);  /* a file over RLIMIT_FSIZE is an EFBIG (507), not a death */
    cgi_set_max_processes(conf->cgi_max_processes);
    if (conf->worker_processes <= 1)
        return run_worker(0);
    return run_master(conf->worker_processes);
}
