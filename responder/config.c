#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "policy.h"
#include "sign.h"

#define DEFAULT_VALIDITY (4 * 86400)
#define DEFAULT_BACKDATE 3600
#define DEFAULT_RETENTION (7 * 86400)
#define MAX_SHARDS 4096

void ocsp_conf_error(char *err, const char *file, const config_setting_t *s,
                     const char *fmt, ...)
{
    va_list ap;
    int n;

    n = snprintf(err, OCSP_ERR_MAX, "%s:%d: ", file ? file : "?",
                 s ? config_setting_source_line(s) : 0);
    if (n < 0 || n >= OCSP_ERR_MAX) {
        return;
    }
    va_start(ap, fmt);
    vsnprintf(err + n, OCSP_ERR_MAX - (size_t)n, fmt, ap);
    va_end(ap);
}

int ocsp_parse_duration(const char *s, int64_t *out)
{
    char *end;
    long long v;
    int64_t mul = 1;

    if (s == NULL || *s < '0' || *s > '9') {
        return -1;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || v < 0) {
        return -1;
    }
    switch (*end) {
    case '\0':
    case 's':
        break;
    case 'm':
        mul = 60;
        break;
    case 'h':
        mul = 3600;
        break;
    case 'd':
        mul = 86400;
        break;
    default:
        return -1;
    }
    if (*end != '\0' && end[1] != '\0') {
        return -1;
    }
    if (v > INT64_MAX / mul) {
        return -1;
    }
    *out = (int64_t)v * mul;
    return 0;
}

void ocsp_format_duration(int64_t secs, char *buf, size_t size)
{
    static const struct {
        int64_t unit;
        char suffix;
    } units[] = {{86400, 'd'}, {3600, 'h'}, {60, 'm'}};
    size_t i;

    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (secs != 0 && secs % units[i].unit == 0) {
            snprintf(buf, size, "%lld%c", (long long)(secs / units[i].unit),
                     units[i].suffix);
            return;
        }
    }
    snprintf(buf, size, "%llds", (long long)secs);
}

int ocsp_issuer_name_valid(const char *name)
{
    size_t n = 0;

    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) {
            return 0;
        }
        if (n >= OCSP_ISSUER_NAME_MAX) {
            return 0;
        }
    }
    return n > 0;
}

int ocsp_conf_duration(const config_setting_t *group, const char *key,
                       int64_t *out, const char *file, char *err)
{
    config_setting_t *s = config_setting_get_member(group, key);
    const char *str;

    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) == CONFIG_TYPE_INT ||
        config_setting_type(s) == CONFIG_TYPE_INT64) {
        long long v = config_setting_get_int64(s);
        if (v < 0) {
            ocsp_conf_error(err, file, s, "%s: must not be negative", key);
            return -1;
        }
        *out = v;
        return 0;
    }
    str = config_setting_get_string(s);
    if (str == NULL || ocsp_parse_duration(str, out) != 0) {
        ocsp_conf_error(err, file, s,
                        "%s: expected a duration such as \"90s\", \"8h\" or "
                        "\"7d\"",
                        key);
        return -1;
    }
    return 0;
}

