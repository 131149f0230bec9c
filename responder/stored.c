#include "stored.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "der.h"
#include "der_read.h"

/* id-pkix-ocsp-basic, RFC 6960 4.2.1, as a whole TLV. */
static const unsigned char oid_ocsp_basic[] = {
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

/* stored_parse()'s PREVIOUS: also a previous responder whose certificate
 * has expired (to count what it signed, never to serve it). */
#define STORED_ANY_PREVIOUS 2

/* The CertID hash whose response is stored whole. */
#define STORED_WHOLE OCSP_HASH_SHA1

static void put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t)v;

    for (int i = 7; i >= 0; i--) {
        p[i] = (unsigned char)u;
        u >>= 8;
    }
}

static int64_t get_i64(const unsigned char *p)
{
    uint64_t u = 0;

    for (int i = 0; i < 8; i++) {
        u = (u << 8) | p[i];
    }
    return (int64_t)u;
}

size_t ocsp_stored_size(const ocsp_stored_t *st)
{
    return OCSP_STORED_HEADER + 2 + st->resp_len + st->sig_len;
}

size_t ocsp_stored_encode(const ocsp_stored_t *st, unsigned char *out,
                          size_t cap)
{
    size_t n = ocsp_stored_size(st);

    if (n > cap || (unsigned)st->status > OCSP_CERT_UNKNOWN ||
        st->this_update >= st->next_update || st->resp_len == 0 ||
        st->resp_len > 0xffff || st->sig_len == 0) {
        return 0;
    }
    out[0] = OCSP_STORED_VERSION;
    out[1] = (unsigned char)st->status;
    put_i64(out + 2, st->this_update);
    put_i64(out + 10, st->next_update);
    out[18] = (unsigned char)(st->resp_len >> 8);
    out[19] = (unsigned char)st->resp_len;
    memcpy(out + 20, st->resp, st->resp_len);
    memcpy(out + 20 + st->resp_len, st->sig, st->sig_len);
    return n;
}

int ocsp_stored_decode(const unsigned char *p, size_t len, ocsp_stored_t *st,
                       const char **why)
{
    size_t n;

    if (len < OCSP_STORED_HEADER + 2) {
        *why = "shorter than its header";
        return -1;
    }
    if (p[0] != OCSP_STORED_VERSION) {
        *why = "unknown format version";
        return -1;
    }
    if (p[1] > OCSP_CERT_UNKNOWN) {
        *why = "unknown certStatus";
        return -1;
    }
    st->status = (ocsp_cert_status_e)p[1];
    st->this_update = get_i64(p + 2);
    st->next_update = get_i64(p + 10);
    if (st->this_update >= st->next_update) {
        *why = "thisUpdate not before nextUpdate";
        return -1;
    }
    n = (size_t)p[18] << 8 | p[19];
    /* the response, then a signature of one octet at least */
    if (n == 0 || n >= len - 20) {
        *why = "truncated";
        return -1;
    }
    st->resp = p + 20;
    st->resp_len = n;
    st->sig = p + 20 + n;
    st->sig_len = len - 20 - n;
    return 0;
}

/* A TLV read whole: where it starts and its size, and its contents. */
typedef struct {
    const unsigned char *p;
    size_t len;
    der_tlv_t t;
} span_t;

static int span_read(const unsigned char *p, size_t end, size_t *off,
                     unsigned char tag, span_t *s)
{
    size_t start = *off;

    if (der_read_expect(p, end, off, tag, &s->t) != 0) {
        return -1;
    }
    s->p = p + start;
    s->len = *off - start;
    return 0;
}

/* The parts of a stored response that a rebuilt one is made of. */
typedef struct {
    span_t rid, produced, single_rest, serial, tbs_rest, alg, sig;
    /* the certificate of the responder that signed it, for certs, or
     * NULL: the CA signed it */
    const unsigned char *cert;
    size_t cert_len;
} parts_t;

/*
 * Which responder of ISS signed with key id KH: the current one, or with
 * PREVIOUS a previous one (rotation, issuer.h) whose certificate has not
 * expired: a client checks the responder certificate's validity (RFC 6960
 * 4.2.2.2, RFC 5280 6.1.3), so a response it signed could no longer be
 * verified and is a miss, which the signer re-signs.
 */
