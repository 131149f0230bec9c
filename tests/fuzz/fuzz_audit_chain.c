/*
 * libFuzzer target for the audit chain store's readers (audit_chain.c): a
 * checkpoint's canonical bytes, a chain record "PREV_ID LINK_HEX" and the
 * head "COUNT LAST_ID LINK_HEX", all read back from Redis by revoca-audit
 * and `revoca audit verify`.  Whatever is accepted encodes back to the
 * input: only one form of each is readable.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit_chain.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    ocsp_audit_checkpoint_t cp;
    char back[OCSP_AUDIT_CHECKPOINT_MAX + OCSP_AUDIT_HEAD_MAX + 2];
    char id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    uint64_t count;
    int n;

    if (ocsp_audit_checkpoint_decode(s, size, &cp) == 0) {
        n = ocsp_audit_checkpoint_encode(&cp, back, sizeof(back));
        if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0) {
            __builtin_trap();
        }
    }
    if (ocsp_audit_rec_decode(s, size, id, link) == 0) {
        n = ocsp_audit_rec_encode(id, link, back);
        if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0) {
            __builtin_trap();
        }
    }
    if (ocsp_audit_head_decode(s, size, &count, id, link) == 0) {
        n = ocsp_audit_head_encode(count, id, link, back);
        if (n < 0 || (size_t)n != size || memcmp(back, data, size) != 0) {
            __builtin_trap();
        }
    }
    return 0;
}
