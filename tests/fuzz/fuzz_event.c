/*
 * libFuzzer target for the stream event decoder (event.h): bytes read from
 * the Redis stream.  An accepted event keeps every promise of
 * ocsp_event_decode(), and applied to a fresh record gives one that
 * ocsp_record_decode() accepts back and that reflects the event.
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
    if (ocsp_record_apply(&r, ev) < 0 || !ocsp_record_reflects(&r, ev)) {
        __builtin_trap();
    }
    {
        unsigned char packed[OCSP_RECORD_MAX];
        size_t n = revoca__cert_record__get_packed_size(&r);
        ocsp_record_t *back;
        if (n > sizeof(packed)) {
            __builtin_trap(); /* OCSP_RECORD_MAX bounds every record */
        }
        n = revoca__cert_record__pack(&r, packed);
        back = ocsp_record_decode(packed, n, serial, NULL, &why);
        if (back == NULL) {
            __builtin_trap();
        }
        ocsp_record_free(back, NULL);
    }
    /* and applying it again changes nothing */
    if (ocsp_record_apply(&r, ev) != 0) {
        __builtin_trap();
    }
    revoca__event__free_unpacked(ev, NULL);
    return 0;
}
