/*
 * A certificate's history: P:history:ISSUER:SERIAL (keys.h), a Redis list
 * of protobuf HistoryEntry (feeds/revocation.proto), oldest first.  The
 * signer appends one entry per event it applies to the certificate, in the
 * transaction that applies it (RPUSH, then LTRIM to the newest
 * signer.history, default OCSP_HISTORY_MAX), and deletes the list with the
 * record when the record expires; `revoca status` prints it (what happened,
 * when, sent by whom).
 *
 * Why a list beside the record: the stream is the full audit trail, but
 * finding one certificate's events in it means reading all of it; the
 * record keeps only the state the events add up to.  The entry is the
 * event without the certificate's DER (which can be most of an issue
 * event), with its stream entry's id, so that an event applied twice (a
 * redelivery, a rebuild over live data) is recognised: readers show an
 * entry once per stream id (ocsp_history_same()).
 */
#ifndef REVOCA_HISTORY_H
#define REVOCA_HISTORY_H

#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "revocation.pb-c.h"

/* Entries kept per certificate by default (signer.history): a certificate
 * sees a handful of events (issue, maybe a hold and a release or two, a
 * revocation); 64 keeps every one of an ordinary life and bounds a
 * pathological one (a hold and release loop) to a few kilobytes.  At most
 * OCSP_HISTORY_LIMIT; 0 keeps none (no list is written). */
#define OCSP_HISTORY_MAX 64
#define OCSP_HISTORY_LIMIT 1024

/* A stream entry id, "MS-SEQ" (two 64-bit decimals), with its NUL. */
#define OCSP_STREAM_ID_MAX 48

/* Bound of an encoded entry: its strings at their bounds (event.h) and
 * the integers, tags and lengths, with room to spare. */
#define OCSP_HISTORY_ENTRY_MAX                                                 \
    (OCSP_STREAM_ID_MAX + OCSP_EVENT_ID_MAX + OCSP_ORIGIN_VIA_MAX +            \
     OCSP_ORIGIN_PRINCIPAL_MAX + OCSP_ORIGIN_SOURCE_MAX + 128)

/*
 * Writes the history entry of EV (valid: ocsp_event_check()), applied from
 * stream entry STREAM_ID at APPLIED (unix seconds), into out
 * (OCSP_HISTORY_ENTRY_MAX bytes).  Returns its length, or 0 when EV has no
 * kind or STREAM_ID is no stream id.
 */
size_t ocsp_history_pack(const Revoca__Event *ev, const char *stream_id,
                         int64_t applied, unsigned char *out);

/*
 * Bounds, unpacks and validates the LEN bytes at P read from Redis as a
 * history entry: a stream id, an event id, a kind, times within 0..year
 * 9999, a revocation reason of RFC 5280 5.3.1 (revoked only), an Origin
 * the receivers could have stamped (ocsp_origin_check()); canonical (packs
 * back to LEN bytes: no NUL inside a string).  Returns the entry (free with
 * ocsp_history_free()) or NULL with *why set to a static reason.
 */
Revoca__HistoryEntry *ocsp_history_decode(const void *p, size_t len,
                                          const char **why);
void ocsp_history_free(Revoca__HistoryEntry *h);

/* "issued", "revoked", "hold", "release" ("?" for another value). */
const char *ocsp_history_kind_name(int kind);

/* Whether A and B record the same application of one stream entry (the
 * same stream id and event id): shown once. */
int ocsp_history_same(const Revoca__HistoryEntry *a,
                      const Revoca__HistoryEntry *b);

/* Whether S is a stream entry id "MS-SEQ", each a decimal of at most 20
 * digits. */
int ocsp_stream_id_valid(const char *s);

#endif
