#include "crl_conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define DAY 86400
/* CA/B BR 4.9.7: nextUpdate at most 10 days after thisUpdate, re-issued at
 * least every 7 days. */
#define CABF_LIFETIME_MAX (10 * DAY)
#define CABF_RESIGN_MAX (7 * DAY)

static char *crl_strdup(const char *s, char *err)
{
    char *p = strdup(s);

    if (p == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
    }
    return p;
}

/* RFC 5280 4.2.1.13 URIs as the certificates carry them: printable ASCII,
 * no spaces, http (cabf: BR 7.1.2.11.2 requires http) or https. */
static int crl_url_valid(const char *url, int cabf)
{
    size_t n = strlen(url);

    if (n == 0 || n > CRL_URL_MAX) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        /* '"' and '\\' are not URI characters (RFC 3986) and would break
         * the JSON shard list */
        if (url[i] <= 0x20 || url[i] >= 0x7f || url[i] == '"' ||
            url[i] == '\\') {
            return 0;
        }
    }
    if (strncmp(url, "http://", 7) == 0) {
        return n > 7;
    }
    return !cabf && strncmp(url, "https://", 8) == 0 && n > 8;
}

static int crl_url(const ocsp_config_t *config, const config_setting_t *g,
                   const char *key, int cabf, const char *deflt, char **out,
                   char *err)
{
    const char *v = NULL;

    if (g != NULL && ocsp_conf_string(g, key, &v, config->path, err) != 0) {
        return -1;
    }
    if (v == NULL) {
        v = deflt;
        if (v == NULL) {
            *out = NULL;
            return 0;
        }
    }
    if (!crl_url_valid(v, cabf)) {
        ocsp_conf_error(err, config->path,
                        g ? config_setting_get_member(g, key) : NULL,
                        "%s: \"%s\" is not a valid %s URL", key, v,
                        cabf ? "http" : "http(s)");
        return -1;
    }
    *out = crl_strdup(v, err);
    return *out ? 0 : -1;
}

/* "base_url" + "ISSUER" + suffix, or NULL without a base URL. */
static char *crl_default_url(const char *base, const char *issuer,
                             const char *suffix)
{
    size_t n;
    char *p;

    if (base == NULL) {
        return NULL;
    }
    n = strlen(base) + strlen(issuer) + strlen(suffix) + 1;
    p = malloc(n);
    if (p != NULL) {
        snprintf(p, n, "%s%s%s", base, issuer, suffix);
    }
    return p;
}

static int crl_shard_urls(const ocsp_config_t *config,
                          const config_setting_t *g,
                          crl_issuer_conf_t *crl_issuer, const char *base,
                          char *err)
{
    config_setting_t *list =
        g ? config_setting_get_member(g, "shard_urls") : NULL;
    const char *file = config->path;
    char suffix[48];

    crl_issuer->shard_urls = calloc(crl_issuer->nshards, sizeof(char *));
    if (crl_issuer->shard_urls == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (list != NULL) {
        if (config_setting_type(list) != CONFIG_TYPE_ARRAY &&
            config_setting_type(list) != CONFIG_TYPE_LIST) {
            ocsp_conf_error(err, file, list,
                            "shard_urls: expected a list of URLs");
            return -1;
        }
        if ((unsigned)config_setting_length(list) != crl_issuer->nshards) {
            ocsp_conf_error(err, file, list,
                            "shard_urls: %d URLs for %u shards of issuer %s",
                            config_setting_length(list), crl_issuer->nshards,
                            crl_issuer->issuer_conf->name);
            return -1;
        }
    }
    for (unsigned i = 0; i < crl_issuer->nshards; i++) {
        const char *v;

        if (list != NULL) {
            v = config_setting_get_string_elem(list, (int)i);
            if (v == NULL || !crl_url_valid(v, crl_issuer->cabf)) {
                ocsp_conf_error(err, file, list,
                                "shard_urls: element %u is not a valid URL", i);
                return -1;
            }
            crl_issuer->shard_urls[i] = crl_strdup(v, err);
        } else {
            if (base == NULL) {
                ocsp_conf_error(
                    err, file, g ? g : crl_issuer->issuer_conf->setting,
                    "issuer %s: %u shards need crl.shard_urls "
                    "or a top-level crl.base_url",
                    crl_issuer->issuer_conf->name, crl_issuer->nshards);
                return -1;
            }
            snprintf(suffix, sizeof(suffix), "-shard-%u.crl", i);
            crl_issuer->shard_urls[i] =
                crl_default_url(base, crl_issuer->issuer_conf->name, suffix);
            if (crl_issuer->shard_urls[i] == NULL) {
                snprintf(err, OCSP_ERR_MAX, "out of memory");
            }
        }
        if (crl_issuer->shard_urls[i] == NULL) {
            return -1;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(crl_issuer->shard_urls[i], crl_issuer->shard_urls[j]) ==
                0) {
                ocsp_conf_error(err, file, list ? list : g,
                                "shard_urls: shards %u and %u share a URL", j,
                                i);
                return -1;
            }
        }
    }
    return 0;
}

/* An issuer's "crl" group. */
static const char *const issuer_known[] = {"lifetime",
                                           "resign_after",
                                           "update_interval",
                                           "delta",
                                           "delta_lifetime",
                                           "expired_after",
                                           "rebase_after",
                                           "url",
                                           "delta_url",
                                           "shard_urls",
                                           NULL};

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
                                        "base_url",
                                        "consumer",
                                        NULL};

