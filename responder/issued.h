/*
 * An issued certificate as a CA reports it: what Revoca learns from the
 * certificate itself (canonical serial, validity, its DER) and whether
 * the issuer's CA signed it.  The CLI (revoca issue --cert, import) and
 * the HTTP ingest (a "certificate" member) call these; the certificate's
 * CRL shard is shard.h's.
 */
#ifndef REVOCA_ISSUED_H
#define REVOCA_ISSUED_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "revocation.pb-c.h"

/* Largest certificate accepted from a client (DER bytes). */
#define OCSP_ISSUED_CERT_MAX (64 * 1024)

/*
 * Whether ISSUER issued X and signed it: 0, or -1 (OpenSSL's error queue
 * cleared).  Both are only read.
 */
int ocsp_cert_issued_by(X509 *x, X509 *issuer);

/*
 * One certificate from LEN bytes of BUF (at most twice
 * OCSP_ISSUED_CERT_MAX): PEM (the first certificate block), base64 of its
 * DER (white space allowed) or DER, where nothing may follow the DER.
 * Returns it (caller frees) or NULL.
 */
X509 *ocsp_cert_parse(const unsigned char *buf, size_t len);

/*
 * Fills IS for CERT: notBefore, notAfter and the certificate's DER
 * (malloc'ed into is->cert_der, the caller frees it), and its canonical
 * serial into SERIAL (OCSP_SERIAL_HEX_MAX + 1 bytes).  Returns 0, or -1
 * with *WHY saying what is wrong with the certificate.
 */
int ocsp_issued_from_cert(X509 *cert, char *serial, Revoca__Issued *is,
                          const char **why);

/*
 * A writer's rule for an issue reported by serial and validity (no
 * certificate): NULL if it may be written at NOW, else why not (its
 * notAfter is not after NOW: it would be dropped as expired, never
 * answerable).  The signer accepts old events; only new ones are judged.
 */
const char *ocsp_issued_refuses_new(const Revoca__Issued *is, int64_t now);

#endif
