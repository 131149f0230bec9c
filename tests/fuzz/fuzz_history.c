/*
 * libFuzzer target for the history entry decoder (history.h): bytes read
 * from a Redis list P:history:ISSUER:SERIAL.  An accepted entry keeps
 * every promise of ocsp_history_decode(), packs back to as many bytes (the
 * order of fields may differ: protobuf-c writes them by number) and those
 * decode again.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "event.h"
#include "history.h"

static int time_ok(int64_t t)
{
    return t >= 0 && t <= OCSP_TIME_MAX;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *why = NULL;
    Revoca__HistoryEntry *h = ocsp_history_decode(data, size, &why);
    unsigned char back[OCSP_HISTORY_ENTRY_MAX];
    size_t n;

    if (h == NULL) {
        if (why == NULL) {
            __builtin_trap();
        }
        return 0;
    }
    if (!ocsp_stream_id_valid(h->stream_id) || strlen(h->event_id) == 0 ||
        strlen(h->event_id) > OCSP_EVENT_ID_MAX || !time_ok(h->reported) ||
        !time_ok(h->at) || strcmp(ocsp_history_kind_name(h->kind), "?") == 0 ||
        (h->has_reason && !ocsp_revocation_reason_valid((int)h->reason)) ||
        (h->origin != NULL && ocsp_origin_check(h->origin) != NULL)) {
        __builtin_trap();
    }
    n = revoca__history_entry__get_packed_size(h);
    if (n != size || n > sizeof(back) ||
        revoca__history_entry__pack(h, back) != n) {
        __builtin_trap();
    }
    ocsp_history_free(h);
    h = ocsp_history_decode(back, n, &why);
    if (h == NULL) {
        __builtin_trap();
    }
    ocsp_history_free(h);
    return 0;
}
