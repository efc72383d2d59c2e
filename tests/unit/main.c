/* Unit-test runner: runs every registered case (optionally only those whose
 * name contains argv[1]) and ends with "N passed, N failed". */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "unit.h"

typedef struct {
    const char *name, *file;
    unit_fn_t fn;
    size_t seq;  /* registration order */
} unit_case_t;

static unit_case_t *cases;
static size_t ncases, capcases;
static const char *current_name;
static unsigned long current_failures;
static char context[512];

unsigned long unit_checks, unit_check_failures;

void unit_register(const char *name, const char *file, unit_fn_t fn)
{
    if (ncases == capcases) {
        capcases = capcases ? capcases * 2 : 64;
        cases = realloc(cases, capcases * sizeof *cases);
        if (cases == NULL) {
            perror("unit_register");
            exit(2);
        }
    }
    cases[ncases] = (unit_case_t){name, file, fn, ncases};
    ncases++;
}

void unit_context(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(context, sizeof context, fmt, ap);
    va_end(ap);
}

/* Keep the log readable when a table-driven case breaks everywhere. */
#define MAX_REPORTS_PER_CASE 40

int unit_fail(const char *file, int line, const char *fmt, ...)
{
    unit_check_failures++;
    if (current_failures++ >= MAX_REPORTS_PER_CASE) {
        if (current_failures == MAX_REPORTS_PER_CASE + 1)
            printf("  %s: more failures not shown\n", current_name);
        return 0;
    }
    printf("%s:%d: %s: ", file, line, current_name);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    if (context[0])
        printf("  [%s]", context);
    printf("\n");
    fflush(stdout);
    return 0;
}

/* Cases run by file, then in registration order (qsort is not stable). */
static int case_cmp(const void *a, const void *b)
{
    const unit_case_t *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    if (c != 0)
        return c;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

int main(int argc, char **argv)
{
    const char *filter = argc > 1 ? argv[1] : NULL;
    size_t passed = 0, failed = 0;
    qsort(cases, ncases, sizeof *cases, case_cmp);
    for (size_t i = 0; i < ncases; i++) {
        if (filter && strstr(cases[i].name, filter) == NULL && strstr(cases[i].file, filter) == NULL)
            continue;
        current_name = cases[i].name;
        current_failures = 0;
        context[0] = '\0';
        cases[i].fn();
        if (current_failures == 0) {
            passed++;
        } else {
            failed++;
            printf("FAIL %s (%s): %lu failed checks\n", cases[i].name, cases[i].file,
                   current_failures);
        }
    }
    free(cases);
    printf("%zu passed, %zu failed\n", passed, failed);
    return failed ? 1 : 0;
}
