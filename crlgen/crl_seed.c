/*
 * crlgen-seed: writes Redis protocol for N revoked (or held) certificate
 * records of one issuer, as revoca-signer would have stored them
 * (P:revoked:ISSUER:SHARD hashes and, with --changes, P:changes:ISSUER), for
 * `redis-cli --pipe`.  With --index it also writes the same entries as an
 * `openssl ca` index.txt, and with --serials one serial per line (decimal),
 * so the benchmark compares generators over identical input.
 *
 *   crlgen-seed --issuer demo --count 1000000 [--shards N] [--seed S]
 *               [--prefix P] [--changes] [--hold] [--index FILE]
 *               [--serials FILE] [--not-after SECONDS_FROM_NOW]
 *   crlgen-seed --revlog-script     (prints crl_revlog_script()'s text)
 */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_revlog.h"
#include "keys.h"
#include "rconn.h"
#include "revlog.h"
#include "revocation.pb-c.h"
#include "serial.h"

static uint64_t rng_state;

static uint64_t rng(void)
{
    /* splitmix64: reproducible for a given --seed.  Test data, not keys or
     * ids: the only randomness outside OpenSSL's, on purpose. */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* One command as RESP on F, by the core's encoder (rconn.h). */
static void resp(FILE *f, int argc, const char **argv, const size_t *lens)
{
    if (ocsp_resp_write(f, argc, argv, lens) != 0) {
        perror("crlgen-seed");
        exit(1);
    }
}

/* Decimal of a hex serial (for cfssl), by repeated division. */
static void hex_to_dec(const char *hex, char *out)
{
    unsigned char d[64];
    size_t n = 0, len = strlen(hex);
    char tmp[64];
    size_t t = 0;

    for (size_t i = 0; i < len; i++) {
        char c = hex[i];
        d[n++] = (unsigned char)(c <= '9' ? c - '0' : c - 'a' + 10);
    }
    while (n > 0) {
        unsigned rem = 0;
        size_t w = 0;
        for (size_t i = 0; i < n; i++) {
            unsigned cur = rem * 16 + d[i];
            unsigned q = cur / 10;
            rem = cur % 10;
            if (w > 0 || q > 0) {
                d[w++] = (unsigned char)q;
            }
        }
        tmp[t++] = (char)('0' + rem);
        n = w;
    }
    for (size_t i = 0; i < t; i++) {
        out[i] = tmp[t - 1 - i];
    }
    out[t] = '\0';
}

static void asn1_time(int64_t t, char *out)
{
    time_t tt = (time_t)t;
    struct tm tm;

    gmtime_r(&tt, &tm);
    strftime(out, 16, "%y%m%d%H%M%SZ", &tm);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"prefix", required_argument, NULL, 'p'},
        {"count", required_argument, NULL, 'n'},
        {"shards", required_argument, NULL, 's'},
        {"seed", required_argument, NULL, 'r'},
        {"changes", no_argument, NULL, 'C'},
        {"hold", no_argument, NULL, 'H'},
        {"index", required_argument, NULL, 'x'},
        {"serials", required_argument, NULL, 'S'},
        {"not-after", required_argument, NULL, 'A'},
        {"revlog-script", no_argument, NULL, 'L'},
        {NULL, 0, NULL, 0}};
    static const char *reasons[] = {"unspecified",  "keyCompromise",
                                    "CACompromise", "affiliationChanged",
                                    "superseded",   "cessationOfOperation"};
    const char *issuer = "demo", *prefix = "revoca";
    const char *index_path = NULL, *serials_path = NULL;
    unsigned long count = 1000, shards = 1;
    int changes = 0, hold = 0, c;
    long long not_after_offset = 60LL * 86400; /* from now; may be < 0 */
    FILE *index = NULL, *serials = NULL;
    int64_t now = (int64_t)time(NULL);
    struct timespec ts;
    long long now_ms;

    rng_state = 1;
    while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        switch (c) {
        case 'i':
            issuer = optarg;
            break;
        case 'p':
            prefix = optarg;
            break;
        case 'n':
            count = strtoul(optarg, NULL, 10);
            break;
        case 's':
            shards = strtoul(optarg, NULL, 10);
            break;
        case 'r':
            rng_state = strtoull(optarg, NULL, 10);
            break;
        case 'C':
            changes = 1;
            break;
        case 'H':
            hold = 1;
            break;
        case 'x':
            index_path = optarg;
            break;
        case 'S':
            serials_path = optarg;
            break;
        case 'A':
            not_after_offset = strtoll(optarg, NULL, 10);
            break;
        case 'L': {
            /* the revoked log's swap script as crlgen sends it, for the
             * test that runs it against Redis */
            char script[2048];
            size_t n = crl_revlog_script(script, sizeof(script));
            return n > 0 && fwrite(script, 1, n, stdout) == n ? 0 : 1;
        }
        default:
            fprintf(stderr, "usage: see the comment in crl_seed.c\n");
            return 2;
        }
    }
    if (shards < 1 || shards > 4096 || count > 100000000UL) {
        fprintf(stderr, "crlgen-seed: bad --shards or --count\n");
        return 2;
    }
    if (index_path && (index = fopen(index_path, "w")) == NULL) {
        perror(index_path);
        return 1;
    }
    if (serials_path && (serials = fopen(serials_path, "w")) == NULL) {
        perror(serials_path);
        return 1;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    for (unsigned long i = 0; i < count; i++) {
        unsigned char raw[16];
        char hex[OCSP_SERIAL_HEX_MAX + 1], key[OCSP_KEY_MAX], ms[32];
        unsigned char buf[256];
        Revoca__CertRecord rec = REVOCA__CERT_RECORD__INIT;
        unsigned shard;
        size_t len;
        uint64_t a = rng(), b = rng();
        int reason;

        /* 16 random octets, positive, no leading zero octet: like CAs do */
        memcpy(raw, &a, 8);
        memcpy(raw + 8, &b, 8);
        raw[0] = (unsigned char)((raw[0] & 0x7f) | 0x10); /* canonical hex */
        for (int k = 0; k < 16; k++) {
            snprintf(hex + 2 * k, 3, "%02x", raw[k]);
        }
        shard = ocsp_serial_shard(hex, (unsigned)shards);
        reason = (int)(rng() % 6);

        rec.serial = hex;
        rec.status = hold ? REVOCA__STATUS__HELD : REVOCA__STATUS__REVOKED;
        rec.has_not_before = 1;
        rec.not_before = now - 30 * 86400;
        rec.has_not_after = 1;
        rec.not_after = now + not_after_offset;
        rec.has_shard = 1;
        rec.shard = shard;
        rec.has_revocation_time = 1;
        rec.revocation_time = now - (int64_t)(rng() % (20 * 86400));
        rec.has_reason = 1;
        rec.reason =
            hold ? REVOCA__REASON__CERTIFICATE_HOLD : (Revoca__Reason)reason;
        len = revoca__cert_record__pack(&rec, buf);

        ocsp_key_revoked(key, prefix, issuer, shard);
        {
            const char *args[] = {"HSET", key, hex, (const char *)buf};
            size_t lens[] = {4, strlen(key), strlen(hex), len};
            resp(stdout, 4, args, lens);
        }
        /* and the shard's revoked log, as the signer appends it */
        ocsp_key_revlog(key, prefix, issuer, shard);
        {
            unsigned char hdr[OCSP_REVLOG_HEADER], lrec[OCSP_REVLOG_REC_MAX];
            const char *set[] = {"SET", key, (const char *)hdr, "NX"};
            size_t set_lens[] = {3, strlen(key), sizeof(hdr), 2};
            const char *app[] = {"APPEND", key, (const char *)lrec};
            size_t app_lens[] = {6, strlen(key), 0};
            ocsp_revlog_header(hdr, OCSP_REVLOG_STARTED);
            app_lens[2] = ocsp_revlog_record(lrec, hex, buf, len);
            resp(stdout, 4, set, set_lens);
            resp(stdout, 3, app, app_lens);
        }
        if (changes) {
            const char *args[] = {"ZADD", key, ms, hex};
            ocsp_key_changes(key, prefix, issuer);
            snprintf(ms, sizeof(ms), "%lld", now_ms);
            resp(stdout, 4, args, NULL);
        }
        if (index != NULL) {
            char exp[16], rev[16], up[41];
            asn1_time(rec.not_after, exp);
            asn1_time(rec.revocation_time, rev);
            for (size_t k = 0; k <= strlen(hex); k++) {
                up[k] = (char)(hex[k] >= 'a' ? hex[k] - 32 : hex[k]);
            }
            fprintf(index, "R\t%s\t%s%s%s\t%s\tunknown\t/CN=%s\n", exp, rev,
                    reason ? "," : "", reason ? reasons[reason] : "", up, hex);
        }
        if (serials != NULL) {
            char dec[64];
            hex_to_dec(hex, dec);
            fprintf(serials, "%s\n", dec);
        }
    }
    if (index) {
        fclose(index);
    }
    if (serials) {
        fclose(serials);
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
