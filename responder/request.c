#include "request.h"

#include <openssl/ocsp.h>
#include <openssl/x509v3.h>
#include <limits.h>
#include <string.h>

#include "der.h"
#include "der_read.h"
#include "response.h"

/*
 * Maps a CertID hashAlgorithm to ours.  Returns -1 for any other digest:
 * RFC 6960 4.1.1 lets the requester pick, but no issuer is registered under
 * another hash, so such a request cannot be answered authoritatively.
 */
static int certid_hash(const ASN1_OBJECT *alg)
{
    switch (OBJ_obj2nid(alg)) {
    case NID_sha1:
        return OCSP_HASH_SHA1;
    case NID_sha256:
        return OCSP_HASH_SHA256;
    default:
        return -1;
    }
}

/* RFC 9654 2.1: the nonce is an OCTET STRING inside extnValue, the LEN
 * bytes at VAL. */
static ocsp_resp_status_e request_nonce(const unsigned char *val, size_t len,
                                        ocsp_request_t *req)
{
    der_tlv_t nonce;

    if (req->nonce_len != 0) {
        req->err = "nonce extension twice";
        return OCSP_ST_MALFORMED;
    }
    /* extnValue is opaque to the outer DER check: read it strictly too */
    if (der_read_whole(val, len, 0x04, &nonce) != 0) {
        req->err = "nonce is not one DER OCTET STRING";
        return OCSP_ST_MALFORMED;
    }
    if (nonce.len < 1 || nonce.len > OCSP_NONCE_MAX) {
        req->err = "nonce length outside 1..128 octets (RFC 9654)";
        return OCSP_ST_MALFORMED;
    }
    memcpy(req->nonce, nonce.v, nonce.len);
    req->nonce_len = nonce.len;
    return OCSP_ST_SUCCESSFUL;
}

/*
 * One request (TOP) or singleRequest extension, whichever path read it:
 * the request-level nonce is kept, anything else unknown is ignored unless
 * critical.  VAL/LEN is its extnValue.
 */
static ocsp_resp_status_e request_ext_apply(int is_nonce, int critical,
                                            const unsigned char *val,
                                            size_t len, ocsp_request_t *req,
                                            int top)
{
    if (top && is_nonce) {
        return request_nonce(val, len, req);
    }
    /* RFC 5280 4.2: an unrecognised critical extension must not be
     * ignored; non-critical ones are (docs/dev/architecture.md). */
    if (critical) {
        req->err = "unknown critical extension";
        return OCSP_ST_MALFORMED;
    }
    return OCSP_ST_SUCCESSFUL;
}

/* The same, for an extension OpenSSL decoded. */
static ocsp_resp_status_e request_ext(X509_EXTENSION *ext, ocsp_request_t *req,
                                      int top)
{
    const ASN1_OCTET_STRING *val = X509_EXTENSION_get_data(ext);

    return request_ext_apply(
        OBJ_obj2nid(X509_EXTENSION_get_object(ext)) == NID_id_pkix_OCSP_Nonce,
        X509_EXTENSION_get_critical(ext), ASN1_STRING_get0_data(val),
        (size_t)ASN1_STRING_length(val), req, top);
}

/*
 * Extensions ::= SEQUENCE OF Extension, inside the [n] EXPLICIT TAGGED.  X.690
 * 11.5: DER leaves out a DEFAULT value, so an Extension's critical flag,
 * DEFAULT FALSE, is never encoded FALSE.  OpenSSL keeps an encoded FALSE
 * and writes it back, so only a walk of the bytes sees it.
 */
static int request_exts_der(const der_tlv_t *tagged)
{
    der_tlv_t list, ext, field;
    size_t off = 0, eoff;

    if (der_read_whole(tagged->v, tagged->len, 0x30, &list) != 0) {
        return -1;
    }
    while (off < list.len) {
        eoff = 0;
        if (der_read_expect(list.v, list.len, &off, 0x30, &ext) != 0 ||
            der_read_expect(ext.v, ext.len, &eoff, 0x06, &field) != 0) {
            return -1;
        }
        if (der_read_expect(ext.v, ext.len, &eoff, 0x01, &field) == 0 &&
            field.v[0] == 0x00) {
            return -1;
        }
    }
    return 0;
}

