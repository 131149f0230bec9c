/* The audit hash chain and its checkpoint encoding (docs/audit.md). */
#include "audit_chain.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <openssl/evp.h>

#include "keys.h"

static const char genesis_text[] = "revoca-audit-v1 genesis";
static const char cp_magic[] = "revoca-audit-checkpoint-v1\n";

void ocsp_audit_genesis(unsigned char out[OCSP_AUDIT_LINK_LEN])
{
    unsigned int len = 0;

    /* EVP_Digest cannot fail for SHA-256 short of memory exhaustion. */
    (void)EVP_Digest(genesis_text, sizeof(genesis_text) - 1, out, &len,
                     EVP_sha256(), NULL);
}

/* A decimal uint64 without leading zeros; returns the digits consumed. */
static size_t parse_u64(const char *p, size_t len, uint64_t *v)
{
    size_t i = 0;
    uint64_t n = 0;

    while (i < len && p[i] >= '0' && p[i] <= '9') {
        unsigned d = (unsigned)(p[i] - '0');
        if (i == 1 && p[0] == '0') {
            return 0;
        }
        if (n > (UINT64_MAX - d) / 10) {
            return 0;
        }
        n = n * 10 + d;
        i++;
    }
    *v = n;
    return i;
}

static int id_split(const char *id, size_t len, uint64_t *ms, uint64_t *seq)
{
    size_t a, b;

    if (len == 0 || len > OCSP_AUDIT_ID_MAX) {
        return -1;
    }
    a = parse_u64(id, len, ms);
    if (a == 0 || a >= len || id[a] != '-') {
        return -1;
    }
    b = parse_u64(id + a + 1, len - a - 1, seq);
    if (b == 0 || a + 1 + b != len) {
        return -1;
    }
    return 0;
}

int ocsp_audit_id_check(const char *id, size_t len)
{
    uint64_t ms, seq;

    return id_split(id, len, &ms, &seq);
}

int ocsp_audit_id_cmp(const char *a, const char *b)
{
    uint64_t am = 0, as = 0, bm = 0, bs = 0;

    (void)id_split(a, strlen(a), &am, &as);
    (void)id_split(b, strlen(b), &bm, &bs);
    if (am != bm) {
        return am < bm ? -1 : 1;
    }
    if (as != bs) {
        return as < bs ? -1 : 1;
    }
    return 0;
}

static void be32(unsigned char *p, size_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int ocsp_audit_link(const unsigned char prev[OCSP_AUDIT_LINK_LEN],
                    const char *id, size_t idlen, const unsigned char *field,
                    size_t flen, unsigned char out[OCSP_AUDIT_LINK_LEN])
{
    EVP_MD_CTX *c = NULL;
    unsigned char n[8];
    unsigned int olen = 0;
    int rc = -1;

    if (ocsp_audit_id_check(id, idlen) != 0 || flen > OCSP_AUDIT_FIELD_MAX) {
        return -1;
    }
    be32(n, idlen);
    be32(n + 4, flen);
    c = EVP_MD_CTX_new();
    if (c == NULL || EVP_DigestInit_ex(c, EVP_sha256(), NULL) != 1 ||
        EVP_DigestUpdate(c, prev, OCSP_AUDIT_LINK_LEN) != 1 ||
        EVP_DigestUpdate(c, n, 4) != 1 || EVP_DigestUpdate(c, id, idlen) != 1 ||
        EVP_DigestUpdate(c, n + 4, 4) != 1 ||
        EVP_DigestUpdate(c, field, flen) != 1 ||
        EVP_DigestFinal_ex(c, out, &olen) != 1 || olen != OCSP_AUDIT_LINK_LEN) {
        goto failed;
    }
    rc = 0;
failed:
    EVP_MD_CTX_free(c);
    return rc;
}

void ocsp_audit_link_hex(const unsigned char link[OCSP_AUDIT_LINK_LEN],
                         char *out)
{
    static const char hx[] = "0123456789abcdef";

    for (size_t i = 0; i < OCSP_AUDIT_LINK_LEN; i++) {
        out[2 * i] = hx[link[i] >> 4];
        out[2 * i + 1] = hx[link[i] & 15];
    }
    out[2 * OCSP_AUDIT_LINK_LEN] = '\0';
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                  : -1;
}

int ocsp_audit_link_from_hex(const char *hex, size_t len,
                             unsigned char link[OCSP_AUDIT_LINK_LEN])
{
    if (len != 2 * OCSP_AUDIT_LINK_LEN) {
        return -1;
    }
    for (size_t i = 0; i < OCSP_AUDIT_LINK_LEN; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0) {
            return -1;
        }
        link[i] = (unsigned char)(h << 4 | l);
    }
    return 0;
}

