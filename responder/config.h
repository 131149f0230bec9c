/*
 * One configuration file for every Revoca component (libconfig syntax).
 * This file owns the shared part: Redis, key prefix, issuers and their OCSP
 * policy.  A component with settings of its own (crlgen's "crl" group, the
 * signer's "signer" group) reads them through the libconfig handle kept in
 * ocsp_config_t, so each rule still lives in one place.
 */
#ifndef REVOCA_CONFIG_H
#define REVOCA_CONFIG_H

#include <libconfig.h>
#include <stddef.h>
#include <stdint.h>

#define OCSP_ISSUER_NAME_MAX 32
#define OCSP_PREFIX_MAX 64
#define OCSP_ERR_MAX 512
#define OCSP_CRL_URL_MAX 1024
#define OCSP_KEY_URI_MAX 1024
/* p11-kit's proxy: every module registered with p11-kit (Debian's
 * softhsm2 package registers libsofthsm2). */
#define OCSP_PKCS11_DEFAULT_MODULE "p11-kit-proxy.so"

typedef enum { OCSP_PROFILE_PRIVATE = 0, OCSP_PROFILE_CABF } ocsp_profile_e;

/* What a never-issued serial of a known issuer is answered with. */
typedef enum {
    OCSP_UNISSUED_UNKNOWN = 0,
    OCSP_UNISSUED_REVOKED, /* RFC 6960 2.2: hold, revoked at epoch */
    OCSP_UNISSUED_UNAUTHORIZED
} ocsp_unissued_e;

#define OCSP_PREVIOUS_RESPONDERS_MAX 4
/* Responder base URLs per issuer (ocsp_urls). */
#define OCSP_OCSP_URLS_MAX 4

typedef struct {
    char name[OCSP_ISSUER_NAME_MAX + 1];
    char *cert_path;           /* the issuing CA certificate */
    char *ca_key_path;         /* the CA key (CRL signing); may be NULL */
    char *responder_cert_path; /* delegated responder, or the CA itself */
    char *responder_key_path;
    /* Certificates of responders replaced by responder_cert, never their
     * keys: stored responses they signed are still served, with the
     * matching certificate, until re-signed (docs/keys.md, rotation). */
    char *previous_responder_cert_paths[OCSP_PREVIOUS_RESPONDERS_MAX];
    size_t nprevious_responders;
    /* Both keys, a file path or a PKCS#11 URI (sign.h). */
    int rsa_pss; /* rsa_padding "pss": RSA keys sign RSASSA-PSS */
    int64_t responder_expiry_warning; /* warn this long before notAfter */
    ocsp_profile_e profile;
    int64_t validity;     /* seconds between thisUpdate and nextUpdate */
    int64_t resign_after; /* seconds after thisUpdate to re-sign */
    int64_t backdate;     /* thisUpdate = now - backdate */
    ocsp_unissued_e unissued;
    int64_t expired_retention; /* drop records this long after notAfter */
    unsigned shards;           /* CRL shards, >= 1; see ocsp_serial_shard */
    /* Where the issuer's CRLs are published (its "crl" group: url,
     * delta_url, shard_urls; defaults from the top-level crl.base_url):
     * what the CA writes into cRLDistributionPoints, revoca-crlgen into
     * the CRLs' IDP and shard list, and what a certificate's shard is
     * derived from (shard.h).  Owned; NULL when not configured. */
    char *crl_url;         /* the full CRL (the only one with one shard) */
    char *crl_delta_url;   /* the full CRL's freshestCRL */
    char **crl_shard_urls; /* shards URLs, or NULL; only when shards > 1 */
    /* The responder URLs its certificates name (authorityInfoAccess
     * id-ad-ocsp), "ocsp_urls", else the top-level purge.ocsp_urls: what
     * the CDN purge hook is given GET URLs under (purge.h).  Owned. */
    char *ocsp_urls[OCSP_OCSP_URLS_MAX];
    size_t nocsp_urls;
    const config_setting_t *setting; /* this issuer's group, borrowed */
} ocsp_issuer_conf_t;

/*
 * How PKCS#11 keys are reached (the top-level pkcs11 group, sign.h): the
 * module, and where the PIN comes from, never the config file itself.
 */
typedef struct {
    char *module;   /* PKCS#11 library; default p11-kit's proxy */
    char *pin_file; /* owner-only file holding the PIN, or NULL */
    char *pin_env;  /* environment variable holding the PIN, or NULL */
} ocsp_pkcs11_conf_t;

/* A Sentinel's address (redis.sentinels): host name or address, owned. */
typedef struct {
    char *host;
    int port;
} ocsp_redis_addr_t;

#define OCSP_SENTINELS_MAX 16
#define OCSP_SENTINEL_PORT 26379
#define OCSP_MASTER_NAME_MAX 128
#define OCSP_REPLICA_ACKS_MAX 64

