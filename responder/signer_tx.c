#include "signer_tx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "policy.h"
#include "response.h"

void signer_tx_load_send(signer_batch_t *b)
{
    const char *argv[1 + SIGNER_BATCH_MAX];
    size_t i;

    if (b->nitems == 0) {
        return; /* only entries to acknowledge */
    }
    argv[0] = "WATCH";
    for (i = 0; i < b->nitems; i++) {
        argv[1 + i] = b->items[i].cert_key;
    }
    /* A failure shows when the replies are read. */
    (void)ocsp_rconn_append(b->conn, (int)(1 + b->nitems), argv, NULL);
    argv[0] = "MGET";
    (void)ocsp_rconn_append(b->conn, (int)(1 + b->nitems), argv, NULL);
}

int signer_tx_load_recv(signer_batch_t *b)
{
    redisReply *r;
    size_t i;

    if (b->nitems == 0) {
        return 0;
    }
    if ((r = ocsp_rconn_reply(b->conn)) == NULL) {
        return -1;
    }
    freeReplyObject(r);
    if ((r = ocsp_rconn_reply(b->conn)) == NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != b->nitems) {
        ocsp_rconn_fail_reply(b->conn, "MGET", r);
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < b->nitems; i++) {
        signer_item_t *it = &b->items[i];
        const redisReply *e = r->element[i];

        if (it->loaded) {
            ocsp_record_free(it->loaded, NULL);
            it->loaded = NULL;
        }
        ocsp_record_init(&it->rec, it->serial);
        it->bad = 0;
        if (e->type == REDIS_REPLY_STRING) {
            const char *why;

            it->loaded =
                ocsp_record_decode(e->str, e->len, it->serial, NULL, &why);
            if (it->loaded != NULL) {
                it->rec = *it->loaded;
                it->rec.serial = it->serial;
            } else {
                /* Overwriting it could turn a revoked certificate good:
                 * its events stay pending until an operator repairs it. */
                ocsp_log(OCSP_LOG_ERR,
                         "record invalid key=%s why=\"%s\" action=\"left "
                         "alone, events pending\"",
                         it->cert_key, why);
                it->bad = 1;
            }
        } else if (e->type != REDIS_REPLY_NIL) {
            ocsp_log(OCSP_LOG_ERR,
                     "record invalid key=%s why=\"not a string\" "
                     "action=\"left alone, events pending\"",
                     it->cert_key);
            it->bad = 1;
        }
        /* A repeated batch starts over: nothing its last try computed
         * is written. */
        it->changed = 0;
        it->set_record = 0;
        it->add_due = 0;
        it->on_crl_before = it->loaded && ocsp_record_on_crl(&it->rec);
        it->shard_before = ocsp_record_shard(&it->rec, it->iss->conf->shards);
    }
    freeReplyObject(r);
    return 0;
}

int signer_tx_load(signer_batch_t *b)
{
    signer_tx_load_send(b);
    return signer_tx_load_recv(b);
}

/* Queues one command of the batch's transaction. */

static void w_cmd(signer_batch_t *w, int argc, const char **argv,
                  const size_t *len)
{
    /* A failure shows when the replies are read. */
    (void)ocsp_rconn_append(w->conn, argc, argv, len);
    w->queued++;
}

/*
 * Queues the change of SERIAL in the revoked hash of SHARD: set to the
 * record VALUE, or deleted (VALUE NULL); and the same change appended to
 * that shard's revoked log (revlog.h), in the same transaction.
 */
