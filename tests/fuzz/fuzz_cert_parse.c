/*
 * libFuzzer target for the certificate a client sends in an ingest body
 * (issued.h): PEM, base64 DER or DER.  A certificate parsed is re-encoded
 * to exactly the DER ocsp_issued_from_cert() reports, with a canonical
 * serial, or refused with a reason.
 */
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "issued.h"
#include "serial.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    Revoca__Issued is = REVOCA__ISSUED__INIT;
    const char *why = NULL;
    unsigned char *der = NULL;
    X509 *x = ocsp_cert_parse(data, size);
    int n;

    if (x == NULL)
        return 0;
    if (ocsp_issued_from_cert(x, serial, &is, &why) != 0) {
        if (why == NULL || is.cert_der.data != NULL)
            __builtin_trap();
        X509_free(x);
        return 0;
    }
    n = i2d_X509(x, &der);
    if (n <= 0 || (size_t)n != is.cert_der.len ||
        memcmp(der, is.cert_der.data, is.cert_der.len) != 0 ||
        strlen(serial) == 0 || strlen(serial) > OCSP_SERIAL_HEX_MAX)
        __builtin_trap();
    OPENSSL_free(der);
    free(is.cert_der.data);
    X509_free(x);
    return 0;
}