int ocsp_conf_int(const config_setting_t *group, const char *key, int64_t min,
                  int64_t max, int64_t *out, const char *file, char *err)
{
    config_setting_t *s = config_setting_get_member(group, key);
    long long v;

    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_INT &&
        config_setting_type(s) != CONFIG_TYPE_INT64) {
        ocsp_conf_error(err, file, s, "%s: expected an integer", key);
        return -1;
    }
    v = config_setting_get_int64(s);
    if (v < min || v > max) {
        ocsp_conf_error(err, file, s, "%s: %lld is out of range %lld..%lld",
                        key, v, (long long)min, (long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int ocsp_conf_string(const config_setting_t *group, const char *key,
                     const char **out, const char *file, char *err)
{
    config_setting_t *s = config_setting_get_member(group, key);

    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_STRING) {
        ocsp_conf_error(err, file, s, "%s: expected a string", key);
        return -1;
    }
    *out = config_setting_get_string(s);
    return 0;
}

const config_setting_t *ocsp_conf_where(const config_setting_t *group,
                                        const char *key)
{
    const config_setting_t *s;

    if (group == NULL) {
        return NULL;
    }
    s = config_setting_get_member(group, key);
    return s != NULL ? s : group;
}

int ocsp_conf_bool(const config_setting_t *group, const char *key, int *out,
                   const char *file, char *err)
{
    config_setting_t *s = config_setting_get_member(group, key);

    if (s == NULL) {
        return 0;
    }
    if (config_setting_type(s) != CONFIG_TYPE_BOOL) {
        ocsp_conf_error(err, file, s, "%s: expected true or false", key);
        return -1;
    }
    *out = config_setting_get_bool(s);
    return 0;
}

int ocsp_conf_known(const config_setting_t *group, const char *const *known,
                    const char *file, char *err)
{
    int i, n;

    if (group == NULL) {
        return 0;
    }
    if (!config_setting_is_group(group)) {
        /* "signer = 5;" must not run on defaults */
        ocsp_conf_error(err, file, group, "%s: expected a group",
                        config_setting_name(group) ? config_setting_name(group)
                                                   : "setting");
        return -1;
    }
    n = config_setting_length(group);
    for (i = 0; i < n; i++) {
        const config_setting_t *m = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(m);
        const char *const *k;
        const char *where = config_setting_name(group);

        for (k = known; *k != NULL; k++) {
            if (name != NULL && strcmp(name, *k) == 0) {
                break;
            }
        }
        if (*k == NULL) {
            /* A misspelled key must not silently become a default. */
            ocsp_conf_error(err, file, m, "unknown key \"%s\"%s%s",
                            name ? name : "?", where ? " in " : "",
                            where ? where : "");
            return -1;
        }
    }
    return 0;
}

int ocsp_conf_consumer(const config_setting_t *group, char *out, size_t size,
                       const char *file, char *err)
{
    const char *v = "";
    char host[256];

    if (group != NULL &&
        ocsp_conf_string(group, "consumer", &v, file, err) != 0) {
        return -1;
    }
    if (v[0] != '\0') {
        if (strlen(v) >= size || strpbrk(v, " \t\r\n") != NULL) {
            ocsp_conf_error(err, file, ocsp_conf_where(group, "consumer"),
                            "consumer: 1..%zu characters, no spaces", size - 1);
            return -1;
        }
        memcpy(out, v, strlen(v) + 1);
        return 0;
    }
    /* Unique per process: a restarted daemon takes over its old entries
     * by XAUTOCLAIM once they are idle, not by reusing the name. */
    if (gethostname(host, sizeof(host)) != 0) {
        snprintf(host, sizeof(host), "host");
    }
    host[sizeof(host) - 1] = '\0';
    snprintf(out, size, "%.*s-%ld", (int)(size > 24 ? size - 24 : 1), host,
             (long)getpid());
    return 0;
}

char *ocsp_conf_path(const ocsp_config_t *cf, const char *path)
{
    char *dir, *copy, *out;
    size_t n;

    if (path[0] == '/') {
        return strdup(path);
    }
    copy = strdup(cf->path);
    if (copy == NULL) {
        return NULL;
    }
    dir = dirname(copy);
    n = strlen(dir) + 1 + strlen(path) + 1;
    out = malloc(n);
    if (out != NULL) {
        snprintf(out, n, "%s/%s", dir, path);
    }
    free(copy);
    return out;
}

/* A required or optional path setting, resolved against the file. */
static int conf_path(ocsp_config_t *cf, const config_setting_t *g,
                     const char *key, int required, char **out, char *err)
{
    const char *v = NULL;

    if (ocsp_conf_string(g, key, &v, cf->path, err) != 0) {
        return -1;
    }
    if (v == NULL || v[0] == '\0') {
        if (required) {
            ocsp_conf_error(err, cf->path, g, "issuer: \"%s\" is required",
                            key);
            return -1;
        }
        *out = NULL;
        return 0;
    }
    *out = ocsp_conf_path(cf, v);
    if (*out == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

/* A key: a path resolved against the file, or a PKCS#11 URI (RFC 7512)
 * kept as written.  The PIN is never in the config: a URI carrying one
 * (pin-value, pin-source) is refused. */
static int conf_key(ocsp_config_t *cf, const config_setting_t *g,
                    const char *key, char **out, char *err)
{
    const char *v = NULL;

    if (ocsp_conf_string(g, key, &v, cf->path, err) != 0) {
        return -1;
    }
    if (v == NULL || strncmp(v, "pkcs11:", 7) != 0) {
        return conf_path(cf, g, key, 0, out, err);
    }
    if (strlen(v) > OCSP_KEY_URI_MAX) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, key),
                        "%s: a PKCS#11 URI of at most %d characters", key,
                        OCSP_KEY_URI_MAX);
        return -1;
    }
    if (strstr(v, "pin-value") != NULL || strstr(v, "pin-source") != NULL) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, key),
                        "%s: the PIN does not go in the config; use "
                        "pkcs11.pin_file or pkcs11.pin_env",
                        key);
        return -1;
    }
    if (strpbrk(v, " \t\r\n\"") != NULL) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, key),
                        "%s: a PKCS#11 URI has no spaces or quotes "
                        "(RFC 7512: percent-encode them)",
                        key);
        return -1;
    }
    *out = strdup(v);
    if (*out == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

/* The pkcs11 group (config.h): module, pin_file or pin_env. */
static int conf_pkcs11(ocsp_config_t *cf, char *err)
{
    const config_setting_t *g = config_lookup(&cf->lc, "pkcs11");
    const char *module = OCSP_PKCS11_DEFAULT_MODULE, *env = NULL;
    static const char *const known[] = {"module", "pin_file", "pin_env", NULL};
    const config_setting_t *need = NULL; /* the first PKCS#11 key */

    for (size_t i = cf->nissuers; i-- > 0;) {
        const ocsp_issuer_conf_t *ic = &cf->issuers[i];
        if (ocsp_sign_is_pkcs11(ic->responder_key_path)) {
            need = ocsp_conf_where(ic->setting, "responder_key");
        }
        if (ocsp_sign_is_pkcs11(ic->ca_key_path)) {
            need = ocsp_conf_where(ic->setting, "key");
        }
    }
    if (g != NULL) {
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            ocsp_conf_error(err, cf->path, g, "pkcs11: expected a group");
            return -1;
        }
        if (ocsp_conf_known(g, known, cf->path, err) != 0 ||
            ocsp_conf_string(g, "module", &module, cf->path, err) != 0 ||
            ocsp_conf_string(g, "pin_env", &env, cf->path, err) != 0 ||
            conf_path(cf, g, "pin_file", 0, &cf->pkcs11.pin_file, err) != 0) {
            return -1;
        }
    }
    if (env != NULL && env[0] != '\0') {
        size_t n = strspn(env, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               "abcdefghijklmnopqrstuvwxyz0123456789_");
        if (env[n] != '\0' || n > 64 || (env[0] >= '0' && env[0] <= '9')) {
            ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "pin_env"),
                            "pin_env: an environment variable name "
                            "([A-Za-z_][A-Za-z0-9_]{0,63})");
            return -1;
        }
        cf->pkcs11.pin_env = strdup(env);
        if (cf->pkcs11.pin_env == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            return -1;
        }
    }
    if (cf->pkcs11.pin_env != NULL && cf->pkcs11.pin_file != NULL) {
        ocsp_conf_error(err, cf->path, g,
                        "pkcs11: pin_file or pin_env, not both");
        return -1;
    }
    if (need != NULL && cf->pkcs11.pin_env == NULL &&
        cf->pkcs11.pin_file == NULL) {
        ocsp_conf_error(err, cf->path, g != NULL ? g : need,
                        "pkcs11: a PKCS#11 key needs pkcs11.pin_file or "
                        "pkcs11.pin_env");
        return -1;
    }
    /* A bare name is found by dlopen() in the system's library path. */
    cf->pkcs11.module = strchr(module, '/') == NULL || module[0] == '/'
                            ? strdup(module)
                            : ocsp_conf_path(cf, module);
    if (cf->pkcs11.module == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

/* RFC 5280 4.2.1.13 URIs as certificates carry them: printable ASCII, no
 * spaces, http or, where PROFILE allows it, https. */
static int crl_url_valid(const char *url, ocsp_profile_e profile)
{
    size_t n = strlen(url);

    if (n == 0 || n > OCSP_CRL_URL_MAX) {
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
    return ocsp_profile(profile)->https_crl_urls &&
           strncmp(url, "https://", 8) == 0 && n > 8;
}

/* BASE + ISSUER + SUFFIX, or NULL without a base URL (or memory). */
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

/* The URL setting KEY of the issuer's crl group G (may be NULL), else the
 * one derived from BASE + ISSUER + SUFFIX, validated for the profile. */
static int conf_crl_url(ocsp_config_t *cf, ocsp_issuer_conf_t *ic,
                        const config_setting_t *g, const char *key,
                        const char *base, const char *suffix, char **out,
                        char *err)
{
    const char *v = NULL;

    *out = NULL;
    if (g != NULL && ocsp_conf_string(g, key, &v, cf->path, err) != 0) {
        return -1;
    }
    if (v != NULL) {
        *out = strdup(v);
    } else if (base != NULL) {
        *out = crl_default_url(base, ic->name, suffix);
    } else {
        return 0;
    }
    if (*out == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (!crl_url_valid(*out, ic->profile)) {
        ocsp_conf_error(err, cf->path,
                        v != NULL   ? ocsp_conf_where(g, key)
                        : g != NULL ? g
                                    : ic->setting,
                        "%s: \"%s\" is not a valid %s URL", key, *out,
                        ocsp_profile(ic->profile)->https_crl_urls ? "http(s)"
                                                                  : "http");
        return -1;
    }
    return 0;
}

/* crl.shard_urls, else BASE + ISSUER-shard-N.crl; none without either
 * (revoca-crlgen then refuses the issuer, see crl_conf.c). */
static int conf_crl_shard_urls(ocsp_config_t *cf, ocsp_issuer_conf_t *ic,
                               const config_setting_t *g, const char *base,
                               char *err)
{
    config_setting_t *list =
        g != NULL ? config_setting_get_member(g, "shard_urls") : NULL;
    const char *file = cf->path;
    char suffix[48];

    if (list == NULL && base == NULL) {
        return 0;
    }
    if (list != NULL) {
        if (config_setting_type(list) != CONFIG_TYPE_ARRAY &&
            config_setting_type(list) != CONFIG_TYPE_LIST) {
            ocsp_conf_error(err, file, list,
                            "shard_urls: expected a list of URLs");
            return -1;
        }
        if ((unsigned)config_setting_length(list) != ic->shards) {
            ocsp_conf_error(err, file, list,
                            "shard_urls: %d URLs for %u shards of issuer %s",
                            config_setting_length(list), ic->shards, ic->name);
            return -1;
        }
    }
    ic->crl_shard_urls = calloc(ic->shards, sizeof(char *));
    if (ic->crl_shard_urls == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < ic->shards; i++) {
        char **u = &ic->crl_shard_urls[i];

        if (list != NULL) {
            const char *v = config_setting_get_string_elem(list, (int)i);
            if (v == NULL || !crl_url_valid(v, ic->profile)) {
                ocsp_conf_error(err, file, list,
                                "shard_urls: element %u is not a valid URL", i);
                return -1;
            }
            *u = strdup(v);
        } else {
            snprintf(suffix, sizeof(suffix), "-shard-%u.crl", i);
            *u = crl_default_url(base, ic->name, suffix);
        }
        if (*u == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            return -1;
        }
        if (list == NULL && !crl_url_valid(*u, ic->profile)) {
            ocsp_conf_error(err, file, g != NULL ? g : ic->setting,
                            "shard_urls: \"%s\" is not a valid URL", *u);
            return -1;
        }
        for (unsigned j = 0; j < i; j++) {
            if (strcmp(*u, ic->crl_shard_urls[j]) == 0) {
                ocsp_conf_error(err, file, list ? list : g,
                                "shard_urls: shards %u and %u share a URL", j,
                                i);
                return -1;
            }
        }
    }
    return 0;
}

/* The issuer's CRL URLs, read once for every component. */
static int conf_crl_urls(ocsp_config_t *cf, ocsp_issuer_conf_t *ic,
                         const char *base, char *err)
{
    const config_setting_t *g = config_setting_get_member(ic->setting, "crl");

    if (g != NULL && config_setting_type(g) != CONFIG_TYPE_GROUP) {
        ocsp_conf_error(err, cf->path, g, "crl: expected a group");
        return -1;
    }
    if (ic->ca_key_path == NULL) {
        /* No CA key: revoca-crlgen publishes nothing for it, so base_url
         * says nothing of where its CRLs are (crl_conf.c refuses a crl
         * group here). */
        base = NULL;
    }
    if (conf_crl_url(cf, ic, g, "url", base, ".crl", &ic->crl_url, err) != 0 ||
        conf_crl_url(cf, ic, g, "delta_url", base, "-delta.crl",
                     &ic->crl_delta_url, err) != 0) {
        return -1;
    }
    if (ic->shards > 1) {
        return conf_crl_shard_urls(cf, ic, g, base, err);
    }
    return 0;
}

/*
 * An OCSP responder base URL (ocsp_urls): a URL as crl_url_valid() takes
 * them (BR 7.1.2.7.7 wants http for OCSP as 7.1.2.11.2 for CRLs), without
 * a query or fragment, since a request's base64 is appended to its path.
 */
static int ocsp_url_valid(const char *url, ocsp_profile_e profile)
{
    return crl_url_valid(url, profile) && strpbrk(url, "?#") == NULL;
}

/* The issuer's ocsp_urls, else the top-level purge.ocsp_urls (DEFAULTS,
 * may be NULL); none when neither is set. */
static int conf_ocsp_urls(ocsp_config_t *cf, ocsp_issuer_conf_t *ic,
                          const config_setting_t *defaults, char *err)
{
    const config_setting_t *list =
        config_setting_get_member(ic->setting, "ocsp_urls");
    int n;

    if (list == NULL) {
        list = defaults;
    }
    if (list == NULL) {
        return 0;
    }
    if (config_setting_type(list) != CONFIG_TYPE_ARRAY &&
        config_setting_type(list) != CONFIG_TYPE_LIST) {
        ocsp_conf_error(err, cf->path, list,
                        "ocsp_urls: expected a list of URLs");
        return -1;
    }
    n = config_setting_length(list);
    if (n < 1 || n > OCSP_OCSP_URLS_MAX) {
        ocsp_conf_error(err, cf->path, list, "ocsp_urls: 1..%d URLs",
                        OCSP_OCSP_URLS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(list, i);

        if (v == NULL || !ocsp_url_valid(v, ic->profile)) {
            ocsp_conf_error(
                err, cf->path, list,
                "ocsp_urls: element %d of issuer %s is not a "
                "valid %s URL without query",
                i, ic->name,
                ocsp_profile(ic->profile)->https_crl_urls ? "http(s)" : "http");
            return -1;
        }
        if ((ic->ocsp_urls[i] = strdup(v)) == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            return -1;
        }
        ic->nocsp_urls = (size_t)i + 1;
    }
    return 0;
}

/* previous_responder_certs: a list of certificate paths, at most
 * OCSP_PREVIOUS_RESPONDERS_MAX, only beside a responder_cert (the one that
 * replaced them). */
static int conf_previous_responders(ocsp_config_t *cf,
                                    const config_setting_t *g,
                                    ocsp_issuer_conf_t *ic, char *err)
{
    config_setting_t *list =
        config_setting_get_member(g, "previous_responder_certs");
    const char *file = cf->path;
    int n;

    if (list == NULL) {
        return 0;
    }
    if (config_setting_type(list) != CONFIG_TYPE_ARRAY &&
        config_setting_type(list) != CONFIG_TYPE_LIST) {
        ocsp_conf_error(err, file, list,
                        "previous_responder_certs: expected a list of "
                        "certificate files");
        return -1;
    }
    n = config_setting_length(list);
    if (n > OCSP_PREVIOUS_RESPONDERS_MAX) {
        ocsp_conf_error(err, file, list,
                        "previous_responder_certs: at most %d certificates",
                        OCSP_PREVIOUS_RESPONDERS_MAX);
        return -1;
    }
    if (n > 0 && ic->responder_cert_path == NULL) {
        ocsp_conf_error(err, file, list,
                        "previous_responder_certs: needs the responder_cert "
                        "that replaced them");
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const char *v = config_setting_get_string_elem(list, i);
        if (v == NULL || v[0] == '\0') {
            ocsp_conf_error(err, file, list,
                            "previous_responder_certs: element %d is not a "
                            "file name",
                            i);
            return -1;
        }
        ic->previous_responder_cert_paths[i] = ocsp_conf_path(cf, v);
        if (ic->previous_responder_cert_paths[i] == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            return -1;
        }
        ic->nprevious_responders = (size_t)i + 1;
    }
    return 0;
}

static int conf_issuer(ocsp_config_t *cf, const config_setting_t *g,
                       const char *crl_base, const config_setting_t *ocsp_urls,
                       ocsp_issuer_conf_t *ic, char *err)
{
    const char *name = NULL, *profile = "private", *unissued = "unknown";
    const char *padding = "pkcs1";
    int64_t shards = 1;
    int have_resign;
    const char *file = cf->path;
    const ocsp_profile_t *prof;
    static const char *const known[] = {
        "name",
        "cert",
        "key",
        "responder_cert",
        "responder_key",
        "previous_responder_certs",
        "rsa_padding",
        "responder_expiry_warning",
        "profile",
        "validity",
        "backdate",
        "resign_after",
        "unissued",
        "expired_retention",
        "shards",
        "crl", /* its URLs are read here, the rest and the check of its
                * keys by revoca-crlgen (crl_conf.c) */
        "ocsp_urls",
        NULL};

    ic->setting = g;
    ic->validity = DEFAULT_VALIDITY;
    ic->backdate = DEFAULT_BACKDATE;
    ic->expired_retention = DEFAULT_RETENTION;
    ic->responder_expiry_warning = 30 * 86400;

    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        ocsp_conf_error(err, file, g, "issuers: each entry must be a group");
        return -1;
    }
    if (ocsp_conf_known(g, known, file, err) != 0 ||
        ocsp_conf_string(g, "name", &name, file, err) != 0) {
        return -1;
    }
    if (name == NULL || !ocsp_issuer_name_valid(name)) {
        ocsp_conf_error(err, file, g,
                        "issuer: \"name\" must match [a-z0-9-]{1,32}");
        return -1;
    }
    memcpy(ic->name, name, strlen(name) + 1);

    if (conf_path(cf, g, "cert", 1, &ic->cert_path, err) != 0 ||
        conf_key(cf, g, "key", &ic->ca_key_path, err) != 0 ||
        conf_path(cf, g, "responder_cert", 0, &ic->responder_cert_path, err) !=
            0 ||
        conf_key(cf, g, "responder_key", &ic->responder_key_path, err) != 0) {
        return -1;
    }
    if ((ic->responder_cert_path == NULL) != (ic->responder_key_path == NULL)) {
        ocsp_conf_error(err, file, g,
                        "issuer %s: responder_cert and responder_key go "
                        "together",
                        ic->name);
        return -1;
    }

    if (conf_previous_responders(cf, g, ic, err) != 0 ||
        ocsp_conf_string(g, "rsa_padding", &padding, file, err) != 0) {
        return -1;
    }
    if (strcmp(padding, "pss") == 0) {
        ic->rsa_pss = 1;
    } else if (strcmp(padding, "pkcs1") != 0) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "rsa_padding"),
                        "rsa_padding: expected \"pkcs1\" or \"pss\"");
        return -1;
    }

    if (ocsp_conf_string(g, "profile", &profile, file, err) != 0) {
        return -1;
    }
    if (ocsp_profile_from_name(profile, &ic->profile) != 0) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "profile"),
                        "profile: expected \"private\" or \"cabf\"");
        return -1;
    }
    prof = ocsp_profile(ic->profile);

    if (ocsp_conf_string(g, "unissued", &unissued, file, err) != 0) {
        return -1;
    }
    if (strcmp(unissued, "unknown") == 0) {
        ic->unissued = OCSP_UNISSUED_UNKNOWN;
    } else if (strcmp(unissued, "revoked") == 0) {
        ic->unissued = OCSP_UNISSUED_REVOKED;
    } else if (strcmp(unissued, "unauthorized") == 0) {
        ic->unissued = OCSP_UNISSUED_UNAUTHORIZED;
    } else {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "unissued"),
                        "unissued: expected \"unknown\", \"revoked\" or "
                        "\"unauthorized\"");
        return -1;
    }

    if (ocsp_conf_duration(g, "validity", &ic->validity, file, err) != 0 ||
        ocsp_conf_duration(g, "backdate", &ic->backdate, file, err) != 0 ||
        ocsp_conf_duration(g, "expired_retention", &ic->expired_retention, file,
                           err) != 0 ||
        ocsp_conf_duration(g, "responder_expiry_warning",
                           &ic->responder_expiry_warning, file, err) != 0 ||
        ocsp_conf_int(g, "shards", 1, MAX_SHARDS, &shards, file, err) != 0) {
        return -1;
    }
    ic->shards = (unsigned)shards;

    if (ic->validity < prof->validity_min ||
        ic->validity > prof->validity_max) {
        char lo[24], hi[24], cite[64];
        ocsp_format_duration(prof->validity_min, lo, sizeof(lo));
        ocsp_format_duration(prof->validity_max, hi, sizeof(hi));
        ocsp_conf_error(err, file, ocsp_conf_where(g, "validity"),
                        "validity: the %s profile requires %s..%s%s",
                        prof->name, lo, hi,
                        ocsp_profile_cite(prof, "4.9.10", cite, sizeof(cite)));
        return -1;
    }
    have_resign = config_setting_get_member(g, "resign_after") != NULL;
    ic->resign_after = ic->validity / 2; /* re-sign by half-life */
    if (ocsp_conf_duration(g, "resign_after", &ic->resign_after, file, err) !=
        0) {
        return -1;
    }
    if (have_resign &&
        (ic->resign_after <= 0 || ic->resign_after >= ic->validity)) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "resign_after"),
                        "resign_after: must be within the validity");
        return -1;
    }
    if (prof->resign_by_half && ic->resign_after > ic->validity / 2) {
        /* BR 4.9.10: update at least halfway through the validity. */
        char cite[64];
        ocsp_conf_error(err, file, ocsp_conf_where(g, "resign_after"),
                        "resign_after: the %s profile requires re-signing "
                        "by half of the validity%s",
                        prof->name,
                        ocsp_profile_cite(prof, "4.9.10", cite, sizeof(cite)));
        return -1;
    }
    if (ic->backdate >= ic->resign_after) {
        /* thisUpdate is backdated, so a response would be due for
         * re-signing the moment it is signed. */
        ocsp_conf_error(err, file, ocsp_conf_where(g, "backdate"),
                        "backdate: must be shorter than resign_after");
        return -1;
    }
    if (conf_ocsp_urls(cf, ic, ocsp_urls, err) != 0) {
        return -1;
    }
    return conf_crl_urls(cf, ic, crl_base, err);
}

