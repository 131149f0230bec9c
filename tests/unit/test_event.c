/* The stream event decoder (event.h): each validation rule on both sides
 * of its bound, and hostile bytes (cut, flipped, oversized) refused without
 * a crash or a leak. */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "config.h"
#include "event.h"

static Revoca__Issued issued;
static Revoca__Revoked revoked;
static Revoca__Hold hold;
static Revoca__Release release;

/* A valid event of KIND for serial 1a2b of issuer "demo". */
static void event_of(Revoca__Event *ev, int kind)
{
    revoca__event__init(ev);
    revoca__issued__init(&issued);
    revoca__revoked__init(&revoked);
    revoca__hold__init(&hold);
    revoca__release__init(&release);
    ev->id = "0123456789abcdef";
    ev->issuer = "demo";
    ev->serial = "1a2b";
    ev->time = 1700000000;
    ev->kind_case = kind;
    switch (kind) {
    case REVOCA__EVENT__KIND_ISSUED:
        issued.not_before = 1700000000;
        issued.not_after = 1800000000;
        ev->issued = &issued;
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        revoked.revocation_time = 1700000000;
        ev->revoked = &revoked;
        break;
    case REVOCA__EVENT__KIND_HOLD:
        hold.hold_time = 1700000000;
        ev->hold = &hold;
        break;
    case REVOCA__EVENT__KIND_RELEASE:
        release.release_time = 1700000000;
        ev->release = &release;
        break;
    }
}

/* Packs EV and decodes it from a heap copy: 1 accepted, 0 refused. */
static int decodes(const Revoca__Event *ev, const char **why)
{
    size_t n = revoca__event__get_packed_size(ev);
    unsigned char *p = malloc(n ? n : 1);
    Revoca__Event *out;

    revoca__event__pack(ev, p);
    out = ocsp_event_decode(p, n, why);
    free(p);
    if (out == NULL) {
        CHECK(*why != NULL);
        return 0;
    }
    revoca__event__free_unpacked(out, NULL);
    return 1;
}

static int ok(const Revoca__Event *ev)
{
    const char *why = NULL;
    return decodes(ev, &why);
}

static void test_fields(void)
{
    Revoca__Event ev;
    char id[OCSP_EVENT_ID_MAX + 2], name[OCSP_ISSUER_NAME_MAX + 2];
    int k;

    for (k = REVOCA__EVENT__KIND_ISSUED; k <= REVOCA__EVENT__KIND_RELEASE;
         k++) {
        event_of(&ev, k);
        CHECK(ok(&ev));
    }
    event_of(&ev, REVOCA__EVENT__KIND__NOT_SET);
    CHECK(!ok(&ev)); /* an event of no kind */

    /* id: 1..64 octets */
    event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
    memset(id, 'i', sizeof(id));
    id[OCSP_EVENT_ID_MAX] = '\0';
    ev.id = id;
    CHECK(ok(&ev));
    id[OCSP_EVENT_ID_MAX] = 'i';
    id[OCSP_EVENT_ID_MAX + 1] = '\0';
    CHECK(!ok(&ev));
    ev.id = "";
    CHECK(!ok(&ev));

    /* issuer: [a-z0-9-]{1,32} */
    event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
    memset(name, 'a', sizeof(name));
    name[OCSP_ISSUER_NAME_MAX] = '\0';
    ev.issuer = name;
    CHECK(ok(&ev));
    name[OCSP_ISSUER_NAME_MAX] = 'a';
    name[OCSP_ISSUER_NAME_MAX + 1] = '\0';
    CHECK(!ok(&ev));
    ev.issuer = "";
    CHECK(!ok(&ev));
    ev.issuer = "Demo";
    CHECK(!ok(&ev));
    ev.issuer = "de_mo";
    CHECK(!ok(&ev));
    ev.issuer = "a-1";
    CHECK(ok(&ev));

    /* serial: canonical only (serial.h) */
    event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
    ev.serial = "01a2b";
    CHECK(!ok(&ev));
    ev.serial = "1A2B";
    CHECK(!ok(&ev));
    ev.serial = "0x1a2b";
    CHECK(!ok(&ev));
    ev.serial = "1a:2b";
    CHECK(!ok(&ev));
    ev.serial = "0";
    CHECK(!ok(&ev));
    ev.serial = "";
    CHECK(!ok(&ev));
    ev.serial = "7fffffffffffffffffffffffffffffffffffffff"; /* 20 octets */
    CHECK(ok(&ev));
    ev.serial = "17fffffffffffffffffffffffffffffffffffffff";
    CHECK(!ok(&ev));

    /* times: 0 .. 9999-12-31T23:59:59Z */
    event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
    ev.time = 0;
    CHECK(ok(&ev));
    ev.time = 253402300799LL;
    CHECK(ok(&ev));
    ev.time = 253402300800LL;
    CHECK(!ok(&ev));
    ev.time = -1;
    CHECK(!ok(&ev));
    ev.time = INT64_MIN;
    CHECK(!ok(&ev));
}

