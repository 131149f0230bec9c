/* The history entry codec (history.h): an event of each kind packs to an
 * entry that decodes back to what it said (never the certificate's DER);
 * each validation rule refuses; hostile bytes (cut, flipped, oversized) are
 * refused without a crash or a leak; stream ids. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "event.h"
#include "history.h"

static unsigned char der[600];

static void event_init(Revoca__Event *ev, Revoca__Issued *is,
                       Revoca__Revoked *rv, Revoca__Origin *o)
{
    revoca__event__init(ev);
    revoca__issued__init(is);
    revoca__revoked__init(rv);
    revoca__origin__init(o);
    ev->id = "0123456789abcdef";
    ev->issuer = "demo";
    ev->serial = "1a2b";
    ev->time = 1700000000;
    o->via = "cli";
    o->principal = "ca@host";
    o->source = "/var/lib/ca/index.txt";
    ev->origin = o;
    is->not_before = 1690000000;
    is->not_after = 1800000000;
    is->has_cert_der = 1;
    is->cert_der.data = der;
    is->cert_der.len = sizeof(der);
    rv->revocation_time = 1700000100;
    rv->has_reason = 1;
    rv->reason = REVOCA__REASON__KEY_COMPROMISE;
    rv->has_invalidity_date = 1;
    rv->invalidity_date = 1690000500;
}

static void test_round_trip(void)
{
    Revoca__Event ev;
    Revoca__Issued is;
    Revoca__Revoked rv;
    Revoca__Origin o;
    unsigned char buf[OCSP_HISTORY_ENTRY_MAX];
    Revoca__HistoryEntry *h, *h2;
    const char *why = NULL;
    size_t n;

    event_init(&ev, &is, &rv, &o);
    ev.kind_case = REVOCA__EVENT__KIND_ISSUED;
    ev.issued = &is;
    n = ocsp_history_pack(&ev, "1700000000000-7", 1700000005, buf);
    CHECK(n > 0 && n < 120); /* the 600 bytes of DER are not in it */
    h = ocsp_history_decode(buf, n, &why);
    CHECK(h != NULL);
    if (h != NULL) {
        CHECK_STR(h->stream_id, "1700000000000-7");
        CHECK_STR(h->event_id, "0123456789abcdef");
        CHECK(h->kind == REVOCA__HISTORY_KIND__H_ISSUED);
        CHECK(h->at == 1690000000 && h->not_after == 1800000000);
        CHECK(h->reported == 1700000000 && h->applied == 1700000005);
        CHECK(!h->has_reason);
        CHECK(h->origin != NULL);
        if (h->origin != NULL) {
            CHECK_STR(h->origin->via, "cli");
            CHECK_STR(h->origin->principal, "ca@host");
            CHECK_STR(h->origin->source, "/var/lib/ca/index.txt");
        }
        CHECK_STR(ocsp_history_kind_name(h->kind), "issued");
    }

    ev.kind_case = REVOCA__EVENT__KIND_REVOKED;
    ev.revoked = &rv;
    ev.origin = NULL;
    n = ocsp_history_pack(&ev, "1700000000000-8", 1700000005, buf);
    h2 = ocsp_history_decode(buf, n, &why);
    CHECK(h2 != NULL);
    if (h2 != NULL) {
        CHECK(h2->kind == REVOCA__HISTORY_KIND__H_REVOKED);
        CHECK(h2->at == 1700000100 && h2->has_reason &&
              h2->reason == REVOCA__REASON__KEY_COMPROMISE);
        CHECK(h2->has_invalidity_date && h2->invalidity_date == 1690000500);
        CHECK(h2->origin == NULL);
        CHECK(h != NULL && !ocsp_history_same(h, h2));
        CHECK(ocsp_history_same(h2, h2));
    }
    ocsp_history_free(h);
    ocsp_history_free(h2);

    /* no kind, no stream id: nothing packed */
    ev.kind_case = REVOCA__EVENT__KIND__NOT_SET;
    CHECK(ocsp_history_pack(&ev, "1-0", 0, buf) == 0);
    ev.kind_case = REVOCA__EVENT__KIND_REVOKED;
    CHECK(ocsp_history_pack(&ev, "1-", 0, buf) == 0);
    CHECK(ocsp_history_pack(&ev, "x-0", 0, buf) == 0);
}