/* redis.tls*: TLS to Redis, with the server verified against tls_ca and
 * tls_server_name, and a client certificate when the server asks for one. */
static int conf_redis_tls(ocsp_config_t *cf, config_setting_t *g, int sentinels,
                          char *err)
{
    const char *name = NULL;
    int tls = 0;

    if (ocsp_conf_bool(g, "tls", &tls, cf->path, err) != 0 ||
        ocsp_conf_string(g, "tls_server_name", &name, cf->path, err) != 0 ||
        conf_path(cf, g, "tls_ca", 0, &cf->redis_tls_ca, err) != 0 ||
        conf_path(cf, g, "tls_cert", 0, &cf->redis_tls_cert, err) != 0 ||
        conf_path(cf, g, "tls_key", 0, &cf->redis_tls_key, err) != 0) {
        return -1;
    }
    if (!tls) {
        static const char *const tls_only[] = {"tls_ca", "tls_server_name",
                                               "tls_cert", "tls_key", NULL};
        for (size_t i = 0; tls_only[i] != NULL; i++) {
            if (ocsp_conf_where(g, tls_only[i]) != g) {
                /* a CA set up with TLS left off would be a plain link that
                 * looks protected */
                ocsp_conf_error(err, cf->path, ocsp_conf_where(g, tls_only[i]),
                                "redis: %s is set but tls is not true",
                                tls_only[i]);
                return -1;
            }
        }
        return 0;
    }
    if (cf->redis_host[0] == '/' && !sentinels) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "tls"),
                        "redis: tls needs a TCP host, not a unix socket");
        return -1;
    }
    if (cf->redis_tls_ca == NULL) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "tls"),
                        "redis: tls needs tls_ca (the CA bundle the server's "
                        "certificate is verified with)");
        return -1;
    }
    if ((cf->redis_tls_cert == NULL) != (cf->redis_tls_key == NULL)) {
        ocsp_conf_error(
            err, cf->path,
            ocsp_conf_where(g, cf->redis_tls_cert ? "tls_cert" : "tls_key"),
            "redis: tls_cert and tls_key go together");
        return -1;
    }
    if (name != NULL && (name[0] == '\0' || strlen(name) > 253)) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "tls_server_name"),
                        "redis: tls_server_name must be 1..253 characters");
        return -1;
    }
    cf->redis_tls = 1;
    /* unset: each connection verifies the host it connects to */
    if (name != NULL && (cf->redis_tls_server_name = strdup(name)) == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

/*
 * One element of redis.sentinels: "host:port", "[v6]:port", or a host (or
 * a bare IPv6 address) alone, port 26379.  A host is a DNS name or an IP
 * address.  0 and *a (host owned), or -1 with the reason in WHY.
 */
static int conf_sentinel_addr(const char *v, ocsp_redis_addr_t *a,
                              const char **why)
{
    unsigned char ip[16];
    const char *host = v, *port = NULL, *end;
    size_t hlen;
    long p = OCSP_SENTINEL_PORT;
    int v6 = v[0] == '['; /* checked below */

    if (v[0] == '[') {
        end = strchr(v, ']');
        if (end == NULL || (end[1] != '\0' && end[1] != ':')) {
            *why = "expected \"[IPv6]:port\"";
            return -1;
        }
        host = v + 1;
        hlen = (size_t)(end - host);
        port = end[1] == ':' ? end + 2 : NULL;
    } else if (inet_pton(AF_INET6, v, ip) == 1) {
        hlen = strlen(v); /* a bare IPv6 address: the default port */
        v6 = 1;
    } else {
        end = strchr(v, ':');
        hlen = end != NULL ? (size_t)(end - v) : strlen(v);
        port = end != NULL ? end + 1 : NULL;
    }
    if (hlen == 0 || hlen > 253) {
        *why = "the host must be 1..253 characters";
        return -1;
    }
    for (size_t i = 0; i < hlen; i++) {
        char c = host[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
              (c == ':' && v6))) {
            *why = "the host is not a DNS name or an IP address (IPv6 goes "
                   "in brackets: \"[::1]:26379\")";
            return -1;
        }
    }
    if (port != NULL) {
        p = 0;
        for (end = port; *end >= '0' && *end <= '9' && p <= 65535; end++) {
            p = p * 10 + (*end - '0');
        }
        if (end == port || *end != '\0' || p < 1 || p > 65535 ||
            port[0] == '0') {
            *why = "the port must be 1..65535";
            return -1;
        }
    }
    a->host = strndup(host, hlen);
    if (a->host == NULL) {
        *why = "out of memory";
        return -1;
    }
    if (v[0] == '[' && inet_pton(AF_INET6, a->host, ip) != 1) {
        free(a->host);
        a->host = NULL;
        *why = "not an IPv6 address in the brackets";
        return -1;
    }
    a->port = (int)p;
    return 0;
}

