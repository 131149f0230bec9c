/*
 * Reading what the CRLs are built from (keys.h): the per-shard hashes
 * P:revoked:ISSUER:SHARD, written by revoca-signer (read through their
 * logs P:revlog:ISSUER:SHARD when those can be trusted, crl_revlog.h), and
 * the change log P:changes:ISSUER for delta CRLs.  Read-only; replies are
 * bounded and every record is validated.  A record that cannot be decoded fails
 * the build: publishing without it could silently un-revoke a certificate.
 */
#ifndef CRL_FETCH_H
#define CRL_FETCH_H

#include <stdint.h>

#include "crl_conf.h"
#include "crl_entry.h"
#include "rconn.h"

typedef struct {
    size_t records;        /* fields read */
    size_t expired;        /* dropped: notAfter + expired_after passed */
    size_t hold_skipped;   /* cabf: certificateHold is not allowed */
    size_t reason_cleared; /* cabf: reason outside BR 7.2.2, left out */
} crl_fetch_stats_t;

/*
 * A number Redis sent as a string (TIME's fields, a sorted-set score, a
 * state field) into *v: the whole string, finite and within int64.  0, or
 * -1 for anything else.
 */
int crl_reply_i64(const redisReply *r, int64_t *v);

/*
 * Decodes one field (a serial) and value (a protobuf CertRecord) of the
 * revoked hash of SHARD into e.  Returns 1 (on the CRL), 0 (not on it:
 * expired, or a hold under cabf; *why says which), -1 (invalid).  The one
 * place that decides what a record puts on a CRL.
 */
int crl_record_entry(const crl_issuer_conf_t *ci, int64_t now,
                     const char *field, size_t flen, const char *val,
                     size_t vlen, unsigned shard, crl_entry_t *e,
                     const char **why);

/* Redis server time in unix milliseconds (TIME); 0 or -1 with err. */
int crl_redis_time_ms(ocsp_rconn_t *rc, int64_t *ms, char *err);

/*
 * Every entry on the issuer's CRLs at NOW (unix seconds), unsorted, appended
 * to *out; serials dropped as expired are appended to *expired (for the
 * pre-publish check).  Returns 0, or -1 with err (OCSP_ERR_MAX).
 */
int crl_fetch_revoked(ocsp_rconn_t *rc, const char *prefix,
                      const crl_issuer_conf_t *ci, int64_t now,
                      crl_entries_t *out, crl_entries_t *expired,
                      crl_fetch_stats_t *st, char *err);

/*
 * Delta entries: every serial whose CRL status changed after SINCE_MS,
 * with its current entry, or removeFromCRL when it is no longer on the CRL
 * (a released hold).  *max_ms receives the newest change seen (since_ms if
 * none).  Returns 0; 1 if more than ci->rebase_after serials changed (build
 * a new full CRL instead); -1 with err.
 */
int crl_fetch_changes(ocsp_rconn_t *rc, const char *prefix,
                      const crl_issuer_conf_t *ci, int64_t now,
                      int64_t since_ms, crl_entries_t *out, int64_t *max_ms,
                      char *err);

/* Newest score in P:changes:ISSUER, 0 when empty; 0 or -1 with err. */
int crl_fetch_last_change(ocsp_rconn_t *rc, const char *prefix,
                          const char *issuer, int64_t *ms, char *err);

#endif
