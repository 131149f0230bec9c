/* Serial canonicalisation (docs/dev/architecture.md "Identity and keys"). */
#include <stdint.h>
#include <string.h>

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

/* The fixed-width form: the same value as 20 octets, agreeing with the
 * other forms for serials of every length, ordered by memcmp(), and only
 * from canonical hex. */
/* The obvious reading of canonical hex, for the fast one to agree with. */
static int fixed_ref(const char *hex, size_t len, unsigned char *out)
{
    memset(out, 0, OCSP_SERIAL_MAX_OCTETS);
    if (len == 0 || len > OCSP_SERIAL_HEX_MAX || hex[0] == '0') {
        return -1;
    }
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)hex[len - 1 - i];
        int v = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (v < 0) {
            return -1;
        }
        out[OCSP_SERIAL_MAX_OCTETS - 1 - i / 2] |=
            (unsigned char)(i & 1 ? v << 4 : v);
    }
    return 0;
}

/* Every byte value at every position of serials of every length: the
 * eight-at-a-time path (serial.c hex8()) sees each byte of a chunk
 * unmasked, so a neighbour of '0'..'9', 'a'..'f' or 0x80 must fail. */
static void test_fixed_every_byte(void)
{
    static const char digits[] = "123456789abcdef0fedcba9876543210abcdef1234";
    size_t agree = 0, total = 0;

    for (size_t len = 1; len <= OCSP_SERIAL_HEX_MAX; len++) {
        for (size_t pos = 0; pos < len; pos++) {
            for (unsigned b = 0; b < 256; b++) {
                char hex[OCSP_SERIAL_HEX_MAX];
                unsigned char got[OCSP_SERIAL_MAX_OCTETS],
                    want[OCSP_SERIAL_MAX_OCTETS];
                int rw, rg;

                memcpy(hex, digits, len);
                hex[pos] = (char)b;
                rw = fixed_ref(hex, len, want);
                rg = ocsp_serial_fixed_from_hex(hex, len, got);
                total++;
                agree += rw == rg &&
                         (rw != 0 || memcmp(got, want, sizeof(got)) == 0);
            }
        }
    }
    CHECK(agree == total);
}

static void test_fixed(void)
{
    unsigned char f[OCSP_SERIAL_MAX_OCTETS], g[OCSP_SERIAL_MAX_OCTETS];
    unsigned char der[OCSP_SERIAL_MAX_OCTETS + 1],
        der2[OCSP_SERIAL_MAX_OCTETS + 1];
    char hex[OCSP_SERIAL_HEX_MAX + 1], back[OCSP_SERIAL_HEX_MAX + 1];
    uint64_t x = 0x9e3779b97f4a7c15ULL;
    size_t n;

    CHECK(ocsp_serial_fixed_from_hex("1", 1, f) == 0);
    CHECK(f[OCSP_SERIAL_MAX_OCTETS - 1] == 1 && f[0] == 0);
    n = ocsp_serial_fixed_to_der(f, der);
    CHECK(n == 1 && der[0] == 1);
    CHECK(ocsp_serial_fixed_from_hex("80", 2, f) == 0);
    n = ocsp_serial_fixed_to_der(f, der);
    CHECK(n == 2 && der[0] == 0 && der[1] == 0x80);
    CHECK(ocsp_serial_fixed_from_hex("ff00ffxx", 6, f) == 0); /* LEN bytes */
    CHECK(f[OCSP_SERIAL_MAX_OCTETS - 3] == 0xff &&
          f[OCSP_SERIAL_MAX_OCTETS - 1] == 0xff);
    /* not canonical: leading zero, upper case, empty, too long, not hex */
    CHECK(ocsp_serial_fixed_from_hex("0a", 2, f) == -1);
    CHECK(ocsp_serial_fixed_from_hex("A", 1, f) == -1);
    CHECK(ocsp_serial_fixed_from_hex("", 0, f) == -1);
    CHECK(ocsp_serial_fixed_from_hex("1g", 2, f) == -1);
    CHECK(ocsp_serial_fixed_from_hex("1:", 2, f) == -1);
    memset(hex, 'f', OCSP_SERIAL_HEX_MAX);
    CHECK(ocsp_serial_fixed_from_hex(hex, OCSP_SERIAL_HEX_MAX, f) == 0);
    n = ocsp_serial_fixed_to_der(f, der);
    CHECK(n == 21 && der[0] == 0 && der[20] == 0xff);
    CHECK(ocsp_serial_fixed_from_hex(hex, OCSP_SERIAL_HEX_MAX + 1, f) == -1);

    for (int i = 0; i < 20000; i++) {
        unsigned char raw[OCSP_SERIAL_MAX_OCTETS];
        size_t len = 1 + (size_t)i % OCSP_SERIAL_MAX_OCTETS;
        int c1;

        for (size_t k = 0; k < len; k++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            raw[k] = (unsigned char)x;
        }
        if (raw[0] == 0) {
            raw[0] = 1;
        }
        raw[0] &= 0x7f; /* DER content of a positive INTEGER */
        if (raw[0] == 0) {
            raw[0] = 0x40;
        }
        CHECK(ocsp_serial_from_der(raw, len, hex) == 0);
        CHECK(ocsp_serial_fixed_from_hex(hex, strlen(hex), f) == 0);
        n = ocsp_serial_fixed_to_der(f, der);
        CHECK(n == len && memcmp(der, raw, len) == 0);
        CHECK(ocsp_serial_to_der(hex, der2) == (int)n &&
              memcmp(der, der2, n) == 0);
        CHECK(ocsp_serial_from_der(der, n, back) == 0);
        CHECK_STR(back, hex);
        /* memcmp() order is numeric order: against the previous serial */
        c1 = memcmp(f, g, sizeof(f));
        if (i > 0) {
            char prev[OCSP_SERIAL_HEX_MAX + 1];
            unsigned char pd[OCSP_SERIAL_MAX_OCTETS + 1];
            size_t pn = ocsp_serial_fixed_to_der(g, pd);
            int numeric;

            CHECK(ocsp_serial_from_der(pd, pn, prev) == 0);
            numeric = strlen(hex) != strlen(prev)
                          ? (strlen(hex) > strlen(prev) ? 1 : -1)
                          : strcmp(hex, prev);
            CHECK((c1 > 0) == (numeric > 0) && (c1 < 0) == (numeric < 0));
        }
        memcpy(g, f, sizeof(f));
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

    test_fixed();
    test_fixed_every_byte();
    CHECK_DONE();
}
