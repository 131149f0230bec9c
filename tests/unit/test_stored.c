/*
 * The stored form of pre-signed responses (stored.h): the value's envelope
 * read back as written and every malformed one refused; the responder
 * certificate put back into a response as der.c would have written it
 * whole, at every length boundary of the enclosing DER; and every stored
 * response that is not exactly what the signer writes refused.  The
 * signatures are not looked at here (tests/unit/test_response.c verifies
 * rebuilt responses with OpenSSL).
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "der.h"
#include "der_read.h"
#include "stored.h"

static const unsigned char oid_basic[] = {0x06, 0x09, 0x2b, 0x06, 0x01, 0x05,
                                          0x05, 0x07, 0x30, 0x01, 0x01};
static const unsigned char alg[] = {0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86,
                                    0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/* How a test response departs from what the signer writes. */
enum {
    PLAIN = 0,
    WITH_CERTS = 1,   /* certs present: the stored form has none */
    BY_NAME = 2,      /* ResponderID byName */
    NOT_SUCCESS = 4,  /* responseStatus tryLater */
    OTHER_OID = 8,    /* responseType not id-pkix-ocsp-basic */
    EXTRA_FIELD = 16, /* a field after responseBytes */
};

/*
 * A response of the signer's shape with KEY_ID as ResponderID byKey and a
 * signature of SIG_LEN bytes, departing as FLAGS says; CERT (CERT_LEN
 * bytes) in certs when FLAGS has WITH_CERTS or CERT is given.  Written with
 * der.c, the writer of whole responses.  *len; caller frees.
 */
static unsigned char *response(const unsigned char *key_id, size_t sig_len,
                               int flags, const unsigned char *cert,
                               size_t cert_len, size_t *len)
{
    der_buf_t b;
    size_t resp, bytes, rb, octets, basic, tbs, rid, list, certs, bits;
    unsigned char sig[600];
    unsigned char status = flags & NOT_SUCCESS ? 3 : 0;

    memset(sig, 0x5a, sizeof(sig));
    sig[0] = 0;
    CHECK(der_init(&b, 0) == 0);
    resp = der_begin(&b, DER_SEQUENCE);
    der_tlv(&b, DER_ENUMERATED, &status, 1);
    bytes = der_begin(&b, DER_CTX(0));
    rb = der_begin(&b, DER_SEQUENCE);
    if (flags & OTHER_OID) {
        unsigned char o[sizeof(oid_basic)];
        memcpy(o, oid_basic, sizeof(o));
        o[sizeof(o) - 1] = 2;
        der_raw(&b, o, sizeof(o));
    } else {
        der_raw(&b, oid_basic, sizeof(oid_basic));
    }
    octets = der_begin(&b, DER_OCTET_STRING);
    basic = der_begin(&b, DER_SEQUENCE);
    tbs = der_begin(&b, DER_SEQUENCE);
    if (flags & BY_NAME) {
        rid = der_begin(&b, DER_CTX(1));
        der_tlv(&b, DER_SEQUENCE, NULL, 0);
    } else {
        rid = der_begin(&b, DER_CTX(2));
        der_tlv(&b, DER_OCTET_STRING, key_id, 20);
    }
    der_end(&b, rid);
    der_gentime(&b, 1700000000);
    der_tlv(&b, DER_SEQUENCE, NULL, 0);
    der_end(&b, tbs);
    der_raw(&b, alg, sizeof(alg));
    bits = der_begin(&b, DER_BIT_STRING);
    der_raw(&b, sig, sig_len);
    der_end(&b, bits);
    if (cert != NULL) {
        certs = der_begin(&b, DER_CTX(0));
        list = der_begin(&b, DER_SEQUENCE);
        der_raw(&b, cert, cert_len);
        der_end(&b, list);
        der_end(&b, certs);
    }
    der_end(&b, basic);
    der_end(&b, octets);
    der_end(&b, rb);
    der_end(&b, bytes);
    if (flags & EXTRA_FIELD) {
        der_tlv(&b, DER_NULL, NULL, 0);
    }
    der_end(&b, resp);
    CHECK(!b.err);
    return der_take(&b, len);
}

/* A certificate stand-in: one SEQUENCE of CONTENT bytes of contents; its
 * whole size in *len. */
static unsigned char *fake_cert(size_t content, size_t *len)
{
    unsigned char hdr[8];
    size_t h = 1 + der_len_octets(content, hdr + 1), i;
    unsigned char *c = malloc(h + content);

    hdr[0] = DER_SEQUENCE;
    memcpy(c, hdr, h);
    for (i = h; i < h + content; i++) {
        c[i] = (unsigned char)i;
    }
    *len = h + content;
    return c;
}

static ocsp_issuer_t issuer(unsigned char *cert, size_t cert_len)
{
    ocsp_issuer_t iss;

    memset(&iss, 0, sizeof(iss));
    memset(iss.responder_key_id, 0x11, 20);
    iss.responder_der = cert;
    iss.responder_der_len = cert != NULL ? cert_len : 0;
    return iss;
}

