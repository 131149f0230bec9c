/* The DER writer (der.h): minimal lengths at every boundary, constructed
 * values closed around contents of those lengths, nesting, INTEGERs,
 * times, and an error that sticks once set. */
#include <stdlib.h>

#include "check.h"
#include "der.h"

/* The length octets X.690 10.1 prescribes for LEN. */
static size_t want_len(size_t len, unsigned char *out)
{
    size_t n = 0, i;

    if (len < 128) {
        out[0] = (unsigned char)len;
        return 1;
    }
    for (size_t v = len; v; v >>= 8) {
        n++;
    }
    out[0] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++) {
        out[1 + i] = (unsigned char)(len >> (8 * (n - 1 - i)));
    }
    return 1 + n;
}

static void test_len_octets(void)
{
    static const struct {
        size_t len;
        const char *enc;
        size_t n;
    } cases[] = {
        {0, "\x00", 1},
        {1, "\x01", 1},
        {127, "\x7f", 1},
        {128, "\x81\x80", 2},
        {255, "\x81\xff", 2},
        {256, "\x82\x01\x00", 3},
        {65535, "\x82\xff\xff", 3},
        {65536, "\x83\x01\x00\x00", 4},
        {0xffffff, "\x83\xff\xff\xff", 4},
        {0x1000000, "\x84\x01\x00\x00\x00", 5},
        {0xffffffff, "\x84\xff\xff\xff\xff", 5},
    };
    unsigned char out[8];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = der_len_octets(cases[i].len, out);
        CHECK(n == cases[i].n && memcmp(out, cases[i].enc, n) == 0);
    }
}

/* A primitive and a constructed value of each length: same bytes. */
static void test_boundaries(void)
{
    static const size_t lens[] = {0,   1,   127,   128,   129,  255,
                                  256, 257, 65535, 65536, 65537};
    unsigned char *content = malloc(65537), hdr[8];

    for (size_t i = 0; i < 65537; i++) {
        content[i] = (unsigned char)(i * 7);
    }
    for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t len = lens[i], hl, mark;
        der_buf_t prim, cons;

        hdr[0] = DER_OCTET_STRING;
        hl = 1 + want_len(len, hdr + 1);

        CHECK(der_init(&prim, 16) == 0);
        der_tlv(&prim, DER_OCTET_STRING, content, len);
        CHECK(!prim.err && prim.len == hl + len);
        CHECK(memcmp(prim.p, hdr, hl) == 0);
        CHECK(len == 0 || memcmp(prim.p + hl, content, len) == 0);

        /* der_end() moves the contents down over the reserved length */
        CHECK(der_init(&cons, 0) == 0);
        mark = der_begin(&cons, DER_OCTET_STRING);
        der_raw(&cons, content, len);
        der_end(&cons, mark);
        CHECK(!cons.err && cons.len == prim.len &&
              memcmp(cons.p, prim.p, prim.len) == 0);
        der_free(&prim);
        der_free(&cons);
    }
    free(content);
}

/* SEQUENCE { [0] { SEQUENCE { INTEGER } }, OCTET STRING(200) } */
static void test_nesting(void)
{
    static const unsigned char want_head[] = {0x30, 0x81, 0xd2, 0xa0, 0x05,
                                              0x30, 0x03, 0x02, 0x01, 0x05,
                                              0x04, 0x81, 0xc8};
    unsigned char body[200];
    der_buf_t b;
    size_t s, c, in;

    memset(body, 0x33, sizeof(body));
    der_init(&b, 4); /* grows as it goes */
    s = der_begin(&b, DER_SEQUENCE);
    c = der_begin(&b, DER_CTX(0));
    in = der_begin(&b, DER_SEQUENCE);
    der_uint(&b, 5);
    der_end(&b, in);
    der_end(&b, c);
    der_tlv(&b, DER_OCTET_STRING, body, sizeof(body));
    der_end(&b, s);
    CHECK(!b.err && b.len == sizeof(want_head) + sizeof(body));
    CHECK(memcmp(b.p, want_head, sizeof(want_head)) == 0);
    CHECK(memcmp(b.p + sizeof(want_head), body, sizeof(body)) == 0);
    {
        size_t len;
        unsigned char *p = der_take(&b, &len);
        CHECK(p != NULL && len == sizeof(want_head) + sizeof(body));
        CHECK(b.p == NULL && b.len == 0 && b.cap == 0);
        free(p);
    }
}

