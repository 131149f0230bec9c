/* Unit tests of crlgen's pure parts: serials, sorting, encoding, checks. */
#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "config.h"
#include "crl_build.h"
#include "crl_check.h"
#include "crl_entry.h"
#include "crl_fetch.h"
#include "crl_record.h"
#include "crl_revlog.h"
#include "revlog.h"
#include "revocation.pb-c.h"
#include "snapshot.h"

static void test_serials(void)
{
    unsigned char s[CRL_SERIAL_LEN], d[CRL_SERIAL_LEN + 1];

    CHECK(ocsp_serial_fixed_from_hex("1", 1, s) == 0);
    CHECK(s[CRL_SERIAL_LEN - 1] == 1 && s[0] == 0);
    CHECK(ocsp_serial_fixed_to_der(s, d) == 1 && d[0] == 1);
    CHECK(ocsp_serial_fixed_from_hex("80", 2, s) == 0);
    CHECK(ocsp_serial_fixed_to_der(s, d) == 2 && d[0] == 0 && d[1] == 0x80);
    CHECK(ocsp_serial_fixed_from_hex("0a", 2, s) != 0); /* not canonical */
    CHECK(ocsp_serial_fixed_from_hex("A", 1, s) != 0);  /* upper case */
    CHECK(ocsp_serial_fixed_from_hex("", 0, s) != 0);
    CHECK(ocsp_serial_fixed_from_hex("1234567890123456789012345678901234567890",
                                     40, s) == 0);
    CHECK(ocsp_serial_fixed_from_hex(
              "12345678901234567890123456789012345678901", 41, s) != 0);
}

static void test_sort(void)
{
    crl_entries_t a = {0};
    const char *hex[] = {"ff", "1", "100", "ab", "1", "fe"};
    const int order[] = {1, 3, 5, 0, 2};

    for (size_t i = 0; i < 6; i++) {
        crl_entry_t *e = crl_entries_push(&a);
        ocsp_serial_fixed_from_hex(hex[i], strlen(hex[i]), e->serial);
        e->revoked_at = (int64_t)i;
    }
    crl_entries_sort(&a);
    CHECK(a.n == 5);
    for (size_t i = 0; i < a.n && i < 5; i++) {
        unsigned char s[CRL_SERIAL_LEN];
        ocsp_serial_fixed_from_hex(hex[order[i]], strlen(hex[order[i]]), s);
        CHECK(memcmp(a.v[i].serial, s, CRL_SERIAL_LEN) == 0);
    }
    CHECK(a.v[0].revoked_at == 4); /* the later duplicate won */
    CHECK(crl_entries_find(&a, a.v[2].serial) == &a.v[2]);
    crl_entries_free(&a);
}

/* The serial parser against the obvious reference, on random strings of
 * hex digits, upper case, other characters and leading zeros. */
static void test_serials_random(void)
{
    static const char alphabet[] = "0123456789abcdef0123456789abcdefAFg/:` ";
    unsigned long x = 12345;
    size_t agree = 0, valid = 0;

    for (int t = 0; t < 20000; t++) {
        char hex[48];
        unsigned char got[CRL_SERIAL_LEN], want[CRL_SERIAL_LEN];
        size_t len;
        int ok = 1, rc;

        x = x * 6364136223846793005UL + 1442695040888963407UL;
        len = (x >> 33) % 43;
        for (size_t i = 0; i < len; i++) {
            x = x * 6364136223846793005UL + 1442695040888963407UL;
            /* mostly valid digits, sometimes anything in the alphabet */
            hex[i] = alphabet[(x >> 40) % ((x >> 20) % 8 ? 32 : 40)];
        }
        memset(want, 0, sizeof(want));
        if (len == 0 || len > 40 || hex[0] == '0') {
            ok = 0;
        }
        for (size_t i = 0; ok && i < len; i++) {
            char c = hex[len - 1 - i];
            int v = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
            if (v < 0) {
                ok = 0;
                break;
            }
            want[CRL_SERIAL_LEN - 1 - i / 2] |=
                (unsigned char)(i & 1 ? v << 4 : v);
        }
        rc = ocsp_serial_fixed_from_hex(hex, len, got);
        valid += ok;
        agree += ok ? rc == 0 && memcmp(got, want, sizeof(got)) == 0 : rc != 0;
    }
    CHECK(agree == 20000);
    CHECK(valid > 2000);
}

/* The radix sort against qsort, keeping the later of equal serials, for
 * random serials, serials with a common prefix, small ones, and enough
 * entries for the 16-bit digits. */
static int cmp_serial_seq(const void *x, const void *y)
{
    const crl_entry_t *a = x, *b = y;
    int c = memcmp(a->serial, b->serial, CRL_SERIAL_LEN);

    return c ? c
             : (a->revoked_at > b->revoked_at) -
                   (a->revoked_at < b->revoked_at);
}

