/* The revoked log's codec (revlog.h): round trips, and hostile bytes from
 * Redis refused or reported as cut, never read past. */
#include <stdlib.h>

#include "check.h"
#include "revlog.h"

/* Parses LEN bytes copied to the heap, so that ASan sees any overread. */
static long next_of(const unsigned char *in, size_t len, ocsp_revlog_rec_t *r)
{
    unsigned char *p = malloc(len ? len : 1);
    long n;

    memcpy(p, in, len);
    n = ocsp_revlog_next(p, len, r);
    free(p);
    return n;
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
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, &origin, &gen) ==
              0);
        CHECK(origin == OCSP_REVLOG_REBUILT);
        ocsp_revlog_header(buf, OCSP_REVLOG_STARTED);
        CHECK(ocsp_revlog_header_read(buf, OCSP_REVLOG_HEADER, &origin,
                                      &gen2) == 0);
        CHECK(origin == OCSP_REVLOG_STARTED && gen2 != gen);
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

    /* a set record */
    memset(val, 0x5a, sizeof(val));
    n = ocsp_revlog_record(buf, "1a2b", val, 200);
    CHECK(n == 4 + 4 + 200);
    CHECK(next_of(buf, n, &r) == (long)n);
    CHECK(!r.deleted && r.serial_len == 4 && r.value_len == 200);
    /* every cut of it is "not yet whole" */
    for (size_t k = 0; k < n; k++) {
        CHECK(next_of(buf, k, &r) == 0);
    }

    /* a deletion */
    n = ocsp_revlog_record(buf, "ff", NULL, 0);
    CHECK(n == 6 && buf[0] == 'D');
    CHECK(next_of(buf, n, &r) == 6 && r.deleted && r.value == NULL);

    /* out of bounds on the way in */
    CHECK(ocsp_revlog_record(buf, "", NULL, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, OCSP_RECORD_MAX + 1) == 0);
    CHECK(ocsp_revlog_record(buf, "0102030405060708091011121314151617181920ab",
                             NULL, 0) == 0);
    CHECK(ocsp_revlog_record(buf, "12", val, OCSP_RECORD_MAX) ==
          4 + 2 + OCSP_RECORD_MAX);

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
