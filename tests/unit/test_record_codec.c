/*
 * The hand-written record decoder (ocsp_record_decode(), responder/record.c)
 * against protobuf-c's unpack + re-pack size check it replaced
 * (record_ref.h): over records packed by protobuf-c (every combination of
 * fields, extreme and negative values), over records built field by field
 * by an encoder of this file (any order, repeated, non-minimal varints and
 * tags, wrong wire types, unknown fields of every wire type), and over
 * mutations of both (every single-byte change, truncation, insertion,
 * deletion).  Both must accept the same bytes with the same values, and
 * refuse the same bytes for the same reason.
 */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "event.h"
#include "record.h"
#include "record_ref.h"

static long n_compared, n_accepted;

static void compare(const void *p, size_t len, const char *serial, int line)
{
    int acc;
    const char *diff = ref_compare(p, len, serial, &acc);

    n_compared++;
    n_accepted += acc;
    if (diff != NULL) {
        fprintf(stderr, "line %d: %s for %zu bytes:", line, diff, len);
        for (size_t i = 0; i < len; i++) {
            fprintf(stderr, " %02x", ((const unsigned char *)p)[i]);
        }
        fprintf(stderr, "\n");
    }
    CHECK(diff == NULL);
}

/* Both decoders, with no serial, the record's own and another. */
static void compare3(const void *p, size_t len, const char *serial, int line)
{
    compare(p, len, NULL, line);
    if (serial != NULL) {
        compare(p, len, serial, line);
    }
    compare(p, len, "ff", line);
}

/* --- an encoder of its own, to write what protobuf-c's never does --- */

typedef struct {
    unsigned char b[4 * OCSP_RECORD_MAX];
    size_t n;
} buf_t;

static void put_byte(buf_t *o, unsigned v)
{
    if (o->n < sizeof(o->b)) {
        o->b[o->n++] = (unsigned char)v;
    }
}

/* V as a varint, PAD bytes longer than needed (a non-minimal encoding). */
static void put_varint(buf_t *o, uint64_t v, int pad)
{
    while (v >= 0x80 || pad > 0) {
        put_byte(o, (unsigned)(v & 0x7f) | 0x80);
        if (v < 0x80) {
            pad--;
        }
        v >>= 7;
    }
    put_byte(o, (unsigned)v);
}

static void put_tag(buf_t *o, uint32_t num, unsigned wt, int pad)
{
    put_varint(o, (uint64_t)num << 3 | wt, pad);
}

static void put_raw(buf_t *o, const void *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        put_byte(o, ((const unsigned char *)p)[i]);
    }
}

static uint64_t rng_state = 0x9e3779b97f4a7c15u;

static uint64_t rnd(void)
{
    /* xorshift64*: reproducible, so a failure can be replayed */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return rng_state * 0x2545f4914f6cdd1du;
}

static const int64_t times[] = {0,
                                1,
                                127,
                                128,
                                16383,
                                16384,
                                1700000000,
                                OCSP_TIME_MAX,
                                OCSP_TIME_MAX + 1,
                                -1,
                                -128,
                                INT64_MIN,
                                INT64_MAX,
                                (int64_t)1 << 35,
                                ((int64_t)1 << 62) + 5};
#define NTIMES (sizeof(times) / sizeof(times[0]))

static const uint64_t varints[] = {0,
                                   1,
                                   2,
                                   6,
                                   10,
                                   11,
                                   127,
                                   128,
                                   (1u << 28) - 1,
                                   1u << 28,
                                   (1ull << 31),
                                   0xffffffffu,
                                   1ull << 32,
                                   (1ull << 32) + 1,
                                   (uint64_t)-1,
                                   (uint64_t)-6,
                                   (uint64_t)INT32_MIN,
                                   1ull << 63,
                                   1700000000,
                                   OCSP_TIME_MAX};
#define NVARINTS (sizeof(varints) / sizeof(varints[0]))

static const char *serials[] = {
    "1", "7f", "abcdef0123456789abcdef0123456789abcdef01", "", "ABC", "00"};
#define NSERIALS (sizeof(serials) / sizeof(serials[0]))

