#include "issuer.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

size_t ocsp_hash_len(ocsp_hash_e hash)
{
    return hash == OCSP_HASH_SHA1 ? 20 : 32;
}

static const EVP_MD *hash_md(ocsp_hash_e hash)
{
    return hash == OCSP_HASH_SHA1 ? EVP_sha1() : EVP_sha256();
}

static void reg_err(ocsp_registry_t *reg, const char *issuer, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char ebuf[256] = "";

    if (e != 0) {
        ERR_error_string_n(e, ebuf, sizeof(ebuf));
    }
    snprintf(reg->err, sizeof(reg->err), "issuer %s: %s%s%s", issuer, what,
             e ? ": " : "", ebuf);
    ERR_clear_error();
}

STACK_OF(X509) * ocsp_certs_load(const char *path, int *unreadable)
{
    STACK_OF(X509) *sk = NULL;
    X509 *x = NULL;
    BIO *b = BIO_new_file(path, "r");

    if (unreadable != NULL) {
        *unreadable = b == NULL;
    }
    if (b == NULL) {
        goto failed;
    }
    sk = sk_X509_new_null();
    if (sk == NULL) {
        goto failed;
    }
    while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL) {
        if (!sk_X509_push(sk, x)) {
            goto failed;
        }
    }
    if (sk_X509_num(sk) == 0) {
        /* Not PEM: try DER. */
        ERR_clear_error();
        (void)BIO_reset(b);
        x = d2i_X509_bio(b, NULL);
        if (x == NULL || !sk_X509_push(sk, x)) {
            goto failed;
        }
    }
    BIO_free(b);
    ERR_clear_error();
    return sk;

failed:
    X509_free(x);
    sk_X509_pop_free(sk, X509_free);
    BIO_free(b);
    ERR_clear_error();
    return NULL;
}

X509 *ocsp_cert_load(const char *path, int *unreadable)
{
    STACK_OF(X509) *sk = ocsp_certs_load(path, unreadable);
    X509 *x;

    if (sk == NULL) {
        return NULL;
    }
    x = sk_X509_shift(sk);
    sk_X509_pop_free(sk, X509_free);
    return x;
}

/* RFC 6960 4.1.1: issuerNameHash and issuerKeyHash in both algorithms. */
static int issuer_hashes(ocsp_issuer_t *iss)
{
    unsigned char *der = NULL;
    int len;
    unsigned mdlen;
    const ASN1_BIT_STRING *key;
    int h;

    len = i2d_X509_NAME(X509_get_subject_name(iss->cert), &der);
    if (len <= 0) {
        return -1;
    }
    key = X509_get0_pubkey_bitstr(iss->cert);
    if (key == NULL) {
        OPENSSL_free(der);
        return -1;
    }
    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        if (!EVP_Digest(der, (size_t)len, iss->name_hash[h], &mdlen,
                        hash_md((ocsp_hash_e)h), NULL) ||
            !EVP_Digest(key->data, (size_t)key->length, iss->key_hash[h],
                        &mdlen, hash_md((ocsp_hash_e)h), NULL)) {
            OPENSSL_free(der);
            return -1;
        }
    }
    OPENSSL_free(der);
    return 0;
}

/* A responder certificate near its notAfter: a warning (the key refuses
 * to sign once it has passed, sign.h). */
static void issuer_expiry_warning(ocsp_issuer_t *iss)
{
    const ASN1_TIME *na = X509_get0_notAfter(iss->responder);
    time_t soon = time(NULL) + (time_t)iss->conf->responder_expiry_warning;
    char when[32];
    struct tm tm;
    size_t n = strlen(iss->warning);

    if (X509_cmp_time(na, &soon) > 0 || ASN1_TIME_to_tm(na, &tm) != 1) {
        return;
    }
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(iss->warning + n, sizeof(iss->warning) - n,
             "%sthe responder certificate expires at %s", n ? "; " : "", when);
    /* said at start: the periodic warning comes a day later */
    iss->expiry_warned = time(NULL);
}

/* The responder key, checked against the responder certificate and the
 * issuer's profile. */
