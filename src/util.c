/* Small helpers shared by modules that write request bodies to files. */
#include "util.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

int util_write_status(int err) { return err == ENOSPC || err == EDQUOT || err == EFBIG ? 507 : 500; }

int util_write_all(int fd, const char *p, size_t len, const char *what)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            log_msg(LOG_ERR, "%s: %s", what, strerror(errno));
            return util_write_status(errno);
        }
        p += n;
        len -= (size_t)n;
    }
    return 0;
}
