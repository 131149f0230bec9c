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
#include "der.h"
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

/*
 * The parts of a hand-built request (RFC 6960 4.1.1), each the raw bytes of
 * one element, so that a test can put any BER form in any place; NULL
 * takes the DER default.
 */
typedef struct {
    const char *version; /* [0] EXPLICIT, left out by default */
    size_t version_len;
    const char *alg; /* hashAlgorithm */
    size_t alg_len;
    const char *name_hash;
    size_t name_hash_len;
    const char *serial;
    size_t serial_len;
    const char *ext; /* one Extension inside [2] { SEQUENCE OF } */
    size_t ext_len;
} req_parts_t;

#define RAW(s) s, sizeof(s) - 1
#define SHA1_ALG "\x30\x09\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00"
#define OCTETS20                                                               \
    "\x04\x14"                                                                 \
    "0123456789abcdefghij"
#define NONCE_OID "\x06\x09\x2b\x06\x01\x05\x05\x07\x30\x01\x02"

static unsigned char *build_req(const req_parts_t *p, size_t *len)
{
    der_buf_t b;
    size_t outer, tbs, list, one, cid, exts, seq;

    der_init(&b, 0);
    outer = der_begin(&b, DER_SEQUENCE);
    tbs = der_begin(&b, DER_SEQUENCE);
    if (p->version != NULL) {
        der_raw(&b, p->version, p->version_len);
    }
    list = der_begin(&b, DER_SEQUENCE);
    one = der_begin(&b, DER_SEQUENCE);
    cid = der_begin(&b, DER_SEQUENCE);
    if (p->alg != NULL) {
        der_raw(&b, p->alg, p->alg_len);
    } else {
        der_raw(&b, RAW(SHA1_ALG));
    }
    if (p->name_hash != NULL) {
        der_raw(&b, p->name_hash, p->name_hash_len);
    } else {
        der_raw(&b, RAW(OCTETS20));
    }
    der_raw(&b, RAW(OCTETS20)); /* issuerKeyHash */
    if (p->serial != NULL) {
        der_raw(&b, p->serial, p->serial_len);
    } else {
        der_raw(&b, RAW("\x02\x02\x12\x34"));
    }
    der_end(&b, cid);
    der_end(&b, one);
    der_end(&b, list);
    if (p->ext != NULL) {
        exts = der_begin(&b, DER_CTX(2));
        seq = der_begin(&b, DER_SEQUENCE);
        der_raw(&b, p->ext, p->ext_len);
        der_end(&b, seq);
        der_end(&b, exts);
    }
    der_end(&b, tbs);
    der_end(&b, outer);
    CHECK(!b.err);
    return der_take(&b, len);
}

static ocsp_resp_status_e decode_parts(const req_parts_t *p)
{
    ocsp_request_t r;
    size_t len;
    unsigned char *der = build_req(p, &len);
    ocsp_resp_status_e st = ocsp_request_decode(der, len, &lim, &r);

    free(der);
    return st;
}

/* BYTES with its first tag's length rewritten in a non-minimal long form
 * of N octets (a leading zero octet, or the long form below 128). */
static unsigned char *long_length(const unsigned char *in, size_t len, size_t n,
                                  size_t *out_len)
{
    size_t hl = in[1] < 0x80 ? 1 : 1 + (in[1] & 0x7f), clen = 0, i;
    unsigned char *out = malloc(len + n + 1);

    for (i = 1; i < hl; i++) {
        clen = clen << 8 | in[1 + i];
    }
    if (hl == 1) {
        clen = in[1];
    }
    out[0] = in[0];
    out[1] = (unsigned char)(0x80 | n);
    for (i = 0; i < n; i++) {
        out[2 + i] = (unsigned char)(clen >> (8 * (n - 1 - i)));
    }
    memcpy(out + 2 + n, in + 1 + hl, len - 1 - hl);
    *out_len = 2 + n + len - 1 - hl;
    return out;
}

/*
 * Issue 9: a request that is not DER is malformedRequest, although
 * OpenSSL's d2i (BER) reads every one of these.
 */