/* A printable name without spaces or quotes, 1..MAX bytes (Sentinel's
 * master name). */
static int conf_word_valid(const char *v, size_t max)
{
    size_t n = strlen(v);

    if (n == 0 || n > max) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] <= ' ' || v[i] > '~' || v[i] == '"' || v[i] == '\'') {
            return 0;
        }
    }
    return 1;
}

/* redis.sentinels, master_name, sentinel_user/password/tls: where the
 * primary is found (rconn.h). */
static int conf_redis_sentinels(ocsp_config_t *cf, config_setting_t *g,
                                char *err)
{
    const config_setting_t *list = config_setting_get_member(g, "sentinels");
    const char *name = NULL, *user = NULL, *password = NULL;
    int tls = cf->redis_tls, n;

    if (ocsp_conf_string(g, "master_name", &name, cf->path, err) != 0 ||
        ocsp_conf_string(g, "sentinel_user", &user, cf->path, err) != 0 ||
        ocsp_conf_string(g, "sentinel_password", &password, cf->path, err) !=
            0 ||
        ocsp_conf_bool(g, "sentinel_tls", &tls, cf->path, err) != 0) {
        return -1;
    }
    if (list == NULL) {
        static const char *const with[] = {"master_name", "sentinel_user",
                                           "sentinel_password", "sentinel_tls",
                                           NULL};
        for (size_t i = 0; with[i] != NULL; i++) {
            if (ocsp_conf_where(g, with[i]) != g) {
                ocsp_conf_error(err, cf->path, ocsp_conf_where(g, with[i]),
                                "redis: %s is set but sentinels is not",
                                with[i]);
                return -1;
            }
        }
        return 0;
    }
    if ((config_setting_type(list) != CONFIG_TYPE_LIST &&
         config_setting_type(list) != CONFIG_TYPE_ARRAY) ||
        (n = config_setting_length(list)) == 0 || n > OCSP_SENTINELS_MAX) {
        ocsp_conf_error(err, cf->path, list,
                        "redis: sentinels: expected a list of 1..%d "
                        "\"host:port\" strings",
                        OCSP_SENTINELS_MAX);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(list, (unsigned)i);
        const char *v = e ? config_setting_get_string(e) : NULL;
        const char *why = "expected a \"host:port\" string";
        ocsp_redis_addr_t *a = &cf->redis_sentinels[i];

        if (v == NULL || conf_sentinel_addr(v, a, &why) != 0) {
            ocsp_conf_error(err, cf->path, e ? e : list,
                            "redis: sentinels[%d] \"%.300s\": %s", i,
                            v ? v : "", why);
            return -1;
        }
        cf->redis_nsentinels++;
    }
    if (name == NULL) {
        ocsp_conf_error(err, cf->path, list,
                        "redis: sentinels needs master_name (the name the "
                        "Sentinels monitor the primary under)");
        return -1;
    }
    if (!conf_word_valid(name, OCSP_MASTER_NAME_MAX)) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "master_name"),
                        "redis: master_name must be 1..%d printable "
                        "characters, no spaces or quotes",
                        OCSP_MASTER_NAME_MAX);
        return -1;
    }
    if (tls && !cf->redis_tls) {
        /* the CA bundle and client certificate are redis.tls_*'s */
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "sentinel_tls"),
                        "redis: sentinel_tls needs tls = true (and its "
                        "tls_ca)");
        return -1;
    }
    cf->redis_sentinel_tls = tls;
    cf->redis_master_name = strdup(name);
    cf->redis_sentinel_user = user && *user ? strdup(user) : NULL;
    cf->redis_sentinel_password =
        password && *password ? strdup(password) : NULL;
    if (cf->redis_master_name == NULL ||
        (user && *user && !cf->redis_sentinel_user) ||
        (password && *password && !cf->redis_sentinel_password)) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    return 0;
}

