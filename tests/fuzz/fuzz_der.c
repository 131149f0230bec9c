/*
 * libFuzzer target for the strict DER reader (der_read.h), differential
 * against the writer (der.h): whatever der_read_strict() accepts is written
 * again TLV by TLV with der.h and must come out as the very same bytes (DER
 * has one encoding per value), and every TLV read agrees with
 * der_read_size().
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "der.h"
#include "der_read.h"

/* Re-writes the TLVs filling P[0..LEN) into B: 0, or -1 if one is refused. */
static int rewrite(der_buf_t *b, const unsigned char *p, size_t len,
                   unsigned depth)
{
    size_t off = 0, at;
    der_tlv_t t;

    while (off < len) {
        at = off;
        if (der_read_tlv(p, len, &off, &t) != 0) {
            return -1;
        }
        if (der_read_size(p + at, len - at) != off - at) {
            __builtin_trap();
        }
        if ((t.tag & 0x20) && depth < DER_READ_DEPTH_MAX + 1) {
            size_t mark = der_begin(b, t.tag);
            if (rewrite(b, t.v, t.len, depth + 1) != 0) {
                return -1;
            }
            der_end(b, mark);
        } else {
            der_tlv(b, t.tag, t.v, t.len);
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    der_buf_t b;
    int strict = der_read_strict(data, size);

    if (der_init(&b, size + 16) != 0) {
        return 0;
    }
    if (rewrite(&b, data, size, 0) == 0) {
        /* minimal lengths everywhere: the writer gives back the input */
        if (b.err || b.len != size || memcmp(b.p, data, size) != 0) {
            __builtin_trap();
        }
    } else if (strict == 0) {
        __builtin_trap(); /* the walk accepted what a TLV read refuses */
    }
    der_free(&b);
    return 0;
}
