/*
 * libFuzzer target for status records (P:cert:... and the revoked hash's
 * values, read from Redis): unpacked within OCSP_RECORD_MAX and validated;
 * a record that passes is answered, listed and sharded within bounds.
 */
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ocsp_unissued_e policies[] = {OCSP_UNISSUED_UNKNOWN,
                                               OCSP_UNISSUED_REVOKED,
                                               OCSP_UNISSUED_UNAUTHORIZED};
    ocsp_record_t *r;
    size_t i;

    if (size > OCSP_RECORD_MAX) {
        return 0; /* readers refuse these before unpacking */
    }
    r = revoca__cert_record__unpack(NULL, size, data);
    if (r == NULL) {
        return 0;
    }
    if (ocsp_record_valid(r)) {
        for (i = 0; i < sizeof(policies) / sizeof(policies[0]); i++) {
            ocsp_cert_status_e st;
            int64_t t = 0;
            int reason = -1;
            if (ocsp_record_answer(r, policies[i], &st, &t, &reason) != 0) {
                if (policies[i] != OCSP_UNISSUED_UNAUTHORIZED) {
                    __builtin_trap();
                }
                continue;
            }
            if (st != OCSP_CERT_GOOD && st != OCSP_CERT_REVOKED &&
                st != OCSP_CERT_UNKNOWN) {
                __builtin_trap();
            }
            if (reason != OCSP_REASON_NONE && !ocsp_reason_valid(reason)) {
                __builtin_trap();
            }
        }
        (void)ocsp_record_on_crl(r);
        for (unsigned n = 1; n <= 17; n += 8) {
            if (ocsp_record_shard(r, n) >= n) {
                __builtin_trap();
            }
        }
    }
    revoca__cert_record__free_unpacked(r, NULL);
    return 0;
}
