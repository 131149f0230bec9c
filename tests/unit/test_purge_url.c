/*
 * The purge hook's URLs (purge.h): ocsp_request_encode() read back by both
 * request decoders, ocsp_get_url() read back by the GET path decoder, and
 * the "ISSUER:SERIAL" naming of a certificate (keys.h).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "get_path.h"
#include "keys.h"
#include "purge.h"
#include "request.h"

static const ocsp_limits_t lim = {10240, 1};

/* An issuer with recognisable hashes: only they go into a request. */
static void fake_issuer(ocsp_issuer_t *iss, ocsp_issuer_conf_t *ic)
{
    memset(iss, 0, sizeof(*iss));
    memset(ic, 0, sizeof(*ic));
    memcpy(ic->name, "demo", 5);
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        for (int i = 0; i < OCSP_HASH_MAX_LEN; i++) {
            iss->name_hash[h][i] = (unsigned char)(0x10 * (h + 1) + i);
            iss->key_hash[h][i] = (unsigned char)(0xa0 + 0x10 * h + i);
        }
    }
    iss->conf = ic;
}

/* The request for SERIAL under HASH decodes, both ways, to that CertID. */
static void check_roundtrip(const ocsp_issuer_t *iss, ocsp_hash_e hash,
                            const char *serial)
{
    unsigned char der[OCSP_REQUEST_ENCODED_MAX];
    size_t len = ocsp_request_encode(iss, hash, serial, der);
    size_t hl = ocsp_hash_len(hash);
    ocsp_request_t fast, schema;

    CHECK(len > 0);
    CHECK(ocsp_request_decode(der, len, &lim, &fast) == OCSP_ST_SUCCESSFUL);
    CHECK(ocsp_request_decode_schema(der, len, &lim, &schema) ==
          OCSP_ST_SUCCESSFUL);
    CHECK(fast.nsingles == 1 && fast.nonce_len == 0);
    CHECK(fast.singles[0].hash == hash);
    CHECK(memcmp(fast.singles[0].name_hash, iss->name_hash[hash], hl) == 0);
    CHECK(memcmp(fast.singles[0].key_hash, iss->key_hash[hash], hl) == 0);
    CHECK_STR(fast.singles[0].serial, serial);
    CHECK(schema.nsingles == 1);
    CHECK_STR(schema.singles[0].serial, serial);

    /* the URL: base, one '/', base64 with + / = escaped, read back */
    {
        static unsigned char buf[OCSP_GET_PATH_BUF(OCSP_PURGE_URL_MAX)];
        char url[OCSP_PURGE_URL_MAX];
        const char *bases[] = {"http://o.example/ocsp", "http://o.example/"};
        ocsp_get_path_t out;
        ocsp_request_t req;

        for (int b = 0; b < 2; b++) {
            size_t n = strlen(bases[b]);
            long u = ocsp_get_url(bases[b], der, len, url, sizeof(url));
            const char *path = url + n + (b == 0);

            CHECK(u > 0 && (size_t)u == strlen(url));
            CHECK(strncmp(url, bases[b], n) == 0);
            CHECK(b == 1 || url[n] == '/');
            CHECK(strpbrk(path, "+/=") == NULL);
            CHECK(ocsp_get_path_decode(path, strlen(path), &lim, buf,
                                       sizeof(buf), &req, &out) == 0);
            CHECK(out.status == OCSP_ST_SUCCESSFUL && out.repair == 0);
            CHECK(out.der_len == len && memcmp(out.der, der, len) == 0);
            /* one byte short of room: refused, nothing half written */
            CHECK(ocsp_get_url(bases[b], der, len, url,
                               OCSP_GET_URL_MAX(n, len) - 1) == -1);
        }
    }
}

int main(void)
{
    ocsp_issuer_t iss;
    ocsp_issuer_conf_t ic;
    unsigned char der[OCSP_REQUEST_ENCODED_MAX];
    char issuer[OCSP_ISSUER_NAME_MAX + 1], serial[OCSP_SERIAL_HEX_MAX + 1];
    char ref[OCSP_KEY_MAX];
    static const char *const serials[] = {
        "1",
        "7f",
        "80",
        "ff00",
        "1234567890abcdef",
        "ffffffffffffffffffffffffffffffffffffffff"};

    fake_issuer(&iss, &ic);
    for (size_t i = 0; i < sizeof(serials) / sizeof(serials[0]); i++) {
        check_roundtrip(&iss, OCSP_HASH_SHA1, serials[i]);
        check_roundtrip(&iss, OCSP_HASH_SHA256, serials[i]);
    }
    /* not canonical: no request */
    CHECK(ocsp_request_encode(&iss, OCSP_HASH_SHA1, "0", der) == 0);
    CHECK(ocsp_request_encode(&iss, OCSP_HASH_SHA1, "01", der) == 0);
    CHECK(ocsp_request_encode(&iss, OCSP_HASH_SHA1, "AB", der) == 0);
    CHECK(ocsp_request_encode(&iss, OCSP_HASH_SHA1, "", der) == 0);
    CHECK(ocsp_request_encode(&iss, OCSP_HASH_COUNT, "1", der) == 0);
    /* the exact bytes for serial 1, SHA-1 (RFC 6960 4.1.1, RFC 5019) */
    {
        size_t len = ocsp_request_encode(&iss, OCSP_HASH_SHA1, "1", der);
        static const unsigned char head[] = {
            0x30, 0x42, 0x30, 0x40, 0x30, 0x3e, 0x30, 0x3c, 0x30,
            0x3a, 0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02,
            0x1a, 0x05, 0x00, 0x04, 0x14, 0x10, 0x11};
        CHECK(len == 68);
        CHECK(memcmp(der, head, sizeof(head)) == 0);
        CHECK(der[len - 3] == 0x02 && der[len - 2] == 1 && der[len - 1] == 1);
    }

    /* ISSUER:SERIAL */
    CHECK(ocsp_cert_ref(ref, "demo", "1f3a") == 9);
    CHECK_STR(ref, "demo:1f3a");
    CHECK(ocsp_cert_ref_parse(ref, strlen(ref), issuer, serial) == 0);
    CHECK_STR(issuer, "demo");
    CHECK_STR(serial, "1f3a");
    {
        static const char *const bad[] = {
            "demo",
            "demo:",
            ":1f3a",
            "demo:01f3a",
            "demo:1F3A",
            "Demo:1f3a",
            "demo:1f3a:2",
            "demo:1f 3a",
            "demo::1f3a",
            "demo:11111111111111111111111111111111111111111",
            "a-very-long-issuer-name-of-33-chr:1"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            CHECK(ocsp_cert_ref_parse(bad[i], strlen(bad[i]), issuer, serial) ==
                  -1);
        }
        /* a NUL inside is not part of a name */
        CHECK(ocsp_cert_ref_parse("demo:1f\0a", 9, issuer, serial) == -1);
    }
    CHECK_DONE();
}
