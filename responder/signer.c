#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "event.h"
#include "log.h"
#include "policy.h"
#include "record.h"
#include "response.h"
#include "revlog.h"
#include "serial.h"

#define SIGNER_BLOCK_MS "1000"
#define SIGNER_CLAIM_EVERY_MS 1000

/*
 * Claims up to ARGV[2] members of the due set KEYS[1] whose time is at or
 * before ARGV[1], pushing them to ARGV[3] (a lease) so that another signer
 * skips them; the batch's own write sets their real next time.
 */
static const char claim_script[] =
    "local m = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], "
    "'LIMIT', 0, tonumber(ARGV[2]))\n"
    "for _, v in ipairs(m) do redis.call('ZADD', KEYS[1], ARGV[3], v) end\n"
    "return m\n";

/* One certificate a batch touches. */
typedef struct {
    const ocsp_issuer_t *iss;
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    char cert_key[OCSP_KEY_MAX];
    Revoca__CertRecord *loaded; /* owned, as read; NULL if absent */
    ocsp_record_t rec;          /* working copy, borrows from loaded */
    int changed;
    int resign;
    int bad; /* unreadable record or failed write: left alone, not acked */
    int on_crl_before;
    unsigned shard_before;
    /* Written for the whole batch at once (one MSET, one ZADD per issuer):
     * one command instead of one per certificate. */
    int set_record, add_due;
    size_t rec_len;
    unsigned char rec_buf[OCSP_RECORD_MAX];
    char due[24];
} item_t;

/* One stream entry of a batch; ev NULL for an entry to ack and skip. */
typedef struct {
    char id[48];
    Revoca__Event *ev; /* owned */
    size_t item;
} entry_t;

/* Open-addressing index of a batch's items by (issuer, serial): a batch of
 * thousands of events must not look its items up one by one. */
#define BATCH_SLOTS (2 * SIGNER_BATCH_MAX)
_Static_assert((BATCH_SLOTS & (BATCH_SLOTS - 1)) == 0, "a power of two");
_Static_assert(SIGNER_BATCH_MAX < 0xffff, "item indexes fit 16 bits");

typedef struct {
    item_t items[SIGNER_BATCH_MAX];
    size_t nitems;
    uint16_t slot[BATCH_SLOTS]; /* item index + 1; 0 is a free slot */
    entry_t entries[SIGNER_BATCH_MAX];
    size_t nentries;
    ocsp_rconn_t *conn; /* the transaction connection it is sent on */
    size_t queued;      /* commands queued between MULTI and EXEC */
    /* Where the APPENDs to revoked logs are in EXEC's reply, and to which
     * log: an item may leave one shard and join another. */
    struct {
        size_t at;
        const ocsp_issuer_conf_t *ic;
        unsigned shard;
    } appends[2 * SIGNER_BATCH_MAX];
    size_t nappends;
    /* Starts a revoked log that does not exist yet (SET NX): one per
     * batch, not a random generation per change. */
    unsigned char log_header[OCSP_REVLOG_HEADER];
    uint64_t signatures; /* counted once the transaction commits */
} batch_t;

int signer_init(signer_t *s, const ocsp_config_t *cf, volatile int *stop)
{
    const config_setting_t *g = config_lookup(&cf->lc, "signer");
    int64_t batch = 256, idle = 30, lease = 60;
    static const char *const known[] = {"batch", "claim_idle", "lease",
                                        "consumer", NULL};

    memset(s, 0, sizeof(*s));
    s->cf = cf;
    s->stop = stop;
    if (g != NULL &&
        (ocsp_conf_known(g, known, cf->path, s->err) != 0 ||
         ocsp_conf_int(g, "batch", 1, SIGNER_BATCH_MAX, &batch, cf->path,
                       s->err) != 0 ||
         ocsp_conf_duration(g, "claim_idle", &idle, cf->path, s->err) != 0 ||
         ocsp_conf_duration(g, "lease", &lease, cf->path, s->err) != 0)) {
        return -1;
    }
    if (ocsp_conf_consumer(g, s->consumer, sizeof(s->consumer), cf->path,
                           s->err) != 0) {
        return -1;
    }
    if (lease < 1) {
        ocsp_conf_error(s->err, cf->path, g, "signer: lease must be >= 1s");
        return -1;
    }
    /* 0 would take live signers' entries in flight every round */
    if (idle < 1 || idle > 86400) {
        ocsp_conf_error(s->err, cf->path, g,
                        "signer: claim_idle must be 1s..1d");
        return -1;
    }
    s->batch = (size_t)batch;
    s->claim_idle_ms = idle * 1000;
    s->lease = lease;
    if (ocsp_registry_load(&s->reg, cf, OCSP_REGISTRY_KEYS) != 0) {
        snprintf(s->err, sizeof(s->err), "%s", s->reg.err);
        return -1;
    }
    ocsp_key_events(s->events_key, cf->prefix);
    ocsp_rconn_init(&s->rc, cf);
    ocsp_rconn_init(&s->tx[0], cf);
    ocsp_rconn_init(&s->tx[1], cf);
    return 0;
}