/* Every single-byte change, truncation, insertion and deletion of P. */
static void mutate(const unsigned char *p, size_t len, const char *serial)
{
    static const unsigned char ins[] = {0x00, 0x01, 0x08, 0x0a, 0x10, 0x12,
                                        0x7f, 0x80, 0xff, 0x58, 0x5d, 0x5b};
    unsigned char m[OCSP_RECORD_MAX + 2];

    if (len > OCSP_RECORD_MAX) {
        return;
    }
    for (size_t i = 0; i < len; i++) {
        memcpy(m, p, len);
        for (unsigned v = 0; v < 256; v++) {
            if (v != p[i]) {
                m[i] = (unsigned char)v;
                compare(m, len, serial, __LINE__);
            }
        }
    }
    for (size_t n = 0; n < len; n++) {
        compare(p, n, serial, __LINE__);
    }
    for (size_t i = 0; i <= len; i++) {
        for (size_t k = 0; k < sizeof(ins); k++) {
            memcpy(m, p, i);
            m[i] = ins[k];
            memcpy(m + i + 1, p + i, len - i);
            compare(m, len + 1, serial, __LINE__);
        }
        if (i < len) {
            memcpy(m, p, i);
            memcpy(m + i, p + i + 1, len - i - 1);
            compare(m, len - 1, serial, __LINE__);
        }
    }
}

/* Records protobuf-c packs: every subset of the optional fields. */
static void packed_records(void)
{
    static const int statuses[] = {0, 1, 2, 3, -1};
    static const int reasons[] = {0, 1, 4, 6, 7, 8, 10, 11, -1};
    long mutated = 0;

    /* subjects: valid ones, and the empty, unprintable and too long */
    static char long_subject[OCSP_SUBJECT_MAX + 2];
    static const char *const subjects[] = {
        "CN=a",      "CN=x,O=Example\\, Inc.", long_subject + 1, "", "CN=\x7f",
        long_subject};

    memset(long_subject, 'a', OCSP_SUBJECT_MAX + 1);
    for (unsigned mask = 0; mask < 512; mask++) {
        for (size_t s = 0; s < sizeof(statuses) / sizeof(statuses[0]); s++) {
            for (unsigned k = 0; k < 6; k++) {
                ocsp_record_t r;
                unsigned char buf[2 * OCSP_RECORD_MAX];
                size_t n;
                unsigned h = mask * 31 + (unsigned)s * 7 + k;

                ocsp_record_init(&r, (char *)serials[h % NSERIALS]);
                r.status = (Revoca__Status)statuses[s];
                /* small k: valid times, so that most are accepted */
#define T(i) (k < 3 ? times[(h + (i)) % 8] : times[(h + (i)) % NTIMES])
                if (mask & 1) {
                    r.has_not_before = 1;
                    r.not_before = T(1);
                }
                if (mask & 2) {
                    r.has_not_after = 1;
                    r.not_after = k == 0 ? OCSP_TIME_MAX : T(2);
                }
                if (mask & 4) {
                    r.has_shard = 1;
                    r.shard = (uint32_t)varints[(h + 3) % NVARINTS];
                }
                if (mask & 8) {
                    r.has_revocation_time = 1;
                    r.revocation_time = T(4);
                }
                if (mask & 16) {
                    r.has_reason = 1;
                    r.reason = (Revoca__Reason)(s == 2 && k < 2
                                                    ? 6
                                                    : reasons[(h + 5) % 9]);
                }
                if (mask & 32) {
                    r.has_invalidity_date = 1;
                    r.invalidity_date = T(6);
                }
                if (mask & 64) {
                    r.has_released_at = 1;
                    r.released_at = T(7);
                }
                if (mask & 128) {
                    r.has_updated = 1;
                    r.updated = T(8);
                }
                if (mask & 256) {
                    r.subject = (char *)subjects[h % 6];
                }
#undef T
                n = revoca__cert_record__pack(&r, buf);
                compare3(buf, n, r.serial, __LINE__);
                /* mutations of one in 97: still ~8 million decodes */
                if (h % 97 == 0) {
                    mutate(buf, n, r.serial);
                    mutated++;
                }
            }
        }
    }
    CHECK(mutated > 30);
}