static int stored_signer(const ocsp_issuer_t *iss, const unsigned char *kh,
                         int previous, parts_t *x, const char **why)
{
    if (memcmp(kh, iss->responder_key_id, 20) == 0) {
        x->cert = iss->responder_der;
        x->cert_len = iss->responder_der_len;
        return 0;
    }
    for (size_t i = 0; previous && i < iss->nprevious; i++) {
        const ocsp_previous_responder_t *pr = &iss->previous[i];
        if (memcmp(kh, pr->key_id, 20) == 0) {
            if (previous != STORED_ANY_PREVIOUS && time(NULL) > pr->not_after) {
                *why = "signed by a previous responder whose certificate "
                       "has expired";
                return -1;
            }
            x->cert = pr->der;
            x->cert_len = pr->der_len;
            return 0;
        }
    }
    *why = "signed by another responder key than the configured one";
    return -1;
}

/*
 * The response without certs at P (LEN bytes), strictly: RFC 6960 4.2.1
 * down to the CertID of its one SingleResponse, which must be ISS's HASH
 * one, and ResponderID byKey naming ISS's responder (or with PREVIOUS one
 * of its previous responders, stored_signer()).
 */
static int stored_parse(const ocsp_issuer_t *iss, ocsp_hash_e hash,
                        const unsigned char *p, size_t len, int previous,
                        parts_t *x, const char **why)
{
    der_tlv_t resp, status, bytes, rb, octets, basic, kh;
    span_t oid, tbs, list, single, certid, alg, nh, ikh;
    size_t o = 0, alg_len;
    const unsigned char *want_alg = ocsp_certid_alg(hash, &alg_len);
    size_t hl = ocsp_hash_len(hash);

    *why = "not a successful OCSPResponse";
    if (der_read_whole(p, len, DER_SEQUENCE, &resp) != 0 ||
        der_read_expect(resp.v, resp.len, &o, DER_ENUMERATED, &status) != 0 ||
        status.len != 1 || status.v[0] != 0 ||
        der_read_expect(resp.v, resp.len, &o, DER_CTX(0), &bytes) != 0 ||
        o != resp.len) {
        return -1;
    }
    *why = "not a BasicOCSPResponse";
    o = 0;
    if (der_read_whole(bytes.v, bytes.len, DER_SEQUENCE, &rb) != 0 ||
        span_read(rb.v, rb.len, &o, DER_OID, &oid) != 0 ||
        oid.len != sizeof(oid_ocsp_basic) ||
        memcmp(oid.p, oid_ocsp_basic, sizeof(oid_ocsp_basic)) != 0 ||
        der_read_expect(rb.v, rb.len, &o, DER_OCTET_STRING, &octets) != 0 ||
        o != rb.len ||
        der_read_whole(octets.v, octets.len, DER_SEQUENCE, &basic) != 0) {
        return -1;
    }
    o = 0;
    if (span_read(basic.v, basic.len, &o, DER_SEQUENCE, &tbs) != 0 ||
        span_read(basic.v, basic.len, &o, DER_SEQUENCE, &x->alg) != 0 ||
        span_read(basic.v, basic.len, &o, DER_BIT_STRING, &x->sig) != 0) {
        return -1;
    }
    if (o != basic.len) {
        *why = "certs in a stored response";
        return -1;
    }

    /* RFC 6960 4.2.1: version [0] is DEFAULT v1, left out in DER (X.690
     * 11.5): ResponderID, producedAt, responses, [1] extensions. */
    o = 0;
    if (span_read(tbs.t.v, tbs.t.len, &o, DER_CTX(2), &x->rid) != 0 ||
        der_read_whole(x->rid.t.v, x->rid.t.len, DER_OCTET_STRING, &kh) != 0 ||
        kh.len != 20) {
        *why = "ResponderID not byKey";
        return -1;
    }
    if (stored_signer(iss, kh.v, previous, x, why) != 0) {
        return -1;
    }
    *why = "not one SingleResponse";
    if (span_read(tbs.t.v, tbs.t.len, &o, DER_GENERALIZED_TIME, &x->produced) !=
            0 ||
        span_read(tbs.t.v, tbs.t.len, &o, DER_SEQUENCE, &list) != 0) {
        return -1;
    }
    x->tbs_rest.p = tbs.t.v + o;
    x->tbs_rest.len = tbs.t.len - o;
    o = 0;
    if (span_read(list.t.v, list.t.len, &o, DER_SEQUENCE, &single) != 0 ||
        o != list.t.len) {
        return -1;
    }
    o = 0;
    if (span_read(single.t.v, single.t.len, &o, DER_SEQUENCE, &certid) != 0) {
        return -1;
    }
    x->single_rest.p = single.t.v + o;
    x->single_rest.len = single.t.len - o;

    /* RFC 6960 4.1.1 CertID: the issuer's, in the stored hash */
    o = 0;
    if (span_read(certid.t.v, certid.t.len, &o, DER_SEQUENCE, &alg) != 0 ||
        span_read(certid.t.v, certid.t.len, &o, DER_OCTET_STRING, &nh) != 0 ||
        span_read(certid.t.v, certid.t.len, &o, DER_OCTET_STRING, &ikh) != 0 ||
        span_read(certid.t.v, certid.t.len, &o, DER_INTEGER, &x->serial) != 0 ||
        o != certid.t.len) {
        *why = "not a CertID";
        return -1;
    }
    if (alg.len != alg_len || memcmp(alg.p, want_alg, alg_len) != 0 ||
        nh.t.len != hl || memcmp(nh.t.v, iss->name_hash[hash], hl) != 0 ||
        ikh.t.len != hl || memcmp(ikh.t.v, iss->key_hash[hash], hl) != 0) {
        *why = "not a CertID of this issuer";
        return -1;
    }
    return 0;
}

