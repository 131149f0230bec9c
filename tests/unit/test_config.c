/* Config loading: defaults, and errors that name the file and line. */
#include <stdlib.h>
#include <unistd.h>

#include <openssl/x509v3.h>

#include "check.h"
#include "config.h"
#include "policy.h"
#include "shard.h"

static char path[] = "/tmp/revoca-test-XXXXXX.conf";

static int load(const char *text, ocsp_config_t *cf, char *err)
{
    FILE *f = fopen(path, "w");
    fputs(text, f);
    fclose(f);
    return ocsp_config_load(cf, path, err);
}

static void bad(const char *text, const char *line_and_msg)
{
    ocsp_config_t cf;
    char err[OCSP_ERR_MAX], want[OCSP_ERR_MAX];

    snprintf(want, sizeof(want), "%s:%s", path, line_and_msg);
    CHECK(load(text, &cf, err) == -1);
    if (strncmp(err, want, strlen(want)) != 0) {
        fprintf(stderr, "got: %s\nwant: %s\n", err, want);
        CHECK(0);
    }
}

/* A certificate with cRLDistributionPoints CDP (OpenSSL's config syntax,
 * e.g. "URI:http://a,URI:http://b"), twice when TWICE, none when NULL.
 * Unsigned: ocsp_shard_from_cert() reads only the extension. */
static X509 *cert_with_cdp(const char *cdp, int twice)
{
    X509 *x = X509_new();
    int i;

    for (i = 0; cdp != NULL && i < 1 + twice; i++) {
        X509_EXTENSION *e = X509V3_EXT_conf_nid(
            NULL, NULL, NID_crl_distribution_points, (char *)cdp);
        CHECK(e != NULL && X509_add_ext(x, e, -1) == 1);
        X509_EXTENSION_free(e);
    }
    return x;
}

/* ocsp_shard_from_cert() of a certificate with CDP, given REQUESTED: its
 * return value, the shard in *shard and the reason in why. */
static int shard_of(const ocsp_issuer_conf_t *ic, const char *cdp, int twice,
                    unsigned requested, unsigned *shard, char *why)
{
    X509 *x = cert_with_cdp(cdp, twice);
    ocsp_shard_t res;
    int r = ocsp_shard_from_cert(ic, x, requested, &res);

    *shard = res.shard;
    snprintf(why, OCSP_ERR_MAX, "%s", res.err);
    X509_free(x);
    return r;
}

