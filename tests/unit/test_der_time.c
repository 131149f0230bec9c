/* The one time encoder (der.h): UTCTime and GeneralizedTime as RFC 5280
 * 4.1.2.5 wants them, checked against gmtime_r() over the
 * whole range, with and without the day cache, and its bounds; the buffer
 * writers refuse a time before 1970. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "der.h"

/* What the time TLV of T must be, by the C library. */
static size_t want_time(int64_t t, int general, unsigned char *out)
{
    time_t tt = (time_t)t;
    struct tm tm;
    int utc;
    size_t n;

    gmtime_r(&tt, &tm);
    utc = !general && tm.tm_year + 1900 >= 1950 && tm.tm_year + 1900 < 2050;
    out[0] = utc ? DER_UTC_TIME : DER_GENERALIZED_TIME;
    /* snprintf, not strftime: %Y does not pad years before 1000 */
    n = (size_t)snprintf((char *)out + 2, 20, "%04d%02d%02d%02d%02d%02dZ",
                         tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                         tm.tm_hour, tm.tm_min, tm.tm_sec);
    if (utc) {
        memmove(out + 2, out + 4, n - 2); /* YY */
        n -= 2;
    }
    out[1] = (unsigned char)n;
    return n + 2;
}

static void check_time(int64_t t, int general, der_days_t *days)
{
    unsigned char got[DER_TIME_MAX], want[32];
    size_t n = der_time_put(got, t, general, days);
    size_t w = want_time(t, general, want);

    CHECK(n == w && memcmp(got, want, w) == 0);
    CHECK(der_time_len(t, general) == w);
    if (n != w || memcmp(got, want, w) != 0) {
        fprintf(stderr, "  t=%lld general=%d\n", (long long)t, general);
    }
}

int main(void)
{
    static const int64_t edges[] = {
        DER_TIME_MIN, /* 0000-01-01 */
        -2208988800,  /* 1900-01-01 */
        -631152001,   /* 1949-12-31T23:59:59Z: GeneralizedTime */
        -631152000,   /* 1950: the first UTCTime */
        -1,           0, 1, 59, 86399, 86400, 951782400, /* 2000-02-29 */
        2524607999,  /* 2049-12-31T23:59:59Z: the last UTCTime */
        2524608000,  /* 2050: GeneralizedTime */
        4107542400,  /* 2100-03-01, after a non-leap 29th */
        253402300799 /* 9999-12-31T23:59:59Z */
    };
    der_days_t *days = malloc(sizeof(*days));
    unsigned char out[DER_TIME_MAX];
    uint64_t x = 88172645463325252ULL;
    der_buf_t b;

    if (days == NULL) {
        return 1;
    }
    der_days_init(days);
    for (size_t i = 0; i < sizeof(edges) / sizeof(edges[0]); i++) {
        for (int general = 0; general <= 1; general++) {
            check_time(edges[i], general, NULL);
            check_time(edges[i], general, days);
        }
    }
    /* random times over the whole range, the cache seeing day slots reused */
    for (int i = 0; i < 200000; i++) {
        int64_t t;

        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        t = DER_TIME_MIN +
            (int64_t)(x % (uint64_t)(DER_TIME_END - DER_TIME_MIN));
        if (i % 2) {
            t = (int64_t)(x % 4000000000ULL); /* mostly 1970..2096 */
        }
        check_time(t, i % 3 == 0, i % 5 == 0 ? NULL : days);
    }
    /* bounds: outside the years 0..9999 */
    CHECK(der_time_put(out, DER_TIME_MIN - 1, 0, NULL) == 0);
    CHECK(der_time_put(out, DER_TIME_MIN - 1, 1, days) == 0);
    CHECK(der_time_put(out, DER_TIME_END, 1, days) == 0);

    /* the buffer writers are the same encoder, errors sticking */
    der_init(&b, 0);
    der_time(&b, 2524607999LL);
    der_gentime(&b, 2524607999LL);
    CHECK(!b.err && b.len == 15 + 17);
    CHECK(memcmp(b.p,
                 "\x17\x0d"
                 "491231235959Z",
                 15) == 0);
    CHECK(memcmp(b.p + 15,
                 "\x18\x0f"
                 "20491231235959Z",
                 17) == 0);
    der_time(&b, -1);
    CHECK(b.err && b.len == 15 + 17);
    der_free(&b);
    free(days);
    CHECK_DONE();
}