static void test_sort_random(void)
{
    static const size_t sizes[] = {0, 1, 2, 31, 33, 300, 5000, 70000, 200000};
    unsigned long x = 99;

    for (int kind = 0; kind < 4; kind++) {
        for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
            size_t n = sizes[si], w = 0, ok = 1;
            crl_entries_t a = {0};
            crl_entry_t *ref;

            for (size_t i = 0; i < n; i++) {
                crl_entry_t *e = crl_entries_push(&a);
                for (int k = 0; k < CRL_SERIAL_LEN; k++) {
                    x = x * 6364136223846793005UL + 1442695040888963407UL;
                    e->serial[k] = (unsigned char)(x >> 56);
                }
                if (kind == 1) { /* 16 random octets */
                    memset(e->serial, 0, 4);
                } else if (kind == 2) { /* small: 1..n */
                    memset(e->serial, 0, CRL_SERIAL_LEN);
                    e->serial[17] = (unsigned char)((i + 1) >> 16);
                    e->serial[18] = (unsigned char)((i + 1) >> 8);
                    e->serial[19] = (unsigned char)(i + 1);
                } else if (kind == 3) { /* a CA prefix, then few values */
                    memcpy(e->serial, "\x00\x00\x7f\x01\x02\x03\x04\x05", 8);
                    memset(e->serial + 8, 0, 10);
                }
                if (i > 0 && (x >> 20) % 7 == 0) { /* a duplicate */
                    memcpy(e->serial, a.v[(x >> 24) % i].serial,
                           CRL_SERIAL_LEN);
                }
                e->revoked_at = (int64_t)i; /* arrival order */
            }
            ref = malloc((n ? n : 1) * sizeof(crl_entry_t));
            if (ref == NULL) {
                CHECK(0);
                return;
            }
            if (n > 0) {
                memcpy(ref, a.v, n * sizeof(crl_entry_t));
            }
            qsort(ref, n, sizeof(crl_entry_t), cmp_serial_seq);
            for (size_t i = 0; i < n; i++) { /* the last of equals */
                if (i + 1 < n && memcmp(ref[i].serial, ref[i + 1].serial,
                                        CRL_SERIAL_LEN) == 0) {
                    continue;
                }
                ref[w++] = ref[i];
            }
            crl_entries_sort(&a);
            ok = a.n == w;
            for (size_t i = 0; ok && i < w; i++) {
                ok = memcmp(&a.v[i], &ref[i], sizeof(crl_entry_t)) == 0;
            }
            if (!ok) {
                fprintf(stderr, "sort kind %d n %zu\n", kind, n);
            }
            CHECK(ok);
            free(ref);
            crl_entries_free(&a);
        }
    }
}

/* A self-signed CA with cRLSign and the key KEY (taken), written to
 * DIR/STEM.pem and DIR/STEM.key. */
static int make_ca_key(const char *dir, const char *stem, EVP_PKEY *key)
{
    X509 *x = X509_new();
    X509_NAME *n = X509_NAME_new();
    X509V3_CTX ctx;
    X509_EXTENSION *ext;
    char path[512];
    FILE *f;

    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC,
                               (const unsigned char *)"unit CA", -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), -3600);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509V3_set_ctx(&ctx, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage,
                              "critical,keyCertSign,cRLSign");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier, "hash");
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    X509_sign(x, key, EVP_sha256());
    snprintf(path, sizeof(path), "%s/%s.pem", dir, stem);
    f = fopen(path, "w");
    PEM_write_X509(f, x);
    fclose(f);
    snprintf(path, sizeof(path), "%s/%s.key", dir, stem);
    f = fopen(path, "w");
    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    X509_NAME_free(n);
    X509_free(x);
    EVP_PKEY_free(key);
    return 0;
}

static int make_ca(const char *dir)
{
    return make_ca_key(dir, "ca", EVP_EC_gen("P-256")) |
           make_ca_key(dir, "rsa", EVP_RSA_gen(2048));
}

/* Times as OpenSSL reads them back: thousands of entries over 1900..2150
 * (the day cache of crl_build.c hit, missed and collided), the
 * UTCTime/GeneralizedTime boundaries of RFC 5280 5.1.2.4, and
 * invalidityDate as GeneralizedTime. */
