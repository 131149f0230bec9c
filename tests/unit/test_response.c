/*
 * Responses signed through the path production uses: a PKI generated here
 * (ECDSA P-256 and RSA; CA-signed, CA named as its own responder, and
 * delegated), a config file naming it, ocsp_registry_load() with
 * OCSP_REGISTRY_KEYS, ocsp_response_sign(), and every answer checked by
 * OpenSSL's own OCSP code and on its bytes.  The private keys live in a
 * temporary directory removed at the end.
 */
#include <openssl/asn1.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdlib.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "issuer.h"
#include "response.h"
#include "stored.h"

static char dir[] = "/tmp/revoca-test-response-XXXXXX";

/* What a test knows about one configured issuer, independently of the
 * registry. */
typedef struct {
    const char *name;
    const char *kind; /* "ec" or "rsa" */
    int delegated;
} setup_t;

static const setup_t setups[] = {
    {"ec-ca", "ec", 0},   {"ec-self", "ec", 0},   {"ec-delegated", "ec", 1},
    {"rsa-ca", "rsa", 0}, {"rsa-self", "rsa", 0}, {"rsa-delegated", "rsa", 1},
};
#define NSETUPS (sizeof(setups) / sizeof(setups[0]))

static void add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
    X509V3_CTX ctx;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
    CHECK(ext != NULL && X509_add_ext(x, ext, -1) == 1);
    X509_EXTENSION_free(ext);
}

/* A CA (issuer NULL: self-signed) or an OCSP signer issued by ISSUER. */
static X509 *make_cert(const char *cn, long serial, EVP_PKEY *key, X509 *issuer,
                       EVP_PKEY *issuer_key)
{
    X509 *x = X509_new();

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
                               (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(issuer ? issuer : x));
    if (issuer == NULL) {
        add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE");
        add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign");
        add_ext(x, x, NID_subject_key_identifier, "hash");
    } else {
        /* RFC 6960 4.2.2.2 and 4.2.2.2.1 */
        add_ext(x, issuer, NID_basic_constraints, "critical,CA:FALSE");
        add_ext(x, issuer, NID_key_usage, "critical,digitalSignature");
        add_ext(x, issuer, NID_ext_key_usage, "OCSPSigning");
        add_ext(x, issuer, NID_id_pkix_OCSP_noCheck, "ignored");
    }
    CHECK(X509_sign(x, issuer_key ? issuer_key : key, EVP_sha256()) > 0);
    return x;
}

static void write_pem(const char *file, X509 *x, EVP_PKEY *k)
{
    char path[256];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    CHECK(x != NULL
              ? PEM_write_X509(f, x) == 1
              : PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL) == 1);
    fclose(f);
}

static void remove_file(const char *file)
{
    char path[256];

    snprintf(path, sizeof(path), "%s/%s", dir, file);
    unlink(path);
}

static X509 *ca[2], *responder[2];
static EVP_PKEY *ca_key[2], *responder_key[2];
static const char *kinds[2] = {"ec", "rsa"};

static int kind_index(const char *kind)
{
    return strcmp(kind, "ec") == 0 ? 0 : 1;
}

