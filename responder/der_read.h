/*
 * A strict DER TLV reader (X.690 10: definite lengths in their minimal
 * form, single-octet tags) for bytes Revoca did not write: the pre-publish
 * check of a CRL, the outer length of a GET-encoded OCSP request.  The
 * writer beside it is der.h.
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
 * The size of the whole TLV that starts the LEN bytes at P (header and
 * contents), read from its header alone: 0 when P does not start with a
 * valid header (or LEN is too short to hold it).  The contents need not
 * all be there; the caller compares.
 */
size_t der_read_size(const unsigned char *p, size_t len);

#endif