static int issuer_open_key(ocsp_registry_t *reg, ocsp_issuer_t *iss)
{
    ocsp_sign_err_t e;
    const char *why;

    iss->key = ocsp_sign_key_load(iss->key_ref, iss->responder,
                                  OCSP_SIGN_IN_VALIDITY |
                                      (iss->conf->rsa_pss ? OCSP_SIGN_PSS : 0),
                                  reg->pkcs11, &e);
    if (iss->key == NULL) {
        reg->token_error = e.status == OCSP_SIGN_ETOKEN;
        snprintf(reg->err, sizeof(reg->err), "issuer %s: responder key: %.440s",
                 iss->conf->name, e.msg);
        return -1;
    }
    why = ocsp_profile_refuses_key(iss->conf->profile,
                                   ocsp_sign_key_alg(iss->key),
                                   ocsp_sign_key_bits(iss->key));
    if (why != NULL) {
        snprintf(reg->err, sizeof(reg->err),
                 "issuer %s: responder key: %s (%s, %d bits)", iss->conf->name,
                 why, ocsp_sig_alg_name(ocsp_sign_key_alg(iss->key)),
                 ocsp_sign_key_bits(iss->key));
        return -1;
    }
    return 0;
}

/*
 * The responder certificate: what names the signer of a response
 * (responder_key_id) and, for a delegate, what certs carries
 * (responder_der).  Loaded with or without keys: a reader of stored
 * responses puts the certificate back (stored.h).
 */
static int issuer_responder(ocsp_registry_t *reg, ocsp_issuer_t *iss)
{
    const ocsp_issuer_conf_t *ic = iss->conf;
    const ASN1_BIT_STRING *bits;
    unsigned char *der = NULL;
    unsigned mdlen;
    int len, delegated;

    /* No responder_cert: the CA answers for itself (RFC 6960 4.2.2.2,
     * first case). */
    iss->responder = ic->responder_cert_path == NULL
                         ? X509_dup(iss->cert)
                         : ocsp_cert_load(ic->responder_cert_path, NULL);
    if (iss->responder == NULL) {
        reg_err(reg, ic->name, "cannot load the responder certificate");
        return -1;
    }
    /* A responder_cert that is the CA certificate itself is the CA
     * answering for itself, not a delegate. */
    delegated = X509_cmp(iss->responder, iss->cert) != 0;
    if (delegated) {
        /* RFC 6960 4.2.2.2: a delegate is issued by the CA directly and
         * carries id-kp-OCSPSigning. */
        if (X509_check_issued(iss->cert, iss->responder) != X509_V_OK) {
            reg_err(reg, ic->name,
                    "the responder certificate is not issued by the CA");
            return -1;
        }
        if (!(X509_get_extension_flags(iss->responder) & EXFLAG_XKUSAGE) ||
            !(X509_get_extended_key_usage(iss->responder) & XKU_OCSP_SIGN)) {
            reg_err(reg, ic->name,
                    "the responder certificate lacks id-kp-OCSPSigning");
            return -1;
        }
        /* CA/B BR 4.9.9 and 7.1.2.8: a delegated responder's certificate
         * carries id-pkix-ocsp-nocheck (RFC 6960 4.2.2.2.1). */
        if (X509_get_ext_by_NID(iss->responder, NID_id_pkix_OCSP_noCheck, -1) <
            0) {
            if (ic->profile == OCSP_PROFILE_CABF) {
                reg_err(reg, ic->name,
                        "the responder certificate lacks id-pkix-ocsp-nocheck, "
                        "which the cabf profile requires (Baseline "
                        "Requirements 7.1.2.8)");
                return -1;
            }
            snprintf(iss->warning, sizeof(iss->warning),
                     "the responder certificate lacks id-pkix-ocsp-nocheck: "
                     "clients may try to check its own revocation "
                     "(RFC 6960 4.2.2.2.1)");
        }
    }

    issuer_expiry_warning(iss);

    /* RFC 6960 4.2.2.3: ResponderID byKey is the SHA-1 of the key bits. */
    bits = X509_get0_pubkey_bitstr(iss->responder);
    if (bits == NULL ||
        !EVP_Digest(bits->data, (size_t)bits->length, iss->responder_key_id,
                    &mdlen, EVP_sha1(), NULL)) {
        reg_err(reg, ic->name, "cannot hash the responder key");
        return -1;
    }
    if (!delegated) {
        /* RFC 6960 4.2.2.2: certs is there to carry a delegate's
         * certificate.  The client holds the CA's already, and clients such
         * as Go's x/crypto/ocsp and pkijs check any certificate sent as a
         * delegate issued by the CA, which the CA's own is not. */
        return 0;
    }
    len = i2d_X509(iss->responder, &der);
    if (len <= 0) {
        reg_err(reg, ic->name, "cannot encode the responder certificate");
        return -1;
    }
    iss->responder_der = malloc((size_t)len);
    if (iss->responder_der == NULL) {
        OPENSSL_free(der);
        reg_err(reg, ic->name, "out of memory");
        return -1;
    }
    memcpy(iss->responder_der, der, (size_t)len);
    iss->responder_der_len = (size_t)len;
    OPENSSL_free(der);
    return 0;
}

