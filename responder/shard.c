#include "shard.h"

#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>

/* Whether the URI U is the configured URL. */
static int uri_is(const ASN1_IA5STRING *u, const char *url)
{
    /* Byte for byte: the CRL's IDP is written from the same string and
     * RFC 5280 6.3.3 (b)(2) compares the names. */
    return url != NULL && (size_t)u->length == strlen(url) &&
           memcmp(u->data, url, strlen(url)) == 0;
}

/* The printable form of U for a message (truncated, never trusted). */
static void uri_print(const ASN1_IA5STRING *u, char *out, size_t size)
{
    size_t n = (size_t)u->length < size - 1 ? (size_t)u->length : size - 1;

    for (size_t i = 0; i < n; i++) {
        unsigned char c = u->data[i];
        out[i] = c > 0x20 && c < 0x7f ? (char)c : '?';
    }
    out[n] = '\0';
}

int ocsp_shard_from_cert(const ocsp_issuer_conf_t *ic, X509 *x,
                         unsigned requested, ocsp_shard_t *res)
{
    STACK_OF(DIST_POINT) *dps = NULL;
    unsigned found = OCSP_SHARD_ANY;
    int crit = -1, full = 0, uris = 0, i, j;
    char first[128] = "", other[128];

    res->err[0] = '\0';
    res->shard = requested;
    if (ic->crl_url == NULL && ic->crl_shard_urls == NULL) {
        /* No CRL URL of this issuer's is known (no crl.base_url, or no CA
         * key: revoca-crlgen publishes nothing, and refuses several shards
         * without URLs): nothing to check against. */
        return 0;
    }
    dps = X509_get_ext_d2i(x, NID_crl_distribution_points, &crit, NULL);
    if (dps == NULL) {
        ERR_clear_error();
        if (crit == -1) {
            return 0; /* no CRL client reads a CRL for it */
        }
        snprintf(res->err, sizeof(res->err),
                 "its cRLDistributionPoints extension is unreadable%s",
                 crit == -2 ? " (it appears twice)" : "");
        return -1;
    }
    for (i = 0; i < sk_DIST_POINT_num(dps); i++) {
        const DIST_POINT *dp = sk_DIST_POINT_value(dps, i);

        if (dp->distpoint == NULL || dp->distpoint->type != 0) {
            continue; /* nameRelativeToCRLIssuer: no URL of ours */
        }
        for (j = 0; j < sk_GENERAL_NAME_num(dp->distpoint->name.fullname);
             j++) {
            const GENERAL_NAME *gn =
                sk_GENERAL_NAME_value(dp->distpoint->name.fullname, j);
            const ASN1_IA5STRING *u;

            if (gn->type != GEN_URI) {
                continue;
            }
            u = gn->d.uniformResourceIdentifier;
            if (uris++ == 0) {
                uri_print(u, first, sizeof(first));
            }
            if (ic->crl_url != NULL && uri_is(u, ic->crl_url)) {
                full = 1;
                continue;
            }
            for (unsigned s = 0; ic->crl_shard_urls != NULL && s < ic->shards;
                 s++) {
                if (!uri_is(u, ic->crl_shard_urls[s])) {
                    continue;
                }
                if (found != OCSP_SHARD_ANY && found != s) {
                    uri_print(u, other, sizeof(other));
                    snprintf(res->err, sizeof(res->err),
                             "its cRLDistributionPoints name the CRLs of "
                             "shards %u and %u (\"%s\") of issuer %s",
                             found, s, other, ic->name);
                    goto refused;
                }
                found = s;
            }
        }
    }
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    dps = NULL;

    if (found != OCSP_SHARD_ANY) {
        if (requested != OCSP_SHARD_ANY && requested != found) {
            snprintf(res->err, sizeof(res->err),
                     "shard %u was given, but its cRLDistributionPoints "
                     "\"%s\" is the CRL of shard %u of issuer %s",
                     requested, first, found, ic->name);
            return -1;
        }
        res->shard = found;
        return 0;
    }
    if (full) {
        return 0; /* the full CRL lists every shard */
    }
    if (ic->shards > 1 && ic->crl_shard_urls == NULL) {
        snprintf(res->err, sizeof(res->err),
                 "issuer %s has %u CRL shards but no shard URLs "
                 "(crl.shard_urls or crl.base_url), so the shard of its "
                 "cRLDistributionPoints \"%s\" is unknown",
                 ic->name, ic->shards, first);
        return -1;
    }
    snprintf(res->err, sizeof(res->err),
             uris ? "its cRLDistributionPoints \"%s\" is no CRL of issuer %s"
                  : "its cRLDistributionPoints%s name no URL of issuer %s",
             first, ic->name);
    return -1;

refused:
    sk_DIST_POINT_pop_free(dps, DIST_POINT_free);
    return -1;
}
