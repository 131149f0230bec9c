#include "record.h"
#include "event.h"

#include <string.h>

#include "serial.h"

void ocsp_record_init(ocsp_record_t *r, char *serial)
{
    revoca__cert_record__init(r);
    r->serial = serial;
    r->status = REVOCA__STATUS__GOOD;
}

int ocsp_record_issued(const ocsp_record_t *r)
{
    return r->has_not_after;
}

static void record_clear_revocation(ocsp_record_t *r)
{
    r->has_revocation_time = 0;
    r->revocation_time = 0;
    r->has_reason = 0;
    r->reason = REVOCA__REASON__UNSPECIFIED;
    r->has_invalidity_date = 0;
    r->invalidity_date = 0;
}

static int apply_issued(ocsp_record_t *r, const Revoca__Issued *is)
{
    /* Two issue events for one serial: the later notAfter wins, so the
     * outcome does not depend on their order. */
    if (r->has_not_after && r->not_after >= is->not_after) {
        return 0;
    }
    r->has_not_before = 1;
    r->not_before = is->not_before;
    r->has_not_after = 1;
    r->not_after = is->not_after;
    r->has_shard = is->has_shard;
    r->shard = is->has_shard ? is->shard : 0;
    return 1;
}

/* Unix seconds a record may hold: those an event may carry (event.h). */
static int time_ok(int has, int64_t t)
{
    return !has || (t >= 0 && t <= OCSP_TIME_MAX);
}

static const char *record_invalid(const ocsp_record_t *r)
{
    if (!time_ok(r->has_not_before, r->not_before) ||
        !time_ok(r->has_not_after, r->not_after) ||
        !time_ok(r->has_revocation_time, r->revocation_time) ||
        !time_ok(r->has_invalidity_date, r->invalidity_date) ||
        !time_ok(r->has_released_at, r->released_at) ||
        !time_ok(r->has_updated, r->updated)) {
        return "time out of range";
    }
    if (r->has_not_before && r->has_not_after && r->not_after < r->not_before) {
        return "bad validity period";
    }
    switch (r->status) {
    case REVOCA__STATUS__GOOD:
        if (r->has_revocation_time || r->has_reason) {
            return "good with a revocation";
        }
        return NULL;
    case REVOCA__STATUS__REVOKED:
        /* an absent reason is unspecified (RFC 5280 5.3.1) */
        if (!r->has_revocation_time ||
            (r->has_reason && !ocsp_revocation_reason_valid((int)r->reason))) {
            return "revoked without a time or with an invalid reason";
        }
        return NULL;
    case REVOCA__STATUS__HELD:
        if (!r->has_revocation_time ||
            (r->has_reason && r->reason != REVOCA__REASON__CERTIFICATE_HOLD)) {
            return "held without a time or with a reason not "
                   "certificateHold";
        }
        return NULL;
    default:
        return "unknown status";
    }
}

ocsp_record_t *ocsp_record_decode(const void *p, size_t len, const char *serial,
                                  ProtobufCAllocator *alloc, const char **why)
{
    ocsp_record_t *r;

    if (len > OCSP_RECORD_MAX) {
        *why = "record too long";
        return NULL;
    }
    r = revoca__cert_record__unpack(alloc, len, p);
    if (r == NULL) {
        *why = "record undecodable";
        return NULL;
    }
    if (revoca__cert_record__get_packed_size(r) != len) {
        /* a NUL inside the serial, a repeated field: not what the signer
         * packs, and the serial would compare equal up to the NUL */
        *why = "record not canonical";
    } else if (serial != NULL && strcmp(r->serial, serial) != 0) {
        *why = "record of another serial";
    } else if ((*why = record_invalid(r)) == NULL) {
        return r;
    }
    revoca__cert_record__free_unpacked(r, alloc);
    return NULL;
}

void ocsp_record_free(ocsp_record_t *r, ProtobufCAllocator *alloc)
{
    if (r != NULL) {
        revoca__cert_record__free_unpacked(r, alloc);
    }
}

int ocsp_record_reflects(const ocsp_record_t *r, const ocsp_event_t *ev)
{
    ocsp_record_t copy = *r;

    /* apply() changes only scalar fields, so a shallow copy is enough. */
    return ocsp_record_apply(&copy, ev) == 0;
}

/* Puts r on the CRL: revoked or held, since T, for REASON. */
static void set_listed(ocsp_record_t *r, Revoca__Status status, int64_t t,
                       Revoca__Reason reason, int has_invalidity,
                       int64_t invalidity)
{
    r->status = status;
    r->has_revocation_time = 1;
    r->revocation_time = t;
    r->has_reason = 1;
    r->reason = reason;
    r->has_invalidity_date = has_invalidity;
    r->invalidity_date = has_invalidity ? invalidity : 0;
}

