/* The strict DER reader (der_read.h): every length form at its boundaries,
 * each BER-only form refused, the universal types' DER rules, the writer's
 * output read back.  Inputs are copied to the heap so ASan sees overreads. */
#include <stdlib.h>

#include "check.h"
#include "der.h"
#include "der_read.h"

static unsigned char *heap(const void *p, size_t len)
{
    unsigned char *h = malloc(len ? len : 1);
    memcpy(h, p, len);
    return h;
}

/* der_read_tlv() of LEN bytes at P from offset 0: its result, *t, *off. */
static int tlv(const void *p, size_t len, der_tlv_t *t, size_t *off)
{
    unsigned char *h = heap(p, len);
    int rc;

    *off = 0;
    rc = der_read_tlv(h, len, off, t);
    if (rc == 0) {
        t->v = (const unsigned char *)p + (t->v - h);
    }
    free(h);
    return rc;
}

static int strict(const void *p, size_t len)
{
    unsigned char *h = heap(p, len);
    int rc = der_read_strict(h, len);

    free(h);
    return rc;
}

#define STRICT_OK(s) CHECK(strict(s, sizeof(s) - 1) == 0)
#define STRICT_BAD(s) CHECK(strict(s, sizeof(s) - 1) == -1)

/* The first cases written for the reader (CRL check, GET length). */
static int reads(const unsigned char *p, size_t n, size_t *len)
{
    size_t off = 0;
    der_tlv_t t;

    if (der_read_tlv(p, n, &off, &t) != 0) {
        return 0;
    }
    *len = t.len;
    return off == n;
}

static void test_first_cases(void)
{
    static unsigned char big[4 + 300];
    size_t len, off;
    der_tlv_t t;

    {
        const unsigned char ok[] = {0x30, 0x02, 0x05, 0x00};
        CHECK(reads(ok, sizeof(ok), &len) && len == 2);
        CHECK(der_read_size(ok, sizeof(ok)) == 4);
        CHECK(der_read_size(ok, 1) == 0);
    }
    {
        /* BER forms DER forbids: indefinite, long form where short fits,
         * leading zero length octets, 0xff */
        const unsigned char indef[] = {0x30, 0x80, 0x00, 0x00};
        const unsigned char longshort[] = {0x30, 0x81, 0x02, 0x05, 0x00};
        const unsigned char lead0[] = {0x30, 0x82, 0x00, 0x02, 0x05, 0x00};
        const unsigned char reserved[] = {0x30, 0xff, 0x00};
        const unsigned char hightag[] = {0x1f, 0x01, 0x00};
        CHECK(!reads(indef, sizeof(indef), &len));
        CHECK(!reads(longshort, sizeof(longshort), &len));
        CHECK(!reads(lead0, sizeof(lead0), &len));
        CHECK(!reads(reserved, sizeof(reserved), &len));
        CHECK(!reads(hightag, sizeof(hightag), &len));
        CHECK(der_read_size(longshort, sizeof(longshort)) == 0);
    }
    {
        /* contents past the end, and a truncated header */
        const unsigned char past[] = {0x04, 0x05, 0x00};
        const unsigned char trunc[] = {0x04, 0x82, 0x01};
        CHECK(!reads(past, sizeof(past), &len));
        CHECK(!reads(trunc, sizeof(trunc), &len));
        CHECK(der_read_size(past, sizeof(past)) == 7); /* header only */
    }
    /* the long form at its first value: 0x81 0x80, 0x82 0x01 0x00 */
    big[0] = 0x04;
    big[1] = 0x81;
    big[2] = 0x80;
    CHECK(reads(big, 3 + 0x80, &len) && len == 0x80);
    big[1] = 0x82;
    big[2] = 0x01;
    big[3] = 0x2c;
    CHECK(reads(big, 4 + 300, &len) && len == 300);
    CHECK(der_read_size(big, 4) == 304);

    /* expect: a wrong tag moves nothing */
    off = 0;
    CHECK(der_read_expect(big, sizeof(big), &off, 0x30, &t) == -1 && off == 0);
    CHECK(der_read_expect(big, sizeof(big), &off, 0x04, &t) == 0 &&
          off == 304 && t.v == big + 4);
}

/* Lengths around every boundary of the short and long forms. */
static void test_lengths(void)
{
    static const size_t lens[] = {0,   1,   127,   128,   129,   255,
                                  256, 257, 65535, 65536, 65537, 100000};
    size_t i, off;
    der_tlv_t t;

    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t n = lens[i], hl;
        unsigned char *b = calloc(1, n + 8);
        b[0] = 0x04;
        hl = 1 + der_len_octets(n, b + 1);
        CHECK(hl == (n < 128 ? 2 : n < 256 ? 3 : n < 65536 ? 4 : 5));
        CHECK(tlv(b, hl + n, &t, &off) == 0);
        CHECK(t.tag == 0x04 && t.len == n && t.v == b + hl && off == hl + n);
        CHECK(der_read_size(b, hl) == hl + n);
        /* one byte short anywhere: cut, never read past */
        CHECK(tlv(b, hl + n - 1, &t, &off) == -1 && off == 0);
        /* the same length one octet longer than it needs: not DER */
        if (n > 0) {
            unsigned char *w = calloc(1, n + 9);
            size_t k = hl == 2 ? 1 : hl - 2; /* length octets now */
            w[0] = 0x04;
            w[1] = (unsigned char)(0x80 | (k + 1));
            w[2] = 0;
            for (size_t j = 0; j < k; j++) {
                w[3 + j] = (unsigned char)(n >> (8 * (k - 1 - j)));
            }
            CHECK(tlv(w, 3 + k + n, &t, &off) == -1);
            free(w);
        }
        free(b);
    }
}