static void w_revoked(signer_t *s, signer_batch_t *w,
                      const ocsp_issuer_conf_t *ic, unsigned shard,
                      const char *serial, const unsigned char *value,
                      size_t value_len)
{
    char rev_key[OCSP_KEY_MAX], log_key[OCSP_KEY_MAX];
    unsigned char logrec[OCSP_REVLOG_REC_MAX];
    const char *argv[4];
    size_t lens[4], n;

    ocsp_key_revoked(rev_key, s->cf->prefix, ic->name, shard);
    ocsp_key_revlog(log_key, s->cf->prefix, ic->name, shard);
    argv[0] = value != NULL ? "HSET" : "HDEL";
    argv[1] = rev_key;
    argv[2] = serial;
    argv[3] = (const char *)value;
    lens[0] = 4;
    lens[1] = strlen(rev_key);
    lens[2] = strlen(serial);
    lens[3] = value_len;
    w_cmd(w, value != NULL ? 4 : 3, argv, lens);

    n = ocsp_revlog_record(logrec, serial, value, value_len);
    if (n > 0) {
        /* A new log starts with a header; the generator checks the log
         * against the hash before it trusts it (revlog.h). */
        argv[0] = "SET";
        argv[1] = log_key;
        argv[2] = (const char *)w->log_header;
        argv[3] = "NX";
        lens[0] = 3;
        lens[1] = strlen(log_key);
        lens[2] = sizeof(w->log_header);
        lens[3] = 2;
        w_cmd(w, 4, argv, lens);
        argv[0] = "APPEND";
        argv[1] = log_key;
        argv[2] = (const char *)logrec;
        lens[0] = 6;
        lens[1] = strlen(log_key);
        lens[2] = n;
        if (w->nappends < sizeof(w->appends) / sizeof(w->appends[0])) {
            w->appends[w->nappends].at = w->queued;
            w->appends[w->nappends].ic = ic;
            w->appends[w->nappends++].shard = shard;
        }
        w_cmd(w, 3, argv, lens);
    } else {
        /* Cannot happen with bounded input; were it to, a log missing
         * this change must not be trusted: gone, it is rebuilt. */
        argv[0] = "DEL";
        argv[1] = log_key;
        w_cmd(w, 2, argv, NULL);
    }
}

