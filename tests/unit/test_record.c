/* The status model: every order of the same events ends alike. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "record.h"

static Revoca__Issued issued = REVOCA__ISSUED__INIT;
static Revoca__Revoked rev_sup = REVOCA__REVOKED__INIT,
                       rev_kc = REVOCA__REVOKED__INIT;
static Revoca__Hold hold = REVOCA__HOLD__INIT, hold2 = REVOCA__HOLD__INIT;
static Revoca__Release rel = REVOCA__RELEASE__INIT;

static void ev_set(ocsp_event_t *e, int kind, void *p)
{
    revoca__event__init(e);
    e->id = "x";
    e->issuer = "demo";
    e->serial = "1";
    e->kind_case = kind;
    switch (kind) {
    case REVOCA__EVENT__KIND_ISSUED:
        e->issued = p;
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        e->revoked = p;
        break;
    case REVOCA__EVENT__KIND_HOLD:
        e->hold = p;
        break;
    default:
        e->release = p;
        break;
    }
}

/* Applies evs in the order perm, returns the packed record as a string. */
static void run(ocsp_event_t *evs, const int *perm, int n, ocsp_record_t *r)
{
    static char serial[] = "1";
    int i;

    ocsp_record_init(r, serial);
    for (i = 0; i < n; i++) {
        ocsp_record_apply(r, &evs[perm[i]]);
        /* a duplicate changes nothing */
        CHECK(ocsp_record_apply(r, &evs[perm[i]]) == 0);
    }
}

static int same(const ocsp_record_t *a, const ocsp_record_t *b)
{
    unsigned char pa[OCSP_RECORD_MAX], pb[OCSP_RECORD_MAX];
    size_t la = revoca__cert_record__pack(a, pa);
    size_t lb = revoca__cert_record__pack(b, pb);

    return la == lb && memcmp(pa, pb, la) == 0;
}

/* Every permutation of n <= 6 events reaches the same record. */
static void all_orders(ocsp_event_t *evs, int n, ocsp_record_t *want)
{
    int perm[6], c[6] = {0}, i = 0, k, t;
    ocsp_record_t got;

    for (k = 0; k < n; k++) {
        perm[k] = k;
    }
    run(evs, perm, n, want);
    /* Heap's algorithm. */
    while (i < n) {
        if (c[i] < i) {
            k = i % 2 == 0 ? 0 : c[i];
            t = perm[k];
            perm[k] = perm[i];
            perm[i] = t;
            run(evs, perm, n, &got);
            CHECK(same(&got, want));
            c[i]++;
            i = 0;
        } else {
            c[i] = 0;
            i++;
        }
    }
}

/* Packs R and decodes it back as the record of SERIAL: 1 if accepted. */
static int decodes(const ocsp_record_t *r, const char *serial)
{
    uint8_t buf[OCSP_RECORD_MAX * 2];
    size_t n = revoca__cert_record__get_packed_size(r);
    const char *why = NULL;
    ocsp_record_t *d;

    if (n > sizeof(buf)) {
        return 0;
    }
    revoca__cert_record__pack(r, buf);
    d = ocsp_record_decode(buf, n, serial, NULL, &why);
    if (d == NULL) {
        return why == NULL ? -1 : 0; /* a refusal always says why */
    }
    ocsp_record_free(d, NULL);
    return 1;
}