static void test_forms(void)
{
    unsigned char big[300] = {0x04, 0x82, 0x00, 0x80};
    der_tlv_t t;
    size_t off;

    /* 0x81 0x05: long form for a length that fits the short form */
    CHECK(tlv("\x04\x81\x05"
              "abcde",
              8, &t, &off) == -1);
    CHECK(tlv("\x04\x05"
              "abcde",
              7, &t, &off) == 0 &&
          t.len == 5);
    /* 0x82 0x00 0x80: a leading zero octet */
    CHECK(tlv(big, 4 + 128, &t, &off) == -1);
    /* 0x81 0x7f: long form below 128 */
    {
        unsigned char short127[3 + 127] = {0x04, 0x81, 0x7f};
        CHECK(tlv(short127, sizeof(short127), &t, &off) == -1);
        short127[1] = 0x7f; /* the same length in the short form */
        CHECK(tlv(short127, 2 + 127, &t, &off) == 0 && t.len == 127);
    }
    /* BER's indefinite length, and the reserved 0xff */
    CHECK(tlv("\x30\x80\x04\x00\x00\x00", 6, &t, &off) == -1);
    CHECK(tlv("\x30\xff", 2, &t, &off) == -1);
    /* more length octets than lengths need */
    CHECK(tlv("\x04\x89\x01\x00\x00\x00\x00\x00\x00\x00\x00", 11, &t, &off) ==
          -1);
    /* a length past the end, and lengths cut short */
    CHECK(tlv("\x04\x84\x7f\xff\xff\xff", 6, &t, &off) == -1);
    CHECK(tlv("\x04\x82\x01", 3, &t, &off) == -1);
    CHECK(tlv("\x04", 1, &t, &off) == -1);
    CHECK(tlv("", 0, &t, &off) == -1);
    /* the high-tag-number form */
    CHECK(tlv("\x1f\x21\x00", 3, &t, &off) == -1);
    CHECK(tlv("\xbf\x21\x00", 3, &t, &off) == -1);
    CHECK(tlv("\x9e\x00", 2, &t, &off) == 0 && t.tag == 0x9e); /* [30] */

    /* the cursor moves only on success; an offset past END is refused */
    {
        static const unsigned char two[] = {0x02, 0x01, 0x05, 0x05, 0x00};
        off = 0;
        CHECK(der_read_expect(two, sizeof(two), &off, 0x05, &t) == -1 &&
              off == 0);
        CHECK(der_read_expect(two, sizeof(two), &off, 0x02, &t) == 0 &&
              off == 3 && t.v[0] == 5);
        CHECK(der_read_expect(two, sizeof(two), &off, 0x05, &t) == 0 &&
              off == 5 && t.len == 0);
        CHECK(der_read_tlv(two, sizeof(two), &off, &t) == -1 && off == 5);
        off = 9;
        CHECK(der_read_tlv(two, sizeof(two), &off, &t) == -1 && off == 9);
        /* whole: exactly one TLV */
        CHECK(der_read_whole(two, 3, 0x02, &t) == 0);
        CHECK(der_read_whole(two, 5, 0x02, &t) == -1);
        CHECK(der_read_whole(two, 3, 0x30, &t) == -1);
    }
}

