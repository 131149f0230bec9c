#include "crl_build.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"
#include "crl_mem.h"
#include "der.h"
#include "issuer.h"
#include "policy.h"
#include "sign.h"

/* OID contents (X.690 8.19) */
static const unsigned char oid_aki[] = {0x55, 0x1d, 0x23};
static const unsigned char oid_crl_number[] = {0x55, 0x1d, 0x14};
static const unsigned char oid_delta_indicator[] = {0x55, 0x1d, 0x1b};
static const unsigned char oid_idp[] = {0x55, 0x1d, 0x1c};
static const unsigned char oid_freshest[] = {0x55, 0x1d, 0x2e};

static void crl_ossl_err(char *err, const char *what)
{
    unsigned long e = ERR_get_error();
    char buf[256];

    ERR_error_string_n(e, buf, sizeof(buf));
    snprintf(err, OCSP_ERR_MAX, "%s: %s", what, e ? buf : "failed");
    ERR_clear_error();
}

int crl_signer_load(crl_signer_t *s, const char *cert_path,
                    const char *key_path, const ocsp_issuer_conf_t *ic,
                    const ocsp_pkcs11_conf_t *p11, int *token_error, char *err)
{
    unsigned char *p;
    const unsigned char *alg;
    const ASN1_OCTET_STRING *skid;
    unsigned int mdlen;
    int len, unreadable, pss = ic != NULL && ic->rsa_pss;
    ocsp_sign_err_t e;
    ocsp_sig_alg_e sig_alg;
    const char *why = NULL;

    if (token_error != NULL) {
        *token_error = 0;
    }
    memset(s, 0, sizeof(*s));
    /* PEM or DER, by the loaders the responder uses too */
    s->cert = ocsp_cert_load(cert_path, &unreadable);
    if (s->cert == NULL) {
        snprintf(err, OCSP_ERR_MAX, "%s: %s", cert_path,
                 unreadable ? "cannot open the CA certificate"
                            : "no certificate in it (PEM or DER)");
        goto failed;
    }
    s->pub = X509_get0_pubkey(s->cert);
    if (s->pub == NULL) {
        crl_ossl_err(err, cert_path);
        goto failed;
    }
    if ((X509_get_extension_flags(s->cert) & EXFLAG_KUSAGE) &&
        !(X509_get_key_usage(s->cert) & KU_CRL_SIGN)) {
        snprintf(err, OCSP_ERR_MAX,
                 "%s: keyUsage lacks cRLSign (RFC 5280 4.2.1.3)", cert_path);
        goto failed;
    }
    /* The certificate's key decides the algorithm (sign.h), so a CRL
     * checked without the private key names the same one. */
    sig_alg = ocsp_sig_alg_of(s->pub, pss, &why);
    if (sig_alg == OCSP_SIG_NONE) {
        snprintf(err, OCSP_ERR_MAX, "%s: %s", cert_path, why);
        goto failed;
    }
    if (key_path != NULL) {
        s->key = ocsp_sign_key_load(key_path, s->cert, pss ? OCSP_SIGN_PSS : 0,
                                    p11, &e);
        if (s->key == NULL) {
            if (token_error != NULL) {
                *token_error = e.status == OCSP_SIGN_ETOKEN;
            }
            snprintf(err, OCSP_ERR_MAX, "CA key: %.480s", e.msg);
            goto failed;
        }
        why = ocsp_profile_refuses_key(ic != NULL ? ic->profile
                                                  : OCSP_PROFILE_PRIVATE,
                                       sig_alg, ocsp_sign_key_bits(s->key));
        if (why != NULL) {
            snprintf(err, OCSP_ERR_MAX, "%s: CA key: %s (%s, %d bits)",
                     cert_path, why, ocsp_sig_alg_name(sig_alg),
                     ocsp_sign_key_bits(s->key));
            goto failed;
        }
    }
    s->sig_alg = sig_alg;
    alg = ocsp_sig_alg_der(sig_alg, &s->alg_len);
    memcpy(s->alg, alg, s->alg_len);

    p = NULL;
    len = i2d_X509_NAME(X509_get_subject_name(s->cert), &p);
    if (len <= 0) {
        crl_ossl_err(err, cert_path);
        goto failed;
    }
    s->name = p;
    s->name_len = (size_t)len;

    /* RFC 5280 5.2.1: the AKI keyIdentifier is the CA's own SKI. */
    skid = X509_get0_subject_key_id(s->cert);
    if (skid != NULL && ASN1_STRING_length(skid) > 0 &&
        (size_t)ASN1_STRING_length(skid) <= sizeof(s->key_id)) {
        s->key_id_len = (size_t)ASN1_STRING_length(skid);
        memcpy(s->key_id, ASN1_STRING_get0_data(skid), s->key_id_len);
    } else {
        if (X509_pubkey_digest(s->cert, EVP_sha1(), s->key_id, &mdlen) != 1) {
            crl_ossl_err(err, cert_path);
            goto failed;
        }
        s->key_id_len = mdlen; /* RFC 5280 4.2.1.2 method (1) */
    }
    return 0;

failed:
    crl_signer_free(s);
    return -1;
}

