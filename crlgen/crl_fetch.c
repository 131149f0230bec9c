#include "crl_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "record.h"
#include "revocation.pb-c.h"

#define HSCAN_COUNT "10000"
#define HMGET_CHUNK 1000
/* Bound on what one record may unpack into (the record is <= 256 bytes). */
#define ARENA_SIZE 2048

/* protobuf-c allocator over a stack arena: a million records decode
 * without a million mallocs. */
typedef struct {
    unsigned char buf[ARENA_SIZE];
    size_t used;
} crl_arena_t;

static void *crl_arena_alloc(void *data, size_t size)
{
    crl_arena_t *a = data;
    size_t n = (size + 15) & ~(size_t)15;
    void *p;

    if (n > ARENA_SIZE - a->used) {
        return NULL;
    }
    p = a->buf + a->used;
    a->used += n;
    return p;
}

static void crl_arena_free(void *data, void *p)
{
    (void)data;
    (void)p;
}

static int crl_bad_reply(redisReply *r, const char *what, char *err)
{
    snprintf(err, OCSP_ERR_MAX, "%s: unexpected reply%s%.*s", what,
             r && r->type == REDIS_REPLY_ERROR ? ": " : "",
             r && r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    return -1;
}

int crl_redis_time_ms(ocsp_rconn_t *rc, int64_t *ms, char *err)
{
    const char *argv[] = {"TIME"};
    redisReply *r = ocsp_rconn_cmd(rc, 1, argv, NULL);
    int rv = -1;

    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "TIME: %s", rc->err);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING) {
        *ms = strtoll(r->element[0]->str, NULL, 10) * 1000 +
              strtoll(r->element[1]->str, NULL, 10) / 1000;
        rv = 0;
    } else {
        crl_bad_reply(r, "TIME", err);
    }
    freeReplyObject(r);
    return rv;
}

/*
 * Decodes one P:revoked record into e.  Returns 1 (on the CRL), 0 (not on
 * it: expired, or a hold under cabf; *why says which), -1 (invalid).
 */
static int crl_record_entry(const crl_issuer_conf_t *ci, int64_t now,
                            const char *field, size_t flen, const char *val,
                            size_t vlen, unsigned shard, crl_entry_t *e,
                            const char **why)
{
    crl_arena_t arena;
    ProtobufCAllocator alloc = {crl_arena_alloc, crl_arena_free, &arena};
    Revoca__CertRecord *rec;
    int rv = -1;

    *why = "invalid";
    memset(e, 0, sizeof(*e));
    if (crl_serial_from_hex(field, flen, e->serial) != 0 ||
        vlen > OCSP_RECORD_MAX) {
        return -1;
    }
    arena.used = 0;
    rec = revoca__cert_record__unpack(&alloc, vlen, (const uint8_t *)val);
    if (rec == NULL) {
        return -1;
    }
    e->shard = (uint16_t)shard;
    if (!ocsp_record_on_crl(rec) || !rec->has_revocation_time ||
        rec->revocation_time < 0) {
        goto done;
    }
    e->revoked_at = rec->revocation_time;
    e->not_after = rec->has_not_after ? rec->not_after : 0;
    e->invalidity = rec->has_invalidity_date && rec->invalidity_date > 0
                        ? rec->invalidity_date
                        : 0;
    rv = 1;
    if (rec->status == REVOCA__STATUS__HELD) {
        e->reason = CRL_REASON_HOLD;
        if (ci->cabf) {
            *why = "hold"; /* BR 7.2.2: certificateHold is not allowed */
            rv = 0;
        }
    } else {
        int r = rec->has_reason ? (int)rec->reason : 0;
        e->reason = (uint8_t)r;
        if (r == 0 || r == CRL_REASON_HOLD || r == CRL_REASON_REMOVE ||
            r > 10) {
            e->reason = CRL_REASON_ABSENT;
        } else if (ci->cabf &&
                   !(r == 1 || r == 3 || r == 4 || r == 5 || r == 9)) {
            e->reason = CRL_REASON_ABSENT; /* BR 7.2.2 */
            *why = "reason";
        }
    }
    /* RFC 5280 3.3: an entry may go once the certificate expired; kept a
     * while longer for relying parties with skewed clocks. */
    if (rv == 1 && rec->has_not_after &&
        rec->not_after < now - ci->expired_after) {
        *why = "expired";
        rv = 0;
    }
done:
    /* Nothing to free: the record lives in the stack arena. */
    return rv;
}

/* Sends one HSCAN page request without waiting for its reply. */
static int crl_hscan_send(ocsp_rconn_t *rc, const char *key, const char *cursor,
                          char *err)
{
    const char *argv[] = {"HSCAN", key, cursor, "COUNT", HSCAN_COUNT};
    int done = 0;

    if (rc->c == NULL &&
        ocsp_rconn_ensure(rc, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", rc->err);
        return -1;
    }
    if (redisAppendCommandArgv(rc->c, 5, argv, NULL) != REDIS_OK) {
        goto failed;
    }
    while (!done) {
        if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
            goto failed;
        }
    }
    return 0;

failed:
    snprintf(err, OCSP_ERR_MAX, "HSCAN %s: %s", key, rc->c->errstr);
    ocsp_rconn_drop(rc);
    return -1;
}

