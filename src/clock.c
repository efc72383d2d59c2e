/* Time, read once per loop iteration, and its cached text forms.
 * Formatting a date costs more than a request's parsing; once a second is enough. */
#include "clock.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static uint64_t now_ms;
static time_t now_wall = -1;
static char http_date[HTTP_DATE_LEN + 1];
static char log_time[32];
static char access_time[40];

static const char *const MON[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void http_date_format(time_t t, char out[HTTP_DATE_LEN + 1])
{
    struct tm tm;
    gmtime_r(&t, &tm);
    /* the process never calls setlocale: strftime's names are English */
    if (strftime(out, HTTP_DATE_LEN + 1, "%a, %d %b %Y %H:%M:%S GMT", &tm) == 0)
        out[0] = '\0';
}

void clock_update(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    time_t wall = time(NULL);
    if (wall == now_wall)
        return;
    now_wall = wall;
    http_date_format(wall, http_date);
    struct tm tm;
    localtime_r(&wall, &tm);
    strftime(log_time, sizeof(log_time), "%Y/%m/%d %H:%M:%S", &tm);
    char zone[8];
    strftime(zone, sizeof(zone), "%z", &tm);
    snprintf(access_time, sizeof(access_time), "%02d/%s/%04d:%02d:%02d:%02d %s", tm.tm_mday, MON[tm.tm_mon],
             tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, zone);
}

uint64_t clock_ms(void) { return now_ms; }
time_t clock_wall(void) { return now_wall; }
const char *clock_http_date(void) { return http_date; }
const char *clock_log_time(void) { return log_time; }
const char *clock_access_time(void) { return access_time; }

static int month_index(const char *m)
{
    for (int i = 0; i < 12; i++)
        if (strncasecmp(m, MON[i], 3) == 0)
            return i;
    return -1;
}

time_t http_date_parse(const char *s, size_t len)
{
    char tmp[64], mon[4] = {0};
    if (len >= sizeof(tmp))
        return -1;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int n = 0;
    /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
    if (sscanf(tmp, "%*3s, %2d %3s %4d %2d:%2d:%2d GMT%n", &tm.tm_mday, mon, &tm.tm_year, &tm.tm_hour,
               &tm.tm_min, &tm.tm_sec, &n) == 6 && (size_t)n == len) {
    } else if (sscanf(tmp, "%*[A-Za-z], %2d-%3s-%2d %2d:%2d:%2d GMT%n", &tm.tm_mday, mon, &tm.tm_year,
                      &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) == 6 && (size_t)n == len) {
        tm.tm_year += tm.tm_year < 70 ? 2000 : 1900;  /* RFC 850 */
    } else if (sscanf(tmp, "%*3s %3s %2d %2d:%2d:%2d %4d%n", mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
                      &tm.tm_sec, &tm.tm_year, &n) == 6 && (size_t)n == len) {
        /* asctime */
    } else {
        return -1;
    }
    tm.tm_mon = month_index(mon);
    if (tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
        tm.tm_sec > 60 || tm.tm_year < 1970)
        return -1;
    tm.tm_year -= 1900;
    return timegm(&tm);
}
