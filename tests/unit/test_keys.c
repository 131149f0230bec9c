/* The Redis key scheme (keys.h): every key's exact bytes, the longest key
 * that fits, one more octet refused with -1 and an empty buffer. */
#include "check.h"
#include "config.h"
#include "keys.h"

#define KEY(call, want)                                                        \
    do {                                                                       \
        int n_ = (call);                                                       \
        CHECK(n_ == (int)strlen(want));                                        \
        CHECK_STR(buf, want);                                                  \
    } while (0)

static void test_each_key(void)
{
    char buf[OCSP_KEY_MAX];

    KEY(ocsp_key_events(buf, "revoca"), "revoca:events");
    KEY(ocsp_key_cert(buf, "revoca", "demo", "1a2b"), "revoca:cert:demo:1a2b");
    KEY(ocsp_key_ocsp(buf, "revoca", "demo", "1a2b"), "revoca:ocsp:demo:1a2b");
    KEY(ocsp_key_invalidate(buf, "revoca"), "revoca:invalidate");
    KEY(ocsp_key_invalidate(buf, "p"), "p:invalidate");
    KEY(ocsp_key_due(buf, "revoca", "demo"), "revoca:due:demo");
    KEY(ocsp_key_revoked(buf, "revoca", "demo", 0), "revoca:revoked:demo:0");
    KEY(ocsp_key_revoked(buf, "p", "ca-2", 4294967295u),
        "p:revoked:ca-2:4294967295");
    KEY(ocsp_key_revlog(buf, "revoca", "demo", 7), "revoca:revlog:demo:7");
    KEY(ocsp_key_changes(buf, "revoca", "demo"), "revoca:changes:demo");
    KEY(ocsp_key_crlnumber(buf, "revoca", "demo"), "revoca:crlnumber:demo");
    KEY(ocsp_key_crl_lease(buf, "revoca", "demo"), "revoca:crlgen-lease:demo");
    KEY(ocsp_key_crl_state(buf, "revoca", "demo"), "revoca:crlgen-state:demo");
    /* SHA-256("/var/lib/cfssl/certdb.sqlite"), its first 16 octets */
    KEY(ocsp_key_import(buf, "revoca", "demo", "cfssl",
                        "/var/lib/cfssl/certdb.sqlite"),
        "revoca:import:demo:cfssl:121c5f7df7e596910b17665b16a51a37");
    KEY(ocsp_key_revlog_rebuild(buf, "revoca", "demo", 3, 4242, 1764620000123L),
        "revoca:revlog:demo:3:rebuild:4242:1764620000123");
    /* the longest rebuild key of the scheme fits */
    {
        char prefix[OCSP_PREFIX_MAX + 1], issuer[OCSP_ISSUER_NAME_MAX + 1];
        memset(prefix, 'p', OCSP_PREFIX_MAX);
        prefix[OCSP_PREFIX_MAX] = '\0';
        memset(issuer, 'i', OCSP_ISSUER_NAME_MAX);
        issuer[OCSP_ISSUER_NAME_MAX] = '\0';
        CHECK(ocsp_key_revlog_rebuild(buf, prefix, issuer, 4294967295u,
                                      2147483647L, 9223372036854775807L) > 0);
    }
}

/* A prefix of LEN 'p's. */
static const char *prefix_of(size_t len)
{
    static char p[2 * OCSP_KEY_MAX];
    memset(p, 'p', len);
    p[len] = '\0';
    return p;
}

/* For each builder: the key of OCSP_KEY_MAX - 1 octets fits, one more is
 * refused; FIXED is the key's length without its prefix. */
static void test_overflow(void)
{
    char buf[OCSP_KEY_MAX + 1];
    const char *ser = "1a2b";
    int fixed, i;

    struct {
        int fixed;
        int which;
    } keys[] = {
        {(int)strlen(":events"), 0},
        {(int)strlen(":cert:demo:1a2b"), 1},
        {(int)strlen(":ocsp:demo:1a2b"), 2},
        {(int)strlen(":due:demo"), 3},
        {(int)strlen(":revoked:demo:12"), 4},
        {(int)strlen(":revlog:demo:12"), 5},
        {(int)strlen(":changes:demo"), 6},
        {(int)strlen(":crlnumber:demo"), 7},
        {(int)strlen(":crlgen-state:demo"), 8},
    };

    for (i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++) {
        for (int extra = 0; extra <= 1; extra++) {
            const char *pre;
            int n = -2;
            fixed = keys[i].fixed;
            pre = prefix_of((size_t)(OCSP_KEY_MAX - 1 - fixed + extra));
            buf[OCSP_KEY_MAX] = 'X'; /* never written */
            switch (keys[i].which) {
            case 0:
                n = ocsp_key_events(buf, pre);
                break;
            case 1:
                n = ocsp_key_cert(buf, pre, "demo", ser);
                break;
            case 2:
                n = ocsp_key_ocsp(buf, pre, "demo", ser);
                break;
            case 3:
                n = ocsp_key_due(buf, pre, "demo");
                break;
            case 4:
                n = ocsp_key_revoked(buf, pre, "demo", 12);
                break;
            case 5:
                n = ocsp_key_revlog(buf, pre, "demo", 12);
                break;
            case 6:
                n = ocsp_key_changes(buf, pre, "demo");
                break;
            case 7:
                n = ocsp_key_crlnumber(buf, pre, "demo");
                break;
            case 8:
                n = ocsp_key_crl_state(buf, pre, "demo");
                break;
            }
            if (extra == 0) {
                CHECK(n == OCSP_KEY_MAX - 1 && strlen(buf) == (size_t)n);
            } else {
                CHECK(n == -1 && buf[0] == '\0');
            }
            CHECK(buf[OCSP_KEY_MAX] == 'X');
        }
    }
}

static void test_status_field(void)
{
    CHECK_STR(ocsp_status_field(0), "good");
    CHECK_STR(ocsp_status_field(1), "revoked");
    CHECK_STR(ocsp_status_field(2), "unknown");
    CHECK_STR(ocsp_status_field(3), "unknown");
    CHECK_STR(ocsp_status_field(-1), "unknown");
}

/* The inventory's SCAN pattern: the prefix's glob characters escaped, the
 * serial's offset that of ocsp_key_cert()'s. */
static void test_cert_match(void)
{
    char buf[OCSP_KEY_MAX], key[OCSP_KEY_MAX];
    size_t at = 0;

    CHECK(ocsp_key_cert_match(buf, "revoca", "demo", &at) > 0);
    CHECK_STR(buf, "revoca:cert:demo:*");
    ocsp_key_cert(key, "revoca", "demo", "1a");
    CHECK(at == strlen(key) - 2 && strcmp(key + at, "1a") == 0);
    CHECK(ocsp_key_cert_match(buf, "a*b?[c]\\d", "x-1", &at) > 0);
    CHECK_STR(buf, "a\\*b\\?\\[c\\]\\\\d:cert:x-1:*");
    ocsp_key_cert(key, "a*b?[c]\\d", "x-1", "ff");
    CHECK(strcmp(key + at, "ff") == 0);
}

int main(void)
{
    test_cert_match();
    test_each_key();
    test_overflow();
    test_status_field();
    CHECK_DONE();
}
