/*
 * Which CRL shard a certificate belongs to.  Its clients read the CRL its
 * cRLDistributionPoints names (RFC 5280 4.2.1.13), so a revoked certificate
 * must be listed on exactly that CRL: the shard is derived from the
 * distribution point against the issuer's configured CRL URLs (config.h),
 * never guessed.  The CLI's issue and import, and any later ingest, call
 * this one function.
 */
#ifndef REVOCA_SHARD_H
#define REVOCA_SHARD_H

#include <limits.h>
#include <openssl/x509.h>

#include "config.h"

/* No shard is fixed: every CRL the certificate's clients may read lists
 * every shard, so the serial decides (ocsp_serial_shard). */
#define OCSP_SHARD_ANY UINT_MAX

typedef struct {
    unsigned shard;         /* the shard, or OCSP_SHARD_ANY */
    char err[OCSP_ERR_MAX]; /* why not, naming the distribution point */
} ocsp_shard_t;

/*
 * The shard of certificate X of issuer IC, into res->shard, given REQUESTED
 * (the shard the CA reported, or OCSP_SHARD_ANY; the caller checks it is
 * below ic->shards):
 *  - no CRL URL configured (none given and no crl.base_url, or an issuer
 *    without a CA key, for which revoca-crlgen publishes nothing):
 *    REQUESTED, without a check;
 *  - a distribution point naming shard N's URL: N; REQUESTED must be N;
 *  - one naming the full CRL's URL, or no cRLDistributionPoints at all (no
 *    CRL client reads a CRL for it): REQUESTED;
 *  - any other distribution point, one naming two shards, one that is not
 *    the full CRL's while several shards have no URLs, or an unreadable
 *    extension: refused.
 * Returns 0, or -1 with res->err set.  X is only read.
 */
int ocsp_shard_from_cert(const ocsp_issuer_conf_t *ic, X509 *x,
                         unsigned requested, ocsp_shard_t *res);

#endif
