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
/* A GeneralizedTime "YYYYMMDDHHMMSSZ" (RFC 5280 4.1.2.5.2). */
void der_gentime(der_buf_t *b, int64_t t);
/* UTCTime before 2050, GeneralizedTime after (RFC 5280 5.1.2.4). */
void der_time(der_buf_t *b, int64_t t);

/* Writes a definite length; returns the octets used (<= 5). */
size_t der_len_octets(size_t len, unsigned char *out);

#endif
