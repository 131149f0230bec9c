#include "der.h"

#include <stdlib.h>
#include <string.h>

/* Space reserved for a length while a constructed value is open. */
#define DER_LEN_RESERVE 5

int der_init(der_buf_t *b, size_t cap)
{
    b->len = 0;
    b->err = 0;
    b->cap = cap ? cap : 1024;
    b->p = malloc(b->cap);
    if (b->p == NULL) {
        b->err = 1;
        b->cap = 0;
        return -1;
    }
    return 0;
}

void der_free(der_buf_t *b)
{
    free(b->p);
    b->p = NULL;
    b->len = b->cap = 0;
}

unsigned char *der_take(der_buf_t *b, size_t *len)
{
    unsigned char *p = b->p;

    *len = b->len;
    b->p = NULL;
    b->len = b->cap = 0;
    return p;
}

static int der_reserve(der_buf_t *b, size_t n)
{
    size_t cap;
    unsigned char *p;

    if (b->err) {
        return -1;
    }
    if (b->cap - b->len >= n) {
        return 0;
    }
    cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->err = 1;
            return -1;
        }
        cap *= 2;
    }
    p = realloc(b->p, cap);
    if (p == NULL) {
        b->err = 1;
        return -1;
    }
    b->p = p;
    b->cap = cap;
    return 0;
}

size_t der_len_octets(size_t len, unsigned char *out)
{
    size_t n = 0, i;
    size_t v = len;

    if (len < 0x80) {
        out[0] = (unsigned char)len;
        return 1;
    }
    while (v) {
        n++;
        v >>= 8;
    }
    out[0] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++) {
        out[n - i] = (unsigned char)(len >> (8 * i));
    }
    return n + 1;
}

size_t der_begin(der_buf_t *b, unsigned char tag)
{
    size_t mark;

    if (der_reserve(b, 1 + DER_LEN_RESERVE) != 0) {
        return 0;
    }
    b->p[b->len++] = tag;
    mark = b->len;
    b->len += DER_LEN_RESERVE;
    return mark;
}

void der_end(der_buf_t *b, size_t mark)
{
    unsigned char lenbuf[DER_LEN_RESERVE];
    size_t content, n;

    if (b->err) {
        return;
    }
    if (mark == 0 || mark + DER_LEN_RESERVE > b->len) {
        b->err = 1;
        return;
    }
    content = b->len - mark - DER_LEN_RESERVE;
    n = der_len_octets(content, lenbuf);
    memmove(b->p + mark + n, b->p + mark + DER_LEN_RESERVE, content);
    memcpy(b->p + mark, lenbuf, n);
    b->len = mark + n + content;
}

void der_raw(der_buf_t *b, const void *p, size_t len)
{
    if (len == 0 || der_reserve(b, len) != 0) {
        return;
    }
    memcpy(b->p + b->len, p, len);
    b->len += len;
}

void der_tlv(der_buf_t *b, unsigned char tag, const void *p, size_t len)
{
    unsigned char hdr[1 + DER_LEN_RESERVE];
    size_t n;

    hdr[0] = tag;
    n = der_len_octets(len, hdr + 1);
    der_raw(b, hdr, 1 + n);
    der_raw(b, p, len);
}

void der_uint(der_buf_t *b, uint64_t v)
{
    unsigned char out[9];
    size_t n = 0, i;
    uint64_t t = v;

    do {
        n++;
        t >>= 8;
    } while (t);
    for (i = 0; i < n; i++) {
        out[1 + n - 1 - i] = (unsigned char)(v >> (8 * i));
    }
    if (out[1] & 0x80) {
        out[0] = 0;
        der_tlv(b, DER_INTEGER, out, n + 1);
    } else {
        der_tlv(b, DER_INTEGER, out + 1, n);
    }
}

void der_days_init(der_days_t *days)
{
    for (size_t i = 0; i < DER_DAY_SLOTS; i++) {
        days->day[i] = INT64_MIN; /* never a day number of an int64 time */
    }
}

/* Days since the epoch to the date's digits; H. Hinnant's civil_from_days. */
static int32_t der_civil(int64_t days, unsigned char *ymd)
{
    int64_t z, era, doe, yoe, y, doy, mp, d, m;

    z = days + 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    d = doy - (153 * mp + 2) / 5 + 1;
    m = mp < 10 ? mp + 3 : mp - 9;
    y += m <= 2;
    ymd[0] = (unsigned char)('0' + y / 1000 % 10);
    ymd[1] = (unsigned char)('0' + y / 100 % 10);
    ymd[2] = (unsigned char)('0' + y % 100 / 10 % 10);
    ymd[3] = (unsigned char)('0' + y % 100 % 10);
    ymd[4] = (unsigned char)('0' + m / 10 % 10);
    ymd[5] = (unsigned char)('0' + m % 10);
    ymd[6] = (unsigned char)('0' + d / 10 % 10);
    ymd[7] = (unsigned char)('0' + d % 10);
    return (int32_t)y;
}

/* Formatted by hand: gmtime_r+strftime for each of a million CRL entries
 * would be a third of the CRL's build. */
size_t der_time_put(unsigned char *out, int64_t t, int general,
                    der_days_t *days)
{
    int64_t day, secs;
    unsigned char ymd_buf[8];
    const unsigned char *ymd;
    unsigned char *p = out;
    int full;

    if (t < DER_TIME_MIN || t >= DER_TIME_END) {
        return 0;
    }
    day = t / 86400;
    secs = t % 86400;
    if (secs < 0) {
        secs += 86400;
        day--;
    }
    if (days != NULL) {
        size_t slot = (size_t)((uint64_t)day % DER_DAY_SLOTS);
        if (days->day[slot] != day) {
            days->year[slot] = der_civil(day, days->ymd[slot]);
            days->day[slot] = day;
        }
        ymd = days->ymd[slot];
    } else {
        (void)der_civil(day, ymd_buf);
        ymd = ymd_buf;
    }
    full = der_time_len(t, general) == 17;
    *p++ = full ? DER_GENERALIZED_TIME : DER_UTC_TIME;
    *p++ = full ? 15 : 13;
    memcpy(p, full ? ymd : ymd + 2, full ? 8 : 6);
    p += full ? 8 : 6;
#define TWO(v)                                                                 \
    do {                                                                       \
        *p++ = (unsigned char)('0' + (v) / 10 % 10);                           \
        *p++ = (unsigned char)('0' + (v) % 10);                                \
    } while (0)
    TWO(secs / 3600);
    TWO(secs / 60 % 60);
    TWO(secs % 60);
#undef TWO
    *p++ = 'Z';
    return (size_t)(p - out);
}

static void der_time_tlv(der_buf_t *b, int64_t t, int general)
{
    unsigned char s[DER_TIME_MAX];
    size_t n = t < 0 ? 0 : der_time_put(s, t, general, NULL);

    if (n == 0) {
        b->err = 1;
        return;
    }
    der_raw(b, s, n);
}

void der_gentime(der_buf_t *b, int64_t t)
{
    der_time_tlv(b, t, 1);
}

void der_time(der_buf_t *b, int64_t t)
{
    der_time_tlv(b, t, 0);
}