void signer_free(signer_t *s)
{
    ocsp_rconn_close(&s->rc);
    ocsp_rconn_close(&s->tx[0]);
    ocsp_rconn_close(&s->tx[1]);
    ocsp_registry_free(&s->reg);
}

static void batch_reset(batch_t *b)
{
    size_t i;

    for (i = 0; i < b->nentries; i++) {
        if (b->entries[i].ev) {
            revoca__event__free_unpacked(b->entries[i].ev, NULL);
        }
    }
    for (i = 0; i < b->nitems; i++) {
        if (b->items[i].loaded) {
            ocsp_record_free(b->items[i].loaded, NULL);
        }
    }
    memset(b->slot, 0, sizeof(b->slot));
    b->nentries = 0;
    b->nitems = 0;
}

static size_t batch_hash(const ocsp_issuer_t *iss, const char *serial)
{
    uint64_t h = 14695981039346656037ULL ^ (uint64_t)(uintptr_t)iss;

    for (; *serial; serial++) {
        h = (h ^ (unsigned char)*serial) * 1099511628211ULL;
    }
    return (size_t)(h ^ (h >> 29)) & (BATCH_SLOTS - 1);
}

/* Where (iss, serial) is in b's index: the slot of its item, or the free
 * slot it would take.  At most half the slots are taken: the probe ends. */
static size_t batch_slot(const batch_t *b, const ocsp_issuer_t *iss,
                         const char *serial)
{
    size_t h = batch_hash(iss, serial);

    for (; b->slot[h] != 0; h = (h + 1) & (BATCH_SLOTS - 1)) {
        const item_t *it = &b->items[b->slot[h] - 1];
        if (it->iss == iss && strcmp(it->serial, serial) == 0) {
            break;
        }
    }
    return h;
}

/* The index of the batch's item for (iss, serial), or -1. */
static long batch_find(const batch_t *b, const ocsp_issuer_t *iss,
                       const char *serial)
{
    return (long)b->slot[batch_slot(b, iss, serial)] - 1;
}

/* The batch's item for (iss, serial), added if new; NULL if full. */
static item_t *batch_item(signer_t *s, batch_t *b, const ocsp_issuer_t *iss,
                          const char *serial, size_t *index)
{
    size_t h = batch_slot(b, iss, serial);
    item_t *it;

    if (b->slot[h] != 0) {
        *index = (size_t)(b->slot[h] - 1);
        return &b->items[*index];
    }
    if (b->nitems == SIGNER_BATCH_MAX) {
        return NULL;
    }
    it = &b->items[b->nitems];
    memset(it, 0, sizeof(*it));
    it->iss = iss;
    snprintf(it->serial, sizeof(it->serial), "%s", serial);
    ocsp_key_cert(it->cert_key, s->cf->prefix, iss->conf->name, serial);
    *index = b->nitems++;
    b->slot[h] = (uint16_t)(*index + 1);
    return it;
}