static void test_strict(void)
{
    /* BOOLEAN: 0x00 or 0xff, one octet (X.690 11.1) */
    STRICT_OK("\x01\x01\xff");
    STRICT_OK("\x01\x01\x00");
    STRICT_BAD("\x01\x01\x01");
    STRICT_BAD("\x01\x02\xff\xff");
    STRICT_BAD("\x01\x00");
    /* INTEGER and ENUMERATED in the fewest octets (8.3.2) */
    STRICT_OK("\x02\x01\x00");
    STRICT_OK("\x02\x02\x00\x80");
    STRICT_OK("\x02\x02\xff\x7f");
    STRICT_BAD("\x02\x00");
    STRICT_BAD("\x02\x02\x00\x7f");
    STRICT_BAD("\x02\x02\xff\x80");
    STRICT_BAD("\x0a\x02\x00\x01");
    STRICT_OK("\x0a\x01\x01");
    /* NULL empty */
    STRICT_OK("\x05\x00");
    STRICT_BAD("\x05\x01\x00");
    /* BIT STRING: 0..7 unused bits, zero (11.2.1) */
    STRICT_OK("\x03\x01\x00");
    STRICT_OK("\x03\x02\x01\x02");
    STRICT_OK("\x03\x02\x07\x80");
    STRICT_BAD("\x03\x00");
    STRICT_BAD("\x03\x01\x01");
    STRICT_BAD("\x03\x02\x08\x00");
    STRICT_BAD("\x03\x02\x01\x01");
    STRICT_BAD("\x03\x02\x07\x81");
    /* OBJECT IDENTIFIER: subidentifiers minimal, the last one complete */
    STRICT_OK("\x06\x03\x2a\x81\x00");
    STRICT_OK("\x06\x05\x2b\x0e\x03\x02\x1a"); /* sha1 */
    STRICT_BAD("\x06\x00");
    STRICT_BAD("\x06\x02\x80\x01");
    STRICT_BAD("\x06\x03\x2a\x80\x01");
    STRICT_BAD("\x06\x02\x2a\x81");
    /* strings primitive, SEQUENCE and SET constructed (10.2) */
    STRICT_OK("\x04\x02\x41\x42");
    STRICT_BAD("\x24\x06\x04\x01\x41\x04\x01\x42"); /* constructed */
    STRICT_BAD("\x23\x04\x03\x02\x00\x41");
    STRICT_BAD("\x10\x00"); /* primitive SEQUENCE */
    STRICT_BAD("\x11\x00");
    STRICT_OK("\x30\x00");
    STRICT_OK("\x31\x03\x02\x01\x01");
    STRICT_BAD("\x00\x00"); /* end-of-contents */
    STRICT_BAD("\x30\x02\x00\x00");
    /* into constructed values of every class, not into primitive ones */
    STRICT_BAD("\x30\x03\x01\x01\x01");
    STRICT_BAD("\xa0\x03\x01\x01\x01");
    STRICT_BAD("\x60\x03\x02\x00\x00");
    STRICT_OK("\x80\x03\x01\x01\x01"); /* [0] IMPLICIT: opaque */
    STRICT_OK("\xa0\x03\x02\x01\x01");
    /* contents that do not fill their TLV exactly */
    STRICT_BAD("\x30\x03\x02\x01");
    STRICT_BAD("\x30\x04\x02\x01\x01\x05");
    STRICT_BAD("\x30\x03\x02\x81\x01");
    /* several TLVs at the top level, and a non-minimal length deep down */
    STRICT_OK("\x05\x00\x05\x00");
    STRICT_BAD("\x05\x00\x05");
    STRICT_BAD("\x30\x05\x30\x03\x04\x81\x00");
    CHECK(strict("", 0) == 0);

    /* nesting: DER_READ_DEPTH_MAX levels, not one more */
    {
        unsigned char n[2 * (DER_READ_DEPTH_MAX + 2)];
        size_t levels, i;
        for (levels = DER_READ_DEPTH_MAX; levels <= DER_READ_DEPTH_MAX + 1;
             levels++) {
            for (i = 0; i < levels; i++) {
                n[2 * i] = 0x30;
                n[2 * i + 1] = (unsigned char)(2 * (levels - 1 - i));
            }
            CHECK(strict(n, 2 * levels) ==
                  (levels <= DER_READ_DEPTH_MAX ? 0 : -1));
        }
    }
}

/* What der.h writes, der_read.h reads: nested values across boundaries. */
static void test_writer_read_back(void)
{
    static const size_t lens[] = {0, 127, 128, 255, 256, 65535, 65536};
    unsigned char *content = malloc(65536);
    size_t i;

    memset(content, 0x41, 65536);
    for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        der_buf_t b;
        size_t outer, inner, len, off = 0, ioff = 0;
        unsigned char *p;
        der_tlv_t t, u;

        der_init(&b, 0);
        outer = der_begin(&b, DER_SEQUENCE);
        inner = der_begin(&b, DER_CTX(0));
        der_tlv(&b, DER_OCTET_STRING, content, lens[i]);
        der_end(&b, inner);
        der_uint(&b, 128);
        der_end(&b, outer);
        CHECK(!b.err);
        p = der_take(&b, &len);
        CHECK(der_read_strict(p, len) == 0);
        CHECK(der_read_expect(p, len, &off, DER_SEQUENCE, &t) == 0 &&
              off == len);
        CHECK(der_read_expect(t.v, t.len, &ioff, DER_CTX(0), &u) == 0);
        CHECK(der_read_whole(u.v, u.len, DER_OCTET_STRING, &u) == 0 &&
              u.len == lens[i] &&
              (lens[i] == 0 || memcmp(u.v, content, lens[i]) == 0));
        CHECK(der_read_expect(t.v, t.len, &ioff, DER_INTEGER, &u) == 0 &&
              ioff == t.len && u.len == 2);
        free(p);
    }
    free(content);
}

int main(void)
{
    test_first_cases();
    test_lengths();
    test_forms();
    test_strict();
    test_writer_read_back();
    CHECK_DONE();
}
