/*
 * libFuzzer target for the OCSP request decoder, the first code that sees
 * untrusted bytes (tests/fuzz/CMakeLists.txt).  What it accepts must be
 * DER and within the bounds promised, and its reading of plain requests
 * from the bytes alone must agree with OpenSSL's schema
 * (ocsp_request_decode_schema()) on every input.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "der_read.h"
#include "request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ocsp_limits_t lim = {10240, 4};
    ocsp_request_t req, ref;
    ocsp_resp_status_e st = ocsp_request_decode(data, size, &lim, &req);
    size_t i;

    if (ocsp_request_decode_schema(data, size, &lim, &ref) != st ||
        ref.err != req.err) {
        __builtin_trap();
    }
    if (st == OCSP_ST_SUCCESSFUL &&
        (ref.nsingles != req.nsingles || ref.nonce_len != req.nonce_len ||
         memcmp(ref.nonce, req.nonce, req.nonce_len) != 0 ||
         memcmp(ref.singles, req.singles,
                req.nsingles * sizeof(req.singles[0])) != 0)) {
        __builtin_trap(); /* both memset the struct first: no padding noise */
    }

    if (st != OCSP_ST_SUCCESSFUL) {
        if (req.err == NULL) {
            __builtin_trap(); /* every refusal says why */
        }
        return 0;
    }
    if (size > lim.max_size || der_read_strict(data, size) != 0) {
        __builtin_trap();
    }
    if (req.nsingles == 0 || req.nsingles > 4 ||
        req.nonce_len > OCSP_NONCE_MAX) {
        __builtin_trap();
    }
    for (i = 0; i < req.nsingles; i++) {
        if (req.singles[i].serial[0] == '\0' ||
            req.singles[i].serial[0] == '0') {
            __builtin_trap();
        }
    }
    return 0;
}