static int item_write(signer_t *s, signer_batch_t *w, signer_item_t *it,
                      int64_t now, long now_ms)
{
    const ocsp_issuer_conf_t *ic = it->iss->conf;
    char ocsp_key[OCSP_KEY_MAX], due_key[OCSP_KEY_MAX];
    char chg_key[OCSP_KEY_MAX], tu[24], nu[24], ms[24];
    unsigned char *der[OCSP_HASH_COUNT] = {NULL, NULL};
    size_t der_len[OCSP_HASH_COUNT];
    unsigned shard;
    int on_crl, h, unauthorized, written = -1;
    ocsp_answer_e answer;
    int64_t due_at;
    ocsp_cert_status_e status;
    int64_t rev_time;
    int reason;

    ocsp_key_ocsp(ocsp_key, s->cf->prefix, ic->name, it->serial);
    ocsp_key_due(due_key, s->cf->prefix, ic->name);
    ocsp_key_changes(chg_key, s->cf->prefix, ic->name);

    /* Expired past retention: the record and its responses go. */
    if (ocsp_record_issued(&it->rec) &&
        it->rec.not_after + ic->expired_retention < now) {
        const char *del[] = {"DEL", it->cert_key, ocsp_key};
        const char *zrem[] = {"ZREM", due_key, it->serial};
        w_cmd(w, 3, del, NULL);
        w_cmd(w, 3, zrem, NULL);
        if (it->on_crl_before) {
            w_revoked(s, w, ic, it->shard_before, it->serial, NULL, 0);
        }
        return 0;
    }

    /* Everything that can fail comes first: a failed item queues
     * nothing, and the rest of the batch goes ahead without it. */
    if (it->changed) {
        it->rec.has_updated = 1;
        it->rec.updated = now;
        it->rec_len = revoca__cert_record__get_packed_size(&it->rec);
        if (it->rec_len > sizeof(it->rec_buf)) {
            return -1;
        }
        revoca__cert_record__pack(&it->rec, it->rec_buf);
    }

    /* Policy "unauthorized" for a never-issued serial: nothing signed.  A
     * record the status model refuses is not answered and its stored
     * responses stay: the item fails (apply() never makes one). */
    answer =
        ocsp_record_answer(&it->rec, ic->unissued, &status, &rev_time, &reason);
    if (answer == OCSP_ANSWER_INVALID) {
        ocsp_log(OCSP_LOG_ERR, "record invalid key=%s why=\"after apply\"",
                 it->cert_key);
        return -1;
    }
    unauthorized = answer == OCSP_ANSWER_UNAUTHORIZED;
    if (!unauthorized) {
        ocsp_single_t single;
        ocsp_times_t times;

        ocsp_response_times(ic, now, &times);
        memset(&single, 0, sizeof(single));
        single.serial = it->serial;
        single.status = status;
        single.revocation_time = rev_time;
        single.reason = reason;
        single.produced_at = times.produced_at;
        single.this_update = times.this_update;
        single.next_update = times.next_update;
        for (h = 0; h < OCSP_HASH_COUNT; h++) {
            single.hash = (ocsp_hash_e)h;
            if (ocsp_response_sign(it->iss, &single, &der[h], &der_len[h]) !=
                0) {
                ocsp_log(OCSP_LOG_ERR, "sign failed issuer=%s why=\"%s\"",
                         ic->name, ocsp_sign_key_err(it->iss->key)->msg);
                goto failed;
            }
        }
        snprintf(tu, sizeof(tu), "%lld", (long long)single.this_update);
        snprintf(nu, sizeof(nu), "%lld", (long long)single.next_update);
        due_at = times.resign_at;
        if (ocsp_record_issued(&it->rec) &&
            it->rec.not_after + ic->expired_retention < due_at) {
            due_at = it->rec.not_after + ic->expired_retention + 1;
        }
        snprintf(it->due, sizeof(it->due), "%lld", (long long)due_at);
    }
    if (it->changed) {
        it->set_record = 1;

        /* What the CRLs are built from (keys.h). */
        on_crl = ocsp_record_on_crl(&it->rec);
        shard = ocsp_record_shard(&it->rec, ic->shards);
        if (it->on_crl_before && (!on_crl || shard != it->shard_before)) {
            w_revoked(s, w, ic, it->shard_before, it->serial, NULL, 0);
        }
        if (on_crl) {
            w_revoked(s, w, ic, shard, it->serial, it->rec_buf, it->rec_len);
        }
        if (on_crl || it->on_crl_before) {
            const char *zadd[] = {"ZADD", chg_key, ms, it->serial};
            snprintf(ms, sizeof(ms), "%ld", now_ms);
            w_cmd(w, 4, zadd, NULL);
        }
    }

    if (unauthorized) {
        const char *del[] = {"DEL", ocsp_key};
        const char *zrem[] = {"ZREM", due_key, it->serial};
        w_cmd(w, 2, del, NULL);
        w_cmd(w, 3, zrem, NULL);
        return 0;
    }
    {
        const char *hset[] = {"HSET",
                              ocsp_key,
                              OCSP_FIELD_SHA1,
                              (const char *)der[OCSP_HASH_SHA1],
                              OCSP_FIELD_SHA256,
                              (const char *)der[OCSP_HASH_SHA256],
                              OCSP_FIELD_THIS_UPDATE,
                              tu,
                              OCSP_FIELD_NEXT_UPDATE,
                              nu,
                              OCSP_FIELD_STATUS,
                              ocsp_status_field(status)};
        size_t lens[12];
        for (h = 0; h < 12; h++) {
            lens[h] = strlen(hset[h]);
        }
        lens[3] = der_len[OCSP_HASH_SHA1];
        lens[5] = der_len[OCSP_HASH_SHA256];
        w_cmd(w, 12, hset, lens);
        it->add_due = 1;
        w->signatures += 2;
    }
    written = 0;

failed:
    free(der[0]);
    free(der[1]);
    return written;
}

