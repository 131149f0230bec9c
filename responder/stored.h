/*
 * The pre-signed responses of one certificate as Redis stores them
 * (P:ocsp:ISSUER:SERIAL, keys.h), and the one way back to the responses a
 * client gets.
 *
 * Why: a delegated responder's certificate (~480 bytes) made up two thirds
 * of every stored response, twice per certificate (SHA-1 and SHA-256
 * CertIDs), and a hash of two such values is never listpack-encoded.  Two
 * facts make the value small:
 *  - RFC 6960 4.2.1 puts certs outside tbsResponseData, so outside the
 *    signature: responses are stored without it, and the reader puts the
 *    responder certificate back;
 *  - the two responses of a certificate are signed from one SingleResponse
 *    and differ only in the CertID's hashAlgorithm, issuerNameHash and
 *    issuerKeyHash, which the reader knows from the issuer, and in the
 *    signature: one response is stored whole, of the other only its
 *    signature.
 * The nginx module rebuilds the response asked for once per cache miss
 * (ocsp_stored_full()); its shared cache holds full responses.
 *
 * The value, version 1 (integers big-endian):
 *
 *   offset  size  field
 *   0       1     version: 1
 *   1       1     certStatus: 0 good, 1 revoked, 2 unknown
 *   2       8     thisUpdate, unix seconds, two's complement
 *   10      8     nextUpdate, the same
 *   18      2     n, then n bytes: the OCSPResponse for the SHA-1 CertID,
 *                 DER, successful, BasicOCSPResponse without certs,
 *                 ResponderID byKey
 *   20+n    rest  the signature of the one for the SHA-256 CertID: its
 *                 BIT STRING, tag and length included
 *
 * The SHA-256 CertID's response is the SHA-1 one with the issuer's SHA-256
 * CertID hashes and that signature.  The signer checks, before it stores a
 * value, that both responses come back from it exactly as it signed them
 * (ocsp_stored_make()).  A reader refuses any other version (a newer
 * signer's format is not guessed at): an invalid stored response, never
 * served.
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
    /* the SHA-1 CertID's response without certs, borrowed */
    const unsigned char *resp;
    size_t resp_len;
    /* the SHA-256 CertID's response's signature BIT STRING, borrowed */
    const unsigned char *sig;
    size_t sig_len;
} ocsp_stored_t;

/* The size of ST's encoding. */
size_t ocsp_stored_size(const ocsp_stored_t *st);

/*
 * Writes ST's encoding at OUT (CAP bytes).  Returns its size, or 0 if it
 * does not fit, the response is longer than 65535 bytes or a field is out
 * of range.  Nothing is checked inside the response: ocsp_stored_make() is
 * the signer's way in.
 */
size_t ocsp_stored_encode(const ocsp_stored_t *st, unsigned char *out,
                          size_t cap);

/*
 * The value for the responses RESP[h] (RESP_LEN[h] bytes, one per CertID
 * hash, signed by ISS without certs from the same SingleResponse), of
 * STATUS and times THIS_UPDATE, NEXT_UPDATE: 0 and a malloc'ed value in
 * *out (caller frees) of *out_len bytes, once ocsp_stored_full() has
 * rebuilt both responses from it byte for byte; -1 with *why (static text)
 * otherwise.  Only ISS's current responder is accepted: previous ones are
 * for reading.
 */
int ocsp_stored_make(const ocsp_issuer_t *iss, ocsp_cert_status_e status,
                     int64_t this_update, int64_t next_update,
                     unsigned char *const resp[OCSP_HASH_COUNT],
                     const size_t resp_len[OCSP_HASH_COUNT],
                     unsigned char **out, size_t *out_len, const char **why);

/*
 * Reads the LEN bytes at P (from Redis: untrusted) into *ST, which borrows
 * from P.  Checks the envelope: the version, the status, thisUpdate before
 * nextUpdate, the lengths filling the value exactly; the response is
 * checked by ocsp_stored_full() when it is served.  Returns 0, or -1 with
 * *why (static text) saying what is wrong.
 */
int ocsp_stored_decode(const unsigned char *p, size_t len, ocsp_stored_t *st,
                       const char **why);

/*
 * The response a client gets for the HASH CertID from ST (from
 * ocsp_stored_decode()), for the issuer ISS loaded with its responder
 * certificate: the stored response strictly checked (DER lengths and tags
 * down to the CertID; a successful BasicOCSPResponse, no certs; ResponderID
 * byKey naming ISS's responder, or one of its previous responders whose
 * certificate has not expired (rotation, docs/keys.md); the SHA-1 CertID of
 * ISS), its CertID made the HASH one of ISS with the other signature for
 * SHA-256, and for a delegated responder the certificate of the one that
 * signed it added as certs [0] EXPLICIT SEQUENCE OF Certificate (RFC 6960
 * 4.2.1, 4.2.2.2).  Returns 0 and a malloc'ed
 * response in *out (caller frees) of *out_len bytes; -1 with *why (static
 * text) when the stored response is invalid, is not ISS's, or was signed by
 * another key than ISS's responders (a responder replaced since it was
 * signed and not listed in previous_responder_certs, or expired).
 */
int ocsp_stored_full(const ocsp_issuer_t *iss, const ocsp_stored_t *st,
                     ocsp_hash_e hash, unsigned char **out, size_t *out_len,
                     const char **why);

/*
 * Which of ISS's responders signed ST: 0 the current one, i + 1 its
 * previous_responder_certs[i] (expired or not), -1 none of them or an
 * invalid stored response.  For `revoca resign --status`.
 */
int ocsp_stored_signer(const ocsp_issuer_t *iss, const ocsp_stored_t *st);

#endif
