/*
 * The stored form of pre-signed responses (stored.h): the value's envelope
 * read back as written and every malformed one refused; both responses
 * rebuilt, with the responder certificate, as der.c writes them whole, at
 * every length boundary of the enclosing DER; and every stored response
 * that is not exactly what the signer writes refused.  The signatures are
 * not looked at here (tests/unit/test_response.c verifies rebuilt
 * responses with OpenSSL).
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
    BY_NAME = 2,      /* ResponderID byName */
    NOT_SUCCESS = 4,  /* responseStatus tryLater */
    OTHER_OID = 8,    /* responseType not id-pkix-ocsp-basic */
    EXTRA_FIELD = 16, /* a field after responseBytes */
    OTHER_TIME = 32,  /* another producedAt */
    TWO_SINGLES = 64, /* two SingleResponses */
    OTHER_KEY = 128,  /* signed by another responder key */
};

/* The issuer the responses are for: made-up hashes, no crypto here. */
static ocsp_issuer_t issuer(unsigned char *cert, size_t cert_len)
{
    ocsp_issuer_t iss;

    memset(&iss, 0, sizeof(iss));
    memset(iss.responder_key_id, 0x11, 20);
    memset(iss.name_hash[OCSP_HASH_SHA1], 0x21, 20);
    memset(iss.key_hash[OCSP_HASH_SHA1], 0x22, 20);
    memset(iss.name_hash[OCSP_HASH_SHA256], 0x31, 32);
    memset(iss.key_hash[OCSP_HASH_SHA256], 0x32, 32);
    iss.responder_der = cert;
    iss.responder_der_len = cert != NULL ? cert_len : 0;
    return iss;
}

/*
 * A response of the signer's shape for ISS's HASH CertID with a signature
 * of SIG_LEN bytes (SIG_BYTE), departing as FLAGS says; with CERT
 * (CERT_LEN bytes) in certs when CERT is given.  Written with der.c, the
 * writer of whole responses.  *len; caller frees.
 */