void crl_signer_free(crl_signer_t *s)
{
    X509_free(s->cert);
    ocsp_sign_key_free(s->key);
    OPENSSL_free(s->name);
    memset(s, 0, sizeof(*s));
}

int crl_signer_streams(const crl_signer_t *s)
{
    return ocsp_sig_alg_streams(s->sig_alg);
}

/*
 * The one place a CRL is signed (RFC 5280 5.1.1.3): by the CA key S
 * (sign.h: its algorithm, a token's failure retried by the caller, which
 * publishes nothing unsigned), over the DER TBSCertList.  Either streamed,
 * the TBS fed piece by piece as it is encoded (crl_sign_begin(),
 * crl_sign_update(), crl_sign_final()), or in one shot over the whole TBS
 * (crl_sign_tbs()), which algorithms that cannot stream need.  SIG has
 * room for crl_sign_max(s) octets; *siglen is the signature value's length
 * (the BIT STRING's content after its unused-bits octet).
 */
static size_t crl_sign_max(const crl_signer_t *s)
{
    return ocsp_sign_key_max(s->key);
}

static void crl_sign_err(const crl_signer_t *s, char *err)
{
    snprintf(err, OCSP_ERR_MAX, "signing the CRL: %.480s",
             ocsp_sign_key_err(s->key)->msg);
}

static int crl_sign_tbs(const crl_signer_t *s, const unsigned char *tbs,
                        size_t len, unsigned char *sig, size_t *siglen,
                        char *err)
{
    *siglen = crl_sign_max(s);
    if (ocsp_sign(s->key, tbs, len, sig, siglen) != 0) {
        crl_sign_err(s, err);
        return -1;
    }
    return 0;
}

static ocsp_sign_key_t *crl_sign_begin(const crl_signer_t *s, char *err)
{
    if (ocsp_sign_begin(s->key) != 0) {
        crl_sign_err(s, err);
        return NULL;
    }
    return s->key;
}

static int crl_sign_update(ocsp_sign_key_t *key, const void *p, size_t len,
                           char *err)
{
    if (len > 0 && ocsp_sign_update(key, p, len) != 0) {
        snprintf(err, OCSP_ERR_MAX, "signing the CRL: %.480s",
                 ocsp_sign_key_err(key)->msg);
        return -1;
    }
    return 0;
}

static int crl_sign_final(const crl_signer_t *s, ocsp_sign_key_t *key,
                          unsigned char *sig, size_t *siglen, char *err)
{
    *siglen = crl_sign_max(s);
    if (ocsp_sign_end(key, sig, siglen) != 0) {
        crl_sign_err(s, err);
        return -1;
    }
    return 0;
}

/* One revokedCertificates element (RFC 5280 5.1.2.6, 5.3).  Every part is
 * shorter than 128 octets, so lengths are single octets. */
