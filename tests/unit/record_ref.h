/*
 * Test-only: the stored-record decoder as it was before issue 10, through
 * protobuf-c (unpack, then the re-pack size as the canonical check), and a
 * comparison of it with ocsp_record_decode(), the hand-written decoder that
 * replaced it.  Used by test_record_codec.c and the fuzz_record target.
 *
 * The reference cannot call record_invalid() (static in record.c), so for
 * a record the codec stage passes it asks ocsp_record_answer(), which says
 * OCSP_ANSWER_INVALID exactly when record_invalid() refuses: the two must
 * then agree that the record is refused, not on the words of the reason.
 */
#ifndef REVOCA_RECORD_REF_H
#define REVOCA_RECORD_REF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "record.h"

/* Refused by the reference after decoding, for what the record says. */
#define REF_INVALID "(invalid: record_invalid)"

static Revoca__CertRecord *ref_decode(const void *p, size_t len,
                                      const char *serial, const char **why)
{
    Revoca__CertRecord *r;
    ocsp_cert_status_e st;
    int64_t t;
    int reason;

    if (len > OCSP_RECORD_MAX) {
        *why = "record too long";
        return NULL;
    }
    r = revoca__cert_record__unpack(NULL, len, p);
    if (r == NULL) {
        *why = "record undecodable";
        return NULL;
    }
    if (revoca__cert_record__get_packed_size(r) != len) {
        *why = "record not canonical";
    } else if (serial != NULL && strcmp(r->serial, serial) != 0) {
        *why = "record of another serial";
    } else if (ocsp_record_answer(r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
               OCSP_ANSWER_INVALID) {
        *why = REF_INVALID;
    } else {
        *why = NULL;
        return r;
    }
    revoca__cert_record__free_unpacked(r, NULL);
    return NULL;
}

/* The reasons that come before validation, worded alike by both. */
static int ref_codec_reason(const char *why)
{
    return strcmp(why, "record too long") == 0 ||
           strcmp(why, "record undecodable") == 0 ||
           strcmp(why, "record not canonical") == 0 ||
           strcmp(why, "record of another serial") == 0;
}

static int ref_same_record(const Revoca__CertRecord *a,
                           const Revoca__CertRecord *b)
{
    unsigned char pa[2 * OCSP_RECORD_MAX], pb[2 * OCSP_RECORD_MAX];
    size_t la, lb;

    if (strcmp(a->serial, b->serial) != 0 || a->status != b->status ||
        a->has_not_before != b->has_not_before ||
        a->not_before != b->not_before ||
        a->has_not_after != b->has_not_after || a->not_after != b->not_after ||
        a->has_shard != b->has_shard || a->shard != b->shard ||
        a->has_revocation_time != b->has_revocation_time ||
        a->revocation_time != b->revocation_time ||
        a->has_reason != b->has_reason || a->reason != b->reason ||
        a->has_invalidity_date != b->has_invalidity_date ||
        a->invalidity_date != b->invalidity_date ||
        a->has_released_at != b->has_released_at ||
        a->released_at != b->released_at || a->has_updated != b->has_updated ||
        a->updated != b->updated ||
        (a->subject == NULL) != (b->subject == NULL) ||
        (a->subject != NULL && strcmp(a->subject, b->subject) != 0) ||
        a->base.n_unknown_fields != b->base.n_unknown_fields) {
        return 0;
    }
    for (unsigned i = 0; i < a->base.n_unknown_fields; i++) {
        const ProtobufCMessageUnknownField *ua = &a->base.unknown_fields[i];
        const ProtobufCMessageUnknownField *ub = &b->base.unknown_fields[i];
        if (ua->tag != ub->tag || ua->wire_type != ub->wire_type ||
            ua->len != ub->len || memcmp(ua->data, ub->data, ua->len) != 0) {
            return 0;
        }
    }
    /* and the signer re-packs them alike (it packs a loaded record) */
    if (revoca__cert_record__get_packed_size(a) > sizeof(pa) ||
        revoca__cert_record__get_packed_size(b) > sizeof(pb)) {
        return 0;
    }
    la = revoca__cert_record__pack(a, pa);
    lb = revoca__cert_record__pack(b, pb);
    return la == lb && memcmp(pa, pb, la) == 0;
}

/*
 * Runs both decoders over P/LEN read as the record of SERIAL (or NULL).
 * Returns NULL when they agree (*accepted set to whether they accepted),
 * else what differs.
 */
static const char *ref_compare(const void *p, size_t len, const char *serial,
                               int *accepted)
{
    const char *why_ref = NULL, *why_new = NULL, *diff = NULL;
    Revoca__CertRecord *a = ref_decode(p, len, serial, &why_ref);
    ocsp_record_t *b = ocsp_record_decode(p, len, serial, NULL, &why_new);

    *accepted = a != NULL;
    if ((a == NULL) != (b == NULL)) {
        diff = a ? "only protobuf-c accepts" : "only the new decoder accepts";
    } else if (a != NULL) {
        if (!ref_same_record(a, b)) {
            diff = "values differ";
        }
    } else if (why_new == NULL) {
        diff = "refused without a reason";
    } else if (strcmp(why_ref, REF_INVALID) == 0
                   ? ref_codec_reason(why_new)
                   : strcmp(why_ref, why_new) != 0) {
        diff = "refused for another reason";
    }
    if (a != NULL) {
        revoca__cert_record__free_unpacked(a, NULL);
    }
    ocsp_record_free(b, NULL);
    return diff;
}

#endif
