#include "keys.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "serial.h"

static int key_fmt(char *buf, int n)
{
    if (n < 0 || n >= OCSP_KEY_MAX) {
        buf[0] = '\0';
        return -1;
    }
    return n;
}

int ocsp_key_events(char *buf, const char *prefix)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:events", prefix));
}

int ocsp_key_cert(char *buf, const char *prefix, const char *issuer,
                  const char *serial)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:cert:%s:%s", prefix,
                                 issuer, serial));
}

int ocsp_key_cert_match(char *buf, const char *prefix, const char *issuer,
                        size_t *serial_at)
{
    char esc[2 * OCSP_KEY_MAX];
    size_t n = 0;

    /* SCAN's glob (Redis stringmatchlen()): * ? [ ] \ are special; the
     * issuer name ([a-z0-9-]) has none of them, a prefix may */
    for (const char *c = prefix; *c != '\0' && n + 2 < sizeof(esc); c++) {
        if (strchr("*?[]\\", *c) != NULL) {
            esc[n++] = '\\';
        }
        esc[n++] = *c;
    }
    esc[n] = '\0';
    *serial_at = strlen(prefix) + strlen(":cert:") + strlen(issuer) + 1;
    return key_fmt(buf,
                   snprintf(buf, OCSP_KEY_MAX, "%s:cert:%s:*", esc, issuer));
}

int ocsp_key_ocsp(char *buf, const char *prefix, const char *issuer,
                  const char *serial)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:ocsp:%s:%s", prefix,
                                 issuer, serial));
}

int ocsp_key_due(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(buf,
                   snprintf(buf, OCSP_KEY_MAX, "%s:due:%s", prefix, issuer));
}

int ocsp_key_revoked(char *buf, const char *prefix, const char *issuer,
                     unsigned shard)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:revoked:%s:%u", prefix,
                                 issuer, shard));
}

int ocsp_key_revlog(char *buf, const char *prefix, const char *issuer,
                    unsigned shard)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:revlog:%s:%u", prefix,
                                 issuer, shard));
}

int ocsp_key_changes(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:changes:%s", prefix, issuer));
}

int ocsp_key_history(char *buf, const char *prefix, const char *issuer,
                     const char *serial)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:history:%s:%s", prefix,
                                 issuer, serial));
}

int ocsp_key_crlnumber(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:crlnumber:%s", prefix, issuer));
}

int ocsp_key_import(char *buf, const char *prefix, const char *issuer,
                    const char *kind, const char *source)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0, i;
    char hex[33];

    if (EVP_Digest(source, strlen(source), md, &mdlen, EVP_sha256(), NULL) !=
            1 ||
        mdlen < 16) {
        buf[0] = '\0';
        return -1;
    }
    for (i = 0; i < 16; i++) {
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    }
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:import:%s:%s:%s",
                                 prefix, issuer, kind, hex));
}

int ocsp_key_crl_lease(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:crlgen-lease:%s", prefix, issuer));
}

const char *const ocsp_crl_state_fields[OCSP_CRLST_N] = {
    "full_number",      "full_this_update",  "full_cutoff_ms", "full_max_ms",
    "delta_number",     "delta_this_update", "delta_base",     "delta_max_ms",
    "full_next_update", "delta_next_update"};

int ocsp_key_crl_state(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:crlgen-state:%s", prefix, issuer));
}

int ocsp_key_revlog_rebuild(char *buf, const char *prefix, const char *issuer,
                            unsigned shard, long pid, long ms)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX,
                                 "%s:revlog:%s:%u:rebuild:%ld:%ld", prefix,
                                 issuer, shard, pid, ms));
}

int ocsp_key_invalidate(char *buf, const char *prefix)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:invalidate", prefix));
}

int ocsp_key_purge(char *buf, const char *prefix)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:purge", prefix));
}

int ocsp_cert_ref(char *buf, const char *issuer, const char *serial)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:%s", issuer, serial));
}

int ocsp_cert_ref_parse(const char *p, size_t len, char *issuer, char *serial)
{
    unsigned char fixed[OCSP_SERIAL_MAX_OCTETS];
    const char *colon = memchr(p, ':', len);
    size_t n, s;

    if (colon == NULL) {
        return -1;
    }
    n = (size_t)(colon - p);
    s = len - n - 1;
    if (n == 0 || n > OCSP_ISSUER_NAME_MAX || s == 0 ||
        s > OCSP_SERIAL_HEX_MAX) {
        return -1;
    }
    memcpy(issuer, p, n);
    issuer[n] = '\0';
    memcpy(serial, colon + 1, s);
    serial[s] = '\0';
    /* no NUL inside either (the name would end early); the serial's
     * canonical form is checked by its one reader */
    return strlen(issuer) == n && ocsp_issuer_name_valid(issuer) &&
                   strlen(serial) == s &&
                   ocsp_serial_fixed_from_hex(serial, s, fixed) == 0
               ? 0
               : -1;
}

static const char *const status_names[] = {"good", "revoked", "unknown"};

const char *ocsp_status_field(int status)
{
    return status >= 0 && status < 3 ? status_names[status] : "unknown";
}