static int apply_revoked(ocsp_record_t *r, const Revoca__Revoked *rv)
{
    Revoca__Reason reason =
        rv->has_reason ? rv->reason : REVOCA__REASON__UNSPECIFIED;

    if (r->status == REVOCA__STATUS__REVOKED) {
        int old_kc = r->reason == REVOCA__REASON__KEY_COMPROMISE;
        int new_kc = reason == REVOCA__REASON__KEY_COMPROMISE;
        /* keyCompromise outranks; then the earlier time; then the lower
         * reason, so that any order of the same events ends alike. */
        if (old_kc != new_kc) {
            if (old_kc) {
                return 0;
            }
        } else if (rv->revocation_time > r->revocation_time ||
                   (rv->revocation_time == r->revocation_time &&
                    reason >= r->reason)) {
            return 0;
        }
    }
    set_listed(r, REVOCA__STATUS__REVOKED, rv->revocation_time, reason,
               rv->has_invalidity_date, rv->invalidity_date);
    return 1;
}

static int apply_hold(ocsp_record_t *r, const Revoca__Hold *h)
{
    if (r->status == REVOCA__STATUS__REVOKED) {
        return 0; /* revoked is final */
    }
    if (r->has_released_at && h->hold_time <= r->released_at) {
        return 0; /* a release already lifted this hold */
    }
    if (r->status == REVOCA__STATUS__HELD &&
        r->revocation_time >= h->hold_time) {
        return 0; /* the latest hold counts: the timeline's last word */
    }
    set_listed(r, REVOCA__STATUS__HELD, h->hold_time,
               REVOCA__REASON__CERTIFICATE_HOLD, h->has_invalidity_date,
               h->invalidity_date);
    return 1;
}

static int apply_release(ocsp_record_t *r, const Revoca__Release *rl)
{
    int changed = 0;

    if (!r->has_released_at || r->released_at < rl->release_time) {
        r->has_released_at = 1;
        r->released_at = rl->release_time;
        changed = 1;
    }
    if (r->status == REVOCA__STATUS__HELD &&
        r->revocation_time <= rl->release_time) {
        r->status = REVOCA__STATUS__GOOD;
        record_clear_revocation(r);
        changed = 1;
    }
    return changed;
}

int ocsp_record_apply(ocsp_record_t *r, const ocsp_event_t *ev)
{
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        return apply_issued(r, ev->issued);
    case REVOCA__EVENT__KIND_REVOKED:
        return apply_revoked(r, ev->revoked);
    case REVOCA__EVENT__KIND_HOLD:
        return apply_hold(r, ev->hold);
    case REVOCA__EVENT__KIND_RELEASE:
        return apply_release(r, ev->release);
    default:
        return -1;
    }
}

ocsp_answer_e ocsp_record_answer(const ocsp_record_t *r, ocsp_unissued_e policy,
                                 ocsp_cert_status_e *status, int64_t *rev_time,
                                 int *reason)
{
    *status = OCSP_CERT_UNKNOWN;
    *rev_time = 0;
    *reason = OCSP_REASON_NONE;

    if (record_invalid(r) != NULL) {
        return OCSP_ANSWER_INVALID;
    }
    switch (r->status) {
    case REVOCA__STATUS__REVOKED:
    case REVOCA__STATUS__HELD:
        *status = OCSP_CERT_REVOKED;
        *rev_time = r->revocation_time;
        /* RFC 5280 5.3.1: unspecified is expressed by leaving it out. */
        if (r->status == REVOCA__STATUS__HELD) {
            *reason = REVOCA__REASON__CERTIFICATE_HOLD;
        } else if (r->has_reason && r->reason != REVOCA__REASON__UNSPECIFIED) {
            *reason = (int)r->reason;
        }
        return OCSP_ANSWER_SIGN;
    case REVOCA__STATUS__GOOD:
        break;
    default:
        return OCSP_ANSWER_INVALID; /* record_invalid() refused it */
    }
    if (ocsp_record_issued(r)) {
        *status = OCSP_CERT_GOOD;
        return OCSP_ANSWER_SIGN;
    }
    /* Never reported as issued: never "good". */
    switch (policy) {
    case OCSP_UNISSUED_REVOKED:
        /* RFC 6960 2.2: certificateHold, revoked at the epoch. */
        *status = OCSP_CERT_REVOKED;
        *reason = REVOCA__REASON__CERTIFICATE_HOLD;
        return OCSP_ANSWER_SIGN;
    case OCSP_UNISSUED_UNAUTHORIZED:
        return OCSP_ANSWER_UNAUTHORIZED;
    default:
        *status = OCSP_CERT_UNKNOWN;
        return OCSP_ANSWER_SIGN;
    }
}

int ocsp_record_on_crl(const ocsp_record_t *r)
{
    return r->status == REVOCA__STATUS__REVOKED ||
           r->status == REVOCA__STATUS__HELD;
}

unsigned ocsp_record_shard(const ocsp_record_t *r, unsigned nshards)
{
    if (nshards <= 1) {
        return 0;
    }
    if (r->has_shard && r->shard < nshards) {
        return r->shard;
    }
    return ocsp_serial_shard(r->serial, nshards);
}
