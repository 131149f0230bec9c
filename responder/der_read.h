/*
 * A strict DER reader (X.690 clause 10) for bytes Revoca did not write:
 * OCSP requests, the CRLs it checks before publishing, the module's outer
 * length check.  It accepts only the distinguished encoding's forms, so a
 * value has one encoding and what is checked is what is parsed; BER's other
 * forms (the indefinite length, long or padded lengths, constructed
 * strings) are refused.  Internal to the core and its shells; der.h is the
 * writer.
 */
#ifndef REVOCA_DER_READ_H
#define REVOCA_DER_READ_H

#include <stddef.h>

/* One TLV read from a buffer; V points into that buffer (borrowed). */
typedef struct {
    unsigned char tag; /* the identifier octet, e.g. 0x30, 0xa0 */
    const unsigned char *v;
    size_t len;     /* contents octets at v */
    size_t hdr_len; /* identifier and length octets before v */
} der_tlv_t;

/* Nesting accepted by der_read_strict(); no Revoca input nests deeper. */
#define DER_READ_DEPTH_MAX 32

/*
 * Reads the TLV that starts at p[*off], within p[0..end).  Accepted: a
 * low-tag-number identifier octet (tag numbers 0..30; the high-tag form is
 * refused, no format Revoca reads uses it), a definite length in its minimal
 * form (short form below 128, else the fewest long-form octets: X.690
 * 10.1), contents that end at or before END.  Returns 0 with *t filled and
 * *off moved past the TLV, or -1 (*off unchanged) for a cut TLV, the
 * indefinite length (0x80), a length with a leading zero octet or in long
 * form below 128, or a length past END.  The contents are not looked at.
 */
int der_read_tlv(const unsigned char *p, size_t end, size_t *off, der_tlv_t *t);

/* der_read_tlv(), and -1 unless the identifier octet is TAG. */
int der_read_expect(const unsigned char *p, size_t end, size_t *off,
                    unsigned char tag, der_tlv_t *t);

/*
 * Whether the LEN bytes at P are exactly one TLV with identifier TAG (no
 * trailing bytes): 0 and *t, or -1.  What the module checks of a request
 * body before decoding it.
 */
int der_read_whole(const unsigned char *p, size_t len, unsigned char tag,
                   der_tlv_t *t);

/*
 * Walks the LEN bytes at P as a sequence of TLVs that fills them exactly,
 * descending into every constructed value (at most DER_READ_DEPTH_MAX
 * deep), and checks the rules of DER that hold whatever the schema:
 *  - each TLV as der_read_tlv() reads it;
 *  - universal SEQUENCE and SET constructed, every other universal type
 *    primitive (X.690 10.2: no constructed strings), no end-of-contents tag;
 *  - BOOLEAN one octet, 0x00 or 0xff (11.1);
 *  - INTEGER and ENUMERATED at least one octet, in the fewest (8.3.2);
 *  - NULL empty (8.8.2);
 *  - BIT STRING with 0..7 unused bits, none when empty, unused bits zero
 *    (11.2.1);
 *  - OBJECT IDENTIFIER non-empty, each subidentifier in the fewest octets
 *    (8.19.2).
 * Rules that need the schema (DEFAULT values left out, SET OF order) are
 * the caller's: re-encoding what was parsed and comparing the bytes catches
 * them.  Primitive values with a context, application or private tag are
 * not looked into.  Returns 0, or -1 at the first violation.
 */
int der_read_strict(const unsigned char *p, size_t len);

#endif
