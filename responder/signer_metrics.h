/*
 * revoca-signer's Prometheus metrics (issue 15 part 3), the convention of
 * revoca-crlgen (crlgen/metrics.h): a text file for node_exporter's
 * textfile collector, written atomically (a temporary file renamed over
 * it) every signer.metrics_interval and once more when the signer stops.
 *
 * Two sources.  Counters are the signer loop's own: the loop publishes a
 * copy (signer_metrics_publish(), under the metrics' mutex) at most once a
 * second and when it stops; the metrics thread reads only that copy.
 * Gauges that Redis knows (stream lag and pending entries, the most
 * overdue re-sign, the oldest stored response) are asked by the metrics
 * thread on a connection of its own (health.h), so a slow or failing query
 * never delays signing.
 *
 * Every INVENTORY_EVERY_MS (signer.inventory_interval; 0: never) the same
 * thread also walks each issuer's records (inventory.h) and counts them by
 * status, and the live ones expiring within a day and a week: the figures
 * of `revoca inventory`, for expiry alerting.  A walk reads each record
 * once, one page at a time, so its cost is the store's size in Redis time,
 * spread over its pages; the counts change only when a walk completes.
 */
#ifndef REVOCA_SIGNER_METRICS_H
#define REVOCA_SIGNER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "inventory.h"
#include "issuer.h"

/* The event kinds counted per issuer (revocation.proto's oneof). */
enum {
    SIGNER_KIND_ISSUED,
    SIGNER_KIND_REVOKED,
    SIGNER_KIND_HOLD,
    SIGNER_KIND_RELEASE,
    SIGNER_KINDS
};

/* What the loop counts; one copy published to the metrics thread. */
typedef struct {
    uint64_t events;     /* stream entries acknowledged */
    uint64_t unreadable; /* of them: not an event (acknowledged, skipped) */
    uint64_t signed_responses, computed, conflicts, batches;
    int64_t sign_ns; /* wall time spent computing signatures */
    uint64_t invalidations, purge_jobs;
    uint64_t redis_errors, redis_connects;
    /* the purger's (purge.h), 0 without purge.hook */
    uint64_t purge_taken, purge_runs, purge_succeeded, purge_failed,
        purge_retries, purge_gave_up, purge_dropped;
    /* events applied, [issuer index][SIGNER_KIND_*] of the registry */
    uint64_t (*applied)[SIGNER_KINDS]; /* owned by whoever made it */
} signer_counts_t;

/* An issuer's records as an inventory walk counted them (inventory.h). */
#define SIGNER_EXPIRING 2 /* horizons: 1 day, 7 days */
typedef struct {
    uint64_t by_status[OCSP_INV_STATUSES];
    uint64_t expiring[SIGNER_EXPIRING];
    uint64_t invalid; /* records that do not decode */
} signer_inventory_t;

typedef struct signer_metrics_s signer_metrics_t;

/*
 * Starts the metrics thread writing PATH every EVERY_MS milliseconds, for
 * the issuers of REG (read at start only) and the Redis of CF (CF must
 * outlive the thread), the event stream EVENTS_KEY and its group GROUP.
 * NULL with ERR (OCSP_ERR_MAX) if PATH cannot be written or the thread
 * cannot start.
 */
signer_metrics_t *signer_metrics_start(const ocsp_config_t *cf,
                                       const ocsp_registry_t *reg,
                                       const char *path, int64_t every_ms,
                                       int64_t inventory_every_ms,
                                       const char *events_key,
                                       const char *group, char *err);

/* Publishes a copy of C (its applied table included) for the thread. */
void signer_metrics_publish(signer_metrics_t *m, const signer_counts_t *c);

/* Stops the thread after it has written the file a last time (with what
 * was published last), and frees M.  NULL is a no-op. */
void signer_metrics_stop(signer_metrics_t *m);

#endif