static void test_strict_der(void)
{
    req_parts_t p;
    ocsp_request_t r;
    unsigned char *der, *ber;
    size_t len, blen;

    /* what OpenSSL writes is DER: a signed request, its requestorName and
     * certificates included, passes the strict checks */
    {
        OCSP_REQUEST *req = OCSP_REQUEST_new();
        ASN1_INTEGER *ai = ASN1_INTEGER_new();
        unsigned char *sd = NULL;
        int sl;
        ocsp_limits_t big = {10240, 1};
        ASN1_INTEGER_set(ai, 0x4321);
        OCSP_request_add0_id(
            req, OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
                                  X509_get0_pubkey_bitstr(ca), ai));
        OCSP_request_add1_nonce(req, NULL, 16);
        CHECK(OCSP_request_sign(req, ca, ca_key, EVP_sha256(), NULL, 0) == 1);
        sl = i2d_OCSP_REQUEST(req, &sd);
        CHECK(sl > 0 && ocsp_request_decode(sd, (size_t)sl, &big, &r) ==
                            OCSP_ST_SUCCESSFUL);
        CHECK_STR(r.singles[0].serial, "4321");
        CHECK(r.nonce_len == 16);
        OPENSSL_free(sd);
        ASN1_INTEGER_free(ai);
        OCSP_REQUEST_free(req);
    }

    /* the baseline: the hand-built DER is accepted */
    memset(&p, 0, sizeof(p));
    CHECK(decode_parts(&p) == OCSP_ST_SUCCESSFUL);
    der = build_req(&p, &len);
    CHECK(ocsp_request_decode(der, len, &lim, &r) == OCSP_ST_SUCCESSFUL);
    CHECK_STR(r.singles[0].serial, "1234");

    /* the outer SEQUENCE's length: indefinite, then 0x81 0x45 */
    ber = malloc(len + 2);
    ber[0] = 0x30;
    ber[1] = 0x80;
    memcpy(ber + 2, der + 2, len - 2);
    ber[len] = ber[len + 1] = 0;
    CHECK(ocsp_request_decode(ber, len + 2, &lim, &r) == OCSP_ST_MALFORMED);
    free(ber);
    CHECK(der[1] < 0x80);
    ber = long_length(der, len, 1, &blen);
    CHECK(blen == len + 1 && ber[1] == 0x81);
    CHECK(ocsp_request_decode(ber, blen, &lim, &r) == OCSP_ST_MALFORMED);
    free(ber);
    /* 0x82 0x00 0x45: a leading zero length octet */
    ber = long_length(der, len, 2, &blen);
    CHECK(ber[1] == 0x82 && ber[2] == 0x00);
    CHECK(ocsp_request_decode(ber, blen, &lim, &r) == OCSP_ST_MALFORMED);
    free(ber);
    /* trailing bytes, and wrong outer tags */
    ber = malloc(len + 2);
    memcpy(ber, der, len);
    ber[len] = 0x05;
    ber[len + 1] = 0x00;
    CHECK(ocsp_request_decode(ber, len + 2, &lim, &r) == OCSP_ST_MALFORMED);
    memcpy(ber, der, len);
    ber[0] = 0x31;
    CHECK(ocsp_request_decode(ber, len, &lim, &r) == OCSP_ST_MALFORMED);
    ber[0] = 0x10;
    CHECK(ocsp_request_decode(ber, len, &lim, &r) == OCSP_ST_MALFORMED);
    ber[0] = 0x30;
    ber[2] = 0xa0; /* tbsRequest tagged [0] */
    CHECK(ocsp_request_decode(ber, len, &lim, &r) == OCSP_ST_MALFORMED);
    free(ber);
    free(der);

    /* a non-minimal length deep inside: the serial's 0x81 0x02 */
    memset(&p, 0, sizeof(p));
    p.serial = "\x02\x81\x02\x12\x34";
    p.serial_len = 5;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* 0x82 0x00 0x14 for a name hash */
    p.serial = NULL;
    p.name_hash = "\x04\x82\x00\x14"
                  "0123456789abcdefghij";
    p.name_hash_len = 24;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* a constructed OCTET STRING, definite and indefinite */
    p.name_hash = "\x24\x18\x04\x0a"
                  "0123456789"
                  "\x04\x0a"
                  "abcdefghij";
    p.name_hash_len = 26;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.name_hash = "\x24\x80\x04\x14"
                  "0123456789abcdefghij"
                  "\x00\x00";
    p.name_hash_len = 26;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* an indefinite-length CertID hashAlgorithm */
    p.name_hash = NULL;
    p.alg = "\x30\x80\x06\x05\x2b\x0e\x03\x02\x1a\x05\x00\x00\x00";
    p.alg_len = 13;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* a non-minimal INTEGER, and an OID subidentifier padded with 0x80 */
    p.alg = NULL;
    p.serial = "\x02\x03\x00\x12\x34";
    p.serial_len = 5;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.serial = NULL;
    p.alg = "\x30\x0a\x06\x06\x2b\x0e\x03\x02\x80\x1a\x05\x00";
    p.alg_len = 12;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* NULL parameters with contents */
    p.alg = "\x30\x0a\x06\x05\x2b\x0e\x03\x02\x1a\x05\x01\x00";
    p.alg_len = 12;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.alg = NULL;

    /* version: DER leaves out the DEFAULT v1; no other version exists */
    p.version = "\xa0\x03\x02\x01\x00";
    p.version_len = 5;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.version = "\xa0\x03\x02\x01\x01";
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.version = NULL;

    /* the nonce extension: DER, then BOOLEANs that are not */
    p.ext = "\x30\x2f" NONCE_OID "\x04\x22" /* extnValue */
            "\x04\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    p.ext_len = 2 + 11 + 2 + 34;
    CHECK(decode_parts(&p) == OCSP_ST_SUCCESSFUL);
    /* critical BOOLEAN 0x01: true to BER, not DER (X.690 11.1) */
    p.ext = "\x30\x32" NONCE_OID "\x01\x01\x01"
            "\x04\x22"
            "\x04\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    p.ext_len = 2 + 11 + 3 + 2 + 34;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* critical FALSE encoded: DER leaves out a DEFAULT (X.690 11.5) */
    p.ext = "\x30\x32" NONCE_OID "\x01\x01\x00"
            "\x04\x22"
            "\x04\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* the nonce inside extnValue: a long-form length, then constructed */
    p.ext = "\x30\x30" NONCE_OID "\x04\x23"
            "\x04\x81\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    p.ext_len = 2 + 11 + 2 + 35;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    p.ext = "\x30\x31" NONCE_OID "\x04\x24"
            "\x24\x22\x04\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    p.ext_len = 2 + 11 + 2 + 36;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
    /* extnValue itself constructed */
    p.ext = "\x30\x31" NONCE_OID "\x24\x24\x04\x22"
            "\x04\x20"
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ";
    p.ext_len = 2 + 11 + 2 + 36;
    CHECK(decode_parts(&p) == OCSP_ST_MALFORMED);
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

