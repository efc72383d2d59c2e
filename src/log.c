/* Error log and access log writing.
 * Log files are regular files opened O_APPEND: one write(2) per line keeps
 * lines whole even when several workers share a file. */
#include "log.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"

static int error_fd = 2;
static const char *const LEVELS[] = {"error", "warn", "info", "debug"};

int log_open(const char *path)
{
    if (!path || strcmp(path, "stderr") == 0) {
        error_fd = 2;
        return 0;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    error_fd = fd;
    return 0;
}

int log_fd(void) { return error_fd; }

/* Copy a formatted message into out, control bytes as \xHH: a request's
 * bytes quoted in a message can never start a line of their own. */
static size_t escape_controls(const char *in, size_t len, char *out, size_t room)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)in[i];
        if (ch >= 0x20 && ch != 0x7f) {
            if (n + 1 > room)
                break;
            out[n++] = (char)ch;
        } else {
            if (n + 4 > room)
                break;
            out[n++] = '\\';
            out[n++] = 'x';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    return n;
}

void log_msg(int level, const char *fmt, ...)
{
    /* static: one thread, and no signal handler logs. On the stack, these
     * 4 KiB took valgrind down (SIGSEGV, no report) on a deep error path:
     * a CGI fork failing under RLIMIT_NPROC (tests/test_resources.py). */
    static char msg[2048], line[2048 + 128];
    if (clock_log_time()[0] == '\0')
        clock_update();
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t mlen = (size_t)m < sizeof(msg) ? (size_t)m : sizeof(msg) - 1;
    int n = snprintf(line, sizeof(line), "%s [%s] %d: ", clock_log_time(), LEVELS[level], (int)getpid());
    if (n < 0 || (size_t)n >= sizeof(line))
        return;
    size_t len = (size_t)n + escape_controls(msg, mlen, line + n, sizeof(line) - (size_t)n - 1);
    line[len++] = '\n';
    log_write(error_fd, line, len);
}

void log_write(int fd, const char *line, unsigned long len)
{
    if (fd < 0)
        return;
    ssize_t w = write(fd, line, len);
    (void)w;  /* nowhere to report a failing log */
}
