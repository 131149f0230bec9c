/* The strict DER TLV reader: minimal definite lengths only. */
#include <string.h>

#include "check.h"
#include "der_read.h"

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

int main(void)
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
    CHECK_DONE();
}