/*
 * The DER rules OpenSSL's d2i does not enforce (it reads BER), checked on
 * the bytes before they are decoded: DER's forms everywhere
 * (der_read_strict: minimal lengths, primitive strings, BOOLEAN 0x00/0xff,
 * minimal INTEGERs, ...), and the DEFAULT values left out (X.690 11.5): the
 * version, whose only value v1 is its DEFAULT, and FALSE critical flags.
 * After decoding, request_reencodes() checks that what OpenSSL read
 * encodes back to these very bytes: a net for any form its schema
 * normalises that this walk does not know of.
 * Returns NULL, or why the bytes are not a DER OCSPRequest.
 *
 *   OCSPRequest ::= SEQUENCE { tbsRequest, [0] optionalSignature OPTIONAL }
 *   TBSRequest  ::= SEQUENCE { [0] version DEFAULT v1, [1] requestorName
 *                   OPTIONAL, requestList SEQUENCE OF Request,
 *                   [2] requestExtensions OPTIONAL }
 *   Request     ::= SEQUENCE { reqCert CertID,
 *                   [0] singleRequestExtensions OPTIONAL }
 */
static const char *request_der_check(const unsigned char *der, size_t len)
{
    der_tlv_t outer, tbs, t, one, f;
    size_t off = 0, loff, roff;

    if (der_read_whole(der, len, 0x30, &outer) != 0) {
        return "not one DER SEQUENCE (indefinite or non-minimal length, "
               "trailing data)";
    }
    if (der_read_strict(der, len) != 0) {
        return "not DER (X.690 10)";
    }
    if (der_read_expect(outer.v, outer.len, &off, 0x30, &tbs) != 0) {
        return "tbsRequest is not a SEQUENCE";
    }
    off = 0;
    if (der_read_tlv(tbs.v, tbs.len, &off, &t) != 0) {
        return "empty tbsRequest";
    }
    if (t.tag == 0xa0) {
        return "version encoded: DER leaves out the DEFAULT v1 (X.690 11.5)";
    }
    if (t.tag == 0xa1 && der_read_tlv(tbs.v, tbs.len, &off, &t) != 0) {
        return "no requestList";
    }
    if (t.tag != 0x30) {
        return "requestList is not a SEQUENCE";
    }
    for (loff = 0; loff < t.len;) {
        roff = 0;
        if (der_read_expect(t.v, t.len, &loff, 0x30, &one) != 0 ||
            der_read_expect(one.v, one.len, &roff, 0x30, &f) != 0) {
            return "a Request is not a SEQUENCE with a CertID";
        }
        if (der_read_expect(one.v, one.len, &roff, 0xa0, &f) == 0 &&
            request_exts_der(&f) != 0) {
            return "singleRequestExtensions not DER (critical FALSE encoded?)";
        }
    }
    if (der_read_expect(tbs.v, tbs.len, &off, 0xa2, &t) == 0 &&
        request_exts_der(&t) != 0) {
        return "requestExtensions not DER (critical FALSE encoded?)";
    }
    return NULL;
}

/* 0 when R encodes back to the LEN bytes at DER, else -1. */
static int request_reencodes(OCSP_REQUEST *r, const unsigned char *der,
                             size_t len)
{
    unsigned char *out = NULL;
    int n = i2d_OCSP_REQUEST(r, &out);
    int same = n > 0 && (size_t)n == len && memcmp(out, der, len) == 0;

    OPENSSL_free(out);
    return same ? 0 : -1;
}

/* CertID hashAlgorithm OIDs (contents octets): id-sha1, id-sha256 */
static const unsigned char oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const unsigned char oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65,
                                           0x03, 0x04, 0x02, 0x01};
/* id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2 (RFC 6960 4.4.1) */
static const unsigned char oid_nonce[] = {0x2b, 0x06, 0x01, 0x05, 0x05,
                                          0x07, 0x30, 0x01, 0x02};

