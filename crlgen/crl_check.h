/*
 * The pre-publish check (docs/dev/architecture.md: "a CRL is checked before it
 * is published"), and the minimal CRL reader it needs.  The reader walks the
 * DER of a CertificateList without building an X509_CRL, so checking a
 * million-entry CRL costs a hash and a merge, not a second build.
 */
#ifndef CRL_CHECK_H
#define CRL_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "crl_build.h"
#include "crl_entry.h"

typedef struct {
    const unsigned char *tbs; /* the signed bytes, tag included */
    size_t tbs_len;
    const unsigned char *sig; /* signature octets (BIT STRING content) */
    size_t sig_len;
    int64_t this_update;
    int64_t next_update;
    uint64_t number; /* cRLNumber, 0 if absent */
    int delta;       /* deltaCRLIndicator present */
    uint64_t base_number;
    const unsigned char *entries; /* revokedCertificates content, or NULL */
    size_t entries_len;
} crl_parsed_t;

/* Parses DER into *c (borrowing it).  Returns 0, or -1 if malformed. */
int crl_parse(const unsigned char *der, size_t len, crl_parsed_t *c);

/*
 * Iterates revokedCertificates: *pos starts at 0.  Returns 1 with the
 * serial (20-octet form) and reason (CRL_REASON_ABSENT if absent) of the next
 * entry, 0 at the end, -1 if malformed.
 */
int crl_parsed_next(const crl_parsed_t *c, size_t *pos, unsigned char *serial,
                    int *reason);

/*
 * Refuses (returns -1 with err) to publish NEW (DER, LEN bytes) when: it
 * does not verify with the CA's public key; PREV (the file it replaces,
 * may be NULL) has a number or thisUpdate not older than NEW's; or, with
 * COMPLETE set (full and shard CRLs), an entry of PREV other than a hold
 * is missing from NEW without being in EXPIRED (sorted serials dropped as
 * expired).  NEW is read once, its signed bytes hashed as its entries are
 * walked.  With DER_MAPPED (crl_map_pending()) and PREV_MAPPED
 * (crl_map_file()), the pages of either mapping are released as the
 * comparison proceeds.
 */
int crl_check(const crl_signer_t *s, const unsigned char *der, size_t len,
              int der_mapped, const unsigned char *prev, size_t prev_len,
              int prev_mapped, int complete, const crl_entries_t *expired,
              char *err);

#endif