/* The PKI and a config file naming it; returns the config's path. */
static void make_pki(char *conf, size_t conf_size)
{
    char file[64];
    FILE *f;
    int k;

    CHECK(mkdtemp(dir) != NULL);
    for (k = 0; k < 2; k++) {
        if (k == 0) {
            ca_key[k] = EVP_EC_gen("P-256");
            responder_key[k] = EVP_EC_gen("P-256");
        } else {
            ca_key[k] = EVP_RSA_gen(2048);
            responder_key[k] = EVP_RSA_gen(2048);
        }
        CHECK(ca_key[k] != NULL && responder_key[k] != NULL);
        ca[k] = make_cert("Test CA", 1, ca_key[k], NULL, NULL);
        responder[k] =
            make_cert("Test responder", 2, responder_key[k], ca[k], ca_key[k]);
        snprintf(file, sizeof(file), "ca-%s.pem", kinds[k]);
        write_pem(file, ca[k], NULL);
        snprintf(file, sizeof(file), "ca-%s.key", kinds[k]);
        write_pem(file, NULL, ca_key[k]);
        snprintf(file, sizeof(file), "responder-%s.pem", kinds[k]);
        write_pem(file, responder[k], NULL);
        snprintf(file, sizeof(file), "responder-%s.key", kinds[k]);
        write_pem(file, NULL, responder_key[k]);
    }
    snprintf(conf, conf_size, "%s/revoca.conf", dir);
    f = fopen(conf, "w");
    CHECK(f != NULL);
    if (f == NULL) {
        return;
    }
    fputs("issuers = (\n", f);
    for (k = 0; k < 2; k++) {
        const char *t = kinds[k];
        /* the CA signs for itself: only its key given */
        fprintf(f,
                "  { name = \"%s-ca\"; cert = \"ca-%s.pem\";"
                " key = \"ca-%s.key\"; },\n",
                t, t, t);
        /* the CA named as its own responder */
        fprintf(f,
                "  { name = \"%s-self\"; cert = \"ca-%s.pem\";"
                " responder_cert = \"ca-%s.pem\";"
                " responder_key = \"ca-%s.key\"; },\n",
                t, t, t, t);
        fprintf(f,
                "  { name = \"%s-delegated\"; cert = \"ca-%s.pem\";"
                " key = \"ca-%s.key\"; responder_cert = \"responder-%s.pem\";"
                " responder_key = \"responder-%s.key\"; }%s\n",
                t, t, t, t, t, k == 0 ? "," : "");
    }
    fputs(");\n", f);
    fclose(f);
}

static void remove_pki(const char *conf)
{
    int k;
    char file[64];

    for (k = 0; k < 2; k++) {
        snprintf(file, sizeof(file), "ca-%s.pem", kinds[k]);
        remove_file(file);
        snprintf(file, sizeof(file), "ca-%s.key", kinds[k]);
        remove_file(file);
        snprintf(file, sizeof(file), "responder-%s.pem", kinds[k]);
        remove_file(file);
        snprintf(file, sizeof(file), "responder-%s.key", kinds[k]);
        remove_file(file);
        X509_free(ca[k]);
        X509_free(responder[k]);
        EVP_PKEY_free(ca_key[k]);
        EVP_PKEY_free(responder_key[k]);
    }
    unlink(conf);
    rmdir(dir);
}

static unsigned char *cert_der(X509 *x, size_t *len)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);

    CHECK(n > 0);
    *len = n > 0 ? (size_t)n : 0;
    return der;
}

static size_t count_occurrences(const unsigned char *hay, size_t hay_len,
                                const unsigned char *needle, size_t len)
{
    size_t i, n = 0;

    for (i = 0; len <= hay_len && i <= hay_len - len; i++) {
        n += memcmp(hay + i, needle, len) == 0;
    }
    return n;
}

/*
 * The elements of the BasicOCSPResponse inside DER, read with OpenSSL's
 * own TLV reader: tags[] of each, and the offset and length of the last.
 */
static int basic_elements(const unsigned char *der, size_t len, int *tags,
                          int max, const unsigned char **last, size_t *last_len)
{
    const unsigned char *p = der, *end, *elt;
    long l = 0;
    int tag, cls, n = 0, i;

    /* OCSPResponse, status, [0], ResponseBytes, OID, OCTET STRING, Basic */
    static const int path[] = {
        V_ASN1_SEQUENCE, V_ASN1_ENUMERATED, 0,
        V_ASN1_SEQUENCE, V_ASN1_OBJECT,     V_ASN1_OCTET_STRING,
        V_ASN1_SEQUENCE};
    for (i = 0; i < (int)(sizeof(path) / sizeof(path[0])); i++) {
        if (ASN1_get_object(&p, &l, &tag, &cls, (long)(der + len - p)) & 0x80) {
            return -1;
        }
        if (tag != path[i]) {
            return -1;
        }
        if (i == 1 || i == 4) {
            p += l; /* skip the value, step to its sibling */
        }
    }
    end = p + l;
    while (p < end && n < max) {
        elt = p;
        if (ASN1_get_object(&p, &l, &tag, &cls, (long)(end - p)) & 0x80) {
            return -1;
        }
        tags[n++] = cls == V_ASN1_CONTEXT_SPECIFIC ? 0xa0 | tag : tag;
        *last = elt;
        p += l;
        *last_len = (size_t)(p - elt);
    }
    return p == end ? n : -1;
}