/* The records and re-sign times item_write() left for the whole batch. */
static void batch_write_records(signer_t *s, signer_batch_t *b)
{
    const char *argv[2 + 2 * SIGNER_BATCH_MAX];
    size_t lens[2 + 2 * SIGNER_BATCH_MAX];
    char due_key[OCSP_KEY_MAX];
    size_t i, r, n = 1;

    for (i = 0; i < b->nitems; i++) {
        const signer_item_t *it = &b->items[i];
        if (it->set_record && !it->bad) {
            argv[n] = it->cert_key;
            lens[n++] = strlen(it->cert_key);
            argv[n] = (const char *)it->rec_buf;
            lens[n++] = it->rec_len;
        }
    }
    if (n > 1) {
        argv[0] = "MSET";
        lens[0] = 4;
        w_cmd(b, (int)n, argv, lens);
    }
    for (r = 0; r < s->reg.n; r++) {
        const ocsp_issuer_t *iss = &s->reg.issuers[r];
        n = 2;
        for (i = 0; i < b->nitems; i++) {
            const signer_item_t *it = &b->items[i];
            if (it->iss == iss && it->add_due && !it->bad) {
                argv[n] = it->due;
                lens[n++] = strlen(it->due);
                argv[n] = it->serial;
                lens[n++] = strlen(it->serial);
            }
        }
        if (n > 2) {
            ocsp_key_due(due_key, s->cf->prefix, iss->conf->name);
            argv[0] = "ZADD";
            lens[0] = 4;
            argv[1] = due_key;
            lens[1] = strlen(due_key);
            w_cmd(b, (int)n, argv, lens);
        }
    }
}

void signer_tx_build(signer_t *s, signer_batch_t *b)
{
    const char *argv[3 + SIGNER_BATCH_MAX];
    int64_t now = (int64_t)time(NULL);
    struct timespec ts;
    long now_ms;
    size_t i, acks = 0;

    b->queued = 0;
    b->nappends = 0;
    b->signatures = 0;
    ocsp_revlog_header(b->log_header, OCSP_REVLOG_STARTED);
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    for (i = 0; i < b->nentries; i++) {
        signer_entry_t *en = &b->entries[i];
        if (en->ev != NULL &&
            ocsp_record_apply(&b->items[en->item].rec, en->ev) == 1) {
            b->items[en->item].changed = 1;
        }
    }

    /* A failed append fails the connection (rconn.h), so the reply count
     * signer_tx_finish() expects is never read from a half-sent batch. */
    argv[0] = "MULTI";
    (void)ocsp_rconn_append(b->conn, 1, argv, NULL);
    for (i = 0; i < b->nitems; i++) {
        signer_item_t *it = &b->items[i];
        if (it->bad || (!it->changed && !it->resign)) {
            continue;
        }
        if (!it->loaded && !it->changed) {
            /* A due entry whose record is gone. */
            char due_key[OCSP_KEY_MAX];
            const char *zrem[] = {"ZREM", due_key, it->serial};
            ocsp_key_due(due_key, s->cf->prefix, it->iss->conf->name);
            w_cmd(b, 3, zrem, NULL);
            continue;
        }
        if (item_write(s, b, it, now, now_ms) != 0) {
            /* Only this certificate waits: its events stay pending (and
             * are claimed again), the others go ahead. */
            ocsp_log(OCSP_LOG_ERR,
                     "record not written key=%s action=\"events pending\"",
                     it->cert_key);
            it->bad = 1;
        }
    }
    batch_write_records(s, b);
    argv[0] = "XACK";
    argv[1] = s->events_key;
    argv[2] = SIGNER_GROUP;
    for (i = 0; i < b->nentries; i++) {
        const signer_entry_t *en = &b->entries[i];
        if (en->ev == NULL || !b->items[en->item].bad) {
            argv[3 + acks++] = en->id;
        }
    }
    if (acks > 0) {
        w_cmd(b, (int)(3 + acks), argv, NULL);
    }
    argv[0] = "EXEC";
    (void)ocsp_rconn_append(b->conn, 1, argv, NULL);
}

/*
 * Commands of a committed transaction can still have failed one by one (a
 * key of another type, a string at Redis's 512 MB limit).  A revoked log
 * whose append failed no longer repeats its hash: it is noted for deletion
 * (signer_drop_logs()), so that the CRL generator rebuilds it (revlog.h)
 * instead of trusting a log that misses a change.
 */
