/* Time, read once per loop iteration, and its cached text forms. */
#ifndef WEBSERV_CLOCK_H
#define WEBSERV_CLOCK_H

#include <stdint.h>
#include <time.h>

/* Re-read the clocks; re-format the strings only when the second changes. */
void clock_update(void);
uint64_t clock_ms(void);              /* monotonic milliseconds */
time_t clock_wall(void);              /* wall-clock seconds */
const char *clock_http_date(void);    /* "Sun, 06 Nov 1994 08:49:37 GMT" (29 chars) */
const char *clock_log_time(void);     /* "2026/11/27 08:14:13" */
const char *clock_access_time(void);  /* "27/Nov/2026:08:14:13 +0000" */

#define HTTP_DATE_LEN 29
void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1]);
/* IMF-fixdate, RFC 850 and asctime forms; -1 when unparsable. */
time_t http_date_parse(const char *s, size_t len);

#endif