/* A field of the field-by-field encoder. */
static void put_field(buf_t *o, uint32_t num, unsigned wt, uint64_t v,
                      const char *s, size_t slen, int tpad, int vpad)
{
    put_tag(o, num, wt, tpad);
    switch (wt) {
    case 0:
        put_varint(o, v, vpad);
        break;
    case 1:
        put_raw(o, &v, 8);
        break;
    case 2:
        put_varint(o, slen, vpad);
        put_raw(o, s, slen);
        break;
    case 5:
        put_raw(o, &v, 4);
        break;
    default:
        break; /* a group tag, or 6, 7: nothing protobuf-c reads */
    }
}

/* Random records from fields in any order, mostly well-formed. */
static void field_records(long count)
{
    static const uint32_t unknown_nums[] = {
        0, 11, 12, 15, 16, 17, 2047, 2048, 1u << 25, (1u << 29) - 1};
    static const char odd_serials[][6] = {"a\0b", "\xff\xfe", "1\0", "12345"};

    for (long it = 0; it < count; it++) {
        buf_t o = {.n = 0};
        unsigned nf = 2 + (unsigned)(rnd() % 7);
        int odd = rnd() % 4 == 0; /* one field in four off the norm */

        for (unsigned f = 0; f < nf; f++) {
            uint64_t x = rnd();
            uint32_t num;
            unsigned wt;
            int tpad = odd && x % 13 == 0 ? 1 + (int)(x >> 60) % 2 : 0;
            int vpad = odd && x % 11 == 0 ? 1 + (int)(x >> 58) % 5 : 0;
            uint64_t v = varints[(x >> 8) % NVARINTS];

            /* the two required fields first in most records */
            num = f == 0 ? 1 : f == 1 ? 2 : 1 + (uint32_t)((x >> 16) % 10);
            if (odd && x % 7 == 0) {
                num = unknown_nums[(x >> 24) % 10];
            }
            wt = num == 1 ? 2 : 0;
            if (num > 10 || num == 0 || (odd && x % 17 == 0)) {
                wt = (unsigned)(x >> 32) % 8;
            }
            if (num == 2 || num == 7) {
                v = (x >> 40) % 4 == 0 ? (uint64_t)(int64_t)(int32_t)v
                                       : (x >> 40) % 12;
            } else if (num != 5 && num != 1 && (x >> 44) % 3) {
                v = (uint64_t)times[(x >> 48) % 8];
            }
            if (num == 1 && odd && x % 5 == 0) {
                const char *s = odd_serials[(x >> 36) % 4];
                put_field(&o, num, wt, v, s, (x >> 36) % 4 == 0 ? 3 : strlen(s),
                          tpad, vpad);
            } else {
                const char *s = serials[(x >> 36) % NSERIALS];
                put_field(&o, num, wt, v, s, strlen(s), tpad, vpad);
            }
        }
        /* any order: a random rotation of the fields' bytes is not a record
         * boundary, so shuffle by re-encoding is left to the next loop */
        compare3(o.b, o.n, "1", __LINE__);
        if (it % 4099 == 0) {
            mutate(o.b, o.n, NULL);
        }
    }
}

/* Cases of the quirks the decoder keeps, each accepted or refused by both
 * (a check that the comparison reaches them). */
