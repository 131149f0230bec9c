/*
 * Request decoding with hostile inputs.  Responses are tested through the
 * production signing path in test_response.c.
 */
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <stdlib.h>

#include "check.h"
#include "request.h"

static EVP_PKEY *ca_key;
static X509 *ca;

/* A self-signed CA: requests name it by its subject and key. */
static X509 *make_ca(const char *cn, EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                              "critical,CA:TRUE");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    return x;
}

static ocsp_issuer_t issuer;

static void setup(void)
{
    const ASN1_BIT_STRING *bits;
    unsigned char *der = NULL;
    unsigned len;
    int n;

    ca_key = EVP_EC_gen("P-256");
    ca = make_ca("Test CA", ca_key);

    /* The CertID hashes a request for this CA carries (RFC 6960 4.1.1),
     * computed here independently of the registry. */
    memset(&issuer, 0, sizeof(issuer));
    n = i2d_X509_NAME(X509_get_subject_name(ca), &der);
    bits = X509_get0_pubkey_bitstr(ca);
    EVP_Digest(der, (size_t)n, issuer.name_hash[0], &len, EVP_sha1(), NULL);
    EVP_Digest(der, (size_t)n, issuer.name_hash[1], &len, EVP_sha256(), NULL);
    EVP_Digest(bits->data, (size_t)bits->length, issuer.key_hash[0], &len,
               EVP_sha1(), NULL);
    EVP_Digest(bits->data, (size_t)bits->length, issuer.key_hash[1], &len,
               EVP_sha256(), NULL);
    OPENSSL_free(der);
}

/* A DER request for SERIAL with N singleRequests and an optional nonce. */
static unsigned char *make_req(const EVP_MD *md, long serial, int n,
                               int nonce_len, size_t *len)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    unsigned char *der = NULL;
    int i, l;

    for (i = 0; i < n; i++) {
        ASN1_INTEGER *ai = ASN1_INTEGER_new();
        ASN1_INTEGER_set(ai, serial + i);
        OCSP_request_add0_id(req,
                             OCSP_cert_id_new(md, X509_get_subject_name(ca),
                                              X509_get0_pubkey_bitstr(ca), ai));
        ASN1_INTEGER_free(ai);
    }
    if (nonce_len >= 0) {
        unsigned char nonce[300];
        memset(nonce, 0x5a, sizeof(nonce));
        OCSP_request_add1_nonce(req, nonce_len ? nonce : NULL, nonce_len);
    }
    l = i2d_OCSP_REQUEST(req, &der);
    OCSP_REQUEST_free(req);
    *len = (size_t)l;
    return der;
}

static const ocsp_limits_t lim = {10240, 1};

