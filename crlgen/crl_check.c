#include "crl_check.h"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "der.h"
#include "der_read.h"
#include "sign.h"
#include "log.h"
#include "publish.h"
#include "serial.h"

/* Below this many entries the CRL is also parsed and verified by OpenSSL,
 * an implementation we did not write. */
#define CRL_OPENSSL_CHECK_MAX 20000

static int crl_digits(const unsigned char *s, int n)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int crl_time(const der_tlv_t *t, int64_t *out)
{
    struct tm tm;
    const unsigned char *s = t->v;
    int y;

    memset(&tm, 0, sizeof(tm));
    if (t->tag == DER_UTC_TIME && t->len == 13 && s[12] == 'Z') {
        y = crl_digits(s, 2);
        y = y < 50 ? 2000 + y : 1900 + y;
        s += 2;
    } else if (t->tag == DER_GENERALIZED_TIME && t->len == 15 && s[14] == 'Z') {
        y = crl_digits(s, 4);
        s += 4;
    } else {
        return -1;
    }
    tm.tm_year = y - 1900;
    tm.tm_mon = crl_digits(s, 2) - 1;
    tm.tm_mday = crl_digits(s + 2, 2);
    tm.tm_hour = crl_digits(s + 4, 2);
    tm.tm_min = crl_digits(s + 6, 2);
    tm.tm_sec = crl_digits(s + 8, 2);
    if (y < 0 || tm.tm_mon < 0 || tm.tm_mday < 1 || tm.tm_hour < 0 ||
        tm.tm_min < 0 || tm.tm_sec < 0) {
        return -1;
    }
    *out = (int64_t)timegm(&tm);
    return 0;
}

static int crl_uint(const der_tlv_t *t, uint64_t *out)
{
    uint64_t v = 0;
    size_t i = 0;

    if (t->tag != DER_INTEGER || t->len == 0 || (t->v[0] & 0x80)) {
        return -1;
    }
    if (t->len > 1 && t->v[0] == 0) {
        i = 1;
    }
    if (t->len - i > 8) {
        return -1;
    }
    for (; i < t->len; i++) {
        v = (v << 8) | t->v[i];
    }
    *out = v;
    return 0;
}

static int crl_extensions(const der_tlv_t *exts, crl_parsed_t *c)
{
    static const unsigned char oid_number[] = {0x55, 0x1d, 0x14};
    static const unsigned char oid_delta[] = {0x55, 0x1d, 0x1b};
    size_t off = 0;
    der_tlv_t seq, ext, oid, v, val;

    if (der_read_expect(exts->v, exts->len, &off, DER_SEQUENCE, &seq) != 0) {
        return -1;
    }
    off = 0;
    while (off < seq.len) {
        size_t eo = 0, vo = 0;

        if (der_read_expect(seq.v, seq.len, &off, DER_SEQUENCE, &ext) != 0 ||
            der_read_expect(ext.v, ext.len, &eo, DER_OID, &oid) != 0 ||
            der_read_tlv(ext.v, ext.len, &eo, &v) != 0) {
            return -1;
        }
        if (v.tag == DER_BOOLEAN &&
            der_read_tlv(ext.v, ext.len, &eo, &v) != 0) {
            return -1;
        }
        if (v.tag != DER_OCTET_STRING) {
            return -1;
        }
        if (oid.len == 3 && memcmp(oid.v, oid_number, 3) == 0) {
            if (der_read_tlv(v.v, v.len, &vo, &val) != 0 ||
                crl_uint(&val, &c->number) != 0) {
                return -1;
            }
        } else if (oid.len == 3 && memcmp(oid.v, oid_delta, 3) == 0) {
            if (der_read_tlv(v.v, v.len, &vo, &val) != 0 ||
                crl_uint(&val, &c->base_number) != 0) {
                return -1;
            }
            c->delta = 1;
        }
    }
    return 0;
}