static void shard_checks(ocsp_config_t *cf)
{
    const ocsp_issuer_conf_t *ic = ocsp_config_issuer(cf, "s");
    const ocsp_issuer_conf_t *one = ocsp_config_issuer(cf, "one");
    const ocsp_issuer_conf_t *bare = ocsp_config_issuer(cf, "bare");
    const ocsp_issuer_conf_t *nourls = ocsp_config_issuer(cf, "nourls");
    const ocsp_issuer_conf_t *fullonly = ocsp_config_issuer(cf, "fullonly");
    char why[OCSP_ERR_MAX];
    unsigned sh;

    /* the shard its distribution point names, whatever the serial */
    CHECK(shard_of(ic, "URI:http://o/1", 0, OCSP_SHARD_ANY, &sh, why) == 0 &&
          sh == 1);
    CHECK(shard_of(ic, "URI:http://o/1", 0, 1, &sh, why) == 0 && sh == 1);
    CHECK(shard_of(ic, "URI:http://o/1", 0, 2, &sh, why) == -1);
    CHECK(strstr(why, "shard 2 was given") && strstr(why, "\"http://o/1\""));
    /* another URL of the same DP list may be anything */
    CHECK(shard_of(ic, "URI:ldap://x/cn=crl,URI:http://o/2", 0, OCSP_SHARD_ANY,
                   &sh, why) == 0 &&
          sh == 2);
    /* the full CRL lists every shard: the request or the serial decides */
    CHECK(shard_of(ic, "URI:http://o/s.crl", 0, OCSP_SHARD_ANY, &sh, why) ==
              0 &&
          sh == OCSP_SHARD_ANY);
    CHECK(shard_of(ic, "URI:http://o/s.crl", 0, 3, &sh, why) == 0 && sh == 3);
    CHECK(shard_of(ic, "URI:http://o/s.crl,URI:http://o/0", 0, 0, &sh, why) ==
              0 &&
          sh == 0);
    /* no CDP: no CRL client reads a CRL for it */
    CHECK(shard_of(ic, NULL, 0, OCSP_SHARD_ANY, &sh, why) == 0 &&
          sh == OCSP_SHARD_ANY);
    /* refused: no such shard, a prefix, two shards, no URL, unreadable */
    CHECK(shard_of(ic, "URI:http://o/4", 0, OCSP_SHARD_ANY, &sh, why) == -1);
    CHECK(strstr(why, "\"http://o/4\" is no CRL of issuer s") != NULL);
    CHECK(shard_of(ic, "URI:http://o/1x", 0, OCSP_SHARD_ANY, &sh, why) == -1);
    CHECK(shard_of(ic, "URI:http://o/", 0, OCSP_SHARD_ANY, &sh, why) == -1);
    CHECK(shard_of(ic, "URI:http://o/0,URI:http://o/3", 0, OCSP_SHARD_ANY, &sh,
                   why) == -1);
    CHECK(strstr(why, "shards 0 and 3") != NULL);
    CHECK(shard_of(ic, "DNS:o.example", 0, OCSP_SHARD_ANY, &sh, why) == -1);
    CHECK(strstr(why, "name no URL") != NULL);
    CHECK(shard_of(ic, "URI:http://o/1", 1, OCSP_SHARD_ANY, &sh, why) == -1);
    CHECK(strstr(why, "appears twice") != NULL);
    /* one shard: its URL is checked when configured, else nothing */
    CHECK(shard_of(one, "URI:http://o/one.crl", 0, OCSP_SHARD_ANY, &sh, why) ==
          0);
    CHECK(shard_of(one, "URI:http://o/other.crl", 0, OCSP_SHARD_ANY, &sh,
                   why) == -1);
    CHECK(shard_of(bare, "URI:http://anywhere/x.crl", 0, 0, &sh, why) == 0 &&
          sh == 0);
    CHECK(shard_of(bare, "URI:http://anywhere/x.crl", 1, OCSP_SHARD_ANY, &sh,
                   why) == 0);
    /* no CRL URL at all, however many shards: nothing to check */
    CHECK(shard_of(nourls, "URI:http://o/1", 0, OCSP_SHARD_ANY, &sh, why) ==
              0 &&
          sh == OCSP_SHARD_ANY);
    CHECK(shard_of(nourls, "URI:http://o/1", 0, 1, &sh, why) == 0 && sh == 1);
    /* several shards, a full CRL URL but no shard URLs: only the full CRL */
    CHECK(shard_of(fullonly, "URI:http://o/f.crl", 0, OCSP_SHARD_ANY, &sh,
                   why) == 0);
    CHECK(shard_of(fullonly, "URI:http://o/1", 0, OCSP_SHARD_ANY, &sh, why) ==
          -1);
    CHECK(strstr(why, "no shard URLs") != NULL);
}