typedef struct {
    char *path;           /* the file it was loaded from */
    char *redis_host;     /* host name, or a unix socket path */
    int redis_port;       /* 0 with a unix socket */
    char *redis_password; /* NULL: no AUTH */
    char *redis_user;     /* NULL: default user */
    int redis_db;
    /* TLS to Redis (redis.tls*); paths resolved against the file, owned.
     * tls_ca is set whenever redis_tls is; the rest may be NULL. */
    int redis_tls;
    char *redis_tls_ca;          /* CA bundle the server is verified with */
    char *redis_tls_server_name; /* name verified (and sent as SNI); NULL:
                                    the host connected to */
    char *redis_tls_cert;        /* client certificate chain (mTLS) */
    char *redis_tls_key;         /* and its key, set with it */
    /* Sentinel (redis.sentinels, master_name, sentinel_*): with
     * nsentinels > 0 the daemons and the CLI ask them for the primary of
     * master_name and ignore redis_host/port (rconn.h). */
    size_t redis_nsentinels;
    ocsp_redis_addr_t redis_sentinels[OCSP_SENTINELS_MAX];
    char *redis_master_name;
    char *redis_sentinel_user;     /* NULL: default user */
    char *redis_sentinel_password; /* NULL: no AUTH to the Sentinels */
    int redis_sentinel_tls;        /* default: redis_tls */
    /* Acknowledged writes: WAIT for this many replicas (0: none), at most
     * wait_timeout_ms, after every write that reports success (rconn.h). */
    int redis_min_replica_acks;
    long redis_wait_timeout_ms;
    char prefix[OCSP_PREFIX_MAX + 1];
    size_t nissuers;
    ocsp_issuer_conf_t *issuers;
    ocsp_pkcs11_conf_t pkcs11;
    config_t lc; /* the parsed file, for component settings */
} ocsp_config_t;

/*
 * Loads and validates FILE into *cf.  Paths inside the file are resolved
 * relative to the file's directory.  Returns 0, or -1 with a message naming
 * the file, line and problem in err (size OCSP_ERR_MAX).  On success the
 * caller owns *cf and frees it with ocsp_config_free().
 */
int ocsp_config_load(ocsp_config_t *cf, const char *file, char *err);
void ocsp_config_free(ocsp_config_t *cf);

/* Borrowed pointer to the issuer called NAME, or NULL. */
const ocsp_issuer_conf_t *ocsp_config_issuer(const ocsp_config_t *cf,
                                             const char *name);

/*
 * Helpers for component settings, so that every component reports errors
 * the same way ("FILE:LINE: key: problem").  Each returns 0 when the key is
 * absent (leaving *out at its default) or valid, -1 with err set otherwise.
 */
int ocsp_conf_duration(const config_setting_t *group, const char *key,
                       int64_t *out, const char *file, char *err);
int ocsp_conf_int(const config_setting_t *group, const char *key, int64_t min,
                  int64_t max, int64_t *out, const char *file, char *err);
int ocsp_conf_string(const config_setting_t *group, const char *key,
                     const char **out, const char *file, char *err);
/*
 * Where an error about KEY of GROUP is reported: the key's own line, or
 * the group's when the key is absent (a default that does not fit), never
 * line 0.  GROUP may be NULL.
 */
const config_setting_t *ocsp_conf_where(const config_setting_t *group,
                                        const char *key);

int ocsp_conf_bool(const config_setting_t *group, const char *key, int *out,
                   const char *file, char *err);

/*
 * Refuses a member of GROUP whose name is not in KNOWN (NULL-terminated):
 * 0, or -1 with err "FILE:LINE: unknown key "K" in GROUP".  Every reader of
 * a group calls it, so a misspelled key is an error, never a default.
 */
int ocsp_conf_known(const config_setting_t *group, const char *const *known,
                    const char *file, char *err);

/*
 * The stream consumer name: GROUP's "consumer" setting when given, else
 * "HOST-PID".  Writes it with its NUL into out (SIZE bytes).  0 or -1.
 */
int ocsp_conf_consumer(const config_setting_t *group, char *out, size_t size,
                       const char *file, char *err);

/* Resolves PATH against the config file's directory; caller frees. */
char *ocsp_conf_path(const ocsp_config_t *cf, const char *path);
/* Formats "FILE:LINE: fmt" into err. */
void ocsp_conf_error(char *err, const char *file, const config_setting_t *s,
                     const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/*
 * Parses a duration: a whole number followed by s, m, h or d ("90s", "8h",
 * "7d"), or plain seconds.  Returns 0 and *out, or -1.
 */
int ocsp_parse_duration(const char *s, int64_t *out);

/* Writes SECS the way a config file would ("90s", "8h", "10d"). */
void ocsp_format_duration(int64_t secs, char *buf, size_t size);

/* True if NAME matches [a-z0-9-]{1,32}. */
int ocsp_issuer_name_valid(const char *name);

#endif
