/*
 * What Redis says about the service's health, for revoca-signer's metrics
 * thread (signer_metrics.h) and `revoca health` (feeds/cli_health.c): one
 * copy of the queries.  Each function sends a few read-only commands on a
 * connection of its caller's (never one that signs) and decodes their
 * replies, bounded; none of them writes.
 *
 *   stream groups   XINFO GROUPS P:events: a group's lag (entries not yet
 *                   read by it, Redis >= 7.0) and pending (read, not yet
 *                   acknowledged)
 *   re-signs        ZRANGE P:due:ISSUER 0 0 WITHSCORES: the lowest re-sign
 *                   time, and the stored response of that serial (its
 *                   thisUpdate: the oldest response, as re-signs are due in
 *                   the order responses were signed)
 *   CRLs            HMGET P:crlgen-state:ISSUER (crlgen/crl_state.h) and
 *                   the lease P:crlgen-lease:ISSUER (GET, PTTL)
 *   replication     INFO replication
 */
#ifndef REVOCA_HEALTH_H
#define REVOCA_HEALTH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "rconn.h"

#define OCSP_HEALTH_REPLICAS_MAX 16

/* A consumer group of the event stream. */
typedef struct {
    int exists;      /* 0: no such group (or no stream yet) */
    int64_t lag;     /* -1: Redis could not tell (lag is nil) */
    int64_t pending; /* delivered, not acknowledged */
    int64_t consumers;
} ocsp_health_group_t;

/* An issuer's re-signs. */
typedef struct {
    int64_t due;                /* entries of P:due:ISSUER */
    int64_t next_resign;        /* lowest score (unix s); 0: none */
    int64_t oldest_this_update; /* of that serial's stored response; 0: none
                                 * (or unreadable) */
} ocsp_health_due_t;

/* An issuer's CRLs as its generators published them. */
typedef struct {
    uint64_t full_number;                       /* 0: no full CRL yet */
    int64_t full_this_update, full_next_update; /* next 0: older crlgen */
    uint64_t delta_number;
    int64_t delta_this_update, delta_next_update;
    char lease_holder[64]; /* "": nobody holds the lease */
    int64_t lease_ttl_ms;
} ocsp_health_crl_t;

typedef struct {
    char role[16]; /* "master" | "slave" */
    /* a primary's replicas */
    size_t nreplicas;
    struct {
        char addr[64];
        char state[16];
        int64_t lag; /* seconds since its last ack; -1 unknown */
        int64_t offset_behind;
    } replicas[OCSP_HEALTH_REPLICAS_MAX];
    int64_t connected_replicas;
    /* a replica's link to its primary */
    char master_link[16];   /* "up" | "down" */
    int64_t master_last_io; /* seconds; -1 unknown */
} ocsp_health_repl_t;

/*
 * GROUP of the stream EVENTS_KEY into *G.  A stream or a group that does
 * not exist is exists = 0, not an error.  0, or -1 with ERR (OCSP_ERR_MAX).
 */
int ocsp_health_group(ocsp_rconn_t *conn, const char *events_key,
                      const char *group, ocsp_health_group_t *g, char *err);

/* ISSUER's re-signs under PREFIX into *D.  0, or -1 with ERR. */
int ocsp_health_due(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                    ocsp_health_due_t *d, char *err);

/* Seconds the most overdue re-sign of D is late at NOW; 0 if none is. */
int64_t ocsp_health_overdue(const ocsp_health_due_t *d, int64_t now);

/* ISSUER's CRL state and lease under PREFIX into *C.  0, or -1 with ERR. */
int ocsp_health_crl(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                    ocsp_health_crl_t *c, char *err);

/* INFO replication into *R.  0, or -1 with ERR. */
int ocsp_health_replication(ocsp_rconn_t *conn, ocsp_health_repl_t *r,
                            char *err);

#endif