static void test_build_times(const char *dir)
{
    static const int64_t edge[] = {-631152001, -631152000, 2524607999,
                                   2524608000, 0,          951782400,
                                   4107542400};
    crl_signer_t s;
    crl_entries_t a = {0};
    crl_params_t p;
    unsigned char *der = NULL;
    const unsigned char *q;
    size_t len = 0, n = 6000, ok = 0, kinds = 0, want_kinds = 0;
    char err[OCSP_ERR_MAX], cert[512], key[512];
    unsigned long x = 4242;
    X509_CRL *crl;

    snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    CHECK(crl_signer_load(&s, cert, key, NULL, NULL, NULL, err) == 0);
    for (size_t i = 0; i < n; i++) {
        crl_entry_t *e = crl_entries_push(&a);
        x = x * 6364136223846793005UL + 1442695040888963407UL;
        e->serial[CRL_SERIAL_LEN - 1] = (unsigned char)(i + 1);
        e->serial[CRL_SERIAL_LEN - 2] = (unsigned char)((i + 1) >> 8);
        if (i < sizeof(edge) / sizeof(edge[0])) {
            e->revoked_at = edge[i];
        } else if (i % 3) { /* a few hundred days, 2048 days apart */
            e->revoked_at =
                1700000000 +
                (int64_t)((x >> 33) % 300) * 86400 * (i % 2 ? 2048 : 1) / 4 +
                (int64_t)((x >> 12) % 86400);
        } else { /* anywhere in 1900..2150 */
            e->revoked_at = -2208988800LL + (int64_t)((x >> 20) % 7889000000LL);
        }
        e->reason = CRL_REASON_ABSENT;
        e->invalidity = i % 4 == 0 ? e->revoked_at - 86400 * 40 + 7 : 0;
        want_kinds += e->invalidity > 0; /* only positive ones are listed */
    }
    memset(&p, 0, sizeof(p));
    p.kind = CRL_KIND_FULL;
    p.number = 1;
    p.this_update = 1700000000;
    p.next_update = p.this_update + 86400;
    CHECK(crl_build(&s, &p, a.v, a.n, &der, &len, err) == 0);
    q = der;
    crl = der == NULL ? NULL : d2i_X509_CRL(NULL, &q, (long)len);
    CHECK(crl != NULL);
    for (size_t i = 0; crl != NULL && i < n; i++) {
        X509_REVOKED *r =
            sk_X509_REVOKED_value(X509_CRL_get_REVOKED(crl), (int)i);
        const ASN1_TIME *t = X509_REVOKED_get0_revocationDate(r);
        const crl_entry_t *e = &a.v[i];
        int64_t y = e->revoked_at;
        int utc = y >= -631152000LL && y < 2524608000LL;
        int day, sec, good;

        good = ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(r)) ==
                   (long)(i + 1) &&
               ASN1_STRING_type(t) ==
                   (utc ? V_ASN1_UTCTIME : V_ASN1_GENERALIZEDTIME) &&
               ASN1_TIME_diff(&day, &sec, NULL, t) == 1;
        if (good) {
            /* seconds from the epoch to t, via "now" (NULL) */
            ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
            good = ASN1_TIME_diff(&day, &sec, epoch, t) == 1 &&
                   (int64_t)day * 86400 + sec == y;
            ASN1_TIME_free(epoch);
        }
        if (good && e->invalidity > 0) {
            ASN1_GENERALIZEDTIME *inv =
                X509_REVOKED_get_ext_d2i(r, NID_invalidity_date, NULL, NULL);
            ASN1_TIME *epoch = ASN1_TIME_set(NULL, 0);
            good = inv != NULL &&
                   ASN1_STRING_type(inv) == V_ASN1_GENERALIZEDTIME &&
                   ASN1_TIME_diff(&day, &sec, epoch, inv) == 1 &&
                   (int64_t)day * 86400 + sec == e->invalidity;
            kinds += good;
            ASN1_TIME_free(epoch);
            ASN1_GENERALIZEDTIME_free(inv);
        }
        if (!good && ok + 5 > i) {
            fprintf(stderr, "entry %zu: time %lld\n", i, (long long)y);
        }
        ok += good;
    }
    CHECK(ok == n);
    CHECK(kinds == want_kinds && kinds > n / 8);
    X509_CRL_free(crl);
    free(der);
    crl_entries_free(&a);
    crl_signer_free(&s);
}