static void test_kinds(void)
{
    Revoca__Event ev;
    int r;

    /* issued: a validity period inside the time range, not inverted */
    event_of(&ev, REVOCA__EVENT__KIND_ISSUED);
    issued.not_after = issued.not_before;
    CHECK(ok(&ev));
    issued.not_after = issued.not_before - 1;
    CHECK(!ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_ISSUED);
    issued.not_before = -1;
    CHECK(!ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_ISSUED);
    issued.not_after = 253402300800LL;
    CHECK(!ok(&ev));

    /* revoked: RFC 5280 5.3.1 reasons, neither hold nor removeFromCRL */
    event_of(&ev, REVOCA__EVENT__KIND_REVOKED);
    revoked.revocation_time = -1;
    CHECK(!ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_REVOKED);
    revoked.has_reason = 1;
    for (r = -1; r <= 12; r++) {
        revoked.reason = (Revoca__Reason)r;
        CHECK(ok(&ev) == (r >= 0 && r <= 10 && r != 6 && r != 7 && r != 8));
    }
    revoked.reason = (Revoca__Reason)99;
    CHECK(!ok(&ev));
    revoked.has_reason = 0;
    revoked.reason = (Revoca__Reason)99; /* absent: not looked at */
    CHECK(ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_REVOKED);
    revoked.has_invalidity_date = 1;
    revoked.invalidity_date = 0;
    CHECK(ok(&ev));
    revoked.invalidity_date = -1;
    CHECK(!ok(&ev));
    revoked.has_invalidity_date = 0; /* absent: not looked at */
    CHECK(ok(&ev));

    /* hold and release */
    event_of(&ev, REVOCA__EVENT__KIND_HOLD);
    hold.hold_time = 253402300800LL;
    CHECK(!ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_HOLD);
    hold.has_invalidity_date = 1;
    hold.invalidity_date = -5;
    CHECK(!ok(&ev));
    event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
    release.release_time = -1;
    CHECK(!ok(&ev));
}

/* Checks what an accepted event promises. */
static void check_promises(const Revoca__Event *ev)
{
    CHECK(strlen(ev->id) >= 1 && strlen(ev->id) <= OCSP_EVENT_ID_MAX);
    CHECK(ev->time >= 0 && ev->kind_case != REVOCA__EVENT__KIND__NOT_SET);
    CHECK(ev->serial[0] != '\0' && ev->serial[0] != '0');
}

