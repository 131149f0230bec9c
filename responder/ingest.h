/*
 * HTTP ingest: a JSON body (one event, an array of events, or
 * {"events": [...]}) to validated Revoca events.  Plain C, no nginx: the
 * nginx handler and the fuzz target call it.  Every field is checked by the
 * rules the CLI applies (serial.c, event.c ocsp_event_check); the origin is
 * never taken from the body (the caller stamps it).
 */
#ifndef REVOCA_INGEST_H
#define REVOCA_INGEST_H

#include <stddef.h>

#include "config.h"
#include "issuer.h"
#include "revocation.pb-c.h"

#define OCSP_INGEST_BODY_MAX (8 * 1024 * 1024) /* bytes */
#define OCSP_INGEST_DEPTH_MAX 8                /* JSON nesting */
#define OCSP_INGEST_BATCH_MAX 10000            /* events per request */

struct ocsp_ingest_error {
    char field[64]; /* "events[3].serial", or "" for the body itself */
    char reason[160];
};

struct ocsp_ingest_batch {
    Revoca__Event **ev;
    size_t n;
    int wait; /* the body asked for "wait": true */
};

/*
 * Parses LEN bytes of JSON into B.  NOW is used for events without a time.
 * Returns 0, or -1 with ERR naming the field and the reason; on failure
 * nothing is left in B.  Free B with ocsp_ingest_batch_free().
 */
int ocsp_ingest_parse_json(const char *buf, size_t len, long long now,
                           struct ocsp_ingest_batch *b,
                           struct ocsp_ingest_error *err);

/*
 * A body of Content-Type application/x-protobuf: one packed Event, decoded
 * and validated by ocsp_event_decode().  Same contract; any origin it
 * carries is dropped (the receiver stamps its own).
 */
int ocsp_ingest_parse_pb(const unsigned char *buf, size_t len,
                         struct ocsp_ingest_batch *b,
                         struct ocsp_ingest_error *err);

/*
 * The checks that need the configuration, as the CLI makes them: every
 * event of B names an issuer of REG, its profile allows it (policy.h),
 * a shard is below the issuer's count, and an issue carrying a certificate
 * (the "certificate" member, or cert_der of a protobuf Event) is signed by
 * the issuer's CA, its shard then derived from its CRL distribution point
 * (shard.h) and set in the event.  0, or -1 with ERR naming events[i] and
 * the field.
 */
int ocsp_ingest_check(const ocsp_registry_t *reg, struct ocsp_ingest_batch *b,
                      struct ocsp_ingest_error *err);

/*
 * Stamps every event of B with Origin via "ingest" and PRINCIPAL (the
 * client certificate's subject DN and fingerprint), replacing whatever was
 * there.  Returns 0, or -1 if PRINCIPAL is not a valid Origin text
 * (ocsp_origin_text_valid) or memory runs out.
 */
int ocsp_ingest_stamp(struct ocsp_ingest_batch *b, const char *principal);

void ocsp_ingest_batch_free(struct ocsp_ingest_batch *b);

#endif