static void test_build(const char *dir)
{
    crl_signer_t s;
    crl_entries_t a = {0}, none = {0};
    crl_params_t p;
    unsigned char *der = NULL, *der2 = NULL, *der3 = NULL;
    size_t len = 0, len2 = 0, len3 = 0;
    char err[OCSP_ERR_MAX], cert[512], key[512];
    const unsigned char *q;
    X509_CRL *crl;
    const char *hex[] = {"3", "1", "2"};

    snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    CHECK(crl_signer_load(&s, cert, key, NULL, NULL, NULL, err) == 0);

    for (size_t i = 0; i < 3; i++) {
        crl_entry_t *e = crl_entries_push(&a);
        ocsp_serial_fixed_from_hex(hex[i], 1, e->serial);
        e->revoked_at = 1700000000;
        e->reason = i == 0 ? 1 : CRL_REASON_ABSENT;
        e->invalidity = i == 2 ? 1690000000 : 0;
        e->shard = (uint16_t)i;
    }
    crl_entries_sort(&a);
    memset(&p, 0, sizeof(p));
    p.kind = CRL_KIND_FULL;
    p.this_update = 1700000100;
    p.next_update = 1700600100;
    p.number = 5;
    p.freshest_url = "http://x.test/d.crl";
    CHECK(crl_build(&s, &p, a.v, a.n, &der, &len, err) == 0);
    if (getenv("CRL_UNIT_DUMP")) {
        FILE *f = fopen(getenv("CRL_UNIT_DUMP"), "wb");
        fwrite(der, 1, len, f);
        fclose(f);
    }

    /* OpenSSL reads it back: verified, sorted, reason only when set. */
    q = der;
    crl = d2i_X509_CRL(NULL, &q, (long)len);
    CHECK(crl != NULL);
    if (crl != NULL) {
        STACK_OF(X509_REVOKED) *rev = X509_CRL_get_REVOKED(crl);
        CHECK(X509_CRL_verify(crl, s.pub) == 1);
        CHECK(X509_CRL_get_version(crl) == 1);
        CHECK(sk_X509_REVOKED_num(rev) == 3);
        for (int i = 0; i < sk_X509_REVOKED_num(rev); i++) {
            X509_REVOKED *r = sk_X509_REVOKED_value(rev, i);
            long sn = ASN1_INTEGER_get(X509_REVOKED_get0_serialNumber(r));
            int crit;
            ASN1_ENUMERATED *rc =
                X509_REVOKED_get_ext_d2i(r, NID_crl_reason, &crit, NULL);
            CHECK(sn == i + 1);
            CHECK((rc != NULL) == (sn == 3));
            ASN1_ENUMERATED_free(rc);
        }
        CHECK(X509_CRL_get_ext_by_NID(crl, NID_freshest_crl, -1) >= 0);
        CHECK(X509_CRL_get_ext_by_NID(crl, NID_authority_key_identifier, -1) >=
              0);
        X509_CRL_free(crl);
    }

    /* The checker: a newer CRL dropping serial 2 is refused. */
    p.number = 6;
    p.this_update++;
    a.v[1] = a.v[2];
    a.n = 2;
    CHECK(crl_build(&s, &p, a.v, a.n, &der2, &len2, err) == 0);
    CHECK(crl_check(&s, der2, len2, 0, der, len, 0, 1, &none, err) != 0);
    CHECK(strstr(err, "serial 2") != NULL);
    /* ... unless it expired */
    {
        crl_entries_t exp = {0};
        crl_entry_t *e = crl_entries_push(&exp);
        ocsp_serial_fixed_from_hex("2", 1, e->serial);
        CHECK(crl_check(&s, der2, len2, 0, der, len, 0, 1, &exp, err) == 0);
        crl_entries_free(&exp);
    }
    /* An older number or thisUpdate is refused. */
    CHECK(crl_check(&s, der, len, 0, der2, len2, 0, 0, &none, err) != 0);
    CHECK(strstr(err, "cRLNumber") != NULL);
    {
        /* a newer number with the same thisUpdate: the second rule alone */
        unsigned char *der_tu = NULL;
        size_t len_tu;

        p.number = 7;
        CHECK(crl_build(&s, &p, a.v, a.n, &der_tu, &len_tu, err) == 0);
        CHECK(crl_check(&s, der_tu, len_tu, 0, der2, len2, 0, 0, &none, err) !=
              0);
        CHECK(strstr(err, "thisUpdate") != NULL);
        free(der_tu);
    }

    /* Empty delta: no revokedCertificates, critical deltaCRLIndicator. */
    memset(&p, 0, sizeof(p));
    p.kind = CRL_KIND_DELTA;
    p.this_update = 1700000200;
    p.next_update = 1700086600;
    p.number = 9;
    p.base_number = 5;
    CHECK(crl_build(&s, &p, NULL, 0, &der3, &len3, err) == 0);
    q = der3;
    crl = d2i_X509_CRL(NULL, &q, (long)len3);
    CHECK(crl != NULL);
    if (crl != NULL) {
        int i = X509_CRL_get_ext_by_NID(crl, NID_delta_crl, -1);
        CHECK(i >= 0);
        CHECK(i >= 0 &&
              X509_EXTENSION_get_critical(X509_CRL_get_ext(crl, i)) == 1);
        CHECK(X509_CRL_get_REVOKED(crl) == NULL ||
              sk_X509_REVOKED_num(X509_CRL_get_REVOKED(crl)) == 0);
        X509_CRL_free(crl);
    }
    {
        crl_parsed_t c;
        CHECK(crl_parse(der3, len3, &c) == 0);
        CHECK(c.delta && c.base_number == 5 && c.number == 9);
        CHECK(c.entries == NULL);
        CHECK(c.this_update == 1700000200 && c.next_update == 1700086600);
    }
    /* A tampered CRL does not verify. */
    der3[len3 - 3] ^= 1;
    CHECK(crl_check(&s, der3, len3, 0, NULL, 0, 0, 0, &none, err) != 0);

    free(der);
    free(der2);
    free(der3);
    crl_entries_free(&a);
    crl_signer_free(&s);
}

static void test_dp_name(void)
{
    unsigned char out[CRL_DP_MAX];
    size_t len;
    static const unsigned char want[] = {0xa0, 0x0c, 0xa0, 0x0a, 0x86,
                                         0x08, 'h',  't',  't',  'p',
                                         ':',  '/',  '/',  'x'};

    CHECK(crl_dp_name("http://x", out, sizeof(out), &len) == 0);
    CHECK(len == sizeof(want) && memcmp(out, want, len) == 0);
}

static void push_hex(crl_entries_t *a, const char *hex, int reason)
{
    crl_entry_t *e = crl_entries_push(a);
    ocsp_serial_fixed_from_hex(hex, strlen(hex), e->serial);
    e->reason = (uint8_t)reason;
    e->revoked_at = 1700000000;
}

