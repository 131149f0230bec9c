#include "crl_revlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "keys.h"
#include "log.h"
#include "revlog.h"

/*
 * Makes KEYS[1] (the rebuilt log, ARGV[2] bytes, written in pieces) the log
 * KEYS[2], followed by what was appended to KEYS[2] after byte ARGV[1]:
 * every change since the scan it holds began.  ARGV[3] is the header the
 * log had then ("" if none).  A log without a header then may have been
 * started since by a signer (origin OCSP_REVLOG_STARTED), with a header of
 * its own: its records follow it.  Returns 1; 2, leaving the log alone,
 * when another generator rebuilt it meanwhile (the offset means nothing in
 * its log); 0 when KEYS[1] is not whole.
 *
 * The header's layout comes from revlog.h, formatted in by
 * crl_revlog_script(): %1$d the header's length, %2$d its last offset,
 * %3$d the magic's length, %4$s the magic as Lua escapes, %5$d the origin
 * octet's (1-based) position, %6$d OCSP_REVLOG_STARTED.
 */
static const char rebuild_script[] =
    "if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[2]) then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 0\n"
    "end\n"
    "local from = tonumber(ARGV[1])\n"
    "local cur = ''\n"
    "if redis.call('TYPE', KEYS[2]).ok == 'string' then\n"
    "  cur = redis.call('GETRANGE', KEYS[2], 0, %2$d)\n"
    "end\n"
    "local head = #cur == %1$d and string.sub(cur, 1, %3$d) == '%4$s'\n"
    "if ARGV[3] ~= '' then\n"
    "  if cur ~= ARGV[3] then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return 2\n"
    "  end\n"
    "elseif head then\n"
    "  if from ~= 0 or string.byte(cur, %5$d) ~= %6$d then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return 2\n"
    "  end\n"
    "  from = %1$d\n"
    "end\n"
    "if cur ~= '' and redis.call('STRLEN', KEYS[2]) > from then\n"
    "  redis.call('APPEND', KEYS[1], redis.call('GETRANGE', KEYS[2], from, "
    "-1))\n"
    "end\n"
    "redis.call('RENAME', KEYS[1], KEYS[2])\n"
    "redis.call('PERSIST', KEYS[2])\n"
    "return 1\n";

size_t crl_revlog_script(char *out, size_t cap)
{
    char magic[4 * OCSP_REVLOG_MAGIC_LEN + 1];
    int n;

    for (size_t i = 0; i < OCSP_REVLOG_MAGIC_LEN; i++) {
        /* \ddd: a decimal escape of exactly three digits */
        snprintf(magic + 4 * i, 5, "\\%03u", ocsp_revlog_magic[i]);
    }
    n = snprintf(out, cap, rebuild_script, OCSP_REVLOG_HEADER,
                 OCSP_REVLOG_HEADER - 1, OCSP_REVLOG_MAGIC_LEN, magic,
                 OCSP_REVLOG_ORIGIN_AT + 1, OCSP_REVLOG_STARTED);
    return n < 0 || (size_t)n >= cap ? 0 : (size_t)n;
}

int crl_revlog_mark(ocsp_rconn_t *conn, const char *prefix,
                    const crl_issuer_conf_t *crl_issuer, crl_revlog_mark_t *m,
                    char *err)
{
    char log_key[OCSP_KEY_MAX], hash_key[OCSP_KEY_MAX];

    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        uint64_t gen;
        int64_t hlen;
        int rv;

        ocsp_key_revlog(log_key, prefix, crl_issuer->issuer_conf->name, shard);
        ocsp_key_revoked(hash_key, prefix, crl_issuer->issuer_conf->name,
                         shard);
        rv = crl_revlog_state(conn, log_key, hash_key, &m[shard], &gen, &hlen,
                              err);
        if (rv < 0) {
            return -1;
        }
        /* rv 1, a log of another type: no header, nothing kept of it */
        err[0] = '\0';
    }
    return 0;
}

