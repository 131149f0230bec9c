#include "stored.h"

#include <string.h>

#include "der.h"
#include "der_read.h"

/* id-pkix-ocsp-basic, RFC 6960 4.2.1, as a whole TLV. */
static const unsigned char oid_ocsp_basic[] = {
    0x06, 0x09, 0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

static void put_u16(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 8);
    p[1] = (unsigned char)v;
}

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
    size_t n = OCSP_STORED_HEADER;

    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        n += 2 + st->resp_len[h];
    }
    return n;
}

size_t ocsp_stored_encode(const ocsp_stored_t *st, unsigned char *out,
                          size_t cap)
{
    size_t n = ocsp_stored_size(st), o;

    if (n > cap || (unsigned)st->status > OCSP_CERT_UNKNOWN ||
        st->this_update >= st->next_update) {
        return 0;
    }
    out[0] = OCSP_STORED_VERSION;
    out[1] = (unsigned char)st->status;
    put_i64(out + 2, st->this_update);
    put_i64(out + 10, st->next_update);
    o = OCSP_STORED_HEADER;
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        if (st->resp_len[h] > 0xffff) {
            return 0;
        }
        put_u16(out + o, st->resp_len[h]);
        memcpy(out + o + 2, st->resp[h], st->resp_len[h]);
        o += 2 + st->resp_len[h];
    }
    return o;
}

int ocsp_stored_decode(const unsigned char *p, size_t len, ocsp_stored_t *st,
                       const char **why)
{
    size_t o;

    if (len < OCSP_STORED_HEADER) {
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
    o = OCSP_STORED_HEADER;
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        size_t n;

        if (len - o < 2) {
            *why = "truncated";
            return -1;
        }
        n = (size_t)p[o] << 8 | p[o + 1];
        o += 2;
        if (n == 0 || n > len - o) {
            *why = "truncated";
            return -1;
        }
        st->resp[h] = p + o;
        st->resp_len[h] = n;
        o += n;
    }
    if (o != len) {
        *why = "bytes after the responses";
        return -1;
    }
    return 0;
}

/*
 * The stored OCSPResponse at P (LEN bytes), strictly: RFC 6960 4.2.1 down
 * to the BasicOCSPResponse, whose contents (tbsResponseData,
 * signatureAlgorithm, signature, no certs) it returns in *basic; and the
 * ResponderID byKey in *key_id (20 bytes).
 */
static int stored_parse(const unsigned char *p, size_t len, der_tlv_t *basic,
                        const unsigned char **key_id, const char **why)
{
    der_tlv_t resp, status, bytes, rb, oid, octets, tbs, alg, sig, rid, kh;
    size_t o = 0, end;

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
        der_read_expect(rb.v, rb.len, &o, DER_OID, &oid) != 0 ||
        (size_t)(oid.v + oid.len - rb.v) != sizeof(oid_ocsp_basic) ||
        memcmp(rb.v, oid_ocsp_basic, sizeof(oid_ocsp_basic)) != 0 ||
        der_read_expect(rb.v, rb.len, &o, DER_OCTET_STRING, &octets) != 0 ||
        o != rb.len ||
        der_read_whole(octets.v, octets.len, DER_SEQUENCE, basic) != 0) {
        return -1;
    }
    o = 0;
    end = basic->len;
    if (der_read_expect(basic->v, end, &o, DER_SEQUENCE, &tbs) != 0 ||
        der_read_expect(basic->v, end, &o, DER_SEQUENCE, &alg) != 0 ||
        der_read_expect(basic->v, end, &o, DER_BIT_STRING, &sig) != 0) {
        return -1;
    }
    if (o != end) {
        *why = "certs in a stored response";
        return -1;
    }
    /* RFC 6960 4.2.1: version [0] is DEFAULT v1, left out in DER
     * (X.690 11.5), so the ResponderID comes first. */
    o = 0;
    if (der_read_expect(tbs.v, tbs.len, &o, DER_CTX(2), &rid) != 0 ||
        der_read_whole(rid.v, rid.len, DER_OCTET_STRING, &kh) != 0 ||
        kh.len != 20) {
        *why = "ResponderID not byKey";
        return -1;
    }
    *key_id = kh.v;
    return 0;
}

/* A header of TAG and LEN at OUT; returns its size. */
static size_t put_header(unsigned char *out, unsigned char tag, size_t len)
{
    out[0] = tag;
    return 1 + der_len_octets(len, out + 1);
}

/* The size of the header of a value of LEN bytes. */
static size_t header_size(size_t len)
{
    unsigned char scratch[8];

    return 1 + der_len_octets(len, scratch);
}

size_t ocsp_stored_full(const ocsp_issuer_t *iss, const unsigned char *resp,
                        size_t len, unsigned char *out, size_t cap,
                        const char **why)
{
    der_tlv_t basic;
    const unsigned char *key_id;
    size_t list, certs, basic_c, octets_c, rb_c, bytes_c, resp_c, total, o;

    if (stored_parse(resp, len, &basic, &key_id, why) != 0) {
        return 0;
    }
    if (memcmp(key_id, iss->responder_key_id, 20) != 0) {
        *why = "signed by another responder key than the configured one";
        return 0;
    }
    if (iss->responder_der == NULL) {
        /* The CA signs for itself: no certs (RFC 6960 4.2.2.2). */
        if (len > cap) {
            *why = "no room";
            return 0;
        }
        memcpy(out, resp, len);
        return len;
    }

    /* The lengths, innermost first. */
    list = iss->responder_der_len;    /* SEQUENCE OF */
    certs = header_size(list) + list; /* [0] EXPLICIT */
    basic_c = basic.len + header_size(certs) + certs;
    octets_c = header_size(basic_c) + basic_c; /* the OCTET STRING */
    rb_c = sizeof(oid_ocsp_basic) + header_size(octets_c) + octets_c;
    bytes_c = header_size(rb_c) + rb_c;          /* [0] EXPLICIT */
    resp_c = 3 + header_size(bytes_c) + bytes_c; /* status, responseBytes */
    total = header_size(resp_c) + resp_c;
    if (total > cap) {
        *why = "no room";
        return 0;
    }

    /* Then written outermost first. */
    o = put_header(out, DER_SEQUENCE, resp_c);
    memcpy(out + o, "\x0a\x01\x00", 3); /* successful */
    o += 3;
    o += put_header(out + o, DER_CTX(0), bytes_c);
    o += put_header(out + o, DER_SEQUENCE, rb_c);
    memcpy(out + o, oid_ocsp_basic, sizeof(oid_ocsp_basic));
    o += sizeof(oid_ocsp_basic);
    o += put_header(out + o, DER_OCTET_STRING, octets_c);
    o += put_header(out + o, DER_SEQUENCE, basic_c);
    memcpy(out + o, basic.v, basic.len); /* tbs, algorithm, signature */
    o += basic.len;
    o += put_header(out + o, DER_CTX(0), certs);
    o += put_header(out + o, DER_SEQUENCE, list);
    memcpy(out + o, iss->responder_der, iss->responder_der_len);
    o += iss->responder_der_len;
    return o;
}
