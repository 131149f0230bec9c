#include "crl_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"

#define DAY 86400

static char *crl_strdup(const char *s, char *err)
{
    char *p = strdup(s);

    if (p == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
    }
    return p;
}

/* An issuer's "crl" group. */
static const char *const issuer_known[] = {
    "lifetime",        "resign_after",
    "update_interval", "delta",
    "delta_lifetime",  "expired_after",
    "rebase_after",    "url", /* these three are read */
    "delta_url",              /* by config.c */
    "shard_urls",      NULL};

/* The top-level "crl" group. */
static const char *const top_known[] = {"publish_dir",
                                        "metrics_file",
                                        "state_dir",
                                        "post_publish",
                                        "post_publish_timeout",
                                        "lease_ttl",
                                        "claim_idle",
                                        "clock_skew",
                                        "event_timeout",
                                        "rescan_after",
                                        "base_url", /* read by config.c */
                                        "consumer",
                                        NULL};

static int crl_issuer(const crl_conf_t *cc, const ocsp_issuer_conf_t *ic,
                      crl_issuer_conf_t *ci, char *err)
{
    const ocsp_config_t *cf = cc->cf;
    const char *file = cf->path;
    const config_setting_t *g = config_setting_get_member(ic->setting, "crl");
    const ocsp_profile_t *prof = ocsp_profile(ic->profile);
    char limit[24], cite[64];
    int have;

    ci->ic = ic;
    ci->cabf = ic->profile == OCSP_PROFILE_CABF;
    ci->nshards = ic->shards;
    ci->lifetime = 7 * DAY;
    ci->update_interval = 30;
    ci->delta = prof->delta;
    ci->delta_lifetime = DAY;
    ci->expired_after = DAY;
    ci->rebase_after = 100000;

    /* The core config checked that g is a group (config.c). */
    if (ocsp_conf_known(g, issuer_known, file, err) != 0) {
        return -1;
    }
    if (g != NULL &&
        (ocsp_conf_duration(g, "lifetime", &ci->lifetime, file, err) != 0 ||
         ocsp_conf_duration(g, "update_interval", &ci->update_interval, file,
                            err) != 0 ||
         ocsp_conf_duration(g, "delta_lifetime", &ci->delta_lifetime, file,
                            err) != 0 ||
         ocsp_conf_duration(g, "expired_after", &ci->expired_after, file,
                            err) != 0 ||
         ocsp_conf_int(g, "rebase_after", 1, 100000000, &ci->rebase_after, file,
                       err) != 0 ||
         ocsp_conf_bool(g, "delta", &ci->delta, file, err) != 0)) {
        return -1;
    }
    if (ci->lifetime < 60) {
        ocsp_conf_error(err, file, config_setting_get_member(g, "lifetime"),
                        "lifetime: must be at least 60s");
        return -1;
    }
    ci->resign_after = ci->lifetime / 2;
    have = g != NULL && config_setting_get_member(g, "resign_after") != NULL;
    if (have && ocsp_conf_duration(g, "resign_after", &ci->resign_after, file,
                                   err) != 0) {
        return -1;
    }
    if (ci->resign_after <= 0 || ci->resign_after >= ci->lifetime) {
        ocsp_conf_error(err, file,
                        g ? config_setting_get_member(g, "resign_after") : g,
                        "resign_after: must be within the lifetime");
        return -1;
    }
    ci->delta_resign_after = ci->delta_lifetime / 2;
    if (ci->delta_lifetime < 60 || ci->delta_lifetime > ci->lifetime) {
        ocsp_conf_error(err, file,
                        config_setting_get_member(g, "delta_lifetime"),
                        "delta_lifetime: must be 60s..lifetime");
        return -1;
    }
    if (ci->update_interval < 1 || ci->update_interval > ci->resign_after) {
        ocsp_conf_error(err, file,
                        config_setting_get_member(g, "update_interval"),
                        "update_interval: must be 1s..resign_after");
        return -1;
    }
    /* The profile's limits (policy.h), e.g. Baseline Requirements 4.9.7
     * and 7.2.2 for cabf. */
    if (ci->delta && !prof->delta) {
        ocsp_conf_error(err, file,
                        g ? config_setting_get_member(g, "delta") : g,
                        "issuer %s: delta CRLs are not allowed by the %s "
                        "profile%s",
                        ic->name, prof->name,
                        ocsp_profile_cite(prof, "7.2.2", cite, sizeof(cite)));
        return -1;
    }
    if (ci->lifetime > prof->crl_lifetime_max) {
        ocsp_format_duration(prof->crl_lifetime_max, limit, sizeof(limit));
        ocsp_conf_error(err, file, config_setting_get_member(g, "lifetime"),
                        "lifetime: the %s profile allows at most %s%s",
                        prof->name, limit,
                        ocsp_profile_cite(prof, "4.9.7", cite, sizeof(cite)));
        return -1;
    }
    if (ci->resign_after > prof->crl_resign_max) {
        ocsp_format_duration(prof->crl_resign_max, limit, sizeof(limit));
        ocsp_conf_error(err, file,
                        g ? config_setting_get_member(g, "resign_after") : g,
                        "resign_after: the %s profile re-issues at least "
                        "every %s%s",
                        prof->name, limit,
                        ocsp_profile_cite(prof, "4.9.7", cite, sizeof(cite)));
        return -1;
    }

    /* The URLs are the issuer's, read and checked by the core config. */
    ci->full_url = ic->crl_url;
    ci->delta_url = ic->crl_delta_url;
    ci->shard_urls = ic->crl_shard_urls;
    /* Without a delta URL deltas are still published, but the full CRL
     * cannot point at them (freshestCRL, RFC 5280 5.2.6); main() warns. */
    if (ci->nshards > 1 && ci->shard_urls == NULL) {
        ocsp_conf_error(err, file, g ? g : ic->setting,
                        "issuer %s: %u shards need crl.shard_urls "
                        "or a top-level crl.base_url",
                        ic->name, ci->nshards);
        return -1;
    }
    return 0;
}

