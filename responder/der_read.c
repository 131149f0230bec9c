#include "der_read.h"

#include <stdint.h>

/* The header at p[o..end): tag, then the length of the contents. */
static int der_header(const unsigned char *p, size_t end, size_t *off,
                      unsigned char *tag, size_t *len)
{
    size_t o = *off, n, l = 0;

    if (o >= end || end - o < 2) {
        return -1;
    }
    *tag = p[o++];
    if ((*tag & 0x1f) == 0x1f) {
        return -1; /* high tag numbers: nothing Revoca reads uses them */
    }
    if (p[o] < 0x80) {
        l = p[o++];
    } else {
        n = p[o++] & 0x7f;
        /* 0x80 is BER's indefinite length; 0xff is reserved (X.690
         * 8.1.3.5); four octets are enough for what is read here */
        if (n == 0 || n > 4 || end - o < n || p[o] == 0) {
            return -1; /* X.690 10.1: the fewest octets, no leading zero */
        }
        while (n--) {
            l = (l << 8) | p[o++];
        }
        if (l < 0x80) {
            return -1; /* X.690 10.1: short form where it fits */
        }
    }
    *off = o;
    *len = l;
    return 0;
}

int der_read_tlv(const unsigned char *p, size_t end, size_t *off, der_tlv_t *t)
{
    size_t o = *off, len;
    unsigned char tag;

    if (der_header(p, end, &o, &tag, &len) != 0 || len > end - o) {
        return -1;
    }
    t->tag = tag;
    t->v = p + o;
    t->len = len;
    *off = o + len;
    return 0;
}

int der_read_expect(const unsigned char *p, size_t end, size_t *off,
                    unsigned char tag, der_tlv_t *t)
{
    size_t o = *off;

    if (der_read_tlv(p, end, &o, t) != 0 || t->tag != tag) {
        return -1;
    }
    *off = o;
    return 0;
}

size_t der_read_size(const unsigned char *p, size_t len)
{
    size_t o = 0, l;
    unsigned char tag;

    if (der_header(p, len, &o, &tag, &l) != 0 || l > SIZE_MAX - o) {
        return 0;
    }
    return o + l;
}
