/*
 * Strict decoding of an OCSPRequest (RFC 6960 4.1.1) from untrusted bytes.
 * Everything a responder needs is copied out into a plain struct; nothing
 * OpenSSL-owned escapes.
 */
#ifndef REVOCA_REQUEST_H
#define REVOCA_REQUEST_H

#include <stddef.h>

#include "issuer.h"
#include "serial.h"

/* RFC 6960 4.2.1 OCSPResponseStatus. */
typedef enum {
    OCSP_ST_SUCCESSFUL = 0,
    OCSP_ST_MALFORMED = 1,
    OCSP_ST_INTERNAL_ERROR = 2,
    OCSP_ST_TRY_LATER = 3,
    OCSP_ST_SIG_REQUIRED = 5,
    OCSP_ST_UNAUTHORIZED = 6
} ocsp_resp_status_e;

#define OCSP_NONCE_MAX 128 /* RFC 9654 2.1 */
#define OCSP_REQUEST_MAX_SINGLES 16

typedef struct {
    ocsp_hash_e hash;
    unsigned char name_hash[OCSP_HASH_MAX_LEN];
    unsigned char key_hash[OCSP_HASH_MAX_LEN];
    char serial[OCSP_SERIAL_HEX_MAX + 1]; /* canonical */
} ocsp_certid_t;

typedef struct {
    size_t max_size;    /* bytes of DER accepted */
    size_t max_singles; /* singleRequests per message, <= the array size */
} ocsp_limits_t;

typedef struct {
    size_t nsingles;
    ocsp_certid_t singles[OCSP_REQUEST_MAX_SINGLES];
    size_t nonce_len; /* 0: no nonce */
    unsigned char nonce[OCSP_NONCE_MAX];
    const char *err; /* static text: why it was refused */
} ocsp_request_t;

/*
 * Decodes DER of LEN bytes into *req under LIM.  Returns OCSP_ST_SUCCESSFUL,
 * or the status to answer with (malformedRequest for anything that is not
 * one well-formed DER OCSPRequest within the limits; unauthorized for a
 * CertID hash other than SHA-1 / SHA-256, which no issuer can match), with
 * req->err saying why.
 */
ocsp_resp_status_e ocsp_request_decode(const unsigned char *der, size_t len,
                                       const ocsp_limits_t *lim,
                                       ocsp_request_t *req);

/*
 * The same verdict and the same *req for every input, every request read
 * through OpenSSL's schema (d2i, then a re-encoding compared with the
 * bytes) where ocsp_request_decode() reads plain requests (RFC 5019 2.1.1's
 * form) from the bytes alone: the reference the tests and the fuzz target
 * hold the fast reading to.
 */
ocsp_resp_status_e ocsp_request_decode_schema(const unsigned char *der,
                                              size_t len,
                                              const ocsp_limits_t *lim,
                                              ocsp_request_t *req);

/* Room for any request ocsp_request_encode() writes. */
#define OCSP_REQUEST_ENCODED_MAX 160

/*
 * The OCSPRequest an RFC 5019 client sends for ISS's certificate SERIAL
 * (canonical hex) with a HASH CertID (RFC 5019 2.1.1, RFC 6960 4.1.1): one
 * Request, its CertID as responses carry it (ocsp_certid_write()), no
 * version (v1 is the DEFAULT), no requestorName, no extensions, unsigned.
 * These bytes, base64'ed, are what a client's GET names, so what a CDN
 * caches responses under (purge.h, ocsp_get_url()).  Writes the DER into
 * OUT (OCSP_REQUEST_ENCODED_MAX bytes) and returns its length, or 0 (an
 * invalid serial, no memory).
 */
size_t ocsp_request_encode(const ocsp_issuer_t *iss, ocsp_hash_e hash,
                           const char *serial, unsigned char *out);

#endif
