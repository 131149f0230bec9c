/*
 * What one revoked-hash record puts on an issuer's CRLs: the one place that
 * turns a stored record (validated by ocsp_record_decode()) into a CRL entry
 * under the issuer's profile (policy.h).  The scan of the hashes, the replay
 * of the revoked logs and the delta's reads all decide here.
 */
#ifndef CRL_RECORD_H
#define CRL_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "crl_conf.h"
#include "crl_entry.h"

typedef enum {
    CRL_RECORD_LISTED = 0,     /* on the CRL as recorded */
    CRL_RECORD_REASON_CLEARED, /* on the CRL, its reasonCode left out: the
                                * profile does not allow that reason */
    CRL_RECORD_HOLD_OMITTED,   /* not on it: a hold the profile forbids */
    CRL_RECORD_EXPIRED,        /* not on it: notAfter + expired_after passed */
    CRL_RECORD_INVALID         /* a record the signer never writes */
} crl_record_e;

/* Whether a decision puts the entry on the CRL. */
#define crl_record_listed(d)                                                   \
    ((d) == CRL_RECORD_LISTED || (d) == CRL_RECORD_REASON_CLEARED)

/*
 * Decides the field FIELD (the canonical hex serial, FLEN bytes) and value
 * VAL (the protobuf CertRecord, VLEN bytes) of SHARD's revoked hash at NOW
 * (unix seconds) for the issuer CONF.  Fills *e for every decision but
 * CRL_RECORD_INVALID (for CRL_RECORD_EXPIRED too: the pre-publish check
 * needs the serial).  For CRL_RECORD_INVALID, *why is a static reason: the
 * serial is not canonical, ocsp_record_decode() refused the value, or the
 * record is neither revoked nor held.  Such a record must fail the build:
 * a CRL without it could silently un-revoke a certificate.
 */
crl_record_e crl_record_entry(const crl_issuer_conf_t *conf, int64_t now,
                              const char *field, size_t flen, const char *val,
                              size_t vlen, unsigned shard, crl_entry_t *e,
                              const char **why);

/*
 * A field read from Redis, LEN bytes at P, as it may be logged: at most
 * CAP - 1 bytes into out, anything not printable ASCII as '?', and a NUL.
 */
void crl_record_printable(char *out, size_t cap, const char *p, size_t len);

/* What the records of one full read decided, for the log and metrics. */
typedef struct {
    size_t records;        /* fields read */
    size_t expired;        /* CRL_RECORD_EXPIRED */
    size_t hold_skipped;   /* CRL_RECORD_HOLD_OMITTED */
    size_t reason_cleared; /* CRL_RECORD_REASON_CLEARED */
} crl_record_stats_t;

/* Counts one record's decision D (not CRL_RECORD_INVALID) into st. */
static inline void crl_record_count(crl_record_stats_t *st, crl_record_e d)
{
    st->records++;
    st->expired += d == CRL_RECORD_EXPIRED;
    st->hold_skipped += d == CRL_RECORD_HOLD_OMITTED;
    st->reason_cleared += d == CRL_RECORD_REASON_CLEARED;
}

#endif
