#include "signer_tx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/sds.h>

#include "history.h"
#include "log.h"
#include "policy.h"
#include "purge.h"
#include "response.h"
#include "stored.h"

/* Monotonic nanoseconds (the signing time of the metrics). */
static int64_t tx_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Bytes of a transaction queued before they are sent (w_cmd()). */
#define SIGNER_SEND_AT (64 * 1024)

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
    /* MGET answers nil for a key of another type as for an absent one:
     * EXISTS counting more keys than MGET found strings tells them apart
     * (load_types()). */
    argv[0] = "EXISTS";
    (void)ocsp_rconn_append(b->conn, (int)(1 + b->nitems), argv, NULL);
}

/*
 * The items MGET found no string for whose key exists, of another type
 * (a list, a hash, ...): marked bad, as an undecodable record is, since
 * writing over it would not be repairing what is there.  The rare case:
 * one TYPE per such item, pipelined.  0, or -1 (the connection failed).
 */
static int load_types(signer_batch_t *b, const redisReply *mget)
{
    size_t i, asked = 0;

    for (i = 0; i < b->nitems; i++) {
        if (mget->element[i]->type == REDIS_REPLY_NIL) {
            const char *argv[] = {"TYPE", b->items[i].cert_key};
            if (ocsp_rconn_append(b->conn, 2, argv, NULL) != 0) {
                return -1;
            }
            asked++;
        }
    }
    for (i = 0; i < b->nitems && asked > 0; i++) {
        redisReply *r;

        if (mget->element[i]->type != REDIS_REPLY_NIL) {
            continue;
        }
        asked--;
        if ((r = ocsp_rconn_reply(b->conn)) == NULL) {
            return -1;
        }
        if (r->type != REDIS_REPLY_STATUS || strcmp(r->str, "none") != 0) {
            ocsp_log(OCSP_LOG_ERR,
                     "record invalid key=%s why=\"not a string: %.16s\" "
                     "action=\"left alone, events pending\"",
                     b->items[i].cert_key,
                     r->type == REDIS_REPLY_STATUS ? r->str : "?");
            b->items[i].bad = 1;
        }
        freeReplyObject(r);
    }
    return 0;
}

