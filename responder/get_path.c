/*
 * GET path decoding (see get_path.h): percent-decoding and the client
 * variants of base64 into one text, then candidates, as sent first, then
 * with collapsed "//" repaired.
 */
#include "get_path.h"

#include <string.h>

#include "der_read.h"

static int hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    if (c >= 'a' && c <= 'f') {
        return c - 'a' + 10;
    }
    return -1;
}

/*
 * Percent-decodes TEXT into OUT (at most LEN bytes) in the standard base64
 * alphabet: a space or '-' is '+' (form encoding, base64url), '_' is '/',
 * CR and LF are dropped.  A '%' not followed by two hex digits stays, and
 * base64 refuses it later.  Returns the length written.
 */
static size_t unescape(const unsigned char *p, size_t len, unsigned char *out)
{
    const unsigned char *last = p + len;
    unsigned char *q = out;
    int hi, lo;

    while (p < last) {
        if (*p == '%' && last - p >= 3 && (hi = hex_value(p[1])) >= 0 &&
            (lo = hex_value(p[2])) >= 0) {
            *q = (unsigned char)(hi << 4 | lo);
            p += 3;
        } else {
            *q = *p++;
        }
        switch (*q) {
        case ' ':
        case '-':
            *q = '+';
            break;
        case '_':
            *q = '/';
            break;
        case '\r':
        case '\n':
            continue;
        default:
            break;
        }
        q++;
    }
    return (size_t)(q - out);
}

/* base64's value plus one of every octet, 0 for those outside the
 * alphabet (RFC 4648 4): one load per character on the hot path */
static const unsigned char b64_plus1[256] = {
    ['A'] = 1,  ['B'] = 2,  ['C'] = 3,  ['D'] = 4,  ['E'] = 5,  ['F'] = 6,
    ['G'] = 7,  ['H'] = 8,  ['I'] = 9,  ['J'] = 10, ['K'] = 11, ['L'] = 12,
    ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18,
    ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30,
    ['e'] = 31, ['f'] = 32, ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36,
    ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40, ['o'] = 41, ['p'] = 42,
    ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54,
    ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60,
    ['8'] = 61, ['9'] = 62, ['+'] = 63, ['/'] = 64};

static int b64_value(unsigned char c)
{
    return (int)b64_plus1[c] - 1;
}

/*
 * Decodes base64 of LEN characters, padding already removed, into OUT (at
 * least LEN / 4 * 3 + 2 bytes).  A last quantum of 2 or 3 characters gives
 * 1 or 2 bytes; of 1, nothing can.  Returns the length or -1.
 */
static long b64_decode(const unsigned char *s, size_t len, unsigned char *out)
{
    unsigned char *q = out;
    unsigned long acc = 0;
    size_t i;
    int v, bits = 0;

    if (len % 4 == 1) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        if ((v = b64_value(s[i])) < 0) {
            return -1;
        }
        acc = (acc << 6 | (unsigned long)v) & 0xffffff;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            *q++ = (unsigned char)(acc >> bits);
        }
    }
    return (long)(q - out);
}

/*
 * Attempt K's text from SRC into TRY: 0 as is, 1..NSLASH with the K-th '/'
 * doubled, NSLASH + 1 with every '/' doubled.  Returns its length.
 */
static size_t candidate(const unsigned char *src, size_t len, size_t k,
                        size_t nslash, unsigned char *try)
{
    unsigned char *p = try;
    size_t i, seen = 0;

    for (i = 0; i < len; i++) {
        *p++ = src[i];
        if (src[i] == '/') {
            seen++;
            if (k == nslash + 1 || seen == k) {
                *p++ = '/';
            }
        }
    }
    return (size_t)(p - try);
}