static void test_envelope(void)
{
    ocsp_stored_t st, back;
    unsigned char a[] = {0x30, 0x03, 0x0a, 0x01, 0x00};
    unsigned char b[300], v[400], w[401];
    const char *why = NULL;
    size_t n, i;

    memset(b, 0x42, sizeof(b));
    memset(&st, 0, sizeof(st));
    st.status = OCSP_CERT_REVOKED;
    st.this_update = -5; /* any time the signer could write reads back */
    st.next_update = 4102444800LL;
    st.resp[OCSP_HASH_SHA1] = a;
    st.resp_len[OCSP_HASH_SHA1] = sizeof(a);
    st.resp[OCSP_HASH_SHA256] = b;
    st.resp_len[OCSP_HASH_SHA256] = sizeof(b);
    n = ocsp_stored_encode(&st, v, sizeof(v));
    CHECK(n == 18 + 2 + 5 + 2 + 300 && n == ocsp_stored_size(&st));
    /* the layout drawn in stored.h */
    CHECK(v[0] == 1 && v[1] == 1);
    CHECK(v[2] == 0xff && v[9] == 0xfb);
    CHECK(v[10] == 0 && v[14] == 0xf4 && v[15] == 0x86 && v[17] == 0);
    CHECK(v[18] == 0 && v[19] == 5 && v[25] == 1 && v[26] == 44);
    CHECK(ocsp_stored_decode(v, n, &back, &why) == 0);
    CHECK(back.status == OCSP_CERT_REVOKED && back.this_update == -5 &&
          back.next_update == 4102444800LL);
    CHECK(back.resp[0] == v + 20 && back.resp_len[0] == 5);
    CHECK(back.resp[1] == v + 27 && back.resp_len[1] == 300);

    /* every truncation, and a byte more, refused */
    for (i = 0; i < n; i++) {
        why = NULL;
        CHECK(ocsp_stored_decode(v, i, &back, &why) == -1 && why != NULL);
    }
    memcpy(w, v, n);
    w[n] = 0;
    CHECK(ocsp_stored_decode(w, n + 1, &back, &why) == -1);
    CHECK_STR(why, "bytes after the responses");

    /* a version this reader does not know is never guessed at */
    for (i = 0; i < 256; i++) {
        memcpy(w, v, n);
        w[0] = (unsigned char)i;
        CHECK((ocsp_stored_decode(w, n, &back, &why) == 0) == (i == 1));
    }
    CHECK_STR(why, "unknown format version");
    memcpy(w, v, n);
    w[1] = 3;
    CHECK(ocsp_stored_decode(w, n, &back, &why) == -1);
    CHECK_STR(why, "unknown certStatus");
    /* thisUpdate at or after nextUpdate */
    memcpy(w, v, n);
    memcpy(w + 2, v + 10, 8);
    CHECK(ocsp_stored_decode(w, n, &back, &why) == -1);
    CHECK_STR(why, "thisUpdate not before nextUpdate");
    /* an empty response */
    memcpy(w, v, n);
    w[19] = 0;
    CHECK(ocsp_stored_decode(w, n, &back, &why) == -1);

    /* the encoder refuses what it would not read back */
    CHECK(ocsp_stored_encode(&st, v, n - 1) == 0);
    st.status = (ocsp_cert_status_e)3;
    CHECK(ocsp_stored_encode(&st, v, sizeof(v)) == 0);
    st.status = OCSP_CERT_GOOD;
    st.this_update = st.next_update;
    CHECK(ocsp_stored_encode(&st, v, sizeof(v)) == 0);
}

/*
 * The responder certificate put back, for certificates and signatures
 * whose lengths cross every boundary of a DER length (127/128, 255/256)
 * at every enclosing level: the same bytes as der.c writing the response
 * whole, and DER that der_read_strict() accepts.
 */