static int oid_is(const der_tlv_t *t, const unsigned char *oid, size_t len)
{
    return t->len == len && memcmp(t->v, oid, len) == 0;
}

/*
 * Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension, the contents of the
 * [n] EXPLICIT at TAGGED, read by the plain reader:
 *   Extension ::= SEQUENCE { extnID OID, critical BOOLEAN DEFAULT FALSE,
 *                            extnValue OCTET STRING }
 */
static int plain_exts(const der_tlv_t *tagged, ocsp_request_t *req, int top)
{
    der_tlv_t list, ext, oid, f;
    size_t off = 0, eoff;
    int critical;

    if (der_read_whole(tagged->v, tagged->len, 0x30, &list) != 0 ||
        list.len == 0) {
        return -1;
    }
    while (off < list.len) {
        eoff = 0;
        critical = 0;
        if (der_read_expect(list.v, list.len, &off, 0x30, &ext) != 0 ||
            der_read_expect(ext.v, ext.len, &eoff, 0x06, &oid) != 0) {
            return -1;
        }
        if (der_read_expect(ext.v, ext.len, &eoff, 0x01, &f) == 0) {
            critical = 1; /* DER: only TRUE is encoded (request_exts_der) */
        }
        if (der_read_expect(ext.v, ext.len, &eoff, 0x04, &f) != 0 ||
            eoff != ext.len) {
            return -1;
        }
        if (request_ext_apply(oid_is(&oid, oid_nonce, sizeof(oid_nonce)),
                              critical, f.v, f.len, req,
                              top) != OCSP_ST_SUCCESSFUL) {
            return -1;
        }
    }
    return 0;
}

/*
 *   CertID ::= SEQUENCE { hashAlgorithm AlgorithmIdentifier,
 *                         issuerNameHash OCTET STRING,
 *                         issuerKeyHash OCTET STRING,
 *                         serialNumber CertificateSerialNumber }
 * with SHA-1 or SHA-256 and NULL or absent parameters (RFC 5754 3).
 */
static int plain_certid(const der_tlv_t *cid, ocsp_certid_t *out)
{
    der_tlv_t alg, oid, f, nh, kh, serial;
    size_t off = 0, aoff = 0, hl;

    if (der_read_expect(cid->v, cid->len, &off, 0x30, &alg) != 0 ||
        der_read_expect(alg.v, alg.len, &aoff, 0x06, &oid) != 0) {
        return -1;
    }
    if (aoff < alg.len &&
        (der_read_expect(alg.v, alg.len, &aoff, 0x05, &f) != 0 ||
         aoff != alg.len)) {
        return -1;
    }
    if (oid_is(&oid, oid_sha1, sizeof(oid_sha1))) {
        out->hash = OCSP_HASH_SHA1;
    } else if (oid_is(&oid, oid_sha256, sizeof(oid_sha256))) {
        out->hash = OCSP_HASH_SHA256;
    } else {
        return -1;
    }
    hl = ocsp_hash_len(out->hash);
    if (der_read_expect(cid->v, cid->len, &off, 0x04, &nh) != 0 ||
        der_read_expect(cid->v, cid->len, &off, 0x04, &kh) != 0 ||
        der_read_expect(cid->v, cid->len, &off, 0x02, &serial) != 0 ||
        off != cid->len || nh.len != hl || kh.len != hl) {
        return -1;
    }
    if (ocsp_serial_from_der(serial.v, serial.len, out->serial) != 0) {
        return -1;
    }
    memcpy(out->name_hash, nh.v, hl);
    memcpy(out->key_hash, kh.v, hl);
    return 0;
}

/*
 * The plain request, the form RFC 5019 2.1.1 has clients send and nearly
 * all do: no requestorName, no signature, 1..MAX_SINGLES CertIDs of SHA-1
 * or SHA-256, extensions that are not refused.  It is read from the bytes
 * alone, request_der_check() having walked them, so that the hot path
 * allocates nothing and skips OpenSSL's decode and re-encode.  Returns 0
 * with *req filled as request_schema() fills it for the same bytes, or -1:
 * not plain, or not acceptable, and request_schema() decides and says why.
 * That both agree on every input is tested (tests/unit/test_request.c,
 * tests/fuzz/fuzz_request.c, against ocsp_request_decode_schema()).
 */