int crl_revlog_buf_add(crl_revlog_buf_t *b, const char *serial, size_t slen,
                       const char *value, size_t vlen)
{
    char hex[OCSP_SERIAL_HEX_MAX + 1];
    size_t n;

    if (slen > OCSP_SERIAL_HEX_MAX) {
        return -1;
    }
    if (b->len == 0) {
        b->len = OCSP_REVLOG_HEADER; /* written by crl_revlog_rebuild() */
    }
    if (b->cap < b->len + OCSP_REVLOG_REC_MAX) {
        size_t cap = b->cap ? b->cap * 2 : (size_t)1 << 20;
        unsigned char *p = realloc(b->p, cap);
        if (p == NULL) {
            return -1;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(hex, serial, slen);
    hex[slen] = '\0';
    n = ocsp_revlog_record(b->p + b->len, hex, (const unsigned char *)value,
                           vlen);
    if (n == 0) {
        return -1;
    }
    b->len += n;
    return 0;
}

int crl_revlog_rebuild(ocsp_rconn_t *conn, const char *prefix,
                       const char *issuer, unsigned shard, crl_revlog_buf_t *b,
                       const crl_revlog_mark_t *m, char *err)
{
    char key[OCSP_KEY_MAX], tmp[OCSP_KEY_MAX], at[24], total[24];
    char script[sizeof(rebuild_script) + 64];
    unsigned char hdr[OCSP_REVLOG_HEADER];
    const unsigned char *data = hdr;
    size_t len = sizeof(hdr), pieces = 0;
    redisReply *r;
    int rv = 0;

    if (ocsp_key_revlog(key, prefix, issuer, shard) < 0 ||
        ocsp_key_revlog_rebuild(tmp, prefix, issuer, shard, (long)getpid(),
                                ocsp_now_ms()) < 0 ||
        crl_revlog_script(script, sizeof(script)) == 0) {
        snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: key too long");
        return -1;
    }
    /* Written aside, in pieces: neither hiredis nor Redis copies the whole
     * log in one command, and Redis never blocks on it for long. */
    ocsp_revlog_header(hdr, OCSP_REVLOG_REBUILT);
    if (b->len > 0) {
        memcpy(b->p, hdr, sizeof(hdr));
        data = b->p;
        len = b->len;
    }
    for (size_t off = 0; off < len; off += REVLOG_CHUNK, pieces++) {
        size_t n = len - off < REVLOG_CHUNK ? len - off : REVLOG_CHUNK;
        /* the first piece sets it, with a time to live should we die */
        const char *argv[] = {off == 0 ? "SET" : "APPEND", tmp,
                              (const char *)data + off, "EX", "3600"};
        size_t lens[] = {off == 0 ? 3 : 6, strlen(tmp), n, 2, 4};

        /* sent as queued: a piece is never held in memory twice */
        if (ocsp_rconn_append(conn, off == 0 ? 5 : 3, argv, lens) != 0 ||
            ocsp_rconn_flush(conn) != 0) {
            snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: %s", conn->err);
            return -1;
        }
    }
    rv = ocsp_rconn_skip(conn, pieces);
    if (rv < 0) {
        snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: %s", conn->err);
        return -1;
    }
    if (rv > 0) {
        snprintf(err, OCSP_ERR_MAX, "revoked log rebuild %s: %s", tmp,
                 conn->err);
        rv = -1;
    }
    snprintf(at, sizeof(at), "%lld", (long long)m->len);
    snprintf(total, sizeof(total), "%zu", len);
    if (rv == 0) {
        const char *argv[] = {"EVAL", script, "2",   tmp,
                              key,    at,     total, (const char *)m->header};
        size_t lens[8];
        for (int i = 0; i < 7; i++) {
            lens[i] = strlen(argv[i]);
        }
        lens[7] = m->has_header ? OCSP_REVLOG_HEADER : 0;
        r = ocsp_rconn_cmd(conn, 8, argv, lens);
        if (r == NULL) {
            snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: %s", conn->err);
            return -1;
        }
        if (r->type == REDIS_REPLY_INTEGER && r->integer == 2) {
            ocsp_log(OCSP_LOG_INFO,
                     "revoked log rebuilt by another generator key=%s", key);
        } else if (r->type != REDIS_REPLY_INTEGER || r->integer != 1) {
            snprintf(err, OCSP_ERR_MAX, "revoked log rebuild %s: %.*s", key,
                     r->type == REDIS_REPLY_ERROR ? (int)r->len : 10,
                     r->type == REDIS_REPLY_ERROR ? r->str : "incomplete");
            rv = -1;
        }
        freeReplyObject(r);
    }
    if (rv != 0 && ocsp_rconn_connected(conn)) {
        const char *argv[] = {"DEL", tmp};
        freeReplyObject(ocsp_rconn_cmd(conn, 2, argv, NULL));
    }
    return rv;
}

void crl_revlog_buf_free(crl_revlog_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
