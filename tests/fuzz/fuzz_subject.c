/*
 * libFuzzer target for the subject the signer takes from an issue event's
 * certificate (record.c, ocsp_subject_from_der()): DER from the stream,
 * from whoever could write an event.  Whatever is accepted is a subject a
 * record may hold (ocsp_subject_valid()), of at most OCSP_SUBJECT_MAX
 * bytes; the serial is the certificate's own (read here), so that the
 * fuzzer reaches the printing and cutting.
 */
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "record.h"
#include "serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char serial[OCSP_SERIAL_HEX_MAX + 1] = "1", out[OCSP_SUBJECT_MAX + 1];
    const unsigned char *p = data;
    X509 *x = d2i_X509(NULL, &p, (long)size);

    if (x != NULL) {
        if (ocsp_serial_from_asn1(X509_get0_serialNumber(x), serial) != 0) {
            strcpy(serial, "1");
        }
        X509_free(x);
    }
    memset(out, 0x55, sizeof(out));
    if (ocsp_subject_from_der(data, size, serial, NULL, out) == 0 &&
        (!ocsp_subject_valid(out) || strlen(out) > OCSP_SUBJECT_MAX)) {
        __builtin_trap();
    }
    return 0;
}
