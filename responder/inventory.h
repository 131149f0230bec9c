/*
 * The certificate inventory of an issuer (issue 14 section 5): what each
 * stored record is to an operator (good, revoked, held, expired, unknown),
 * what "expiring within" means, and a scanner over the issuer's records
 * that holds one page at a time, however many there are.  `revoca
 * inventory` prints what it yields; the signer's metrics thread counts it
 * (signer_metrics.c), so both say the same about the same store.
 *
 * The scanner walks SCAN MATCH P:cert:ISSUER:* (keys.h) with COUNT
 * OCSP_INV_PAGE and fetches each page's records with one MGET, the next
 * page's SCAN sent with it: one round trip a page, two pages of replies
 * held at most.  SCAN's guarantees are the scanner's: a record present for
 * the whole scan is yielded, one written or deleted meanwhile may or may
 * not be, and while Redis resizes its key table a key may come twice (its
 * record yielded twice).  Records are read as they are when their page is
 * fetched; the walk is no snapshot.
 */
#ifndef REVOCA_INVENTORY_H
#define REVOCA_INVENTORY_H

#include <stddef.h>
#include <stdint.h>

#include "keys.h"
#include "rconn.h"
#include "record.h"
#include "serial.h"

/* What a record is to an operator, in this order of precedence. */
typedef enum {
    OCSP_INV_REVOKED, /* revoked (final), expired or not */
    OCSP_INV_HELD,    /* on hold, expired or not */
    OCSP_INV_UNKNOWN, /* never reported as issued (a release or revocation
                       * of a serial the CA did not report) */
    OCSP_INV_EXPIRED, /* issued, neither revoked nor held, past notAfter
                       * (kept until expired_retention) */
    OCSP_INV_GOOD,    /* live: issued, valid now, neither revoked nor held */
    OCSP_INV_STATUSES
} ocsp_inv_status_e;

/* "revoked", "held", "unknown", "expired", "good". */
extern const char *const ocsp_inv_status_names[OCSP_INV_STATUSES];

/* The status named NAME (LEN bytes), or -1. */
int ocsp_inv_status_parse(const char *name, size_t len);

/* R's status at NOW (unix seconds).  RFC 5280 4.1.2.5: a certificate is
 * valid through its notAfter, so it expires only after it. */
ocsp_inv_status_e ocsp_inv_status(const ocsp_record_t *r, int64_t now);

/* Whether R's notAfter falls within [NOW, NOW + WITHIN]: valid now and no
 * longer than WITHIN seconds from now.  Status is the caller's filter. */
int ocsp_inv_expiring(const ocsp_record_t *r, int64_t now, int64_t within);

/* SCAN COUNT of a page; MGET takes what SCAN gave (about as many). */
#define OCSP_INV_PAGE 1000
#define OCSP_INV_PAGE_S "1000"

typedef struct {
    ocsp_rconn_t *conn; /* borrowed; nothing else pending on it meanwhile */
    char pattern[OCSP_KEY_MAX];
    size_t serial_at; /* where the serial starts in a matching key */
    char cursor[32];
    int scan_out;     /* a SCAN's reply is pending on conn */
    redisReply *keys; /* owned: the page's SCAN reply */
    redisReply *vals; /* owned: its MGET reply */
    size_t at;        /* next element of vals */
    ocsp_record_arena_t arena;
    /* After a 2 from ocsp_inv_scan_next(): the key and why it was refused */
    char key[OCSP_KEY_MAX];
    const char *why;
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    char err[OCSP_ERR_MAX];
} ocsp_inv_scan_t;

/* Starts scanning ISSUER's records (PREFIX the key prefix) on CONN,
 * connected.  0, or -1 with s->err.  Free with ocsp_inv_scan_free(). */
int ocsp_inv_scan_start(ocsp_inv_scan_t *s, ocsp_rconn_t *conn,
                        const char *prefix, const char *issuer);

/*
 * The next record: 1 with *rec (borrowed from s, valid until the next
 * call); 2 for a key whose value ocsp_record_decode() refuses (s->key and
 * s->why say which and why; the caller reports it, nothing else is done
 * with it); 0 at the end; -1 with s->err when the connection failed (it is
 * dropped: the scan cannot go on).
 */
int ocsp_inv_scan_next(ocsp_inv_scan_t *s, const ocsp_record_t **rec);

/* Frees what S holds (the connection is left as it is; a scan stopped
 * before its end leaves replies pending: drop it). */
void ocsp_inv_scan_free(ocsp_inv_scan_t *s);

#endif
