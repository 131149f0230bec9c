/*
 * Reading what the CRLs are built from (keys.h): the per-shard hashes
 * P:revoked:ISSUER:SHARD, written by revoca-signer (read through their
 * logs P:revlog:ISSUER:SHARD when those can be trusted, crl_revlog.h, else
 * scanned, crl_scan.h), and the change log P:changes:ISSUER for delta CRLs.
 * Replies are bounded and every record is decided by crl_record_entry().  A
 * record that is not valid fails the build: publishing without it could
 * silently un-revoke a certificate.
 */
#ifndef CRL_FETCH_H
#define CRL_FETCH_H

#include <stdint.h>

#include "crl_conf.h"
#include "crl_entry.h"
#include "crl_record.h"
#include "rconn.h"

/*
 * Every entry on the issuer's CRLs at NOW (unix seconds), unsorted, appended
 * to *out; serials dropped as expired are appended to *expired (for the
 * pre-publish check).  Returns 0, or -1 with err (OCSP_ERR_MAX).
 */
int crl_fetch_revoked(ocsp_rconn_t *conn, const char *prefix,
                      const crl_issuer_conf_t *crl_issuer, int64_t now,
                      crl_entries_t *out, crl_entries_t *expired,
                      crl_record_stats_t *st, char *err);

/*
 * Delta entries: every serial whose CRL status changed after SINCE_MS,
 * with its current entry, or removeFromCRL when it is no longer on the CRL
 * (a released hold).  *max_ms receives the newest change seen (since_ms if
 * none).  Returns 0; 1 if more than crl_issuer->rebase_after serials changed
 * (build a new full CRL instead); -1 with err.
 */
int crl_fetch_changes(ocsp_rconn_t *conn, const char *prefix,
                      const crl_issuer_conf_t *crl_issuer, int64_t now,
                      int64_t since_ms, crl_entries_t *out, int64_t *max_ms,
                      char *err);

/* Newest score in P:changes:ISSUER, 0 when empty; 0 or -1 with err. */
int crl_fetch_last_change(ocsp_rconn_t *conn, const char *prefix,
                          const char *issuer, int64_t *ms, char *err);

#endif