/* The response for HASH from X (and SIG for the other hash), with the
 * responder certificate when CERTS and ISS has a delegate; into B. */
static void rebuild(der_buf_t *b, const ocsp_issuer_t *iss, const parts_t *x,
                    ocsp_hash_e hash, const unsigned char *sig, size_t sig_len,
                    int certs)
{
    size_t resp, bytes, rb, octets, basic, tbs, list, single, certid, c, l;
    size_t alg_len, hl = ocsp_hash_len(hash);
    const unsigned char *alg = ocsp_certid_alg(hash, &alg_len);

    resp = der_begin(b, DER_SEQUENCE);
    der_raw(b, "\x0a\x01\x00", 3); /* successful */
    bytes = der_begin(b, DER_CTX(0));
    rb = der_begin(b, DER_SEQUENCE);
    der_raw(b, oid_ocsp_basic, sizeof(oid_ocsp_basic));
    octets = der_begin(b, DER_OCTET_STRING);
    basic = der_begin(b, DER_SEQUENCE);

    tbs = der_begin(b, DER_SEQUENCE);
    der_raw(b, x->rid.p, x->rid.len);
    der_raw(b, x->produced.p, x->produced.len);
    list = der_begin(b, DER_SEQUENCE);
    single = der_begin(b, DER_SEQUENCE);
    certid = der_begin(b, DER_SEQUENCE);
    der_raw(b, alg, alg_len);
    der_tlv(b, DER_OCTET_STRING, iss->name_hash[hash], hl);
    der_tlv(b, DER_OCTET_STRING, iss->key_hash[hash], hl);
    der_raw(b, x->serial.p, x->serial.len);
    der_end(b, certid);
    der_raw(b, x->single_rest.p, x->single_rest.len);
    der_end(b, single);
    der_end(b, list);
    der_raw(b, x->tbs_rest.p, x->tbs_rest.len);
    der_end(b, tbs);

    der_raw(b, x->alg.p, x->alg.len);
    if (hash == STORED_WHOLE) {
        der_raw(b, x->sig.p, x->sig.len);
    } else {
        der_raw(b, sig, sig_len);
    }
    if (certs && x->cert != NULL) {
        /* RFC 6960 4.2.2.2: the delegate's certificate (the one that
         * signed it); the CA signing for itself sends none. */
        c = der_begin(b, DER_CTX(0));
        l = der_begin(b, DER_SEQUENCE);
        der_raw(b, x->cert, x->cert_len);
        der_end(b, l);
        der_end(b, c);
    }
    der_end(b, basic);
    der_end(b, octets);
    der_end(b, rb);
    der_end(b, bytes);
    der_end(b, resp);
}