static void quirks(void)
{
    static const struct {
        const char *bytes;
        size_t len;
        int accepted;
    } cases[] = {
        /* serial "1", status good: the minimal record */
        {"\x0a\x01"
         "1"
         "\x10\x00",
         5, 1},
        /* reordered */
        {"\x10\x00\x0a\x01"
         "1",
         5, 1},
        /* unknown fields of each wire type, kept and counted */
        {"\x0a\x01"
         "1\x10\x00\x60\x05",
         7, 1},
        {"\x0a\x01"
         "1\x10\x00\x61"
         "abcdefgh",
         14, 1},
        {"\x0a\x01"
         "1\x10\x00\x62\x02"
         "ab",
         9, 1},
        {"\x0a\x01"
         "1\x10\x00\x65"
         "abcd",
         10, 1},
        /* an unknown varint kept as it came, non-minimal included */
        {"\x0a\x01"
         "1\x10\x00\x60\x80\x00",
         8, 1},
        /* groups and wire types 6, 7 */
        {"\x0a\x01"
         "1\x10\x00\x63",
         6, 0},
        {"\x0a\x01"
         "1\x10\x00\x64",
         6, 0},
        {"\x0a\x01"
         "1\x10\x00\x66",
         6, 0},
        /* a non-minimal tag or length: not canonical */
        {"\x8a\x00\x01"
         "1\x10\x00",
         6, 0},
        {"\x0a\x81\x00"
         "1\x10\x00",
         6, 0},
        /* repeated field */
        {"\x0a\x01"
         "1\x10\x00\x10\x00",
         7, 0},
        /* missing required */
        {"\x0a\x01"
         "1",
         3, 0},
        {"\x10\x00", 2, 0},
        /* wrong wire type of a known field */
        {"\x0a\x01"
         "1\x15\x00\x00\x00\x00",
         8, 0},
        /* field number 0 in one byte */
        {"\x0a\x01"
         "1\x10\x00\x00\x00",
         7, 0},
        /* a NUL in the serial */
        {"\x0a\x03"
         "1\x00"
         "2\x10\x00",
         7, 0},
        /* a subject (field 11), with the notAfter it needs */
        {"\x0a\x01"
         "1\x10\x00\x20\x05\x5a\x04"
         "CN=a",
         13, 1},
        /* a subject without a notAfter, or not printable ASCII: invalid */
        {"\x0a\x01"
         "1\x10\x00\x5a\x04"
         "CN=a",
         11, 0},
        {"\x0a\x01"
         "1\x10\x00\x20\x05\x5a\x04"
         "CN=\x01",
         13, 0},
        /* a NUL in the subject: not canonical */
        {"\x0a\x01"
         "1\x10\x00\x20\x05\x5a\x04"
         "CN\x00a",
         13, 0},
        /* a subject of another wire type */
        {"\x0a\x01"
         "1\x10\x00\x20\x05\x58\x04",
         9, 0},
        /* varint of 11 bytes */
        {"\x0a\x01"
         "1\x10\x00\x18\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00",
         16, 0},
        /* shard: 5 bytes, bits above 32 dropped yet the size matches */
        {"\x0a\x01"
         "1\x10\x00\x28\xff\xff\xff\xff\x7f",
         11, 1},
        /* a time of 10 bytes (negative): refused by validation */
        {"\x0a\x01"
         "1\x10\x00\x18\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
         16, 0},
        /* status 1 in 5 bytes but negative as int32: packs in 10, so the 5
         * extra bytes of a non-minimal updated make the size match; still
         * refused, as an unknown status */
        {"\x0a\x01"
         "1\x10\x81\x80\x80\x80\x08\x50\x80\x80\x80\x80\x80\x00",
         16, 0},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int acc;
        const char *diff =
            ref_compare(cases[i].bytes, cases[i].len, NULL, &acc);
        if (diff != NULL || acc != cases[i].accepted) {
            fprintf(stderr, "quirk case %zu: %s, accepted %d\n", i,
                    diff ? diff : "agree", acc);
        }
        CHECK(diff == NULL && acc == cases[i].accepted);
        mutate((const unsigned char *)cases[i].bytes, cases[i].len, "1");
    }
}

/* The decoded record is one block: the record outlives the input. */
static void owns_its_bytes(void)
{
    unsigned char buf[] = {0x0a, 0x02, '4', '2', 0x10, 0x00, 0x60, 0x07};
    const char *why;
    ocsp_record_t *r = ocsp_record_decode(buf, sizeof(buf), "42", NULL, &why);

    CHECK(r != NULL);
    if (r != NULL) {
        memset(buf, 0, sizeof(buf));
        CHECK_STR(r->serial, "42");
        CHECK(r->base.n_unknown_fields == 1 &&
              r->base.unknown_fields[0].tag == 12 &&
              r->base.unknown_fields[0].len == 1 &&
              r->base.unknown_fields[0].data[0] == 0x07);
        ocsp_record_free(r, NULL);
    }
}

int main(void)
{
    quirks();
    owns_its_bytes();
    packed_records();
    field_records(300000);
    printf("%ld comparisons, %ld accepted\n", n_compared, n_accepted);
    /* a comparison that never accepts (or never refuses) tests nothing */
    CHECK(n_accepted > 10000 && n_accepted < n_compared / 2);
    CHECK_DONE();
}
