/*
 * The status model: how a CA event changes a certificate's record, and what
 * a record answers.  Every component that interprets events or records calls
 * these, so the rules of docs/dev/architecture.md ("Semantics every
 * component keeps") live here only.
 *
 * Rules (all commutative, so duplicates and reordering change nothing):
 *  - issued: records notBefore/notAfter/shard; never changes revocation.
 *    The subject follows the issue event that won (ocsp_record_take_subject).
 *  - revoked: final.  Between two revocations the earlier time wins, except
 *    that keyCompromise outranks any other reason (CA/B BR 4.9.1.1 lets a
 *    CA change a reason to keyCompromise).
 *  - hold and release form a timeline: a certificate is held when its
 *    latest hold is later than its latest release.  A hold never touches a
 *    revoked certificate; the reported hold time is the latest hold.
 */
#ifndef REVOCA_RECORD_H
#define REVOCA_RECORD_H

#include <stddef.h>
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
 * Whether EV is already reflected in R: applying it again would change
 * nothing.  This is how the CLI's --wait and the CRL generator ask whether
 * the signer has applied an event (its responses are written in the same
 * transaction as the record).  R is not changed.
 */
int ocsp_record_reflects(const ocsp_record_t *r, const ocsp_event_t *ev);

typedef enum {
    OCSP_ANSWER_SIGN = 0,     /* *status, *rev_time, *reason filled */
    OCSP_ANSWER_UNAUTHORIZED, /* the never-issued policy: unsigned error */
    OCSP_ANSWER_INVALID       /* a record this code never writes */
} ocsp_answer_e;

/*
 * The OCSP answer for R: good only if issued and neither revoked nor held;
 * revoked (with time and reason, certificateHold for a hold); otherwise the
 * issuer's policy for never-issued serials decides (unknown, or revoked on
 * hold at the epoch, RFC 6960 2.2).  A record that ocsp_record_decode()
 * would refuse (an unknown status, a revocation without a time, a reason
 * outside RFC 5280 5.3.1) is never answered: OCSP_ANSWER_INVALID.
 */
ocsp_answer_e ocsp_record_answer(const ocsp_record_t *r, ocsp_unissued_e policy,
                                 ocsp_cert_status_e *status, int64_t *rev_time,
                                 int *reason);

/*
 * Bounds (OCSP_RECORD_MAX), unpacks and validates the LEN bytes at P read
 * from Redis as the record of SERIAL (canonical hex; NULL: not compared).
 * Valid means one this code could have written: a known status; for a
 * revocation a time within 0..year 9999 and a reason of RFC 5280 5.3.1
 * (certificateHold exactly when held, never removeFromCRL); times in range; the
 * stored serial equal to SERIAL.  protobuf-c checks none of this.  Every reader
 * of a stored record calls this, and none uses a record it refused.
 *
 * Returns the record (free with ocsp_record_free() and the same ALLOC;
 * ALLOC NULL: malloc; it is one block, so never with protobuf-c's
 * free_unpacked) or NULL with *why set to a static reason.
 */
ocsp_record_t *ocsp_record_decode(const void *p, size_t len, const char *serial,
                                  ProtobufCAllocator *alloc, const char **why);
void ocsp_record_free(ocsp_record_t *r, ProtobufCAllocator *alloc);

/*
 * An allocator over a caller's buffer for ocsp_record_decode(), for
 * readers of many records in a row (crlgen's scan and log replay): no
 * malloc per record, nothing to free.  Each decode into it starts with
 * ocsp_record_arena_reset(), which forgets the record decoded before.
 */
#define OCSP_RECORD_ARENA 2048
typedef struct {
    ProtobufCAllocator alloc; /* pass &a->alloc */
    size_t used;
    _Alignas(16) unsigned char buf[OCSP_RECORD_ARENA];
} ocsp_record_arena_t;

void ocsp_record_arena_init(ocsp_record_arena_t *a);
void ocsp_record_arena_reset(ocsp_record_arena_t *a);

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

/*
 * Bytes of a stored subject (without its NUL): every other field of a
 * record takes at most 94 bytes, the subject 3 + OCSP_SUBJECT_MAX, so a
 * record stays within OCSP_RECORD_MAX.  A longer subject is cut and ends
 * in "..." (ocsp_subject_from_der()).
 */
#define OCSP_SUBJECT_MAX 128
_Static_assert(94 + 3 + OCSP_SUBJECT_MAX <= OCSP_RECORD_MAX,
               "a record with a subject fits");

/*
 * The subject of the certificate DER (LEN bytes) reported with an issue
 * event of SERIAL (canonical hex) by ISSUER_NAME's CA (ISSUER: its
 * certificate, or NULL for no check of the issuer name), as RFC 4514
 * text with every byte outside printable ASCII escaped (\XX), cut to
 * OCSP_SUBJECT_MAX bytes, into out (OCSP_SUBJECT_MAX + 1).  0; -1 when
 * the DER is no certificate, is of another serial or another issuer
 * name, or has an empty subject (nothing is stored then).
 */
struct x509_st;
int ocsp_subject_from_der(const unsigned char *der, size_t len,
                          const char *serial, const struct x509_st *issuer,
                          char *out);

/* Whether S is a subject a record may hold: 1..OCSP_SUBJECT_MAX bytes of
 * printable ASCII. */
int ocsp_subject_valid(const char *s);

/*
 * After ocsp_record_apply(R, EV): gives R the subject SUBJECT (what
 * ocsp_subject_from_der() made of EV's certificate; NULL if none) when EV
 * is the issue event R's validity came from (same notAfter), R has no
 * subject yet or SUBJECT sorts before it (so that two issue events of one
 * notAfter end alike in any order).  SUBJECT is copied into BUF
 * (OCSP_SUBJECT_MAX + 1), which R then borrows.  1 if R changed, else 0.
 */
int ocsp_record_take_subject(ocsp_record_t *r, const ocsp_event_t *ev,
                             const char *subject, char *buf);

#endif
