/*
 * The revoked log: P:revlog:ISSUER:SHARD (keys.h), a Redis string that
 * repeats, as appends, every change the signer makes to the revoked hash
 * P:revoked:ISSUER:SHARD of the same shard, in the same transaction.
 *
 * Why: the CRL generator must read every revoked entry of an issuer to
 * build a full CRL.  A hash of a million fields costs Redis over a second
 * of HSCAN; the same entries as one string cost it a few memcpy()s of
 * GETRANGE.  The hash stays the record of truth: the generator trusts the
 * log only when it begins with a header (see below) and, replayed, has
 * exactly HLEN entries.
 * Replayed from a correct base, the log's entries are a subset of the hash
 * (each append is the hash's state at that change), so equal counts mean
 * equal sets.
 *
 *   header:  "RVLOG\x01\0", an origin byte (0: started by a signer's
 *            first append, SET NX; 1: rebuilt by the CRL generator from a
 *            scan), then a random 64-bit generation, new whenever the log
 *            is rebuilt (a reader that sees it change started over a log
 *            that is gone)
 *   record:  kind ('A' the field was set, 'D' deleted), serial length
 *            (1..OCSP_SERIAL_HEX_MAX), value length (16-bit big-endian,
 *            0 for 'D', else 1..OCSP_RECORD_MAX), the canonical hex serial,
 *            the value (the protobuf CertRecord the hash holds)
 *
 * Records replay in order; the last one of a serial wins.
 */
#ifndef REVOCA_REVLOG_H
#define REVOCA_REVLOG_H

#include <stddef.h>
#include <stdint.h>

#include "record.h"
#include "serial.h"

/* The header's layout, shared by the C codec (revlog.c) and the CRL
 * generator's Lua rebuild script (crlgen/crl_revlog_rebuild.c), which is
 * formatted from these at start-up. */
#define OCSP_REVLOG_MAGIC_LEN 7 /* "RVLOG", version 1, a zero octet */
#define OCSP_REVLOG_ORIGIN_AT 7 /* the origin octet */
#define OCSP_REVLOG_GEN_AT 8    /* the generation, 64-bit big-endian */
#define OCSP_REVLOG_HEADER 16
_Static_assert(OCSP_REVLOG_ORIGIN_AT == OCSP_REVLOG_MAGIC_LEN &&
                   OCSP_REVLOG_GEN_AT + 8 == OCSP_REVLOG_HEADER,
               "magic, origin, generation");
extern const unsigned char ocsp_revlog_magic[OCSP_REVLOG_MAGIC_LEN];
#define OCSP_REVLOG_REC_MAX (4 + OCSP_SERIAL_HEX_MAX + OCSP_RECORD_MAX)
_Static_assert(OCSP_SERIAL_HEX_MAX <= 0xff, "serial length is one byte");
_Static_assert(OCSP_RECORD_MAX <= 0xffff, "value length is two bytes");

typedef struct {
    int deleted;
    const char *serial; /* not NUL-terminated */
    size_t serial_len;
    const unsigned char *value; /* NULL when deleted */
    size_t value_len;
} ocsp_revlog_rec_t;

#define OCSP_REVLOG_STARTED 0
#define OCSP_REVLOG_REBUILT 1

/* Writes a header of ORIGIN (OCSP_REVLOG_STARTED or _REBUILT) and a new
 * random generation into out (OCSP_REVLOG_HEADER bytes). */
void ocsp_revlog_header(unsigned char *out, int origin);
/* 0, *origin and *gen when the LEN bytes at IN start with a header, else
 * -1.  ORIGIN may be NULL. */
int ocsp_revlog_header_read(const unsigned char *in, size_t len, int *origin,
                            uint64_t *gen);

/*
 * Writes the record for SERIAL (canonical hex) set to VALUE (VALUE_LEN
 * bytes), or deleted when VALUE is NULL, into out (OCSP_REVLOG_REC_MAX
 * bytes).  Returns its length, or 0 if an argument is out of bounds.
 */
size_t ocsp_revlog_record(unsigned char *out, const char *serial,
                          const unsigned char *value, size_t value_len);

/*
 * Parses the record at the start of the LEN bytes at IN into *r.  Returns
 * its length, 0 when IN holds only the beginning of a record, or -1 when
 * it is not a valid record.
 */
long ocsp_revlog_next(const unsigned char *in, size_t len,
                      ocsp_revlog_rec_t *r);

#endif
