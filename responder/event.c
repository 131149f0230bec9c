#include "event.h"

#include <openssl/rand.h>
#include <string.h>

#include "config.h"
#include "serial.h"

static const struct {
    const char *name;
    int value;
} reasons[] = {
    {"unspecified", 0},        {"keyCompromise", 1},
    {"cACompromise", 2},       {"affiliationChanged", 3},
    {"superseded", 4},         {"cessationOfOperation", 5},
    {"certificateHold", 6},    {"removeFromCRL", 8},
    {"privilegeWithdrawn", 9}, {"aACompromise", 10},
};

int ocsp_reason_from_name(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (strcasecmp(reasons[i].name, name) == 0) {
            return reasons[i].value;
        }
    }
    return -1;
}

const char *ocsp_reason_name(int reason)
{
    size_t i;

    for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++) {
        if (reasons[i].value == reason) {
            return reasons[i].name;
        }
    }
    return "unspecified";
}

static int time_ok(int64_t t)
{
    return t >= 0 && t <= OCSP_TIME_MAX;
}

int ocsp_reason_valid(int reason)
{
    return reason >= 0 && reason <= 10 && reason != 7;
}

int ocsp_revocation_reason_valid(int reason)
{
    return ocsp_reason_valid(reason) &&
           reason != REVOCA__REASON__CERTIFICATE_HOLD &&
           reason != REVOCA__REASON__REMOVE_FROM_CRL;
}

int ocsp_origin_text_valid(const char *s, size_t max)
{
    size_t i;

    for (i = 0; s[i] != '\0'; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i >= max || c < 0x20 || c == 0x7f) {
            return 0;
        }
    }
    return 1;
}

const char *ocsp_origin_check(const Revoca__Origin *o)
{
    size_t n = strlen(o->via);

    if (n == 0 || n > OCSP_ORIGIN_VIA_MAX ||
        strspn(o->via, "abcdefghijklmnopqrstuvwxyz-") != n) {
        return "bad origin (via)";
    }
    if ((o->principal != NULL &&
         !ocsp_origin_text_valid(o->principal, OCSP_ORIGIN_PRINCIPAL_MAX)) ||
        (o->source != NULL &&
         !ocsp_origin_text_valid(o->source, OCSP_ORIGIN_SOURCE_MAX))) {
        return "bad origin (principal or source)";
    }
    return NULL;
}

const char *ocsp_event_check(const Revoca__Event *ev)
{
    char canon[OCSP_SERIAL_HEX_MAX + 1];
    size_t idlen = strlen(ev->id);

    if (idlen == 0 || idlen > OCSP_EVENT_ID_MAX) {
        return "bad event id";
    }
    if (!ocsp_issuer_name_valid(ev->issuer)) {
        return "bad issuer name";
    }
    if (ocsp_serial_from_hex(ev->serial, canon) != 0 ||
        strcmp(canon, ev->serial) != 0) {
        return "serial not canonical";
    }
    if (!time_ok(ev->time)) {
        return "bad event time";
    }
    if (ev->origin != NULL) {
        const char *why = ocsp_origin_check(ev->origin);
        if (why != NULL) {
            return why;
        }
    }
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        if (!time_ok(ev->issued->not_before) ||
            !time_ok(ev->issued->not_after) ||
            ev->issued->not_after < ev->issued->not_before) {
            return "bad validity period";
        }
        return NULL;
    case REVOCA__EVENT__KIND_REVOKED:
        if (!time_ok(ev->revoked->revocation_time) ||
            (ev->revoked->has_invalidity_date &&
             !time_ok(ev->revoked->invalidity_date)) ||
            (ev->revoked->has_reason &&
             !ocsp_revocation_reason_valid((int)ev->revoked->reason))) {
            return "bad revocation";
        }
        return NULL;
    case REVOCA__EVENT__KIND_HOLD:
        if (!time_ok(ev->hold->hold_time) ||
            (ev->hold->has_invalidity_date &&
             !time_ok(ev->hold->invalidity_date))) {
            return "bad hold";
        }
        return NULL;
    case REVOCA__EVENT__KIND_RELEASE:
        if (!time_ok(ev->release->release_time)) {
            return "bad release";
        }
        return NULL;
    default:
        return "event of no kind";
    }
}

Revoca__Event *ocsp_event_decode(const unsigned char *p, size_t len,
                                 const char **why)
{
    Revoca__Event *ev;

    if (len == 0 || len > OCSP_EVENT_MAX) {
        *why = "event size out of bounds";
        return NULL;
    }
    ev = revoca__event__unpack(NULL, len, p);
    if (ev == NULL) {
        *why = "not a protobuf Event";
        return NULL;
    }
    /* A string with a NUL inside would be validated only up to it (an
     * issuer "demo\0../x" checked as "demo"): the event must pack back to
     * as many bytes as it came in, which also refuses repeated fields. */
    if (revoca__event__get_packed_size(ev) != len) {
        *why = "not a canonical Event (a NUL in a string, a repeated field)";
    } else {
        *why = ocsp_event_check(ev);
    }
    if (*why != NULL) {
        revoca__event__free_unpacked(ev, NULL);
        return NULL;
    }
    return ev;
}

int ocsp_event_new_id(char *out)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char r[16];
    size_t i;

    if (RAND_bytes(r, sizeof(r)) != 1) {
        return -1;
    }
    for (i = 0; i < sizeof(r); i++) {
        out[2 * i] = hex[r[i] >> 4];
        out[2 * i + 1] = hex[r[i] & 0xf];
    }
    out[2 * sizeof(r)] = '\0';
    return 0;
}