#define WAIT_TIMEOUT_MIN_MS 1
#define WAIT_TIMEOUT_MAX_MS 60000

/* redis.min_replica_acks and wait_timeout ("1s", "250ms"; 1ms..60s). */
static int conf_redis_wait(ocsp_config_t *cf, config_setting_t *g, char *err)
{
    const config_setting_t *s = config_setting_get_member(g, "wait_timeout");
    int64_t acks = 0, ms = 1000;

    if (ocsp_conf_int(g, "min_replica_acks", 0, OCSP_REPLICA_ACKS_MAX, &acks,
                      cf->path, err) != 0) {
        return -1;
    }
    if (s != NULL) {
        const char *v = config_setting_get_string(s);
        size_t n = v ? strlen(v) : 0;
        int64_t secs;
        int ok;

        if (config_setting_type(s) == CONFIG_TYPE_INT ||
            config_setting_type(s) == CONFIG_TYPE_INT64) {
            ok = ocsp_conf_duration(g, "wait_timeout", &secs, cf->path, err) ==
                     0 &&
                 secs <= WAIT_TIMEOUT_MAX_MS / 1000;
            ms = secs * 1000;
        } else if (n > 2 && strcmp(v + n - 2, "ms") == 0) {
            char num[24];
            ok = n - 2 < sizeof(num);
            if (ok) {
                memcpy(num, v, n - 2);
                num[n - 2] = '\0';
                ok = strchr(num, 's') == NULL &&
                     ocsp_parse_duration(num, &ms) == 0;
            }
        } else {
            ok = v != NULL && ocsp_parse_duration(v, &secs) == 0 &&
                 secs <= WAIT_TIMEOUT_MAX_MS / 1000;
            ms = ok ? secs * 1000 : 0;
        }
        if (!ok || ms < WAIT_TIMEOUT_MIN_MS || ms > WAIT_TIMEOUT_MAX_MS) {
            ocsp_conf_error(err, cf->path, s,
                            "redis: wait_timeout: expected a duration of "
                            "1ms..60s, such as \"1s\" or \"250ms\"");
            return -1;
        }
    }
    cf->redis_min_replica_acks = (int)acks;
    cf->redis_wait_timeout_ms = (long)ms;
    return 0;
}

