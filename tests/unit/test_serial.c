/* Serial canonicalisation (ARCHITECTURE.md "Identity and keys"). */
#include "check.h"
#include "serial.h"

static void from_hex(const char *in, const char *want)
{
    char out[OCSP_SERIAL_HEX_MAX + 1];
    int rc = ocsp_serial_from_hex(in, out);

    if (want == NULL) {
        CHECK(rc == -1);
    } else {
        CHECK(rc == 0);
        if (rc == 0) {
            CHECK_STR(out, want);
        }
    }
}

int main(void)
{
    char out[OCSP_SERIAL_HEX_MAX + 1];
    unsigned char der[OCSP_SERIAL_MAX_OCTETS + 1];
    static const unsigned char neg[] = {0x80, 0x01};
    static const unsigned char pad[] = {0x00, 0x80};
    static const unsigned char redundant[] = {0x00, 0x01};
    static const unsigned char zero[] = {0x00};
    unsigned char big[21];
    int n;

    from_hex("01", "1");
    from_hex("0x00AbCd", "abcd");
    from_hex("ab:cd:ef", "abcdef");
    from_hex("000000000000000000000000000000000000000000000001", "1");
    from_hex("0", NULL);
    from_hex("", NULL);
    from_hex("00", NULL);
    from_hex("xyz", NULL);
    from_hex("-1", NULL);
    from_hex("12 34", NULL);
    from_hex("ffffffffffffffffffffffffffffffffffffffff",
             "ffffffffffffffffffffffffffffffffffffffff");
    from_hex("1ffffffffffffffffffffffffffffffffffffffff", NULL); /* 21 */

    /* DER content: positive with sign padding is fine, negative is not. */
    CHECK(ocsp_serial_from_der(pad, sizeof(pad), out) == 0);
    CHECK_STR(out, "80");
    CHECK(ocsp_serial_from_der(neg, sizeof(neg), out) == -1);
    CHECK(ocsp_serial_from_der(redundant, sizeof(redundant), out) == -1);
    CHECK(ocsp_serial_from_der(zero, sizeof(zero), out) == -1);
    CHECK(ocsp_serial_from_der(NULL, 0, out) == -1);
    memset(big, 0x11, sizeof(big));
    CHECK(ocsp_serial_from_der(big, 21, out) == -1);
    CHECK(ocsp_serial_from_der(big, 20, out) == 0);
    big[0] = 0; /* 0x00 + 20 octets with the top bit set: 20-octet serial */
    memset(big + 1, 0xff, 20);
    CHECK(ocsp_serial_from_der(big, 21, out) == 0);

    /* Back to DER INTEGER content. */
    n = ocsp_serial_to_der("80", der);
    CHECK(n == 2 && der[0] == 0 && der[1] == 0x80);
    n = ocsp_serial_to_der("abc", der);
    CHECK(n == 2 && der[0] == 0x0a && der[1] == 0xbc);
    CHECK(ocsp_serial_to_der("0abc", der) == -1); /* not canonical */
    CHECK(ocsp_serial_to_der("ABC", der) == -1);
    CHECK(ocsp_serial_to_der("", der) == -1);

    /* Shards: the serial's value modulo N. */
    CHECK(ocsp_serial_shard("ff", 16) == 15);
    CHECK(ocsp_serial_shard("100", 7) == 256 % 7);
    CHECK(ocsp_serial_shard("abc", 1) == 0);
    CHECK_DONE();
}
