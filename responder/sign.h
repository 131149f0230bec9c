/*
 * Signing keys and the one signing path of every component that signs: the
 * signer's and the module's responses, revoca-crlgen's CRLs.
 *
 * A key is a file (PEM or DER, keyfile.h) or a PKCS#11 URI (RFC 7512,
 * "pkcs11:token=...;object=...;type=private"), reached through libp11's
 * "pkcs11" OpenSSL engine, loaded once per process on first use.  The PIN
 * comes from a file that only its owner may read, or from an environment
 * variable, both named in the config (pkcs11 group, config.h), never from
 * the config itself.
 *
 * The signature algorithm follows from the key and the issuer's
 * rsa_padding setting, with the AlgorithmIdentifier each RFC prescribes:
 *
 *   ECDSA P-256 / P-384 / P-521  ecdsa-with-SHA256 / 384 / 512, no
 *                                parameters (RFC 5758 3.2)
 *   RSA, rsa_padding "pkcs1"     sha256WithRSAEncryption, NULL (RFC 4055 5)
 *   RSA, rsa_padding "pss"       RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32
 *                                (RFC 4055 3.1, in the bytes of CA/B BR
 *                                7.1.3.2.1)
 *   Ed25519                      id-Ed25519, no parameters (RFC 8410 3)
 *
 * A key holds the state of one signature at a time, so it is used by one
 * thread at a time: nginx has one key per worker process, the signer's
 * pool one per thread (ocsp_sign_key_dup(), signer_pool.h).  Keys used by
 * several threads at once, each its own, are safe: OpenSSL 3 contexts are
 * per key, and a token failure in one thread only marks the others stale
 * (each drops its key object on its own next use).  The process's first
 * token key is loaded before any thread starts (the engine is set up then).
 */
#ifndef REVOCA_SIGN_H
#define REVOCA_SIGN_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "config.h"

typedef enum {
    OCSP_SIG_NONE = 0,
    OCSP_SIG_ECDSA_SHA256,
    OCSP_SIG_ECDSA_SHA384,
    OCSP_SIG_ECDSA_SHA512,
    OCSP_SIG_RSA_SHA256,
    OCSP_SIG_RSA_PSS_SHA256,
    OCSP_SIG_ED25519
} ocsp_sig_alg_e;

/* Largest AlgorithmIdentifier ocsp_sig_alg_der() returns (RSASSA-PSS). */
#define OCSP_SIG_ALG_MAX 80
/* Largest signature of any key accepted (RSA-8192; ECDSA P-521 is 139). */
#define OCSP_SIG_MAX 1024

typedef enum {
    OCSP_SIGN_OK = 0,
    OCSP_SIGN_EKEY,   /* the key or its setup is wrong: not worth a retry */
    OCSP_SIGN_ETOKEN, /* the token or its library failed: retried later */
    OCSP_SIGN_EPOLICY /* the issuer's profile does not allow the key */
} ocsp_sign_status_e;

typedef struct {
    ocsp_sign_status_e status;
    char msg[OCSP_ERR_MAX];
} ocsp_sign_err_t;

typedef struct ocsp_sign_key_s ocsp_sign_key_t;

/* Whether REF names a PKCS#11 object rather than a file (RFC 7512). */
int ocsp_sign_is_pkcs11(const char *ref);

/*
 * The algorithm KEY's public half signs with under rsa_padding PSS (0:
 * PKCS#1 v1.5), or OCSP_SIG_NONE for a key type Revoca does not sign with
 * (with the reason in *why when WHY is not NULL).
 */
ocsp_sig_alg_e ocsp_sig_alg_of(const EVP_PKEY *key, int pss, const char **why);

/* The DER AlgorithmIdentifier of ALG (borrowed, static), and its length. */
const unsigned char *ocsp_sig_alg_der(ocsp_sig_alg_e alg, size_t *len);

/*
 * Verifies SIG over DATA with PUB under ALG (the check of a CRL before it is
 * published, and of each key against its certificate).  0 if it verifies,
 * else -1; OpenSSL's error queue is left empty.
 */
int ocsp_sig_verify(EVP_PKEY *pub, ocsp_sig_alg_e alg, const unsigned char *sig,
                    size_t siglen, const unsigned char *data, size_t len);

/* Whether ALG signs a digest computed in pieces: all but Ed25519, whose
 * PureEdDSA reads the message twice (RFC 8032 5.1.6). */
int ocsp_sig_alg_streams(ocsp_sig_alg_e alg);

/*
 * ocsp_sig_verify() over data given in pieces (a CRL checked as its
 * entries are walked), for an ALG that streams: begin, any number of
 * updates, end.  Each returns 0 or -1; end verifies SIG and frees what
 * begin took, free() releases a verification abandoned on the way.
 * OpenSSL's error queue is left empty.
 */
