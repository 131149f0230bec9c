/*
 * revoca-crlgen settings: the top-level "crl" group (publication, leases)
 * and each issuer's "crl" subgroup (lifetimes, deltas), read from the
 * shared configuration file and checked at load time against the limits of
 * the issuer's profile (policy.h: the cabf profile's Baseline
 * Requirements), so that a configuration breaking them never starts.  The
 * CRL URLs are the core config's (config.h).  See docs/crl.md.
 */
#ifndef CRL_CONF_H
#define CRL_CONF_H

#include <stdint.h>

#include "config.h"

#define CRL_CONSUMER_MAX 64

typedef struct {
    const ocsp_issuer_conf_t *issuer_conf; /* borrowed from the shared config */
    int64_t lifetime;        /* full and shard CRLs: nextUpdate - thisUpdate */
    int64_t resign_after;    /* re-issue this long after thisUpdate */
    int64_t update_interval; /* a change reaches a CRL within this */
    int delta;               /* publish delta CRLs */
    int64_t delta_lifetime;
    int64_t delta_resign_after;
    int64_t expired_after; /* drop entries this long after notAfter */
    int64_t rebase_after;  /* delta entries that trigger a new full CRL */
    /* Borrowed from issuer_conf (config.h, which reads and checks them): */
    const char *full_url;    /* URL of ISSUER.crl (shard list when N = 1) */
    const char *delta_url;   /* freshestCRL of the full CRL */
    unsigned nshards;        /* issuer_conf->shards */
    char *const *shard_urls; /* nshards URLs when nshards > 1 (IDP) */
} crl_issuer_conf_t;

typedef struct {
    const ocsp_config_t *config; /* borrowed */
    char *publish_dir;
    char *metrics_file;
    char *state_dir;      /* entry snapshots (snapshot.h) */
    int64_t rescan_after; /* full Redis scan when the snapshot is older */
    char *post_publish;   /* NULL: none; run by /bin/sh -c */
    int64_t post_publish_timeout;
    int64_t lease_ttl;     /* seconds */
    int64_t claim_idle;    /* take over a dead consumer's events after */
    int64_t clock_skew;    /* margin on the delta cut-off */
    int64_t event_timeout; /* ack an event the signer never reflected */
    char consumer[CRL_CONSUMER_MAX + 1];
    size_t n;
    crl_issuer_conf_t *issuers;
} crl_conf_t;

/*
 * Reads crlgen's settings from config (which must outlive crl_conf).  Issuers
 * without a CA key ("key") are skipped unless they have a crl group, which is
 * then an error.  Returns 0, or -1 with "FILE:LINE: problem" in err
 * (OCSP_ERR_MAX).  Free with crl_conf_free().
 */
int crl_conf_load(crl_conf_t *crl_conf, const ocsp_config_t *config, char *err);
void crl_conf_free(crl_conf_t *crl_conf);

#endif