int ocsp_audit_checkpoint_encode(const ocsp_audit_checkpoint_t *cp, char *buf,
                                 size_t size)
{
    char hex[2 * OCSP_AUDIT_LINK_LEN + 1];
    int n;

    if (ocsp_audit_id_check(cp->last_id, strlen(cp->last_id)) != 0 ||
        cp->time_ms < 0) {
        return -1;
    }
    ocsp_audit_link_hex(cp->head, hex);
    n = snprintf(buf, size,
                 "%scount=%" PRIu64 "\nlast=%s\nhead=%s\ntime=%" PRId64 "\n",
                 cp_magic, cp->count, cp->last_id, hex, cp->time_ms);
    if (n < 0 || (size_t)n >= size) {
        return -1;
    }
    return n;
}

/* Match "name=" then the value up to '\n'; advances *p. */
static int field(const char **p, const char *end, const char *name,
                 const char **v, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *e;

    if ((size_t)(end - *p) < nl + 1 || memcmp(*p, name, nl) != 0 ||
        (*p)[nl] != '=') {
        return -1;
    }
    *v = *p + nl + 1;
    e = memchr(*v, '\n', (size_t)(end - *v));
    if (e == NULL) {
        return -1;
    }
    *vlen = (size_t)(e - *v);
    *p = e + 1;
    return 0;
}

int ocsp_audit_checkpoint_decode(const char *buf, size_t len,
                                 ocsp_audit_checkpoint_t *cp)
{
    const char *p = buf, *end = buf + len, *v;
    size_t vl, ml = sizeof(cp_magic) - 1;
    uint64_t t;
    char again[OCSP_AUDIT_CHECKPOINT_MAX];
    int n;

    memset(cp, 0, sizeof(*cp));
    if (len > OCSP_AUDIT_CHECKPOINT_MAX || len < ml ||
        memcmp(p, cp_magic, ml) != 0) {
        return -1;
    }
    p += ml;
    if (field(&p, end, "count", &v, &vl) != 0 ||
        parse_u64(v, vl, &cp->count) != vl || vl == 0) {
        return -1;
    }
    if (field(&p, end, "last", &v, &vl) != 0 ||
        ocsp_audit_id_check(v, vl) != 0) {
        return -1;
    }
    memcpy(cp->last_id, v, vl);
    cp->last_id[vl] = '\0';
    if (field(&p, end, "head", &v, &vl) != 0 ||
        ocsp_audit_link_from_hex(v, vl, cp->head) != 0) {
        return -1;
    }
    if (field(&p, end, "time", &v, &vl) != 0 || vl == 0 ||
        parse_u64(v, vl, &t) != vl || t > INT64_MAX || p != end) {
        return -1;
    }
    cp->time_ms = (int64_t)t;
    /* Only the canonical form: encoding what was parsed gives the input. */
    n = ocsp_audit_checkpoint_encode(cp, again, sizeof(again));
    if (n < 0 || (size_t)n != len || memcmp(again, buf, len) != 0) {
        return -1;
    }
    return 0;
}

int ocsp_audit_key_chain(char *buf, const char *prefix)
{
    int n = snprintf(buf, OCSP_KEY_MAX, "%s:audit:chain", prefix);

    return n < 0 || n >= OCSP_KEY_MAX ? -1 : n;
}