/*
 * Two issuers must not publish under one file name: "x" publishes
 * x-delta.crl and x-shard-N.crl, so issuers "x-delta" and "x-shard-0"
 * (names may hold '-') would overwrite them.
 */
static int crl_names_clash(const crl_conf_t *cc, const char *file, char *err)
{
    for (size_t i = 0; i < cc->n; i++) {
        const char *a = cc->issuers[i].ic->name;
        size_t la = strlen(a);

        for (size_t j = 0; j < cc->n; j++) {
            const char *b = cc->issuers[j].ic->name;

            if (i != j && strncmp(b, a, la) == 0 &&
                (strcmp(b + la, "-delta") == 0 ||
                 strncmp(b + la, "-shard-", 7) == 0)) {
                ocsp_conf_error(err, file, cc->issuers[j].ic->setting,
                                "issuer %s: its CRL file names clash with "
                                "issuer %s's (%s-delta.crl, %s-shard-N.crl)",
                                b, a, a, a);
                return 1;
            }
        }
    }
    return 0;
}

int crl_conf_load(crl_conf_t *cc, const ocsp_config_t *cf, char *err)
{
    const config_setting_t *g = config_lookup(&cf->lc, "crl");
    const char *v = NULL;
    const char *file = cf->path;
    int64_t claim_idle = 30;

    memset(cc, 0, sizeof(*cc));
    cc->cf = cf;
    cc->post_publish_timeout = 60;
    cc->lease_ttl = 15;
    cc->claim_idle = 30;
    cc->clock_skew = 60;
    cc->event_timeout = 600;
    cc->rescan_after = 7 * 86400;

    if (g == NULL || config_setting_type(g) != CONFIG_TYPE_GROUP) {
        ocsp_conf_error(err, file, g,
                        "crl: a group with at least publish_dir is required");
        return -1;
    }
    if (ocsp_conf_known(g, top_known, file, err) != 0 ||
        ocsp_conf_string(g, "publish_dir", &v, file, err) != 0) {
        return -1;
    }
    if (v == NULL || v[0] == '\0') {
        ocsp_conf_error(err, file, g, "crl: \"publish_dir\" is required");
        return -1;
    }
    cc->publish_dir = ocsp_conf_path(cf, v);
    v = NULL;
    if (ocsp_conf_string(g, "metrics_file", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL) {
        cc->metrics_file = ocsp_conf_path(cf, v);
    } else if (cc->publish_dir != NULL) {
        /* Beside, not inside, the publish dir: it is not for the CDN. */
        size_t n = strlen(cc->publish_dir) + 6;
        cc->metrics_file = malloc(n);
        if (cc->metrics_file != NULL) {
            snprintf(cc->metrics_file, n, "%s.prom", cc->publish_dir);
        }
    }
    v = NULL;
    if (ocsp_conf_string(g, "state_dir", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL) {
        cc->state_dir = ocsp_conf_path(cf, v);
    } else if (cc->publish_dir != NULL) {
        size_t n = strlen(cc->publish_dir) + 7;
        cc->state_dir = malloc(n);
        if (cc->state_dir != NULL) {
            snprintf(cc->state_dir, n, "%s.state", cc->publish_dir);
        }
    }
    if (cc->publish_dir == NULL || cc->metrics_file == NULL ||
        cc->state_dir == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    v = NULL;
    if (ocsp_conf_string(g, "post_publish", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL && v[0] != '\0' &&
        (cc->post_publish = crl_strdup(v, err)) == NULL) {
        goto failed;
    }
    if (ocsp_conf_duration(g, "post_publish_timeout", &cc->post_publish_timeout,
                           file, err) != 0 ||
        ocsp_conf_duration(g, "lease_ttl", &cc->lease_ttl, file, err) != 0 ||
        ocsp_conf_duration(g, "claim_idle", &claim_idle, file, err) != 0 ||
        ocsp_conf_duration(g, "clock_skew", &cc->clock_skew, file, err) != 0 ||
        ocsp_conf_duration(g, "event_timeout", &cc->event_timeout, file, err) !=
            0 ||
        ocsp_conf_duration(g, "rescan_after", &cc->rescan_after, file, err) !=
            0) {
        goto failed;
    }
    cc->claim_idle = claim_idle;
    if (cc->lease_ttl < 2 || cc->lease_ttl > 3600) {
        ocsp_conf_error(err, file, config_setting_get_member(g, "lease_ttl"),
                        "lease_ttl: must be 2s..1h");
        goto failed;
    }
    if (cc->claim_idle < 1 || cc->post_publish_timeout < 1) {
        ocsp_conf_error(err, file, g,
                        "claim_idle and post_publish_timeout: at least 1s");
        goto failed;
    }
    if (ocsp_conf_consumer(g, cc->consumer, sizeof(cc->consumer), file, err) !=
        0) {
        goto failed;
    }

    cc->issuers = calloc(cf->nissuers, sizeof(crl_issuer_conf_t));
    if (cc->issuers == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < cf->nissuers; i++) {
        const ocsp_issuer_conf_t *ic = &cf->issuers[i];
        const config_setting_t *sub =
            config_setting_get_member(ic->setting, "crl");

        if (ic->ca_key_path == NULL) {
            if (sub != NULL) {
                ocsp_conf_error(err, file, sub,
                                "issuer %s: a crl group needs the CA "
                                "\"key\" to sign with",
                                ic->name);
                goto failed;
            }
            continue; /* OCSP only */
        }
        if (crl_issuer(cc, ic, &cc->issuers[cc->n], err) != 0) {
            cc->n++;
            goto failed;
        }
        cc->n++;
    }
    if (cc->n == 0) {
        ocsp_conf_error(err, file, g,
                        "crl: no issuer has a CA \"key\" to sign CRLs with");
        goto failed;
    }
    if (crl_names_clash(cc, file, err)) {
        goto failed;
    }
    return 0;

failed:
    crl_conf_free(cc);
    return -1;
}

void crl_conf_free(crl_conf_t *cc)
{
    free(cc->issuers);
    free(cc->publish_dir);
    free(cc->metrics_file);
    free(cc->state_dir);
    free(cc->post_publish);
    memset(cc, 0, sizeof(*cc));
}
