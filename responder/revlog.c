#include "revlog.h"

#include <string.h>

#include <openssl/rand.h>

#include "rconn.h"

const unsigned char ocsp_revlog_magic[OCSP_REVLOG_MAGIC_LEN] = {
    'R', 'V', 'L', 'O', 'G', 1, 0};

void ocsp_revlog_header(unsigned char *out, int origin)
{
    unsigned char gen[8];

    memcpy(out, ocsp_revlog_magic, OCSP_REVLOG_MAGIC_LEN);
    out[OCSP_REVLOG_ORIGIN_AT] = (unsigned char)origin;
    if (RAND_bytes(gen, sizeof(gen)) != 1) {
        /* it only tells rebuilds apart: the clock will do */
        uint64_t t = (uint64_t)ocsp_now_ms();
        for (int i = 0; i < 8; i++) {
            gen[i] = (unsigned char)(t >> (56 - 8 * i));
        }
    }
    memcpy(out + OCSP_REVLOG_GEN_AT, gen, sizeof(gen));
}

int ocsp_revlog_header_read(const unsigned char *in, size_t len, int *origin,
                            uint64_t *gen)
{
    if (len < OCSP_REVLOG_HEADER ||
        memcmp(in, ocsp_revlog_magic, OCSP_REVLOG_MAGIC_LEN) != 0 ||
        (in[OCSP_REVLOG_ORIGIN_AT] != OCSP_REVLOG_STARTED &&
         in[OCSP_REVLOG_ORIGIN_AT] != OCSP_REVLOG_REBUILT)) {
        return -1;
    }
    if (origin != NULL) {
        *origin = in[OCSP_REVLOG_ORIGIN_AT];
    }
    *gen = 0;
    for (int i = 0; i < 8; i++) {
        *gen = *gen << 8 | in[OCSP_REVLOG_GEN_AT + i];
    }
    return 0;
}

size_t ocsp_revlog_record(unsigned char *out, const char *serial,
                          const unsigned char *value, size_t value_len)
{
    size_t slen = strlen(serial);

    if (slen == 0 || slen > OCSP_SERIAL_HEX_MAX ||
        (value != NULL && (value_len == 0 || value_len > OCSP_RECORD_MAX))) {
        return 0;
    }
    if (value == NULL) {
        value_len = 0;
    }
    out[0] = value != NULL ? 'A' : 'D';
    out[1] = (unsigned char)slen;
    out[2] = (unsigned char)(value_len >> 8);
    out[3] = (unsigned char)value_len;
    memcpy(out + 4, serial, slen);
    if (value_len > 0) {
        memcpy(out + 4 + slen, value, value_len);
    }
    return 4 + slen + value_len;
}

long ocsp_revlog_next(const unsigned char *in, size_t len, ocsp_revlog_rec_t *r)
{
    size_t slen, vlen;

    if (len < 4) {
        return 0;
    }
    slen = in[1];
    vlen = (size_t)in[2] << 8 | in[3];
    if ((in[0] != 'A' && in[0] != 'D') || slen == 0 ||
        slen > OCSP_SERIAL_HEX_MAX || vlen > OCSP_RECORD_MAX ||
        (in[0] == 'A') != (vlen > 0)) {
        return -1;
    }
    if (len < 4 + slen + vlen) {
        return 0;
    }
    r->deleted = in[0] == 'D';
    r->serial = (const char *)in + 4;
    r->serial_len = slen;
    r->value = vlen > 0 ? in + 4 + slen : NULL;
    r->value_len = vlen;
    return (long)(4 + slen + vlen);
}
