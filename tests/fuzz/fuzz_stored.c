/*
 * libFuzzer target for the stored responses of a certificate (stored.h),
 * the value of P:ocsp:ISSUER:SERIAL that the nginx module and the CLI read
 * from Redis, through ocsp_stored_decode() and ocsp_stored_full(), the one
 * reader.  A value it accepts encodes back to the same bytes; a response
 * it rebuilds fits the room asked for, holds the responder certificate
 * exactly once where it goes, and is never taken as a stored response
 * again; for the CA signing itself it is the stored bytes unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "der_read.h"
#include "stored.h"

/* A certificate stand-in: a SEQUENCE of 300 octets of contents. */
static unsigned char cert[304];

static void rebuild(const ocsp_issuer_t *iss, const unsigned char *resp,
                    size_t len)
{
    size_t cap = OCSP_STORED_FULL_MAX(iss, len), n;
    unsigned char *out = malloc(cap);
    const char *why = NULL;

    if (out == NULL) {
        return;
    }
    n = ocsp_stored_full(iss, resp, len, out, cap, &why);
    if (n == 0) {
        if (why == NULL) {
            __builtin_trap();
        }
    } else if (n > cap) {
        __builtin_trap();
    } else if (iss->responder_der == NULL) {
        if (n != len || memcmp(out, resp, len) != 0) {
            __builtin_trap();
        }
    } else {
        /* the certificate, last, inside [0] { SEQUENCE { ... } } */
        if (n <= len + sizeof(cert) ||
            memcmp(out + n - sizeof(cert), cert, sizeof(cert)) != 0 ||
            der_read_size(out, n) != n ||
            ocsp_stored_full(iss, out, n, out, n, &why) != 0) {
            __builtin_trap();
        }
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocsp_issuer_t delegated, ca;
    ocsp_stored_t st;
    const char *why = NULL;
    unsigned char *again;

    if (ocsp_stored_decode(data, size, &st, &why) != 0) {
        if (why == NULL) {
            __builtin_trap();
        }
        return 0;
    }
    again = malloc(size);
    if (again == NULL) {
        return 0;
    }
    if (ocsp_stored_encode(&st, again, size) != size ||
        memcmp(again, data, size) != 0 || st.this_update >= st.next_update) {
        __builtin_trap();
    }
    free(again);

    cert[0] = 0x30;
    cert[1] = 0x82;
    cert[2] = 0x01;
    cert[3] = 0x2c;
    memset(cert + 4, 0xc5, sizeof(cert) - 4);
    memset(&delegated, 0, sizeof(delegated));
    memset(delegated.responder_key_id, 0x11, 20);
    ca = delegated;
    delegated.responder_der = cert;
    delegated.responder_der_len = sizeof(cert);
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        rebuild(&delegated, st.resp[h], st.resp_len[h]);
        rebuild(&ca, st.resp[h], st.resp_len[h]);
    }
    return 0;
}
