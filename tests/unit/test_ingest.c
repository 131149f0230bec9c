/* JSON ingest bodies (responder/ingest.c): accepted shapes, and every
 * refusal naming its field. */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "check.h"
#include "event.h"
#include "ingest.h"
#include "issuer.h"

static int parse(const char *s, struct ocsp_ingest_batch *b,
                 struct ocsp_ingest_error *e)
{
    return ocsp_ingest_parse_json(s, strlen(s), 1700000000, b, e);
}

static void refused(const char *s, const char *field)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error e;
    CHECK(parse(s, &b, &e) == -1);
    CHECK_STR(e.field, field);
    CHECK(e.reason[0] != '\0');
    CHECK(b.n == 0 && b.ev == NULL);
}

/* A P-256 key. */
static EVP_PKEY *key_new(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    CHECK(k != NULL);
    return k;
}

/* A certificate of SUBJECT and KEY, signed by CA_KEY under CA (NULL:
 * self-signed), serial SERIAL, valid 2023-11-14 .. +1 day. */
static X509 *cert_new(const char *subject, EVP_PKEY *key, X509 *ca,
                      EVP_PKEY *ca_key, long serial)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    CHECK(x != NULL && n != NULL);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)subject, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, ca != NULL ? X509_get_subject_name(ca) : n);
    ASN1_TIME_set(X509_getm_notBefore(x), 1700000000);
    ASN1_TIME_set(X509_getm_notAfter(x), 1700086400);
    X509_set_pubkey(x, key);
    CHECK(X509_sign(x, ca_key, EVP_sha256()) > 0);
    X509_NAME_free(n);
    return x;
}

/* X as PEM, with its newlines escaped for JSON, into BUF. */
static void pem_json(X509 *x, char *buf, size_t size)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;
    size_t o = 0;
    CHECK(PEM_write_bio_X509(b, x) == 1);
    n = BIO_get_mem_data(b, &p);
    for (long i = 0; i < n && o + 3 < size; i++) {
        if (p[i] == '\n') {
            buf[o++] = '\\';
            buf[o++] = 'n';
        } else
            buf[o++] = p[i];
    }
    buf[o] = '\0';
    BIO_free(b);
}

/* X's DER in base64 into BUF. */
static void b64_der(X509 *x, char *buf)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    CHECK(n > 0);
    EVP_EncodeBlock((unsigned char *)buf, der, n);
    OPENSSL_free(der);
}

/* A certificate in an issue: serial, validity and DER from the
 * certificate; the configured issuer's CA must have signed it. */
