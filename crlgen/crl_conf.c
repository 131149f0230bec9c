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

static int crl_issuer(const crl_conf_t *crl_conf,
                      const ocsp_issuer_conf_t *issuer_conf,
                      crl_issuer_conf_t *crl_issuer, char *err)
{
    const ocsp_config_t *config = crl_conf->config;
    const char *file = config->path;
    const config_setting_t *g =
        config_setting_get_member(issuer_conf->setting, "crl");
    const ocsp_profile_t *prof = ocsp_profile(issuer_conf->profile);
    char limit[24], cite[64];
    int have;

    crl_issuer->issuer_conf = issuer_conf;
    crl_issuer->nshards = issuer_conf->shards;
    crl_issuer->lifetime = 7 * DAY;
    crl_issuer->update_interval = 30;
    crl_issuer->delta = prof->delta;
    crl_issuer->delta_lifetime = DAY;
    crl_issuer->expired_after = DAY;
    crl_issuer->rebase_after = 100000;

    /* The core config checked that g is a group (config.c). */
    if (ocsp_conf_known(g, issuer_known, file, err) != 0) {
        return -1;
    }
    if (g != NULL &&
        (ocsp_conf_duration(g, "lifetime", &crl_issuer->lifetime, file, err) !=
             0 ||
         ocsp_conf_duration(g, "update_interval", &crl_issuer->update_interval,
                            file, err) != 0 ||
         ocsp_conf_duration(g, "delta_lifetime", &crl_issuer->delta_lifetime,
                            file, err) != 0 ||
         ocsp_conf_duration(g, "expired_after", &crl_issuer->expired_after,
                            file, err) != 0 ||
         ocsp_conf_int(g, "rebase_after", 1, 100000000,
                       &crl_issuer->rebase_after, file, err) != 0 ||
         ocsp_conf_bool(g, "delta", &crl_issuer->delta, file, err) != 0)) {
        return -1;
    }
    if (crl_issuer->lifetime < 60) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "lifetime"),
                        "lifetime: must be at least 60s");
        return -1;
    }
    crl_issuer->resign_after = crl_issuer->lifetime / 2;
    have = g != NULL && config_setting_get_member(g, "resign_after") != NULL;
    if (have && ocsp_conf_duration(g, "resign_after", &crl_issuer->resign_after,
                                   file, err) != 0) {
        return -1;
    }
    if (crl_issuer->resign_after <= 0 ||
        crl_issuer->resign_after >= crl_issuer->lifetime) {
        ocsp_conf_error(err, file, g ? ocsp_conf_where(g, "resign_after") : g,
                        "resign_after: must be within the lifetime");
        return -1;
    }
    crl_issuer->delta_resign_after = crl_issuer->delta_lifetime / 2;
    if (crl_issuer->delta_lifetime < 60 ||
        crl_issuer->delta_lifetime > crl_issuer->lifetime) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "delta_lifetime"),
                        "delta_lifetime: must be 60s..lifetime");
        return -1;
    }
    if (crl_issuer->update_interval < 1 ||
        crl_issuer->update_interval > crl_issuer->resign_after) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "update_interval"),
                        "update_interval: must be 1s..resign_after");
        return -1;
    }
    /* The profile's limits (policy.h), e.g. Baseline Requirements 4.9.7
     * and 7.2.2 for cabf. */
    if (crl_issuer->delta && !prof->delta) {
        ocsp_conf_error(err, file, g ? ocsp_conf_where(g, "delta") : g,
                        "issuer %s: delta CRLs are not allowed by the %s "
                        "profile%s",
                        issuer_conf->name, prof->name,
                        ocsp_profile_cite(prof, "7.2.2", cite, sizeof(cite)));
        return -1;
    }
    if (crl_issuer->lifetime > prof->crl_lifetime_max) {
        ocsp_format_duration(prof->crl_lifetime_max, limit, sizeof(limit));
        ocsp_conf_error(err, file, ocsp_conf_where(g, "lifetime"),
                        "lifetime: the %s profile allows at most %s%s",
                        prof->name, limit,
                        ocsp_profile_cite(prof, "4.9.7", cite, sizeof(cite)));
        return -1;
    }
    if (crl_issuer->resign_after > prof->crl_resign_max) {
        ocsp_format_duration(prof->crl_resign_max, limit, sizeof(limit));
        ocsp_conf_error(err, file, g ? ocsp_conf_where(g, "resign_after") : g,
                        "resign_after: the %s profile re-issues at least "
                        "every %s%s",
                        prof->name, limit,
                        ocsp_profile_cite(prof, "4.9.7", cite, sizeof(cite)));
        return -1;
    }

    /* The URLs are the issuer's, read and checked by the core config. */
    crl_issuer->full_url = issuer_conf->crl_url;
    crl_issuer->delta_url = issuer_conf->crl_delta_url;
    crl_issuer->shard_urls = issuer_conf->crl_shard_urls;
    /* Without a delta URL deltas are still published, but the full CRL
     * cannot point at them (freshestCRL, RFC 5280 5.2.6); main() warns. */
    if (crl_issuer->nshards > 1 && crl_issuer->shard_urls == NULL) {
        ocsp_conf_error(err, file, g ? g : issuer_conf->setting,
                        "issuer %s: %u shards need crl.shard_urls "
                        "or a top-level crl.base_url",
                        issuer_conf->name, crl_issuer->nshards);
        return -1;
    }
    return 0;
}

