/* The plain-socket transport (TLS is the other: tls.c). */
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"

static ssize_t plain_recv(conn_t *c, void *buf, size_t n) { return recv(c->io.fd, buf, n, 0); }

static ssize_t plain_writev(conn_t *c, const struct iovec *iov, int iovcnt, bool more)
{
    struct msghdr msg = {.msg_iov = (struct iovec *)iov, .msg_iovlen = (size_t)iovcnt};
    /* MSG_MORE: a file follows; let the kernel fill the segment with it */
    return sendmsg(c->io.fd, &msg, MSG_NOSIGNAL | (more ? MSG_MORE : 0));
}

static ssize_t plain_sendfile(conn_t *c, int fd, off_t *off, size_t n) { return sendfile(c->io.fd, fd, off, n); }

static void plain_shutdown_write(conn_t *c) { shutdown(c->io.fd, SHUT_WR); }

const transport_t transport_plain = {
    .recv = plain_recv,
    .writev = plain_writev,
    .sendfile = plain_sendfile,
    .shutdown_write = plain_shutdown_write,
    .close = NULL,
    .idle = NULL,
    .short_read_drains = true,
};