static void test_full(void)
{
    static const size_t cert_lens[] = {40,  120, 125, 126, 127,  128,
                                       129, 130, 200, 255, 256,  257,
                                       258, 300, 480, 700, 1200, 70000};
    static const size_t sig_lens[] = {1, 40, 72, 73, 100, 200, 257, 513};
    unsigned char key_id[20];
    size_t c, g;

    memset(key_id, 0x11, 20);
    for (c = 0; c < sizeof(cert_lens) / sizeof(cert_lens[0]); c++) {
        size_t cert_len;
        unsigned char *cert = fake_cert(cert_lens[c], &cert_len);
        ocsp_issuer_t iss = issuer(cert, cert_len);
        for (g = 0; g < sizeof(sig_lens) / sizeof(sig_lens[0]); g++) {
            size_t bare_len, whole_len, n, cap;
            unsigned char *bare =
                response(key_id, sig_lens[g], PLAIN, NULL, 0, &bare_len);
            unsigned char *whole = response(key_id, sig_lens[g], PLAIN, cert,
                                            cert_len, &whole_len);
            unsigned char *out;
            const char *why = NULL;

            cap = OCSP_STORED_FULL_MAX(&iss, bare_len);
            out = malloc(cap);
            n = ocsp_stored_full(&iss, bare, bare_len, out, cap, &why);
            CHECK(n == whole_len && memcmp(out, whole, n) == 0);
            CHECK(der_read_strict(out, n) == 0);
            CHECK(n <= cap);
            /* exactly the room it needs */
            CHECK(ocsp_stored_full(&iss, bare, bare_len, out, n - 1, &why) ==
                  0);
            CHECK_STR(why, "no room");
            /* the response already whole is refused: certs twice */
            CHECK(ocsp_stored_full(&iss, whole, whole_len, out, cap, &why) ==
                  0);
            CHECK_STR(why, "certs in a stored response");
            free(out);
            free(bare);
            free(whole);
        }
        free(cert);
    }
}

static void test_ca_signs(void)
{
    unsigned char key_id[20], out[600];
    ocsp_issuer_t iss = issuer(NULL, 0);
    size_t len;
    unsigned char *bare;
    const char *why = NULL;

    memset(key_id, 0x11, 20);
    bare = response(key_id, 72, PLAIN, NULL, 0, &len);
    /* RFC 6960 4.2.2.2: the CA sends no certs; the bytes stay as signed */
    CHECK(ocsp_stored_full(&iss, bare, len, out, sizeof(out), &why) == len);
    CHECK(memcmp(out, bare, len) == 0);
    CHECK(ocsp_stored_full(&iss, bare, len, out, len - 1, &why) == 0);
    free(bare);
}

/* Every response that is not what the signer stores is refused. */
static void test_refused(void)
{
    static const struct {
        int flags;
        const char *why;
    } bad[] = {
        {WITH_CERTS, "certs in a stored response"},
        {BY_NAME, "ResponderID not byKey"},
        {NOT_SUCCESS, "not a successful OCSPResponse"},
        {OTHER_OID, "not a BasicOCSPResponse"},
        {EXTRA_FIELD, "not a successful OCSPResponse"},
    };
    unsigned char key_id[20], other[20], cert[64], out[1024];
    ocsp_issuer_t iss;
    unsigned char *p, *q;
    size_t len, i;
    const char *why;

    memset(key_id, 0x11, 20);
    memset(other, 0x12, 20);
    memset(cert, 0x30, sizeof(cert));
    cert[1] = sizeof(cert) - 2;
    iss = issuer(cert, sizeof(cert));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = response(key_id, 72, bad[i].flags,
                     bad[i].flags & WITH_CERTS ? cert : NULL, sizeof(cert),
                     &len);
        why = NULL;
        CHECK(ocsp_stored_full(&iss, p, len, out, sizeof(out), &why) == 0);
        CHECK(why != NULL && strcmp(why, bad[i].why) == 0);
        free(p);
    }

    /* signed by a responder key other than the configured one (a
     * responder replaced since): its certificate is not ours to add */
    p = response(other, 72, PLAIN, NULL, 0, &len);
    CHECK(ocsp_stored_full(&iss, p, len, out, sizeof(out), &why) == 0);
    CHECK_STR(why, "signed by another responder key than the configured one");
    free(p);

    p = response(key_id, 72, PLAIN, NULL, 0, &len);
    CHECK(ocsp_stored_full(&iss, p, len, out, sizeof(out), &why) > 0);
    /* every truncation, a byte more, and every single bit flipped in the
     * headers and the OID (the first 30 octets) refused */
    for (i = 0; i < len; i++) {
        CHECK(ocsp_stored_full(&iss, p, i, out, sizeof(out), &why) == 0);
    }
    q = malloc(len + 1);
    memcpy(q, p, len);
    q[len] = 0;
    CHECK(ocsp_stored_full(&iss, q, len + 1, out, sizeof(out), &why) == 0);
    for (i = 0; i < 30 * 8; i++) {
        memcpy(q, p, len);
        q[i / 8] ^= (unsigned char)(1u << (i % 8));
        CHECK(ocsp_stored_full(&iss, q, len, out, sizeof(out), &why) == 0);
    }
    /* a non-minimal length (X.690 10.1) on the outer SEQUENCE: two
     * octets where one is enough */
    CHECK(p[1] == 0x81);
    q = realloc(q, len + 1);
    q[0] = 0x30;
    q[1] = 0x82;
    q[2] = 0;
    memcpy(q + 3, p + 2, len - 2);
    CHECK(ocsp_stored_full(&iss, q, len + 1, out, sizeof(out), &why) == 0);
    free(q);
    free(p);
}

int main(void)
{
    test_envelope();
    test_full();
    test_ca_signs();
    test_refused();
    CHECK_DONE();
}
