/*
 * Serial numbers in their one canonical form (docs/dev/architecture.md): the
 * DER INTEGER content without leading zero octets, as lower-case hex.  Zero,
 * negative and longer-than-20-octet serials are invalid (RFC 5280 4.1.2.2).
 * The fixed-width form below is the same value as OCSP_SERIAL_MAX_OCTETS
 * big-endian octets, for code that sorts and compares serials (the CRL
 * generator): memcmp() of two is their numeric order.
 */
#ifndef REVOCA_SERIAL_H
#define REVOCA_SERIAL_H

#include <openssl/asn1.h>
#include <stddef.h>

#define OCSP_SERIAL_MAX_OCTETS 20
#define OCSP_SERIAL_HEX_MAX (2 * OCSP_SERIAL_MAX_OCTETS) /* without NUL */

/*
 * From DER INTEGER content octets (two's complement, as on the wire).
 * Writes the canonical hex and its NUL into out (OCSP_SERIAL_HEX_MAX + 1).
 * Returns 0, or -1 for an invalid serial.
 */
int ocsp_serial_from_der(const unsigned char *p, size_t len, char *out);

/* From an OpenSSL integer; same contract. */
int ocsp_serial_from_asn1(const ASN1_INTEGER *ai, char *out);

/*
 * From operator input: hex digits, either case, optional "0x" and ':'
 * separators, leading zeros allowed.  Interpreted as a positive number.
 * Same contract.
 */
int ocsp_serial_from_hex(const char *hex, char *out);

/*
 * Canonical hex to raw positive integer octets ready for a DER INTEGER
 * (a leading 0x00 added when the top bit is set).  out must hold
 * OCSP_SERIAL_MAX_OCTETS + 1 bytes.  Returns the length, or -1.
 */
int ocsp_serial_to_der(const char *hex, unsigned char *out);

/*
 * The CRL shard of a serial that was not given one at issuance: the serial's
 * value modulo NSHARDS (so a CA can compute it too).  hex is canonical.
 */
unsigned ocsp_serial_shard(const char *hex, unsigned nshards);

/*
 * Canonical hex (LEN bytes at HEX, no NUL needed: 1..OCSP_SERIAL_HEX_MAX
 * lower-case digits, no leading zero) to the fixed-width form in out
 * (OCSP_SERIAL_MAX_OCTETS bytes, zero-padded on the left).  Returns 0, or -1
 * for anything not canonical.  Fast enough for a million serials a second:
 * the CRL generator decodes every revoked serial with it.
 */
int ocsp_serial_fixed_from_hex(const char *hex, size_t len, unsigned char *out);

/*
 * The fixed-width form (not all zero) to the content octets of its DER
 * INTEGER in out (OCSP_SERIAL_MAX_OCTETS + 1 bytes: a 0x00 is put first when
 * the top bit is set, X.690 8.3).  Returns their length, 1..21.
 */
size_t ocsp_serial_fixed_to_der(const unsigned char *fixed, unsigned char *out);

#endif
