#include "policy.h"

#include <stdio.h>
#include <string.h>

#include "event.h"

#define HOUR 3600
#define DAY 86400
#define REASON(n) (1u << (n))

static const ocsp_profile_t profiles[] = {
    [OCSP_PROFILE_PRIVATE] =
        {
            .name = "private",
            .hold = 1,
            /* every CRLReason of RFC 5280 5.3.1 but removeFromCRL (8),
             * which only a delta CRL says, and the unused 7 */
            .reasons = 0x7ff & ~(REASON(7) | REASON(8)),
            /* RFC 6960 leaves validity open: bounded so that nextUpdate
             * stays a valid time and an answer ages out within a year */
            .validity_min = 60,
            .validity_max = 366 * DAY,
            .crl_lifetime_max = 366 * DAY,
            .crl_resign_max = 366 * DAY,
            .delta = 1,
            .https_crl_urls = 1,
            .reason_refused = "reason not allowed by the issuer's profile "
                              "(private: the reasons of RFC 5280 5.3.1 but "
                              "removeFromCRL)",
        },
    [OCSP_PROFILE_CABF] =
        {
            .name = "cabf",
            .hold = 0, /* BR 7.2.2: certificateHold is not allowed */
            .reasons = REASON(0) | REASON(1) | REASON(3) | REASON(4) |
                       REASON(5) | REASON(9), /* BR 7.2.2 */
            .validity_min = 8 * HOUR,         /* BR 4.9.10 */
            .validity_max = 10 * DAY,
            .resign_by_half = 1,          /* BR 4.9.10 */
            .crl_lifetime_max = 10 * DAY, /* BR 4.9.7 */
            .crl_resign_max = 7 * DAY,    /* BR 4.9.7 */
            .delta = 0,                   /* BR 7.2.2: full CRLs only */
            .https_crl_urls = 0,          /* BR 7.1.2.11.2: http only */
            .rules = "Baseline Requirements",
            .hold_refused = "certificateHold is not allowed by the issuer's "
                            "profile (cabf: Baseline Requirements 7.2.2)",
            .reason_refused = "reason not allowed by the issuer's profile "
                              "(cabf: Baseline Requirements 7.2.2)",
        },
};

const ocsp_profile_t *ocsp_profile(ocsp_profile_e profile)
{
    if ((unsigned)profile >= sizeof(profiles) / sizeof(profiles[0])) {
        return &profiles[OCSP_PROFILE_CABF]; /* the stricter one */
    }
    return &profiles[profile];
}

const char *ocsp_profile_cite(const ocsp_profile_t *p, const char *section,
                              char *buf, size_t size)
{
    if (p->rules == NULL) {
        buf[0] = '\0';
    } else {
        snprintf(buf, size, " (%s %s)", p->rules, section);
    }
    return buf;
}

int ocsp_profile_from_name(const char *name, ocsp_profile_e *out)
{
    size_t i;

    for (i = 0; i < sizeof(profiles) / sizeof(profiles[0]); i++) {
        if (strcmp(name, profiles[i].name) == 0) {
            *out = (ocsp_profile_e)i;
            return 0;
        }
    }
    return -1;
}

int ocsp_profile_allows_reason(ocsp_profile_e profile, int reason)
{
    /* certificateHold is a hold (ocsp_profile_allows_hold), never the
     * reason of a final revocation */
    if (!ocsp_revocation_reason_valid(reason)) {
        return 0;
    }
    return (ocsp_profile(profile)->reasons & REASON(reason)) != 0;
}

const char *ocsp_profile_refuses_key(ocsp_profile_e profile, ocsp_sig_alg_e alg,
                                     int bits)
{
    int rsa = alg == OCSP_SIG_RSA_SHA256 || alg == OCSP_SIG_RSA_PSS_SHA256;

    if (alg == OCSP_SIG_NONE) {
        return "no signature algorithm for this key";
    }
    if (rsa && bits < 2048) {
        /* NIST SP 800-131A: below 2048 bits is no longer acceptable,
         * private PKI or not. */
        return "an RSA key of fewer than 2048 bits";
    }
    if (profile != OCSP_PROFILE_CABF) {
        return NULL;
    }
    if (alg == OCSP_SIG_ED25519) {
        return "Ed25519 is not allowed by the cabf profile (Baseline "
               "Requirements 6.1.5)";
    }
    if (rsa && bits % 8 != 0) {
        return "an RSA modulus that is not a multiple of 8 bits (Baseline "
               "Requirements 6.1.5)";
    }
    /* The curve decides the hash (sign.c), so every ECDSA pairing made
     * here is one of BR 7.1.3.2.2's. */
    return NULL;
}

int ocsp_profile_allows_hold(ocsp_profile_e profile)
{
    return ocsp_profile(profile)->hold;
}

const char *ocsp_profile_refuses(ocsp_profile_e profile,
                                 const Revoca__Event *ev)
{
    switch (ev->kind_case) {
    case REVOCA__EVENT__KIND_HOLD:
    case REVOCA__EVENT__KIND_RELEASE:
        return ocsp_profile_allows_hold(profile)
                   ? NULL
                   : ocsp_profile(profile)->hold_refused;
    case REVOCA__EVENT__KIND_REVOKED:
        return ocsp_profile_allows_reason(
                   profile,
                   ev->revoked->has_reason ? (int)ev->revoked->reason : 0)
                   ? NULL
                   : ocsp_profile(profile)->reason_refused;
    default:
        return NULL;
    }
}

void ocsp_response_times(const ocsp_issuer_conf_t *ic, int64_t now,
                         ocsp_times_t *t)
{
    t->produced_at = now;
    t->this_update = now - ic->backdate;
    t->next_update = t->this_update + ic->validity;
    t->resign_at = ocsp_resign_at(ic, t->this_update);
}

int64_t ocsp_resign_at(const ocsp_issuer_conf_t *ic, int64_t this_update)
{
    return this_update + ic->resign_after;
}