static unsigned char *response(const ocsp_issuer_t *iss, ocsp_hash_e hash,
                               size_t sig_len, unsigned char sig_byte,
                               int flags, const unsigned char *cert,
                               size_t cert_len, size_t *len)
{
    der_buf_t b;
    size_t resp, bytes, rb, octets, basic, tbs, rid, list, certs, bits, i;
    size_t single, certid, nu, alg_len, hl = ocsp_hash_len(hash);
    const unsigned char *calg = ocsp_certid_alg(hash, &alg_len);
    unsigned char sig[600], key_id[20];
    unsigned char status = flags & NOT_SUCCESS ? 3 : 0;
    const unsigned char serial[] = {0x7f, 0x01, 0x02};

    memset(sig, sig_byte, sizeof(sig));
    sig[0] = 0;
    memcpy(key_id, iss->responder_key_id, 20);
    key_id[0] ^= flags & OTHER_KEY ? 1 : 0;
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
    der_gentime(&b, flags & OTHER_TIME ? 1700000001 : 1700000000);
    list = der_begin(&b, DER_SEQUENCE);
    for (i = 0; i < (flags & TWO_SINGLES ? 2u : 1u); i++) {
        single = der_begin(&b, DER_SEQUENCE);
        certid = der_begin(&b, DER_SEQUENCE);
        der_raw(&b, calg, alg_len);
        der_tlv(&b, DER_OCTET_STRING, iss->name_hash[hash], hl);
        der_tlv(&b, DER_OCTET_STRING, iss->key_hash[hash], hl);
        der_tlv(&b, DER_INTEGER, serial, sizeof(serial));
        der_end(&b, certid);
        der_tlv(&b, DER_CTX_PRIM(0), NULL, 0); /* good */
        der_gentime(&b, 1699996400);
        nu = der_begin(&b, DER_CTX(0));
        der_gentime(&b, 1700082800);
        der_end(&b, nu);
        der_end(&b, single);
    }
    der_end(&b, list);
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

/* A value made of the SHA-1 response R (LEN bytes) and SIG, unchecked. */
static unsigned char *value_of(const unsigned char *r, size_t len,
                               const unsigned char *sig, size_t sig_len,
                               size_t *n)
{
    ocsp_stored_t st;
    unsigned char *v;

    memset(&st, 0, sizeof(st));
    st.this_update = 1;
    st.next_update = 2;
    st.resp = r;
    st.resp_len = len;
    st.sig = sig;
    st.sig_len = sig_len;
    *n = ocsp_stored_size(&st);
    v = malloc(*n);
    CHECK(ocsp_stored_encode(&st, v, *n) == *n);
    return v;
}

static void test_envelope(void)
{
    ocsp_stored_t st, back;
    unsigned char a[300], sig[] = {0x03, 0x02, 0x00, 0x07};
    unsigned char v[400], w[401];
    const char *why = NULL;
    size_t n, i;

    memset(a, 0x42, sizeof(a));
    memset(&st, 0, sizeof(st));
    st.status = OCSP_CERT_REVOKED;
    st.this_update = -5; /* any time the signer could write reads back */
    st.next_update = 4102444800LL;
    st.resp = a;
    st.resp_len = sizeof(a);
    st.sig = sig;
    st.sig_len = sizeof(sig);
    n = ocsp_stored_encode(&st, v, sizeof(v));
    CHECK(n == 18 + 2 + 300 + 4 && n == ocsp_stored_size(&st));
    /* the layout drawn in stored.h */
    CHECK(v[0] == 1 && v[1] == 1);
    CHECK(v[2] == 0xff && v[9] == 0xfb);
    CHECK(v[10] == 0 && v[14] == 0xf4 && v[15] == 0x86 && v[17] == 0);
    CHECK(v[18] == 1 && v[19] == 44 && v[20] == 0x42 && v[320] == 0x03);
    CHECK(ocsp_stored_decode(v, n, &back, &why) == 0);
    CHECK(back.status == OCSP_CERT_REVOKED && back.this_update == -5 &&
          back.next_update == 4102444800LL);
    CHECK(back.resp == v + 20 && back.resp_len == 300);
    CHECK(back.sig == v + 320 && back.sig_len == 4);

    /* cut within the header or the response, or with no signature left */
    for (i = 0; i <= 320; i++) {
        why = NULL;
        CHECK(ocsp_stored_decode(v, i, &back, &why) == -1 && why != NULL);
    }

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
    w[18] = w[19] = 0;
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
 * Both responses made into a value and rebuilt, with the responder
 * certificate, for certificates and signatures whose lengths cross every
 * boundary of a DER length (127/128, 255/256) at every enclosing level:
 * the same bytes as der.c writing each response whole, and DER that
 * der_read_strict() accepts.
 */
static void test_make_full(void)
{
    static const size_t cert_lens[] = {40,  120, 125, 126, 127,  128,
                                       129, 130, 200, 255, 256,  257,
                                       258, 300, 480, 700, 1200, 70000};
    static const size_t sig_lens[] = {1, 40, 72, 73, 100, 200, 257, 513};
    size_t c, g;
    int h;

    for (c = 0; c < sizeof(cert_lens) / sizeof(cert_lens[0]); c++) {
        size_t cert_len;
        unsigned char *cert = fake_cert(cert_lens[c], &cert_len);
        ocsp_issuer_t iss = issuer(cert, cert_len);
        for (g = 0; g < sizeof(sig_lens) / sizeof(sig_lens[0]); g++) {
            unsigned char *bare[OCSP_HASH_COUNT], *value, *out;
            size_t bare_len[OCSP_HASH_COUNT], value_len, n;
            ocsp_stored_t st;
            const char *why = NULL;

            /* signatures of other lengths and bytes for each hash */
            for (h = 0; h < OCSP_HASH_COUNT; h++) {
                bare[h] = response(&iss, (ocsp_hash_e)h, sig_lens[g] + h,
                                   (unsigned char)(0x5a + h), PLAIN, NULL, 0,
                                   &bare_len[h]);
            }
            CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 10, 20, bare, bare_len,
                                   &value, &value_len, &why) == 0);
            CHECK(value_len == 18 + 2 + bare_len[0] + sig_lens[g] + 1 +
                                   (sig_lens[g] + 1 < 128   ? 2
                                    : sig_lens[g] + 1 < 256 ? 3
                                                            : 4));
            CHECK(ocsp_stored_decode(value, value_len, &st, &why) == 0);
            for (h = 0; h < OCSP_HASH_COUNT; h++) {
                size_t whole_len;
                unsigned char *whole =
                    response(&iss, (ocsp_hash_e)h, sig_lens[g] + h,
                             (unsigned char)(0x5a + h), PLAIN, cert, cert_len,
                             &whole_len);
                CHECK(ocsp_stored_full(&iss, &st, (ocsp_hash_e)h, &out, &n,
                                       &why) == 0);
                CHECK(n == whole_len && memcmp(out, whole, n) == 0);
                CHECK(der_read_strict(out, n) == 0);
                free(out);
                free(whole);
            }
            free(value);
            free(bare[0]);
            free(bare[1]);
        }
        free(cert);
    }
}