static void test_certificate(const ocsp_config_t *cf)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error e;
    static char body[16384], pem[8192], b64[8192];
    EVP_PKEY *ca_key = key_new(), *other_key = key_new(), *k = key_new();
    X509 *ca = cert_new("CA", ca_key, NULL, ca_key, 1);
    X509 *other = cert_new("Other CA", other_key, NULL, other_key, 1);
    X509 *leaf = cert_new("leaf", k, ca, ca_key, 0x1f2e);
    X509 *stray = cert_new("stray", k, other, other_key, 0x1f2e);
    ocsp_issuer_t iss = {0};
    ocsp_registry_t reg = {0};

    iss.conf = &cf->issuers[0];
    iss.cert = ca;
    reg.n = 1;
    reg.issuers = &iss;

    pem_json(leaf, pem, sizeof pem);
    snprintf(body, sizeof body,
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"certificate\":"
             "\"%s\"}",
             pem);
    CHECK(parse(body, &b, &e) == 0);
    CHECK_STR(b.ev[0]->serial, "1f2e");
    CHECK(b.ev[0]->issued->not_before == 1700000000);
    CHECK(b.ev[0]->issued->not_after == 1700086400);
    CHECK(b.ev[0]->issued->has_cert_der && b.ev[0]->issued->cert_der.len > 100);
    CHECK(ocsp_ingest_check(&reg, &b, &e) == 0);
    CHECK(!b.ev[0]->issued->has_shard); /* no CRL URL configured */
    ocsp_ingest_batch_free(&b);

    /* base64 DER, and a serial that agrees */
    b64_der(leaf, b64);
    snprintf(body, sizeof body,
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"serial\":\"1F2E\","
             "\"certificate\":\"%s\"}",
             b64);
    CHECK(parse(body, &b, &e) == 0);
    CHECK_STR(b.ev[0]->serial, "1f2e");
    ocsp_ingest_batch_free(&b);

    snprintf(body, sizeof body,
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"serial\":\"1F2F\","
             "\"certificate\":\"%s\"}",
             b64);
    refused(body, "events[0].serial");
    snprintf(body, sizeof body,
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"not_after\":1,"
             "\"certificate\":\"%s\"}",
             b64);
    refused(body, "events[0].not_after");
    snprintf(body, sizeof body,
             "{\"kind\":\"revoke\",\"issuer\":\"a-1\",\"serial\":\"1\","
             "\"certificate\":\"%s\"}",
             b64);
    refused(body, "events[0].certificate");
    refused("{\"kind\":\"issue\",\"issuer\":\"a-1\","
            "\"certificate\":\"bm90IGEgY2VydA==\"}",
            "events[0].certificate");
    refused("{\"kind\":\"issue\",\"issuer\":\"a-1\",\"certificate\":7}",
            "events[0].certificate");
    b64[strlen(b64) / 2] = '\0';
    snprintf(body, sizeof body,
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"certificate\":\"%s\"}",
             b64);
    refused(body, "events[0].certificate");

    /* another CA's certificate: parsed, refused against the issuer */
    pem_json(stray, pem, sizeof pem);
    snprintf(body, sizeof body,
             "[{\"kind\":\"hold\",\"issuer\":\"a-1\",\"serial\":\"2\"},"
             "{\"kind\":\"issue\",\"issuer\":\"a-1\",\"certificate\":"
             "\"%s\"}]",
             pem);
    CHECK(parse(body, &b, &e) == 0);
    CHECK(ocsp_ingest_check(&reg, &b, &e) == -1);
    CHECK_STR(e.field, "events[1].certificate");
    ocsp_ingest_batch_free(&b);

    /* a shard past the issuer's count (one shard) */
    CHECK(parse("{\"kind\":\"issue\",\"issuer\":\"a-1\",\"serial\":\"3\","
                "\"not_after\":1800000000,\"shard\":1}",
                &b, &e) == 0);
    CHECK(ocsp_ingest_check(&reg, &b, &e) == -1);
    CHECK_STR(e.field, "events[0].shard");
    ocsp_ingest_batch_free(&b);

    /* an issue by serial whose notAfter has passed (the CLI's rule) */
    refused("{\"kind\":\"issue\",\"issuer\":\"a-1\",\"serial\":\"3\","
            "\"not_after\":1600000000}",
            "events[0].not_after");

    /* an issuer not configured */
    CHECK(parse("{\"kind\":\"hold\",\"issuer\":\"ca-1\","
                "\"serial\":\"1\"}",
                &b, &e) == 0);
    CHECK(ocsp_ingest_check(&reg, &b, &e) == -1);
    CHECK_STR(e.field, "events[0].issuer");
    ocsp_ingest_batch_free(&b);

    X509_free(leaf);
    X509_free(stray);
    X509_free(ca);
    X509_free(other);
    EVP_PKEY_free(ca_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(k);
}

