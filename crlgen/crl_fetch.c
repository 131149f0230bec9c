#include "crl_fetch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl_revlog.h"
#include "crl_scan.h"
#include "keys.h"
#include "log.h"

#define HMGET_CHUNK 1000

/* The reason a reply R to WHAT cannot be used, into err. */
static int crl_bad_reply(const redisReply *r, const char *what, char *err)
{
    snprintf(err, OCSP_ERR_MAX, "%s: unexpected reply%s%.*s", what,
             r && r->type == REDIS_REPLY_ERROR ? ": " : "",
             r && r->type == REDIS_REPLY_ERROR ? (int)r->len : 0,
             r && r->type == REDIS_REPLY_ERROR ? r->str : "");
    return -1;
}

int crl_fetch_revoked(ocsp_rconn_t *conn, const char *prefix,
                      const crl_issuer_conf_t *crl_issuer, int64_t now,
                      crl_entries_t *out, crl_entries_t *expired,
                      crl_record_stats_t *st, char *err)
{
    size_t out0 = out->n, expired0 = expired->n;
    crl_revlog_buf_t *logs;
    crl_revlog_mark_t *marks;
    char why[160];
    int rv;

    /* Through the logs when they can be trusted: a million entries cost
     * Redis milliseconds instead of a second of HSCAN. */
    rv = crl_revlog_fetch(conn, prefix, crl_issuer, now, out, expired, st, why,
                          sizeof(why), err);
    if (rv <= 0) {
        return rv;
    }
    ocsp_log(OCSP_LOG_WARN,
             "revoked log not used issuer=%s reason=\"%s\" "
             "action=\"scan, rebuild the log\"",
             crl_issuer->issuer_conf->name, why);
    out->n = out0;
    expired->n = expired0;
    logs = calloc(crl_issuer->nshards, sizeof(*logs));
    marks = calloc(crl_issuer->nshards, sizeof(*marks));
    if (logs == NULL || marks == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        rv = -1;
        goto done;
    }
    /* Every change from here on is appended after marks[shard]. */
    if (crl_revlog_mark(conn, prefix, crl_issuer, marks, err) != 0 ||
        crl_scan_revoked(conn, prefix, crl_issuer, now, out, expired, st, logs,
                         err) != 0) {
        rv = -1;
        goto done;
    }
    rv = 0;
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        char lerr[OCSP_ERR_MAX];
        if (crl_revlog_rebuild(conn, prefix, crl_issuer->issuer_conf->name,
                               shard, &logs[shard], &marks[shard], lerr) != 0) {
            /* The CRL does not need it: the next build scans again. */
            ocsp_log(OCSP_LOG_WARN, "revoked log not rebuilt issuer=%s %s",
                     crl_issuer->issuer_conf->name, lerr);
        }
    }

done:
    for (unsigned shard = 0; logs != NULL && shard < crl_issuer->nshards;
         shard++) {
        crl_revlog_buf_free(&logs[shard]);
    }
    free(logs);
    free(marks);
    return rv;
}

int crl_fetch_last_change(ocsp_rconn_t *conn, const char *prefix,
                          const char *issuer, int64_t *ms, char *err)
{
    char key[OCSP_KEY_MAX];
    const char *argv[] = {"ZRANGE", key, "-1", "-1", "WITHSCORES"};
    redisReply *r;
    int rv = -1;

    ocsp_key_changes(key, prefix, issuer);
    r = ocsp_rconn_cmd(conn, 5, argv, NULL);
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGE %s: %s", key, conn->err);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 0) {
        *ms = 0;
        rv = 0;
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
               ocsp_reply_int64(r->element[1], 0, ms) == 0) {
        rv = 0;
    } else {
        crl_bad_reply(r, "ZRANGE", err);
    }
    freeReplyObject(r);
    return rv;
}

/* HMGET of n serials in every shard hash, pipelined: a serial's shard is
 * fixed at issuance, which the change log does not say. */