static void test_integers_and_times(void)
{
    static const struct {
        uint64_t v;
        const char *enc;
        size_t n;
    } ints[] = {
        {0, "\x02\x01\x00", 3},
        {127, "\x02\x01\x7f", 3},
        {128, "\x02\x02\x00\x80", 4},
        {255, "\x02\x02\x00\xff", 4},
        {256, "\x02\x02\x01\x00", 4},
        {0x7fffffffffffffffULL, "\x02\x08\x7f\xff\xff\xff\xff\xff\xff\xff", 10},
        {UINT64_MAX, "\x02\x09\x00\xff\xff\xff\xff\xff\xff\xff\xff", 11},
    };
    der_buf_t b;

    for (size_t i = 0; i < sizeof(ints) / sizeof(ints[0]); i++) {
        der_init(&b, 0);
        der_uint(&b, ints[i].v);
        CHECK(!b.err && b.len == ints[i].n &&
              memcmp(b.p, ints[i].enc, b.len) == 0);
        der_free(&b);
    }

    der_init(&b, 0);
    der_gentime(&b, 0);
    CHECK(b.len == 17 && memcmp(b.p,
                                "\x18\x0f"
                                "19700101000000Z",
                                17) == 0);
    der_free(&b);
    /* RFC 5280 5.1.2.4: UTCTime through 2049, GeneralizedTime after */
    der_init(&b, 0);
    der_time(&b, 2524607999LL);
    CHECK(b.len == 15 && memcmp(b.p,
                                "\x17\x0d"
                                "491231235959Z",
                                15) == 0);
    der_free(&b);
    der_init(&b, 0);
    der_time(&b, 2524608000LL);
    CHECK(b.len == 17 && memcmp(b.p,
                                "\x18\x0f"
                                "20500101000000Z",
                                17) == 0);
    der_free(&b);
}

/* Once set, the error stays and nothing more is written. */
static void test_sticky_error(void)
{
    der_buf_t b;
    size_t len_at_err, mark;

    /* der_end() of mark 0, what a failed der_begin() returns, even with
     * enough bytes written to look like a reserved length */
    der_init(&b, 0);
    der_raw(&b, "0123456789", 10);
    der_end(&b, 0);
    CHECK(b.err && b.len == 10 && memcmp(b.p, "0123456789", 10) == 0);
    len_at_err = b.len;
    der_uint(&b, 2);
    der_tlv(&b, DER_OCTET_STRING, "abc", 3);
    der_raw(&b, "x", 1);
    mark = der_begin(&b, DER_SEQUENCE);
    der_end(&b, mark);
    der_gentime(&b, 0);
    CHECK(b.err && b.len == len_at_err && mark == 0);
    der_free(&b);

    /* a mark past what was written */
    der_init(&b, 0);
    mark = der_begin(&b, DER_SEQUENCE);
    der_end(&b, mark + 100);
    CHECK(b.err);
    der_free(&b);

    /* a time before the epoch */
    der_init(&b, 0);
    der_time(&b, -1);
    CHECK(b.err && b.len == 0);
    der_uint(&b, 1);
    CHECK(b.err && b.len == 0);
    der_free(&b);

    /* closing the same value twice is misuse, not a second length */
    der_init(&b, 0);
    mark = der_begin(&b, DER_SEQUENCE);
    der_end(&b, mark);
    CHECK(!b.err && b.len == 2);
    der_end(&b, mark);
    CHECK(b.err);
    der_free(&b);
}

int main(void)
{
    test_len_octets();
    test_boundaries();
    test_nesting();
    test_integers_and_times();
    test_sticky_error();
    CHECK_DONE();
}