static void test_ca_signs(void)
{
    ocsp_issuer_t iss = issuer(NULL, 0);
    unsigned char *bare[OCSP_HASH_COUNT], *value, *out;
    size_t len[OCSP_HASH_COUNT], value_len, n;
    ocsp_stored_t st;
    const char *why = NULL;
    int h;

    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        bare[h] =
            response(&iss, (ocsp_hash_e)h, 72, 0x5a, PLAIN, NULL, 0, &len[h]);
    }
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_REVOKED, 10, 20, bare, len, &value,
                           &value_len, &why) == 0);
    CHECK(ocsp_stored_decode(value, value_len, &st, &why) == 0);
    /* RFC 6960 4.2.2.2: the CA sends no certs; the bytes are as signed */
    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        CHECK(ocsp_stored_full(&iss, &st, (ocsp_hash_e)h, &out, &n, &why) == 0);
        CHECK(n == len[h] && memcmp(out, bare[h], n) == 0);
        free(out);
    }
    free(value);
    free(bare[0]);
    free(bare[1]);
}

/* Responses the signer cannot store: ocsp_stored_make() refuses them. */
static void test_make_refused(void)
{
    unsigned char cert[64];
    ocsp_issuer_t iss, other;
    unsigned char *r[OCSP_HASH_COUNT], *swapped[OCSP_HASH_COUNT], *value;
    size_t len[OCSP_HASH_COUNT], swapped_len[OCSP_HASH_COUNT], value_len;
    const char *why = NULL;

    memset(cert, 0x30, sizeof(cert));
    cert[1] = sizeof(cert) - 2;
    iss = issuer(cert, sizeof(cert));
    r[0] = response(&iss, OCSP_HASH_SHA1, 72, 0x5a, PLAIN, NULL, 0, &len[0]);
    /* signed at another second: the SHA-1 response could not be rebuilt */
    r[1] = response(&iss, OCSP_HASH_SHA256, 72, 0x5b, OTHER_TIME, NULL, 0,
                    &len[1]);
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 10, 20, r, len, &value,
                           &value_len, &why) == -1);
    CHECK_STR(why, "the responses differ in more than their CertID");
    free(r[1]);
    r[1] = response(&iss, OCSP_HASH_SHA256, 72, 0x5b, PLAIN, NULL, 0, &len[1]);
    /* in the wrong slots */
    swapped[0] = r[1];
    swapped[1] = r[0];
    swapped_len[0] = len[1];
    swapped_len[1] = len[0];
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 10, 20, swapped, swapped_len,
                           &value, &value_len, &why) == -1);
    CHECK_STR(why, "not a CertID of this issuer");
    /* for another issuer */
    other = iss;
    other.key_hash[OCSP_HASH_SHA256][5] ^= 1;
    CHECK(ocsp_stored_make(&other, OCSP_CERT_GOOD, 10, 20, r, len, &value,
                           &value_len, &why) == -1);
    CHECK_STR(why, "not a CertID of this issuer");
    /* times the envelope cannot hold */
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 20, 20, r, len, &value,
                           &value_len, &why) == -1);
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 10, 20, r, len, &value,
                           &value_len, &why) == 0);
    free(value);
    free(r[0]);
    free(r[1]);
}

