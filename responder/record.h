/*
 * The status model: how a CA event changes a certificate's record, and what
 * a record answers.  Every component that interprets events or records calls
 * these, so the rules of ARCHITECTURE.md ("Semantics every component keeps")
 * live here only.
 *
 * Rules (all commutative, so duplicates and reordering change nothing):
 *  - issued: records notBefore/notAfter/shard; never changes revocation.
 *  - revoked: final.  Between two revocations the earlier time wins, except
 *    that keyCompromise outranks any other reason (CA/B BR 4.9.1.1 lets a
 *    CA change a reason to keyCompromise).
 *  - hold and release form a timeline: a certificate is held when its
 *    latest hold is later than its latest release.  A hold never touches a
 *    revoked certificate; the reported hold time is the latest hold.
 */
#ifndef REVOCA_RECORD_H
#define REVOCA_RECORD_H

#include <stdint.h>

#include "revocation.pb-c.h"
#include "response.h"

typedef Revoca__CertRecord ocsp_record_t;
typedef Revoca__Event ocsp_event_t;

/* Initialises an empty record (a serial never heard of) for SERIAL. */
void ocsp_record_init(ocsp_record_t *r, char *serial);

/*
 * Applies EV to R in place.  Returns 1 if R changed, 0 if the event was
 * already reflected (a duplicate or superseded event), -1 if the event is
 * invalid (R untouched).  R borrows no memory from EV.
 */
int ocsp_record_apply(ocsp_record_t *r, const ocsp_event_t *ev);

/* True once the CA reported the certificate as issued. */
int ocsp_record_issued(const ocsp_record_t *r);

/*
 * The OCSP answer for R: good only if issued and neither revoked nor held;
 * revoked (with time and reason, certificateHold for a hold); otherwise the
 * issuer's policy for never-issued serials decides (unknown, or revoked on
 * hold at the epoch, RFC 6960 2.2).  Returns 0 and fills *status, *rev_time
 * and *reason; returns -1 when the policy is "unauthorized" (answer with the
 * unsigned error, nothing to sign).
 */
int ocsp_record_answer(const ocsp_record_t *r, ocsp_unissued_e policy,
                       ocsp_cert_status_e *status, int64_t *rev_time,
                       int *reason);

/*
 * Whether R, as read back from Redis, is one this code could have written:
 * a known status, and a revocation time and valid reason when not good.
 * protobuf-c does not check enum values.
 */
int ocsp_record_valid(const ocsp_record_t *r);

/* Whether R belongs on a CRL (revoked or on hold). */
int ocsp_record_on_crl(const ocsp_record_t *r);

/*
 * R's CRL shard among NSHARDS: the one fixed at issuance when the issue
 * event gave one within range, else derived from the serial
 * (ocsp_serial_shard).
 */
unsigned ocsp_record_shard(const ocsp_record_t *r, unsigned nshards);

/* Encoded size bound for a record, for callers' buffers. */
#define OCSP_RECORD_MAX 256

#endif