static void test_snapshot(const char *dir)
{
    crl_entries_t a = {0}, chg = {0}, b = {0};
    char path[512], err[OCSP_ERR_MAX];
    const char *want[] = {"2", "5", "7", "9"};
    int64_t cutoff = 0;

    push_hex(&a, "3", 1);
    push_hex(&a, "5", 1);
    push_hex(&a, "9", 1);
    crl_entries_sort(&a);
    push_hex(&chg, "3", CRL_REASON_REMOVE); /* released */
    push_hex(&chg, "5", 4);                 /* reason changed */
    push_hex(&chg, "7", 1);                 /* new */
    push_hex(&chg, "2", CRL_REASON_HOLD);   /* new, first */
    push_hex(&chg, "8", CRL_REASON_REMOVE); /* never listed */
    crl_entries_sort(&chg);
    CHECK(crl_snapshot_apply(&a, &chg) == 0);
    CHECK(a.n == 4);
    for (size_t i = 0; i < a.n && i < 4; i++) {
        unsigned char sn[CRL_SERIAL_LEN];
        ocsp_serial_fixed_from_hex(want[i], 1, sn);
        CHECK(memcmp(a.v[i].serial, sn, CRL_SERIAL_LEN) == 0);
    }
    CHECK(a.v[1].reason == 4 && a.v[0].reason == CRL_REASON_HOLD);

    snprintf(path, sizeof(path), "%s/t.snap", dir);
    CHECK(crl_snapshot_save(path, 4, &a, 12345, err) == 0);
    CHECK(crl_snapshot_load(path, 2, &b, 0, &cutoff, err) == 1);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 0);
    CHECK(cutoff == 12345 && b.n == a.n &&
          memcmp(a.v, b.v, a.n * sizeof(crl_entry_t)) == 0);
    crl_entries_free(&b);
    /* Written but not committed: not the snapshot yet; discarded: gone. */
    CHECK(crl_snapshot_write(path, 4, &a, 777, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 0);
    CHECK(cutoff == 12345 && b.n == a.n);
    crl_entries_free(&b);
    crl_snapshot_discard(path);
    CHECK(crl_snapshot_commit(path, err) != 0); /* nothing to rename */
    CHECK(crl_snapshot_write(path, 4, &a, 777, err) == 0);
    CHECK(crl_snapshot_commit(path, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 0);
    CHECK(cutoff == 777 && b.n == a.n);
    crl_entries_free(&b);
    /* Entries a full CRL cannot hold are not used: removeFromCRL, a shard
     * out of range, an unused reason. */
    CHECK(crl_snapshot_save(path, 4, &chg, 1, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 1);
    a.v[0].shard = 4;
    CHECK(crl_snapshot_save(path, 4, &a, 1, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 1);
    a.v[0].shard = 0;
    a.v[1].reason = 7;
    CHECK(crl_snapshot_save(path, 4, &a, 1, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 1);
    a.v[1].reason = 4;
    CHECK(crl_snapshot_save(path, 4, &a, 1, err) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 0);
    crl_entries_free(&b);
    /* A torn file is not used. */
    CHECK(truncate(path, 40) == 0);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 1);
    snprintf(path, sizeof(path), "%s/absent.snap", dir);
    CHECK(crl_snapshot_load(path, 4, &b, 0, &cutoff, err) == 1);
    crl_entries_free(&a);
    crl_entries_free(&chg);
}

/* A revoked log replayed in pieces of every size gives what it gives
 * whole: records cut anywhere, the 4-byte record head included, are put
 * together; a cut last record or a bad one is refused. */
static void test_revlog_pieces(void)
{
    static unsigned char log[64 * OCSP_REVLOG_REC_MAX];
    ocsp_issuer_conf_t issuer_conf;
    crl_issuer_conf_t crl_issuer;
    crl_entries_t whole = {0};
    size_t len = 0;
    long n;

    memset(&issuer_conf, 0, sizeof(issuer_conf));
    memset(&crl_issuer, 0, sizeof(crl_issuer));
    crl_issuer.issuer_conf = &issuer_conf;
    crl_issuer.expired_after = 3600;
    for (int i = 0; i < 40; i++) {
        char serial[OCSP_SERIAL_HEX_MAX + 1];
        unsigned char val[OCSP_RECORD_MAX];
        Revoca__CertRecord rec = REVOCA__CERT_RECORD__INIT;
        size_t vlen;

        /* lengths 1..40, canonical (no leading zero) */
        for (int k = 0; k <= i; k++) {
            serial[k] = "123456789abcdef"[(i * 7 + k) % 15];
        }
        serial[i + 1] = '\0';
        rec.serial = serial;
        rec.status = REVOCA__STATUS__REVOKED;
        rec.has_revocation_time = 1;
        rec.revocation_time = 1700000000 + i;
        rec.has_not_after = 1;
        rec.not_after = 1900000000;
        vlen = revoca__cert_record__pack(&rec, val);
        len += ocsp_revlog_record(log + len, serial, i % 5 == 4 ? NULL : val,
                                  vlen);
    }
    n = crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len, len, 0, &whole);
    CHECK(n == 40 && whole.n == 40);
    /* in any pieces, on one thread or two: the same entries in the same
     * order (the later record of a serial must stay later) */
    for (int threads = 0; threads < 2; threads++) {
        for (size_t piece = 1; piece < len; piece++) {
            crl_entries_t t = {0};
            CHECK(crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len, piece,
                                    threads, &t) == 40);
            CHECK(t.n == whole.n &&
                  memcmp(t.v, whole.v, whole.n * sizeof(crl_entry_t)) == 0);
            crl_entries_free(&t);
        }
    }
    for (int threads = 0; threads < 2; threads++) {
        crl_entries_t t = {0};
        CHECK(crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len - 1, 7,
                                threads, &t) == -1);
        crl_entries_free(&t);
        log[0] = 'Z';
        CHECK(crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len, 7,
                                threads, &t) == -1);
        crl_entries_free(&t);
        log[0] = 'A';
        {
            /* an invalid record in a piece the second thread decodes:
             * the first record starting past the middle */
            ocsp_revlog_rec_t r;
            size_t at = 0;
            long used;

            while ((used = ocsp_revlog_next(log + at, len - at, &r)) > 0 &&
                   at < len / 2) {
                at += (size_t)used;
            }
            CHECK(at < len && log[at] == 'A');
            if (at < len && log[at] == 'A') {
                /* a valid header, a value no protobuf decodes: found by
                 * the decoding, not the split */
                unsigned char save[OCSP_RECORD_MAX];
                size_t vat = at + 4 + log[at + 1];
                size_t vlen = (size_t)log[at + 2] << 8 | log[at + 3];

                memcpy(save, log + vat, vlen);
                memset(log + vat, 0xff, vlen);
                CHECK(crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len,
                                        64, threads, &t) == -1);
                memcpy(log + vat, save, vlen);
                crl_entries_free(&t);
                log[at] = 'Z'; /* an invalid header: found by the split */
                CHECK(crl_revlog_replay(&crl_issuer, 1800000000, 0, log, len,
                                        64, threads, &t) == -1);
                log[at] = 'A';
                crl_entries_free(&t);
            }
        }
    }
    crl_entries_free(&whole);
}