static void test_decode(void)
{
    ocsp_request_t r;
    unsigned char *der, *junk;
    size_t len, i;
    ocsp_limits_t lim4 = {10240, 4};

    der = make_req(EVP_sha1(), 0x1234, 1, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_SUCCESSFUL);
    CHECK(r.nsingles == 1 && r.singles[0].hash == OCSP_HASH_SHA1);
    CHECK_STR(r.singles[0].serial, "1234");
    CHECK(memcmp(r.singles[0].name_hash, issuer.name_hash[0], 20) == 0);
    CHECK(r.nonce_len == 0);

    /* Every truncation is malformed, never a crash. */
    for (i = 0; i < len; i++) {
        CHECK(ocsp_request_decode(der, i, &lim, &r) == OCSP_ST_MALFORMED);
    }
    /* Trailing garbage. */
    junk = malloc(len + 1);
    memcpy(junk, der, len);
    junk[len] = 0;
    CHECK(ocsp_request_decode(junk, len + 1, &lim, &r) == OCSP_ST_MALFORMED);
    /* Bit flips anywhere: any status, but a sane one. */
    for (i = 0; i < len * 8; i++) {
        ocsp_resp_status_e st;
        memcpy(junk, der, len);
        junk[i / 8] ^= (unsigned char)(1 << (i % 8));
        st = ocsp_request_decode(junk, len, &lim, &r);
        CHECK(st == OCSP_ST_SUCCESSFUL || st == OCSP_ST_MALFORMED ||
              st == OCSP_ST_UNAUTHORIZED);
        if (st == OCSP_ST_SUCCESSFUL) {
            CHECK(r.nsingles == 1 && strlen(r.singles[0].serial) > 0);
        }
    }
    free(junk);
    /* Size limit. */
    {
        ocsp_limits_t small = {len - 1, 1};
        CHECK(ocsp_request_decode(der, len, &small, &r) == OCSP_ST_MALFORMED);
    }
    OPENSSL_free(der);

    CHECK(ocsp_request_decode((const unsigned char *)"", 0, &lim, &r) ==
          OCSP_ST_MALFORMED);
    CHECK(ocsp_request_decode((const unsigned char *)"garbage", 7, &lim, &r) ==
          OCSP_ST_MALFORMED);

    /* SHA-256 CertIDs. */
    der = make_req(EVP_sha256(), 77, 1, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_SUCCESSFUL);
    CHECK(r.singles[0].hash == OCSP_HASH_SHA256);
    CHECK(memcmp(r.singles[0].key_hash, issuer.key_hash[1], 32) == 0);
    OPENSSL_free(der);
    /* Other hashes cannot name a registered issuer. */
    der = make_req(EVP_sha384(), 77, 1, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_UNAUTHORIZED);
    OPENSSL_free(der);

    /* singleRequests per message are bounded. */
    der = make_req(EVP_sha1(), 10, 2, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_MALFORMED);
    CHECK(ocsp_request_decode(der, len, &lim4, &r) == OCSP_ST_SUCCESSFUL &&
          r.nsingles == 2);
    OPENSSL_free(der);

    /* Serials: zero and negative are invalid. */
    der = make_req(EVP_sha1(), 0, 1, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_MALFORMED);
    OPENSSL_free(der);
    der = make_req(EVP_sha1(), -5, 1, -1, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_MALFORMED);
    OPENSSL_free(der);

    /* RFC 9654: 1..128 octets. */
    der = make_req(EVP_sha1(), 5, 1, 32, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_SUCCESSFUL &&
          r.nonce_len == 32 && r.nonce[0] == 0x5a);
    OPENSSL_free(der);
    der = make_req(EVP_sha1(), 5, 1, 128, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_SUCCESSFUL &&
          r.nonce_len == 128);
    OPENSSL_free(der);
    der = make_req(EVP_sha1(), 5, 1, 129, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_MALFORMED);
    OPENSSL_free(der);
}

static void test_extensions(void)
{
    OCSP_REQUEST *req = OCSP_REQUEST_new();
    ASN1_INTEGER *ai = ASN1_INTEGER_new();
    ASN1_OBJECT *obj = OBJ_txt2obj("1.2.3.4.5", 1);
    ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
    X509_EXTENSION *ext;
    unsigned char *der = NULL;
    ocsp_request_t r;
    int len;

    ASN1_INTEGER_set(ai, 9);
    OCSP_request_add0_id(req,
                         OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
                                          X509_get0_pubkey_bitstr(ca), ai));
    ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
    ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
    OCSP_REQUEST_add_ext(req, ext, -1);
    len = i2d_OCSP_REQUEST(req, &der);
    /* An unknown non-critical extension is ignored. */
    CHECK(ocsp_request_decode(der, (size_t)len, &lim, &r) ==
          OCSP_ST_SUCCESSFUL);
    OPENSSL_free(der);
    der = NULL;
    X509_EXTENSION_set_critical(ext, 1);
    X509_EXTENSION_free(OCSP_REQUEST_delete_ext(req, 0));
    OCSP_REQUEST_add_ext(req, ext, -1);
    len = i2d_OCSP_REQUEST(req, &der);
    CHECK(ocsp_request_decode(der, (size_t)len, &lim, &r) == OCSP_ST_MALFORMED);
    OPENSSL_free(der);
    X509_EXTENSION_free(ext);
    ASN1_OCTET_STRING_free(os);
    ASN1_OBJECT_free(obj);
    ASN1_INTEGER_free(ai);
    OCSP_REQUEST_free(req);
}

int main(void)
{
    setup();
    test_decode();
    test_extensions();
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    CHECK_DONE();
}
