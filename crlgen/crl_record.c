#include "crl_record.h"

#include <string.h>

#include "policy.h"
#include "record.h"
#include "serial.h"

crl_record_e crl_record_entry(const crl_issuer_conf_t *conf, int64_t now,
                              const char *field, size_t flen, const char *val,
                              size_t vlen, unsigned shard, crl_entry_t *e,
                              const char **why)
{
    /* a million records decode without a million mallocs */
    ocsp_record_arena_t arena;
    const ocsp_profile_t *profile = ocsp_profile(conf->issuer_conf->profile);
    Revoca__CertRecord *rec;
    char hex[OCSP_SERIAL_HEX_MAX + 1];
    crl_record_e d = CRL_RECORD_LISTED;

    memset(e, 0, sizeof(*e));
    if (ocsp_serial_fixed_from_hex(field, flen, e->serial) != 0) {
        *why = "field not a canonical serial";
        return CRL_RECORD_INVALID;
    }
    ocsp_record_arena_init(&arena);
    memcpy(hex, field, flen); /* bounded by the canonical form */
    hex[flen] = '\0';
    rec = ocsp_record_decode(val, vlen, hex, &arena.alloc, why);
    if (rec == NULL) {
        return CRL_RECORD_INVALID;
    }
    /* Nothing to free below: the record lives in the stack arena. */
    if (!ocsp_record_on_crl(rec)) {
        /* the signer deletes a field once its certificate is good */
        *why = "record neither revoked nor held";
        return CRL_RECORD_INVALID;
    }
    e->shard = (uint16_t)shard;
    e->revoked_at = rec->revocation_time;
    e->not_after = rec->has_not_after ? rec->not_after : 0;
    e->invalidity = rec->has_invalidity_date && rec->invalidity_date > 0
                        ? rec->invalidity_date
                        : 0;
    if (rec->status == REVOCA__STATUS__HELD) {
        e->reason = CRL_REASON_HOLD;
        if (!profile->hold) {
            return CRL_RECORD_HOLD_OMITTED; /* e.g. BR 7.2.2 */
        }
    } else {
        int reason = rec->has_reason ? (int)rec->reason : 0;

        e->reason = (uint8_t)reason;
        if (reason == 0) {
            /* RFC 5280 5.3.1: unspecified is expressed by omission */
            e->reason = CRL_REASON_ABSENT;
        } else if (!ocsp_profile_allows_reason(conf->issuer_conf->profile,
                                               reason)) {
            e->reason = CRL_REASON_ABSENT; /* e.g. BR 7.2.2 */
            d = CRL_RECORD_REASON_CLEARED;
        }
    }
    /* RFC 5280 3.3: an entry may go once the certificate expired; kept a
     * while longer for relying parties with skewed clocks. */
    if (rec->has_not_after && rec->not_after < now - conf->expired_after) {
        return CRL_RECORD_EXPIRED;
    }
    return d;
}

void crl_record_printable(char *out, size_t cap, const char *p, size_t len)
{
    size_t i;

    for (i = 0; i < len && i + 1 < cap; i++) {
        out[i] = p[i] >= 0x20 && p[i] < 0x7f ? p[i] : '?';
    }
    out[i] = '\0';
}
