/* Signed checkpoints of the audit chain: see audit_checkpoint.h. */
#include "audit_checkpoint.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"

int audit_conf_read(const ocsp_config_t *cf, audit_conf_t *ac, char *err)
{
    static const char *const known[] = {"key", "cert", "checkpoint_events",
                                        "checkpoint_interval", NULL};
    const config_setting_t *g = config_lookup(&cf->lc, "audit");
    int64_t secs = 60;

    memset(ac, 0, sizeof(*ac));
    ac->every_events = 1000;
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
    return 0;
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