static int stored_full(const ocsp_issuer_t *iss, const ocsp_stored_t *st,
                       ocsp_hash_e hash, int certs, int previous,
                       unsigned char **out, size_t *out_len, const char **why)
{
    parts_t x;
    der_tlv_t sig;
    der_buf_t b;

    if ((unsigned)hash >= OCSP_HASH_COUNT ||
        stored_parse(iss, STORED_WHOLE, st->resp, st->resp_len, previous, &x,
                     why) != 0) {
        return -1;
    }
    if (der_read_whole(st->sig, st->sig_len, DER_BIT_STRING, &sig) != 0 ||
        sig.len == 0 || sig.v[0] != 0) {
        *why = "not a signature";
        return -1;
    }
    if (der_init(&b, st->resp_len + st->sig_len + x.cert_len + 64) != 0) {
        *why = "out of memory";
        return -1;
    }
    rebuild(&b, iss, &x, hash, st->sig, st->sig_len, certs);
    if (b.err) {
        der_free(&b);
        *why = "out of memory";
        return -1;
    }
    *out = der_take(&b, out_len);
    return 0;
}

int ocsp_stored_full(const ocsp_issuer_t *iss, const ocsp_stored_t *st,
                     ocsp_hash_e hash, unsigned char **out, size_t *out_len,
                     const char **why)
{
    return stored_full(iss, st, hash, 1, 1, out, out_len, why);
}

int ocsp_stored_signer(const ocsp_issuer_t *iss, const ocsp_stored_t *st)
{
    parts_t x;
    const char *why;

    if (stored_parse(iss, STORED_WHOLE, st->resp, st->resp_len,
                     STORED_ANY_PREVIOUS, &x, &why) != 0) {
        return -1;
    }
    for (size_t i = 0; i < iss->nprevious; i++) {
        if (x.cert == iss->previous[i].der) {
            return (int)i + 1;
        }
    }
    return 0;
}

int ocsp_stored_make(const ocsp_issuer_t *iss, ocsp_cert_status_e status,
                     int64_t this_update, int64_t next_update,
                     unsigned char *const resp[OCSP_HASH_COUNT],
                     const size_t resp_len[OCSP_HASH_COUNT],
                     unsigned char **out, size_t *out_len, const char **why)
{
    ocsp_hash_e other =
        STORED_WHOLE == OCSP_HASH_SHA1 ? OCSP_HASH_SHA256 : OCSP_HASH_SHA1;
    ocsp_stored_t st, back;
    parts_t x;
    unsigned char *value = NULL, *again = NULL;
    size_t n, again_len;

    /* each response as a reader reads it; of the other, its signature */
    /* the signer signs with the current responder only */
    if (stored_parse(iss, STORED_WHOLE, resp[STORED_WHOLE],
                     resp_len[STORED_WHOLE], 0, &x, why) != 0 ||
        stored_parse(iss, other, resp[other], resp_len[other], 0, &x, why) !=
            0) {
        return -1;
    }
    st.sig = x.sig.p;
    st.sig_len = x.sig.len;
    st.status = status;
    st.this_update = this_update;
    st.next_update = next_update;
    st.resp = resp[STORED_WHOLE];
    st.resp_len = resp_len[STORED_WHOLE];
    n = ocsp_stored_size(&st);
    value = malloc(n);
    if (value == NULL || ocsp_stored_encode(&st, value, n) != n) {
        free(value);
        *why = value ? "not encodable" : "out of memory";
        return -1;
    }

    /* What a reader will make of it is what was signed.  The response
     * stored whole comes back as it is (stored_parse() checked its CertID
     * is the one rebuild() writes, and every length is DER's); the other
     * is rebuilt to be compared. */
    if (ocsp_stored_decode(value, n, &back, why) != 0 ||
        stored_full(iss, &back, other, 0, 0, &again, &again_len, why) != 0) {
        free(value);
        return -1;
    }
    if (again_len != resp_len[other] ||
        memcmp(again, resp[other], again_len) != 0) {
        free(again);
        free(value);
        *why = "the responses differ in more than their CertID";
        return -1;
    }
    free(again);
    *out = value;
    *out_len = n;
    return 0;
}