static void crl_entry_der(der_buf_t *b, const crl_entry_t *e, int delta,
                          der_days_t *days)
{
    unsigned char buf[128], ext[64];
    size_t n = 2, x = 0, sl;

    buf[n++] = DER_INTEGER;
    sl = ocsp_serial_fixed_to_der(e->serial, buf + n + 1);
    buf[n++] = (unsigned char)sl;
    n += sl;
    n += der_time_put(buf + n, e->revoked_at, 0, days);

    if (e->reason != CRL_REASON_ABSENT &&
        (e->reason != CRL_REASON_REMOVE || delta)) {
        /* RFC 5280 5.3.1: reasonCode (2.5.29.21), absent rather than
         * unspecified. */
        static const unsigned char hdr[] = {
            0x30, 0x0a,           DER_OID, 0x03,
            0x55, 0x1d,           0x15,    DER_OCTET_STRING,
            0x03, DER_ENUMERATED, 0x01};
        memcpy(ext + x, hdr, sizeof(hdr));
        x += sizeof(hdr);
        ext[x++] = e->reason;
    }
    if (e->invalidity > 0 && e->reason != CRL_REASON_REMOVE) {
        /* RFC 5280 5.3.2: invalidityDate (2.5.29.24), GeneralizedTime */
        static const unsigned char hdr[] = {
            0x30, 0x18, DER_OID,          0x03, 0x55,
            0x1d, 0x18, DER_OCTET_STRING, 0x11};
        memcpy(ext + x, hdr, sizeof(hdr));
        x += sizeof(hdr);
        x += der_time_put(ext + x, e->invalidity, 1, days);
    }
    if (x > 0) {
        buf[n++] = DER_SEQUENCE;
        buf[n++] = (unsigned char)x;
        memcpy(buf + n, ext, x);
        n += x;
    }
    buf[0] = DER_SEQUENCE;
    buf[1] = (unsigned char)(n - 2);
    der_raw(b, buf, n);
}

int crl_dp_name(const char *url, unsigned char *out, size_t cap, size_t *outlen)
{
    der_buf_t b;
    size_t m0, m1;

    if (der_init(&b, 64 + strlen(url)) != 0) {
        return -1;
    }
    m0 = der_begin(&b, DER_CTX(0));                 /* distributionPoint */
    m1 = der_begin(&b, DER_CTX(0));                 /* fullName GeneralNames */
    der_tlv(&b, DER_CTX_PRIM(6), url, strlen(url)); /* URI */
    der_end(&b, m1);
    der_end(&b, m0);
    if (b.err || b.len > cap) {
        der_free(&b);
        return -1;
    }
    memcpy(out, b.p, b.len);
    *outlen = b.len;
    der_free(&b);
    return 0;
}

/* Extension ::= SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }.
 * Returns the mark of the extnValue OCTET STRING for crl_ext_end(). */
static size_t crl_ext_begin(der_buf_t *b, const unsigned char *oid,
                            size_t oidlen, int critical, size_t *outer)
{
    static const unsigned char t[] = {0xff};

    *outer = der_begin(b, DER_SEQUENCE);
    der_tlv(b, DER_OID, oid, oidlen);
    if (critical) {
        der_tlv(b, DER_BOOLEAN, t, 1);
    }
    return der_begin(b, DER_OCTET_STRING);
}

static void crl_ext_end(der_buf_t *b, size_t inner, size_t outer)
{
    der_end(b, inner);
    der_end(b, outer);
}

static int crl_dp_ext(der_buf_t *b, const char *url)
{
    unsigned char dp[CRL_DP_MAX];
    size_t len;

    if (crl_dp_name(url, dp, sizeof(dp), &len) != 0) {
        return -1;
    }
    der_raw(b, dp, len);
    return 0;
}

/* Length of what crl_entry_der() writes for E, so that the big SEQUENCE
 * headers are written once, in place, never moved. */