/* Whether B holds a certificate A holds too. */
static int batch_overlaps(const batch_t *a, const batch_t *b)
{
    for (size_t i = 0; i < b->nitems; i++) {
        if (batch_find(a, b->items[i].iss, b->items[i].serial) >= 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * Moves the events of NEXT (read ahead, not loaded) about a certificate CUR
 * also holds into CUR, which is loaded but not yet built: NEXT is loaded
 * before CUR's transaction commits, so a certificate in both would fail
 * NEXT's WATCH and have the whole batch signed again (in a bulk import, an
 * issue and a revocation split by a batch boundary).  Events commute
 * (record.h), so applying one with the batch before changes nothing but
 * the work.  NEXT's items left without events are dropped.
 */
static void batch_route(batch_t *cur, batch_t *next)
{
    static const size_t none = (size_t)-1;
    size_t map[SIGNER_BATCH_MAX];
    size_t i, kept = 0, items = 0;

    if (cur->nitems == 0 || next->nitems == 0) {
        return;
    }
    for (i = 0; i < next->nitems; i++) {
        map[i] = none;
    }
    for (i = 0; i < next->nentries; i++) {
        entry_t *en = &next->entries[i];
        if (en->ev != NULL && cur->nentries < SIGNER_BATCH_MAX) {
            const item_t *it = &next->items[en->item];
            long c = batch_find(cur, it->iss, it->serial);
            if (c >= 0) {
                cur->entries[cur->nentries] = *en;
                cur->entries[cur->nentries++].item = (size_t)c;
                continue;
            }
        }
        if (en->ev != NULL) {
            map[en->item] = 0; /* still used */
        }
        next->entries[kept++] = *en;
    }
    if (kept == next->nentries) {
        return;
    }
    next->nentries = kept;
    /* Keep the items still used, in order, and index them again. */
    memset(next->slot, 0, sizeof(next->slot));
    for (i = 0; i < next->nitems; i++) {
        if (map[i] == none) {
            continue;
        }
        map[i] = items;
        if (items != i) {
            next->items[items] = next->items[i];
        }
        next->slot[batch_slot(next, next->items[items].iss,
                              next->items[items].serial)] =
            (uint16_t)(items + 1);
        items++;
    }
    next->nitems = items;
    for (i = 0; i < next->nentries; i++) {
        if (next->entries[i].ev != NULL) {
            next->entries[i].item = map[next->entries[i].item];
        }
    }
}

/* Adds a stream entry (id, fields) to the batch. */
static void batch_entry(signer_t *s, batch_t *b, const redisReply *e)
{
    entry_t *en;
    const redisReply *f;
    const char *why = NULL;
    size_t k;

    if (b->nentries == SIGNER_BATCH_MAX || e->type != REDIS_REPLY_ARRAY ||
        e->elements < 1 || e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= sizeof(en->id)) {
        return;
    }
    en = &b->entries[b->nentries++];
    memset(en, 0, sizeof(*en));
    memcpy(en->id, e->element[0]->str, e->element[0]->len);
    f = e->elements > 1 ? e->element[1] : NULL;
    if (f == NULL || f->type != REDIS_REPLY_ARRAY) {
        return; /* deleted from the stream: only ack it */
    }
    for (k = 0; k + 1 < f->elements; k += 2) {
        if (f->element[k]->type == REDIS_REPLY_STRING &&
            strcmp(f->element[k]->str, OCSP_STREAM_FIELD) == 0 &&
            f->element[k + 1]->type == REDIS_REPLY_STRING) {
            en->ev =
                ocsp_event_decode((const unsigned char *)f->element[k + 1]->str,
                                  f->element[k + 1]->len, &why);
            break;
        }
    }
    if (en->ev == NULL) {
        ocsp_log(OCSP_LOG_ERR, "event rejected id=%s reason=\"%s\"", en->id,
                 why ? why : "no field e");
        return;
    }
    {
        const ocsp_issuer_t *iss =
            ocsp_registry_by_name(&s->reg, en->ev->issuer);
        const Revoca__Event *ev = en->ev;

        if (iss == NULL) {
            why = "unknown issuer";
        } else if ((why = ocsp_profile_refuses(iss->conf->profile, ev)) !=
                   NULL) {
            /* The CLI refuses these too; the stream may have other
             * writers (Baseline Requirements 4.9.10, 7.2.2). */
        } else if (batch_item(s, b, iss, ev->serial, &en->item) == NULL) {
            why = "batch full";
        }
        if (why != NULL) {
            ocsp_log(OCSP_LOG_ERR,
                     "event rejected id=%s issuer=%s reason=\"%s\"", en->id,
                     ev->issuer, why);
            revoca__event__free_unpacked(en->ev, NULL);
            en->ev = NULL;
        }
    }
}

/* Appends a command; sticky failure is caught when replies are read. */
static void pipe_cmd(ocsp_rconn_t *rc, int argc, const char **argv,
                     const size_t *lens)
{
    redisAppendCommandArgv(rc->c, argc, argv, lens);
}

/* Reads one pipelined reply; NULL on a connection error. */
static redisReply *pipe_reply(ocsp_rconn_t *rc)
{
    void *r = NULL;

    if (redisGetReply(rc->c, &r) != REDIS_OK) {
        snprintf(rc->err, sizeof(rc->err), "redis: %s", rc->c->errstr);
        ocsp_rconn_drop(rc);
        return NULL;
    }
    return r;
}

/* Sends everything appended so far without waiting for replies. */
static int pipe_flush(ocsp_rconn_t *rc)
{
    int done = 0;

    while (!done) {
        if (redisBufferWrite(rc->c, &done) != REDIS_OK) {
            snprintf(rc->err, sizeof(rc->err), "redis: %s", rc->c->errstr);
            ocsp_rconn_drop(rc);
            return -1;
        }
    }
    return 0;
}

/* Queues WATCH on every record of the batch and their MGET on b->conn;
 * batch_load_recv() reads the replies. */
static void batch_load_send(batch_t *b)
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
    pipe_cmd(b->conn, (int)(1 + b->nitems), argv, NULL);
    argv[0] = "MGET";
    pipe_cmd(b->conn, (int)(1 + b->nitems), argv, NULL);
}

/* Reads what batch_load_send() asked for into the items.  0, or -1. */
static int batch_load_recv(batch_t *b)
{
    redisReply *r;
    size_t i;

    if (b->nitems == 0) {
        return 0;
    }
    if ((r = pipe_reply(b->conn)) == NULL) {
        return -1;
    }
    freeReplyObject(r);
    if ((r = pipe_reply(b->conn)) == NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != b->nitems) {
        snprintf(b->conn->err, sizeof(b->conn->err), "redis: bad MGET reply");
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; i < b->nitems; i++) {
        item_t *it = &b->items[i];
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

/* WATCH every record of the batch and read them all.  0, or -1. */
static int batch_load(batch_t *b)
{
    batch_load_send(b);
    return batch_load_recv(b);
}

/* Queues one command of the batch's transaction. */
static void w_cmd(batch_t *w, int argc, const char **argv, const size_t *len)
{
    pipe_cmd(w->conn, argc, argv, len);
    w->queued++;
}

/*
 * Queues the change of SERIAL in the revoked hash of SHARD: set to the
 * record VALUE, or deleted (VALUE NULL); and the same change appended to
 * that shard's revoked log (revlog.h), in the same transaction.
 */
static void w_revoked(signer_t *s, batch_t *w, const ocsp_issuer_conf_t *ic,
                      unsigned shard, const char *serial,
                      const unsigned char *value, size_t value_len)
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

static int item_write(signer_t *s, batch_t *w, item_t *it, int64_t now,
                      long now_ms)
{
    const ocsp_issuer_conf_t *ic = it->iss->conf;
    char ocsp_key[OCSP_KEY_MAX], due_key[OCSP_KEY_MAX];
    char chg_key[OCSP_KEY_MAX], tu[24], nu[24], ms[24];
    unsigned char *der[OCSP_HASH_COUNT] = {NULL, NULL};
    size_t der_len[OCSP_HASH_COUNT];
    unsigned shard;
    int on_crl, h, unauthorized, rc = -1;
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

    /* Policy "unauthorized" for a never-issued serial: nothing signed. */
    unauthorized = ocsp_record_answer(&it->rec, ic->unissued, &status,
                                      &rev_time, &reason) != OCSP_ANSWER_SIGN;
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
                ocsp_log_openssl(OCSP_LOG_ERR, "sign failed");
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
    rc = 0;

failed:
    free(der[0]);
    free(der[1]);
    return rc;
}

/* The records and re-sign times item_write() left for the whole batch. */
static void batch_write_records(signer_t *s, batch_t *b)
{
    const char *argv[2 + 2 * SIGNER_BATCH_MAX];
    size_t lens[2 + 2 * SIGNER_BATCH_MAX];
    char due_key[OCSP_KEY_MAX];
    size_t i, r, n = 1;

    for (i = 0; i < b->nitems; i++) {
        const item_t *it = &b->items[i];
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
            const item_t *it = &b->items[i];
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

/*
 * Applies the batch's events to the records batch_load() read, signs, and
 * queues everything with the entries' acknowledgement as one transaction
 * on b->conn; pipe_flush() sends it and batch_finish() reads the outcome.
 */
static void batch_build(signer_t *s, batch_t *b)
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
        entry_t *en = &b->entries[i];
        if (en->ev != NULL &&
            ocsp_record_apply(&b->items[en->item].rec, en->ev) == 1) {
            b->items[en->item].changed = 1;
        }
    }

    argv[0] = "MULTI";
    pipe_cmd(b->conn, 1, argv, NULL);
    for (i = 0; i < b->nitems; i++) {
        item_t *it = &b->items[i];
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
        const entry_t *en = &b->entries[i];
        if (en->ev == NULL || !b->items[en->item].bad) {
            argv[3 + acks++] = en->id;
        }
    }
    if (acks > 0) {
        w_cmd(b, (int)(3 + acks), argv, NULL);
    }
    argv[0] = "EXEC";
    pipe_cmd(b->conn, 1, argv, NULL);
}

/*
 * Commands of a committed transaction can still have failed one by one (a
 * key of another type, a string at Redis's 512 MB limit).  A revoked log
 * whose append failed no longer repeats its hash: it is noted for deletion
 * (signer_drop_logs()), so that the CRL generator rebuilds it (revlog.h)
 * instead of trusting a log that misses a change.
 */
static void batch_exec_errors(signer_t *s, batch_t *b, const redisReply *r)
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

/* DEL of one revoked log on s->rc, logged.  0, or -1 on a lost link. */
static int signer_drop_log(signer_t *s, const char *key)
{
    const char *argv[] = {"DEL", key};
    redisReply *r = ocsp_rconn_cmd(&s->rc, 2, argv, NULL);

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

/* Deletes the revoked logs batch_exec_errors() noted.  0, or -1 on a lost
 * link (they are deleted after the reconnection). */
static int signer_drop_logs(signer_t *s)
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
 * Reads the outcome of the transaction batch_send() sent.  Returns 0 when
 * committed, 1 when it must be repeated (another signer changed a record
 * first, or Redis refused the transaction), -1 on a connection error.
 */
static int batch_finish(signer_t *s, batch_t *b)
{
    redisReply *r;
    size_t i, n;
    int rc = 0;

    /* MULTI, the queued commands, then EXEC's array. */
    n = 1 + b->queued + 1;
    for (i = 0; i < n; i++) {
        if ((r = pipe_reply(b->conn)) == NULL) {
            return -1;
        }
        if (i == n - 1 && rc == 0) {
            if (r->type == REDIS_REPLY_NIL) {
                rc = 1; /* a WATCHed record changed: repeat */
                s->conflicts++;
            } else if (r->type != REDIS_REPLY_ARRAY) {
                ocsp_log(OCSP_LOG_ERR, "transaction failed reply=\"%s\"",
                         r->type == REDIS_REPLY_ERROR ? r->str : "?");
                rc = -2;
            } else {
                batch_exec_errors(s, b, r);
            }
        } else if (r->type == REDIS_REPLY_ERROR) {
            ocsp_log(OCSP_LOG_ERR, "redis error reply=\"%s\"", r->str);
        }
        freeReplyObject(r);
    }
    if (rc == -2) {
        /* Not a connection problem; pause instead of spinning. */
        sleep(1);
        return 1;
    }
    if (rc == 0) {
        s->events += b->nentries;
        s->signed_responses += b->signatures;
    }
    return rc;
}

/* One whole round: read, sign, send, confirm.  As batch_finish(). */
static int batch_once(signer_t *s, batch_t *b)
{
    if (batch_load(b) != 0) {
        return -1;
    }
    batch_build(s, b);
    if (pipe_flush(b->conn) != 0) {
        return -1;
    }
    return batch_finish(s, b);
}

/* Runs a batch, repeating it while other signers win the race. */
static int batch_run(signer_t *s, batch_t *b)
{
    int rc;

    while ((rc = batch_once(s, b)) == 1) {
        if (*s->stop) {
            return 0; /* unacknowledged entries stay pending */
        }
    }
    return rc;
}

static int ensure_group(signer_t *s)
{
    const char *argv[] = {"XGROUP",     "CREATE", s->events_key,
                          SIGNER_GROUP, "0",      "MKSTREAM"};
    redisReply *r = ocsp_rconn_cmd(&s->rc, 6, argv, NULL);

    if (r == NULL) {
        return -1;
    }
    /* BUSYGROUP: it exists already, which is the normal case. */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        ocsp_log(OCSP_LOG_ERR, "XGROUP CREATE failed reply=\"%s\"", r->str);
    }
    freeReplyObject(r);
    return 0;
}

/* Adds the entries of an XREADGROUP / XAUTOCLAIM entry list. */
static void batch_entries(signer_t *s, batch_t *b, const redisReply *list)
{
    size_t i;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (i = 0; i < list->elements; i++) {
        batch_entry(s, b, list->element[i]);
    }
}

/*
 * Takes an XREADGROUP reply R (freed here): its entries go into b.  0, or
 * -1 on a lost link (R NULL).
 */
static int read_reply(signer_t *s, batch_t *b, redisReply *r)
{
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ocsp_log(OCSP_LOG_ERR, "XREADGROUP failed reply=\"%s\"", r->str);
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            freeReplyObject(r);
            return ensure_group(s);
        }
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               r->element[0]->type == REDIS_REPLY_ARRAY &&
               r->element[0]->elements == 2) {
        batch_entries(s, b, r->element[0]->element[1]);
    }
    freeReplyObject(r);
    return 0;
}

/*
 * Reads the next events into b, waiting for some if BLOCK.  0 (maybe none),
 * or -1 on a lost link.
 */
static int read_events(signer_t *s, batch_t *b, int block)
{
    char count[16], idle[24];
    redisReply *r;
    long now = ocsp_now_ms();

    snprintf(count, sizeof(count), "%zu", s->batch);

    /* A dead signer's pending entries, once they have idled long enough. */
    if (now - s->last_claim_ms >= SIGNER_CLAIM_EVERY_MS) {
        const char *argv[] = {"XAUTOCLAIM", s->events_key, SIGNER_GROUP,
                              s->consumer,  idle,          "0-0",
                              "COUNT",      count};
        s->last_claim_ms = now;
        snprintf(idle, sizeof(idle), "%lld", (long long)s->claim_idle_ms);
        r = ocsp_rconn_cmd(&s->rc, 8, argv, NULL);
        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            batch_entries(s, b, r->element[1]);
        }
        freeReplyObject(r);
        if (b->nentries > 0) {
            return 0;
        }
    }

    {
        const char *argv[] = {"XREADGROUP",
                              "GROUP",
                              SIGNER_GROUP,
                              s->consumer,
                              "COUNT",
                              count,
                              "BLOCK",
                              SIGNER_BLOCK_MS,
                              "STREAMS",
                              s->events_key,
                              s->own_pending_done ? ">" : s->pending_from};
        int argc = 11;
        if (!block) {
            argv[6] = "STREAMS";
            argv[7] = s->events_key;
            argv[8] = argv[10];
            argc = 9;
        }
        if (!s->own_pending_done) {
            /* Our own pending entries (after a restart): no BLOCK, and
             * on from the last one read, so that entries left pending
             * (an unreadable record) cannot keep new ones waiting. */
            argv[6] = "STREAMS";
            argv[7] = s->events_key;
            argv[8] = s->pending_from;
            argc = 9;
        }
        r = ocsp_rconn_cmd(&s->rc, argc, argv, NULL);
    }
    if (read_reply(s, b, r) != 0) {
        return -1;
    }
    if (!s->own_pending_done) {
        if (b->nentries == 0) {
            s->own_pending_done = 1;
        } else {
            snprintf(s->pending_from, sizeof(s->pending_from), "%s",
                     b->entries[b->nentries - 1].id);
        }
    }
    return 0;
}

