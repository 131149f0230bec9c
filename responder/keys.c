#include "keys.h"

#include <stdio.h>
#include <string.h>

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

int ocsp_key_ocsp(char *buf, const char *prefix, const char *issuer,
                  const char *serial)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:ocsp:%s:%s", prefix,
                                 issuer, serial));
}

int ocsp_key_invalidate(char *buf, const char *prefix)
{
    return key_fmt(buf, snprintf(buf, OCSP_KEY_MAX, "%s:invalidate", prefix));
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

int ocsp_key_crlnumber(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:crlnumber:%s", prefix, issuer));
}

int ocsp_key_crl_lease(char *buf, const char *prefix, const char *issuer)
{
    return key_fmt(
        buf, snprintf(buf, OCSP_KEY_MAX, "%s:crlgen-lease:%s", prefix, issuer));
}

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

static const char *const status_names[] = {"good", "revoked", "unknown"};

const char *ocsp_status_field(int status)
{
    return status >= 0 && status < 3 ? status_names[status] : "unknown";
}