static size_t crl_entry_len(const crl_entry_t *e, int delta)
{
    size_t k = 0, sl, x = 0, t;

    while (k < CRL_SERIAL_LEN - 1 && e->serial[k] == 0) {
        k++;
    }
    sl = CRL_SERIAL_LEN - k + ((e->serial[k] & 0x80) != 0);
    t = der_time_len(e->revoked_at, 0);
    if (e->reason != CRL_REASON_ABSENT &&
        (e->reason != CRL_REASON_REMOVE || delta)) {
        x += 12;
    }
    if (e->invalidity > 0 && e->reason != CRL_REASON_REMOVE) {
        x += 26;
    }
    return 2 + 2 + sl + t + (x ? 2 + x : 0);
}

/* The [0] crlExtensions of p (RFC 5280 5.2) into e. */
static int crl_extensions_der(der_buf_t *b, const crl_signer_t *s,
                              const crl_params_t *p, char *err)
{
    size_t x, m, mi, mo, ms;

    x = der_begin(b, DER_CTX(0));
    m = der_begin(b, DER_SEQUENCE);

    /* RFC 5280 5.2.1 */
    mi = crl_ext_begin(b, oid_aki, sizeof(oid_aki), 0, &mo);
    ms = der_begin(b, DER_SEQUENCE);
    der_tlv(b, DER_CTX_PRIM(0), s->key_id, s->key_id_len);
    der_end(b, ms);
    crl_ext_end(b, mi, mo);

    /* RFC 5280 5.2.3 */
    mi = crl_ext_begin(b, oid_crl_number, sizeof(oid_crl_number), 0, &mo);
    der_uint(b, p->number);
    crl_ext_end(b, mi, mo);

    if (p->kind == CRL_KIND_DELTA) {
        /* RFC 5280 5.2.4: critical */
        mi = crl_ext_begin(b, oid_delta_indicator, sizeof(oid_delta_indicator),
                           1, &mo);
        der_uint(b, p->base_number);
        crl_ext_end(b, mi, mo);
    }
    if (p->kind == CRL_KIND_SHARD && p->idp_url != NULL) {
        /* RFC 5280 5.2.5: critical */
        mi = crl_ext_begin(b, oid_idp, sizeof(oid_idp), 1, &mo);
        ms = der_begin(b, DER_SEQUENCE);
        if (crl_dp_ext(b, p->idp_url) != 0) {
            snprintf(err, OCSP_ERR_MAX, "IDP URL too long");
            return -1;
        }
        der_end(b, ms);
        crl_ext_end(b, mi, mo);
    }
    if (p->kind == CRL_KIND_FULL && p->freshest_url != NULL) {
        /* RFC 5280 5.2.6: non-critical, CRLDistributionPoints syntax */
        size_t md;
        mi = crl_ext_begin(b, oid_freshest, sizeof(oid_freshest), 0, &mo);
        ms = der_begin(b, DER_SEQUENCE);
        md = der_begin(b, DER_SEQUENCE);
        if (crl_dp_ext(b, p->freshest_url) != 0) {
            snprintf(err, OCSP_ERR_MAX, "freshestCRL URL too long");
            return -1;
        }
        der_end(b, md);
        der_end(b, ms);
        crl_ext_end(b, mi, mo);
    }
    der_end(b, m);
    der_end(b, x);
    if (b->err) {
        snprintf(err, OCSP_ERR_MAX, "out of memory encoding extensions");
        return -1;
    }
    return 0;
}

/* The tag and definite length of a constructed value; its length. */
static size_t crl_hdr(unsigned char tag, size_t len, unsigned char *out)
{
    out[0] = tag;
    return 1 + der_len_octets(len, out + 1);
}

/* What a TBSCertList is made of (RFC 5280 5.1.2), all lengths known
 * before the first octet is written, so that no header ever moves:
 * tbs_hdr, pre (version .. nextUpdate), seq_hdr and the entries (when
 * there are any), ext. */
typedef struct {
    der_buf_t pre, ext;
    unsigned char tbs_hdr[8], seq_hdr[8];
    size_t th, sh;
    size_t entries; /* octets of the encoded entries */
    size_t count;   /* entries on this CRL */
    size_t len;     /* the TBS's content: what tbs_hdr gives */
} crl_tbs_t;

static int crl_on(const crl_params_t *p, const crl_entry_t *e)
{
    return p->kind != CRL_KIND_SHARD || e->shard == p->shard;
}