/* Packs a CertRecord for SERIAL of STATUS (revocation time and reason
 * when >= 0) into val; returns its length. */
static size_t pack_record(unsigned char *val, char *serial, int status,
                          int64_t rev_time, int reason, int64_t not_after)
{
    Revoca__CertRecord rec = REVOCA__CERT_RECORD__INIT;

    rec.serial = serial;
    rec.status = (Revoca__Status)status;
    rec.has_revocation_time = rev_time >= 0;
    rec.revocation_time = rev_time >= 0 ? rev_time : 0;
    rec.has_reason = reason >= 0;
    rec.reason = (Revoca__Reason)(reason >= 0 ? reason : 0);
    rec.has_not_after = not_after > 0;
    rec.not_after = not_after;
    return revoca__cert_record__pack(&rec, val);
}

/* The record-to-entry decision under each profile, and every record the
 * signer never writes refused with a reason. */
static void test_record_entry(void)
{
    static const struct {
        int status, reason;
        int64_t rev_time, not_after;
        crl_record_e priv, cabf;
        uint8_t reason_priv, reason_cabf;
    } cases[] = {
        {REVOCA__STATUS__REVOKED, 1, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_LISTED, 1, 1},
        /* unspecified is expressed by omission (RFC 5280 5.3.1) */
        {REVOCA__STATUS__REVOKED, 0, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_LISTED, CRL_REASON_ABSENT, CRL_REASON_ABSENT},
        {REVOCA__STATUS__REVOKED, -1, 1700000000, 0, CRL_RECORD_LISTED,
         CRL_RECORD_LISTED, CRL_REASON_ABSENT, CRL_REASON_ABSENT},
        /* BR 7.2.2: caCompromise and aACompromise are left out */
        {REVOCA__STATUS__REVOKED, 2, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_REASON_CLEARED, 2, CRL_REASON_ABSENT},
        {REVOCA__STATUS__REVOKED, 10, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_REASON_CLEARED, 10, CRL_REASON_ABSENT},
        {REVOCA__STATUS__REVOKED, 9, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_LISTED, 9, 9},
        /* BR 7.2.2: no certificateHold */
        {REVOCA__STATUS__HELD, 6, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_HOLD_OMITTED, CRL_REASON_HOLD, CRL_REASON_HOLD},
        {REVOCA__STATUS__HELD, -1, 1700000000, 1900000000, CRL_RECORD_LISTED,
         CRL_RECORD_HOLD_OMITTED, CRL_REASON_HOLD, CRL_REASON_HOLD},
        /* expired past the retention (now 1800000000, 3600 s) */
        {REVOCA__STATUS__REVOKED, 1, 1700000000, 1799990000, CRL_RECORD_EXPIRED,
         CRL_RECORD_EXPIRED, 1, 1},
        {REVOCA__STATUS__REVOKED, 1, 1700000000, 1799999000, CRL_RECORD_LISTED,
         CRL_RECORD_LISTED, 1, 1},
        /* invalid: unknown status, reason 99, held without a time, good */
        {5, 1, 1700000000, 1900000000, CRL_RECORD_INVALID, CRL_RECORD_INVALID,
         0, 0},
        {REVOCA__STATUS__REVOKED, 99, 1700000000, 1900000000,
         CRL_RECORD_INVALID, CRL_RECORD_INVALID, 0, 0},
        {REVOCA__STATUS__HELD, 6, -1, 1900000000, CRL_RECORD_INVALID,
         CRL_RECORD_INVALID, 0, 0},
        {REVOCA__STATUS__GOOD, -1, -1, 1900000000, CRL_RECORD_INVALID,
         CRL_RECORD_INVALID, 0, 0},
    };
    ocsp_issuer_conf_t issuer_conf;
    crl_issuer_conf_t crl_issuer;
    unsigned char val[OCSP_RECORD_MAX];
    char serial[] = "8badf00d";
    crl_entry_t e;
    const char *why;
    size_t vlen;

    memset(&issuer_conf, 0, sizeof(issuer_conf));
    memset(&crl_issuer, 0, sizeof(crl_issuer));
    crl_issuer.issuer_conf = &issuer_conf;
    crl_issuer.expired_after = 3600;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        for (int cabf = 0; cabf <= 1; cabf++) {
            crl_record_e want = cabf ? cases[i].cabf : cases[i].priv;
            crl_record_e d;

            issuer_conf.profile =
                cabf ? OCSP_PROFILE_CABF : OCSP_PROFILE_PRIVATE;
            vlen = pack_record(val, serial, cases[i].status, cases[i].rev_time,
                               cases[i].reason, cases[i].not_after);
            why = NULL;
            d = crl_record_entry(&crl_issuer, 1800000000, serial,
                                 strlen(serial), (const char *)val, vlen, 3, &e,
                                 &why);
            CHECK(d == want);
            if (d != want) {
                fprintf(stderr, "  case %zu cabf %d: %d\n", i, cabf, (int)d);
            }
            if (want == CRL_RECORD_INVALID) {
                CHECK(why != NULL && why[0] != '\0');
                continue;
            }
            CHECK(e.reason ==
                  (cabf ? cases[i].reason_cabf : cases[i].reason_priv));
            CHECK(e.shard == 3 && e.revoked_at == cases[i].rev_time);
            CHECK(e.serial[CRL_SERIAL_LEN - 1] == 0x0d &&
                  e.serial[CRL_SERIAL_LEN - 4] == 0x8b);
            CHECK(crl_record_listed(d) ==
                  (d == CRL_RECORD_LISTED || d == CRL_RECORD_REASON_CLEARED));
        }
    }
    /* a field that is not the record's serial, or not canonical */
    issuer_conf.profile = OCSP_PROFILE_PRIVATE;
    vlen = pack_record(val, serial, REVOCA__STATUS__REVOKED, 1700000000, 1, 0);
    CHECK(crl_record_entry(&crl_issuer, 1800000000, "8badf00e", 8,
                           (const char *)val, vlen, 0, &e,
                           &why) == CRL_RECORD_INVALID);
    CHECK(crl_record_entry(&crl_issuer, 1800000000, "08badf00d", 9,
                           (const char *)val, vlen, 0, &e,
                           &why) == CRL_RECORD_INVALID);
    CHECK(strstr(why, "serial") != NULL);
    CHECK(crl_record_entry(&crl_issuer, 1800000000, serial, strlen(serial),
                           "\xff\xff", 2, 0, &e, &why) == CRL_RECORD_INVALID);
    {
        char out[8];
        crl_record_printable(out, sizeof(out), "ab\ncd\001efgh", 10);
        CHECK_STR(out, "ab?cd?e");
    }
}