static void batch_exec_errors(signer_t *s, signer_batch_t *b,
                              const redisReply *r)
{
    size_t i, j;

    for (i = 0; i < r->elements; i++) {
        if (r->element[i]->type == REDIS_REPLY_ERROR) {
            ocsp_log(OCSP_LOG_ERR, "command failed in transaction reply=\"%s\"",
                     r->element[i]->str);
            break;
        }
    }
    if (i == r->elements) {
        return;
    }
    for (i = 0; i < b->nappends; i++) {
        char key[OCSP_KEY_MAX];

        if (b->appends[i].at >= r->elements ||
            r->element[b->appends[i].at]->type != REDIS_REPLY_ERROR) {
            continue;
        }
        ocsp_key_revlog(key, s->cf->prefix, b->appends[i].ic->name,
                        b->appends[i].shard);
        for (j = 0; j < s->ndrops && strcmp(s->drops[j], key) != 0; j++) {
        }
        if (j < s->ndrops) {
            continue;
        }
        if (s->ndrops == SIGNER_DROPS_MAX) {
            s->drop_all = 1;
            continue;
        }
        snprintf(s->drops[s->ndrops++], OCSP_KEY_MAX, "%s", key);
    }
}

/* DEL of one revoked log on s->read_conn, logged.  0, or -1 on a lost link. */
static int signer_drop_log(signer_t *s, const char *key)
{
    const char *argv[] = {"DEL", key};
    redisReply *r = ocsp_rconn_cmd(&s->read_conn, 2, argv, NULL);

    if (r == NULL) {
        return -1;
    }
    freeReplyObject(r);
    ocsp_log(OCSP_LOG_WARN,
             "revoked log dropped key=%s why=\"an append "
             "failed\"",
             key);
    return 0;
}

int signer_tx_drop_logs(signer_t *s)
{
    char key[OCSP_KEY_MAX];

    if (s->drop_all) {
        for (size_t i = 0; i < s->reg.n; i++) {
            const ocsp_issuer_conf_t *ic = s->reg.issuers[i].conf;
            for (unsigned shard = 0; shard < ic->shards; shard++) {
                ocsp_key_revlog(key, s->cf->prefix, ic->name, shard);
                if (signer_drop_log(s, key) != 0) {
                    return -1;
                }
            }
        }
        s->drop_all = 0;
        s->ndrops = 0;
    }
    for (; s->ndrops > 0; s->ndrops--) {
        if (signer_drop_log(s, s->drops[s->ndrops - 1]) != 0) {
            return -1;
        }
    }
    return 0;
}

int signer_tx_finish(signer_t *s, signer_batch_t *b)
{
    char refused[OCSP_ERR_MAX] = "";
    size_t i, n = 1 + b->queued + 1; /* MULTI, the commands, EXEC */
    int outcome = 0;

    for (i = 0; i < n; i++) {
        redisReply *r = ocsp_rconn_reply(b->conn);

        if (r == NULL) {
            return -1;
        }
        if (i < n - 1) {
            /* Refused when queued: EXEC then refuses the transaction. */
            if (r->type == REDIS_REPLY_ERROR && refused[0] == '\0') {
                snprintf(refused, sizeof(refused), "%.*s",
                         (int)(r->len > 200 ? 200 : r->len), r->str);
            }
        } else if (r->type == REDIS_REPLY_NIL) {
            outcome = 1; /* a WATCHed record changed: repeat */
            s->conflicts++;
        } else if (r->type == REDIS_REPLY_ARRAY) {
            batch_exec_errors(s, b, r);
        } else {
            /* Not a conflict: repeating it at once would only spin. */
            char why[OCSP_ERR_MAX];
            snprintf(why, sizeof(why),
                     "transaction failed reply=\"%.*s\" refused=\"%s\"",
                     r->type == REDIS_REPLY_ERROR
                         ? (int)(r->len > 200 ? 200 : r->len)
                         : 1,
                     r->type == REDIS_REPLY_ERROR ? r->str : "?", refused);
            ocsp_rconn_fail(b->conn, why);
            outcome = -1;
        }
        freeReplyObject(r);
    }
    if (outcome == 0) {
        s->events += b->nentries;
        s->signed_responses += b->signatures;
    }
    return outcome;
}