static int crl_issuer(const crl_conf_t *crl_conf,
                      const ocsp_issuer_conf_t *issuer_conf, const char *base,
                      crl_issuer_conf_t *crl_issuer, char *err)
{
    const ocsp_config_t *config = crl_conf->config;
    const char *file = config->path;
    const config_setting_t *g =
        config_setting_get_member(issuer_conf->setting, "crl");
    config_setting_t *s;
    char *url = NULL;
    int have;

    crl_issuer->issuer_conf = issuer_conf;
    crl_issuer->cabf = issuer_conf->profile == OCSP_PROFILE_CABF;
    crl_issuer->nshards = issuer_conf->shards;
    crl_issuer->lifetime = 7 * DAY;
    crl_issuer->update_interval = 30;
    crl_issuer->delta = !crl_issuer->cabf;
    crl_issuer->delta_lifetime = DAY;
    crl_issuer->expired_after = DAY;
    crl_issuer->rebase_after = 100000;

    if (g != NULL && config_setting_type(g) != CONFIG_TYPE_GROUP) {
        ocsp_conf_error(err, file, g, "crl: expected a group");
        return -1;
    }
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
        ocsp_conf_error(err, file, config_setting_get_member(g, "lifetime"),
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
        ocsp_conf_error(err, file,
                        g ? config_setting_get_member(g, "resign_after") : g,
                        "resign_after: must be within the lifetime");
        return -1;
    }
    crl_issuer->delta_resign_after = crl_issuer->delta_lifetime / 2;
    if (crl_issuer->delta_lifetime < 60 ||
        crl_issuer->delta_lifetime > crl_issuer->lifetime) {
        ocsp_conf_error(err, file,
                        config_setting_get_member(g, "delta_lifetime"),
                        "delta_lifetime: must be 60s..lifetime");
        return -1;
    }
    if (crl_issuer->update_interval < 1 ||
        crl_issuer->update_interval > crl_issuer->resign_after) {
        ocsp_conf_error(err, file,
                        config_setting_get_member(g, "update_interval"),
                        "update_interval: must be 1s..resign_after");
        return -1;
    }
    if (crl_issuer->cabf) {
        s = g ? config_setting_get_member(g, "delta") : NULL;
        if (crl_issuer->delta) {
            ocsp_conf_error(err, file, s,
                            "issuer %s: delta CRLs are not allowed by the "
                            "cabf profile (Baseline Requirements 7.2.2)",
                            issuer_conf->name);
            return -1;
        }
        if (crl_issuer->lifetime > CABF_LIFETIME_MAX) {
            ocsp_conf_error(err, file, config_setting_get_member(g, "lifetime"),
                            "lifetime: the cabf profile allows at most 10d "
                            "(Baseline Requirements 4.9.7)");
            return -1;
        }
        if (crl_issuer->resign_after > CABF_RESIGN_MAX) {
            ocsp_conf_error(err, file,
                            config_setting_get_member(g, "resign_after"),
                            "resign_after: the cabf profile re-issues at "
                            "least every 7d (Baseline Requirements 4.9.7)");
            return -1;
        }
    }

    url = crl_default_url(base, issuer_conf->name, ".crl");
    if (base != NULL && url == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (crl_url(config, g, "url", crl_issuer->cabf, url, &crl_issuer->full_url,
                err) != 0) {
        goto failed;
    }
    free(url);
    url = crl_default_url(base, issuer_conf->name, "-delta.crl");
    if (crl_url(config, g, "delta_url", crl_issuer->cabf, url,
                &crl_issuer->delta_url, err) != 0) {
        goto failed;
    }
    free(url);
    url = NULL;
    /* Without a delta URL deltas are still published, but the full CRL
     * cannot point at them (freshestCRL, RFC 5280 5.2.6); main() warns. */
    if (crl_issuer->nshards > 1 &&
        crl_shard_urls(config, g, crl_issuer, base, err) != 0) {
        return -1;
    }
    return 0;

failed:
    free(url);
    return -1;
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
    const char *v = NULL, *base = NULL;
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
                           err) != 0 ||
        ocsp_conf_string(g, "base_url", &base, file, err) != 0) {
        goto failed;
    }
    crl_conf->claim_idle = claim_idle;
    if (crl_conf->lease_ttl < 2 || crl_conf->lease_ttl > 3600) {
        ocsp_conf_error(err, file, config_setting_get_member(g, "lease_ttl"),
                        "lease_ttl: must be 2s..1h");
        goto failed;
    }
    if (crl_conf->claim_idle < 1 || crl_conf->post_publish_timeout < 1) {
        ocsp_conf_error(err, file, g,
                        "claim_idle and post_publish_timeout: at least 1s");
        goto failed;
    }
    if (base != NULL &&
        (!crl_url_valid(base, 0) || base[strlen(base) - 1] != '/')) {
        ocsp_conf_error(err, file, config_setting_get_member(g, "base_url"),
                        "base_url: expected an http(s) URL ending in '/'");
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
        if (crl_issuer(crl_conf, issuer_conf, base,
                       &crl_conf->issuers[crl_conf->n], err) != 0) {
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
    for (size_t i = 0; i < crl_conf->n; i++) {
        crl_issuer_conf_t *crl_issuer = &crl_conf->issuers[i];
        free(crl_issuer->full_url);
        free(crl_issuer->delta_url);
        if (crl_issuer->shard_urls != NULL) {
            for (unsigned j = 0; j < crl_issuer->nshards; j++) {
                free(crl_issuer->shard_urls[j]);
            }
            free(crl_issuer->shard_urls);
        }
    }
    free(crl_conf->issuers);
    free(crl_conf->publish_dir);
    free(crl_conf->metrics_file);
    free(crl_conf->state_dir);
    free(crl_conf->post_publish);
    memset(crl_conf, 0, sizeof(*crl_conf));
}
