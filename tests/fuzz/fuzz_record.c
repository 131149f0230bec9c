/*
 * libFuzzer target for status records (P:cert:... and the revoked hash's
 * values, read from Redis) through ocsp_record_decode(), the one reader
 * every component uses.  A record it accepts is answered (never refused as
 * invalid), listed and sharded within bounds; a record it refuses as
 * invalid is never answered (issue 9: a record of an unknown status was
 * signed good).
 *
 * It is also differential: ocsp_record_decode() is a hand-written decoder
 * (issue 10) that must accept exactly what protobuf-c's unpack + re-pack
 * size check accepted, with the same values (../unit/record_ref.h).
 */
#include <stddef.h>
#include <stdint.h>

#include "event.h"
#include "record.h"

#include "../unit/record_ref.h"

static const ocsp_unissued_e policies[] = {
    OCSP_UNISSUED_UNKNOWN, OCSP_UNISSUED_REVOKED, OCSP_UNISSUED_UNAUTHORIZED};
#define NPOLICIES (sizeof(policies) / sizeof(policies[0]))

static void check_accepted(const ocsp_record_t *r)
{
    for (size_t i = 0; i < NPOLICIES; i++) {
        ocsp_cert_status_e st;
        int64_t t = -1;
        int reason = 0;
        ocsp_answer_e a = ocsp_record_answer(r, policies[i], &st, &t, &reason);
        if (a == OCSP_ANSWER_INVALID ||
            (a == OCSP_ANSWER_UNAUTHORIZED &&
             policies[i] != OCSP_UNISSUED_UNAUTHORIZED)) {
            __builtin_trap();
        }
        if (a != OCSP_ANSWER_SIGN) {
            continue;
        }
        if ((st != OCSP_CERT_GOOD && st != OCSP_CERT_REVOKED &&
             st != OCSP_CERT_UNKNOWN) ||
            (reason != OCSP_REASON_NONE && !ocsp_reason_valid(reason)) ||
            t < 0 || (st != OCSP_CERT_REVOKED && t != 0)) {
            __builtin_trap();
        }
        /* good only for a certificate reported issued, not revoked */
        if (st == OCSP_CERT_GOOD &&
            (!ocsp_record_issued(r) || ocsp_record_on_crl(r))) {
            __builtin_trap();
        }
    }
    for (unsigned n = 1; n <= 17; n += 8) {
        if (ocsp_record_shard(r, n) >= n) {
            __builtin_trap();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    ocsp_record_t *r;
    int accepted;

    if (ref_compare(data, size, NULL, &accepted) != NULL ||
        ref_compare(data, size, "1", &accepted) != NULL) {
        __builtin_trap(); /* the two decoders disagree */
    }
    r = ocsp_record_decode(data, size, NULL, NULL, &why);

    if (r != NULL) {
        check_accepted(r);
        /* the serial it holds is the one it is read as */
        ocsp_record_t *again =
            ocsp_record_decode(data, size, r->serial, NULL, &why);
        if (again == NULL) {
            __builtin_trap();
        }
        ocsp_record_free(again, NULL);
        ocsp_record_free(r, NULL);
        return 0;
    }
    if (why == NULL) {
        __builtin_trap();
    }
    /* refused but unpackable and canonical: refused for what it says, so
     * never answered (a non-canonical record is refused for its bytes,
     * which ocsp_record_answer() never sees) */
    if (size <= OCSP_RECORD_MAX) {
        r = revoca__cert_record__unpack(NULL, size, data);
        if (r != NULL && revoca__cert_record__get_packed_size(r) == size) {
            for (size_t i = 0; i < NPOLICIES; i++) {
                ocsp_cert_status_e st;
                int64_t t;
                int reason;
                if (ocsp_record_answer(r, policies[i], &st, &t, &reason) !=
                    OCSP_ANSWER_INVALID) {
                    __builtin_trap();
                }
            }
        }
        if (r != NULL) {
            revoca__cert_record__free_unpacked(r, NULL);
        }
    }
    return 0;
}
