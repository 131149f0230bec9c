/*
 * libFuzzer target for the revoked log (revlog.h), a Redis string the CRL
 * generator reads: a header, then records replayed until one is cut or
 * invalid.  Every record read lies inside the input, has bounded lengths,
 * and encodes back to exactly the bytes it was read from.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "record.h"
#include "revlog.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    unsigned char out[OCSP_REVLOG_REC_MAX];
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    ocsp_revlog_rec_t rec;
    uint64_t gen;
    int origin;
    size_t off = 0;

    if (ocsp_revlog_header_read(data, size, &origin, &gen) == 0) {
        if (origin != OCSP_REVLOG_STARTED && origin != OCSP_REVLOG_REBUILT) {
            __builtin_trap();
        }
        off = OCSP_REVLOG_HEADER;
    }
    while (off < size) {
        long n = ocsp_revlog_next(data + off, size - off, &rec);
        if (n <= 0) {
            break;
        }
        if ((size_t)n > size - off || rec.serial_len == 0 ||
            rec.serial_len > OCSP_SERIAL_HEX_MAX ||
            rec.value_len > OCSP_RECORD_MAX ||
            rec.deleted != (rec.value == NULL) ||
            (const uint8_t *)rec.serial != data + off + 4) {
            __builtin_trap();
        }
        /* the writer gives back the very bytes read */
        memcpy(serial, rec.serial, rec.serial_len);
        serial[rec.serial_len] = '\0';
        if (memchr(rec.serial, '\0', rec.serial_len) == NULL &&
            (ocsp_revlog_record(out, serial, rec.value, rec.value_len) !=
                 (size_t)n ||
             memcmp(out, data + off, (size_t)n) != 0)) {
            __builtin_trap();
        }
        /* as crlgen reads a value: the record of that serial */
        if (rec.value != NULL) {
            const char *why;
            ocsp_record_free(ocsp_record_decode(rec.value, rec.value_len,
                                                serial, NULL, &why),
                             NULL);
        }
        off += (size_t)n;
    }
    return 0;
}