/* Whether R is refused by the answer too (never signed, never good). */
static int unanswered(const ocsp_record_t *r)
{
    ocsp_cert_status_e st;
    int64_t t;
    int reason;

    return ocsp_record_answer(r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
           OCSP_ANSWER_INVALID;
}

/* Records read back from Redis: only what this code writes is valid. */
static void test_decode(void)
{
    static char serial[] = "1";
    ocsp_record_t r;
    static const uint8_t garbage[] = {0xff, 0xff, 0xff};
    uint8_t big[OCSP_RECORD_MAX + 1] = {0};
    const char *why;

    ocsp_record_init(&r, serial);
    CHECK(decodes(&r, "1") == 1 && !unanswered(&r));
    CHECK(decodes(&r, NULL) == 1);
    CHECK(decodes(&r, "2") == 0); /* another serial's record */
    {
        /* serial "1\0x" would compare equal to "1" up to its NUL */
        const uint8_t nul[] = {0x0a, 0x03, '1', 0x00, 'x', 0x10, 0x00};
        CHECK(ocsp_record_decode(nul, sizeof(nul), "1", NULL, &why) == NULL &&
              strcmp(why, "record not canonical") == 0);
    }
    CHECK(ocsp_record_decode(garbage, sizeof(garbage), NULL, NULL, &why) ==
              NULL &&
          why != NULL);
    CHECK(ocsp_record_decode(big, sizeof(big), NULL, NULL, &why) == NULL);
    {
        /* a record valid but for its size: refused for the size alone */
        static char longserial[OCSP_RECORD_MAX];
        uint8_t buf[OCSP_RECORD_MAX * 2];
        size_t n;

        memset(longserial, 'a', sizeof(longserial) - 1);
        ocsp_record_init(&r, longserial);
        n = revoca__cert_record__pack(&r, buf);
        CHECK(n > OCSP_RECORD_MAX);
        CHECK(ocsp_record_decode(buf, n, NULL, NULL, &why) == NULL &&
              strcmp(why, "record too long") == 0);
        ocsp_record_init(&r, serial);
    }

    /* Reproduced: an unknown status with a notAfter was signed good. */
    r.has_not_before = r.has_not_after = 1;
    r.not_before = 100;
    r.not_after = 1000;
    CHECK(decodes(&r, "1") == 1);
    r.status = 5; /* protobuf-c does not check enum values */
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));

    /* Reproduced: a revoked record with reason 99 was signed with it. */
    r.status = REVOCA__STATUS__REVOKED;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r)); /* no time, no reason */
    r.has_revocation_time = r.has_reason = 1;
    r.revocation_time = 500;
    r.reason = REVOCA__REASON__KEY_COMPROMISE;
    CHECK(decodes(&r, "1") == 1 && !unanswered(&r));
    r.reason = 99;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.reason = 7;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    /* a final revocation is never certificateHold nor removeFromCRL */
    r.reason = REVOCA__REASON__CERTIFICATE_HOLD;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.reason = REVOCA__REASON__REMOVE_FROM_CRL;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.reason = REVOCA__REASON__KEY_COMPROMISE;
    r.revocation_time = -1;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.revocation_time = 500;
    r.has_updated = 1;
    r.updated = 253402300800LL; /* past year 9999 */
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.has_updated = 0;

    /* Reproduced: a held record without a time was signed revoked at
     * 1970. */
    r.status = REVOCA__STATUS__HELD;
    r.reason = REVOCA__REASON__CERTIFICATE_HOLD;
    CHECK(decodes(&r, "1") == 1);
    r.has_revocation_time = 0;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    r.has_revocation_time = 1;
    r.reason = REVOCA__REASON__KEY_COMPROMISE; /* a hold is certificateHold */
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));

    /* Good never carries a revocation; validity periods are ordered. */
    ocsp_record_init(&r, serial);
    r.has_revocation_time = 1;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
    ocsp_record_init(&r, serial);
    r.has_not_before = r.has_not_after = 1;
    r.not_before = 1000;
    r.not_after = 100;
    CHECK(decodes(&r, "1") == 0 && unanswered(&r));
}

