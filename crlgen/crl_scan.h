/*
 * The cold path of a full CRL: a scan (HSCAN) of every shard's revoked hash
 * P:revoked:ISSUER:SHARD (keys.h), decoded while the pages arrive.  Used when
 * the revoked logs cannot be trusted (crl_revlog.h), and then also collects
 * each shard's records for the rebuild of its log.
 */
#ifndef CRL_SCAN_H
#define CRL_SCAN_H

#include <stdint.h>

#include "crl_record.h"
#include "crl_revlog.h"
#include "rconn.h"

/*
 * Every entry on the issuer CONF's CRLs at NOW (unix seconds), unsorted,
 * appended to *out; entries dropped as expired to *expired; *st counts the
 * decisions.  With LOGS (CONF->nshards of them) each shard's records are
 * also appended to logs[shard].  Returns 0, or -1 with err (OCSP_ERR_MAX):
 * on a Redis error (the connection is dropped), or on the first invalid
 * record, named by key, field and reason: a CRL without it could
 * silently un-revoke a certificate.
 */
int crl_scan_revoked(ocsp_rconn_t *conn, const char *prefix,
                     const crl_issuer_conf_t *conf, int64_t now,
                     crl_entries_t *out, crl_entries_t *expired,
                     crl_record_stats_t *st, crl_revlog_buf_t *logs, char *err);

#endif
