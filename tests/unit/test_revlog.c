/* The revoked log's codec (revlog.h): round trips, and hostile bytes from
 * Redis refused or reported as cut, never read past. */
#include <stdlib.h>

#include "check.h"
#include "revlog.h"

/* Parses LEN bytes copied to the heap, so that ASan sees any overread;
 * the record's pointers are moved back into IN. */
static long next_of(const unsigned char *in, size_t len, ocsp_revlog_rec_t *r)
{
    unsigned char *p = malloc(len ? len : 1);
    long n;

    memcpy(p, in, len);
    memset(r, 0, sizeof(*r));
    n = ocsp_revlog_next(p, len, r);
    if (n > 0) {
        r->serial = (const char *)in + ((const unsigned char *)r->serial - p);
        if (r->value != NULL) {
            r->value = in + (r->value - p);
        }
    }
    free(p);
    return n;
}

/* The record read back is the one written: the same serial and value
 * bytes, not just the same lengths. */
static int same_record(const ocsp_revlog_rec_t *r, const char *serial,
                       const unsigned char *value, size_t value_len)
{
    if (r->serial_len != strlen(serial) ||
        memcmp(r->serial, serial, r->serial_len) != 0) {
        return 0;
    }
    if (value == NULL) {
        return r->deleted && r->value == NULL && r->value_len == 0;
    }
    return !r->deleted && r->value != NULL && r->value_len == value_len &&
           memcmp(r->value, value, value_len) == 0;
}

int main(void)
{
    unsigned char buf[OCSP_REVLOG_REC_MAX + 8], val[OCSP_RECORD_MAX + 1];
    ocsp_revlog_rec_t r;
    uint64_t gen = 0;
    size_t n;

    /* header: origin kept, a new generation each time */
    {
        uint64_t gen2 = 0;
        int origin = -1;
        ocsp_revlog_header(buf, OCSP_REVLOG_REBUILT);
        CHECK(memcmp(buf, "RVLOG\x01\x00\x01", 8) == 0);
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, &origin, &gen) ==
              0);
        CHECK(origin == OCSP_REVLOG_REBUILT);
        ocsp_revlog_header(buf, OCSP_REVLOG_STARTED);
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, &origin,
                                      &gen2) == 0);
        CHECK(origin == OCSP_REVLOG_STARTED && gen2 != gen);
        /* the generation read is the 8 bytes written, big-endian */
        {
            uint64_t want = 0;
            for (int i = 0; i < 8; i++) {
                want = want << 8 | buf[8 + i];
            }
            CHECK(gen2 == want);
        }
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER - 1, NULL,
                                      &gen) == -1);
        buf[7] = 2; /* no such origin */
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, NULL, &gen) ==
              -1);
        buf[7] = 0;
        buf[5] = 2; /* another version */
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, NULL, &gen) ==
              -1);
    }

    /* a set record: every value byte distinct from its neighbours */
    for (size_t i = 0; i < sizeof(val); i++) {
        val[i] = (unsigned char)(i * 31 + 7);
    }
    n = ocsp_revlog_record(buf, "1a2b", val, 200);
    CHECK(n == 4 + 4 + 200);
    CHECK(buf[0] == 'A' && buf[1] == 4 && buf[2] == 0 && buf[3] == 200);
    CHECK(next_of(buf, n, &r) == (long)n);
    CHECK(same_record(&r, "1a2b", val, 200));
    CHECK(r.serial == (const char *)buf + 4 && r.value == buf + 8);
    /* every cut of it is "not yet whole" */
    for (size_t k = 0; k < n; k++) {
        CHECK(next_of(buf, k, &r) == 0);
    }

    /* a deletion */
    n = ocsp_revlog_record(buf, "ff", NULL, 0);
    CHECK(n == 6 && memcmp(buf,
                           "D\x02\x00\x00"
                           "ff",
                           6) == 0);
    CHECK(next_of(buf, n, &r) == 6 && same_record(&r, "ff", NULL, 0));

    /* a log of several records replays each, in order, byte for byte */
    {
        static const char *const serials[] = {
            "1", "ff", "7fffffffffffffffffffffffffffffffffffffff", "1"};
        static const size_t lens[] = {1, OCSP_RECORD_MAX, 0, 77};
        unsigned char log[4 * OCSP_REVLOG_REC_MAX];
        size_t at = 0, k;
        for (k = 0; k < 4; k++) {
            at += ocsp_revlog_record(log + at, serials[k],
                                     lens[k] ? val + k : NULL, lens[k]);
        }
        for (k = 0, n = 0; k < 4; k++) {
            long m = next_of(log + n, at - n, &r);
            CHECK(m > 0 && same_record(&r, serials[k], lens[k] ? val + k : NULL,
                                       lens[k]));
            n += m > 0 ? (size_t)m : at;
        }
        CHECK(n == at);
    }

    /* out of bounds on the way in */
    CHECK(ocsp_revlog_record(buf, "", NULL, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, OCSP_RECORD_MAX + 1) == 0);
    CHECK(ocsp_revlog_record(buf, "0102030405060708091011121314151617181920ab",
                             NULL, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, OCSP_RECORD_MAX) ==
          4 + 2 + OCSP_RECORD_MAX);
    CHECK(next_of(buf, 4 + 2 + OCSP_RECORD_MAX, &r) ==
              4 + 2 + OCSP_RECORD_MAX &&
          same_record(&r, "12", val, OCSP_RECORD_MAX));

    /* hostile bytes */
    {
        static const unsigned char kind[] = {'X', 2, 0, 0, '1', '2'};
        static const unsigned char noserial[] = {'D', 0, 0, 0};
        static const unsigned char longserial[] = {'D', 41, 0, 0};
        static const unsigned char bigval[] = {'A', 1, 1, 1, '1'};
        static const unsigned char emptyset[] = {'A', 1, 0, 0, '1'};
        static const unsigned char delval[] = {'D', 1, 0, 1, '1', 'x'};
        CHECK(next_of(kind, sizeof(kind), &r) == -1);
        CHECK(next_of(noserial, sizeof(noserial), &r) == -1);
        CHECK(next_of(longserial, sizeof(longserial), &r) == -1);
        CHECK(next_of(bigval, sizeof(bigval), &r) == -1);
        CHECK(next_of(emptyset, sizeof(emptyset), &r) == -1);
        CHECK(next_of(delval, sizeof(delval), &r) == -1);
    }
    CHECK_DONE();
}
