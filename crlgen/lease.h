/*
 * Leadership among generators: one Redis key per issuer,
 * P:crlgen-lease:ISSUER, holding the leader's id with a TTL.  The leader
 * renews it well before it expires; a follower takes it over within one
 * TTL of the leader's death.  Publication is fenced: a generator publishes
 * only while its lease has at least a third of its TTL left, and its state
 * updates are refused by Redis once the lease is someone else's.  CRL
 * numbers come from one sequence (crl_gen.c), so they never repeat
 * whoever publishes.
 */
#ifndef CRL_LEASE_H
#define CRL_LEASE_H

#include <stdint.h>

#include "keys.h"
#include "rconn.h"

typedef struct {
    char key[OCSP_KEY_MAX];
    char id[128];
    int64_t ttl_ms;
    long expires; /* monotonic ms, conservative; 0: not held */
} crl_lease_t;

/* A lease of ISSUER's for CONSUMER with a random id; 0, or -1 if OpenSSL's
 * generator failed. */
int crl_lease_init(crl_lease_t *l, const char *prefix, const char *issuer,
                   const char *consumer, int64_t ttl_s);

/* Takes or renews the lease.  Returns 1 if held, 0 if another generator
 * holds it, -1 on a Redis error (l->expires is kept: it may still be ours
 * until it runs out). */
int crl_lease_acquire(ocsp_rconn_t *conn, crl_lease_t *l);

/* True while held with more than a third of the TTL left. */
int crl_lease_safe(const crl_lease_t *l);

/* Gives the lease up (shutdown): a follower takes over at once. */
void crl_lease_release(ocsp_rconn_t *conn, crl_lease_t *l);

/*
 * HSET of argc/2 (at most 10) field-value pairs into KEY, done by Redis only
 * while L is still ours.  Returns 1 if written, 0 if the lease was lost, -1 on
 * error.
 */
int crl_lease_hset(ocsp_rconn_t *conn, const crl_lease_t *l, const char *key,
                   int argc, const char **argv);

#endif