int signer_tx_load_recv(signer_t *s, signer_batch_t *b)
{
    redisReply *r, *ex;
    size_t i, strings = 0;
    long long exists;

    if (b->nitems == 0) {
        return 0;
    }
    if (signer_tx_ack_recv(s, b->conn) != 0 ||
        (r = ocsp_rconn_reply(b->conn)) == NULL) {
        return -1;
    }
    freeReplyObject(r);
    if ((r = ocsp_rconn_reply(b->conn)) == NULL) {
        return -1;
    }
    if ((ex = ocsp_rconn_reply(b->conn)) == NULL) {
        freeReplyObject(r);
        return -1;
    }
    exists = ex->type == REDIS_REPLY_INTEGER ? ex->integer : -1;
    freeReplyObject(ex);
    if (r->type != REDIS_REPLY_ARRAY || r->elements != b->nitems ||
        exists < 0) {
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
        it->failed = 0;
        /* Responses signed by a try of this batch stay good only for the
         * same record: anything else is signed again. */
        if (e->type == REDIS_REPLY_STRING && e->len <= sizeof(it->raw)) {
            if (it->raw_state != 2 || it->raw_len != e->len ||
                memcmp(it->raw, e->str, e->len) != 0) {
                signer_item_forget(it);
            }
            it->raw_state = 2;
            it->raw_len = e->len;
            memcpy(it->raw, e->str, e->len);
        } else {
            if (it->raw_state != 1 || e->type != REDIS_REPLY_NIL) {
                signer_item_forget(it);
            }
            it->raw_state = e->type == REDIS_REPLY_NIL ? 1 : 0;
        }
        if (e->type == REDIS_REPLY_STRING) {
            const char *why;

            strings++;
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
        it->notify = 0;
        it->set_record = 0;
        it->add_due = 0;
        it->gone = 0;
        it->history = 0;
        it->on_crl_before = it->loaded && ocsp_record_on_crl(&it->rec);
        it->shard_before = ocsp_record_shard(&it->rec, it->iss->conf->shards);
    }
    /* A key counted twice by EXISTS (named twice) cannot happen: items
     * are distinct. */
    if ((size_t)exists > strings && load_types(b, r) != 0) {
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int signer_tx_load(signer_t *s, signer_batch_t *b)
{
    signer_tx_load_send(b);
    return signer_tx_load_recv(s, b);
}

/* Queues one command of the batch's transaction, noting what it touches
 * (KIND, for item ITEM, in SHARD) for the reading of EXEC's reply. */
static void w_cmd(signer_batch_t *w, signer_cmd_e kind, size_t item,
                  unsigned shard, int argc, const char **argv,
                  const size_t *len)
{
    if (w->queued < SIGNER_CMDS_MAX) {
        signer_cmd_t *c = &w->cmds[w->queued];
        c->item = (uint16_t)item;
        c->kind = (uint8_t)kind;
        c->shard = shard;
    }
    /* A failure shows when the replies are read. */
    (void)ocsp_rconn_append(w->conn, argc, argv, len);
    w->queued++;
    /* Sent as it is built, so that Redis queues the commands while the
     * rest is signed and the output buffer stays small and in cache
     * instead of growing (and being copied) to the whole transaction. */
    if (ocsp_rconn_queued(w->conn) >= SIGNER_SEND_AT) {
        (void)ocsp_rconn_flush(w->conn);
    }
}

/* The item of the batch IT is. */
static size_t item_at(const signer_batch_t *b, const signer_item_t *it)
{
    return (size_t)(it - b->items);
}

/*
 * Queues the change of SERIAL in the revoked hash of SHARD: set to the
 * record VALUE, or deleted (VALUE NULL); and the same change appended to
 * that shard's revoked log (revlog.h), in the same transaction.
 */
static void w_revoked(signer_t *s, signer_batch_t *w, size_t item,
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
    w_cmd(w, SIGNER_CMD_REVOKED, item, shard, value != NULL ? 4 : 3, argv,
          lens);

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
        w_cmd(w, SIGNER_CMD_REVLOG, item, shard, 4, argv, lens);
        argv[0] = "APPEND";
        argv[1] = log_key;
        argv[2] = (const char *)logrec;
        lens[0] = 6;
        lens[1] = strlen(log_key);
        lens[2] = n;
        w_cmd(w, SIGNER_CMD_REVLOG, item, shard, 3, argv, lens);
    } else {
        /* Cannot happen with bounded input; were it to, a log missing
         * this change must not be trusted: gone, it is rebuilt. */
        argv[0] = "DEL";
        argv[1] = log_key;
        w_cmd(w, SIGNER_CMD_REVLOG, item, shard, 2, argv, NULL);
    }
}

/* The SingleResponse IT is signed with at NOW, its times set in it->times
 * (kept with the responses for a repeat of the batch). */
static void item_single(signer_item_t *it, int64_t now,
                        ocsp_cert_status_e status, int64_t rev_time, int reason,
                        ocsp_single_t *single)
{
    ocsp_times_t *times = &it->times;

    ocsp_response_times(it->iss->conf, now, times);
    memset(single, 0, sizeof(*single));
    single->serial = it->serial;
    single->status = status;
    single->revocation_time = rev_time;
    single->reason = reason;
    single->produced_at = times->produced_at;
    single->this_update = times->this_update;
    single->next_update = times->next_update;
    single->no_certs = 1; /* put back by the reader (stored.h) */
}

/*
 * Whether the answer ANSWER (STATUS, REV_TIME, REASON) signed for IT is
 * another than its record answered as loaded (a serial never reported when
 * there was none): a change every responder's cache and the CDN must hear
 * of, where a re-sign of the same answer needs nothing (a cached copy
 * stays right until its own nextUpdate, which bounds every cache).
 */
static int item_answer_changed(signer_item_t *it, ocsp_answer_e answer,
                               ocsp_cert_status_e status, int64_t rev_time,
                               int reason)
{
    const ocsp_record_t *before = it->loaded;
    ocsp_record_t empty;
    ocsp_cert_status_e st;
    int64_t rt;
    int rs;
    ocsp_answer_e was;

    if (before == NULL) {
        ocsp_record_init(&empty, it->serial);
        before = &empty;
    }
    was = ocsp_record_answer(before, it->iss->conf->unissued, &st, &rt, &rs);
    return was != answer || (answer == OCSP_ANSWER_SIGN &&
                             (st != status || rt != rev_time || rs != reason));
}

static int item_write(signer_t *s, signer_batch_t *w, signer_item_t *it,
                      int64_t now, long now_ms)
{
    const ocsp_issuer_conf_t *ic = it->iss->conf;
    char ocsp_key[OCSP_KEY_MAX], due_key[OCSP_KEY_MAX];
    char chg_key[OCSP_KEY_MAX], ms[24];
    /* the item's: kept for a repeat of the batch */
    unsigned char **der = it->der, *value = NULL;
    size_t *der_len = it->der_len, value_len = 0;
    const char *why;
    unsigned shard;
    int on_crl, h, unauthorized, written = -1;
    ocsp_answer_e answer;
    int64_t due_at, t0;
    ocsp_cert_status_e status;
    int64_t rev_time;
    int reason;
    size_t at = item_at(w, it);

    it->notify = 0;
    ocsp_key_ocsp(ocsp_key, s->cf->prefix, ic->name, it->serial);
    ocsp_key_due(due_key, s->cf->prefix, ic->name);
    ocsp_key_changes(chg_key, s->cf->prefix, ic->name);

    /* Expired past retention: the record, its responses and its history
     * go. */
    if (ocsp_record_issued(&it->rec) &&
        it->rec.not_after + ic->expired_retention < now) {
        char hist_key[OCSP_KEY_MAX];
        const char *del[] = {"DEL", it->cert_key, ocsp_key, hist_key};
        const char *zrem[] = {"ZREM", due_key, it->serial};
        ocsp_key_history(hist_key, s->cf->prefix, ic->name, it->serial);
        it->gone = 1;
        w_cmd(w, SIGNER_CMD_RECORD, at, 0, 4, del, NULL);
        w_cmd(w, SIGNER_CMD_DUE, at, 0, 3, zrem, NULL);
        if (it->on_crl_before) {
            w_revoked(s, w, at, ic, it->shard_before, it->serial, NULL, 0);
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
    if (!unauthorized && der[0] == NULL) {
        /* Not kept from a try of this batch that met a WATCH conflict
         * with the same record (signer_tx_load_recv()). */
        ocsp_single_t single;

        item_single(it, now, status, rev_time, reason, &single);
        t0 = tx_mono_ns();
        for (h = 0; h < OCSP_HASH_COUNT; h++) {
            single.hash = (ocsp_hash_e)h;
            if (ocsp_response_sign(it->iss, &single, &der[h], &der_len[h]) !=
                0) {
                ocsp_log(OCSP_LOG_ERR, "sign failed issuer=%s why=\"%s\"",
                         ic->name, ocsp_sign_key_err(it->iss->key)->msg);
                goto failed;
            }
        }
        s->sign_ns += tx_mono_ns() - t0;
        s->computed += OCSP_HASH_COUNT;
    }
    if (!unauthorized) {
        const ocsp_times_t *times = &it->times;

        if (ocsp_stored_make(it->iss, status, times->this_update,
                             times->next_update, der, der_len, &value,
                             &value_len, &why) != 0) {
            ocsp_log(OCSP_LOG_ERR,
                     "stored responses not made key=%s why=\"%s\"", ocsp_key,
                     why);
            goto failed;
        }
        due_at = times->resign_at;
        if (ocsp_record_issued(&it->rec) &&
            it->rec.not_after + ic->expired_retention < due_at) {
            due_at = it->rec.not_after + ic->expired_retention + 1;
        }
        snprintf(it->due, sizeof(it->due), "%lld", (long long)due_at);
    }
    if (it->changed) {
        it->set_record = 1;
        /* A redelivered event's first commit may have failed in exactly
         * these commands: told again (twice is harmless, never is not). */
        it->notify = it->redo ||
                     item_answer_changed(it, answer, status, rev_time, reason);

        /* What the CRLs are built from (keys.h). */
        on_crl = ocsp_record_on_crl(&it->rec);
        shard = ocsp_record_shard(&it->rec, ic->shards);
        if (it->on_crl_before && (!on_crl || shard != it->shard_before)) {
            w_revoked(s, w, at, ic, it->shard_before, it->serial, NULL, 0);
        }
        if (on_crl) {
            w_revoked(s, w, at, ic, shard, it->serial, it->rec_buf,
                      it->rec_len);
        }
        if (on_crl || it->on_crl_before) {
            const char *zadd[] = {"ZADD", chg_key, ms, it->serial};
            snprintf(ms, sizeof(ms), "%ld", now_ms);
            w_cmd(w, SIGNER_CMD_CHANGES, at, 0, 4, zadd, NULL);
        }
    }

    if (unauthorized) {
        const char *del[] = {"DEL", ocsp_key};
        const char *zrem[] = {"ZREM", due_key, it->serial};
        w_cmd(w, SIGNER_CMD_OCSP, at, 0, 2, del, NULL);
        w_cmd(w, SIGNER_CMD_DUE, at, 0, 3, zrem, NULL);
        return 0;
    }
    {
        /* SET replaces a value of any type: a hash of the layout before
         * stored.h is overwritten at its next signing. */
        const char *set[] = {"SET", ocsp_key, (const char *)value};
        size_t lens[] = {3, strlen(ocsp_key), value_len};
        w_cmd(w, SIGNER_CMD_OCSP, at, 0, 3, set, lens);
        free(value); /* w_cmd() formatted a copy */
        it->add_due = 1;
        w->signatures += 2;
    }
    return 0;

failed:
    free(value);
    signer_item_forget(it);
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
        w_cmd(b, SIGNER_CMD_RECORDS, 0, 0, (int)n, argv, lens);
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
            size_t first = 0;
            while (b->items[first].iss != iss) {
                first++;
            }
            ocsp_key_due(due_key, s->cf->prefix, iss->conf->name);
            argv[0] = "ZADD";
            lens[0] = 4;
            argv[1] = due_key;
            lens[1] = strlen(due_key);
            w_cmd(b, SIGNER_CMD_DUES, first, 0, (int)n, argv, lens);
        }
    }
}

/*
 * Every applied event's entry in its certificate's history (history.h), in
 * stream order, then each list touched trimmed to the newest s->history
 * (signer.history; 0: no history written).  Every event the batch applies to an
 * item that is written (or left as it was: the event changed nothing) is
 * recorded; an item left alone (bad: its events stay pending) or deleted as
 * expired is not.  A redelivered event is recorded again: readers show one
 * entry per stream id.
 */
static void batch_write_history(signer_t *s, signer_batch_t *b, int64_t now)
{
    unsigned char entry[OCSP_HISTORY_ENTRY_MAX];
    char key[OCSP_KEY_MAX], start[24];
    size_t i, n;

    if (s->history == 0) {
        return;
    }
    for (i = 0; i < b->nentries; i++) {
        const signer_entry_t *en = &b->entries[i];
        signer_item_t *it;

        if (en->ev == NULL) {
            continue;
        }
        it = &b->items[en->item];
        if (it->bad || it->gone ||
            (n = ocsp_history_pack(en->ev, en->id, now, entry)) == 0) {
            continue;
        }
        ocsp_key_history(key, s->cf->prefix, it->iss->conf->name, it->serial);
        {
            const char *rpush[] = {"RPUSH", key, (const char *)entry};
            size_t lens[] = {5, strlen(key), n};
            w_cmd(b, SIGNER_CMD_HISTORY, en->item, 0, 3, rpush, lens);
        }
        it->history = 1;
    }
    snprintf(start, sizeof(start), "-%lld", (long long)s->history);
    for (i = 0; i < b->nitems; i++) {
        const signer_item_t *it = &b->items[i];
        if (it->history && !it->bad) {
            const char *ltrim[] = {"LTRIM", key, start, "-1"};
            ocsp_key_history(key, s->cf->prefix, it->iss->conf->name,
                             it->serial);
            w_cmd(b, SIGNER_CMD_HISTORY, i, 0, 4, ltrim, NULL);
        }
    }
}

/*
 * After everything else of the batch: for each item whose answer changed,
 * the invalidation every responder drops its cached answers on
 * (P:invalidate, keys.h) and, with purge.hook set and the issuer's
 * ocsp_urls, the CDN purge job (P:purge, purge.h).  Inside the
 * transaction: published, and recorded, exactly when the change commits;
 * a WATCH conflict repeats neither.
 */
static void batch_notify(signer_t *s, signer_batch_t *b)
{
    char ref[OCSP_KEY_MAX];
    size_t i;

    for (i = 0; i < b->nitems; i++) {
        const signer_item_t *it = &b->items[i];
        const char *name = it->iss->conf->name;

        if (!it->notify || it->bad ||
            ocsp_cert_ref(ref, name, it->serial) < 0) {
            continue;
        }
        {
            const char *pub[] = {"PUBLISH", s->invalidate_key, ref};
            w_cmd(b, SIGNER_CMD_NOTIFY, i, 0, 3, pub, NULL);
            b->notified++;
        }
        if (s->purge.enabled && it->iss->conf->nocsp_urls > 0) {
            const char *xadd[] = {
                "XADD",          s->purge_key, "MAXLEN",         "~",
                s->purge_maxlen, "*",          OCSP_PURGE_FIELD, ref};
            w_cmd(b, SIGNER_CMD_PURGE, i, 0, 8, xadd, NULL);
            b->purges++;
        }
    }
}

/*
 * The responses item_write() is about to sign for IT at NOW, as a job for
 * the pool: 1 with *job set up, 0 when it signs none (left out of the
 * batch's writes, answered "unauthorized", deleted as expired, an invalid
 * record, or responses kept from a repeat of the batch).  The same
 * conditions as signer_tx_build()'s loop and item_write(), in their order;
 * should they disagree, item_write() decides and signs alone.
 */
static int item_job(signer_item_t *it, int64_t now, signer_pool_job_t *job)
{
    const ocsp_issuer_conf_t *ic = it->iss->conf;
    ocsp_cert_status_e status;
    int64_t rev_time;
    int reason;
    ocsp_answer_e answer;

    if (it->bad || (!it->changed && !it->resign) ||
        (!it->loaded && !it->changed) || it->der[0] != NULL) {
        return 0;
    }
    if (ocsp_record_issued(&it->rec) &&
        it->rec.not_after + ic->expired_retention < now) {
        return 0;
    }
    answer =
        ocsp_record_answer(&it->rec, ic->unissued, &status, &rev_time, &reason);
    if (answer == OCSP_ANSWER_INVALID || answer == OCSP_ANSWER_UNAUTHORIZED) {
        return 0;
    }
    job->iss = it->iss;
    item_single(it, now, status, rev_time, reason, &job->single);
    job->der = it->der;
    job->der_len = it->der_len;
    return 1;
}

/*
 * Signs the batch's responses on the pool (signer.sign_threads), before
 * its writes are queued: item_write() then finds them signed, as after a
 * WATCH conflict.  An item whose signature failed fails alone, logged here
 * (the pool's threads never log) as item_write() logs it: its events stay
 * pending, its stored responses as they were.
 */
static void batch_presign(signer_t *s, signer_batch_t *b, int64_t now)
{
    size_t i, n = 0;
    uint16_t item_of[SIGNER_BATCH_MAX]; /* job -> item */
    int64_t t0;

    for (i = 0; i < b->nitems; i++) {
        if (item_job(&b->items[i], now, &s->jobs[n])) {
            item_of[n++] = (uint16_t)i;
        }
    }
    if (n == 0) {
        return;
    }
    t0 = tx_mono_ns();
    signer_pool_run(s->pool, s->jobs, n);
    s->sign_ns += tx_mono_ns() - t0;
    for (i = 0; i < n; i++) {
        signer_item_t *it = &b->items[item_of[i]];

        if (s->jobs[i].failed) {
            ocsp_log(OCSP_LOG_ERR, "sign failed issuer=%s why=\"%s\"",
                     it->iss->conf->name, s->jobs[i].err.msg);
            ocsp_log(OCSP_LOG_ERR,
                     "record not written key=%s action=\"events pending\"",
                     it->cert_key);
            signer_item_forget(it);
            it->bad = 1;
        } else {
            s->computed += OCSP_HASH_COUNT;
        }
    }
}

/*
 * The subject of an issue event's certificate (when the CA sent one, of
 * this serial and issuer) into IT's record, for `revoca inventory`.  One
 * parse per issue event that carries a certificate.  1 if the record
 * changed.
 */
static int tx_take_subject(signer_item_t *it, const ocsp_event_t *ev)
{
    char subject[OCSP_SUBJECT_MAX + 1];

    if (ev->kind_case != REVOCA__EVENT__KIND_ISSUED ||
        !ev->issued->has_cert_der || ev->issued->cert_der.len == 0) {
        return 0;
    }
    if (ocsp_subject_from_der(ev->issued->cert_der.data,
                              ev->issued->cert_der.len, it->serial,
                              it->iss->cert, subject) != 0) {
        ocsp_log(OCSP_LOG_WARN,
                 "certificate of issue event ignored key=%s id=%s "
                 "why=\"not a certificate of this serial and issuer\"",
                 it->cert_key, ev->id);
        return 0;
    }
    return ocsp_record_take_subject(&it->rec, ev, subject, it->subject);
}

void signer_tx_build(signer_t *s, signer_batch_t *b)
{
    const char *argv[1];
    int64_t now = (int64_t)time(NULL);
    struct timespec ts;
    long now_ms;
    size_t i;

    b->queued = 0;
    b->signatures = 0;
    b->notified = 0;
    b->purges = 0;
    ocsp_revlog_header(b->log_header, OCSP_REVLOG_STARTED);
    clock_gettime(CLOCK_REALTIME, &ts);
    now_ms = (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    for (i = 0; i < b->nentries; i++) {
        signer_entry_t *en = &b->entries[i];
        signer_item_t *it = &b->items[en->item];
        /* A redelivered event may have been applied to the record by a
         * transaction some other command of which failed: the record
         * already reflects it, and its effect is written again. */
        if (en->ev != NULL &&
            (ocsp_record_apply(&it->rec, en->ev) == 1 || it->redo)) {
            it->changed = 1;
        }
        if (en->ev != NULL && tx_take_subject(it, en->ev)) {
            it->changed = 1;
        }
    }

    if (s->pool != NULL) {
        batch_presign(s, b, now);
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
            w_cmd(b, SIGNER_CMD_DUE, i, 0, 3, zrem, NULL);
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
    batch_write_history(s, b, now);
    batch_notify(s, b);
    /* The entries are acknowledged after EXEC, those only all of whose
     * commands succeeded (signer_tx_ack_send()). */
    argv[0] = "EXEC";
    (void)ocsp_rconn_append(b->conn, 1, argv, NULL);
    /* redis.min_replica_acks: acknowledged only once on the replicas too
     * (signer_tx_finish() reads it). */
    (void)ocsp_rconn_append_wait(b->conn);
}

/* The key command C touched, into KEY (OCSP_KEY_MAX). */
static void cmd_key(const signer_t *s, const signer_batch_t *b,
                    const signer_cmd_t *c, char *key)
{
    const signer_item_t *it = &b->items[c->item];
    const char *issuer = it->iss->conf->name;

    switch ((signer_cmd_e)c->kind) {
    case SIGNER_CMD_RECORD:
        snprintf(key, OCSP_KEY_MAX, "%s", it->cert_key);
        break;
    case SIGNER_CMD_OCSP:
        ocsp_key_ocsp(key, s->cf->prefix, issuer, it->serial);
        break;
    case SIGNER_CMD_DUE:
    case SIGNER_CMD_DUES:
        ocsp_key_due(key, s->cf->prefix, issuer);
        break;
    case SIGNER_CMD_CHANGES:
        ocsp_key_changes(key, s->cf->prefix, issuer);
        break;
    case SIGNER_CMD_REVOKED:
        ocsp_key_revoked(key, s->cf->prefix, issuer, c->shard);
        break;
    case SIGNER_CMD_REVLOG:
        ocsp_key_revlog(key, s->cf->prefix, issuer, c->shard);
        break;
    case SIGNER_CMD_NOTIFY:
        snprintf(key, OCSP_KEY_MAX, "%s", s->invalidate_key);
        break;
    case SIGNER_CMD_PURGE:
        snprintf(key, OCSP_KEY_MAX, "%s", s->purge_key);
        break;
    case SIGNER_CMD_HISTORY:
        ocsp_key_history(key, s->cf->prefix, issuer, it->serial);
        break;
    default:
        snprintf(key, OCSP_KEY_MAX, "(the batch's records)");
        break;
    }
}

/*
 * One line per failed command, at most SIGNER_FAIL_LOGS per 10 s; the
 * first line after a quiet spell says how many were left out.  Each
 * retry of a command that keeps failing (the claim of its pending entries,
 * every claim_idle) would otherwise log again.
 */
#define SIGNER_FAIL_LOGS 10
#define SIGNER_FAIL_LOG_MS 10000

static void log_cmd_failed(signer_t *s, const char *key, const char *items,
                           const redisReply *e)
{
    long now = ocsp_now_ms();

    if (now - s->fail_log_ms >= SIGNER_FAIL_LOG_MS) {
        s->fail_log_ms = now;
        s->fail_logged = 0;
    }
    if (s->fail_logged >= SIGNER_FAIL_LOGS) {
        s->fail_unlogged++;
        return;
    }
    s->fail_logged++;
    ocsp_log(OCSP_LOG_ERR,
             "command failed in transaction key=%s items=%s reply=\"%.*s\" "
             "action=\"events pending\" repeated=%lu",
             key, items, (int)(e->len > 200 ? 200 : e->len), e->str,
             s->fail_unlogged);
    s->fail_unlogged = 0;
}

/* Notes the revoked log KEY for deletion (signer_tx_drop_logs()). */
static void drop_log_later(signer_t *s, const char *key)
{
    size_t j;

    for (j = 0; j < s->ndrops && strcmp(s->drops[j], key) != 0; j++) {
    }
    if (j < s->ndrops) {
        return;
    }
    if (s->ndrops == SIGNER_DROPS_MAX) {
        s->drop_all = 1;
        return;
    }
    snprintf(s->drops[s->ndrops++], OCSP_KEY_MAX, "%s", key);
}

/*
 * Commands of a committed transaction can still have failed one by one (a
 * key of another type, a string at Redis's 512 MB limit); Redis does not
 * roll the others back.  Every item a failed command concerns is marked
 * failed: its entries are not acknowledged, so they are claimed again
 * (claim_idle) and their effect written again (redo).  A revoked log one
 * of whose commands failed no longer repeats its hash: it is noted for
 * deletion too, so that the CRL generator rebuilds it (revlog.h) instead
 * of trusting a log that misses a change.
 */
static void batch_exec_errors(signer_t *s, signer_batch_t *b,
                              const redisReply *r)
{
    size_t i, k;

    for (i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        const signer_cmd_t *c = i < SIGNER_CMDS_MAX ? &b->cmds[i] : NULL;
        char key[OCSP_KEY_MAX];
        const char *items = "one";

        if (e->type != REDIS_REPLY_ERROR) {
            continue;
        }
        if (c == NULL) {
            for (k = 0; k < b->nitems; k++) {
                b->items[k].failed = 1;
            }
            snprintf(key, sizeof(key), "(command %zu)", i);
            items = "all";
        } else if (c->kind == SIGNER_CMD_RECORDS) {
            for (k = 0; k < b->nitems; k++) {
                b->items[k].failed |= b->items[k].set_record;
            }
            cmd_key(s, b, c, key);
            items = "all";
        } else if (c->kind == SIGNER_CMD_DUES) {
            const ocsp_issuer_t *iss = b->items[c->item].iss;
            for (k = 0; k < b->nitems; k++) {
                if (b->items[k].iss == iss) {
                    b->items[k].failed |= b->items[k].add_due;
                }
            }
            cmd_key(s, b, c, key);
            items = "issuer";
        } else {
            b->items[c->item].failed = 1;
            cmd_key(s, b, c, key);
            if (c->kind == SIGNER_CMD_REVLOG) {
                drop_log_later(s, key);
            }
        }
        log_cmd_failed(s, key, items, e);
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

/*
 * The reply of the WAIT queued behind EXEC (redis.min_replica_acks).  A
 * committed batch that fewer replicas acknowledged is not acknowledged in
 * the stream: its entries stay pending and are applied again later (after
 * a reconnection, or claimed after claim_idle; events are idempotent), so
 * that a failover before the replicas have it loses nothing.  Logged at
 * most once per 10 s and counted.  0, or -1 (the connection failed).
 */
static int finish_wait(signer_t *s, signer_batch_t *b, int committed)
{
    long long acked = 0;
    redisReply *r;
    int rv;

    if (!ocsp_rconn_wait_wanted(b->conn)) {
        return 0;
    }
    if ((r = ocsp_rconn_reply(b->conn)) == NULL) {
        return -1;
    }
    rv = ocsp_rconn_wait_result(b->conn, r, &acked);
    freeReplyObject(r);
    if (rv != 1 || !committed) {
        return rv < 0 ? -1 : 0;
    }
    for (size_t i = 0; i < b->nitems; i++) {
        b->items[i].failed = 1;
    }
    s->wait_short++;
    if (s->wait_log_ms == 0 || ocsp_now_ms() - s->wait_log_ms >= 10000) {
        s->wait_log_ms = ocsp_now_ms();
        ocsp_log(OCSP_LOG_WARN,
                 "batch not acknowledged by replicas acked=%lld wanted=%d "
                 "events=%zu total=%llu err=\"%s\" action=\"events "
                 "pending, applied again\"",
                 acked, s->cf->redis_min_replica_acks, b->nentries,
                 (unsigned long long)s->wait_short, b->conn->err);
    }
    return 0;
}

int signer_tx_finish(signer_t *s, signer_batch_t *b)
{
    char refused[OCSP_ERR_MAX] = "";
    size_t i, n = 1 + b->queued + 1; /* MULTI, the commands, EXEC */
    int outcome = 0;

    if (signer_tx_ack_recv(s, b->conn) != 0) {
        return -1;
    }
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
        } else if (r->type == REDIS_REPLY_ARRAY && r->elements == b->queued) {
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
    if (outcome >= 0 && finish_wait(s, b, outcome == 0) != 0) {
        return -1;
    }
    if (outcome == 0) {
        s->signed_responses += b->signatures;
        s->batches++;
        s->changes.invalidations += b->notified;
        s->changes.purge_jobs += b->purges;
    }
    return outcome;
}

int signer_tx_commit(signer_t *s, signer_batch_t *b)
{
    int outcome;

    do {
        if (signer_tx_load(s, b) != 0) {
            return -1;
        }
        signer_tx_build(s, b);
        outcome = ocsp_rconn_flush(b->conn) != 0 ? -1 : signer_tx_finish(s, b);
    } while (outcome == 1 && !*s->stop);
    return outcome;
}

/* Counts the acknowledged entry EN of B for the metrics. */
static void tx_count(signer_t *s, const signer_batch_t *b,
                     const signer_entry_t *en)
{
    size_t at;
    int kind;

    if (en->ev == NULL) {
        s->unreadable++;
        return;
    }
    switch (en->ev->kind_case) {
    case REVOCA__EVENT__KIND_ISSUED:
        kind = SIGNER_KIND_ISSUED;
        break;
    case REVOCA__EVENT__KIND_REVOKED:
        kind = SIGNER_KIND_REVOKED;
        break;
    case REVOCA__EVENT__KIND_HOLD:
        kind = SIGNER_KIND_HOLD;
        break;
    case REVOCA__EVENT__KIND_RELEASE:
        kind = SIGNER_KIND_RELEASE;
        break;
    default:
        return;
    }
    at = (size_t)(b->items[en->item].iss - s->reg.issuers);
    if (at < s->reg.n) {
        s->applied[at][kind]++;
    }
}

/* Which transaction connection CONN is (0 or 1). */
static size_t tx_index(const signer_t *s, const ocsp_rconn_t *conn)
{
    return conn == &s->tx_conn[0] ? 0 : 1;
}

int signer_tx_ack_send(signer_t *s, signer_batch_t *b)
{
    const char *argv[3 + SIGNER_BATCH_MAX];
    size_t i, acks = 0;

    argv[0] = "XACK";
    argv[1] = s->events_key;
    argv[2] = SIGNER_GROUP;
    for (i = 0; i < b->nentries; i++) {
        const signer_entry_t *en = &b->entries[i];
        if (en->ev == NULL ||
            (!b->items[en->item].bad && !b->items[en->item].failed)) {
            argv[3 + acks++] = en->id;
            tx_count(s, b, en);
        }
    }
    s->events += acks;
    if (acks == 0) {
        return 0;
    }
    /* Its reply is read before the next one on the connection (pending
     * here is 0): no round trip of its own. */
    if (ocsp_rconn_append(b->conn, (int)(3 + acks), argv, NULL) != 0 ||
        ocsp_rconn_flush(b->conn) != 0) {
        return -1;
    }
    s->acks_out[tx_index(s, b->conn)]++;
    return 0;
}

int signer_tx_ack_recv(signer_t *s, ocsp_rconn_t *conn)
{
    size_t *out = &s->acks_out[tx_index(s, conn)];

    for (; *out > 0; (*out)--) {
        redisReply *r = ocsp_rconn_reply(conn);

        if (r == NULL) {
            *out = 0;
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER) {
            /* The entries stay pending and are applied again. */
            ocsp_rconn_fail_reply(conn, "XACK", r);
            freeReplyObject(r);
            *out = 0;
            return -1;
        }
        freeReplyObject(r);
    }
    return 0;
}