static int crl_tbs_init(crl_tbs_t *t, const crl_signer_t *s,
                        const crl_params_t *p, const crl_entry_t *v, size_t n,
                        char *err)
{
    int delta = p->kind == CRL_KIND_DELTA;

    memset(t, 0, sizeof(*t));
    if (s->key == NULL) {
        snprintf(err, OCSP_ERR_MAX, "no CA key loaded");
        return -1;
    }
    if (der_init(&t->pre, 512) != 0 || der_init(&t->ext, 512) != 0) {
        snprintf(err, OCSP_ERR_MAX, "out of memory encoding the CRL");
        return -1;
    }
    der_uint(&t->pre, 1); /* v2: extensions present (RFC 5280 5.1.2.1) */
    der_raw(&t->pre, s->alg, s->alg_len);
    der_raw(&t->pre, s->name, s->name_len);
    der_time(&t->pre, p->this_update);
    der_time(&t->pre, p->next_update);
    if (t->pre.err) {
        snprintf(err, OCSP_ERR_MAX, "out of memory encoding the CRL");
        return -1;
    }
    if (crl_extensions_der(&t->ext, s, p, err) != 0) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        if (crl_on(p, &v[i])) {
            t->entries += crl_entry_len(&v[i], delta);
            t->count++;
        }
    }
    /* RFC 5280 5.1.2.6: no revokedCertificates rather than an empty one */
    if (t->count > 0) {
        t->sh = crl_hdr(DER_SEQUENCE, t->entries, t->seq_hdr);
    }
    t->len = t->pre.len + (t->count > 0 ? t->sh + t->entries : 0) + t->ext.len;
    t->th = crl_hdr(DER_SEQUENCE, t->len, t->tbs_hdr);
    return 0;
}

static void crl_tbs_free(crl_tbs_t *t)
{
    der_free(&t->pre);
    der_free(&t->ext);
}

/* Room before the CertificateList for its own header (tag + 5 octets). */
#define CRL_TOP_RESERVE 6

int crl_build(const crl_signer_t *s, const crl_params_t *p,
              const crl_entry_t *v, size_t n, unsigned char **out,
              size_t *outlen, char *err)
{
    der_buf_t b = {0};
    crl_tbs_t t;
    der_days_t days;
    unsigned char *sig = NULL, top_hdr[8];
    size_t siglen = 0, h, tbs_at, cap;
    int delta = p->kind == CRL_KIND_DELTA, rv = -1;

    *out = NULL;
    if (crl_tbs_init(&t, s, p, v, n, err) != 0) {
        goto done;
    }
    cap = CRL_TOP_RESERVE + t.th + t.len + s->alg_len + 8 + crl_sign_max(s) + 1;
    if (der_init(&b, cap) != 0) {
        snprintf(err, OCSP_ERR_MAX, "out of memory for %zu entries", n);
        goto done;
    }
    crl_mem_hint(b.p, cap);
    b.len = CRL_TOP_RESERVE;
    tbs_at = b.len;
    der_raw(&b, t.tbs_hdr, t.th);
    der_raw(&b, t.pre.p, t.pre.len);
    if (t.count > 0) {
        der_days_init(&days);
        der_raw(&b, t.seq_hdr, t.sh);
        for (size_t i = 0; i < n; i++) {
            if (crl_on(p, &v[i])) {
                crl_entry_der(&b, &v[i], delta, &days);
            }
        }
    }
    der_raw(&b, t.ext.p, t.ext.len);
    if (b.err || b.len != tbs_at + t.th + t.len) {
        snprintf(err, OCSP_ERR_MAX, "CRL encoding length mismatch");
        goto done;
    }

    sig = malloc(crl_sign_max(s) + 1);
    if (sig == NULL) {
        goto nomem;
    }
    sig[0] = 0; /* BIT STRING: no unused bits */
    if (crl_sign_tbs(s, b.p + tbs_at, b.len - tbs_at, sig + 1, &siglen, err) !=
        0) {
        goto done;
    }
    der_raw(&b, s->alg, s->alg_len);
    der_tlv(&b, DER_BIT_STRING, sig, siglen + 1);
    if (b.err) {
        goto nomem;
    }
    /* The outer header goes in front; only small CRLs, whose length needs
     * fewer octets than reserved, move (by a few bytes). */
    h = crl_hdr(DER_SEQUENCE, b.len - CRL_TOP_RESERVE, top_hdr);
    memcpy(b.p + CRL_TOP_RESERVE - h, top_hdr, h);
    if (h < CRL_TOP_RESERVE) {
        memmove(b.p, b.p + CRL_TOP_RESERVE - h, b.len - (CRL_TOP_RESERVE - h));
        b.len -= CRL_TOP_RESERVE - h;
    }
    *out = der_take(&b, outlen);
    rv = 0;
    goto done;

nomem:
    snprintf(err, OCSP_ERR_MAX, "out of memory encoding the CRL");
done:
    free(sig);
    der_free(&b);
    crl_tbs_free(&t);
    return rv;
}

