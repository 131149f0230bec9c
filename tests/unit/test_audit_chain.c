/* The audit chain and checkpoint codec (docs/audit.md). */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "audit_chain.h"
#include "check.h"

static void test_genesis(void)
{
    unsigned char g[OCSP_AUDIT_LINK_LEN], w[OCSP_AUDIT_LINK_LEN];

    ocsp_audit_genesis(g);
    unsigned int wl = 0;
    EVP_Digest("revoca-audit-v1 genesis", 23, w, &wl, EVP_sha256(), NULL);
    CHECK(memcmp(g, w, sizeof(g)) == 0);
}

static void test_ids(void)
{
    CHECK(ocsp_audit_id_check("0-0", 3) == 0);
    CHECK(ocsp_audit_id_check("1700000000000-12", 16) == 0);
    CHECK(ocsp_audit_id_check("18446744073709551615-18446744073709551615",
                              41) == 0);
    CHECK(ocsp_audit_id_check("18446744073709551616-0", 22) == -1);
    CHECK(ocsp_audit_id_check("01-0", 4) == -1);
    CHECK(ocsp_audit_id_check("1-01", 4) == -1);
    CHECK(ocsp_audit_id_check("1-", 2) == -1);
    CHECK(ocsp_audit_id_check("-1", 2) == -1);
    CHECK(ocsp_audit_id_check("1", 1) == -1);
    CHECK(ocsp_audit_id_check("1-2-3", 5) == -1);
    CHECK(ocsp_audit_id_check("", 0) == -1);
    CHECK(ocsp_audit_id_cmp("9-5", "10-0") < 0);
    CHECK(ocsp_audit_id_cmp("10-1", "10-0") > 0);
    CHECK(ocsp_audit_id_cmp("10-1", "10-1") == 0);
}

/* The link is the documented SHA-256 over length-prefixed parts, and
 * moving a byte between id and field changes it. */
static void test_link(void)
{
    unsigned char g[OCSP_AUDIT_LINK_LEN], l[OCSP_AUDIT_LINK_LEN],
        w[OCSP_AUDIT_LINK_LEN], m[OCSP_AUDIT_LINK_LEN];
    unsigned char buf[OCSP_AUDIT_LINK_LEN + 4 + 3 + 4 + 2];
    unsigned char field[] = {0x0a, 0x00};

    ocsp_audit_genesis(g);
    CHECK(ocsp_audit_link(g, "1-0", 3, field, 2, l) == 0);
    memcpy(buf, g, 32);
    memcpy(buf + 32,
           "\0\0\0\003"
           "1-0"
           "\0\0\0\002",
           11);
    memcpy(buf + 43, field, 2);
    {
        unsigned int bl = 0;
        EVP_Digest(buf, sizeof(buf), w, &bl, EVP_sha256(), NULL);
    }
    CHECK(memcmp(l, w, 32) == 0);
    CHECK(ocsp_audit_link(g, "1-0", 3, field, 1, m) == 0);
    CHECK(memcmp(l, m, 32) != 0);
    CHECK(ocsp_audit_link(l, "1-0", 3, field, 2, m) == 0);
    CHECK(memcmp(l, m, 32) != 0);
    CHECK(ocsp_audit_link(g, "1-00", 4, field, 2, m) == -1);
    CHECK(ocsp_audit_link(g, "1-0", 3, field, OCSP_AUDIT_FIELD_MAX + 1, m) ==
          -1);
}

static void test_checkpoint(void)
{
    ocsp_audit_checkpoint_t cp = {0}, back;
    char buf[OCSP_AUDIT_CHECKPOINT_MAX], hex[65];
    int n;

    cp.count = 42;
    strcpy(cp.last_id, "1700000000000-3");
    ocsp_audit_genesis(cp.head);
    cp.time_ms = 1700000000123;
    n = ocsp_audit_checkpoint_encode(&cp, buf, sizeof(buf));
    CHECK(n > 0);
    ocsp_audit_link_hex(cp.head, hex);
    {
        char want[OCSP_AUDIT_CHECKPOINT_MAX];
        snprintf(want, sizeof(want),
                 "revoca-audit-checkpoint-v1\ncount=42\nlast=1700000000000-3\n"
                 "head=%s\ntime=1700000000123\n",
                 hex);
        CHECK(n == (int)strlen(want) && memcmp(buf, want, (size_t)n) == 0);
    }
    CHECK(ocsp_audit_checkpoint_decode(buf, (size_t)n, &back) == 0);
    CHECK(back.count == 42 && back.time_ms == cp.time_ms);
    CHECK_STR(back.last_id, cp.last_id);
    CHECK(memcmp(back.head, cp.head, 32) == 0);
    /* Nothing but the canonical bytes: truncated, extended, each byte
     * changed to anything, decodes to the same checkpoint or fails. */
    CHECK(ocsp_audit_checkpoint_decode(buf, (size_t)n - 1, &back) == -1);
    {
        char longer[OCSP_AUDIT_CHECKPOINT_MAX + 1];
        memcpy(longer, buf, (size_t)n);
        longer[n] = '\n';
        CHECK(ocsp_audit_checkpoint_decode(longer, (size_t)n + 1, &back) == -1);
    }
    for (int i = 0; i < n; i++) {
        for (unsigned b = 0; b < 256; b++) {
            char t[OCSP_AUDIT_CHECKPOINT_MAX];
            if ((unsigned char)buf[i] == b) {
                continue;
            }
            memcpy(t, buf, (size_t)n);
            t[i] = (char)b;
            if (ocsp_audit_checkpoint_decode(t, (size_t)n, &back) == 0) {
                /* A valid other checkpoint: must differ from cp. */
                CHECK(back.count != cp.count || back.time_ms != cp.time_ms ||
                      strcmp(back.last_id, cp.last_id) != 0 ||
                      memcmp(back.head, cp.head, 32) != 0);
            }
        }
    }
    CHECK(ocsp_audit_checkpoint_decode("revoca-audit-checkpoint-v1\ncount=01\n",
                                       36, &back) == -1);
}

static void test_store(void)
{
    unsigned char g[OCSP_AUDIT_LINK_LEN], l[OCSP_AUDIT_LINK_LEN];
    char buf[OCSP_AUDIT_HEAD_MAX + 1], id[OCSP_AUDIT_ID_MAX + 1];
    uint64_t count = 0;
    int n;

    ocsp_audit_genesis(g);
    n = ocsp_audit_head_encode(7, "5-1", g, buf);
    CHECK(n == 1 + 1 + 3 + 1 + 64);
    CHECK(ocsp_audit_head_decode(buf, (size_t)n, &count, id, l) == 0);
    CHECK(count == 7 && strcmp(id, "5-1") == 0 && memcmp(l, g, 32) == 0);
    CHECK(ocsp_audit_head_decode(buf, (size_t)n - 1, &count, id, l) == -1);
    CHECK(ocsp_audit_head_decode("07 5-1 x", 8, &count, id, l) == -1);
    n = ocsp_audit_rec_encode("0-0", g, buf);
    CHECK(n == 3 + 1 + 64);
    CHECK(ocsp_audit_rec_decode(buf, (size_t)n, id, l) == 0);
    CHECK_STR(id, "0-0");
    buf[4] = 'G';
    CHECK(ocsp_audit_rec_decode(buf, (size_t)n, id, l) == -1);
    CHECK(ocsp_audit_rec_encode("1-01", g, buf) == -1);
}

int main(void)
{
    test_store();
    test_genesis();
    test_ids();
    test_link();
    test_checkpoint();
    CHECK_DONE();
}
