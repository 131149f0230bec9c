#include "response.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "der.h"
#include "serial.h"

/* AlgorithmIdentifiers of the CertID hashes, parameters NULL. */
static const unsigned char certid_alg[OCSP_HASH_COUNT][16] = {
    {0x30, 0x09, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x1a, 0x05, 0x00},
    {0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
     0x01, 0x05, 0x00}};
static const size_t certid_alg_len[OCSP_HASH_COUNT] = {11, 15};

const unsigned char *ocsp_certid_alg(ocsp_hash_e hash, size_t *len)
{
    *len = certid_alg_len[hash];
    return certid_alg[hash];
}

int ocsp_certid_write(der_buf_t *b, const ocsp_issuer_t *iss, ocsp_hash_e hash,
                      const char *serial)
{
    unsigned char octets[OCSP_SERIAL_MAX_OCTETS + 1];
    size_t certid, hl = ocsp_hash_len(hash);
    int slen = ocsp_serial_to_der(serial, octets);

    if (slen < 0) {
        return -1;
    }
    certid = der_begin(b, DER_SEQUENCE);
    der_raw(b, certid_alg[hash], certid_alg_len[hash]);
    der_tlv(b, DER_OCTET_STRING, iss->name_hash[hash], hl);
    der_tlv(b, DER_OCTET_STRING, iss->key_hash[hash], hl);
    der_tlv(b, DER_INTEGER, octets, (size_t)slen);
    der_end(b, certid);
    return 0;
}

/* id-pkix-ocsp-basic, RFC 6960 4.2.1. */
static const unsigned char oid_ocsp_basic[] = {
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};
/* id-pkix-ocsp-nonce, RFC 6960 4.4.1. */
static const unsigned char oid_ocsp_nonce[] = {
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};

/* RFC 6960 4.2.1 SingleResponse. */
static int write_single(der_buf_t *b, const ocsp_issuer_t *iss,
                        const ocsp_single_t *s)
{
    size_t single, st, nu, rr;

    single = der_begin(b, DER_SEQUENCE);
    if (ocsp_certid_write(b, iss, s->hash, s->serial) != 0) {
        return -1;
    }

    switch (s->status) {
    case OCSP_CERT_GOOD:
        der_tlv(b, DER_CTX_PRIM(0), NULL, 0); /* good [0] IMPLICIT NULL */
        break;
    case OCSP_CERT_REVOKED:
        st = der_begin(b, DER_CTX(1)); /* revoked [1] IMPLICIT RevokedInfo */
        der_gentime(b, s->revocation_time);
        if (s->reason != OCSP_REASON_NONE) {
            unsigned char r = (unsigned char)s->reason;
            rr = der_begin(b, DER_CTX(0)); /* [0] EXPLICIT CRLReason */
            der_tlv(b, DER_ENUMERATED, &r, 1);
            der_end(b, rr);
        }
        der_end(b, st);
        break;
    default:
        der_tlv(b, DER_CTX_PRIM(2), NULL, 0); /* unknown [2] IMPLICIT NULL */
        break;
    }
    der_gentime(b, s->this_update);
    nu = der_begin(b, DER_CTX(0)); /* nextUpdate [0] EXPLICIT */
    der_gentime(b, s->next_update);
    der_end(b, nu);
    der_end(b, single);
    return 0;
}

/* RFC 6960 4.2.1 ResponseData, version v1 left out (DEFAULT). */
static int write_tbs(der_buf_t *b, const ocsp_issuer_t *iss,
                     const ocsp_single_t *s)
{
    size_t tbs, rid, list, exts, ext_list, ext, val;

    tbs = der_begin(b, DER_SEQUENCE);
    rid = der_begin(b, DER_CTX(2)); /* byKey [2] KeyHash */
    der_tlv(b, DER_OCTET_STRING, iss->responder_key_id, 20);
    der_end(b, rid);
    der_gentime(b, s->produced_at);
    list = der_begin(b, DER_SEQUENCE);
    if (write_single(b, iss, s) != 0) {
        return -1;
    }
    der_end(b, list);
    if (s->nonce != NULL && s->nonce_len > 0) {
        exts = der_begin(b, DER_CTX(1)); /* responseExtensions [1] */
        ext_list = der_begin(b, DER_SEQUENCE);
        ext = der_begin(b, DER_SEQUENCE);
        der_raw(b, oid_ocsp_nonce, sizeof(oid_ocsp_nonce));
        /* RFC 9654 2.1: extnValue holds the DER of an OCTET STRING. */
        val = der_begin(b, DER_OCTET_STRING);
        der_tlv(b, DER_OCTET_STRING, s->nonce, s->nonce_len);
        der_end(b, val);
        der_end(b, ext);
        der_end(b, ext_list);
        der_end(b, exts);
    }
    der_end(b, tbs);
    return b->err ? -1 : 0;
}

