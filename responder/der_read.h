/*
 * A strict DER reader (X.690 10: definite lengths in their minimal form,
 * single-octet tags) for bytes Revoca did not write: OCSP requests, the
 * pre-publish check of a CRL, the outer length of a GET-encoded OCSP
 * request.  It accepts only the distinguished encoding's forms, so that a
 * value has one encoding and what is checked is what is parsed; BER's other
 * forms (the indefinite length, long or padded lengths, constructed
 * strings) are refused.  The writer beside it is der.h.
 */
#ifndef REVOCA_DER_READ_H
#define REVOCA_DER_READ_H

#include <stddef.h>

typedef struct {
    unsigned char tag;
    const unsigned char *v; /* the contents, borrowed */
    size_t len;
} der_tlv_t;

/*
 * Reads the TLV at p[*off] within p[0..end).  Returns 0, fills *t and moves
 * *off past it; -1 (nothing moved) for a multi-octet tag, an indefinite or
 * non-minimal length, a length over 2^32 - 1, or contents past END.
 */
int der_read_tlv(const unsigned char *p, size_t end, size_t *off, der_tlv_t *t);

/* The same, also requiring TAG. */
int der_read_expect(const unsigned char *p, size_t end, size_t *off,
                    unsigned char tag, der_tlv_t *t);

/*
 * Whether the LEN bytes at P are exactly one TLV with identifier TAG (no
 * trailing bytes): 0 and *t, or -1.
 */
int der_read_whole(const unsigned char *p, size_t len, unsigned char tag,
                   der_tlv_t *t);

/*
 * The size of the whole TLV that starts the LEN bytes at P (header and
 * contents), read from its header alone: 0 when P does not start with a
 * valid header (or LEN is too short to hold it).  The contents need not
 * all be there; the caller compares.
 */
size_t der_read_size(const unsigned char *p, size_t len);

/* Nesting accepted by der_read_strict(); no Revoca input nests deeper. */
#define DER_READ_DEPTH_MAX 32

/*
 * Walks the LEN bytes at P as a sequence of TLVs that fills them exactly,
 * descending into every constructed value (at most DER_READ_DEPTH_MAX
 * deep), and checks the rules of DER that hold whatever the schema:
 *  - each TLV as der_read_tlv() reads it;
 *  - universal SEQUENCE and SET constructed, every other universal type
 *    primitive (X.690 10.2: no constructed strings), no end-of-contents;
 *  - BOOLEAN one octet, 0x00 or 0xff (11.1);
 *  - INTEGER and ENUMERATED at least one octet, in the fewest (8.3.2);
 *  - NULL empty (8.8.2);
 *  - BIT STRING with 0..7 unused bits, none when empty, unused bits zero
 *    (11.2.1);
 *  - OBJECT IDENTIFIER non-empty, each subidentifier in the fewest octets
 *    (8.19.2).
 * Rules that need the schema (DEFAULT values left out: 11.5; SET OF order)
 * are the caller's.  Primitive values with a context, application or
 * private tag are not looked into.  Returns 0, or -1 at the first
 * violation.
 */
int der_read_strict(const unsigned char *p, size_t len);

#endif
