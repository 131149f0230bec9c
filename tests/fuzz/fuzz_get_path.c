/*
 * libFuzzer target for the GET path decoder (get_path.c): the text after
 * the responder's prefix, as a client or a proxy sent it.  Whatever is
 * accepted must be one DER SEQUENCE inside the caller's buffer, of the
 * length its header says, within the limits.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "der_read.h"
#include "get_path.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const ocsp_limits_t lim = {4096, 1};
    unsigned char *buf;
    size_t bufsize;
    ocsp_request_t req;
    ocsp_get_path_t out;

    if (size > 2 * lim.max_size + 64) {
        return 0;
    }
    bufsize = OCSP_GET_PATH_BUF(size);
    buf = malloc(bufsize);
    if (buf == NULL) {
        return 0;
    }
    if (ocsp_get_path_decode((const char *)data, size, &lim, buf, bufsize, &req,
                             &out) == 0) {
        if (out.der < buf || out.der + out.der_len > buf + bufsize ||
            out.der_len < 2 || out.der[0] != 0x30 ||
            der_read_size(out.der, out.der_len) != out.der_len ||
            out.repair > OCSP_GET_PATH_ATTEMPTS) {
            __builtin_trap();
        }
        if (out.status == OCSP_ST_SUCCESSFUL &&
            (out.der_len > lim.max_size || req.nsingles != 1)) {
            __builtin_trap();
        }
        if (out.status != OCSP_ST_SUCCESSFUL && out.err == NULL) {
            __builtin_trap();
        }
    } else if (out.err == NULL) {
        __builtin_trap();
    }
    free(buf);
    return 0;
}
