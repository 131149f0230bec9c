#include "serial.h"

#include <ctype.h>
#include <stdint.h>
#include <string.h>

static const char hexdig[] = "0123456789abcdef";

/* Writes the magnitude P[0..len) (no sign octet) as canonical hex. */
static int serial_hex(const unsigned char *p, size_t len, char *out)
{
    size_t i;

    while (len && *p == 0) {
        p++;
        len--;
    }
    if (len == 0 || len > OCSP_SERIAL_MAX_OCTETS) {
        return -1; /* zero, or longer than RFC 5280 4.1.2.2 allows */
    }
    /* Canonical form drops the leading zero nibble too: "1", not "01". */
    i = 0;
    if ((p[0] >> 4) != 0) {
        out[i++] = hexdig[p[0] >> 4];
    }
    out[i++] = hexdig[p[0] & 0xf];
    for (size_t k = 1; k < len; k++) {
        out[i++] = hexdig[p[k] >> 4];
        out[i++] = hexdig[p[k] & 0xf];
    }
    out[i] = '\0';
    return 0;
}

int ocsp_serial_from_der(const unsigned char *p, size_t len, char *out)
{
    if (len == 0 || (p[0] & 0x80)) {
        return -1; /* empty or negative */
    }
    /* DER forbids a redundant leading zero (X.690 8.3.2). */
    if (len > 1 && p[0] == 0 && !(p[1] & 0x80)) {
        return -1;
    }
    return serial_hex(p, len, out);
}

int ocsp_serial_from_asn1(const ASN1_INTEGER *ai, char *out)
{
    if (ai == NULL || ASN1_STRING_type(ai) != V_ASN1_INTEGER) {
        return -1; /* V_ASN1_NEG_INTEGER: negative */
    }
    return serial_hex(ASN1_STRING_get0_data(ai), (size_t)ASN1_STRING_length(ai),
                      out);
}

int ocsp_serial_from_hex(const char *hex, char *out)
{
    unsigned char raw[OCSP_SERIAL_MAX_OCTETS + 1];
    char digits[2 * (OCSP_SERIAL_MAX_OCTETS + 1) + 1];
    size_t n = 0, i, len;

    if (hex == NULL) {
        return -1;
    }
    if (hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) {
        hex += 2;
    }
    for (; *hex; hex++) {
        if (*hex == ':') {
            continue;
        }
        if (!isxdigit((unsigned char)*hex)) {
            return -1;
        }
        if (n == 0 && *hex == '0') {
            continue; /* leading zeros carry nothing */
        }
        if (n >= sizeof(digits) - 1) {
            return -1;
        }
        digits[n++] = (char)tolower((unsigned char)*hex);
    }
    if (n == 0 || n > OCSP_SERIAL_HEX_MAX) {
        return -1;
    }
    /* Fill from the right: nibble i of the value is digit n-1-i. */
    len = (n + 1) / 2;
    memset(raw, 0, sizeof(raw));
    for (i = 0; i < n; i++) {
        unsigned v = (unsigned)(strchr(hexdig, digits[n - 1 - i]) - hexdig);
        raw[len - 1 - i / 2] |= (unsigned char)(i & 1 ? v << 4 : v);
    }
    return serial_hex(raw, len, out);
}

int ocsp_serial_to_der(const char *hex, unsigned char *out)
{
    size_t n = strlen(hex), len, i, off;

    if (n == 0 || n > OCSP_SERIAL_HEX_MAX || hex[0] == '0') {
        return -1; /* not canonical */
    }
    len = (n + 1) / 2;
    off = 0;
    for (i = 0; i < n; i++) {
        const char *d = strchr(hexdig, hex[i]);
        if (d == NULL || hex[i] == '\0') {
            return -1;
        }
    }
    /* Nibble k of the value, counting from the right. */
    memset(out, 0, OCSP_SERIAL_MAX_OCTETS + 1);
    for (i = 0; i < n; i++) {
        unsigned v = (unsigned)(strchr(hexdig, hex[n - 1 - i]) - hexdig);
        out[len - 1 - i / 2] |= (unsigned char)(i & 1 ? v << 4 : v);
    }
    if (out[0] == 0) {
        return -1; /* not canonical */
    }
    if (out[0] & 0x80) {
        memmove(out + 1, out, len);
        out[0] = 0;
        off = 1;
    }
    return (int)(len + off);
}

