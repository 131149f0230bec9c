/*
 * libFuzzer target for the JSON ingest parser (ingest.h): bodies a CA's
 * client sends over HTTP.  A refusal always has a reason; every accepted
 * event passes ocsp_event_check() and, packed, ocsp_event_decode() accepts
 * it back, as the signer will read it from the stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "event.h"
#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct ocsp_ingest_batch b;
    struct ocsp_ingest_error err;
    const char *why;

    if (ocsp_ingest_parse_json((const char *)data, size, 1700000000, &b,
                               &err) != 0) {
        if (err.reason[0] == '\0' || b.n != 0 || b.ev != NULL)
            __builtin_trap();
        return 0;
    }
    if (b.n == 0 || b.n > OCSP_INGEST_BATCH_MAX)
        __builtin_trap();
    for (size_t i = 0; i < b.n; i++) {
        if (ocsp_event_check(b.ev[i]) != NULL || b.ev[i]->origin != NULL)
            __builtin_trap();
        size_t n = revoca__event__get_packed_size(b.ev[i]);
        unsigned char *p = malloc(n ? n : 1);
        if (p == NULL)
            abort();
        n = revoca__event__pack(b.ev[i], p);
        Revoca__Event *back = ocsp_event_decode(p, n, &why);
        if (back == NULL)
            __builtin_trap();
        revoca__event__free_unpacked(back, NULL);
        free(p);
    }
    ocsp_ingest_batch_free(&b);
    return 0;
}