/* The file crl_build_file() writes: the octets in buf go to offset at,
 * through the signature's hash first while the TBS is written. */
typedef struct {
    int fd;
    uint64_t at;
    der_buf_t buf;
    ocsp_sign_key_t *sign; /* NULL: not hashing (one shot, or past the TBS) */
    char *err;
} crl_out_t;

/* Pieces of this size go to the hash and the file. */
#define CRL_OUT_PIECE ((size_t)1 << 20)

static int crl_pwrite(int fd, const unsigned char *p, size_t len, uint64_t at,
                      char *err)
{
    while (len > 0) {
        ssize_t w = pwrite(fd, p, len, (off_t)at);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            snprintf(err, OCSP_ERR_MAX, "writing the CRL: %s",
                     w < 0 ? strerror(errno) : "short write");
            return -1;
        }
        p += w;
        len -= (size_t)w;
        at += (uint64_t)w;
    }
    return 0;
}

static int crl_out_flush(crl_out_t *o)
{
    if (o->buf.err) {
        snprintf(o->err, OCSP_ERR_MAX, "out of memory encoding the CRL");
        return -1;
    }
    if ((o->sign != NULL &&
         crl_sign_update(o->sign, o->buf.p, o->buf.len, o->err) != 0) ||
        crl_pwrite(o->fd, o->buf.p, o->buf.len, o->at, o->err) != 0) {
        return -1;
    }
    o->at += o->buf.len;
    o->buf.len = 0;
    return 0;
}

/* Moves the LEN octets at FROM of fd down to TO (< FROM), in pieces. */
static int crl_file_move(int fd, uint64_t from, uint64_t to, uint64_t len,
                         unsigned char *tmp, size_t cap, char *err)
{
    for (uint64_t done = 0; done < len;) {
        size_t k = len - done < cap ? (size_t)(len - done) : cap;
        ssize_t r = pread(fd, tmp, k, (off_t)(from + done));

        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r <= 0) {
            snprintf(err, OCSP_ERR_MAX, "reading the CRL back: %s",
                     r < 0 ? strerror(errno) : "short read");
            return -1;
        }
        if (crl_pwrite(fd, tmp, (size_t)r, to + done, err) != 0) {
            return -1;
        }
        done += (uint64_t)r;
    }
    if (ftruncate(fd, (off_t)(to + len)) != 0) {
        snprintf(err, OCSP_ERR_MAX, "truncating the CRL: %s", strerror(errno));
        return -1;
    }
    return 0;
}