/* Every stored response that is not what the signer stores is refused. */
static void test_refused(void)
{
    static const struct {
        int flags;
        const char *why;
    } bad[] = {
        {BY_NAME, "ResponderID not byKey"},
        {NOT_SUCCESS, "not a successful OCSPResponse"},
        {OTHER_OID, "not a BasicOCSPResponse"},
        {EXTRA_FIELD, "not a successful OCSPResponse"},
        {TWO_SINGLES, "not one SingleResponse"},
        /* a responder replaced since: its certificate is not ours to add */
        {OTHER_KEY, "signed by another responder key than the configured one"},
    };
    static const unsigned char sig[] = {0x03, 0x03, 0x00, 0x5b, 0x5b};
    unsigned char cert[64];
    ocsp_issuer_t iss, other;
    ocsp_stored_t st;
    unsigned char *p, *q, *v, *out;
    size_t len, vlen, n, i, lim;
    const char *why;
    int h;

    memset(cert, 0x30, sizeof(cert));
    cert[1] = sizeof(cert) - 2;
    iss = issuer(cert, sizeof(cert));
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        p = response(&iss, OCSP_HASH_SHA1, 72, 0x5a, bad[i].flags, NULL, 0,
                     &len);
        v = value_of(p, len, sig, sizeof(sig), &vlen);
        CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
        for (h = 0; h < OCSP_HASH_COUNT; h++) {
            why = NULL;
            CHECK(ocsp_stored_full(&iss, &st, (ocsp_hash_e)h, &out, &n, &why) ==
                  -1);
            CHECK(why != NULL && strcmp(why, bad[i].why) == 0);
        }
        free(v);
        free(p);
    }

    /* stored whole already: certs would be sent twice */
    p = response(&iss, OCSP_HASH_SHA1, 72, 0x5a, PLAIN, cert, sizeof(cert),
                 &len);
    v = value_of(p, len, sig, sizeof(sig), &vlen);
    CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) == -1);
    CHECK_STR(why, "certs in a stored response");
    free(v);
    free(p);

    p = response(&iss, OCSP_HASH_SHA1, 72, 0x5a, PLAIN, NULL, 0, &len);
    /* another issuer's response; a signature that is no BIT STRING */
    other = iss;
    other.name_hash[OCSP_HASH_SHA1][0] ^= 1;
    v = value_of(p, len, sig, sizeof(sig), &vlen);
    CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
    CHECK(ocsp_stored_full(&other, &st, OCSP_HASH_SHA1, &out, &n, &why) == -1);
    CHECK_STR(why, "not a CertID of this issuer");
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA256, &out, &n, &why) == 0);
    free(out);
    st.sig_len--;
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA256, &out, &n, &why) == -1);
    CHECK_STR(why, "not a signature");
    free(v);

    /* every truncation, a byte more, and every single bit flipped in the
     * headers, the OID and the ResponderID (up to producedAt, whose digits
     * only a client's signature check can judge) refused */
    for (lim = 0;
         lim + 20 <= len && memcmp(p + lim, iss.responder_key_id, 20) != 0;
         lim++) {
    }
    lim += 20;
    CHECK(lim > 40 && lim < len);
    q = malloc(len + 1);
    for (i = 1; i <= len; i++) {
        memcpy(q, p, len);
        q[len] = 0;
        v = value_of(q, i == len ? len + 1 : i, sig, sizeof(sig), &vlen);
        CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
        CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) ==
              -1);
        free(v);
    }
    for (i = 0; i < lim * 8; i++) {
        memcpy(q, p, len);
        q[i / 8] ^= (unsigned char)(1u << (i % 8));
        v = value_of(q, len, sig, sizeof(sig), &vlen);
        CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
        if (ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) == 0) {
            fprintf(stderr, "flip %zu accepted\n", i);
            CHECK(0);
            free(out);
        }
        free(v);
    }
    /* a non-minimal length (X.690 10.1) on the outer SEQUENCE: three
     * octets where two are enough */
    CHECK(p[1] == 0x82);
    q[0] = 0x30;
    q[1] = 0x83;
    q[2] = 0;
    memcpy(q + 3, p + 2, len - 2);
    v = value_of(q, len + 1, sig, sizeof(sig), &vlen);
    CHECK(ocsp_stored_decode(v, vlen, &st, &why) == 0);
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) == -1);
    free(v);
    free(q);
    free(p);
}

