/*
 * Prometheus text-format metrics of the CRLs this generator publishes:
 * sizes, entries, numbers, thisUpdate/nextUpdate (ages are time() minus
 * these), publish failures, leadership.  Written atomically to
 * crl.metrics_file (default: beside the publish dir, not inside it) for
 * node_exporter's textfile collector or any scraper.
 */
#ifndef CRL_METRICS_H
#define CRL_METRICS_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    char issuer[40];
    char file[80];    /* published file name */
    const char *kind; /* "full" | "delta" | "shard" (static) */
    size_t bytes;
    size_t entries;
    uint64_t number;
    int64_t this_update;
    int64_t next_update;
    int64_t published_at; /* unix seconds */
    double build_seconds;
    uint64_t failures;    /* builds or checks or writes that failed */
    int64_t ca_not_after; /* the issuing CA certificate's, unix seconds */
} crl_metric_t;

typedef struct {
    crl_metric_t *v;
    size_t n;
    size_t cap;
    char (*leaders)[40]; /* issuers whose lease this generator holds */
    size_t nleaders;
} crl_metrics_t;

/* The metric of FILE, created on first use; NULL on allocation failure. */
crl_metric_t *crl_metrics_get(crl_metrics_t *m, const char *issuer,
                              const char *kind, const char *file);
/* Records whether this generator leads ISSUER. */
void crl_metrics_leader(crl_metrics_t *m, const char *issuer, int leader);
/* Writes PATH atomically.  0, or -1 with err. */
int crl_metrics_write(const crl_metrics_t *m, const char *path, char *err);
void crl_metrics_free(crl_metrics_t *m);

#endif
