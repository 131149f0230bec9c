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
#include <stdint.h>
#include <time.h>

#include "config.h"
#include "sign.h"

typedef enum {
    OCSP_HASH_SHA1 = 0,
    OCSP_HASH_SHA256 = 1,
    OCSP_HASH_COUNT
} ocsp_hash_e;

#define OCSP_HASH_MAX_LEN 32

/* A responder certificate replaced by responder_cert (rotation,
 * docs/keys.md): what stored responses it signed are recognised by, and the
 * certificate a reader puts back into them. */
typedef struct {
    unsigned char key_id[20]; /* SHA-1 of the public key bits */
    unsigned char *der;       /* owned */
    size_t der_len;
    time_t not_after; /* past it, its responses are not served */
} ocsp_previous_responder_t;

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
    const char *key_ref;          /* borrowed from conf: file or URI */
    ocsp_sign_key_t *key;         /* owned (sign.h); NULL until opened */
    unsigned char *responder_der; /* owned; NULL: the CA signs */
    size_t responder_der_len;
    unsigned char responder_key_id[20]; /* SHA-1 of the public key bits */
    ocsp_previous_responder_t previous[OCSP_PREVIOUS_RESPONDERS_MAX];
    size_t nprevious;
    /* What the operator should hear at start, or "": a responder
     * certificate within responder_expiry_warning of its notAfter, a
     * delegate without id-pkix-ocsp-nocheck under the private profile. */
    char warning[256];
    time_t expiry_warned; /* ocsp_registry_expiry_due(): last warning */
} ocsp_issuer_t;

typedef struct {
    size_t n;
    ocsp_issuer_t *issuers;           /* owned */
    const ocsp_pkcs11_conf_t *pkcs11; /* borrowed from the config */
    int token_error; /* the last error was a token's (wrong PIN, no
                      * token): start-up exits 2 */
    char err[OCSP_ERR_MAX];
    time_t expiry_checked; /* ocsp_registry_expiry_due(): last look */
} ocsp_registry_t;

#define OCSP_REGISTRY_KEYS 0x1
/* With OCSP_REGISTRY_KEYS: PKCS#11 keys are left for
 * ocsp_registry_open_keys(), so that a process that forks (nginx's
 * master) opens no token session its children would share. */
#define OCSP_REGISTRY_PKCS11_LATER 0x2

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

/*
 * Opens the keys OCSP_REGISTRY_PKCS11_LATER left (in each nginx worker,
 * after fork).  Returns 0, or -1 with reg->err and reg->token_error set.
 */
int ocsp_registry_open_keys(ocsp_registry_t *reg);

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

/*
 * Seconds from NOW to the notAfter of ISS's current responder certificate
 * (the CA's own when it signs for itself); negative once it has passed.
 */
int64_t ocsp_issuer_responder_expiry(const ocsp_issuer_t *iss, time_t now);

/* Seconds from NOW to the notAfter of ISS's CA certificate. */
int64_t ocsp_issuer_ca_expiry(const ocsp_issuer_t *iss, time_t now);

/*
 * For a long-running component (the signer's loop, an nginx worker): at
 * most once every OCSP_EXPIRY_CHECK_EVERY seconds, whether an issuer's
 * responder certificate is within responder_expiry_warning of its notAfter
 * (or past it) and was not warned about in the last OCSP_EXPIRY_WARN_EVERY
 * seconds (the start-up warning counts).  Returns 1 with a line for the log
 * in BUF (LEN bytes) for one such issuer, marking it warned: call again
 * until it returns 0.
 */
#define OCSP_EXPIRY_CHECK_EVERY 60
#define OCSP_EXPIRY_WARN_EVERY 86400
int ocsp_registry_expiry_due(ocsp_registry_t *reg, time_t now, char *buf,
                             size_t len);

size_t ocsp_hash_len(ocsp_hash_e hash);

#endif