static int conf_redis(ocsp_config_t *cf, char *err)
{
    config_setting_t *g = config_lookup(&cf->lc, "redis");
    const char *host = "127.0.0.1", *user = NULL, *password = NULL;
    int64_t port = 6379, db = 0;
    static const char *const known[] = {"host",
                                        "port",
                                        "user",
                                        "password",
                                        "db",
                                        "tls",
                                        "tls_ca",
                                        "tls_server_name",
                                        "tls_cert",
                                        "tls_key",
                                        "sentinels",
                                        "master_name",
                                        "sentinel_user",
                                        "sentinel_password",
                                        "sentinel_tls",
                                        "min_replica_acks",
                                        "wait_timeout",
                                        NULL};

    if (g != NULL) {
        if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
            ocsp_conf_error(err, cf->path, g, "redis: expected a group");
            return -1;
        }
        if (ocsp_conf_known(g, known, cf->path, err) != 0 ||
            ocsp_conf_string(g, "host", &host, cf->path, err) != 0 ||
            ocsp_conf_string(g, "user", &user, cf->path, err) != 0 ||
            ocsp_conf_string(g, "password", &password, cf->path, err) != 0 ||
            ocsp_conf_int(g, "port", 0, 65535, &port, cf->path, err) != 0 ||
            ocsp_conf_int(g, "db", 0, 1024, &db, cf->path, err) != 0) {
            return -1;
        }
    }
    if (host[0] == '/') {
        port = 0;
    } else if (port == 0) {
        ocsp_conf_error(err, cf->path, g, "redis: port must be 1..65535");
        return -1;
    }
    cf->redis_host = strdup(host);
    cf->redis_user = user && *user ? strdup(user) : NULL;
    cf->redis_password = password && *password ? strdup(password) : NULL;
    cf->redis_port = (int)port;
    cf->redis_db = (int)db;
    cf->redis_wait_timeout_ms = 1000;
    if (cf->redis_host == NULL) {
        return -1;
    }
    if (g == NULL) {
        return 0;
    }
    /* with sentinels, host is not where TLS goes */
    return conf_redis_tls(cf, g,
                          config_setting_get_member(g, "sentinels") != NULL,
                          err) != 0 ||
                   conf_redis_sentinels(cf, g, err) != 0 ||
                   conf_redis_wait(cf, g, err) != 0
               ? -1
               : 0;
}