static void test_hostile(void)
{
    Revoca__Event ev;
    unsigned char buf[512] = {0}, *h;
    const char *why;
    size_t n, i;
    Revoca__Event *out;

    /* sizes out of bounds: not even unpacked */
    CHECK(ocsp_event_decode(buf, 0, &why) == NULL && why != NULL);
    h = calloc(1, OCSP_EVENT_MAX + 1);
    CHECK(ocsp_event_decode(h, OCSP_EVENT_MAX + 1, &why) == NULL);
    free(h);
    CHECK(ocsp_event_decode((const unsigned char *)"\xff\xff\xff", 3, &why) ==
          NULL);

    {
        /* an issuer "demo\0../x" must not be checked as "demo" */
        static char evil[] = "demo\0../x";
        unsigned char *q;

        event_of(&ev, REVOCA__EVENT__KIND_RELEASE);
        n = revoca__event__pack(&ev, buf);
        CHECK(ok(&ev));
        /* find the issuer field (2, length-delimited) and splice in the
         * NUL and the tail after "demo" */
        q = memchr(buf, 0x12, n);
        CHECK(q != NULL && q[1] == strlen(ev.issuer));
        if (q != NULL && q[1] == strlen(ev.issuer) && n + 16 < sizeof(buf)) {
            size_t at = (size_t)(q - buf), old = q[1], tail;
            unsigned char copy[512];

            tail = n - at - 2 - old;
            memcpy(copy, q + 2 + old, tail);
            q[1] = (unsigned char)(sizeof(evil) - 1);
            memcpy(q + 2, evil, sizeof(evil) - 1);
            memcpy(q + 2 + sizeof(evil) - 1, copy, tail);
            n = at + 2 + sizeof(evil) - 1 + tail;
            why = NULL;
            CHECK(ocsp_event_decode(buf, n, &why) == NULL && why != NULL);
        }
    }

    event_of(&ev, REVOCA__EVENT__KIND_REVOKED);
    revoked.has_reason = 1;
    revoked.reason = REVOCA__REASON__KEY_COMPROMISE;
    n = revoca__event__pack(&ev, buf);
    /* every cut: a missing required field or a cut field, refused */
    for (i = 0; i < n; i++) {
        h = malloc(i ? i : 1);
        memcpy(h, buf, i);
        why = NULL;
        out = ocsp_event_decode(h, i, &why);
        CHECK(out == NULL && why != NULL);
        free(h);
    }
    /* every bit flipped: refused, or valid by every rule */
    for (i = 0; i < n * 8; i++) {
        h = malloc(n);
        memcpy(h, buf, n);
        h[i / 8] ^= (unsigned char)(1u << (i % 8));
        out = ocsp_event_decode(h, n, &why);
        if (out != NULL) {
            check_promises(out);
            revoca__event__free_unpacked(out, NULL);
        }
        free(h);
    }
    /* a required field given twice: the last one counts, and is checked */
    {
        unsigned char two[600];
        static const unsigned char bad_serial[] = {0x1a, 0x02, '0', '1'};
        memcpy(two, buf, n);
        memcpy(two + n, bad_serial, sizeof(bad_serial));
        CHECK(ocsp_event_decode(two, n + sizeof(bad_serial), &why) == NULL);
    }
}

/* Origin (who sent an event): each bound on both sides, and the control
 * characters that would let a sender forge log lines refused. */
static void test_origin(void)
{
    Revoca__Event ev;
    Revoca__Origin o;
    char big[OCSP_ORIGIN_SOURCE_MAX + 2];

    event_of(&ev, REVOCA__EVENT__KIND_ISSUED);
    revoca__origin__init(&o);
    ev.origin = &o;
    o.via = "cli";
    CHECK(ok(&ev));
    o.principal = "ca@host \xc3\xa9";
    o.source = "/var/lib/ca/index.txt";
    CHECK(ok(&ev));
    o.via = "";
    CHECK(!ok(&ev));
    o.via = "CLI";
    CHECK(!ok(&ev));
    o.via = "import index";
    CHECK(!ok(&ev));
    o.via = "abcdefghijklmnopqrstuvwxyzabcdef"; /* 32 */
    CHECK(ok(&ev));
    o.via = "abcdefghijklmnopqrstuvwxyzabcdefg"; /* 33 */
    CHECK(!ok(&ev));
    o.via = "ingest";
    o.principal = "CN=a\nlevel=crit forged";
    CHECK(!ok(&ev));
    o.principal = "x\x7f";
    CHECK(!ok(&ev));
    o.principal = NULL;
    memset(big, 'a', sizeof(big));
    big[OCSP_ORIGIN_SOURCE_MAX] = '\0';
    o.source = big;
    CHECK(ok(&ev));
    big[OCSP_ORIGIN_SOURCE_MAX] = 'a';
    big[OCSP_ORIGIN_SOURCE_MAX + 1] = '\0';
    CHECK(!ok(&ev));
}

int main(void)
{
    test_fields();
    test_origin();
    test_kinds();
    test_hostile();
    CHECK_DONE();
}
