/*
 * libFuzzer target for the reader of "ISSUER:SERIAL" (keys.c,
 * ocsp_cert_ref_parse()): an invalidation message's payload as the nginx
 * module receives it from Redis pub/sub, and a purge job's as the signer's
 * purger reads it.  Whatever is accepted is a valid issuer name and a
 * canonical serial, and writing them back gives the input again.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "config.h"
#include "keys.h"
#include "serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char issuer[OCSP_ISSUER_NAME_MAX + 1], serial[OCSP_SERIAL_HEX_MAX + 1];
    char back[OCSP_KEY_MAX];
    int n;

    if (ocsp_cert_ref_parse((const char *)data, size, issuer, serial) != 0) {
        return 0;
    }
    n = ocsp_cert_ref(back, issuer, serial);
    if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0) {
        __builtin_trap();
    }
    return 0;
}