/* An entry H packed and decoded: NULL when refused. */
static Revoca__HistoryEntry *repack(const Revoca__HistoryEntry *h)
{
    unsigned char buf[OCSP_HISTORY_ENTRY_MAX * 2];
    const char *why = NULL;
    size_t n = revoca__history_entry__get_packed_size(h);
    Revoca__HistoryEntry *back;

    if (n > sizeof(buf)) {
        return NULL;
    }
    revoca__history_entry__pack(h, buf);
    back = ocsp_history_decode(buf, n, &why);
    CHECK(back != NULL || why != NULL);
    return back;
}

static void test_rules(void)
{
    Revoca__HistoryEntry h = REVOCA__HISTORY_ENTRY__INIT, *back;
    Revoca__Origin o = REVOCA__ORIGIN__INIT;
    char big[OCSP_ORIGIN_SOURCE_MAX + 2];

    h.stream_id = "5-1";
    h.event_id = "e";
    h.kind = REVOCA__HISTORY_KIND__H_HOLD;
    h.reported = 1;
    h.at = 2;
    back = repack(&h);
    CHECK(back != NULL);
    ocsp_history_free(back);

    h.stream_id = "5";
    CHECK(repack(&h) == NULL);
    h.stream_id = "123456789012345678901-0"; /* 21 digits */
    CHECK(repack(&h) == NULL);
    h.stream_id = "5-1";
    h.event_id = "";
    CHECK(repack(&h) == NULL);
    h.event_id = "e";
    h.kind = 7;
    CHECK(repack(&h) == NULL);
    h.kind = REVOCA__HISTORY_KIND__H_HOLD;
    h.at = OCSP_TIME_MAX + 1;
    CHECK(repack(&h) == NULL);
    h.at = -1;
    CHECK(repack(&h) == NULL);
    h.at = 2;
    /* a reason only on a revocation, and never certificateHold */
    h.has_reason = 1;
    h.reason = REVOCA__REASON__KEY_COMPROMISE;
    CHECK(repack(&h) == NULL);
    h.kind = REVOCA__HISTORY_KIND__H_REVOKED;
    back = repack(&h);
    CHECK(back != NULL);
    ocsp_history_free(back);
    h.reason = REVOCA__REASON__CERTIFICATE_HOLD;
    CHECK(repack(&h) == NULL);
    h.reason = REVOCA__REASON__SUPERSEDED;
    /* the origin by event.h's rules */
    h.origin = &o;
    o.via = "CLI";
    CHECK(repack(&h) == NULL);
    o.via = "cli";
    o.principal = "a\nb";
    CHECK(repack(&h) == NULL);
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    o.principal = NULL;
    o.source = big;
    CHECK(repack(&h) == NULL);
    o.source = "ok";
    back = repack(&h);
    CHECK(back != NULL);
    ocsp_history_free(back);
}

static void test_hostile(void)
{
    Revoca__Event ev;
    Revoca__Issued is;
    Revoca__Revoked rv;
    Revoca__Origin o;
    unsigned char buf[OCSP_HISTORY_ENTRY_MAX], copy[OCSP_HISTORY_ENTRY_MAX];
    unsigned char *huge;
    const char *why;
    size_t n, i;
    int bit;

    event_init(&ev, &is, &rv, &o);
    ev.kind_case = REVOCA__EVENT__KIND_REVOKED;
    ev.revoked = &rv;
    n = ocsp_history_pack(&ev, "1700000000000-7", 1700000005, buf);
    for (i = 0; i < n; i++) {
        Revoca__HistoryEntry *h = ocsp_history_decode(buf, i, &why);
        ocsp_history_free(h); /* a prefix may be an entry; never a crash */
        for (bit = 0; bit < 8; bit++) {
            memcpy(copy, buf, n);
            copy[i] ^= (unsigned char)(1 << bit);
            ocsp_history_free(ocsp_history_decode(copy, n, &why));
        }
    }
    why = NULL;
    CHECK(ocsp_history_decode(buf, 0, &why) == NULL && why != NULL);
    huge = calloc(1, OCSP_HISTORY_ENTRY_MAX + 1);
    why = NULL;
    CHECK(huge != NULL &&
          ocsp_history_decode(huge, OCSP_HISTORY_ENTRY_MAX + 1, &why) == NULL &&
          why != NULL);
    free(huge);
}

int main(void)
{
    CHECK(ocsp_stream_id_valid("0-0"));
    CHECK(ocsp_stream_id_valid("1700000000000-18446744073709551615"));
    CHECK(!ocsp_stream_id_valid("-1"));
    CHECK(!ocsp_stream_id_valid("1-2-3"));
    CHECK(!ocsp_stream_id_valid("(1-2"));
    test_round_trip();
    test_rules();
    test_hostile();
    CHECK_DONE();
}