/* notAfter of X as unix seconds, or INT64_MIN if unreadable. */
static int64_t cert_not_after(const X509 *x)
{
    struct tm tm;

    if (ASN1_TIME_to_tm(X509_get0_notAfter(x), &tm) != 1) {
        return INT64_MIN;
    }
    return (int64_t)timegm(&tm);
}

int64_t ocsp_issuer_responder_expiry(const ocsp_issuer_t *iss, time_t now)
{
    int64_t na = cert_not_after(iss->responder);

    return na == INT64_MIN ? INT64_MIN : na - (int64_t)now;
}

int64_t ocsp_issuer_ca_expiry(const ocsp_issuer_t *iss, time_t now)
{
    int64_t na = cert_not_after(iss->cert);

    return na == INT64_MIN ? INT64_MIN : na - (int64_t)now;
}

int ocsp_registry_expiry_due(ocsp_registry_t *reg, time_t now, char *buf,
                             size_t len)
{
    if (now - reg->expiry_checked < OCSP_EXPIRY_CHECK_EVERY) {
        return 0;
    }
    for (size_t i = 0; i < reg->n; i++) {
        ocsp_issuer_t *iss = &reg->issuers[i];
        int64_t left = ocsp_issuer_responder_expiry(iss, now);
        time_t na = now + (time_t)left;
        struct tm tm;
        char when[32];

        if (left > iss->conf->responder_expiry_warning ||
            (iss->expiry_warned != 0 &&
             now - iss->expiry_warned < OCSP_EXPIRY_WARN_EVERY)) {
            continue;
        }
        iss->expiry_warned = now;
        gmtime_r(&na, &tm);
        strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
        snprintf(buf, len, "responder certificate %s issuer=%s not_after=%s",
                 left > 0 ? "near its expiry" : "expired, signing refused",
                 iss->conf->name, when);
        return 1;
    }
    reg->expiry_checked = now;
    return 0;
}

/*
 * The previous responder certificates (rotation): each must have been a
 * valid delegate of this CA (issued by it, id-kp-OCSPSigning), so that a
 * response it signed verifies with the certificate put back.
 */
static int issuer_previous(ocsp_registry_t *reg, ocsp_issuer_t *iss)
{
    const ocsp_issuer_conf_t *ic = iss->conf;
    char what[160];

    for (size_t i = 0; i < ic->nprevious_responders; i++) {
        ocsp_previous_responder_t *pr = &iss->previous[i];
        X509 *x = ocsp_cert_load(ic->previous_responder_cert_paths[i], NULL);
        const ASN1_BIT_STRING *bits;
        unsigned char *der = NULL;
        unsigned mdlen;
        int len;

        snprintf(what, sizeof(what),
                 "cannot load previous responder certificate %zu", i + 1);
        if (x == NULL) {
            reg_err(reg, ic->name, what);
            return -1;
        }
        if (X509_check_issued(iss->cert, x) != X509_V_OK ||
            !(X509_get_extension_flags(x) & EXFLAG_XKUSAGE) ||
            !(X509_get_extended_key_usage(x) & XKU_OCSP_SIGN)) {
            X509_free(x);
            snprintf(what, sizeof(what),
                     "previous responder certificate %zu is not a delegated "
                     "responder of the CA (issued by it, id-kp-OCSPSigning)",
                     i + 1);
            reg_err(reg, ic->name, what);
            return -1;
        }
        bits = X509_get0_pubkey_bitstr(x);
        len = i2d_X509(x, &der);
        pr->not_after = (time_t)cert_not_after(x);
        /* bits is borrowed from x: hashed before x is freed */
        if (bits == NULL || len <= 0 ||
            !EVP_Digest(bits->data, (size_t)bits->length, pr->key_id, &mdlen,
                        EVP_sha1(), NULL)) {
            X509_free(x);
            OPENSSL_free(der);
            reg_err(reg, ic->name, "cannot read a previous responder");
            return -1;
        }
        X509_free(x);
        if (memcmp(pr->key_id, iss->responder_key_id, 20) == 0) {
            OPENSSL_free(der);
            snprintf(what, sizeof(what),
                     "previous responder certificate %zu has the current "
                     "responder's key",
                     i + 1);
            reg_err(reg, ic->name, what);
            return -1;
        }
        pr->der = malloc((size_t)len);
        if (pr->der == NULL) {
            OPENSSL_free(der);
            reg_err(reg, ic->name, "out of memory");
            return -1;
        }
        memcpy(pr->der, der, (size_t)len);
        pr->der_len = (size_t)len;
        OPENSSL_free(der);
        iss->nprevious = i + 1;
    }
    return 0;
}

