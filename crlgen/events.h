/*
 * The event stream as a wake-up.  revoca-crlgen reads P:events in its own
 * consumer group "crlgen"; CRLs are always built from the signer's hashes,
 * never from events.  An event is acknowledged once the signer has applied
 * it (its certificate record already reflects it, ocsp_record_apply() == 0)
 * and a CRL built after that was published, so a generator dying between
 * reading and publishing leaves it pending for another to claim
 * (XAUTOCLAIM after claim_idle).
 */
#ifndef CRL_EVENTS_H
#define CRL_EVENTS_H

#include "crl_gen.h"
#include "keys.h"
#include "record.h"

#define CRL_GROUP "crlgen"
#define CRL_EVENTS_MAX 100000     /* held in memory; the rest waits in Redis */
#define CRL_REFLECT_PER_TICK 2000 /* record reads per issuer and second */

typedef struct {
    char id[48];        /* stream entry id */
    size_t issuer;      /* index into the generator's issuers */
    long seen;          /* monotonic ms */
    int reflected;      /* the signer has applied it */
    long reflected_at;  /* monotonic ms */
    int invalid_logged; /* its record was found invalid (logged once) */
    ocsp_event_t *ev;   /* owned */
} crl_event_t;

typedef struct {
    crl_event_t *v;
    size_t n;
    size_t cap;
    char key[OCSP_KEY_MAX];
    const char *prefix;
    const char *consumer;
    long next_claim; /* monotonic ms */
    long claim_idle_ms;
} crl_events_t;

void crl_events_init(crl_events_t *e, const char *prefix, const char *consumer,
                     int64_t claim_idle_s);
void crl_events_free(crl_events_t *e);

/* Creates the consumer group (at the stream's end) if missing. */
int crl_events_group(ocsp_rconn_t *conn, crl_events_t *e);

/*
 * Reads new events (blocking up to block_ms) and, every claim_idle, claims
 * a dead consumer's.  Events of issuers this generator leads are kept;
 * issuance events and events of issuers without CRLs are acknowledged at
 * once; events of issuers led by another generator stay pending for it.
 * Returns the number kept, or -1 on a lost connection.
 */
int crl_events_read(ocsp_rconn_t *conn, crl_events_t *e, crl_issuer_t *iss,
                    size_t niss, long block_ms);

/* Marks ISSUER's events the signer has applied.  Returns how many are
 * reflected and not yet acknowledged. */
size_t crl_events_reflect(ocsp_rconn_t *conn, crl_events_t *e, size_t issuer);

/*
 * Acknowledges ISSUER's events reflected before BUILT (monotonic ms, when
 * the published CRL started being read), and those older than TIMEOUT_MS
 * that the signer never reflected (logged).
 */
void crl_events_ack(ocsp_rconn_t *conn, crl_events_t *e, size_t issuer,
                    long built, long timeout_ms);

/* Drops ISSUER's events from memory without acknowledging them (the lease
 * was lost: they stay pending for the new leader to claim). */
void crl_events_forget(crl_events_t *e, size_t issuer);

#endif
