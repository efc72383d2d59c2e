/* Shared by the libFuzzer harnesses: an invariant check that names what
 * broke before it stops the process (libFuzzer then saves the input). */
#ifndef WEBSERV_FUZZ_H
#define WEBSERV_FUZZ_H

#include <stdint.h>
#include <stdio.h>

#define FUZZ_CHECK(cond)                                                               \
    do {                                                                               \
        if (!(cond)) {                                                                 \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
            __builtin_trap();                                                          \
        }                                                                              \
    } while (0)

/* 64-bit FNV-1a, fed in pieces: two streams of events hash alike however
 * their bytes were split between calls. */
#define FUZZ_FNV_INIT UINT64_C(14695981039346656037)
static inline uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * UINT64_C(1099511628211);
    return h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