static int request_plain(const unsigned char *der, size_t len,
                         size_t max_singles, ocsp_request_t *req)
{
    der_tlv_t outer, tbs, list, one, cid, t;
    size_t off = 0, loff, roff, n = 0;

    if (der_read_whole(der, len, 0x30, &outer) != 0 ||
        der_read_whole(outer.v, outer.len, 0x30, &tbs) != 0) {
        return -1; /* optionalSignature: OpenSSL's schema reads it */
    }
    if (der_read_expect(tbs.v, tbs.len, &off, 0x30, &list) != 0 ||
        list.len == 0) {
        return -1; /* version (refused), requestorName, no requestList */
    }
    for (loff = 0; loff < list.len; n++) {
        roff = 0;
        if (n == max_singles ||
            der_read_expect(list.v, list.len, &loff, 0x30, &one) != 0 ||
            der_read_expect(one.v, one.len, &roff, 0x30, &cid) != 0 ||
            plain_certid(&cid, &req->singles[n]) != 0) {
            return -1;
        }
        if (roff < one.len &&
            (der_read_expect(one.v, one.len, &roff, 0xa0, &t) != 0 ||
             roff != one.len || plain_exts(&t, req, 0) != 0)) {
            return -1;
        }
    }
    req->nsingles = n;
    if (off < tbs.len &&
        (der_read_expect(tbs.v, tbs.len, &off, 0xa2, &t) != 0 ||
         off != tbs.len || plain_exts(&t, req, 1) != 0)) {
        return -1;
    }
    req->err = NULL;
    return 0;
}

/*
 * Any request, read through OpenSSL's schema once request_der_check() has
 * passed: whatever the plain reader does not take, with the reason for a
 * refusal.
 */
static ocsp_resp_status_e request_schema(const unsigned char *der, size_t len,
                                         size_t max_singles,
                                         ocsp_request_t *req)
{
    OCSP_REQUEST *r = NULL;
    const unsigned char *p = der;
    ocsp_resp_status_e st = OCSP_ST_MALFORMED;
    int i, n, e;

    r = d2i_OCSP_REQUEST(NULL, &p, (long)len);
    if (r == NULL || p != der + len) {
        req->err = r ? "trailing data after the request" : "not an OCSPRequest";
        goto done;
    }
    if (request_reencodes(r, der, len) != 0) {
        req->err = "not DER: encodes back to other bytes";
        goto done;
    }
    n = OCSP_request_onereq_count(r);
    if (n <= 0) {
        req->err = "no singleRequest";
        goto done;
    }
    if ((size_t)n > max_singles) {
        req->err = "too many singleRequests";
        goto done;
    }
    for (i = 0; i < n; i++) {
        OCSP_ONEREQ *one = OCSP_request_onereq_get0(r, i);
        OCSP_CERTID *cid = OCSP_onereq_get0_id(one);
        ASN1_OCTET_STRING *nh = NULL, *kh = NULL;
        ASN1_OBJECT *alg = NULL;
        ASN1_INTEGER *serial = NULL;
        ocsp_certid_t *out = &req->singles[i];
        int h;
        size_t hl;

        if (!OCSP_id_get0_info(&nh, &alg, &kh, &serial, cid)) {
            req->err = "bad CertID";
            goto done;
        }
        if (ocsp_serial_from_asn1(serial, out->serial) != 0) {
            req->err = "serial zero, negative or longer than 20 octets";
            goto done;
        }
        h = certid_hash(alg);
        if (h < 0) {
            req->err = "CertID hash is neither SHA-1 nor SHA-256";
            st = OCSP_ST_UNAUTHORIZED;
            goto done;
        }
        out->hash = (ocsp_hash_e)h;
        hl = ocsp_hash_len(out->hash);
        if ((size_t)ASN1_STRING_length(nh) != hl ||
            (size_t)ASN1_STRING_length(kh) != hl) {
            req->err = "CertID hash length does not match its algorithm";
            goto done;
        }
        memcpy(out->name_hash, ASN1_STRING_get0_data(nh), hl);
        memcpy(out->key_hash, ASN1_STRING_get0_data(kh), hl);
        for (e = 0; e < OCSP_ONEREQ_get_ext_count(one); e++) {
            st = request_ext(OCSP_ONEREQ_get_ext(one, e), req, 0);
            if (st != OCSP_ST_SUCCESSFUL) {
                goto done;
            }
        }
        st = OCSP_ST_MALFORMED;
    }
    req->nsingles = (size_t)n;
    for (e = 0; e < OCSP_REQUEST_get_ext_count(r); e++) {
        st = request_ext(OCSP_REQUEST_get_ext(r, e), req, 1);
        if (st != OCSP_ST_SUCCESSFUL) {
            goto done;
        }
    }
    st = OCSP_ST_SUCCESSFUL;

done:
    OCSP_REQUEST_free(r);
    return st;
}

