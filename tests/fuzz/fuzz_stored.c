/*
 * libFuzzer target for the stored responses of a certificate (stored.h),
 * the value of P:ocsp:ISSUER:SERIAL that the nginx module and the CLI read
 * from Redis, through ocsp_stored_decode() and ocsp_stored_full(), the one
 * reader.  A value it accepts encodes back to the same bytes; a response
 * it rebuilds holds the responder certificate exactly once, at the end, is
 * one DER TLV, and is never taken as a stored response again; for the CA
 * signing itself the SHA-1 one is the stored bytes unchanged.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "der_read.h"
#include "stored.h"

/* A certificate stand-in: a SEQUENCE of 300 octets of contents. */
static unsigned char cert[304];

/* The issuer of the seeds (make_corpus.py): made-up hashes. */
static ocsp_issuer_t issuer(int delegated)
{
    ocsp_issuer_t iss;

    memset(&iss, 0, sizeof(iss));
    memset(iss.responder_key_id, 0x11, 20);
    memset(iss.name_hash[OCSP_HASH_SHA1], 0x21, 20);
    memset(iss.key_hash[OCSP_HASH_SHA1], 0x22, 20);
    memset(iss.name_hash[OCSP_HASH_SHA256], 0x31, 32);
    memset(iss.key_hash[OCSP_HASH_SHA256], 0x32, 32);
    if (delegated) {
        cert[0] = 0x30;
        cert[1] = 0x82;
        cert[2] = 0x01;
        cert[3] = 0x2c;
        memset(cert + 4, 0xc5, sizeof(cert) - 4);
        iss.responder_der = cert;
        iss.responder_der_len = sizeof(cert);
    }
    return iss;
}

static void rebuild(const ocsp_issuer_t *iss, const ocsp_stored_t *st,
                    ocsp_hash_e hash)
{
    unsigned char *out = NULL;
    size_t n = 0;
    const char *why = NULL;
    ocsp_stored_t again;

    if (ocsp_stored_full(iss, st, hash, &out, &n, &why) != 0) {
        if (why == NULL || out != NULL) {
            __builtin_trap();
        }
        return;
    }
    if (der_read_size(out, n) != n) {
        __builtin_trap();
    }
    if (iss->responder_der == NULL) {
        if (hash == OCSP_HASH_SHA1 &&
            (n != st->resp_len || memcmp(out, st->resp, n) != 0)) {
            __builtin_trap();
        }
    } else {
        if (n <= st->resp_len + sizeof(cert) - 40 ||
            memcmp(out + n - sizeof(cert), cert, sizeof(cert)) != 0) {
            __builtin_trap();
        }
        /* a response with certs is never a stored one */
        again = *st;
        again.resp = out;
        again.resp_len = n;
        if (ocsp_stored_full(iss, &again, OCSP_HASH_SHA1, &out, &n, &why) ==
            0) {
            __builtin_trap();
        }
        out = (unsigned char *)again.resp;
    }
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocsp_issuer_t delegated = issuer(1), ca = issuer(0);
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
    for (int h = 0; h < OCSP_HASH_COUNT; h++) {
        rebuild(&delegated, &st, (ocsp_hash_e)h);
        rebuild(&ca, &st, (ocsp_hash_e)h);
    }
    return 0;
}