/* The TBS signed with the issuer's key (sign.h: the algorithm follows the
 * key; the reason of a failure stays on the key). */
static int sign_tbs(const ocsp_issuer_t *iss, const unsigned char *tbs,
                    size_t tbs_len, unsigned char *sig, size_t *sig_len)
{
    return ocsp_sign(iss->key, tbs, tbs_len, sig, sig_len);
}

int ocsp_response_sign(const ocsp_issuer_t *iss, const ocsp_single_t *s,
                       unsigned char **out, size_t *outlen)
{
    der_buf_t b;
    /* the BIT STRING's unused-bits octet, then the signature */
    unsigned char sig[1 + OCSP_SIG_MAX];
    const unsigned char *alg;
    size_t alg_len;
    size_t sig_len = sizeof(sig) - 1;
    size_t resp, bytes, octets, basic, tbs_start, tbs_len, bits, certs, list;
    size_t seq;

    if (iss->key == NULL || (unsigned)s->hash >= OCSP_HASH_COUNT) {
        return -1;
    }
    if (der_init(&b, 512 + iss->responder_der_len) != 0) {
        return -1;
    }
    /* OCSPResponse (RFC 6960 4.2.1) wrapping the BasicOCSPResponse. */
    resp = der_begin(&b, DER_SEQUENCE);
    der_tlv(&b, DER_ENUMERATED, "\0", 1); /* successful */
    bytes = der_begin(&b, DER_CTX(0));
    seq = der_begin(&b, DER_SEQUENCE);
    der_raw(&b, oid_ocsp_basic, sizeof(oid_ocsp_basic));
    octets = der_begin(&b, DER_OCTET_STRING);
    basic = der_begin(&b, DER_SEQUENCE);
    tbs_start = b.len;
    if (write_tbs(&b, iss, s) != 0) {
        goto failed;
    }
    tbs_len = b.len - tbs_start;
    if (sign_tbs(iss, b.p + tbs_start, tbs_len, sig + 1, &sig_len) != 0) {
        goto failed;
    }
    alg = ocsp_sign_key_alg_der(iss->key, &alg_len);
    der_raw(&b, alg, alg_len); /* signatureAlgorithm (sign.h) */
    sig[0] = 0;                /* BIT STRING: no unused bits */
    bits = der_begin(&b, DER_BIT_STRING);
    der_raw(&b, sig, sig_len + 1);
    der_end(&b, bits);
    if (iss->responder_der != NULL && !s->no_certs) {
        /* RFC 6960 4.2.2.2: a delegated responder sends its certificate;
         * the CA signing for itself sends none (issuer.h).  The stored
         * form leaves it to the reader (stored.h). */
        certs = der_begin(&b, DER_CTX(0)); /* certs [0] EXPLICIT SEQUENCE */
        list = der_begin(&b, DER_SEQUENCE);
        der_raw(&b, iss->responder_der, iss->responder_der_len);
        der_end(&b, list);
        der_end(&b, certs);
    }
    der_end(&b, basic);
    der_end(&b, octets);
    der_end(&b, seq);
    der_end(&b, bytes);
    der_end(&b, resp);
    if (b.err) {
        goto failed;
    }
    *out = der_take(&b, outlen);
    return 0;

failed:
    der_free(&b);
    return -1;
}

const unsigned char *ocsp_response_error(ocsp_resp_status_e status, size_t *len)
{
    /* RFC 6960 4.2.1: an error status carries no responseBytes. */
    static const unsigned char resp[7][5] = {
        {0x30, 0x03, 0x0a, 0x01, 0x00}, {0x30, 0x03, 0x0a, 0x01, 0x01},
        {0x30, 0x03, 0x0a, 0x01, 0x02}, {0x30, 0x03, 0x0a, 0x01, 0x03},
        {0x30, 0x03, 0x0a, 0x01, 0x04}, {0x30, 0x03, 0x0a, 0x01, 0x05},
        {0x30, 0x03, 0x0a, 0x01, 0x06}};

    if ((unsigned)status > OCSP_ST_UNAUTHORIZED ||
        status == OCSP_ST_SUCCESSFUL || (unsigned)status == 4) {
        status = OCSP_ST_INTERNAL_ERROR;
    }
    *len = sizeof(resp[0]);
    return resp[status];
}
