/* Small helpers shared by modules that write request bodies to files. */
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
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

void util_random_hex(char *out, size_t nbytes)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[32];
    if (nbytes > sizeof(r))
        nbytes = sizeof(r);
    /* the kernel's generator: it waits only in early boot, before its pool is seeded */
    if (getrandom(r, nbytes, GRND_NONBLOCK) != (ssize_t)nbytes && getrandom(r, nbytes, 0) != (ssize_t)nbytes)
        abort();
    for (size_t i = 0; i < nbytes; i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 15];
    }
    out[2 * nbytes] = '\0';
}
