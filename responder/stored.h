/*
 * The pre-signed responses of one certificate as Redis stores them
 * (P:ocsp:ISSUER:SERIAL, keys.h), and the one way back to the response a
 * client gets.
 *
 * Why: a delegated responder's certificate (~480 bytes) made up two thirds
 * of every stored response, twice per certificate (SHA-1 and SHA-256
 * CertIDs), and a hash of two such values is never listpack-encoded.  RFC
 * 6960 4.2.1 puts certs outside tbsResponseData, so outside the signature:
 * the signer stores each response without it, in one string, and the reader
 * puts the responder certificate back (ocsp_stored_full()) before a client
 * sees it.  The nginx module does it once per cache miss; its shared cache
 * holds full responses.
 *
 * The value, version 1 (integers big-endian):
 *
 *   offset  size  field
 *   0       1     version: 1
 *   1       1     certStatus of both responses: 0 good, 1 revoked, 2 unknown
 *   2       8     thisUpdate, unix seconds, two's complement
 *   10      8     nextUpdate, the same
 *   18      2     n1, then n1 bytes: the OCSPResponse for the SHA-1 CertID
 *   20+n1   2     n2, then n2 bytes: the one for the SHA-256 CertID
 *
 * and nothing after.  Each response is a successful DER OCSPResponse whose
 * BasicOCSPResponse has no certs; its ResponderID is byKey.  A reader
 * refuses any other version (a newer signer's format is not guessed at): an
 * invalid stored response, never served.
 */
#ifndef REVOCA_STORED_H
#define REVOCA_STORED_H

#include <stddef.h>
#include <stdint.h>

#include "issuer.h"
#include "response.h"

#define OCSP_STORED_VERSION 1
#define OCSP_STORED_HEADER 18 /* version, status, the two times */

typedef struct {
    ocsp_cert_status_e status;
    int64_t this_update;
    int64_t next_update;
    /* the responses without certs, one per CertID hash, borrowed */
    const unsigned char *resp[OCSP_HASH_COUNT];
    size_t resp_len[OCSP_HASH_COUNT];
} ocsp_stored_t;

/* The size of ST's encoding. */
size_t ocsp_stored_size(const ocsp_stored_t *st);

/*
 * Writes ST's encoding at OUT (CAP bytes).  Returns its size, or 0 if it
 * does not fit, a response is longer than 65535 bytes or a field is out of
 * range.  The responses are not checked here: the signer wrote them.
 */
size_t ocsp_stored_encode(const ocsp_stored_t *st, unsigned char *out,
                          size_t cap);

/*
 * Reads the LEN bytes at P (from Redis: untrusted) into *ST, which borrows
 * from P.  Checks the envelope: the version, the status, thisUpdate before
 * nextUpdate, the lengths filling the value exactly; each response is
 * checked by ocsp_stored_full() when it is served.  Returns 0, or -1 with
 * *why (static text) saying what is wrong.
 */
int ocsp_stored_decode(const unsigned char *p, size_t len, ocsp_stored_t *st,
                       const char **why);

/* Room ocsp_stored_full() needs for a stored response of LEN bytes. */
#define OCSP_STORED_FULL_MAX(iss, len) ((len) + (iss)->responder_der_len + 32)

/*
 * The response a client gets from the stored response RESP (LEN bytes, from
 * ocsp_stored_decode()) of an issuer ISS loaded with its responder
 * certificate: RESP strictly checked (DER lengths and tags down to the
 * BasicOCSPResponse, no certs, ResponderID byKey naming ISS's responder),
 * then, for a delegated responder, the certificate added as certs [0]
 * EXPLICIT SEQUENCE OF Certificate (RFC 6960 4.2.1, 4.2.2.2) and the five
 * enclosing lengths rewritten; for the CA signing itself, RESP unchanged.
 * Writes it at OUT (CAP bytes, OCSP_STORED_FULL_MAX) and returns its size;
 * 0 with *why (static text) when RESP is invalid, signed by another key than
 * ISS's responder (a responder replaced since it was signed) or OUT is too
 * small.
 */
size_t ocsp_stored_full(const ocsp_issuer_t *iss, const unsigned char *resp,
                        size_t len, unsigned char *out, size_t cap,
                        const char **why);

#endif