typedef struct {
    EVP_MD_CTX *ctx;
    EVP_MD *md;
} ocsp_sig_verify_t;

int ocsp_sig_verify_begin(ocsp_sig_verify_t *v, EVP_PKEY *pub,
                          ocsp_sig_alg_e alg);
int ocsp_sig_verify_update(ocsp_sig_verify_t *v, const unsigned char *data,
                           size_t len);
int ocsp_sig_verify_end(ocsp_sig_verify_t *v, const unsigned char *sig,
                        size_t siglen);
void ocsp_sig_verify_free(ocsp_sig_verify_t *v);

/* "ecdsa-with-SHA384", "rsassa-pss-sha256", ... for logs and messages. */
const char *ocsp_sig_alg_name(ocsp_sig_alg_e alg);

/* ocsp_sign_key_load() flags */
#define OCSP_SIGN_PSS 0x1         /* an RSA key signs RSASSA-PSS */
#define OCSP_SIGN_IN_VALIDITY 0x2 /* never sign past CERT's notAfter */

/*
 * Loads the key REF (file path or PKCS#11 URI) that signs for CERT, with
 * the signature algorithm of CERT's public key (FLAGS: OCSP_SIGN_PSS).  The
 * key's public half is checked against CERT by signing a probe and
 * verifying it with CERT's key.  With OCSP_SIGN_IN_VALIDITY (a responder's
 * certificate) a CERT past its notAfter is refused here and at every
 * signature.  P11 (may be NULL when REF is a file; else it must outlive the
 * key) says how to reach a token.  Returns the key (free with
 * ocsp_sign_key_free()) or NULL with *err set: OCSP_SIGN_ETOKEN when the
 * token, its PIN or its library failed, OCSP_SIGN_EKEY otherwise.  The PIN
 * never appears in err.
 */
ocsp_sign_key_t *ocsp_sign_key_load(const char *ref, X509 *cert, int flags,
                                    const ocsp_pkcs11_conf_t *p11,
                                    ocsp_sign_err_t *err);
void ocsp_sign_key_free(ocsp_sign_key_t *key);

/*
 * Another key from KEY's reference, certificate, flags and token settings,
 * with contexts of its own (for a PKCS#11 key, its own key object, signing
 * through libp11's pool of sessions of the token), checked against the
 * certificate as ocsp_sign_key_load() does: one per thread that signs.
 * Returns it (free with ocsp_sign_key_free()) or NULL with *err set as
 * ocsp_sign_key_load().  Called from the thread that loaded KEY.
 */
ocsp_sign_key_t *ocsp_sign_key_dup(const ocsp_sign_key_t *key,
                                   ocsp_sign_err_t *err);

ocsp_sig_alg_e ocsp_sign_key_alg(const ocsp_sign_key_t *key);
/* The key's AlgorithmIdentifier DER (borrowed) and its length. */
const unsigned char *ocsp_sign_key_alg_der(const ocsp_sign_key_t *key,
                                           size_t *len);
/* The most octets a signature of the key takes. */
size_t ocsp_sign_key_max(const ocsp_sign_key_t *key);
/* RSA modulus or curve size in bits, for the profile's checks. */
int ocsp_sign_key_bits(const ocsp_sign_key_t *key);

/*
 * Signs DATA (the DER of a TBS) into SIG (cap *siglen, at least
 * ocsp_sign_key_max()), setting *siglen.  Returns 0, or -1 with the reason
 * in ocsp_sign_key_err(): OCSP_SIGN_ETOKEN when a token's session failed.
 * The key then reopens its session on a later call, at most once per
 * back-off interval (1 s doubling up to 16 s: the
 * callers back off too), and fails at once (ETOKEN)
 * until then: a caller retries its work later and publishes nothing.
 */
int ocsp_sign(ocsp_sign_key_t *key, const unsigned char *data, size_t len,
              unsigned char *sig, size_t *siglen);

/*
 * The same signature over data given in pieces (a CRL encoded as it is
 * signed): begin, any number of updates, end.  Ed25519 (RFC 8032 PureEdDSA
 * reads its message twice) keeps the pieces until end.  Each returns 0 or
 * -1 as ocsp_sign(); an update or end after a failed call fails too.
 */
int ocsp_sign_begin(ocsp_sign_key_t *key);
int ocsp_sign_update(ocsp_sign_key_t *key, const unsigned char *data,
                     size_t len);
int ocsp_sign_end(ocsp_sign_key_t *key, unsigned char *sig, size_t *siglen);

/* The reason of the key's last failure (borrowed). */
const ocsp_sign_err_t *ocsp_sign_key_err(const ocsp_sign_key_t *key);

/*
 * For how many seconds at least one token key of the process has been
 * unusable (its session failed and no reopen succeeded since), or -1 when
 * every token key works.  The daemons' recovery (daemon.h) reads it.
 */
long ocsp_sign_token_outage_s(void);

#endif
