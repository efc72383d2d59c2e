/* A tiny unit-test framework: TEST(name) registers a case at start-up;
 * CHECK* macros record file:line on failure and let the case go on, so one
 * run shows every broken expectation. tests/unit/main.c runs them all. */
#ifndef WEBSERV_UNIT_H
#define WEBSERV_UNIT_H

#include <stddef.h>
#include <string.h>

typedef void (*unit_fn_t)(void);

void unit_register(const char *name, const char *file, unit_fn_t fn);
/* Record one failed check of the running case. Returns 0 (for &&-chains). */
int unit_fail(const char *file, int line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Checks made / failed so far, over all cases. */
extern unsigned long unit_checks, unit_check_failures;

/* A case is a static function registered by a constructor, so a test file
 * needs no list to keep in sync with the runner. */
#define TEST(name)                                                                  \
    static void test_##name(void);                                                  \
    __attribute__((constructor)) static void test_register_##name(void)             \
    {                                                                               \
        unit_register(#name, __FILE__, test_##name);                                \
    }                                                                               \
    static void test_##name(void)

#define CHECK(cond)                                                                 \
    ((void)(unit_checks++, (cond) ? 1 : unit_fail(__FILE__, __LINE__, "CHECK(%s)", #cond)))

#define CHECK_EQ_INT(actual, expected)                                              \
    do {                                                                            \
        long long unit_a_ = (long long)(actual), unit_e_ = (long long)(expected);   \
        unit_checks++;                                                              \
        if (unit_a_ != unit_e_)                                                     \
            unit_fail(__FILE__, __LINE__, "%s == %s: got %lld, expected %lld",      \
                      #actual, #expected, unit_a_, unit_e_);                        \
    } while (0)

/* NULL-safe; both sides are NUL-terminated strings. */
#define CHECK_EQ_STR(actual, expected)                                              \
    do {                                                                            \
        const char *unit_a_ = (actual), *unit_e_ = (expected);                      \
        unit_checks++;                                                              \
        if (!(unit_a_ == unit_e_ || (unit_a_ && unit_e_ && strcmp(unit_a_, unit_e_) == 0))) \
            unit_fail(__FILE__, __LINE__, "%s == %s: got \"%s\", expected \"%s\"",  \
                      #actual, #expected, unit_a_ ? unit_a_ : "(null)",             \
                      unit_e_ ? unit_e_ : "(null)");                                \
    } while (0)

/* Bytes (ptr, len) against a NUL-terminated string. */
#define CHECK_EQ_MEM(ptr, len, expected)                                            \
    do {                                                                            \
        const char *unit_p_ = (const char *)(ptr), *unit_e_ = (expected);           \
        size_t unit_n_ = (size_t)(len);                                             \
        unit_checks++;                                                              \
        if (!(unit_n_ == strlen(unit_e_) && (unit_n_ == 0 || memcmp(unit_p_, unit_e_, unit_n_) == 0))) \
            unit_fail(__FILE__, __LINE__, "%s == %s: got \"%.*s\" (%zu bytes), expected \"%s\"", \
                      #ptr, #expected, (int)(unit_n_ > 200 ? 200 : unit_n_),        \
                      unit_p_ ? unit_p_ : "", unit_n_, unit_e_);                    \
    } while (0)

/* Context for the failure messages of a table-driven case: the failing
 * check prints it after its file:line. Set it to NULL when done. */
void unit_context(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
