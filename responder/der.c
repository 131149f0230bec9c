#include "der.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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

static void der_timestr(der_buf_t *b, unsigned char tag, int64_t t, int full)
{
    struct tm tm;
    time_t tt = (time_t)t;
    char s[24];
    size_t n;

    if (t < 0 || gmtime_r(&tt, &tm) == NULL) {
        b->err = 1;
        return;
    }
    n = strftime(s, sizeof(s), full ? "%Y%m%d%H%M%SZ" : "%y%m%d%H%M%SZ", &tm);
    if (n == 0) {
        b->err = 1;
        return;
    }
    der_tlv(b, tag, s, n);
}

void der_gentime(der_buf_t *b, int64_t t)
{
    der_timestr(b, DER_GENERALIZED_TIME, t, 1);
}

void der_time(der_buf_t *b, int64_t t)
{
    /* 2050-01-01T00:00:00Z */
    if (t < 2524608000LL) {
        der_timestr(b, DER_UTC_TIME, t, 0);
    } else {
        der_timestr(b, DER_GENERALIZED_TIME, t, 1);
    }
}