/* RFC 6960 4.2.2.3: ResponderID byKey is the SHA-1 of the key bits. */
static void check_responder_id(OCSP_BASICRESP *bs, X509 *signer)
{
    const ASN1_OCTET_STRING *id = NULL;
    const X509_NAME *name = NULL;
    const ASN1_BIT_STRING *bits = X509_get0_pubkey_bitstr(signer);
    unsigned char want[20];
    unsigned mdlen;

    CHECK(OCSP_resp_get0_id(bs, &id, &name) == 1);
    CHECK(id != NULL && name == NULL);
    CHECK(EVP_Digest(bits->data, (size_t)bits->length, want, &mdlen, EVP_sha1(),
                     NULL) == 1);
    CHECK(id != NULL && id->length == 20 && memcmp(id->data, want, 20) == 0);
}

/*
 * Checks the LEN bytes at DER, a response for an issuer set up as T:
 * canonical DER, OCSP_basic_verify against the CA alone, the signer named
 * byKey, and certs carrying the delegate's certificate exactly when there
 * is one.  Returns the parsed BasicOCSPResponse (caller frees) or NULL.
 */
static OCSP_BASICRESP *verify_der(const setup_t *t, const unsigned char *der,
                                  size_t len)
{
    int k = kind_index(t->kind);
    X509 *signer = t->delegated ? responder[k] : ca[k];
    unsigned char *re = NULL, *ca_der, *resp_der;
    const unsigned char *p, *last = NULL;
    size_t ca_len, resp_len, last_len = 0;
    OCSP_RESPONSE *resp = NULL;
    OCSP_BASICRESP *bs = NULL;
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *untrusted = sk_X509_new_null();
    int tags[8], n, rl;

    p = der;
    resp = d2i_OCSP_RESPONSE(NULL, &p, (long)len);
    CHECK(resp != NULL && p == der + len);
    if (resp == NULL) {
        goto done;
    }
    /* Re-encoding gives the same bytes: our DER is canonical. */
    rl = i2d_OCSP_RESPONSE(resp, &re);
    CHECK(rl == (int)len && memcmp(re, der, len) == 0);
    OPENSSL_free(re);
    CHECK(OCSP_response_status(resp) == OCSP_RESPONSE_STATUS_SUCCESSFUL);
    bs = OCSP_response_get1_basic(resp);
    CHECK(bs != NULL);
    if (bs == NULL) {
        goto done;
    }
    CHECK(OBJ_obj2nid(OCSP_resp_get0_tbs_sigalg(bs)->algorithm) ==
          (k == 0 ? NID_ecdsa_with_SHA256 : NID_sha256WithRSAEncryption));
    check_responder_id(bs, signer);

    /* On the bytes: tbsResponseData, signatureAlgorithm, signature, and
     * certs [0] with the delegate's certificate only for a delegate. */
    ca_der = cert_der(ca[k], &ca_len);
    resp_der = cert_der(responder[k], &resp_len);
    n = basic_elements(der, len, tags, 8, &last, &last_len);
    if (t->delegated) {
        CHECK(n == 4 && tags[0] == V_ASN1_SEQUENCE &&
              tags[1] == V_ASN1_SEQUENCE && tags[2] == V_ASN1_BIT_STRING &&
              tags[3] == 0xa0);
        CHECK(count_occurrences(der, len, resp_der, resp_len) == 1);
        /* [0] { SEQUENCE { the certificate } }: two 4-octet headers for
         * lengths of 256..65535 */
        CHECK(last_len == resp_len + 8 &&
              memcmp(last + 8, resp_der, resp_len) == 0);
        CHECK(sk_X509_num(OCSP_resp_get0_certs(bs)) == 1);
    } else {
        CHECK(n == 3 && tags[0] == V_ASN1_SEQUENCE &&
              tags[1] == V_ASN1_SEQUENCE && tags[2] == V_ASN1_BIT_STRING);
        CHECK(count_occurrences(der, len, ca_der, ca_len) == 0);
        CHECK(sk_X509_num(OCSP_resp_get0_certs(bs)) <= 0); /* NULL: none */
        /* the client brings the CA certificate it already holds */
        sk_X509_push(untrusted, ca[k]);
    }
    OPENSSL_free(ca_der);
    OPENSSL_free(resp_der);

    /* RFC 6960 4.2.2.2: signed by the CA, or by a delegate the CA issued
     * for OCSP signing; only the CA is trusted. */
    X509_STORE_add_cert(store, ca[k]);
    if (OCSP_basic_verify(bs, untrusted, store, 0) != 1) {
        fprintf(stderr, "%s: OCSP_basic_verify failed\n", t->name);
        ERR_print_errors_fp(stderr);
        CHECK(0);
    }
    ERR_clear_error();

done:
    OCSP_RESPONSE_free(resp);
    sk_X509_free(untrusted);
    X509_STORE_free(store);
    return bs;
}

