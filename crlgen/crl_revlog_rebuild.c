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
 * started since by a signer (origin 0), with a header of its own: its
 * records follow it.  Returns 1; 2, leaving the log alone, when another
 * generator rebuilt it meanwhile (the offset means nothing in its log);
 * 0 when KEYS[1] is not whole.
 */
static const char rebuild_script[] =
    "if redis.call('STRLEN', KEYS[1]) ~= tonumber(ARGV[2]) then\n"
    "  redis.call('DEL', KEYS[1])\n"
    "  return 0\n"
    "end\n"
    "local from = tonumber(ARGV[1])\n"
    "local cur = ''\n"
    "if redis.call('TYPE', KEYS[2]).ok == 'string' then\n"
    "  cur = redis.call('GETRANGE', KEYS[2], 0, 15)\n"
    "end\n"
    "local head = #cur == 16 and string.sub(cur, 1, 7) == 'RVLOG\\1\\0'\n"
    "if ARGV[3] ~= '' then\n"
    "  if cur ~= ARGV[3] then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return 2\n"
    "  end\n"
    "elseif head then\n"
    "  if from ~= 0 or string.byte(cur, 8) ~= 0 then\n"
    "    redis.call('DEL', KEYS[1])\n"
    "    return 2\n"
    "  end\n"
    "  from = 16\n"
    "end\n"
    "if cur ~= '' and redis.call('STRLEN', KEYS[2]) > from then\n"
    "  redis.call('APPEND', KEYS[1], redis.call('GETRANGE', KEYS[2], from, "
    "-1))\n"
    "end\n"
    "redis.call('RENAME', KEYS[1], KEYS[2])\n"
    "redis.call('PERSIST', KEYS[2])\n"
    "return 1\n";

int crl_revlog_mark(ocsp_rconn_t *rc, const char *prefix,
                    const crl_issuer_conf_t *ci, crl_revlog_mark_t *m,
                    char *err)
{
    char log_key[OCSP_KEY_MAX], hash_key[OCSP_KEY_MAX];

    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        uint64_t gen;
        int64_t hlen;
        int rv;

        ocsp_key_revlog(log_key, prefix, ci->ic->name, shard);
        ocsp_key_revoked(hash_key, prefix, ci->ic->name, shard);
        rv = crl_revlog_state(rc, log_key, hash_key, &m[shard], &gen, &hlen,
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

int crl_revlog_rebuild(ocsp_rconn_t *rc, const char *prefix, const char *issuer,
                       unsigned shard, crl_revlog_buf_t *b,
                       const crl_revlog_mark_t *m, char *err)
{
    char key[OCSP_KEY_MAX], tmp[OCSP_KEY_MAX + 64], at[24], total[24];
    unsigned char hdr[OCSP_REVLOG_HEADER];
    const unsigned char *data = hdr;
    size_t len = sizeof(hdr), pieces = 0;
    redisReply *r;
    int rv = 0;

    ocsp_key_revlog(key, prefix, issuer, shard);
    /* Written aside, in pieces: neither hiredis nor Redis copies the whole
     * log in one command, and Redis never blocks on it for long. */
    snprintf(tmp, sizeof(tmp), "%s:rebuild:%ld:%ld", key, (long)getpid(),
             ocsp_now_ms());
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
        int done = 0;

        redisAppendCommandArgv(rc->c, off == 0 ? 5 : 3, argv, lens);
        while (!done) {
            if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
                snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: %s",
                         rc->c->errstr);
                ocsp_rconn_drop(rc);
                return -1;
            }
        }
    }
    for (size_t i = 0; i < pieces; i++) {
        if ((r = crl_revlog_reply(rc, err)) == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && rv == 0) {
            snprintf(err, OCSP_ERR_MAX, "revoked log rebuild %s: %.*s", tmp,
                     (int)(r->len > 200 ? 200 : r->len), r->str);
            rv = -1;
        }
        freeReplyObject(r);
    }
    snprintf(at, sizeof(at), "%lld", (long long)m->len);
    snprintf(total, sizeof(total), "%zu", len);
    if (rv == 0) {
        const char *argv[] = {"EVAL", rebuild_script,         "2", tmp, key, at,
                              total,  (const char *)m->header};
        size_t lens[8];
        for (int i = 0; i < 7; i++) {
            lens[i] = strlen(argv[i]);
        }
        lens[7] = m->has_header ? OCSP_REVLOG_HEADER : 0;
        r = ocsp_rconn_cmd(rc, 8, argv, lens);
        if (r == NULL) {
            snprintf(err, OCSP_ERR_MAX, "revoked log rebuild: %s", rc->err);
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
    if (rv != 0) {
        const char *argv[] = {"DEL", tmp};
        freeReplyObject(ocsp_rconn_cmd(rc, 2, argv, NULL));
    }
    return rv;
}

void crl_revlog_buf_free(crl_revlog_buf_t *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}