static int crl_fetch_serials(ocsp_rconn_t *conn, const char *prefix,
                             const crl_issuer_conf_t *crl_issuer, int64_t now,
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
        goto done;
    }
    if (ocsp_rconn_ensure(conn, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", conn->err);
        goto done;
    }
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        ocsp_key_revoked(key, prefix, crl_issuer->issuer_conf->name, shard);
        argv[0] = "HMGET";
        lens[0] = 5;
        argv[1] = key;
        lens[1] = strlen(key);
        for (size_t i = 0; i < n; i++) {
            redisReply *m = chg->element[2 * (from + i)];
            argv[2 + i] = m->str;
            lens[2 + i] = m->len;
        }
        if (ocsp_rconn_append(conn, (int)(n + 2), argv, lens) != 0) {
            snprintf(err, OCSP_ERR_MAX, "HMGET: %s", conn->err);
            goto done;
        }
    }
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        if ((r = ocsp_rconn_reply(conn)) == NULL) {
            snprintf(err, OCSP_ERR_MAX, "HMGET: %s", conn->err);
            goto done;
        }
        ocsp_key_revoked(key, prefix, crl_issuer->issuer_conf->name, shard);
        if (r->type != REDIS_REPLY_ARRAY || r->elements != n) {
            crl_bad_reply(r, "HMGET", err);
            goto unread;
        }
        for (size_t i = 0; i < n; i++) {
            redisReply *v = r->element[i];
            redisReply *m = chg->element[2 * (from + i)];
            crl_entry_t e, *slot;
            const char *why;
            crl_record_e d;

            if (v->type != REDIS_REPLY_STRING || found[i]) {
                continue;
            }
            d = crl_record_entry(crl_issuer, now, m->str, m->len, v->str,
                                 v->len, shard, &e, &why);
            if (d == CRL_RECORD_INVALID) {
                char shown[41];

                crl_record_printable(shown, sizeof(shown), m->str, m->len);
                snprintf(err, OCSP_ERR_MAX,
                         "%s: field %s: invalid record (%s); refusing to build "
                         "a CRL without it",
                         key, shown, why);
                goto unread;
            }
            found[i] = 1;
            if (!crl_record_listed(d)) {
                /* expired, or a hold the profile forbids: leaves the CRL
                 * (removeFromCRL, RFC 5280 5.3.1); notAfter kept so that
                 * the pre-publish check knows why */
                e.reason = CRL_REASON_REMOVE;
                e.invalidity = 0;
            }
            slot = crl_entries_push(out);
            if (slot == NULL) {
                snprintf(err, OCSP_ERR_MAX, "out of memory");
                goto unread;
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
            goto done;
        }
        if (ocsp_serial_fixed_from_hex(m->str, m->len, slot->serial) != 0) {
            out->n--;
            continue; /* not a serial: nothing a relying party could use */
        }
        slot->reason = CRL_REASON_REMOVE;
        if (ocsp_reply_int64(score, 0, &slot->revoked_at) != 0) {
            snprintf(err, OCSP_ERR_MAX, "%s: a score is not a time", key);
            goto done;
        }
        slot->revoked_at /= 1000;
    }
    rv = 0;
    goto done;

unread:
    /* the other shards' replies are read and thrown away */
    (void)ocsp_rconn_skip(conn, ocsp_rconn_pending(conn));
done:
    freeReplyObject(r);
    free(argv);
    free(lens);
    free(found);
    return rv;
}

int crl_fetch_changes(ocsp_rconn_t *conn, const char *prefix,
                      const crl_issuer_conf_t *crl_issuer, int64_t now,
                      int64_t since_ms, crl_entries_t *out, int64_t *max_ms,
                      char *err)
{
    char key[OCSP_KEY_MAX], min[32], limit[32];
    redisReply *r = NULL;
    int rv = -1;

    *max_ms = since_ms;
    ocsp_key_changes(key, prefix, crl_issuer->issuer_conf->name);
    snprintf(min, sizeof(min), "(%lld", (long long)since_ms);
    snprintf(limit, sizeof(limit), "%lld",
             (long long)crl_issuer->rebase_after + 1);
    {
        const char *argv[] = {"ZRANGEBYSCORE", key,     min, "+inf",
                              "WITHSCORES",    "LIMIT", "0", limit};
        r = ocsp_rconn_cmd(conn, 8, argv, NULL);
    }
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGEBYSCORE %s: %s", key, conn->err);
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
    if (r->elements / 2 > (size_t)crl_issuer->rebase_after) {
        rv = 1;
        goto failed;
    }
    for (size_t i = 0; i < r->elements / 2; i += HMGET_CHUNK) {
        size_t n = r->elements / 2 - i;
        if (n > HMGET_CHUNK) {
            n = HMGET_CHUNK;
        }
        if (crl_fetch_serials(conn, prefix, crl_issuer, now, r, i, n, out,
                              err) != 0) {
            goto failed;
        }
    }
    if (r->elements > 0 &&
        ocsp_reply_int64(r->element[r->elements - 1], 0, max_ms) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s: a score is not a time", key);
        goto failed;
    }
    rv = 0;
failed:
    freeReplyObject(r);
    return rv;
}