int crl_build_file(const crl_signer_t *s, const crl_params_t *p,
                   const crl_entry_t *v, size_t n, int fd, int flags,
                   size_t *outlen, char *err)
{
    crl_out_t o;
    crl_tbs_t t;
    der_days_t days;
    unsigned char *sig = NULL, top_hdr[8], bits[8];
    size_t siglen = 0, sigmax, h, hmax, tail, bh;
    uint64_t tbs_total;
    int delta = p->kind == CRL_KIND_DELTA, rv = -1;
    int stream = crl_signer_streams(s) && !(flags & CRL_BUILD_ONE_SHOT);

    memset(&o, 0, sizeof(o));
    o.fd = fd;
    o.err = err;
    *outlen = 0;
    if (crl_tbs_init(&t, s, p, v, n, err) != 0) {
        goto done;
    }
    /* The CertificateList's header comes first but its length is known
     * only once signed (an ECDSA signature's varies by a few octets): the
     * TBS is written after room for the longest header its length can
     * need, and moved down the rare time the signature makes it shorter
     * (X.690 10.1: the length's octets are minimal). */
    sigmax = crl_sign_max(s);
    tbs_total = t.th + t.len;
    tail = s->alg_len + 1 + der_len_octets(sigmax + 1, bits) + sigmax + 1;
    hmax = crl_hdr(DER_SEQUENCE, tbs_total + tail, top_hdr);
    if (flags & CRL_BUILD_MOVE) {
        hmax = CRL_TOP_RESERVE;
    }
    sig = malloc(sigmax + 1);
    if (sig == NULL || der_init(&o.buf, CRL_OUT_PIECE + 4096) != 0) {
        snprintf(err, OCSP_ERR_MAX, "out of memory encoding the CRL");
        goto done;
    }
    if (stream && (o.sign = crl_sign_begin(s, err)) == NULL) {
        goto done;
    }
    o.at = hmax;
    der_raw(&o.buf, t.tbs_hdr, t.th);
    der_raw(&o.buf, t.pre.p, t.pre.len);
    if (t.count > 0) {
        der_days_init(&days);
        der_raw(&o.buf, t.seq_hdr, t.sh);
        for (size_t i = 0; i < n; i++) {
            if (!crl_on(p, &v[i])) {
                continue;
            }
            crl_entry_der(&o.buf, &v[i], delta, &days);
            if (o.buf.len >= CRL_OUT_PIECE && crl_out_flush(&o) != 0) {
                goto done;
            }
        }
    }
    der_raw(&o.buf, t.ext.p, t.ext.len);
    if (crl_out_flush(&o) != 0) {
        goto done;
    }
    if (o.at != hmax + tbs_total) {
        snprintf(err, OCSP_ERR_MAX, "CRL encoding length mismatch");
        goto done;
    }

    sig[0] = 0; /* BIT STRING: no unused bits */
    if (stream) {
        if (crl_sign_final(s, o.sign, sig + 1, &siglen, err) != 0) {
            goto done;
        }
    } else {
        /* one shot over the TBS as written, mapped back from the file */
        size_t maplen = (size_t)(hmax + tbs_total);
        void *m = mmap(NULL, maplen, PROT_READ, MAP_SHARED, fd, 0);
        int r;

        if (m == MAP_FAILED) {
            snprintf(err, OCSP_ERR_MAX, "mmap of the CRL's TBS: %s",
                     strerror(errno));
            goto done;
        }
        r = crl_sign_tbs(s, (const unsigned char *)m + hmax, tbs_total, sig + 1,
                         &siglen, err);
        munmap(m, maplen);
        if (r != 0) {
            goto done;
        }
    }
    o.sign = NULL;
    der_raw(&o.buf, s->alg, s->alg_len);
    der_tlv(&o.buf, DER_BIT_STRING, sig, siglen + 1);
    bh = o.buf.len;
    if (crl_out_flush(&o) != 0) {
        goto done;
    }
    h = crl_hdr(DER_SEQUENCE, tbs_total + bh, top_hdr);
    if (h > hmax) {
        snprintf(err, OCSP_ERR_MAX, "CRL signature longer than the key's");
        goto done;
    }
    if (h < hmax && crl_file_move(fd, hmax, h, tbs_total + bh, o.buf.p,
                                  o.buf.cap, err) != 0) {
        goto done;
    }
    if (crl_pwrite(fd, top_hdr, h, 0, err) != 0) {
        goto done;
    }
    *outlen = (size_t)(h + tbs_total + bh);
    rv = 0;

done:
    free(sig);
    der_free(&o.buf);
    crl_tbs_free(&t);
    return rv;
}