/* Signs S for ISS (set up as T), checked by verify_der(). */
static OCSP_BASICRESP *sign_and_verify(const ocsp_issuer_t *iss,
                                       const setup_t *t, const ocsp_single_t *s)
{
    unsigned char *der = NULL;
    size_t len = 0;
    OCSP_BASICRESP *bs;

    if (ocsp_response_sign(iss, s, &der, &len) != 0) {
        fprintf(stderr, "%s: ocsp_response_sign failed\n", t->name);
        ERR_print_errors_fp(stderr);
        CHECK(0);
        return NULL;
    }
    bs = verify_der(t, der, len);
    free(der);
    return bs;
}

/*
 * The stored form (stored.h): S signed by ISS without certs for both
 * CertID hashes, made into a value, read back and rebuilt by READER (the
 * same issuer loaded as the nginx module loads it, without keys), then the
 * response for S's hash checked as sign_and_verify() checks a response
 * signed whole.  For RSA (PKCS#1 v1.5 signatures are deterministic) both
 * rebuilt responses are byte for byte the ones signed with certs.
 */
static OCSP_BASICRESP *store_and_verify(const ocsp_issuer_t *iss,
                                        const ocsp_issuer_t *reader,
                                        const setup_t *t,
                                        const ocsp_single_t *s)
{
    ocsp_single_t bare = *s, whole_s = *s;
    unsigned char *der[OCSP_HASH_COUNT] = {NULL, NULL};
    size_t der_len[OCSP_HASH_COUNT];
    unsigned char *value = NULL, *full = NULL, *whole = NULL;
    const unsigned char *last;
    size_t value_len = 0, full_len, whole_len, last_len;
    ocsp_stored_t back;
    OCSP_BASICRESP *bs = NULL;
    const char *why = NULL;
    int tags[8], h;

    bare.no_certs = 1;
    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        bare.hash = (ocsp_hash_e)h;
        CHECK(ocsp_response_sign(iss, &bare, &der[h], &der_len[h]) == 0);
        if (der[h] == NULL) {
            goto done;
        }
        /* signed without certs: tbsResponseData, algorithm, signature */
        CHECK(basic_elements(der[h], der_len[h], tags, 8, &last, &last_len) ==
              3);
    }
    if (ocsp_stored_make(iss, s->status, s->this_update, s->next_update, der,
                         der_len, &value, &value_len, &why) != 0) {
        fprintf(stderr, "%s: ocsp_stored_make: %s\n", t->name, why);
        CHECK(0);
        goto done;
    }
    /* the SHA-1 response whole, of the SHA-256 one its signature only */
    CHECK(value_len < der_len[0] + der_len[1] - 100);
    CHECK(ocsp_stored_decode(value, value_len, &back, &why) == 0);
    CHECK(back.status == s->status && back.this_update == s->this_update &&
          back.next_update == s->next_update);
    CHECK(back.resp_len == der_len[OCSP_HASH_SHA1] &&
          memcmp(back.resp, der[OCSP_HASH_SHA1], back.resp_len) == 0);

    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        if (ocsp_stored_full(reader, &back, (ocsp_hash_e)h, &full, &full_len,
                             &why) != 0) {
            fprintf(stderr, "%s: ocsp_stored_full: %s\n", t->name, why);
            CHECK(0);
            goto done;
        }
        if (!t->delegated) {
            /* the CA signs: nothing put back */
            CHECK(full_len == der_len[h] &&
                  memcmp(full, der[h], full_len) == 0);
        }
        if (strcmp(t->kind, "rsa") == 0) {
            whole_s.hash = (ocsp_hash_e)h;
            CHECK(ocsp_response_sign(iss, &whole_s, &whole, &whole_len) == 0);
            CHECK(whole_len == full_len && memcmp(whole, full, full_len) == 0);
            free(whole);
            whole = NULL;
        }
        if (h == (int)s->hash) {
            bs = verify_der(t, full, full_len);
        }
        free(full);
        full = NULL;
    }

