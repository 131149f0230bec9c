/*
 * A minimal DER writer for the structures Revoca emits itself (OCSP
 * responses, CRLs).  Lengths are fixed up when a constructed value ends, so
 * callers write in document order.  Internal to the core and crlgen.
 */
#ifndef REVOCA_DER_H
#define REVOCA_DER_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    unsigned char *p;
    size_t len;
    size_t cap;
    int err; /* sticky: set on allocation failure or misuse */
} der_buf_t;

#define DER_SEQUENCE 0x30
#define DER_SET 0x31
#define DER_INTEGER 0x02
#define DER_BIT_STRING 0x03
#define DER_OCTET_STRING 0x04
#define DER_NULL 0x05
#define DER_OID 0x06
#define DER_ENUMERATED 0x0a
#define DER_UTC_TIME 0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_BOOLEAN 0x01
#define DER_CTX(n) (0xa0 | (n))      /* [n] constructed */
#define DER_CTX_PRIM(n) (0x80 | (n)) /* [n] primitive */

/* Starts an empty buffer with CAP bytes reserved (0: a default). */
int der_init(der_buf_t *b, size_t cap);
void der_free(der_buf_t *b);
/* Hands the bytes over: returns them (caller frees), b is emptied. */
unsigned char *der_take(der_buf_t *b, size_t *len);

/* Opens a constructed value; returns a mark for der_end(). */
size_t der_begin(der_buf_t *b, unsigned char tag);
/* Closes the value opened at MARK, writing its minimal length. */
void der_end(der_buf_t *b, size_t mark);

void der_raw(der_buf_t *b, const void *p, size_t len);
void der_tlv(der_buf_t *b, unsigned char tag, const void *p, size_t len);
/* An INTEGER from a non-negative value. */
void der_uint(der_buf_t *b, uint64_t v);
/*
 * Times, the one encoder of Revoca's: UTCTime "YYMMDDHHMMSSZ" for the years
 * 1950..2049 and GeneralizedTime "YYYYMMDDHHMMSSZ" outside them (RFC 5280
 * 4.1.2.5, 5.1.2.4), or GeneralizedTime always where a field is one (OCSP's
 * times, RFC 6960 4.2.1; invalidityDate, RFC 5280 5.3.2).  Unix seconds of
 * the years 0..9999, the span GeneralizedTime can write.
 */
#define DER_TIME_MAX 17               /* tag, length, YYYYMMDDHHMMSSZ */
#define DER_TIME_MIN (-62167219200LL) /* 0000-01-01T00:00:00Z */
#define DER_TIME_END 253402300800LL   /* 10000-01-01T00:00:00Z */

/* The calendar dates of the last days written, by day number modulo the
 * size: a writer of a million times (a CRL's entries, revoked on a few
 * thousand distinct days) does the date arithmetic once per day. */
#define DER_DAY_SLOTS 2048
typedef struct {
    int64_t day[DER_DAY_SLOTS];
    int32_t year[DER_DAY_SLOTS];
    unsigned char ymd[DER_DAY_SLOTS][8]; /* YYYYMMDD */
} der_days_t;

void der_days_init(der_days_t *days);

/*
 * Writes the time TLV of T at OUT (DER_TIME_MAX bytes): GeneralizedTime if
 * GENERAL, else UTCTime in 1950..2049 and GeneralizedTime outside.  DAYS (a
 * cache, may be NULL) spares the date arithmetic.  Returns the bytes written
 * (der_time_len()), or 0 for a T outside the years 0..9999.
 */
size_t der_time_put(unsigned char *out, int64_t t, int general,
                    der_days_t *days);

/* What der_time_put() writes for a T it accepts. */
static inline size_t der_time_len(int64_t t, int general)
{
    /* 1950-01-01T00:00:00Z <= t < 2050-01-01T00:00:00Z */
    return !general && t >= -631152000LL && t < 2524608000LL ? 15 : 17;
}

/*
 * der_time_put() into B, GeneralizedTime always (der_gentime) or as RFC 5280
 * 5.1.2.4 chooses (der_time).  No time Revoca writes this way (a response's
 * or a CRL's dates, a revocation time from a validated record) is before
 * 1970: one is misuse and sets b->err, as a T outside 0..9999 does.
 */
void der_gentime(der_buf_t *b, int64_t t);
void der_time(der_buf_t *b, int64_t t);

/* Writes a definite length; returns the octets used (<= 5). */
size_t der_len_octets(size_t len, unsigned char *out);

#endif
