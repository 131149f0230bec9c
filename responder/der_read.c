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

int der_read_whole(const unsigned char *p, size_t len, unsigned char tag,
                   der_tlv_t *t)
{
    size_t off = 0;

    if (der_read_expect(p, len, &off, tag, t) != 0 || off != len) {
        return -1;
    }
    return 0;
}

#define DER_TAG_BOOLEAN 0x01
#define DER_TAG_INTEGER 0x02
#define DER_TAG_BIT_STRING 0x03
#define DER_TAG_NULL 0x05
#define DER_TAG_OID 0x06
#define DER_TAG_ENUMERATED 0x0a
#define DER_TAG_SEQUENCE 0x10
#define DER_TAG_SET 0x11

#define DER_CLASS(tag) ((tag)&0xc0)
#define DER_CONSTRUCTED(tag) ((tag)&0x20)
#define DER_NUMBER(tag) ((tag)&0x1f)

/* The contents rules of a universal primitive type (der_read.h). */
static int der_universal_ok(unsigned char number, const unsigned char *v,
                            size_t len)
{
    size_t i;

    switch (number) {
    case 0:
        return -1; /* end-of-contents exists only with indefinite lengths */
    case DER_TAG_BOOLEAN:
        return len == 1 && (v[0] == 0x00 || v[0] == 0xff) ? 0 : -1;
    case DER_TAG_INTEGER:
    case DER_TAG_ENUMERATED:
        if (len == 0) {
            return -1;
        }
        /* 8.3.2: the first nine bits are not all zero nor all one */
        if (len > 1 && ((v[0] == 0x00 && !(v[1] & 0x80)) ||
                        (v[0] == 0xff && (v[1] & 0x80)))) {
            return -1;
        }
        return 0;
    case DER_TAG_NULL:
        return len == 0 ? 0 : -1;
    case DER_TAG_BIT_STRING:
        if (len == 0 || v[0] > 7 || (len == 1 && v[0] != 0)) {
            return -1;
        }
        /* 11.2.1: the unused bits of the last octet are zero */
        return len == 1 || (v[len - 1] & ((1u << v[0]) - 1)) == 0 ? 0 : -1;
    case DER_TAG_OID:
        if (len == 0 || (v[len - 1] & 0x80)) {
            return -1;
        }
        for (i = 0; i < len; i++) {
            /* 8.19.2: a subidentifier never starts with 0x80 */
            if (v[i] == 0x80 && (i == 0 || !(v[i - 1] & 0x80))) {
                return -1;
            }
        }
        return 0;
    default:
        return 0;
    }
}

static int der_walk(const unsigned char *p, size_t len, unsigned depth)
{
    size_t off = 0;
    der_tlv_t t;

    if (depth > DER_READ_DEPTH_MAX) {
        return -1;
    }
    while (off < len) {
        if (der_read_tlv(p, len, &off, &t) != 0) {
            return -1;
        }
        if (DER_CLASS(t.tag) == 0) {
            int seq = DER_NUMBER(t.tag) == DER_TAG_SEQUENCE ||
                      DER_NUMBER(t.tag) == DER_TAG_SET;
            /* 10.2: strings primitive; SEQUENCE and SET constructed */
            if (seq != (DER_CONSTRUCTED(t.tag) != 0)) {
                return -1;
            }
            if (!seq && der_universal_ok(DER_NUMBER(t.tag), t.v, t.len) != 0) {
                return -1;
            }
        }
        if (DER_CONSTRUCTED(t.tag) && der_walk(t.v, t.len, depth + 1) != 0) {
            return -1;
        }
    }
    return 0;
}

int der_read_strict(const unsigned char *p, size_t len)
{
    return der_walk(p, len, 0);
}
