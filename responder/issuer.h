/*
 * The issuer registry: every configured issuer with the four CertID forms
 * that name it ((SHA-1 | SHA-256) x (issuerNameHash, issuerKeyHash),
 * RFC 6960 4.1.1) and, when loaded with keys, what it signs responses with.
 */
#ifndef REVOCA_ISSUER_H
#define REVOCA_ISSUER_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>

#include "config.h"

typedef enum {
    OCSP_HASH_SHA1 = 0,
    OCSP_HASH_SHA256 = 1,
    OCSP_HASH_COUNT
} ocsp_hash_e;

#define OCSP_HASH_MAX_LEN 32
/* Largest signature AlgorithmIdentifier ocsp_sig_alg() writes. */
#define OCSP_SIG_ALG_MAX 32

typedef struct {
    const ocsp_issuer_conf_t *conf; /* borrowed from the config */
    X509 *cert;                     /* owned */
    unsigned char name_hash[OCSP_HASH_COUNT][OCSP_HASH_MAX_LEN];
    unsigned char key_hash[OCSP_HASH_COUNT][OCSP_HASH_MAX_LEN];

    /* The responder, always loaded (a reader of stored responses puts its
     * certificate back, stored.h): responder_der is the delegated
     * responder's certificate, sent in certs; it stays NULL when the CA
     * signs for itself, which sends none (RFC 6960 4.2.2.2).  Signing
     * material, from key on: NULL/0 unless loaded with OCSP_REGISTRY_KEYS. */
    X509 *responder;              /* owned */
    EVP_PKEY *key;                /* owned */
    EVP_PKEY_CTX *sign_ctx;       /* owned; initialised once for speed */
    EVP_MD *sha256;               /* owned; fetched once, not per digest */
    EVP_MD_CTX *md_ctx;           /* owned; reused for the TBS digest */
    unsigned char *responder_der; /* owned; NULL: the CA signs */
    size_t responder_der_len;
    unsigned char responder_key_id[20];      /* SHA-1 of the public key bits */
    unsigned char sig_alg[OCSP_SIG_ALG_MAX]; /* DER AlgorithmIdentifier */
    size_t sig_alg_len;
} ocsp_issuer_t;

typedef struct {
    size_t n;
    ocsp_issuer_t *issuers; /* owned */
    char err[OCSP_ERR_MAX];
} ocsp_registry_t;

#define OCSP_REGISTRY_KEYS 0x1

/*
 * Loads every issuer of cf into reg with its responder certificate, checking
 * that a delegated responder certificate carries id-kp-OCSPSigning and is
 * issued by the CA (RFC 6960 4.2.2.2); with OCSP_REGISTRY_KEYS also each
 * responder's private key, checking that it matches the certificate.  Returns
 * 0, or -1 with reg->err set.  cf must outlive reg.  Free with
 * ocsp_registry_free().
 */
int ocsp_registry_load(ocsp_registry_t *reg, const ocsp_config_t *cf,
                       int flags);
void ocsp_registry_free(ocsp_registry_t *reg);

/* Borrowed issuer by configured name, or NULL. */
const ocsp_issuer_t *ocsp_registry_by_name(const ocsp_registry_t *reg,
                                           const char *name);

/*
 * Borrowed issuer whose hashes under HASH equal name_hash and key_hash (each
 * of the digest's length), or NULL.
 */
const ocsp_issuer_t *
ocsp_registry_find(const ocsp_registry_t *reg, ocsp_hash_e hash,
                   const unsigned char *name_hash, size_t name_len,
                   const unsigned char *key_hash, size_t key_len);

/*
 * Loads one certificate from PATH, PEM or DER.  Returns it (caller frees)
 * or NULL; *unreadable (may be NULL) tells a file that could not be opened
 * from one that holds no certificate.
 */
X509 *ocsp_cert_load(const char *path, int *unreadable);

/*
 * Every certificate in PATH: each PEM certificate in order, or else one DER
 * certificate.  Returns a stack of at least one (caller frees with
 * sk_X509_pop_free(sk, X509_free)) or NULL; *unreadable as above.
 */
STACK_OF(X509) * ocsp_certs_load(const char *path, int *unreadable);

size_t ocsp_hash_len(ocsp_hash_e hash);

/*
 * The DER AlgorithmIdentifier of a SHA-256 signature by KEY into OUT
 * (OCSP_SIG_ALG_MAX bytes): ecdsa-with-SHA256 without parameters (RFC 5758
 * 3.2) or sha256WithRSAEncryption with NULL (RFC 4055 5).  Its length, or
 * 0 for a key that is neither ECDSA nor RSA.
 */
size_t ocsp_sig_alg(const EVP_PKEY *key, unsigned char *out);
const char *ocsp_hash_field(ocsp_hash_e hash); /* "sha1" / "sha256" */

#endif
