/* Regular expressions by PCRE2. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "pattern.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "request.h"

int pattern_compile(pattern_t *p, const char *re, bool caseless, char *err, size_t errlen)
{
    int code;
    PCRE2_SIZE at;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)re, PCRE2_ZERO_TERMINATED, caseless ? PCRE2_CASELESS : 0, &code, &at,
                                  NULL);
    if (!c) {
        char why[256];
        pcre2_get_error_message(code, (PCRE2_UCHAR *)why, sizeof(why));
        snprintf(err, errlen, "pcre2_compile() failed: %s in \"%s\" at \"%s\"", why, re, re + at);
        return -1;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);  /* where there is no JIT, the interpreter matches */
    uint32_t n = 0;
    pcre2_pattern_info(c, PCRE2_INFO_CAPTURECOUNT, &n);
    p->code = c;
    p->ncaptures = (int)n;
    return 0;
}

void pattern_free(pattern_t *p)
{
    pcre2_code_free(p->code);
    p->code = NULL;
}

int pattern_match(const pattern_t *p, request_t *rq, const char *subject, size_t len)
{
    static pcre2_match_data *md;  /* one for the process: a match's results are copied out at once */
    if (!md)
        md = pcre2_match_data_create(PATTERN_CAPTURES + 1, NULL);
    if (!md)
        return 0;
    int rc = pcre2_match(p->code, (PCRE2_SPTR)subject, len, 0, 0, md, NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        char why[128];
        pcre2_get_error_message(rc, (PCRE2_UCHAR *)why, sizeof(why));
        log_msg(LOG_ERR, "pcre2_match() failed: %s", why);
        return 0;
    }
    if (p->ncaptures == 0 || !rq)
        return 1;  /* nothing to keep: $1 ... stay those of the last match that had them, as in nginx */
    buf_t *s = &rq->captured;
    s->start = s->end = 0;
    if (buf_append(s, subject, len) != 0) {
        rq->ncaptures = 0;
        return 1;
    }
    const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    int n = rc == 0 ? PATTERN_CAPTURES + 1 : rc;  /* rc 0: more groups than the ovector holds */
    if (n > PATTERN_CAPTURES + 1)
        n = PATTERN_CAPTURES + 1;
    rq->ncaptures = n - 1;
    for (int i = 1; i < n; i++) {
        bool unset = ov[2 * i] == PCRE2_UNSET;
        rq->captures[i - 1][0] = unset ? 0 : (uint32_t)ov[2 * i];
        rq->captures[i - 1][1] = unset ? 0 : (uint32_t)ov[2 * i + 1];
    }
    return 1;
}

str_t pattern_capture(const request_t *rq, int n)
{
    if (n < 1 || n > rq->ncaptures)
        return (str_t){"", 0};
    const uint32_t *c = rq->captures[n - 1];
    if (c[1] == c[0])
        return (str_t){"", 0};
    return (str_t){buf_head(&rq->captured) + c[0], c[1] - c[0]};
}