int crl_parse(const unsigned char *der, size_t len, crl_parsed_t *c)
{
    der_tlv_t top, tbs, t, alg, sig;
    size_t off = 0, to = 0, tbs_start;

    memset(c, 0, sizeof(*c));
    if (der_read_expect(der, len, &off, DER_SEQUENCE, &top) != 0 ||
        off != len) {
        return -1;
    }
    off = (size_t)(top.v - der);
    tbs_start = off;
    if (der_read_expect(der, len, &off, DER_SEQUENCE, &tbs) != 0 ||
        der_read_expect(der, len, &off, DER_SEQUENCE, &alg) != 0 ||
        der_read_expect(der, len, &off, DER_BIT_STRING, &sig) != 0 ||
        sig.len < 2 || sig.v[0] != 0) {
        return -1;
    }
    c->tbs = der + tbs_start;
    c->tbs_len = (size_t)(tbs.v + tbs.len - c->tbs);
    c->sig = sig.v + 1;
    c->sig_len = sig.len - 1;

    /* version, signature, issuer, thisUpdate */
    if (der_read_expect(tbs.v, tbs.len, &to, DER_INTEGER, &t) != 0 ||
        der_read_expect(tbs.v, tbs.len, &to, DER_SEQUENCE, &t) != 0 ||
        der_read_expect(tbs.v, tbs.len, &to, DER_SEQUENCE, &t) != 0 ||
        der_read_tlv(tbs.v, tbs.len, &to, &t) != 0 ||
        crl_time(&t, &c->this_update) != 0) {
        return -1;
    }
    while (to < tbs.len) {
        if (der_read_tlv(tbs.v, tbs.len, &to, &t) != 0) {
            return -1;
        }
        if (t.tag == DER_UTC_TIME || t.tag == DER_GENERALIZED_TIME) {
            if (crl_time(&t, &c->next_update) != 0) {
                return -1;
            }
        } else if (t.tag == DER_SEQUENCE) {
            c->entries = t.v;
            c->entries_len = t.len;
        } else if (t.tag == DER_CTX(0)) {
            if (crl_extensions(&t, c) != 0) {
                return -1;
            }
        } else {
            return -1;
        }
    }
    return 0;
}

/*
 * der_read_tlv() and der_read_expect() with their short-form case inline:
 * every part of a CRL entry is shorter than 128 octets, and a million
 * entries are walked once or twice per check.  The same rules: a
 * single-octet tag (not 0x1f's high-tag form), a definite short length
 * (X.690 8.1.3.4, minimal by construction) within END; anything else goes
 * to the full reader.
 */
static inline int crl_tlv(const unsigned char *p, size_t end, size_t *off,
                          der_tlv_t *t)
{
    size_t o = *off;

    if (o <= end && end - o >= 2 && (p[o] & 0x1f) != 0x1f && p[o + 1] < 0x80 &&
        p[o + 1] <= end - o - 2) {
        t->tag = p[o];
        t->len = p[o + 1];
        t->v = p + o + 2;
        *off = o + 2 + t->len;
        return 0;
    }
    return der_read_tlv(p, end, off, t);
}

static inline int crl_expect(const unsigned char *p, size_t end, size_t *off,
                             unsigned char tag, der_tlv_t *t)
{
    size_t o = *off;

    if (crl_tlv(p, end, &o, t) != 0 || t->tag != tag) {
        return -1;
    }
    *off = o;
    return 0;
}

int crl_parsed_next(const crl_parsed_t *c, size_t *pos, unsigned char *serial,
                    int *reason)
{
    der_tlv_t e, sn, t, exts, ext, oid, v, en;
    size_t eo = 0, k;

    if (c->entries == NULL || *pos >= c->entries_len) {
        return 0;
    }
    if (crl_expect(c->entries, c->entries_len, pos, DER_SEQUENCE, &e) != 0 ||
        crl_expect(e.v, e.len, &eo, DER_INTEGER, &sn) != 0 ||
        crl_tlv(e.v, e.len, &eo, &t) != 0) {
        return -1;
    }
    k = sn.len;
    if (k > 1 && sn.v[0] == 0) {
        k--;
    }
    if (k == 0 || k > CRL_SERIAL_LEN || (sn.v[0] & 0x80)) {
        return -1;
    }
    memset(serial, 0, CRL_SERIAL_LEN);
    memcpy(serial + CRL_SERIAL_LEN - k, sn.v + sn.len - k, k);
    *reason = CRL_REASON_ABSENT;
    if (eo < e.len) {
        size_t xo = 0;
        if (crl_expect(e.v, e.len, &eo, DER_SEQUENCE, &exts) != 0) {
            return -1;
        }
        while (xo < exts.len) {
            size_t io = 0, vo = 0;
            if (crl_expect(exts.v, exts.len, &xo, DER_SEQUENCE, &ext) != 0 ||
                crl_expect(ext.v, ext.len, &io, DER_OID, &oid) != 0 ||
                crl_tlv(ext.v, ext.len, &io, &v) != 0) {
                return -1;
            }
            if (v.tag == DER_BOOLEAN && crl_tlv(ext.v, ext.len, &io, &v) != 0) {
                return -1;
            }
            if (oid.len == 3 && oid.v[0] == 0x55 && oid.v[1] == 0x1d &&
                oid.v[2] == 0x15 && v.tag == DER_OCTET_STRING &&
                crl_expect(v.v, v.len, &vo, DER_ENUMERATED, &en) == 0 &&
                en.len == 1) {
                *reason = en.v[0];
            }
        }
    }
    return 1;
}