int main(void)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error e;

    CHECK(parse("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":"
                "\"0x00:0A:bc\",\"reason\":\"keyCompromise\",\"id\":\"e1\","
                "\"time\":1700000100,\"invalidity_date\":1699999000}",
                &b, &e) == 0);
    CHECK(b.n == 1 && !b.wait);
    CHECK_STR(b.ev[0]->serial, "abc");
    CHECK_STR(b.ev[0]->id, "e1");
    CHECK(b.ev[0]->kind_case == REVOCA__EVENT__KIND_REVOKED);
    CHECK(b.ev[0]->revoked->reason == REVOCA__REASON__KEY_COMPROMISE);
    CHECK(b.ev[0]->revoked->revocation_time == 1700000100);
    CHECK(b.ev[0]->revoked->has_invalidity_date);
    CHECK(b.ev[0]->origin == NULL);
    ocsp_ingest_batch_free(&b);

    CHECK(parse("{\"wait\":true,\"events\":[{\"kind\":\"issue\",\"issuer\":"
                "\"ca-1\",\"serial\":\"01\",\"not_after\":1800000000},"
                "{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"02\"},"
                "{\"kind\":\"release\",\"issuer\":\"ca-1\",\"serial\":\"2\"}]}",
                &b, &e) == 0);
    CHECK(b.n == 3 && b.wait);
    CHECK(b.ev[0]->issued->not_before == 1700000000);
    CHECK(strlen(b.ev[0]->id) == 32); /* generated */
    CHECK(b.ev[1]->kind_case == REVOCA__EVENT__KIND_HOLD);
    CHECK(b.ev[2]->kind_case == REVOCA__EVENT__KIND_RELEASE);
    ocsp_ingest_batch_free(&b);

    CHECK(parse("[{\"kind\":\"release\",\"issuer\":\"ca-1\",\"serial\":\"2\"}]",
                &b, &e) == 0);
    CHECK(b.n == 1);
    ocsp_ingest_batch_free(&b);

    refused("{", "");
    refused("[]", "events");
    refused("7", "");
    refused("[[[[[[[[[[1]]]]]]]]]]", "");
    refused("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":\"xyz\"}",
            "events[0].serial");
    refused("{\"kind\":\"revoke\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"reason\":\"certificateHold\"}",
            "events[0].reason");
    refused("{\"kind\":\"issue\",\"issuer\":\"ca-1\",\"serial\":\"1\"}",
            "events[0].not_after");
    refused("{\"kind\":\"zap\",\"issuer\":\"ca-1\",\"serial\":\"1\"}",
            "events[0].kind");
    refused("{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"origin\":{}}",
            "events[0].origin");
    refused("{\"kind\":\"hold\",\"issuer\":\"BAD NAME\",\"serial\":\"1\"}",
            "events[0]");
    refused("[{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\"},"
            "{\"kind\":\"hold\",\"issuer\":\"ca-1\",\"serial\":\"1\","
            "\"time\":-5}]",
            "events[1].time");
    /* protobuf: one packed Event, its origin dropped */
    {
        Revoca__Event ev = REVOCA__EVENT__INIT;
        Revoca__Issued is = REVOCA__ISSUED__INIT;
        Revoca__Origin og = REVOCA__ORIGIN__INIT;
        unsigned char buf[512], der[3] = {1, 2, 3};
        ev.id = "p1";
        ev.issuer = "a-1";
        ev.serial = "1f";
        ev.time = 1700000000;
        ev.kind_case = REVOCA__EVENT__KIND_ISSUED;
        ev.issued = &is;
        is.not_before = 1700000000;
        is.not_after = 1800000000;
        is.has_cert_der = 1;
        is.cert_der.data = der;
        is.cert_der.len = sizeof der;
        og.via = "cli";
        ev.origin = &og;
        size_t n = revoca__event__pack(&ev, buf);
        CHECK(ocsp_ingest_parse_pb(buf, n, &b, &e) == 0);
        CHECK(b.n == 1 && b.ev[0]->origin == NULL);
        CHECK_STR(b.ev[0]->serial, "1f");
        CHECK(b.ev[0]->issued->cert_der.len == 3 &&
              b.ev[0]->issued->cert_der.data[2] == 3);
        CHECK(ocsp_ingest_stamp(&b, "CN=ca-front sha256:ab") == 0);
        CHECK(ocsp_ingest_stamp(&b, "CN=ca-front sha256:cd") == 0);
        CHECK_STR(b.ev[0]->origin->via, "ingest");
        CHECK_STR(b.ev[0]->origin->principal, "CN=ca-front sha256:cd");
        CHECK(ocsp_event_check(b.ev[0]) == NULL);
        CHECK(ocsp_ingest_stamp(&b, "bad\nline") == -1);

        /* issuers: a-1 is configured, ca-1 is not */
        static char path[] = "/tmp/revoca-test-ingest-XXXXXX";
        int fd = mkstemp(path);
        FILE *f = fdopen(fd, "w");
        fputs("issuers = ( { name = \"a-1\"; cert = \"ca.pem\"; } );\n", f);
        fclose(f);
        ocsp_config_t cf;
        char cerr[OCSP_ERR_MAX];
        CHECK(ocsp_config_load(&cf, path, cerr) == 0);
        ocsp_ingest_batch_free(&b);
        test_certificate(&cf);
        ocsp_config_free(&cf);
        unlink(path);

        CHECK(ocsp_ingest_parse_pb(buf, n - 1, &b, &e) == -1);
        CHECK_STR(e.field, "events[0]");
        CHECK(b.n == 0 && b.ev == NULL);
    }
    CHECK_DONE();
}
