/* Minimal check macros for the unit tests: count, report, exit non-zero. */
#ifndef REVOCA_CHECK_H
#define REVOCA_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failed, check_run;

#define CHECK(cond)                                                            \
    do {                                                                       \
        check_run++;                                                           \
        if (!(cond)) {                                                         \
            check_failed++;                                                    \
            fprintf(stderr, "%s:%d: CHECK(%s) failed\n", __FILE__, __LINE__,   \
                    #cond);                                                    \
        }                                                                      \
    } while (0)

#define CHECK_STR(a, b)                                                        \
    do {                                                                       \
        check_run++;                                                           \
        if (strcmp((a), (b)) != 0) {                                           \
            check_failed++;                                                    \
            fprintf(stderr, "%s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__,   \
                    (a), (b));                                                 \
        }                                                                      \
    } while (0)

#define CHECK_DONE()                                                           \
    do {                                                                       \
        printf("%d checks, %d failed\n", check_run, check_failed);             \
        return check_failed ? 1 : 0;                                           \
    } while (0)

#endif