int ocsp_get_path_decode(const char *text, size_t len, const ocsp_limits_t *lim,
                         unsigned char *buf, size_t bufsize,
                         ocsp_request_t *req, ocsp_get_path_t *out)
{
    const unsigned char *p = (const unsigned char *)text;
    unsigned char *src, *try, *der, *spare;
    const unsigned char *cand;
    size_t n, i, k, nslash, try_len, der_max;
    long der_len;
    int padded, have_sent = 0;
    ocsp_resp_status_e st;
    ocsp_get_path_t sent;

    memset(out, 0, sizeof(*out));
    memset(&sent, 0, sizeof(sent));

    while (len > 0 && *p == '/') {
        p++;
        len--;
    }
    if (len == 0) {
        out->err = "empty GET path";
        return -1;
    }
    if (len > lim->max_size * 2) {
        out->err = "GET path too long";
        return -1;
    }
    if (bufsize < OCSP_GET_PATH_BUF(len)) {
        out->err = "GET path buffer too small";
        return -1;
    }

    /* layout: text | candidate (2 len) | DER | DER kept as sent */
    der_max = (2 * len) / 4 * 3 + 3;
    src = buf;
    try = src + len;
    der = try + 2 * len;
    spare = der + der_max;

    n = unescape(p, len, src);

    nslash = 0;
    for (i = 0; i < n; i++) {
        nslash += src[i] == '/';
    }
    padded = n > 0 && src[n - 1] == '=';

    for (k = 0; k <= nslash + 1 && k <= OCSP_GET_PATH_ATTEMPTS; k++) {
        if (k == nslash + 1 && nslash < 2) {
            break; /* all doubled is one doubled, tried already */
        }
        /*
         * Padded text comes in whole quanta of four: only as many '/' as
         * are missing from the last quantum can have been collapsed.
         */
        if (k > 0 && padded && (n + (k == nslash + 1 ? nslash : 1)) % 4 != 0) {
            continue;
        }
        /* as sent, the text itself: no copy on the common path */
        cand = k == 0 ? src : try;
        try_len = k == 0 ? n : candidate(src, n, k, nslash, try);

        /* drop trailing padding so that unpadded text decodes alike */
        while (try_len > 0 && cand[try_len - 1] == '=') {
            try_len--;
        }
        der_len = b64_decode(cand, try_len, der);
        if (der_len < 2 || der[0] != 0x30 ||
            der_read_size(der, (size_t)der_len) != (size_t)der_len) {
            continue; /* the outer SEQUENCE must cover the whole value */
        }

        /*
         * A wrongly doubled '/' keeps the length, so a candidate must parse
         * as a whole; as sent, the text is kept even when it does not, so
         * that the decoder names the problem.
         */
        st = ocsp_request_decode(der, (size_t)der_len, lim, req);
        if (st == OCSP_ST_SUCCESSFUL) {
            out->der = der;
            out->der_len = (size_t)der_len;
            out->repair = (unsigned)k;
            out->status = st;
            return 0;
        }
        if (k == 0) {
            sent.der = der;
            sent.der_len = (size_t)der_len;
            sent.status = st;
            sent.err = req->err;
            have_sent = 1;
            der = spare; /* keep it; repairs decode into the other */
        }
    }

    if (have_sent) {
        *out = sent;
        req->err = sent.err;
        return 0;
    }
    out->err = "GET path is not a base64 OCSP request";
    return -1;
}

long ocsp_get_url(const char *base, const unsigned char *der, size_t len,
                  char *out, size_t size)
{
    static const char b64[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t n = strlen(base), i, o;

    if (size < OCSP_GET_URL_MAX(n, len)) {
        return -1;
    }
    memcpy(out, base, n);
    o = n;
    if (n == 0 || base[n - 1] != '/') {
        out[o++] = '/';
    }
    for (i = 0; i < len; i += 3) {
        unsigned v = (unsigned)der[i] << 16;
        char quad[4];
        int k, have = len - i >= 3 ? 3 : (int)(len - i);

        if (have > 1) {
            v |= (unsigned)der[i + 1] << 8;
        }
        if (have > 2) {
            v |= der[i + 2];
        }
        quad[0] = b64[(v >> 18) & 63];
        quad[1] = b64[(v >> 12) & 63];
        quad[2] = have > 1 ? b64[(v >> 6) & 63] : '=';
        quad[3] = have > 2 ? b64[v & 63] : '=';
        for (k = 0; k < 4; k++) {
            const char *esc = quad[k] == '+'   ? "%2B"
                              : quad[k] == '/' ? "%2F"
                              : quad[k] == '=' ? "%3D"
                                               : NULL;
            if (esc != NULL) {
                memcpy(out + o, esc, 3);
                o += 3;
            } else {
                out[o++] = quad[k];
            }
        }
    }
    out[o] = '\0';
    return (long)o;
}