/*
 * Whether ocsp_request_decode() (plain requests read from the bytes alone)
 * and ocsp_request_decode_schema() (every request through OpenSSL's d2i
 * and re-encoding) give LEN bytes at DER the same verdict, reason and
 * fields.
 */
static int decoders_agree(const unsigned char *der, size_t len,
                          const ocsp_limits_t *l, size_t *ok)
{
    ocsp_request_t a, b;
    ocsp_resp_status_e sa = ocsp_request_decode(der, len, l, &a);
    ocsp_resp_status_e sb = ocsp_request_decode_schema(der, len, l, &b);
    size_t i;

    if (sa != sb || a.err != b.err) {
        return 0;
    }
    *ok += sa == OCSP_ST_SUCCESSFUL;
    if (sa != OCSP_ST_SUCCESSFUL) {
        return 1;
    }
    if (a.nsingles != b.nsingles || a.nonce_len != b.nonce_len ||
        memcmp(a.nonce, b.nonce, a.nonce_len) != 0) {
        return 0;
    }
    for (i = 0; i < a.nsingles; i++) {
        if (a.singles[i].hash != b.singles[i].hash ||
            memcmp(a.singles[i].name_hash, b.singles[i].name_hash,
                   OCSP_HASH_MAX_LEN) != 0 ||
            memcmp(a.singles[i].key_hash, b.singles[i].key_hash,
                   OCSP_HASH_MAX_LEN) != 0 ||
            strcmp(a.singles[i].serial, b.singles[i].serial) != 0) {
            return 0;
        }
    }
    return 1;
}

/*
 * The plain reader against OpenSSL's schema, over requests of every shape
 * a client sends (plain, SHA-256, several singleRequests, nonces, unknown
 * extensions critical or not, a requestorName, a signature) and over each
 * one's truncations, single-bit flips and replacements of an octet by a
 * tag or length that matters.
 */