/*
 * The signature's check with the algorithm the CA's key signs with
 * (sign.h), fed the TBS in order as the entries are walked
 * (crl_verify_update()), so that the new CRL is read once.  Algorithms that
 * cannot stream (Ed25519) verify the whole TBS at the end.
 */
typedef struct {
    ocsp_sig_verify_t sv;
    ocsp_sig_alg_e alg;
    int streams;
    size_t done; /* octets of the TBS hashed */
} crl_verify_t;

static int crl_verify_begin(crl_verify_t *v, const crl_signer_t *s)
{
    memset(v, 0, sizeof(*v));
    v->alg = s->sig_alg;
    v->streams = ocsp_sig_alg_streams(s->sig_alg);
    return v->streams ? ocsp_sig_verify_begin(&v->sv, s->pub, s->sig_alg) : 0;
}

/* Hashes the TBS of c up to TO octets. */
static int crl_verify_update(crl_verify_t *v, const crl_parsed_t *c, size_t to)
{
    if (!v->streams || to <= v->done) {
        return 0;
    }
    if (ocsp_sig_verify_update(&v->sv, c->tbs + v->done, to - v->done) != 0) {
        return -1;
    }
    v->done = to;
    return 0;
}

static int crl_verify_final(crl_verify_t *v, const crl_signer_t *s,
                            const crl_parsed_t *c)
{
    if (v->streams) {
        return crl_verify_update(v, c, c->tbs_len) == 0 &&
                       ocsp_sig_verify_end(&v->sv, c->sig, c->sig_len) == 0
                   ? 0
                   : -1;
    }
    return ocsp_sig_verify(s->pub, v->alg, c->sig, c->sig_len, c->tbs,
                           c->tbs_len);
}

static void crl_verify_free(crl_verify_t *v)
{
    ocsp_sig_verify_free(&v->sv);
}

/* OpenSSL's own parse and verify, for CRLs small enough to afford it. */
static int crl_verify_openssl(const crl_signer_t *s, const unsigned char *der,
                              size_t len, char *err)
{
    const unsigned char *p = der;
    X509_CRL *crl = d2i_X509_CRL(NULL, &p, (long)len);
    int ok = crl != NULL && p == der + len && X509_CRL_verify(crl, s->pub) == 1;

    X509_CRL_free(crl);
    ERR_clear_error();
    if (!ok) {
        snprintf(err, OCSP_ERR_MAX, "OpenSSL rejects the CRL");
        return -1;
    }
    return 0;
}

/* A serial of PREV missing from the new CRL: only a released hold or an
 * expired entry may leave. */
static int crl_check_left(const unsigned char *ps, int preason,
                          const crl_entries_t *expired, char *err)
{
    unsigned char d[CRL_SERIAL_LEN + 1];
    char hex[2 * CRL_SERIAL_LEN + 1];

    if (preason == CRL_REASON_HOLD || crl_entries_find(expired, ps) != NULL) {
        return 0;
    }
    if (ocsp_serial_from_der(d, ocsp_serial_fixed_to_der(ps, d), hex) != 0) {
        snprintf(hex, sizeof(hex), "?");
    }
    snprintf(err, OCSP_ERR_MAX,
             "serial %s is on the published CRL but not on the new one, and "
             "has not expired",
             hex);
    return -1;
}

/* What of a mapping is compared before its pages are let go. */
#define CRL_CHECK_STEP ((size_t)1 << 20)