unsigned ocsp_serial_shard(const char *hex, unsigned nshards)
{
    unsigned long long rem = 0;

    if (nshards <= 1) {
        return 0;
    }
    for (; *hex; hex++) {
        const char *d = strchr(hexdig, *hex);
        if (d == NULL || *hex == '\0') {
            return 0;
        }
        rem = (rem * 16 + (unsigned)(d - hexdig)) % nshards;
    }
    return (unsigned)rem;
}

/* Hex digit value + 1, 0 for anything else: a table rather than branches,
 * which random serials mispredict half the time. */
static const signed char hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};

#define ONES 0x0101010101010101ull

/* Eight bytes at P, the first lowest, whatever the host's byte order. */
static uint64_t load_le64(const unsigned char *p)
{
    uint64_t x;

    memcpy(&x, p, sizeof(x));
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    x = __builtin_bswap64(x);
#endif
    return x;
}

/*
 * Eight lower-case hex digits at P to four bytes at OUT, eight at a time
 * (SWAR): no table look-up per digit.  Returns 0, or -1 if a byte is not a
 * digit.  Per byte b (below 0x80, so no sum carries into the next byte),
 * b + (0x80 - c) sets bit 7 exactly when b >= c.
 */
static int hex8(const unsigned char *p, unsigned char *out)
{
    uint64_t x = load_le64(p);
    uint64_t ge0 = x + ONES * (0x80 - '0'), gt9 = x + ONES * (0x80 - '9' - 1);
    uint64_t gea = x + ONES * (0x80 - 'a'), gtf = x + ONES * (0x80 - 'f' - 1);
    uint64_t digit = ge0 & ~gt9, alpha = gea & ~gtf;
    uint64_t v, t;

    if ((x & ONES * 0x80) != 0 ||
        ((digit | alpha) & ONES * 0x80) != ONES * 0x80) {
        return -1;
    }
    /* '0'..'9' and 'a'..'f' keep their value (+9 for a letter) in the low
     * nibble */
    v = (x & ONES * 0x0f) + ((alpha >> 7) & ONES) * 9;
    /* byte 2k: digit 2k in the high nibble, digit 2k+1 in the low one */
    t = ((v << 4) | (v >> 8)) & 0x00ff00ff00ff00ffull;
    t = (t | t >> 8) & 0x0000ffff0000ffffull;
    t = t | t >> 16;
    out[0] = (unsigned char)t;
    out[1] = (unsigned char)(t >> 8);
    out[2] = (unsigned char)(t >> 16);
    out[3] = (unsigned char)(t >> 24);
    return 0;
}

int ocsp_serial_fixed_from_hex(const char *hex, size_t len, unsigned char *out)
{
    const unsigned char *h = (const unsigned char *)hex;
    unsigned bad = 0;
    size_t i = 0, pairs;

    if (len == 0 || len > OCSP_SERIAL_HEX_MAX || hex[0] == '0') {
        return -1; /* not canonical */
    }
    memset(out, 0, OCSP_SERIAL_MAX_OCTETS);
    out += OCSP_SERIAL_MAX_OCTETS - (len + 1) / 2;
    /* unsigned: a non-digit's 0 - 1 wraps harmlessly; the result is
     * thrown away then */
    if (len & 1) {
        unsigned v = (unsigned)hexval[*h++];
        bad |= v == 0;
        *out++ = (unsigned char)(v - 1u);
    }
    pairs = len / 2;
    for (; i + 4 <= pairs; i += 4) {
        bad |= hex8(h + 2 * i, out + i) != 0;
    }
    for (; i < pairs; i++) {
        unsigned hi = (unsigned)hexval[h[2 * i]];
        unsigned lo = (unsigned)hexval[h[2 * i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i] = (unsigned char)((hi - 1u) << 4 | ((lo - 1u) & 0xfu));
    }
    return bad ? -1 : 0;
}

size_t ocsp_serial_fixed_to_der(const unsigned char *fixed, unsigned char *out)
{
    size_t k = 0, n = 0;

    while (k < OCSP_SERIAL_MAX_OCTETS - 1 && fixed[k] == 0) {
        k++;
    }
    if (fixed[k] & 0x80) {
        out[n++] = 0; /* X.690 8.3: keep the INTEGER positive */
    }
    memcpy(out + n, fixed + k, OCSP_SERIAL_MAX_OCTETS - k);
    return n + OCSP_SERIAL_MAX_OCTETS - k;
}
