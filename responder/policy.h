/*
 * What an issuer's configuration decides, in one place: the rules of its
 * profile (docs/dev/architecture.md, "Users": private or cabf) and the
 * dates of the responses signed for it.  The config loader checks settings
 * against the profile here; the CLI, the importer, the signer and the CRL
 * generator ask here whether an event or a CRL setting is allowed; the signer
 * and the nginx module's request-path signing date their responses here.
 */
#ifndef REVOCA_POLICY_H
#define REVOCA_POLICY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "revocation.pb-c.h"
#include "sign.h"

typedef struct {
    const char *name;     /* as written in the config file */
    int hold;             /* certificateHold (and release) allowed */
    unsigned reasons;     /* bit N: CRLReason N may be reported */
    int64_t validity_min; /* OCSP thisUpdate..nextUpdate, seconds */
    int64_t validity_max;
    int resign_by_half;       /* re-signed by half of the validity at the
                               * latest, not only before it ends */
    int64_t crl_lifetime_max; /* CRL thisUpdate..nextUpdate */
    int64_t crl_resign_max;   /* a new CRL at least this often */
    int delta;                /* delta CRLs allowed */
    int https_crl_urls;       /* CRL distribution points over https */
    const char *rules;        /* who sets the limits, cited in messages as
                               * "(RULES 4.9.7)", or NULL */
    const char *hold_refused; /* the one message for each refusal */
    const char *reason_refused;
} ocsp_profile_t;

/* The rules of PROFILE (never NULL for a value of the enum). */
const ocsp_profile_t *ocsp_profile(ocsp_profile_e profile);

/*
 * " (RULES SECTION)" for a message about one of P's limits, e.g.
 * " (Baseline Requirements 4.9.7)", or "" for a profile that cites no
 * rules.  Written into buf (SIZE bytes), which is returned.
 */
const char *ocsp_profile_cite(const ocsp_profile_t *p, const char *section,
                              char *buf, size_t size);

/* The profile called NAME ("private", "cabf"): 0 and *out, or -1. */
int ocsp_profile_from_name(const char *name, ocsp_profile_e *out);

/*
 * Whether REASON (RFC 5280 5.3.1, 0 for unspecified) may be reported under
 * PROFILE.  The cabf profile allows only the CRLReasons of CA/B BR 7.2.2
 * (unspecified expressed by omission, 1, 3, 4, 5, 9).
 */
int ocsp_profile_allows_reason(ocsp_profile_e profile, int reason);

/* Whether certificateHold and its release are allowed (not under cabf). */
int ocsp_profile_allows_hold(ocsp_profile_e profile);

/*
 * Whether the validated event EV is allowed under PROFILE: NULL if so,
 * else a static reason for the log or the operator.
 */
const char *ocsp_profile_refuses(ocsp_profile_e profile,
                                 const Revoca__Event *ev);

/*
 * Whether PROFILE lets an issuer sign with ALG and a key of BITS (RSA
 * modulus, or curve size): NULL if so, else a static reason.  The cabf
 * profile allows what CA/B BR 6.1.5 and 7.1.3.2 do: RSA of at least 2048
 * bits, a multiple of 8, with PKCS#1 v1.5 or PSS and SHA-256; ECDSA on
 * P-256 / P-384 / P-521 with SHA-256 / 384 / 512; no Ed25519.
 */
const char *ocsp_profile_refuses_key(ocsp_profile_e profile, ocsp_sig_alg_e alg,
                                     int bits);

/* The dates of a response signed at NOW for issuer IC. */
typedef struct {
    int64_t produced_at;
    int64_t this_update; /* backdated for clients' clock skew */
    int64_t next_update;
    int64_t resign_at; /* when the signer re-signs it */
} ocsp_times_t;

void ocsp_response_times(const ocsp_issuer_conf_t *ic, int64_t now,
                         ocsp_times_t *t);

/* When a response of IC's with THIS_UPDATE is replaced by the signer (so
 * no cache should keep it longer). */
int64_t ocsp_resign_at(const ocsp_issuer_conf_t *ic, int64_t this_update);

#endif