/*
 * Read-ahead: the next new entries are asked for (no BLOCK) before a batch
 * is signed and collected after, so that Redis serves the read while the
 * signer computes.  Only once our own pending entries are done and while
 * no claim of a dead signer's entries is due; read_events() does those.
 */
static int ahead_possible(const signer_t *s)
{
    return s->own_pending_done &&
           ocsp_now_ms() - s->last_claim_ms < SIGNER_CLAIM_EVERY_MS;
}

static int ahead_send(signer_t *s)
{
    char count[16];
    const char *argv[] = {"XREADGROUP", "GROUP",       SIGNER_GROUP,
                          s->consumer,  "COUNT",       count,
                          "STREAMS",    s->events_key, ">"};

    snprintf(count, sizeof(count), "%zu", s->batch);
    pipe_cmd(&s->rc, 9, argv, NULL);
    return pipe_flush(&s->rc);
}

static int ahead_recv(signer_t *s, batch_t *b)
{
    return read_reply(s, b, pipe_reply(&s->rc));
}

/* Claims due re-signs of one issuer into b.  0, or -1 on a lost link. */
static int read_due(signer_t *s, batch_t *b, const ocsp_issuer_t *iss)
{
    char key[OCSP_KEY_MAX], now[24], count[16], lease[24];
    const char *argv[] = {"EVAL", claim_script, "1", key, now, count, lease};
    int64_t t = (int64_t)time(NULL);
    redisReply *r;
    size_t i, idx;

    ocsp_key_due(key, s->cf->prefix, iss->conf->name);
    snprintf(now, sizeof(now), "%lld", (long long)t);
    snprintf(count, sizeof(count), "%zu", s->batch - b->nitems);
    snprintf(lease, sizeof(lease), "%lld", (long long)(t + s->lease));
    r = ocsp_rconn_cmd(&s->rc, 7, argv, NULL);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            char serial[OCSP_SERIAL_HEX_MAX + 1];
            const redisReply *e = r->element[i];
            item_t *it;
            if (e->type != REDIS_REPLY_STRING || e->len > OCSP_SERIAL_HEX_MAX ||
                ocsp_serial_from_hex(e->str, serial) != 0) {
                continue;
            }
            it = batch_item(s, b, iss, serial, &idx);
            if (it != NULL) {
                it->resign = 1;
            }
        }
    } else if (r->type == REDIS_REPLY_ERROR) {
        ocsp_log(OCSP_LOG_ERR, "due claim failed issuer=%s reply=\"%s\"",
                 iss->conf->name, r->str);
    }
    freeReplyObject(r);
    return 0;
}