done:
    free(der[0]);
    free(der[1]);
    free(value);
    return bs;
}

static void check_status(OCSP_BASICRESP *bs, const setup_t *t, const EVP_MD *md,
                         const char *serial, int want_status, int want_reason)
{
    int k = kind_index(t->kind);
    BIGNUM *bn = NULL;
    ASN1_INTEGER *ai;
    OCSP_CERTID *id;
    ASN1_GENERALIZEDTIME *rev = NULL, *thisu = NULL, *nextu = NULL;
    int status = -1, reason = -1; /* set only when revoked */

    if (bs == NULL) {
        return;
    }
    CHECK(BN_hex2bn(&bn, serial) > 0);
    ai = BN_to_ASN1_INTEGER(bn, NULL);
    BN_free(bn);
    id = OCSP_cert_id_new(md, X509_get_subject_name(ca[k]),
                          X509_get0_pubkey_bitstr(ca[k]), ai);
    CHECK(OCSP_resp_find_status(bs, id, &status, &reason, &rev, &thisu,
                                &nextu) == 1);
    CHECK(status == want_status);
    CHECK(reason == want_reason);
    CHECK(thisu != NULL && nextu != NULL);
    OCSP_CERTID_free(id);
    ASN1_INTEGER_free(ai);
}

static void test_issuer(const ocsp_issuer_t *iss, const ocsp_issuer_t *reader,
                        const setup_t *t)
{
    ocsp_single_t s;
    OCSP_BASICRESP *bs;
    const unsigned char nonce[] = "0123456789abcdef";

    /* the registry's view: certs only for a delegate; loaded without keys
     * (the nginx module without request-path signing), the same
     * responder, certificate and key id, and nothing to sign with */
    CHECK((iss->responder_der != NULL) == t->delegated);
    CHECK(iss->key != NULL);
    CHECK(reader->key == NULL);
    CHECK(reader->responder_der_len == iss->responder_der_len &&
          (iss->responder_der == NULL ||
           memcmp(reader->responder_der, iss->responder_der,
                  iss->responder_der_len) == 0));
    CHECK(memcmp(reader->responder_key_id, iss->responder_key_id, 20) == 0);

    memset(&s, 0, sizeof(s));
    s.hash = OCSP_HASH_SHA1;
    s.serial = "80aa";
    s.status = OCSP_CERT_GOOD;
    s.reason = OCSP_REASON_NONE;
    s.produced_at = 1700000000;
    s.this_update = 1700000000 - 3600;
    s.next_update = s.this_update + 86400;
    bs = sign_and_verify(iss, t, &s);
    check_status(bs, t, EVP_sha1(), "80aa", V_OCSP_CERTSTATUS_GOOD, -1);
    OCSP_BASICRESP_free(bs);
    bs = store_and_verify(iss, reader, t, &s);
    check_status(bs, t, EVP_sha1(), "80aa", V_OCSP_CERTSTATUS_GOOD, -1);
    OCSP_BASICRESP_free(bs);

    s.hash = OCSP_HASH_SHA256;
    s.status = OCSP_CERT_REVOKED;
    s.revocation_time = 1690000000;
    s.reason = 1;
    s.nonce = nonce;
    s.nonce_len = 16;
    bs = sign_and_verify(iss, t, &s);
    check_status(bs, t, EVP_sha256(), "80aa", V_OCSP_CERTSTATUS_REVOKED, 1);
    if (bs != NULL) {
        /* The nonce is echoed as RFC 9654 asks. */
        OCSP_REQUEST *req = OCSP_REQUEST_new();
        OCSP_request_add1_nonce(req, (unsigned char *)nonce, 16);
        CHECK(OCSP_check_nonce(req, bs) == 1);
        OCSP_REQUEST_free(req);
    }
    OCSP_BASICRESP_free(bs);

    s.status = OCSP_CERT_UNKNOWN;
    s.nonce = NULL;
    s.reason = OCSP_REASON_NONE;
    bs = sign_and_verify(iss, t, &s);
    check_status(bs, t, EVP_sha256(), "80aa", V_OCSP_CERTSTATUS_UNKNOWN, -1);
    OCSP_BASICRESP_free(bs);

    /* stored: revoked with a reason, a 20-octet serial, SHA-256 CertID */
    s.status = OCSP_CERT_REVOKED;
    s.reason = 1;
    s.serial = "7fffffffffffffffffffffffffffffffffffffff";
    bs = store_and_verify(iss, reader, t, &s);
    check_status(bs, t, EVP_sha256(),
                 "7fffffffffffffffffffffffffffffffffffffff",
                 V_OCSP_CERTSTATUS_REVOKED, 1);
    OCSP_BASICRESP_free(bs);
}