/* crl.base_url: where the publish directory is served, the default of
 * every issuer's CRL URLs.  The rest of the crl group is crlgen's. */
static int conf_crl_base(ocsp_config_t *cf, const char **base, char *err)
{
    const config_setting_t *g = config_lookup(&cf->lc, "crl");

    *base = NULL;
    if (g == NULL || config_setting_type(g) != CONFIG_TYPE_GROUP) {
        return 0; /* revoca-crlgen says what the group must be */
    }
    if (ocsp_conf_string(g, "base_url", base, cf->path, err) != 0) {
        return -1;
    }
    if (*base != NULL && (!crl_url_valid(*base, OCSP_PROFILE_PRIVATE) ||
                          (*base)[strlen(*base) - 1] != '/')) {
        ocsp_conf_error(err, cf->path, ocsp_conf_where(g, "base_url"),
                        "base_url: expected an http(s) URL ending in '/'");
        return -1;
    }
    return 0;
}

/* Top-level keys.  The groups named after a component are that
 * component's, and each checks its own members. */
static const char *const top_known[] = {"redis", "prefix", "issuers", "signer",
                                        "cli",   "crl",    "pkcs11",  "purge",
                                        "audit", NULL};

int ocsp_config_load(ocsp_config_t *cf, const char *file, char *err)
{
    const char *prefix = "revoca", *crl_base = NULL;
    const config_setting_t *ocsp_urls;
    config_setting_t *list;
    size_t i, j;

    memset(cf, 0, sizeof(*cf));
    config_init(&cf->lc);
    cf->path = strdup(file);
    if (cf->path == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    if (config_read_file(&cf->lc, file) != CONFIG_TRUE) {
        if (config_error_type(&cf->lc) == CONFIG_ERR_FILE_IO) {
            snprintf(err, OCSP_ERR_MAX, "%s: cannot read: %s", file,
                     strerror(errno));
        } else {
            snprintf(err, OCSP_ERR_MAX, "%s:%d: %s",
                     config_error_file(&cf->lc) ? config_error_file(&cf->lc)
                                                : file,
                     config_error_line(&cf->lc), config_error_text(&cf->lc));
        }
        goto failed;
    }
    if (ocsp_conf_known(config_root_setting(&cf->lc), top_known, file, err) !=
            0 ||
        conf_redis(cf, err) != 0) {
        goto failed;
    }
    if (ocsp_conf_string(config_root_setting(&cf->lc), "prefix", &prefix, file,
                         err) != 0) {
        goto failed;
    }
    if (prefix[0] == '\0' || strlen(prefix) > OCSP_PREFIX_MAX ||
        strpbrk(prefix, " \t\r\n{}") != NULL) {
        ocsp_conf_error(err, file, config_lookup(&cf->lc, "prefix"),
                        "prefix: 1..%d characters, no spaces or braces",
                        OCSP_PREFIX_MAX);
        goto failed;
    }
    memcpy(cf->prefix, prefix, strlen(prefix) + 1);
    if (conf_crl_base(cf, &crl_base, err) != 0) {
        goto failed;
    }
    {
        /* purge.ocsp_urls: every issuer's default responder URLs; the rest
         * of the purge group is the signer's (purge.c) */
        const config_setting_t *pg = config_lookup(&cf->lc, "purge");
        ocsp_urls = pg != NULL && config_setting_type(pg) == CONFIG_TYPE_GROUP
                        ? config_setting_get_member(pg, "ocsp_urls")
                        : NULL;
    }

    list = config_lookup(&cf->lc, "issuers");
    if (list == NULL ||
        (config_setting_type(list) != CONFIG_TYPE_LIST &&
         config_setting_type(list) != CONFIG_TYPE_ARRAY) ||
        config_setting_length(list) == 0) {
        ocsp_conf_error(err, file, list,
                        "issuers: a list of at least one issuer is required");
        goto failed;
    }
    cf->nissuers = (size_t)config_setting_length(list);
    cf->issuers = calloc(cf->nissuers, sizeof(ocsp_issuer_conf_t));
    if (cf->issuers == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    for (i = 0; i < cf->nissuers; i++) {
        const config_setting_t *g = config_setting_get_elem(list, (int)i);
        if (conf_issuer(cf, g, crl_base, ocsp_urls, &cf->issuers[i], err) !=
            0) {
            goto failed;
        }
        for (j = 0; j < i; j++) {
            if (strcmp(cf->issuers[j].name, cf->issuers[i].name) == 0) {
                ocsp_conf_error(err, file, g, "issuer %s: defined twice",
                                cf->issuers[i].name);
                goto failed;
            }
        }
    }
    if (conf_pkcs11(cf, err) != 0) {
        goto failed;
    }
    return 0;

failed:
    ocsp_config_free(cf);
    return -1;
}

void ocsp_config_free(ocsp_config_t *cf)
{
    size_t i;

    if (cf->issuers != NULL) {
        for (i = 0; i < cf->nissuers; i++) {
            free(cf->issuers[i].cert_path);
            free(cf->issuers[i].ca_key_path);
            free(cf->issuers[i].responder_cert_path);
            free(cf->issuers[i].responder_key_path);
            for (size_t j = 0; j < cf->issuers[i].nprevious_responders; j++) {
                free(cf->issuers[i].previous_responder_cert_paths[j]);
            }
            for (size_t j = 0; j < cf->issuers[i].nocsp_urls; j++) {
                free(cf->issuers[i].ocsp_urls[j]);
            }
            free(cf->issuers[i].crl_url);
            free(cf->issuers[i].crl_delta_url);
            if (cf->issuers[i].crl_shard_urls != NULL) {
                for (unsigned j = 0; j < cf->issuers[i].shards; j++) {
                    free(cf->issuers[i].crl_shard_urls[j]);
                }
                free(cf->issuers[i].crl_shard_urls);
            }
        }
        free(cf->issuers);
    }
    free(cf->path);
    free(cf->redis_host);
    free(cf->redis_user);
    free(cf->redis_password);
    free(cf->redis_tls_ca);
    free(cf->redis_tls_server_name);
    free(cf->redis_tls_cert);
    free(cf->redis_tls_key);
    for (size_t k = 0; k < cf->redis_nsentinels; k++) {
        free(cf->redis_sentinels[k].host);
    }
    free(cf->redis_master_name);
    free(cf->redis_sentinel_user);
    free(cf->redis_sentinel_password);
    free(cf->pkcs11.module);
    free(cf->pkcs11.pin_file);
    free(cf->pkcs11.pin_env);
    config_destroy(&cf->lc);
    memset(cf, 0, sizeof(*cf));
}

const ocsp_issuer_conf_t *ocsp_config_issuer(const ocsp_config_t *cf,
                                             const char *name)
{
    size_t i;

    for (i = 0; i < cf->nissuers; i++) {
        if (strcmp(cf->issuers[i].name, name) == 0) {
            return &cf->issuers[i];
        }
    }
    return NULL;
}