int main(void)
{
    ocsp_config_t cf;
    char err[OCSP_ERR_MAX];
    const ocsp_issuer_conf_t *ic;
    int64_t d;
    int fd = mkstemps(path, 5);

    close(fd);
    CHECK(load("issuers = ( { name = \"a-1\"; cert = \"ca.pem\"; } );\n", &cf,
               err) == 0);
    ic = ocsp_config_issuer(&cf, "a-1");
    CHECK(ic != NULL);
    CHECK(cf.redis_port == 6379 && strcmp(cf.prefix, "revoca") == 0);
    CHECK(ic->validity == 4 * 86400 && ic->resign_after == 2 * 86400);
    CHECK(ic->backdate == 3600 && ic->unissued == OCSP_UNISSUED_UNKNOWN);
    CHECK(ic->shards == 1 && ic->profile == OCSP_PROFILE_PRIVATE);
    CHECK(strncmp(ic->cert_path, "/tmp/", 5) == 0); /* resolved */
    ocsp_config_free(&cf);

    CHECK(load("redis = { host = \"/run/redis.sock\"; password = \"p\"; };\n"
               "prefix = \"x\";\n"
               "issuers = ( { name = \"b\"; cert = \"/ca.pem\";\n"
               " profile = \"cabf\"; validity = \"8h\"; unissued = "
               "\"revoked\"; shards = 16; } );\n",
               &cf, err) == 0);
    ic = ocsp_config_issuer(&cf, "b");
    CHECK(cf.redis_port == 0 && strcmp(cf.redis_password, "p") == 0);
    CHECK(ic->profile == OCSP_PROFILE_CABF && ic->validity == 8 * 3600);
    CHECK(ic->resign_after == 4 * 3600 && ic->shards == 16);
    CHECK(strcmp(ic->cert_path, "/ca.pem") == 0);
    ocsp_config_free(&cf);

    /* Sentinels: host:port, [IPv6]:port, a bare IPv6 or a name alone
     * (port 26379); WAIT settings. */
    CHECK(load("redis = { sentinels = ( \"10.0.0.2:26380\", \"[::1]:1\",\n"
               " \"::1\", \"s3.example\" ); master_name = \"m\";\n"
               " sentinel_password = \"sp\"; min_replica_acks = 2;\n"
               " wait_timeout = \"250ms\"; };\n"
               "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
               &cf, err) == 0);
    CHECK(cf.redis_nsentinels == 4 && strcmp(cf.redis_master_name, "m") == 0);
    CHECK(strcmp(cf.redis_sentinels[0].host, "10.0.0.2") == 0 &&
          cf.redis_sentinels[0].port == 26380);
    CHECK(strcmp(cf.redis_sentinels[1].host, "::1") == 0 &&
          cf.redis_sentinels[1].port == 1);
    CHECK(strcmp(cf.redis_sentinels[2].host, "::1") == 0 &&
          cf.redis_sentinels[2].port == 26379);
    CHECK(strcmp(cf.redis_sentinels[3].host, "s3.example") == 0 &&
          cf.redis_sentinels[3].port == 26379);
    CHECK(strcmp(cf.redis_sentinel_password, "sp") == 0 &&
          cf.redis_sentinel_user == NULL && !cf.redis_sentinel_tls);
    CHECK(cf.redis_min_replica_acks == 2 && cf.redis_wait_timeout_ms == 250);
    ocsp_config_free(&cf);
    CHECK(load("redis = { wait_timeout = 3; };\n"
               "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
               &cf, err) == 0);
    CHECK(cf.redis_nsentinels == 0 && cf.redis_min_replica_acks == 0 &&
          cf.redis_wait_timeout_ms == 3000);
    ocsp_config_free(&cf);
    bad("redis = { sentinels = ( \"a:1\",\n \"b:x\" ); master_name = "
        "\"m\"; };\nissuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: redis: sentinels[1] \"b:x\": the port must be 1..65535");

    /* CRL URLs: read once here for every component (crlgen, the CLI's
     * shard check). */
    CHECK(load("crl = { base_url = \"http://c.example/crl/\"; };\n"
               "issuers = ( { name = \"a\"; cert = \"x\"; key = \"k\";\n"
               " shards = 2; },\n"
               " { name = \"b\"; cert = \"x\"; shards = 2; crl = {\n"
               " url = \"http://o/b.crl\";\n"
               " shard_urls = [\"http://o/0\", \"http://o/1\"]; }; },\n"
               " { name = \"c\"; cert = \"x\"; key = \"k\"; },\n"
               " { name = \"nokey\"; cert = \"x\"; shards = 2; } );\n",
               &cf, err) == 0);
    ic = ocsp_config_issuer(&cf, "a");
    CHECK(strcmp(ic->crl_url, "http://c.example/crl/a.crl") == 0);
    CHECK(strcmp(ic->crl_delta_url, "http://c.example/crl/a-delta.crl") == 0);
    CHECK(strcmp(ic->crl_shard_urls[1], "http://c.example/crl/a-shard-1.crl") ==
          0);
    ic = ocsp_config_issuer(&cf, "b");
    CHECK(strcmp(ic->crl_url, "http://o/b.crl") == 0);
    CHECK(strcmp(ic->crl_shard_urls[0], "http://o/0") == 0);
    ic = ocsp_config_issuer(&cf, "c");
    CHECK(ic->crl_shard_urls == NULL && ic->crl_url != NULL);
    /* without a CA key crlgen publishes nothing: base_url gives no URL */
    ic = ocsp_config_issuer(&cf, "nokey");
    CHECK(ic->crl_shard_urls == NULL && ic->crl_url == NULL);
    ocsp_config_free(&cf);
    CHECK(load("issuers = ( { name = \"a\"; cert = \"x\"; shards = 2; } );\n",
               &cf, err) == 0);
    ic = ocsp_config_issuer(&cf, "a");
    CHECK(ic->crl_url == NULL && ic->crl_shard_urls == NULL);
    ocsp_config_free(&cf);
    bad("crl = {\n base_url = \"http://x/crl\"; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: base_url: expected an http(s) URL ending in '/'");
    bad("issuers = ( { name = \"a\"; cert = \"x\"; profile = \"cabf\";\n"
        " validity = \"4d\"; crl = {\n url = \"https://x/a.crl\"; }; } );\n",
        "3: url: \"https://x/a.crl\" is not a valid http URL");
    bad("issuers = ( { name = \"a\"; cert = \"x\"; shards = 2; crl = {\n"
        " shard_urls = [\"http://x/0\", \"http://x/0\"]; }; } );\n",
        "2: shard_urls: shards 0 and 1 share a URL");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n crl = 5; } );\n",
        "2: crl: expected a group");

    /* PKCS#11 keys (sign.h): a URI is kept as written, a path resolved;
     * the PIN comes from a file or a variable, never from here. */
    CHECK(load("pkcs11 = { pin_env = \"REVOCA_PIN\"; };\n"
               "issuers = ( { name = \"a\"; cert = \"x\";\n"
               " key = \"pkcs11:token=t;object=ca;type=private\";\n"
               " rsa_padding = \"pss\"; } );\n",
               &cf, err) == 0);
    ic = ocsp_config_issuer(&cf, "a");
    CHECK(strcmp(ic->ca_key_path, "pkcs11:token=t;object=ca;type=private") ==
          0);
    CHECK(ic->rsa_pss == 1 && strcmp(cf.pkcs11.pin_env, "REVOCA_PIN") == 0);
    CHECK(strcmp(cf.pkcs11.module, OCSP_PKCS11_DEFAULT_MODULE) == 0);
    CHECK(cf.pkcs11.pin_file == NULL);
    ocsp_config_free(&cf);
    CHECK(load("pkcs11 = { module = \"lib/p11.so\"; pin_file = \"pin\"; };\n"
               "issuers = ( { name = \"a\"; cert = \"x\"; key = \"k\"; } "
               ");\n",
               &cf, err) == 0);
    CHECK(strncmp(cf.pkcs11.module, "/tmp/", 5) == 0);
    CHECK(strncmp(cf.pkcs11.pin_file, "/tmp/", 5) == 0);
    CHECK(cf.issuers[0].rsa_pss == 0);
    ocsp_config_free(&cf);
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n"
        " key = \"pkcs11:token=t;object=ca?pin-value=1234\"; } );\n",
        "2: key: the PIN does not go in the config");
    bad("issuers = (\n { name = \"a\"; cert = \"x\";\n"
        " responder_cert = \"r\";\n"
        " responder_key = \"pkcs11:object=r\"; } );\n",
        "4: pkcs11: a PKCS#11 key needs pkcs11.pin_file or pkcs11.pin_env");
    bad("pkcs11 = { pin_env = \"P\";\n pin_file = \"f\"; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "1: pkcs11: pin_file or pin_env, not both");
    bad("pkcs11 = {\n pin_env = \"A-B\"; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: pin_env: an environment variable name");
    bad("pkcs11 = {\n pin = \"1234\"; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: unknown key \"pin\"");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n"
        " rsa_padding = \"oaep\"; } );\n",
        "2: rsa_padding: expected \"pkcs1\" or \"pss\"");

    bad("issuers = ( { name = \"a\"; cert = \"x\"\n", "2: syntax error");
    bad("prefix = 5;\nissuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "1: prefix: expected a string");
    bad("issuers = (\n { name = \"A\"; cert = \"x\"; } );\n",
        "2: issuer: \"name\" must match");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n"
        "responder_cert = \"r.pem\"; } );\n",
        "1: issuer a: responder_cert and responder_key go together");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n validity = \"1w\"; } );\n",
        "2: validity: expected a duration");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n validity = \"400d\"; } "
        ");\n",
        "2: validity: the private profile requires 1m..366d");
    bad("issuers = ( { name = \"a\"; cert = \"x\"; profile = \"cabf\";\n"
        " resign_after = \"3d\"; } );\n",
        "2: resign_after: the cabf profile requires");
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n backdate = \"3d\"; } );\n",
        "2: backdate: must be shorter than resign_after");
    /* A default that does not fit is reported at its group, not line 0. */
    bad("issuers = (\n { name = \"a\"; cert = \"x\"; resign_after = \"30m\"; } "
        ");\n",
        "2: backdate: must be shorter than resign_after");
    /* Misspelled keys are errors naming file, line and key. */
    bad("issuers = ( { name = \"a\"; cert = \"x\";\n profle = \"cabf\"; } );\n",
        "2: unknown key \"profle\"");
    bad("redis = { host = \"h\";\n prot = 1; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: unknown key \"prot\" in redis");
    bad("\nsinger = { batch = 1; };\n"
        "issuers = ( { name = \"a\"; cert = \"x\"; } );\n",
        "2: unknown key \"singer\"");

    CHECK(ocsp_parse_duration("90s", &d) == 0 && d == 90);
    CHECK(ocsp_parse_duration("7d", &d) == 0 && d == 7 * 86400);
    CHECK(ocsp_parse_duration("15", &d) == 0 && d == 15);
    CHECK(ocsp_parse_duration("1.5h", &d) == -1);
    CHECK(ocsp_parse_duration("h", &d) == -1);
    CHECK(ocsp_parse_duration("-1s", &d) == -1);
    CHECK(ocsp_parse_duration("99999999999999999999d", &d) == -1);
    CHECK(ocsp_issuer_name_valid("abc-123"));
    CHECK(!ocsp_issuer_name_valid(""));
    CHECK(!ocsp_issuer_name_valid("a:b"));
    CHECK(!ocsp_issuer_name_valid("abcdefghijabcdefghijabcdefghijabc"));
    CHECK(ocsp_profile_allows_reason(OCSP_PROFILE_CABF, 1));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_CABF, 2));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_CABF, 6));
    CHECK(!ocsp_profile_allows_hold(OCSP_PROFILE_CABF));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_PRIVATE, 6));
    CHECK(ocsp_profile_allows_hold(OCSP_PROFILE_PRIVATE));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_PRIVATE, 7));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_PRIVATE, 8));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_PRIVATE, 99));
    CHECK(!ocsp_profile_allows_reason(OCSP_PROFILE_PRIVATE, -1));
    CHECK(ocsp_profile_allows_reason(OCSP_PROFILE_CABF, 0));
    CHECK(ocsp_profile(OCSP_PROFILE_CABF)->resign_by_half &&
          !ocsp_profile(OCSP_PROFILE_CABF)->delta);
    {
        ocsp_profile_e p;
        CHECK(ocsp_profile_from_name("cabf", &p) == 0 &&
              p == OCSP_PROFILE_CABF);
        CHECK(ocsp_profile_from_name("Cabf", &p) == -1);
    }
    {
        char b[24];
        ocsp_format_duration(8 * 3600, b, sizeof(b));
        CHECK(strcmp(b, "8h") == 0);
        ocsp_format_duration(90, b, sizeof(b));
        CHECK(strcmp(b, "90s") == 0);
    }
    CHECK(
        load(
            "issuers = ( { name = \"s\"; cert = \"x\"; shards = 4;\n"
            " crl = { url = \"http://o/s.crl\"; shard_urls = [\"http://o/0\",\n"
            " \"http://o/1\", \"http://o/2\", \"http://o/3\"]; }; },\n"
            " { name = \"one\"; cert = \"x\";\n"
            "  crl = { url = \"http://o/one.crl\"; }; },\n"
            " { name = \"bare\"; cert = \"x\"; },\n"
            " { name = \"nourls\"; cert = \"x\"; shards = 2; },\n"
            " { name = \"fullonly\"; cert = \"x\"; shards = 2;\n"
            "  crl = { url = \"http://o/f.crl\"; }; } );\n",
            &cf, err) == 0);
    shard_checks(&cf);
    ocsp_config_free(&cf);

    unlink(path);
    CHECK_DONE();
}