/* The responder's private key (sign.h: matched to its certificate and the
 * profile when opened).  LATER: a PKCS#11 key waits for
 * ocsp_registry_open_keys(), in the process that signs (an nginx worker,
 * never the master). */
static int issuer_keys(ocsp_registry_t *reg, ocsp_issuer_t *iss, int later)
{
    const ocsp_issuer_conf_t *ic = iss->conf;
    const char *key_path = ic->responder_key_path;

    if (ic->responder_cert_path == NULL) {
        key_path = ic->ca_key_path;
        if (key_path == NULL) {
            reg_err(reg, ic->name,
                    "no responder_cert/responder_key and no CA key to sign "
                    "with");
            return -1;
        }
    }
    iss->key_ref = key_path;
    if (!(later && ocsp_sign_is_pkcs11(key_path)) &&
        issuer_open_key(reg, iss) != 0) {
        return -1;
    }
    return 0;
}

int ocsp_registry_load(ocsp_registry_t *reg, const ocsp_config_t *cf, int flags)
{
    size_t i;

    memset(reg, 0, sizeof(*reg));
    reg->issuers = calloc(cf->nissuers, sizeof(ocsp_issuer_t));
    if (reg->issuers == NULL) {
        snprintf(reg->err, sizeof(reg->err), "out of memory");
        return -1;
    }
    reg->n = cf->nissuers;
    reg->pkcs11 = &cf->pkcs11;
    for (i = 0; i < cf->nissuers; i++) {
        ocsp_issuer_t *iss = &reg->issuers[i];
        iss->conf = &cf->issuers[i];
        iss->cert = ocsp_cert_load(iss->conf->cert_path, NULL);
        if (iss->cert == NULL) {
            reg_err(reg, iss->conf->name, "cannot load the CA certificate");
            goto failed;
        }
        if (issuer_hashes(iss) != 0) {
            reg_err(reg, iss->conf->name, "cannot hash the CA certificate");
            goto failed;
        }
        if (issuer_responder(reg, iss) != 0 || issuer_previous(reg, iss) != 0 ||
            ((flags & OCSP_REGISTRY_KEYS) &&
             issuer_keys(reg, iss, flags & OCSP_REGISTRY_PKCS11_LATER) != 0)) {
            goto failed;
        }
    }
    return 0;

failed : {
    char err[OCSP_ERR_MAX];
    int token_error = reg->token_error;
    memcpy(err, reg->err, sizeof(err));
    ocsp_registry_free(reg);
    memcpy(reg->err, err, sizeof(err));
    reg->token_error = token_error;
}
    return -1;
}

int ocsp_registry_open_keys(ocsp_registry_t *reg)
{
    for (size_t i = 0; i < reg->n; i++) {
        ocsp_issuer_t *iss = &reg->issuers[i];
        if (iss->key == NULL && iss->key_ref != NULL &&
            issuer_open_key(reg, iss) != 0) {
            return -1;
        }
    }
    return 0;
}

void ocsp_registry_free(ocsp_registry_t *reg)
{
    size_t i;

    for (i = 0; i < reg->n; i++) {
        X509_free(reg->issuers[i].cert);
        X509_free(reg->issuers[i].responder);
        ocsp_sign_key_free(reg->issuers[i].key);
        free(reg->issuers[i].responder_der);
        for (size_t j = 0; j < reg->issuers[i].nprevious; j++) {
            free(reg->issuers[i].previous[j].der);
        }
    }
    free(reg->issuers);
    memset(reg, 0, sizeof(*reg));
}

const ocsp_issuer_t *ocsp_registry_by_name(const ocsp_registry_t *reg,
                                           const char *name)
{
    size_t i;

    for (i = 0; i < reg->n; i++) {
        if (strcmp(reg->issuers[i].conf->name, name) == 0) {
            return &reg->issuers[i];
        }
    }
    return NULL;
}

const ocsp_issuer_t *
ocsp_registry_find(const ocsp_registry_t *reg, ocsp_hash_e hash,
                   const unsigned char *name_hash, size_t name_len,
                   const unsigned char *key_hash, size_t key_len)
{
    size_t i, n = ocsp_hash_len(hash);

    if ((unsigned)hash >= OCSP_HASH_COUNT || name_len != n || key_len != n) {
        return NULL;
    }
    for (i = 0; i < reg->n; i++) {
        const ocsp_issuer_t *iss = &reg->issuers[i];
        if (memcmp(iss->name_hash[hash], name_hash, n) == 0 &&
            memcmp(iss->key_hash[hash], key_hash, n) == 0) {
            return iss;
        }
    }
    return NULL;
}
