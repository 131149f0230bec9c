/*
 * Building and publishing one issuer's CRLs: the full CRL, its shards (with
 * the shard URL list) and the delta, each checked before it replaces the
 * published file.  Used by the daemon loop and by --once.
 */
#ifndef CRL_GEN_H
#define CRL_GEN_H

#include "crl_build.h"
#include "crl_conf.h"
#include "crl_state.h"
#include "lease.h"
#include "metrics.h"
#include "rconn.h"

typedef struct {
    const crl_issuer_conf_t *conf; /* borrowed */
    crl_signer_t signer;           /* owned */
    crl_lease_t lease;
    crl_state_t st; /* as last loaded or published */
    int leader;
    int yielded;   /* lease given up after post_publish failed: not taken
                      again before retry_at */
    int reload;    /* the connection failed while leading: state merged
                      with Redis's at the next tick (crl_state_merge()) */
    int rebase;    /* the delta grew too large: new full */
    long retry_at; /* monotonic ms: backoff after failure */
    int failures;  /* consecutive */
    /* The last failure logged, so that one repeated at every retry is
     * logged once per interval with a count. */
    char failed_err[OCSP_ERR_MAX];
    long failed_logged;           /* monotonic ms */
    unsigned long failed_repeats; /* not logged since */
} crl_issuer_t;

typedef struct {
    const crl_conf_t *crl_conf; /* borrowed */
    ocsp_rconn_t *conn;         /* borrowed */
    crl_metrics_t metrics;
} crl_gen_t;

/*
 * Builds and publishes each shard and the shard list, then the full CRL,
 * then (when deltas are on) a delta over the new base; each file is handed
 * to crl.post_publish as it is published.  The lease must be held.
 * Returns 0; 1 with err if a post_publish command failed: the round
 * stopped there, the shared state (the delta's base, the schedule) stays,
 * and a delta over the old base was published (when there is one); or -1
 * with err: a CRL that failed its check is not published and the previous
 * one stays.
 */
int crl_gen_full(crl_gen_t *g, crl_issuer_t *is, char *err);

/*
 * Builds and publishes a delta CRL over the last full CRL that was shared.
 * Sets is->rebase instead when more than rebase_after serials changed.
 * Returns 0, 1 with err if it was published but its post_publish command
 * failed (the state stays: the next delta covers its changes again), or
 * -1 with err.
 */
int crl_gen_delta(crl_gen_t *g, crl_issuer_t *is, char *err);

#endif
