/*
 * Micro-benchmark (not a test) of the stored-record decoder, issue 10:
 * ocsp_record_decode() (hand-written, responder/record.c) against the
 * protobuf-c unpack + re-pack size check it replaced
 * (tests/unit/record_ref.h), each with malloc and with the stack arena the
 * CRL generator gives it; and ocsp_serial_fixed_from_hex() against the
 * table look-up it replaced.  Records are
 * revoked ones as the signer packs them, 4096 distinct serials in turn.
 * Prints ns per call (thread CPU time, best of three rounds) and the ratio to
 * the protobuf-c row.  Run by loadtest/record_bench.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "record.h"
#include "record_ref.h"
#include "serial.h"

#define NREC 4096

/* ocsp_serial_fixed_from_hex() before issue 10: a table look-up per digit,
 * the peer of the eight-at-a-time one in responder/serial.c. */
static const signed char hexval[256] = {
    ['0'] = 1,  ['1'] = 2,  ['2'] = 3,  ['3'] = 4,  ['4'] = 5,  ['5'] = 6,
    ['6'] = 7,  ['7'] = 8,  ['8'] = 9,  ['9'] = 10, ['a'] = 11, ['b'] = 12,
    ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16};

static int fixed_from_hex_table(const char *hex, size_t len, unsigned char *out)
{
    const unsigned char *h = (const unsigned char *)hex;
    unsigned bad = 0;

    if (len == 0 || len > OCSP_SERIAL_HEX_MAX || hex[0] == '0') {
        return -1;
    }
    memset(out, 0, OCSP_SERIAL_MAX_OCTETS);
    out += OCSP_SERIAL_MAX_OCTETS - (len + 1) / 2;
    if (len & 1) {
        unsigned v = (unsigned)hexval[*h++];
        bad |= v == 0;
        *out++ = (unsigned char)(v - 1u);
    }
    for (size_t i = 0; i < len / 2; i++) {
        unsigned hi = (unsigned)hexval[h[2 * i]];
        unsigned lo = (unsigned)hexval[h[2 * i + 1]];
        bad |= (hi == 0) | (lo == 0);
        out[i] = (unsigned char)((hi - 1u) << 4 | ((lo - 1u) & 0xfu));
    }
    return bad ? -1 : 0;
}

static unsigned char recs[NREC][OCSP_RECORD_MAX];
static size_t lens[NREC];
static char hexes[NREC][OCSP_SERIAL_HEX_MAX + 1];

static double now_ns(void)
{
    struct timespec ts;

    /* CPU time of this thread: the machine is shared, and time spent
     * descheduled is not the decoder's */
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static volatile long sink;

static double run(int which, long iters)
{
    ocsp_record_arena_t arena;
    ProtobufCAllocator *al = &arena.alloc;

    ocsp_record_arena_init(&arena);
    double t0 = now_ns();

    for (long i = 0; i < iters; i++) {
        int k = (int)(i & (NREC - 1));
        const char *why;
        unsigned char fixed[OCSP_SERIAL_MAX_OCTETS];

        ocsp_record_arena_reset(&arena);
        switch (which) {
        case 0: {
            Revoca__CertRecord *r =
                ref_decode(recs[k], lens[k], hexes[k], &why);
            sink += r->revocation_time;
            revoca__cert_record__free_unpacked(r, NULL);
            break;
        }
        case 1: {
            /* the old path with the arena, as crlgen called it */
            Revoca__CertRecord *r =
                revoca__cert_record__unpack(al, lens[k], recs[k]);
            if (revoca__cert_record__get_packed_size(r) != lens[k] ||
                strcmp(r->serial, hexes[k]) != 0) {
                abort();
            }
            sink += r->revocation_time;
            break;
        }
        case 2: {
            ocsp_record_t *r =
                ocsp_record_decode(recs[k], lens[k], hexes[k], NULL, &why);
            sink += r->revocation_time;
            ocsp_record_free(r, NULL);
            break;
        }
        case 3: {
            ocsp_record_t *r =
                ocsp_record_decode(recs[k], lens[k], hexes[k], al, &why);
            sink += r->revocation_time;
            break;
        }
        default:
            sink +=
                ocsp_serial_fixed_from_hex(hexes[k], strlen(hexes[k]), fixed);
            sink += fixed[19];
            break;
        }
    }
    return (now_ns() - t0) / (double)iters;
}

int main(int argc, char **argv)
{
    long iters = argc > 1 ? atol(argv[1]) : 2000000;
    static const char *names[] = {
        "protobuf-c unpack + size check, malloc",
        "protobuf-c unpack + size check, arena (crlgen before)",
        "ocsp_record_decode, malloc",
        "ocsp_record_decode, arena (crlgen)",
        "serial to fixed, table per digit (before)",
        "ocsp_serial_fixed_from_hex, 8 digits at a time"};
    double ns[6];
    uint64_t x = 88172645463325252u;

    for (int k = 0; k < NREC; k++) {
        ocsp_record_t r;
        int n = 0;

        for (int d = 0; d < 32; d++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            hexes[k][n++] = "0123456789abcdef"[d == 0 ? 1 + x % 15 : x % 16];
        }
        hexes[k][n] = '\0';
        ocsp_record_init(&r, hexes[k]);
        r.status = REVOCA__STATUS__REVOKED;
        r.has_not_before = r.has_not_after = 1;
        r.not_before = 1700000000 + k;
        r.not_after = 1731536000 + k;
        r.has_shard = 1;
        r.shard = (uint32_t)(k % 7);
        r.has_revocation_time = 1;
        r.revocation_time = 1710000000 + k;
        r.has_reason = 1;
        r.reason = (Revoca__Reason)(k % 5);
        r.has_updated = 1;
        r.updated = 1710000001 + k;
        lens[k] = revoca__cert_record__pack(&r, recs[k]);
    }
    /* rows interleaved, three rounds, the best of each row kept */
    for (int round = 0; round < 3; round++) {
        for (int w = 0; w < 6; w++) {
            double t = run(w, iters);
            if (round == 0 || t < ns[w]) {
                ns[w] = t;
            }
        }
    }
    printf("%-56s %9s %8s\n", "decoder", "ns/call", "ratio");
    for (int w = 0; w < 6; w++) {
        double base = w < 4 ? ns[w & 1 ? 1 : 0] : ns[4];
        printf("%-56s %9.1f %7.2fx\n", names[w], ns[w], base / ns[w]);
    }
    printf("(ratio: speed-up over the protobuf-c row with the same allocator, "
           "or over the table row; 32-digit serials; "
           "best of 3 x %ld calls per row, thread CPU time, %zu-byte "
           "records)\n",
           iters, lens[0]);
    return 0;
}