/*
 * Two issuers must not publish under one file name: "x" publishes
 * x-delta.crl and x-shard-N.crl, so issuers "x-delta" and "x-shard-0"
 * (names may hold '-') would overwrite them.
 */
static int crl_names_clash(const crl_conf_t *crl_conf, const char *file,
                           char *err)
{
    for (size_t i = 0; i < crl_conf->n; i++) {
        const char *a = crl_conf->issuers[i].issuer_conf->name;
        size_t la = strlen(a);

        for (size_t j = 0; j < crl_conf->n; j++) {
            const char *b = crl_conf->issuers[j].issuer_conf->name;

            if (i != j && strncmp(b, a, la) == 0 &&
                (strcmp(b + la, "-delta") == 0 ||
                 strncmp(b + la, "-shard-", 7) == 0)) {
                ocsp_conf_error(err, file,
                                crl_conf->issuers[j].issuer_conf->setting,
                                "issuer %s: its CRL file names clash with "
                                "issuer %s's (%s-delta.crl, %s-shard-N.crl)",
                                b, a, a, a);
                return 1;
            }
        }
    }
    return 0;
}

int crl_conf_load(crl_conf_t *crl_conf, const ocsp_config_t *config, char *err)
{
    const config_setting_t *g = config_lookup(&config->lc, "crl");
    const char *v = NULL;
    const char *file = config->path;
    int64_t claim_idle = 30;

    memset(crl_conf, 0, sizeof(*crl_conf));
    crl_conf->config = config;
    crl_conf->post_publish_timeout = 60;
    crl_conf->lease_ttl = 15;
    crl_conf->claim_idle = 30;
    crl_conf->clock_skew = 60;
    crl_conf->event_timeout = 600;
    crl_conf->rescan_after = 7 * 86400;

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
    crl_conf->publish_dir = ocsp_conf_path(config, v);
    v = NULL;
    if (ocsp_conf_string(g, "metrics_file", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL) {
        crl_conf->metrics_file = ocsp_conf_path(config, v);
    } else if (crl_conf->publish_dir != NULL) {
        /* Beside, not inside, the publish dir: it is not for the CDN. */
        size_t n = strlen(crl_conf->publish_dir) + 6;
        crl_conf->metrics_file = malloc(n);
        if (crl_conf->metrics_file != NULL) {
            snprintf(crl_conf->metrics_file, n, "%s.prom",
                     crl_conf->publish_dir);
        }
    }
    v = NULL;
    if (ocsp_conf_string(g, "state_dir", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL) {
        crl_conf->state_dir = ocsp_conf_path(config, v);
    } else if (crl_conf->publish_dir != NULL) {
        size_t n = strlen(crl_conf->publish_dir) + 7;
        crl_conf->state_dir = malloc(n);
        if (crl_conf->state_dir != NULL) {
            snprintf(crl_conf->state_dir, n, "%s.state", crl_conf->publish_dir);
        }
    }
    if (crl_conf->publish_dir == NULL || crl_conf->metrics_file == NULL ||
        crl_conf->state_dir == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    v = NULL;
    if (ocsp_conf_string(g, "post_publish", &v, file, err) != 0) {
        goto failed;
    }
    if (v != NULL && v[0] != '\0' &&
        (crl_conf->post_publish = crl_strdup(v, err)) == NULL) {
        goto failed;
    }
    if (ocsp_conf_duration(g, "post_publish_timeout",
                           &crl_conf->post_publish_timeout, file, err) != 0 ||
        ocsp_conf_duration(g, "lease_ttl", &crl_conf->lease_ttl, file, err) !=
            0 ||
        ocsp_conf_duration(g, "claim_idle", &claim_idle, file, err) != 0 ||
        ocsp_conf_duration(g, "clock_skew", &crl_conf->clock_skew, file, err) !=
            0 ||
        ocsp_conf_duration(g, "event_timeout", &crl_conf->event_timeout, file,
                           err) != 0 ||
        ocsp_conf_duration(g, "rescan_after", &crl_conf->rescan_after, file,
                           err) != 0) {
        goto failed;
    }
    crl_conf->claim_idle = claim_idle;
    if (crl_conf->lease_ttl < 2 || crl_conf->lease_ttl > 3600) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "lease_ttl"),
                        "lease_ttl: must be 2s..1h");
        goto failed;
    }
    if (crl_conf->claim_idle < 1 || crl_conf->post_publish_timeout < 1) {
        ocsp_conf_error(err, file, g,
                        "claim_idle and post_publish_timeout: at least 1s");
        goto failed;
    }
    if (ocsp_conf_consumer(g, crl_conf->consumer, sizeof(crl_conf->consumer),
                           file, err) != 0) {
        goto failed;
    }

    crl_conf->issuers = calloc(config->nissuers, sizeof(crl_issuer_conf_t));
    if (crl_conf->issuers == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    for (size_t i = 0; i < config->nissuers; i++) {
        const ocsp_issuer_conf_t *issuer_conf = &config->issuers[i];
        const config_setting_t *sub =
            config_setting_get_member(issuer_conf->setting, "crl");

        if (issuer_conf->ca_key_path == NULL) {
            if (sub != NULL) {
                ocsp_conf_error(err, file, sub,
                                "issuer %s: a crl group needs the CA "
                                "\"key\" to sign with",
                                issuer_conf->name);
                goto failed;
            }
            continue; /* OCSP only */
        }
        if (crl_issuer(crl_conf, issuer_conf, &crl_conf->issuers[crl_conf->n],
                       err) != 0) {
            crl_conf->n++;
            goto failed;
        }
        crl_conf->n++;
    }
    if (crl_conf->n == 0) {
        ocsp_conf_error(err, file, g,
                        "crl: no issuer has a CA \"key\" to sign CRLs with");
        goto failed;
    }
    if (crl_names_clash(crl_conf, file, err)) {
        goto failed;
    }
    return 0;

failed:
    crl_conf_free(crl_conf);
    return -1;
}

void crl_conf_free(crl_conf_t *crl_conf)
{
    free(crl_conf->issuers);
    free(crl_conf->publish_dir);
    free(crl_conf->metrics_file);
    free(crl_conf->state_dir);
    free(crl_conf->post_publish);
    memset(crl_conf, 0, sizeof(*crl_conf));
}
