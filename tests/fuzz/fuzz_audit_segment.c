/*
 * libFuzzer target for the archive segment reader (audit_segment.c): the
 * files `revoca audit verify`, revoca-audit's resume and `revoca rebuild`
 * read from the archive directory.  Whatever reads whole is rebuilt by the
 * writer byte for byte (one form only).
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "audit_segment.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocsp_audit_seg_t s;
    ocsp_audit_seg_rec_t rec;
    ocsp_audit_segw_t w;
    int rc, wok;

    if (ocsp_audit_seg_open_mem(&s, data, size) != 0) {
        return 0;
    }
    wok = ocsp_audit_segw_begin(&w, s.first_count, s.prev_id, s.prev_link,
                                OCSP_AUDIT_SEG_MAX) == 0;
    while ((rc = ocsp_audit_seg_next(&s, &rec)) == 1) {
        if (wok && ocsp_audit_segw_add(&w, rec.id, rec.idlen, rec.field,
                                       rec.flen) != 0) {
            __builtin_trap();
        }
    }
    if (rc == 0 && wok) {
        if (ocsp_audit_segw_finish(&w, (const char *)s.cp_text, s.cp_len, s.sig,
                                   s.sig_len) != 0 ||
            w.len != size || memcmp(w.buf, data, size) != 0) {
            __builtin_trap();
        }
    }
    if (wok) {
        ocsp_audit_segw_free(&w);
    }
    ocsp_audit_seg_close(&s);
    return 0;
}
