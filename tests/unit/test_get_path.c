/*
 * GET path decoding (get_path.c): requests built by hand in DER, encoded
 * by OpenSSL's base64, then mangled the ways clients and proxies do.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "get_path.h"

static const ocsp_limits_t lim = {10240, 1};

/* A minimal OCSPRequest for a SHA-1 CertID with a 9-byte serial from N. */
static size_t make_request(unsigned long long n, unsigned char *der)
{
    static const unsigned char head[] = {
        0x30, 0x4a, 0x30, 0x48, 0x30, 0x46, 0x30, 0x44, 0x30, 0x42,
        /* sha1, NULL parameters */
        0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00};
    unsigned char *p = der;
    int i;

    memcpy(p, head, sizeof(head));
    p += sizeof(head);
    *p++ = 0x04;
    *p++ = 20;
    memset(p, 0x11, 20);
    p += 20;
    *p++ = 0x04;
    *p++ = 20;
    memset(p, 0x22, 20);
    p += 20;
    *p++ = 0x02;
    *p++ = 9;
    /* positive and minimal: first octet 0x01..0x7f; 76 bytes in all, so
     * that the base64 is padded */
    *p++ = (unsigned char)(0x01 + (n >> 56) % 0x7f);
    for (i = 7; i >= 0; i--) {
        *p++ = (unsigned char)(n >> (8 * i));
    }
    return (size_t)(p - der);
}

static size_t b64(const unsigned char *der, size_t len, char *out)
{
    return (size_t)EVP_EncodeBlock((unsigned char *)out, der, (int)len);
}

/* decodes TEXT; 1 if it gives exactly DER as a successful request */
static int decodes_to(const char *text, const unsigned char *der, size_t len,
                      unsigned *repair)
{
    static unsigned char buf[OCSP_GET_PATH_BUF(4096)];
    ocsp_request_t req;
    ocsp_get_path_t out;

    if (ocsp_get_path_decode(text, strlen(text), &lim, buf, sizeof(buf), &req,
                             &out) != 0) {
        return 0;
    }
    if (repair != NULL) {
        *repair = out.repair;
    }
    return out.status == OCSP_ST_SUCCESSFUL && out.der_len == len &&
           memcmp(out.der, der, len) == 0 && req.nsingles == 1;
}

static int refused(const char *text)
{
    static unsigned char buf[OCSP_GET_PATH_BUF(4096)];
    ocsp_request_t req;
    ocsp_get_path_t out;

    return ocsp_get_path_decode(text, strlen(text), &lim, buf, sizeof(buf),
                                &req, &out) == -1 &&
           out.err != NULL;
}

/* replaces every FROM in S by TO (into OUT) */
static void replace(const char *s, char from, const char *to, char *out)
{
    for (; *s; s++) {
        if (*s == from) {
            out = stpcpy(out, to);
        } else {
            *out++ = *s;
        }
    }
    *out = '\0';
}

int main(void)
{
    unsigned char der[128], buf[OCSP_GET_PATH_BUF(200)];
    char text[512], v[2 * 10240 + 64], *p;
    size_t len, n;
    unsigned long long serial;
    unsigned repair;
    int found = 0;
    ocsp_request_t req;
    ocsp_get_path_t out;

    /* a request whose base64 has '+', '/' and padding */
    for (serial = 1;; serial++) {
        len = make_request(serial * 0x9e3779b97f4a7c15ULL, der);
        n = b64(der, len, text);
        if (strchr(text, '+') && strchr(text, '/') && text[n - 1] == '=') {
            break;
        }
    }
    CHECK(decodes_to(text, der, len, &repair) && repair == 0);

    /* percent-encoded, '+' as a space or %20, base64url, no padding */
    replace(text, '+', "%2B", v);
    replace(strcpy(text + 256, v), '/', "%2F", v);
    replace(strcpy(text + 256, v), '=', "%3D", v);
    CHECK(decodes_to(v, der, len, NULL));
    replace(text, '+', " ", v);
    CHECK(decodes_to(v, der, len, NULL));
    replace(text, '+', "%20", v);
    CHECK(decodes_to(v, der, len, NULL));
    replace(text, '+', "-", v);
    replace(strcpy(text + 256, v), '/', "_", v);
    CHECK(decodes_to(v, der, len, NULL));
    strcpy(v, text);
    while ((p = strchr(v, '=')) != NULL) {
        *p = '\0';
    }
    CHECK(decodes_to(v, der, len, NULL));
    /* leading slashes, CR/LF inside, lower-case hex escapes */
    snprintf(v, sizeof(v), "///%s", text);
    CHECK(decodes_to(v, der, len, NULL));
    snprintf(v, sizeof(v), "%.10s\r\n%s", text, text + 10);
    CHECK(decodes_to(v, der, len, NULL));
    replace(text, '/', "%2f", v);
    CHECK(decodes_to(v, der, len, NULL));

    /* cut short, trailing bytes, bad characters, a bad escape: refused */
    snprintf(v, sizeof(v), "%.*s", (int)(n - 4), text);
    CHECK(refused(v));
    snprintf(v, sizeof(v), "%sAAAA", text);
    CHECK(refused(v));
    snprintf(v, sizeof(v), "%s!", text);
    CHECK(refused(v));
    snprintf(v, sizeof(v), "%%ZZ%s", text);
    CHECK(refused(v));
    CHECK(refused(""));
    CHECK(refused("////"));
    CHECK(refused("MA=="));
    /* over twice the DER limit: refused before decoding */
    memset(v, 'A', 2 * 10240 + 1);
    v[2 * 10240 + 1] = '\0';
    CHECK(refused(v));
    /* the scratch must be big enough */
    CHECK(ocsp_get_path_decode(text, n, &lim, buf, OCSP_GET_PATH_BUF(n) - 1,
                               &req, &out) == -1);

    /* a DER SEQUENCE that is not a request: the decoder's verdict */
    CHECK(ocsp_get_path_decode("MAA=", 4, &lim, buf, sizeof(buf), &req, &out) ==
              0 &&
          out.status == OCSP_ST_MALFORMED && out.err != NULL &&
          out.der_len == 2);

    /* "//" collapsed by a proxy: repaired, to the same request */
    for (serial = 1; found < 3 && serial < 200000; serial++) {
        len = make_request(serial * 0x9e3779b97f4a7c15ULL, der);
        n = b64(der, len, text);
        if ((p = strstr(text, "//")) == NULL) {
            continue;
        }
        memmove(p, p + 1, strlen(p));
        CHECK(decodes_to(text, der, len, &repair) && repair > 0);
        found++;
    }
    CHECK(found == 3);

    CHECK_DONE();
}