int crl_fetch_revoked(ocsp_rconn_t *rc, const char *prefix,
                      const crl_issuer_conf_t *ci, int64_t now,
                      crl_entries_t *out, crl_entries_t *expired,
                      crl_fetch_stats_t *st, char *err)
{
    char key[OCSP_KEY_MAX], cursor[32];
    redisReply *r = NULL;

    memset(st, 0, sizeof(*st));
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        if (ocsp_key_revoked(key, prefix, ci->ic->name, shard) < 0) {
            snprintf(err, OCSP_ERR_MAX, "key too long");
            return -1;
        }
        strcpy(cursor, "0");
        if (crl_hscan_send(rc, key, cursor, err) != 0) {
            return -1;
        }
        do {
            redisReply *page;
            void *reply = NULL;

            if (redisGetReply(rc->c, &reply) != REDIS_OK || reply == NULL) {
                snprintf(err, OCSP_ERR_MAX, "HSCAN %s: %s", key, rc->c->errstr);
                ocsp_rconn_drop(rc);
                return -1;
            }
            r = reply;
            if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
                r->element[0]->type != REDIS_REPLY_STRING ||
                r->element[0]->len >= sizeof(cursor) ||
                r->element[1]->type != REDIS_REPLY_ARRAY ||
                r->element[1]->elements % 2 != 0) {
                crl_bad_reply(r, "HSCAN", err);
                goto failed;
            }
            memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
            /* Redis works on the next page while this one is decoded. */
            if (strcmp(cursor, "0") != 0 &&
                crl_hscan_send(rc, key, cursor, err) != 0) {
                goto failed;
            }
            page = r->element[1];
            for (size_t i = 0; i < page->elements; i += 2) {
                redisReply *f = page->element[i], *v = page->element[i + 1];
                crl_entry_t e, *slot;
                const char *why;
                int on;

                if (f->type != REDIS_REPLY_STRING ||
                    v->type != REDIS_REPLY_STRING) {
                    crl_bad_reply(r, "HSCAN element", err);
                    goto failed;
                }
                st->records++;
                on = crl_record_entry(ci, now, f->str, f->len, v->str, v->len,
                                      shard, &e, &why);
                if (on < 0) {
                    snprintf(err, OCSP_ERR_MAX,
                             "%s: field %.*s: invalid record; refusing to "
                             "build a CRL without it",
                             key, (int)(f->len > 40 ? 40 : f->len), f->str);
                    goto failed;
                }
                if (on == 0 && why[0] == 'h') {
                    st->hold_skipped++;
                    continue;
                }
                if (why[0] == 'r') {
                    st->reason_cleared++;
                }
                slot = on ? crl_entries_push(out) : crl_entries_push(expired);
                if (slot == NULL) {
                    snprintf(err, OCSP_ERR_MAX, "out of memory");
                    goto failed;
                }
                *slot = e;
                if (!on) {
                    st->expired++;
                }
            }
            freeReplyObject(r);
            r = NULL;
        } while (strcmp(cursor, "0") != 0);
    }
    return 0;

failed:
    freeReplyObject(r);
    /* A page request may still be in flight: never read it as the reply
     * to another command. */
    ocsp_rconn_drop(rc);
    return -1;
}

int crl_fetch_last_change(ocsp_rconn_t *rc, const char *prefix,
                          const char *issuer, int64_t *ms, char *err)
{
    char key[OCSP_KEY_MAX];
    const char *argv[] = {"ZRANGE", key, "-1", "-1", "WITHSCORES"};
    redisReply *r;
    int rv = -1;

    ocsp_key_changes(key, prefix, issuer);
    r = ocsp_rconn_cmd(rc, 5, argv, NULL);
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGE %s: %s", key, rc->err);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        *ms = 0;
        rv = 0;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               r->element[1]->type == REDIS_REPLY_STRING) {
        *ms = (int64_t)strtod(r->element[1]->str, NULL);
        rv = 0;
    } else {
        crl_bad_reply(r, "ZRANGE", err);
    }
    freeReplyObject(r);
    return rv;
}

/* HMGET of n serials in every shard hash, pipelined: a serial's shard is
 * fixed at issuance, which the change log does not say. */
