/*
 * CDN purges (docs/purge.md).  A CDN in front of the responders caches GET
 * responses for up to their max-age; when a certificate's answer changes
 * it must be told to drop them.  The signer records a purge job in the
 * same MULTI/EXEC that commits the change (signer_tx.c: XADD to P:purge,
 * field "c" = "ISSUER:SERIAL", keys.h), so a job exists exactly when the
 * change was committed and a crash loses none.  A worker thread of the
 * signer (the purger) reads the jobs through the consumer group "purger"
 * (so several signers never run one job twice in normal operation), runs
 * the operator's hook with the certificate's GET URLs as arguments,
 * retries a failed run with a doubling backoff, and acknowledges (XACK,
 * then XDEL) a job only once its run succeeded, or once it gave up after
 * purge.attempts runs, with an error line saying so.
 *
 *           signer's transaction                     purger thread
 *   MULTI ... PUBLISH P:invalidate I:S ...        XREADGROUP purger
 *             XADD P:purge MAXLEN ~ N * c I:S  --> hook URL1 URL2 ... --> ok?
 *   EXEC                                           XACK + XDEL  | retry later
 *
 * The URLs of a certificate: for each of its issuer's ocsp_urls, the GET
 * URL of its SHA-1 CertID's request, then its SHA-256 one's
 * (ocsp_request_encode(), ocsp_get_url()).
 *
 * The purger never delays signing: it has its own Redis connection and
 * thread, and shares only the (read-only) configuration and issuer
 * registry with the signer.
 */
#ifndef REVOCA_PURGE_H
#define REVOCA_PURGE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "get_path.h"
#include "issuer.h"

#define OCSP_PURGE_GROUP "purger"
#define OCSP_PURGE_BATCH_MAX 16
/* URLs of one certificate: every base URL, both CertID hashes. */
#define OCSP_PURGE_URLS_MAX (OCSP_OCSP_URLS_MAX * OCSP_HASH_COUNT)
#define OCSP_PURGE_URL_MAX                                                     \
    OCSP_GET_URL_MAX(OCSP_CRL_URL_MAX, OCSP_REQUEST_ENCODED_MAX)

/* The purge group of the configuration (docs/purge.md). */
typedef struct {
    int enabled;      /* purge.hook is set */
    char *hook;       /* absolute path of an executable; owned */
    int64_t timeout;  /* seconds a run may take before it is killed */
    int64_t attempts; /* runs of a job before it is given up */
    int64_t backoff;  /* seconds before the first retry, doubling */
    int64_t backoff_max;
    int64_t batch;      /* certificates per run */
    int64_t claim_idle; /* seconds before a dead signer's jobs are taken */
    int64_t stream_max; /* XADD MAXLEN ~ of P:purge */
} ocsp_purge_conf_t;

/*
 * Reads and checks the purge group of CF into *PC (defaults when absent:
 * disabled).  0, or -1 with ERR (OCSP_ERR_MAX) naming file and line.  Free
 * with ocsp_purge_conf_free().
 */
int ocsp_purge_conf_load(ocsp_purge_conf_t *pc, const ocsp_config_t *cf,
                         char *err);
void ocsp_purge_conf_free(ocsp_purge_conf_t *pc);

/*
 * The GET URLs of ISS's certificate SERIAL (canonical hex), as the header
 * says, into URLS (OCSP_PURGE_URLS_MAX of OCSP_PURGE_URL_MAX bytes).
 * Returns how many (0 when the issuer has no ocsp_urls), or -1 (an invalid
 * serial).
 */
int ocsp_purge_urls(const ocsp_issuer_t *iss, const char *serial,
                    char (*urls)[OCSP_PURGE_URL_MAX]);

/* What the purger did, since it started: read by any thread (a metrics
 * endpoint later, issue 15), written by the purger. */
typedef struct {
    _Atomic uint64_t jobs;      /* jobs taken from the stream */
    _Atomic uint64_t runs;      /* hook runs */
    _Atomic uint64_t succeeded; /* jobs acknowledged after a good run */
    _Atomic uint64_t failed;    /* runs that failed (or timed out) */
    _Atomic uint64_t retries;   /* runs that were a job's second or later */
    _Atomic uint64_t gave_up;   /* jobs dropped after purge.attempts runs */
    _Atomic uint64_t dropped;   /* jobs unreadable or of an unknown issuer,
                                 * or trimmed from the stream unrun */
} ocsp_purge_stats_t;

typedef struct ocsp_purger_s ocsp_purger_t;

/*
 * Starts the purger thread for CF and PC (both must outlive it), with
 * REG's issuers (read only; must outlive it), as consumer CONSUMER of the
 * group.  NULL with ERR set if the thread could not start.
 */
ocsp_purger_t *ocsp_purger_start(const ocsp_config_t *cf,
                                 const ocsp_purge_conf_t *pc,
                                 const ocsp_registry_t *reg,
                                 const char *consumer, char *err);

/* Asks the purger to stop after the run in hand (bounded by the timeout),
 * waits for it and frees it.  Jobs not acknowledged stay pending and are
 * run again by the next purger of this consumer, or taken by another one
 * after claim_idle.  NULL is a no-op. */
void ocsp_purger_stop(ocsp_purger_t *p);

/* Its counters (borrowed, live). */
const ocsp_purge_stats_t *ocsp_purger_stats(const ocsp_purger_t *p);

#endif