/* crl_build_file() into a temporary file; its content (malloc'd) and
 * length, or NULL. */
static unsigned char *build_file(const crl_signer_t *s, const crl_params_t *p,
                                 const crl_entries_t *a, int flags, size_t *len)
{
    char path[] = "/tmp/crlunit-fileXXXXXX", err[OCSP_ERR_MAX];
    int fd = mkstemp(path);
    unsigned char *out = NULL;
    size_t n = 0;

    if (fd < 0) {
        return NULL;
    }
    unlink(path);
    if (crl_build_file(s, p, a->v, a->n, fd, flags, &n, err) != 0) {
        fprintf(stderr, "crl_build_file: %s\n", err);
    } else if (lseek(fd, 0, SEEK_END) == (off_t)n &&
               (out = malloc(n)) != NULL &&
               pread(fd, out, n, 0) != (ssize_t)n) {
        free(out);
        out = NULL;
    }
    close(fd);
    *len = n;
    return out;
}

/* The streamed CRL is the in-memory one, octet for octet (RSA PKCS#1 v1.5
 * signatures are deterministic), for no entries, a few, and enough for a
 * 4-octet outer length (X.690 8.1.3.5, over 16 MB); streamed, signed in one
 * shot, and moved down behind a shorter header.  With ECDSA, whose
 * signatures differ, the TBS is the same and the file passes the check. */
