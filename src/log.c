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

void log_msg(int level, const char *fmt, ...)
{
    char line[2048];
    if (clock_log_time()[0] == '\0')
        clock_update();
    int n = snprintf(line, sizeof(line), "%s [%s] %d: ", clock_log_time(), LEVELS[level], (int)getpid());
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        return;
    size_t len = (size_t)n + (size_t)m;
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
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
