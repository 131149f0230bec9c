/*
 * What the generators of an issuer share about the CRLs last published, in
 * the Redis hash P:crlgen-state:ISSUER: numbers, thisUpdate, and the change
 * log positions they cover.  A generator taking over reads it to know the
 * delta's base and when the next CRL is due; the fields are written only
 * by the lease holder (lease.h).  With crl.post_publish, a CRL counts as
 * published only once its command succeeded: each generator publishes into
 * its own directory, clients read the shared location the command copies
 * to, and the base a delta names must be a full CRL they have there.
 */
#ifndef CRL_STATE_H
#define CRL_STATE_H

#include <stdint.h>

#include "lease.h"
#include "rconn.h"

typedef struct {
    uint64_t full_number; /* 0: no full CRL published yet */
    int64_t full_this_update;
    int64_t full_next_update; /* for `revoca health` (responder/health.h) */
    int64_t full_cutoff_ms;   /* deltas list changes after this */
    int64_t full_max_ms;      /* newest change the full CRL saw */
    uint64_t delta_number;
    int64_t delta_this_update;
    int64_t delta_next_update;
    uint64_t delta_base;
    int64_t delta_max_ms;
} crl_state_t;

/* Loads the state (zeroes for absent fields).  0, or -1 with err. */
int crl_state_load(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                   crl_state_t *st, char *err);

/* Stores ST, fenced by L.  Returns 1 if stored, 0 if the lease was lost,
 * -1 on error. */
int crl_state_save(ocsp_rconn_t *conn, const crl_lease_t *l, const char *prefix,
                   const char *issuer, const crl_state_t *st);

/*
 * Brings ST (as loaded) up to MINE (what this generator published and has
 * in memory) where MINE is later: each half (full, delta) whose number is
 * larger.  After a failover the promoted replica may lack the last state
 * written; the leader writes it again.  Returns 1 if ST changed, else 0.
 */
int crl_state_merge(crl_state_t *st, const crl_state_t *mine);

#endif
