/*
 * What the generators of an issuer share about the CRLs last published, in
 * the Redis hash P:crlgen-state:ISSUER: numbers, thisUpdate, and the change
 * log positions they cover.  A generator taking over reads it to know the
 * delta's base and when the next CRL is due; the fields are written only
 * by the lease holder (lease.h).
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

/* Stores the full-CRL (or delta) half of ST, fenced by L.  Returns 1 if
 * stored, 0 if the lease was lost, -1 on error. */
int crl_state_save_full(ocsp_rconn_t *conn, const crl_lease_t *l,
                        const char *prefix, const char *issuer,
                        const crl_state_t *st);
int crl_state_save_delta(ocsp_rconn_t *conn, const crl_lease_t *l,
                         const char *prefix, const char *issuer,
                         const crl_state_t *st);

#endif
