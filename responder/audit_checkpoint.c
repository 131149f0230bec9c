/* Signed checkpoints of the audit chain: see audit_checkpoint.h. */
#include "audit_checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

/* An absolute path setting: 0 (absent or valid), or -1 with err. */
static int abs_path(const ocsp_config_t *cf, const config_setting_t *g,
                    const char *key, const char **out, char *err)
{
    if (ocsp_conf_string(g, key, out, cf->path, err) != 0) {
        return -1;
    }
    if (*out != NULL && ((*out)[0] != '/' || strlen(*out) > 3000)) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, key),
                        "audit.%s: expected an absolute path", key);
        return -1;
    }
    return 0;
}

/* A duration setting of at least MIN_S seconds, into milliseconds. */
static int duration_ms(const ocsp_config_t *cf, const config_setting_t *g,
                       const char *key, int64_t min_s, int64_t *ms, char *err)
{
    int64_t secs = *ms / 1000;

    if (ocsp_conf_duration(g, key, &secs, cf->path, err) != 0) {
        return -1;
    }
    if (secs < min_s || secs > 100LL * 365 * 86400) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, key),
                        "audit.%s: from %llds to 100 years", key,
                        (long long)min_s);
        return -1;
    }
    *ms = secs * 1000;
    return 0;
}

static int archive_conf_read(const ocsp_config_t *cf, const config_setting_t *g,
                             audit_conf_t *ac, char *err)
{
    if (abs_path(cf, g, "archive_dir", &ac->archive_dir, err) != 0 ||
        abs_path(cf, g, "archive_hook", &ac->archive_hook, err) != 0 ||
        duration_ms(cf, g, "archive_after", 0, &ac->archive_after_ms, err) !=
            0 ||
        duration_ms(cf, g, "archive_interval", 1, &ac->archive_interval_ms,
                    err) != 0 ||
        duration_ms(cf, g, "archive_hook_timeout", 1,
                    &ac->archive_hook_timeout_ms, err) != 0 ||
        ocsp_conf_int(g, "segment_events", 1, 10000000, &ac->segment_events,
                      cf->path, err) != 0 ||
        ocsp_conf_int(g, "segment_bytes", 65536, 1 << 30, &ac->segment_bytes,
                      cf->path, err) != 0 ||
        ocsp_conf_int(g, "archive_hook_retries", 0, 100,
                      &ac->archive_hook_retries, cf->path, err) != 0) {
        return -1;
    }
    if (ac->archive_dir == NULL &&
        (ac->archive_hook != NULL ||
         config_setting_get_member(g, "archive_after") != NULL)) {
        ocsp_conf_error(err, cf->path,
                        ocsp_conf_where(g, ac->archive_hook ? "archive_hook"
                                                            : "archive_after"),
                        "audit.%s: needs audit.archive_dir",
                        ac->archive_hook ? "archive_hook" : "archive_after");
        return -1;
    }
    return 0;
}

int audit_conf_read(const ocsp_config_t *cf, audit_conf_t *ac, char *err)
{
    static const char *const known[] = {"key",
                                        "cert",
                                        "checkpoint_events",
                                        "checkpoint_interval",
                                        "archive_dir",
                                        "archive_after",
                                        "archive_interval",
                                        "segment_events",
                                        "segment_bytes",
                                        "archive_hook",
                                        "archive_hook_timeout",
                                        "archive_hook_retries",
                                        NULL};
    const config_setting_t *g = config_lookup(&cf->lc, "audit");
    int64_t secs = 60;

    memset(ac, 0, sizeof(*ac));
    ac->every_events = 1000;
    ac->archive_after_ms = 7 * 86400 * 1000LL;
    ac->archive_interval_ms = 60 * 1000;
    ac->segment_events = 100000;
    ac->segment_bytes = 64 << 20;
    ac->archive_hook_timeout_ms = 60 * 1000;
    ac->archive_hook_retries = 3;
    if (g == NULL) {
        ac->every_ms = secs * 1000;
        return 0;
    }
    if (ocsp_conf_known(g, known, cf->path, err) != 0 ||
        ocsp_conf_string(g, "key", &ac->key, cf->path, err) != 0 ||
        ocsp_conf_string(g, "cert", &ac->cert, cf->path, err) != 0 ||
        ocsp_conf_int(g, "checkpoint_events", 1, 100000000, &ac->every_events,
                      cf->path, err) != 0 ||
        ocsp_conf_duration(g, "checkpoint_interval", &secs, cf->path, err) !=
            0) {
        return -1;
    }
    if (secs < 1) {
        snprintf(err, OCSP_ERR_MAX,
                 "%s: audit.checkpoint_interval: at least "
                 "1s",
                 cf->path);
        return -1;
    }
    if ((ac->key == NULL) != (ac->cert == NULL)) {
        snprintf(err, OCSP_ERR_MAX, "%s: audit: key and cert go together",
                 cf->path);
        return -1;
    }
    ac->every_ms = secs * 1000;
    return archive_conf_read(cf, g, ac, err);
}

int ocsp_audit_key_checkpoints(char *buf, const char *prefix)
{
    int n = snprintf(buf, OCSP_KEY_MAX, "%s:audit:checkpoints", prefix);

    return n < 0 || n >= OCSP_KEY_MAX ? -1 : n;
}

int audit_checkpoint_verify(X509 *cert, const unsigned char *c, size_t clen,
                            const unsigned char *sig, size_t siglen)
{
    EVP_PKEY *pub = X509_get0_pubkey(cert);
    ocsp_sig_alg_e alg;

    if (pub == NULL) {
        return -1;
    }
    alg = ocsp_sig_alg_of(pub, 0, NULL);
    if (alg == OCSP_SIG_NONE) {
        return -1;
    }
    return ocsp_sig_verify(pub, alg, sig, siglen, c, clen);
}
