/*
 * Building and signing OCSP responses (RFC 6960 4.2; RFC 5019 profile).
 * Responses are encoded here directly in DER: one SingleResponse, responderID
 * byKey, a delegated responder's certificate in certs (none when the CA
 * signs, RFC 6960 4.2.2.2; none either in the stored form, stored.h),
 * SHA-256 signatures with ECDSA or RSA.
 */
#ifndef REVOCA_RESPONSE_H
#define REVOCA_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "der.h"
#include "issuer.h"
#include "request.h"

typedef enum {
    OCSP_CERT_GOOD = 0,
    OCSP_CERT_REVOKED = 1,
    OCSP_CERT_UNKNOWN = 2
} ocsp_cert_status_e;

/* RFC 5280 5.3.1 CRLReason; -1: leave revocationReason out. */
#define OCSP_REASON_NONE (-1)

typedef struct {
    ocsp_hash_e hash;   /* which CertID form to answer with */
    const char *serial; /* canonical hex */
    ocsp_cert_status_e status;
    int64_t revocation_time; /* unix seconds, when revoked */
    int reason;              /* CRLReason or OCSP_REASON_NONE */
    int64_t this_update;
    int64_t next_update;
    int64_t produced_at;
    const unsigned char *nonce; /* NULL: no nonce extension */
    size_t nonce_len;
    /* 1: leave certs out, for the stored form (stored.h), where the
     * reader puts the delegated responder's certificate back */
    int no_certs;
} ocsp_single_t;

/*
 * Signs a successful OCSPResponse for S with ISS's responder key (the
 * registry must have been loaded with OCSP_REGISTRY_KEYS; every signer of
 * responses, the signer daemon and the module's request path, comes here).  On
 * success returns 0 and a malloc'ed DER buffer in *out (caller frees) of
 * *outlen bytes; -1 on failure (OpenSSL's error queue says why).
 */
int ocsp_response_sign(const ocsp_issuer_t *iss, const ocsp_single_t *s,
                       unsigned char **out, size_t *outlen);

/*
 * The DER AlgorithmIdentifier of HASH as a CertID's hashAlgorithm, NULL
 * parameters (RFC 6960 4.1.1); its length in *len.
 */
const unsigned char *ocsp_certid_alg(ocsp_hash_e hash, size_t *len);

/*
 * Writes the CertID of ISS's certificate SERIAL (canonical hex) under HASH
 * into B (RFC 6960 4.1.1: hashAlgorithm as ocsp_certid_alg(), the issuer's
 * name and key hashes from the registry, the serial as a DER INTEGER):
 * the one writer of CertIDs, for responses and for the requests of the
 * purge URLs (ocsp_request_encode()).  0, or -1 for an invalid serial.
 */
int ocsp_certid_write(der_buf_t *b, const ocsp_issuer_t *iss, ocsp_hash_e hash,
                      const char *serial);

/*
 * The unsigned OCSPResponse for an error STATUS (RFC 6960 4.2.1: no
 * responseBytes).  Returns a pointer to static storage and its length.
 */
const unsigned char *ocsp_response_error(ocsp_resp_status_e status,
                                         size_t *len);

#endif