/* "Has the signer applied this event?" */
static void test_reflects(void)
{
    static char serial[] = "1";
    ocsp_record_t r;
    ocsp_event_t ev;

    ocsp_record_init(&r, serial);
    ev_set(&ev, REVOCA__EVENT__KIND_ISSUED, &issued);
    CHECK(!ocsp_record_reflects(&r, &ev));
    ocsp_record_apply(&r, &ev);
    CHECK(ocsp_record_reflects(&r, &ev));
    ev_set(&ev, REVOCA__EVENT__KIND_REVOKED, &rev_kc);
    CHECK(!ocsp_record_reflects(&r, &ev));
    CHECK(r.status == REVOCA__STATUS__GOOD); /* R is not changed */
    ocsp_record_apply(&r, &ev);
    CHECK(ocsp_record_reflects(&r, &ev));
}

/*
 * The subject follows the issue event that won, and of two with the same
 * notAfter the one that sorts first, in every order: as the signer does it
 * (apply, then ocsp_record_take_subject() with the event's subject).
 */
static void test_subject_orders(void)
{
    static Revoca__Issued is[4] = {REVOCA__ISSUED__INIT, REVOCA__ISSUED__INIT,
                                   REVOCA__ISSUED__INIT, REVOCA__ISSUED__INIT};
    static const char *const subj[4] = {"CN=b", "CN=a", NULL, "CN=z"};
    static const int64_t after[4] = {1000, 1000, 1000, 500};
    static const int perms[][4] = {
        {0, 1, 2, 3}, {1, 0, 2, 3}, {2, 1, 0, 3}, {3, 2, 1, 0}, {2, 3, 0, 1},
        {1, 3, 2, 0}, {0, 2, 3, 1}, {3, 0, 1, 2}, {2, 0, 1, 3}, {1, 2, 3, 0}};
    static char serial[] = "1";
    ocsp_event_t evs[5];
    Revoca__Issued later = REVOCA__ISSUED__INIT;

    for (int i = 0; i < 4; i++) {
        is[i].not_before = 100;
        is[i].not_after = after[i];
        ev_set(&evs[i], REVOCA__EVENT__KIND_ISSUED, &is[i]);
    }
    for (size_t p = 0; p < sizeof(perms) / sizeof(perms[0]); p++) {
        char buf[OCSP_SUBJECT_MAX + 1];
        ocsp_record_t r;

        ocsp_record_init(&r, serial);
        for (int i = 0; i < 4; i++) {
            const int k = perms[p][i];
            ocsp_record_apply(&r, &evs[k]);
            ocsp_record_take_subject(&r, &evs[k], subj[k], buf);
            /* a duplicate changes nothing */
            CHECK(ocsp_record_apply(&r, &evs[k]) == 0);
            CHECK(ocsp_record_take_subject(&r, &evs[k], subj[k], buf) == 0);
        }
        CHECK(r.not_after == 1000 && r.subject != NULL);
        CHECK_STR(r.subject, "CN=a");
        /* a later notAfter without a certificate: no subject */
        later.not_before = 100;
        later.not_after = 2000;
        ev_set(&evs[4], REVOCA__EVENT__KIND_ISSUED, &later);
        CHECK(ocsp_record_apply(&r, &evs[4]) == 1);
        CHECK(ocsp_record_take_subject(&r, &evs[4], NULL, buf) == 0);
        CHECK(r.subject == NULL);
    }
    /* only printable ASCII of 1..OCSP_SUBJECT_MAX bytes is taken */
    {
        char buf[OCSP_SUBJECT_MAX + 1], big[OCSP_SUBJECT_MAX + 2];
        ocsp_record_t r;

        memset(big, 'a', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        ocsp_record_init(&r, serial);
        ocsp_record_apply(&r, &evs[0]);
        CHECK(ocsp_record_take_subject(&r, &evs[0], "", buf) == 0);
        CHECK(ocsp_record_take_subject(&r, &evs[0], "CN=\x01", buf) == 0);
        CHECK(ocsp_record_take_subject(&r, &evs[0], big, buf) == 0);
        big[OCSP_SUBJECT_MAX] = '\0';
        CHECK(ocsp_record_take_subject(&r, &evs[0], big, buf) == 1);
        CHECK(r.subject == buf && strlen(r.subject) == OCSP_SUBJECT_MAX);
    }
}

int main(void)
{
    ocsp_event_t evs[6];
    ocsp_record_t r;
    ocsp_cert_status_e st;
    int64_t t;
    int reason;
    static char serial[] = "1";

    issued.not_before = 100;
    issued.not_after = 1000;
    rev_sup.revocation_time = 300;
    rev_sup.has_reason = 1;
    rev_sup.reason = REVOCA__REASON__SUPERSEDED;
    rev_kc.revocation_time = 400;
    rev_kc.has_reason = 1;
    rev_kc.reason = REVOCA__REASON__KEY_COMPROMISE;
    hold.hold_time = 150;
    hold2.hold_time = 250;
    rel.release_time = 200;
    test_subject_orders();

    /* Never reported: never good, whatever the policy. */
    ocsp_record_init(&r, serial);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
              OCSP_ANSWER_SIGN &&
          st == OCSP_CERT_UNKNOWN);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_REVOKED, &st, &t, &reason) ==
              OCSP_ANSWER_SIGN &&
          st == OCSP_CERT_REVOKED && t == 0 && reason == 6);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_UNAUTHORIZED, &st, &t,
                             &reason) == OCSP_ANSWER_UNAUTHORIZED);

    /* issued, hold(150), release(200), hold(250): held at 250. */
    ev_set(&evs[0], REVOCA__EVENT__KIND_ISSUED, &issued);
    ev_set(&evs[1], REVOCA__EVENT__KIND_HOLD, &hold);
    ev_set(&evs[2], REVOCA__EVENT__KIND_RELEASE, &rel);
    ev_set(&evs[3], REVOCA__EVENT__KIND_HOLD, &hold2);
    all_orders(evs, 4, &r);
    CHECK(r.status == REVOCA__STATUS__HELD && r.revocation_time == 250);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
              OCSP_ANSWER_SIGN &&
          st == OCSP_CERT_REVOKED && reason == 6 && t == 250);

    /* issued, hold, release: good again. */
    all_orders(evs, 3, &r);
    CHECK(r.status == REVOCA__STATUS__GOOD && !r.has_revocation_time);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
              OCSP_ANSWER_SIGN &&
          st == OCSP_CERT_GOOD);

    /* Revocations are final and keyCompromise wins over an earlier one. */
    ev_set(&evs[4], REVOCA__EVENT__KIND_REVOKED, &rev_sup);
    ev_set(&evs[5], REVOCA__EVENT__KIND_REVOKED, &rev_kc);
    all_orders(evs, 6, &r);
    CHECK(r.status == REVOCA__STATUS__REVOKED && r.reason == 1 &&
          r.revocation_time == 400);
    CHECK(ocsp_record_issued(&r) && r.not_after == 1000);

    /* Unspecified is expressed by leaving the reason out. */
    ocsp_record_init(&r, serial);
    rev_sup.reason = REVOCA__REASON__UNSPECIFIED;
    ocsp_record_apply(&r, &evs[4]);
    CHECK(ocsp_record_answer(&r, OCSP_UNISSUED_UNKNOWN, &st, &t, &reason) ==
              OCSP_ANSWER_SIGN &&
          st == OCSP_CERT_REVOKED && reason == OCSP_REASON_NONE);
    CHECK(ocsp_record_on_crl(&r));

    /* Shards: fixed at issuance when in range, else from the serial. */
    ocsp_record_init(&r, serial);
    CHECK(ocsp_record_shard(&r, 4) == 1);
    r.has_shard = 1;
    r.shard = 3;
    CHECK(ocsp_record_shard(&r, 4) == 3);
    CHECK(ocsp_record_shard(&r, 2) == 1); /* out of range: derived */
    test_decode();
    test_reflects();
    CHECK_DONE();
}