/* Rotation: a response signed by a previous responder is served with that
 * responder's certificate until it expires, and never made by the signer. */
static void test_previous(void)
{
    unsigned char cur[64], old_cert[80], *bare[OCSP_HASH_COUNT], *value, *out;
    size_t len[OCSP_HASH_COUNT], value_len, n;
    ocsp_issuer_t iss, old;
    ocsp_stored_t st;
    const char *why = NULL;
    int h;

    memset(cur, 0x30, sizeof(cur));
    cur[1] = sizeof(cur) - 2;
    memset(old_cert, 0x30, sizeof(old_cert));
    old_cert[1] = sizeof(old_cert) - 2;
    old_cert[2] = 0x44; /* tells them apart in the output */
    iss = issuer(cur, sizeof(cur));
    old = issuer(old_cert, sizeof(old_cert));
    memset(old.responder_key_id, 0x44, 20);
    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        bare[h] =
            response(&old, (ocsp_hash_e)h, 72, 0x5a, PLAIN, NULL, 0, &len[h]);
    }
    CHECK(ocsp_stored_make(&old, OCSP_CERT_GOOD, 10, 20, bare, len, &value,
                           &value_len, &why) == 0);
    CHECK(ocsp_stored_decode(value, value_len, &st, &why) == 0);

    /* not listed: a miss */
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) == -1);
    CHECK_STR(why, "signed by another responder key than the configured one");
    CHECK(ocsp_stored_signer(&iss, &st) == -1);

    /* listed second: served with its certificate, not the current one */
    memset(iss.previous[0].key_id, 0x55, 20);
    memset(iss.previous[1].key_id, 0x44, 20);
    iss.previous[0].der = cur;
    iss.previous[0].der_len = sizeof(cur);
    iss.previous[1].der = old_cert;
    iss.previous[1].der_len = sizeof(old_cert);
    iss.previous[0].not_after = iss.previous[1].not_after = time(NULL) + 3600;
    iss.nprevious = 2;
    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        CHECK(ocsp_stored_full(&iss, &st, (ocsp_hash_e)h, &out, &n, &why) == 0);
        /* the response as signed, then certs [0] { SEQUENCE { old } } */
        CHECK(n > sizeof(old_cert) && memcmp(out + n - sizeof(old_cert),
                                             old_cert, sizeof(old_cert)) == 0);
        CHECK(memmem(out, n, cur, sizeof(cur)) == NULL);
        free(out);
    }
    CHECK(ocsp_stored_signer(&iss, &st) == 2);
    CHECK(ocsp_stored_signer(&old, &st) == 0);

    /* the signer signs with the current responder only */
    free(value);
    value = NULL;
    CHECK(ocsp_stored_make(&iss, OCSP_CERT_GOOD, 10, 20, bare, len, &value,
                           &value_len, &why) == -1);
    CHECK(value == NULL);
    CHECK(ocsp_stored_make(&old, OCSP_CERT_GOOD, 10, 20, bare, len, &value,
                           &value_len, &why) == 0);
    CHECK(ocsp_stored_decode(value, value_len, &st, &why) == 0);

    /* expired: a client could not verify it; counted, never served */
    iss.previous[1].not_after = time(NULL) - 1;
    CHECK(ocsp_stored_full(&iss, &st, OCSP_HASH_SHA1, &out, &n, &why) == -1);
    CHECK_STR(why, "signed by a previous responder whose certificate has "
                   "expired");
    CHECK(ocsp_stored_signer(&iss, &st) == 2);
    free(value);
    free(bare[0]);
    free(bare[1]);
}

int main(void)
{
    test_envelope();
    test_make_full();
    test_ca_signs();
    test_make_refused();
    test_refused();
    test_previous();
    CHECK_DONE();
}