static void test_plain_agrees(void)
{
    static const ocsp_limits_t lims[] = {{10240, 1}, {10240, 4}, {60, 4}};
    /* replacement octets: the tags, lengths and values the schema tells
     * apart (and every bit of the octet flipped, below) */
    static const unsigned char octets[] = {
        0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x14, 0x20, 0x30,
        0x31, 0x7f, 0x80, 0x81, 0x82, 0xa0, 0xa1, 0xa2, 0xa3, 0xff};
    unsigned char *seeds[12], *m;
    size_t lens[12], ns = 0, s, i, k, v, agreed = 0, runs = 0;
    size_t ok = 0, accepted = 0, mutations = 0;
    ocsp_request_t r;

    seeds[ns] = make_req(EVP_sha1(), 0x1234, 1, -1, &lens[ns]), ns++;
    seeds[ns] = make_req(EVP_sha256(), 0x80, 1, -1, &lens[ns]), ns++;
    seeds[ns] = make_req(EVP_sha1(), 0x7fffff, 3, 16, &lens[ns]), ns++;
    seeds[ns] = make_req(EVP_sha1(), 9, 1, 32, &lens[ns]), ns++;
    seeds[ns] = make_req(EVP_sha384(), 9, 1, -1, &lens[ns]), ns++;
    {
        /* an unknown request extension, then one critical, then a
         * singleRequest extension; a requestorName; a signed request */
        static const int crit[] = {0, 1};
        OCSP_REQUEST *req;
        OCSP_ONEREQ *one;
        ASN1_INTEGER *ai;
        ASN1_OBJECT *obj = OBJ_txt2obj("1.2.3.4.5", 1);
        ASN1_OCTET_STRING *os = ASN1_OCTET_STRING_new();
        X509_EXTENSION *ext;
        int c, l;

        ASN1_OCTET_STRING_set(os, (const unsigned char *)"\x05\x00", 2);
        for (c = 0; c < 4; c++) {
            req = OCSP_REQUEST_new();
            ai = ASN1_INTEGER_new();
            ASN1_INTEGER_set(ai, 0x4242);
            one = OCSP_request_add0_id(
                req, OCSP_cert_id_new(EVP_sha1(), X509_get_subject_name(ca),
                                      X509_get0_pubkey_bitstr(ca), ai));
            ASN1_INTEGER_free(ai);
            if (c < 2) {
                ext = X509_EXTENSION_create_by_OBJ(NULL, obj, crit[c], os);
                OCSP_REQUEST_add_ext(req, ext, -1);
                X509_EXTENSION_free(ext);
                OCSP_request_add1_nonce(req, NULL, 8);
            } else if (c == 2) {
                ext = X509_EXTENSION_create_by_OBJ(NULL, obj, 0, os);
                OCSP_ONEREQ_add_ext(one, ext, -1);
                X509_EXTENSION_free(ext);
                OCSP_request_set1_name(req, X509_get_subject_name(ca));
            } else {
                CHECK(OCSP_request_sign(req, ca, ca_key, EVP_sha256(), NULL,
                                        0) == 1);
            }
            seeds[ns] = NULL;
            l = i2d_OCSP_REQUEST(req, &seeds[ns]);
            CHECK(l > 0);
            lens[ns++] = (size_t)l;
            OCSP_REQUEST_free(req);
        }
        ASN1_OCTET_STRING_free(os);
        ASN1_OBJECT_free(obj);
    }

    for (s = 0; s < ns; s++) {
        m = malloc(lens[s]);
        /* the seed itself, then every truncation, under every limit */
        for (k = 0; k < sizeof(lims) / sizeof(lims[0]); k++) {
            for (i = 0; i <= lens[s]; i++) {
                agreed += decoders_agree(seeds[s], i, &lims[k], &ok), runs++;
            }
        }
        for (i = 0; i < lens[s]; i++) {
            for (v = 0; v < sizeof(octets) + 8; v++) {
                memcpy(m, seeds[s], lens[s]);
                if (v < sizeof(octets)) {
                    m[i] = octets[v];
                } else {
                    m[i] ^= (unsigned char)(1u << (v - sizeof(octets)));
                }
                agreed += decoders_agree(m, lens[s], &lims[1], &accepted);
                runs++, mutations++;
            }
        }
        free(m);
    }
    CHECK(agreed == runs);
    /* the mutations reach both outcomes: not a test that cannot fail */
    CHECK(accepted > 0 && accepted < mutations);
    /* the shapes: plain ones accepted, the others by the schema */
    CHECK(ocsp_request_decode(seeds[0], lens[0], &lims[0], &r) ==
          OCSP_ST_SUCCESSFUL);
    CHECK(ocsp_request_decode(seeds[2], lens[2], &lims[1], &r) ==
              OCSP_ST_SUCCESSFUL &&
          r.nsingles == 3 && r.nonce_len == 16);
    CHECK_STR(r.singles[2].serial, "800001");
    CHECK(ocsp_request_decode(seeds[4], lens[4], &lims[0], &r) ==
          OCSP_ST_UNAUTHORIZED);
    CHECK(ocsp_request_decode(seeds[5], lens[5], &lims[0], &r) ==
              OCSP_ST_SUCCESSFUL &&
          r.nonce_len == 8);
    CHECK(ocsp_request_decode(seeds[6], lens[6], &lims[0], &r) ==
          OCSP_ST_MALFORMED);
    CHECK(ocsp_request_decode(seeds[7], lens[7], &lims[0], &r) ==
          OCSP_ST_SUCCESSFUL);
    CHECK(ocsp_request_decode(seeds[8], lens[8], &lims[0], &r) ==
          OCSP_ST_SUCCESSFUL);
    for (s = 0; s < ns; s++) {
        OPENSSL_free(seeds[s]);
    }
}

int main(void)
{
    setup();
    test_decode();
    test_extensions();
    test_strict_der();
    test_plain_agrees();
    X509_free(ca);
    EVP_PKEY_free(ca_key);
    CHECK_DONE();
}