/* The first error text among the connections, for the log. */
static const char *signer_err(const signer_t *s)
{
    if (s->rc.err[0]) {
        return s->rc.err;
    }
    return s->tx[0].err[0] ? s->tx[0].err : s->tx[1].err;
}

static void signer_drop(signer_t *s)
{
    ocsp_rconn_drop(&s->rc);
    ocsp_rconn_drop(&s->tx[0]);
    ocsp_rconn_drop(&s->tx[1]);
}

/*
 * Sends the batch built last (if any) and reads its outcome.  When the
 * records of the batch after (*next, on the same connection) were asked for
 * behind its EXEC, their replies are read too; should the batch have to be
 * repeated, those WATCHes are dropped first and *next is left to load again
 * (*next = NULL).
 */
static int finish_ready(signer_t *s, batch_t **ready, batch_t **next,
                        int flushed)
{
    int rc;

    if (*ready == NULL) {
        return next != NULL && *next != NULL && batch_load_recv(*next) != 0 ? -1
                                                                            : 0;
    }
    rc = flushed ? 0 : pipe_flush((*ready)->conn);
    if (rc == 0) {
        rc = batch_finish(s, *ready);
    }
    if (rc >= 0 && next != NULL && *next != NULL) {
        if (batch_load_recv(*next) != 0) {
            rc = -1;
        } else if (rc == 1) {
            const char *argv[] = {"UNWATCH"};
            redisReply *r = ocsp_rconn_cmd((*ready)->conn, 1, argv, NULL);
            if (r == NULL) {
                rc = -1;
            }
            freeReplyObject(r);
            *next = NULL;
        }
    }
    if (rc == 1) {
        rc = batch_run(s, *ready);
    }
    if (rc == 0) {
        ocsp_log(OCSP_LOG_DEBUG, "batch events=%zu records=%zu",
                 (*ready)->nentries, (*ready)->nitems);
    }
    batch_reset(*ready);
    *ready = NULL;
    return rc < 0 ? -1 : 0;
}