static int crl_fetch_serials(ocsp_rconn_t *rc, const char *prefix,
                             const crl_issuer_conf_t *ci, int64_t now,
                             redisReply *chg, size_t from, size_t n,
                             crl_entries_t *out, char *err)
{
    const char **argv = NULL;
    size_t *lens = NULL;
    char key[OCSP_KEY_MAX];
    unsigned char *found = NULL;
    redisReply *r = NULL;
    int rv = -1;

    argv = malloc((n + 2) * sizeof(char *));
    lens = malloc((n + 2) * sizeof(size_t));
    found = calloc(n, 1);
    if (argv == NULL || lens == NULL || found == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto failed;
    }
    if (ocsp_rconn_ensure(rc, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", rc->err);
        goto failed;
    }
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        ocsp_key_revoked(key, prefix, ci->ic->name, shard);
        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = key;
        lens[1] = strlen(key);
        for (size_t i = 0; i < n; i++) {
            redisReply *m = chg->element[2 * (from + i)];
            argv[2 + i] = m->str;
            lens[2 + i] = m->len;
        }
        if (redisAppendCommandArgv(rc->c, (int)(n + 2), argv, lens) !=
            REDIS_OK) {
            snprintf(err, OCSP_ERR_MAX, "redis: %s", rc->c->errstr);
            ocsp_rconn_drop(rc);
            goto failed;
        }
    }
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        void *reply = NULL;

        if (redisGetReply(rc->c, &reply) != REDIS_OK || reply == NULL) {
            snprintf(err, OCSP_ERR_MAX, "redis: %s", rc->c->errstr);
            ocsp_rconn_drop(rc);
            goto failed;
        }
        r = reply;
        if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
            crl_bad_reply(r, "HMGET", err);
            goto failed;
        }
        for (size_t i = 0; i < n; i++) {
            redisReply *v = r->element[i];
            redisReply *m = chg->element[2 * (from + i)];
            crl_entry_t e, *slot;
            const char *why;
            int on;

            if (v->type != REDIS_REPLY_STRING || found[i]) {
                continue;
            }
            on = crl_record_entry(ci, now, m->str, m->len, v->str, v->len,
                                  shard, &e, &why);
            if (on < 0) {
                snprintf(err, OCSP_ERR_MAX, "%.*s: invalid record",
                         (int)(m->len > 40 ? 40 : m->len), m->str);
                goto failed;
            }
            found[i] = 1;
            if (!on) {
                /* expired, or a hold under cabf: leaves the CRL
                 * (removeFromCRL, RFC 5280 5.3.1); notAfter kept so that
                 * the pre-publish check knows why */
                e.reason = CRL_REASON_REMOVE;
                e.invalidity = 0;
            }
            slot = crl_entries_push(out);
            if (slot == NULL) {
                snprintf(err, OCSP_ERR_MAX, "out of memory");
                goto failed;
            }
            *slot = e;
        }
        freeReplyObject(r);
        r = NULL;
    }
    for (size_t i = 0; i < n; i++) {
        redisReply *m = chg->element[2 * (from + i)];
        redisReply *score = chg->element[2 * (from + i) + 1];
        crl_entry_t *slot;

        if (found[i]) {
            continue;
        }
        /* RFC 5280 5.3.1: off the CRL since the base (hold released). */
        slot = crl_entries_push(out);
        if (slot == NULL) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            goto failed;
        }
        if (crl_serial_from_hex(m->str, m->len, slot->serial) != 0) {
            out->n--;
            continue; /* not a serial: nothing a relying party could use */
        }
        slot->reason = CRL_REASON_REMOVE;
        slot->revoked_at = (int64_t)strtod(score->str, NULL) / 1000;
    }
    rv = 0;
failed:
    freeReplyObject(r);
    free(argv);
    free(lens);
    free(found);
    return rv;
}

int crl_fetch_changes(ocsp_rconn_t *rc, const char *prefix,
                      const crl_issuer_conf_t *ci, int64_t now,
                      int64_t since_ms, crl_entries_t *out, int64_t *max_ms,
                      char *err)
{
    char key[OCSP_KEY_MAX], min[32], limit[32];
    redisReply *r = NULL;
    int rv = -1;

    *max_ms = since_ms;
    ocsp_key_changes(key, prefix, ci->ic->name);
    snprintf(min, sizeof(min), "(%lld", (long long)since_ms);
    snprintf(limit, sizeof(limit), "%lld", (long long)ci->rebase_after + 1);
    {
        const char *argv[] = {"ZRANGEBYSCORE", key,     min, "+inf",
                              "WITHSCORES",    "LIMIT", "0", limit};
        r = ocsp_rconn_cmd(rc, 8, argv, NULL);
    }
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGEBYSCORE %s: %s", key, rc->err);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements % 2 != 0) {
        crl_bad_reply(r, "ZRANGEBYSCORE", err);
        goto failed;
    }
    for (size_t i = 0; i < r->elements; i++) {
        if (r->element[i]->type != REDIS_REPLY_STRING) {
            crl_bad_reply(r, "ZRANGEBYSCORE element", err);
            goto failed;
        }
    }
    if (r->elements / 2 > (size_t)ci->rebase_after) {
        rv = 1;
        goto failed;
    }
    for (size_t i = 0; i < r->elements / 2; i += HMGET_CHUNK) {
        size_t n = r->elements / 2 - i;
        if (n > HMGET_CHUNK) {
            n = HMGET_CHUNK;
        }
        if (crl_fetch_serials(rc, prefix, ci, now, r, i, n, out, err) != 0) {
            goto failed;
        }
    }
    if (r->elements > 0) {
        *max_ms = (int64_t)strtod(r->element[r->elements - 1]->str, NULL);
    }
    rv = 0;
failed:
    freeReplyObject(r);
    return rv;
}