static void test_build_file(const char *dir)
{
    static const size_t sizes[] = {0, 3, 5000, 400000};
    static const int flagsets[] = {0, CRL_BUILD_ONE_SHOT, CRL_BUILD_MOVE,
                                   CRL_BUILD_ONE_SHOT | CRL_BUILD_MOVE};
    crl_signer_t rsa, ec;
    crl_entries_t a = {0}, none = {0};
    char err[OCSP_ERR_MAX], cert[512], key[512];
    unsigned long x = 5;

    snprintf(cert, sizeof(cert), "%s/rsa.pem", dir);
    snprintf(key, sizeof(key), "%s/rsa.key", dir);
    CHECK(crl_signer_load(&rsa, cert, key, NULL, NULL, NULL, err) == 0);
    snprintf(cert, sizeof(cert), "%s/ca.pem", dir);
    snprintf(key, sizeof(key), "%s/ca.key", dir);
    CHECK(crl_signer_load(&ec, cert, key, NULL, NULL, NULL, err) == 0);

    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        a.n = 0;
        for (size_t i = 0; i < sizes[si]; i++) {
            crl_entry_t *e = crl_entries_push(&a);
            for (int k = 4; k < CRL_SERIAL_LEN; k++) {
                x = x * 6364136223846793005UL + 1442695040888963407UL;
                e->serial[k] = (unsigned char)(x >> 56);
            }
            e->revoked_at = 1700000000 + (int64_t)(x % 9999999);
            e->reason =
                i % 3 ? CRL_REASON_ABSENT : (uint8_t)(i % 10 == 7 ? 6 : 1);
            e->invalidity = i % 5 == 0 ? e->revoked_at - 3600 : 0;
            e->shard = (uint16_t)(i % 2);
        }
        crl_entries_sort(&a);
        for (int kind = 0; kind < 3; kind++) {
            crl_params_t p;
            unsigned char *mem = NULL, *file;
            size_t mlen = 0, flen = 0;

            memset(&p, 0, sizeof(p));
            p.kind = kind == 0   ? CRL_KIND_FULL
                     : kind == 1 ? CRL_KIND_DELTA
                                 : CRL_KIND_SHARD;
            p.number = 10 + si;
            p.base_number = 9;
            p.this_update = 1700000100;
            p.next_update = 1700600100;
            p.freshest_url = "http://x.test/d.crl";
            p.idp_url = "http://x.test/s1.crl";
            p.shard = 1;
            if (kind != 0 && sizes[si] > 5000) {
                continue; /* the long lengths once are enough */
            }
            CHECK(crl_build(&rsa, &p, a.v, a.n, &mem, &mlen, err) == 0);
            for (size_t fi = 0; fi < sizeof(flagsets) / sizeof(flagsets[0]);
                 fi++) {
                file = build_file(&rsa, &p, &a, flagsets[fi], &flen);
                CHECK(file != NULL && flen == mlen &&
                      memcmp(file, mem, mlen) == 0);
                if (file == NULL || flen != mlen ||
                    memcmp(file, mem, mlen) != 0) {
                    fprintf(stderr, "build_file n %zu kind %d flags %d\n",
                            sizes[si], kind, flagsets[fi]);
                }
                free(file);
            }
            if (sizes[si] == 400000) {
                CHECK(mlen > ((size_t)1 << 24) && mem[1] == 0x84);
            }
            if (sizes[si] == 0) {
                crl_parsed_t c;
                CHECK(crl_parse(mem, mlen, &c) == 0 && c.entries == NULL);
            }
            free(mem);
            mem = NULL;

            /* ECDSA: the same TBS, a signature that verifies */
            CHECK(crl_build(&ec, &p, a.v, a.n, &mem, &mlen, err) == 0);
            for (size_t fi = 0; fi < sizeof(flagsets) / sizeof(flagsets[0]);
                 fi++) {
                crl_parsed_t cm, cf;

                file = build_file(&ec, &p, &a, flagsets[fi], &flen);
                CHECK(file != NULL && mem != NULL &&
                      crl_parse(file, flen, &cf) == 0 &&
                      crl_parse(mem, mlen, &cm) == 0 &&
                      cf.tbs_len == cm.tbs_len &&
                      memcmp(cf.tbs, cm.tbs, cm.tbs_len) == 0);
                CHECK(file != NULL && crl_check(&ec, file, flen, 0, NULL, 0, 0,
                                                0, &none, err) == 0);
                if (file != NULL && flen > 100) {
                    /* a flipped signed octet is caught in the one pass */
                    file[flen / 2] ^= 1;
                    CHECK(crl_check(&ec, file, flen, 0, NULL, 0, 0, 0, &none,
                                    err) != 0);
                }
                free(file);
            }
            free(mem);
        }
    }
    crl_entries_free(&a);
    crl_signer_free(&rsa);
    crl_signer_free(&ec);
}

int main(void)
{
    char dir[] = "/tmp/crlunitXXXXXX";

    test_serials();
    test_serials_random();
    test_sort();
    test_sort_random();
    test_dp_name();
    test_revlog_pieces();
    test_record_entry();
    if (mkdtemp(dir) == NULL) {
        return 1;
    }
    make_ca(dir);
    test_build(dir);
    test_build_times(dir);
    test_build_file(dir);
    test_snapshot(dir);
    {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
        if (system(cmd) != 0) {
            fprintf(stderr, "cleanup failed\n");
        }
    }
    CHECK_DONE();
}