int signer_run(signer_t *s)
{
    /* cur: read (and loaded), being signed; ready: built, sent while cur is
     * signed; the third receives the entries read ahead. */
    batch_t *bufs = calloc(3, sizeof(batch_t));
    batch_t *cur, *ready = NULL, *next;
    int connected = 0, k = 0, ahead;
    batch_t *loading;
    size_t i;

    if (bufs == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return -1;
    }
    cur = &bufs[0];
    ocsp_log(OCSP_LOG_INFO, "started consumer=%s issuers=%zu batch=%zu",
             s->consumer, s->reg.n, s->batch);
    while (!*s->stop) {
        if (ocsp_rconn_ensure(&s->rc, s->stop, 0) != 0 ||
            ocsp_rconn_ensure(&s->tx[0], s->stop, 0) != 0 ||
            ocsp_rconn_ensure(&s->tx[1], s->stop, 0) != 0) {
            break;
        }
        if (!connected) {
            if (ensure_group(s) != 0) {
                goto lost;
            }
            connected = 1;
            s->own_pending_done = 0;
            snprintf(s->pending_from, sizeof(s->pending_from), "0");
            ocsp_log(OCSP_LOG_INFO, "redis connected host=%s port=%d",
                     s->cf->redis_host, s->cf->redis_port);
        }
        if ((s->ndrops > 0 || s->drop_all) && signer_drop_logs(s) != 0) {
            goto lost;
        }

        if (cur->nentries == 0) {
            /* Nothing read ahead.  With a batch built and waiting, only
             * look for more. */
            if (read_events(s, cur, ready == NULL) != 0) {
                goto lost;
            }
            cur->conn = &s->tx[k];
            /* Read before the batch built last commits: should they share
             * a certificate, that one commits first (no WATCH conflict). */
            if (ready != NULL && batch_overlaps(ready, cur) &&
                finish_ready(s, &ready, NULL, 0) != 0) {
                goto lost;
            }
            if (cur->nentries > 0 && batch_load(cur) != 0) {
                goto lost;
            }
        }
        if (cur->nentries > 0) {
            /*
             * Ask for the next entries and let Redis run the batch built
             * before while this one is signed.  Should two batches touch a
             * record regardless (another signer), WATCH makes the later
             * one repeat.
             */
            for (next = bufs; next == cur || next == ready; next++) {
            }
            loading = NULL;
            ahead = ahead_possible(s);
            if (ahead && ahead_send(s) != 0) {
                goto lost;
            }
            if (ready != NULL && pipe_flush(ready->conn) != 0) {
                goto lost;
            }
            /*
             * The entries read ahead are in before Redis has got far into
             * that transaction; their records are asked for behind its
             * EXEC on the same connection, so that Redis has them ready
             * when this batch is signed and never waits for the signer.
             */
            if (ahead) {
                if (ahead_recv(s, next) != 0) {
                    goto lost;
                }
                batch_route(cur, next);
                if (next->nitems > 0) {
                    next->conn = &s->tx[k ^ 1];
                    batch_load_send(next);
                    if (pipe_flush(next->conn) != 0) {
                        goto lost;
                    }
                    loading = next;
                }
            }
            batch_build(s, cur);
            if (finish_ready(s, &ready, &loading, 1) != 0) {
                goto lost;
            }
            ready = cur;
            k ^= 1;
            cur = next;
            cur->conn = &s->tx[k];
            if (loading == NULL && cur->nentries > 0 && batch_load(cur) != 0) {
                goto lost;
            }
            continue; /* events first: the CA's hook is waiting */
        }
        batch_reset(cur);
        if (finish_ready(s, &ready, NULL, 0) != 0) {
            goto lost;
        }

        /* Each round starts at the next issuer: a backlog of one must
         * not keep the others' responses from being re-signed in time. */
        for (i = 0; i < s->reg.n && cur->nitems < s->batch; i++) {
            size_t at = (s->due_first + i) % s->reg.n;
            if (read_due(s, cur, &s->reg.issuers[at]) != 0) {
                goto lost;
            }
        }
        s->due_first = s->reg.n ? (s->due_first + 1) % s->reg.n : 0;
        if (cur->nitems > 0) {
            size_t n = cur->nitems;
            cur->conn = &s->tx[k];
            if (batch_run(s, cur) < 0) {
                goto lost;
            }
            ocsp_log(OCSP_LOG_DEBUG, "re-signed records=%zu", n);
        }
        batch_reset(cur);
        continue;

    lost:
        /* Unacknowledged entries stay pending and are read again. */
        for (i = 0; i < 3; i++) {
            batch_reset(&bufs[i]);
        }
        ready = NULL;
        if (connected) {
            ocsp_log(OCSP_LOG_WARN, "redis lost err=\"%s\" action=reconnect",
                     signer_err(s));
        }
        signer_drop(s);
        connected = 0;
    }
    /* SIGTERM: finish the batches in hand, the one read ahead included. */
    if (connected &&
        ((ready != NULL && finish_ready(s, &ready, NULL, 0) != 0) ||
         (cur->nentries > 0 && batch_run(s, cur) < 0))) {
        ocsp_log(OCSP_LOG_WARN, "last batch unconfirmed err=\"%s\"",
                 signer_err(s));
    }
    ocsp_log(OCSP_LOG_INFO, "stopped events=%llu signed=%llu conflicts=%llu",
             (unsigned long long)s->events,
             (unsigned long long)s->signed_responses,
             (unsigned long long)s->conflicts);
    for (i = 0; i < 3; i++) {
        batch_reset(&bufs[i]);
    }
    free(bufs);
    return 0;
}