int ocsp_audit_key_head(char *buf, const char *prefix)
{
    int n = snprintf(buf, OCSP_KEY_MAX, "%s:audit:head", prefix);

    return n < 0 || n >= OCSP_KEY_MAX ? -1 : n;
}

int ocsp_audit_key_archive(char *buf, const char *prefix)
{
    int n = snprintf(buf, OCSP_KEY_MAX, "%s:audit:archive", prefix);

    return n < 0 || n >= OCSP_KEY_MAX ? -1 : n;
}

int ocsp_audit_rec_encode(const char *prev_id,
                          const unsigned char link[OCSP_AUDIT_LINK_LEN],
                          char *buf)
{
    char hex[2 * OCSP_AUDIT_LINK_LEN + 1];
    int n;

    if (ocsp_audit_id_check(prev_id, strlen(prev_id)) != 0) {
        return -1;
    }
    ocsp_audit_link_hex(link, hex);
    n = snprintf(buf, OCSP_AUDIT_REC_MAX + 1, "%s %s", prev_id, hex);
    return n < 0 || n > OCSP_AUDIT_REC_MAX ? -1 : n;
}

int ocsp_audit_rec_decode(const char *buf, size_t len, char *prev_id,
                          unsigned char link[OCSP_AUDIT_LINK_LEN])
{
    const char *sp = memchr(buf, ' ', len);
    size_t il;

    if (sp == NULL) {
        return -1;
    }
    il = (size_t)(sp - buf);
    if (ocsp_audit_id_check(buf, il) != 0 ||
        ocsp_audit_link_from_hex(sp + 1, len - il - 1, link) != 0) {
        return -1;
    }
    memcpy(prev_id, buf, il);
    prev_id[il] = '\0';
    return 0;
}

int ocsp_audit_head_encode(uint64_t count, const char *id,
                           const unsigned char link[OCSP_AUDIT_LINK_LEN],
                           char *buf)
{
    char rec[OCSP_AUDIT_REC_MAX + 1];
    int n;

    if (ocsp_audit_rec_encode(id, link, rec) < 0) {
        return -1;
    }
    n = snprintf(buf, OCSP_AUDIT_HEAD_MAX + 1, "%" PRIu64 " %s", count, rec);
    return n < 0 || n > OCSP_AUDIT_HEAD_MAX ? -1 : n;
}

int ocsp_audit_head_decode(const char *buf, size_t len, uint64_t *count,
                           char *id, unsigned char link[OCSP_AUDIT_LINK_LEN])
{
    const char *sp = memchr(buf, ' ', len);
    size_t cl;

    if (sp == NULL) {
        return -1;
    }
    cl = (size_t)(sp - buf);
    if (cl == 0 || parse_u64(buf, cl, count) != cl) {
        return -1;
    }
    return ocsp_audit_rec_decode(sp + 1, len - cl - 1, id, link);
}

int ocsp_audit_entry(const void *reply, const char **id, size_t *idlen,
                     const unsigned char **field, size_t *flen)
{
    const redisReply *e = reply, *f;

    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[1]->type != REDIS_REPLY_ARRAY ||
        ocsp_audit_id_check(e->element[0]->str, e->element[0]->len) != 0) {
        return -1;
    }
    *id = e->element[0]->str;
    *idlen = e->element[0]->len;
    *field = (const unsigned char *)"";
    *flen = 0;
    f = e->element[1];
    for (size_t k = 0; k + 1 < f->elements; k += 2) {
        if (f->element[k]->type == REDIS_REPLY_STRING &&
            f->element[k]->len == 1 && f->element[k]->str[0] == 'e' &&
            f->element[k + 1]->type == REDIS_REPLY_STRING) {
            *field = (const unsigned char *)f->element[k + 1]->str;
            *flen = f->element[k + 1]->len;
            break;
        }
    }
    return 0;
}