int crl_check(const crl_signer_t *s, const unsigned char *der, size_t len,
              int der_mapped, const unsigned char *prev, size_t prev_len,
              int prev_mapped, int complete, const crl_entries_t *expired,
              char *err)
{
    crl_parsed_t c, p;
    crl_verify_t vf;
    unsigned char ns[CRL_SERIAL_LEN], last[CRL_SERIAL_LEN], ps[CRL_SERIAL_LEN];
    size_t npos = 0, ppos = 0, count = 0, released = 0, at;
    int nr, pr = 0, nreason, preason = 0, rv = -1;

    if (crl_parse(der, len, &c) != 0) {
        snprintf(err, OCSP_ERR_MAX, "the new CRL does not parse");
        return -1;
    }
    if (crl_verify_begin(&vf, s) != 0) {
        crl_verify_free(&vf);
        snprintf(err, OCSP_ERR_MAX, "EVP_DigestVerifyInit failed");
        return -1;
    }
    if (prev == NULL || crl_parse(prev, prev_len, &p) != 0) {
        /* Nothing (readable) published before: nothing to compare.  Said
         * out loud: an unreadable published CRL disables the checks
         * against it (the CRL numbers still come from Redis). */
        if (prev != NULL) {
            ocsp_log(OCSP_LOG_WARN,
                     "published CRL unreadable action=\"replaced without "
                     "comparing\"");
        }
        p.entries = NULL;
        p.number = 0;
        p.this_update = INT64_MIN;
    }
    if (prev != NULL && c.number <= p.number) {
        snprintf(err, OCSP_ERR_MAX,
                 "cRLNumber %llu is not newer than the published %llu",
                 (unsigned long long)c.number, (unsigned long long)p.number);
        goto done;
    }
    if (prev != NULL && c.this_update <= p.this_update) {
        snprintf(err, OCSP_ERR_MAX,
                 "thisUpdate %lld is not newer than the published %lld",
                 (long long)c.this_update, (long long)p.this_update);
        goto done;
    }

    /* One pass over the new CRL: every entry well-formed, in strictly
     * increasing serial order, merged with the published one's (nothing
     * revoked may disappear), and the signed bytes hashed behind. */
    if (complete && prev != NULL && p.entries != NULL) {
        pr = crl_parsed_next(&p, &ppos, ps, &preason);
    }
    while ((nr = crl_parsed_next(&c, &npos, ns, &nreason)) > 0) {
        if (count++ > 0 && memcmp(last, ns, CRL_SERIAL_LEN) >= 0) {
            snprintf(err, OCSP_ERR_MAX, "the new CRL is not sorted");
            goto done;
        }
        memcpy(last, ns, CRL_SERIAL_LEN);
        while (pr > 0 && memcmp(ps, ns, CRL_SERIAL_LEN) < 0) {
            if (crl_check_left(ps, preason, expired, err) != 0) {
                goto done;
            }
            pr = crl_parsed_next(&p, &ppos, ps, &preason);
        }
        if (pr > 0 && memcmp(ps, ns, CRL_SERIAL_LEN) == 0) {
            pr = crl_parsed_next(&p, &ppos, ps, &preason);
        }
        at = (size_t)(c.entries + npos - c.tbs);
        if (at - vf.done >= CRL_CHECK_STEP) {
            if (crl_verify_update(&vf, &c, at) != 0) {
                break; /* reported below */
            }
            if (der_mapped && vf.streams) {
                crl_map_release(der, (size_t)(c.tbs - der) + at);
            }
        }
        if (prev_mapped && ppos - released >= CRL_CHECK_STEP) {
            /* what was compared may leave memory */
            crl_map_release(prev, (size_t)(p.entries - prev) + ppos);
            released = ppos;
        }
    }
    if (nr < 0) {
        snprintf(err, OCSP_ERR_MAX, "the new CRL has a malformed entry");
        goto done;
    }
    while (pr > 0) {
        if (crl_check_left(ps, preason, expired, err) != 0) {
            goto done;
        }
        pr = crl_parsed_next(&p, &ppos, ps, &preason);
    }
    if (crl_verify_final(&vf, s, &c) != 0) {
        snprintf(err, OCSP_ERR_MAX,
                 "the signature does not verify with the CA certificate");
        goto done;
    }
    if (count < CRL_OPENSSL_CHECK_MAX &&
        crl_verify_openssl(s, der, len, err) != 0) {
        goto done;
    }
    rv = 0;

done:
    crl_verify_free(&vf);
    return rv;
}
