/*
 * CA events: building, encoding and validating them.  Anything decoded from
 * the stream goes through ocsp_event_decode(), which bounds and validates
 * every field before a component looks at it.
 */
#ifndef REVOCA_EVENT_H
#define REVOCA_EVENT_H

#include <stddef.h>
#include <stdint.h>

#include "revocation.pb-c.h"

#define OCSP_EVENT_MAX (64 * 1024) /* bytes; a certificate fits */
#define OCSP_EVENT_ID_MAX 64

/*
 * Decodes and validates an event of LEN bytes.  Returns the event (free
 * with revoca__event__free_unpacked(ev, NULL)) or NULL with *why set to a
 * static reason.  Validation: issuer name, canonical serial, id length, a
 * kind set, times within 0..year 9999, reason within RFC 5280.
 */
Revoca__Event *ocsp_event_decode(const unsigned char *p, size_t len,
                                 const char **why);

/*
 * The same validation for an event built in memory (a writer checks what it
 * is about to send, by the rules its readers apply): NULL, or a static
 * reason.
 */
const char *ocsp_event_check(const Revoca__Event *ev);

/* Bounds of an event's Origin (who sent it, and how). */
#define OCSP_ORIGIN_VIA_MAX 32
#define OCSP_ORIGIN_PRINCIPAL_MAX 512
#define OCSP_ORIGIN_SOURCE_MAX 1024

/*
 * Whether S (of at most MAX bytes) may be an Origin field: printable
 * ASCII or UTF-8 continuation bytes, no control characters (it is logged
 * and shown to operators as it is).  VIA also needs [a-z-].
 */
int ocsp_origin_text_valid(const char *s, size_t max);

/* NULL when O is an Origin the receivers could have stamped (via, and
 * principal and source within their bounds), else a static reason.  The
 * one check of an Origin, for events and history entries (history.h). */
const char *ocsp_origin_check(const Revoca__Origin *o);

/* A fresh event id: 16 random octets as hex (33 bytes with NUL). */
int ocsp_event_new_id(char *out);

/* CRLReason name ("keyCompromise", ...) to number, -1 if unknown. */
int ocsp_reason_from_name(const char *name);
/* Number to name, "unspecified" for unknown values. */
const char *ocsp_reason_name(int reason);

/* Whether REASON is a CRLReason of RFC 5280 5.3.1 (0..10, 7 unused). */
int ocsp_reason_valid(int reason);

/*
 * Whether REASON may be the reason of a revocation, which is final: a
 * CRLReason other than certificateHold (a hold is its own event, lifted by
 * a release) and removeFromCRL (RFC 5280 5.3.1: delta CRLs only).
 */
int ocsp_revocation_reason_valid(int reason);

/* The last second a time may name: 9999-12-31T23:59:59Z, the end of
 * GeneralizedTime (RFC 5280 4.1.2.5.2). */
#define OCSP_TIME_MAX 253402300799LL

#endif