/* The checks both decoders start with: limits, then DER's forms. */
static ocsp_resp_status_e request_begin(const unsigned char *der, size_t len,
                                        const ocsp_limits_t *lim,
                                        size_t *max_singles,
                                        ocsp_request_t *req)
{
    memset(req, 0, sizeof(*req));
    *max_singles = lim->max_singles;
    if (*max_singles == 0 || *max_singles > OCSP_REQUEST_MAX_SINGLES) {
        *max_singles = OCSP_REQUEST_MAX_SINGLES;
    }
    if (len == 0 || len > lim->max_size || len > LONG_MAX) {
        req->err = len ? "request too large" : "empty request";
        return OCSP_ST_MALFORMED;
    }
    req->err = request_der_check(der, len);
    return req->err != NULL ? OCSP_ST_MALFORMED : OCSP_ST_SUCCESSFUL;
}

ocsp_resp_status_e ocsp_request_decode(const unsigned char *der, size_t len,
                                       const ocsp_limits_t *lim,
                                       ocsp_request_t *req)
{
    size_t max_singles;
    ocsp_resp_status_e st = request_begin(der, len, lim, &max_singles, req);

    if (st != OCSP_ST_SUCCESSFUL) {
        return st;
    }
    if (request_plain(der, len, max_singles, req) == 0) {
        return OCSP_ST_SUCCESSFUL;
    }
    memset(req, 0, sizeof(*req));
    return request_schema(der, len, max_singles, req);
}

ocsp_resp_status_e ocsp_request_decode_schema(const unsigned char *der,
                                              size_t len,
                                              const ocsp_limits_t *lim,
                                              ocsp_request_t *req)
{
    size_t max_singles;
    ocsp_resp_status_e st = request_begin(der, len, lim, &max_singles, req);

    return st != OCSP_ST_SUCCESSFUL
               ? st
               : request_schema(der, len, max_singles, req);
}

size_t ocsp_request_encode(const ocsp_issuer_t *iss, ocsp_hash_e hash,
                           const char *serial, unsigned char *out)
{
    der_buf_t b;
    size_t req, tbs, list, one, len = 0;

    if ((unsigned)hash >= OCSP_HASH_COUNT ||
        der_init(&b, OCSP_REQUEST_ENCODED_MAX) != 0) {
        return 0;
    }
    req = der_begin(&b, DER_SEQUENCE);  /* OCSPRequest */
    tbs = der_begin(&b, DER_SEQUENCE);  /* tbsRequest */
    list = der_begin(&b, DER_SEQUENCE); /* requestList */
    one = der_begin(&b, DER_SEQUENCE);  /* Request */
    if (ocsp_certid_write(&b, iss, hash, serial) == 0) {
        der_end(&b, one);
        der_end(&b, list);
        der_end(&b, tbs);
        der_end(&b, req);
        if (!b.err && b.len <= OCSP_REQUEST_ENCODED_MAX) {
            memcpy(out, b.p, b.len);
            len = b.len;
        }
    }
    der_free(&b);
    return len;
}
