/*
 * One CRL entry in the compact form the builder encodes from: 48 bytes, the
 * serial as a 20-octet big-endian magnitude so that memcmp() is numeric
 * order (RFC 5280 entries are sorted by serial for binary search by
 * relying parties, and so that the pre-publish check can merge two CRLs).
 */
#ifndef CRL_ENTRY_H
#define CRL_ENTRY_H

#include <stddef.h>
#include <stdint.h>

#include "serial.h"

/* The fixed-width serial of serial.h (ocsp_serial_fixed_from_hex). */
#define CRL_SERIAL_LEN OCSP_SERIAL_MAX_OCTETS
#define CRL_REASON_ABSENT 0xff /* no reasonCode (unspecified) */
#define CRL_REASON_HOLD 6      /* certificateHold */
#define CRL_REASON_REMOVE 8    /* removeFromCRL, delta CRLs only */

typedef struct {
    unsigned char serial[CRL_SERIAL_LEN];
    uint8_t reason; /* RFC 5280 5.3.1 CRLReason, or CRL_REASON_ABSENT */
    uint8_t pad;
    uint16_t shard;
    int64_t revoked_at; /* unix seconds */
    int64_t invalidity; /* unix seconds, 0: no invalidityDate */
    int64_t not_after;  /* the certificate's, 0: never reported issued */
} crl_entry_t;

/* A million entries are sorted, copied and snapshotted: no padding.  (A
 * layout change invalidates snapshots: their header records the size.) */
_Static_assert(sizeof(crl_entry_t) == 48, "crl_entry_t is 48 bytes");

typedef struct {
    crl_entry_t *v;
    size_t n;
    size_t cap;
} crl_entries_t;

/* Appends a zeroed entry and returns it, or NULL on allocation failure. */
crl_entry_t *crl_entries_push(crl_entries_t *a);
/* Makes room for MORE entries beyond a->n in one allocation; 0 or -1. */
int crl_entries_reserve(crl_entries_t *a, size_t more);
void crl_entries_free(crl_entries_t *a);
/* Sorts by serial and drops duplicates (the later one read wins).  In-place
 * MSD radix sort; its only scratch is 4 octets an entry. */
void crl_entries_sort(crl_entries_t *a);
/* Binary search; the entry or NULL.  a must be sorted. */
const crl_entry_t *crl_entries_find(const crl_entries_t *a,
                                    const unsigned char *serial);

#endif
