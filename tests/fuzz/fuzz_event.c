/*
 * libFuzzer target for the stream event decoder (event.h): bytes read from
 * the Redis stream.  An accepted event keeps every promise of
 * ocsp_event_decode() and applies to a record without breaking it.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "event.h"
#include "record.h"
#include "serial.h"

static int time_ok(int64_t t)
{
    return t >= 0 && t <= 253402300799LL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    Revoca__Event *ev = ocsp_event_decode(data, size, &why);
    char canon[OCSP_SERIAL_HEX_MAX + 1], serial[OCSP_SERIAL_HEX_MAX + 1];
    ocsp_record_t r;
    size_t idlen;

    if (ev == NULL) {
        if (why == NULL) {
            __builtin_trap();
        }
        return 0;
    }
    idlen = strlen(ev->id);
    if (idlen == 0 || idlen > OCSP_EVENT_ID_MAX ||
        !ocsp_issuer_name_valid(ev->issuer) ||
        ocsp_serial_from_hex(ev->serial, canon) != 0 ||
        strcmp(canon, ev->serial) != 0 || !time_ok(ev->time)) {
        __builtin_trap();
    }
    if (ev->kind_case == REVOCA__EVENT__KIND_REVOKED &&
        ev->revoked->has_reason && !ocsp_reason_valid(ev->revoked->reason)) {
        __builtin_trap();
    }
    /* a valid event on a fresh record gives a record readers accept */
    memcpy(serial, ev->serial, strlen(ev->serial) + 1);
    ocsp_record_init(&r, serial);
    if (ocsp_record_apply(&r, ev) < 0 || !ocsp_record_valid(&r)) {
        __builtin_trap();
    }
    /* and applying it again changes nothing */
    if (ocsp_record_apply(&r, ev) != 0) {
        __builtin_trap();
    }
    revoca__event__free_unpacked(ev, NULL);
    return 0;
}