static void test_errors(void)
{
    size_t len;
    const unsigned char *e;

    /* Errors are unsigned, status only (RFC 6960 4.2.1). */
    e = ocsp_response_error(OCSP_ST_TRY_LATER, &len);
    CHECK(len == 5 && e[4] == 3);
    e = ocsp_response_error(OCSP_ST_UNAUTHORIZED, &len);
    CHECK(len == 5 && e[4] == 6);
    e = ocsp_response_error((ocsp_resp_status_e)4, &len);
    CHECK(e[4] == 2); /* 4 is unused: internalError */
}

int main(void)
{
    char conf[300];
    char err[OCSP_ERR_MAX];
    ocsp_config_t cf;
    ocsp_registry_t reg, reader;
    size_t i;

    make_pki(conf, sizeof(conf));
    if (ocsp_config_load(&cf, conf, err) != 0) {
        fprintf(stderr, "ocsp_config_load: %s\n", err);
        CHECK(0);
        CHECK_DONE(); /* nothing to sign with */
    }
    if (ocsp_registry_load(&reg, &cf, OCSP_REGISTRY_KEYS) != 0 ||
        ocsp_registry_load(&reader, &cf, 0) != 0) {
        fprintf(stderr, "ocsp_registry_load: %s %s\n", reg.err, reader.err);
        CHECK(0);
    } else {
        CHECK(reg.n == NSETUPS);
        for (i = 0; i < NSETUPS; i++) {
            const ocsp_issuer_t *iss =
                ocsp_registry_by_name(&reg, setups[i].name);
            const ocsp_issuer_t *r =
                ocsp_registry_by_name(&reader, setups[i].name);
            CHECK(iss != NULL && r != NULL);
            if (iss != NULL && r != NULL) {
                test_issuer(iss, r, &setups[i]);
            }
        }
        ocsp_registry_free(&reg);
        ocsp_registry_free(&reader);
    }

    /* Loaded without OCSP_REGISTRY_KEYS, an issuer cannot sign. */
    if (ocsp_registry_load(&reg, &cf, 0) == 0) {
        ocsp_single_t s;
        unsigned char *der = NULL;
        size_t len = 0;

        memset(&s, 0, sizeof(s));
        s.serial = "01";
        s.reason = OCSP_REASON_NONE;
        CHECK(ocsp_response_sign(&reg.issuers[0], &s, &der, &len) == -1);
        CHECK(der == NULL);
        ocsp_registry_free(&reg);
    } else {
        CHECK(0);
    }
    ocsp_config_free(&cf);
    remove_pki(conf);
    test_errors();
    CHECK_DONE();
}
