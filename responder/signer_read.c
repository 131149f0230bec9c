#include "signer_read.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "policy.h"

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

int signer_batch_event(signer_t *s, signer_batch_t *b, const char *id,
                       size_t id_len, const unsigned char *p, size_t len,
                       int redelivered, const ocsp_issuer_t *only)
{
    signer_entry_t *en;
    const char *why = NULL;
    Revoca__Event *ev = NULL;
    const ocsp_issuer_t *iss;

    if (b->nentries == SIGNER_BATCH_MAX || id_len >= sizeof(en->id)) {
        return -1;
    }
    if (p != NULL && len == 0) {
        why = "no field " OCSP_STREAM_FIELD;
    } else if (p != NULL) {
        ev = ocsp_event_decode(p, len, &why);
    }
    if (only != NULL && ev != NULL && strcmp(ev->issuer, only->conf->name)) {
        revoca__event__free_unpacked(ev, NULL);
        return 0; /* another issuer's: not this batch's at all */
    }
    en = &b->entries[b->nentries++];
    memset(en, 0, sizeof(*en));
    en->redelivered = redelivered;
    memcpy(en->id, id, id_len);
    if (p == NULL) {
        return 1; /* deleted from the stream: only ack it */
    }
    if (ev == NULL) {
        ocsp_log(OCSP_LOG_ERR, "event rejected id=%s reason=\"%s\"", en->id,
                 why);
        return 1;
    }
    en->ev = ev;
    iss = ocsp_registry_by_name(&s->reg, ev->issuer);
    if (iss == NULL) {
        why = "unknown issuer";
    } else if ((why = ocsp_profile_refuses(iss->conf->profile, ev)) != NULL) {
        /* The CLI refuses these too; the stream may have other writers
         * (Baseline Requirements 4.9.10, 7.2.2). */
    } else if (signer_batch_item(b, iss, ev->serial, s->cf->prefix,
                                 &en->item) == NULL) {
        why = "batch full";
    }
    if (why != NULL) {
        ocsp_log(OCSP_LOG_ERR, "event rejected id=%s issuer=%s reason=\"%s\"",
                 en->id, ev->issuer, why);
        revoca__event__free_unpacked(en->ev, NULL);
        en->ev = NULL;
    } else if (redelivered) {
        b->items[en->item].redo = 1;
    }
    return 1;
}

/* Adds a stream entry (id, fields) to the batch; REDELIVERED: it was
 * delivered before (signer_item_t.redo). */
static void batch_entry(signer_t *s, signer_batch_t *b, const redisReply *e,
                        int redelivered)
{
    const redisReply *f;
    const redisReply *v = NULL;
    size_t k;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING) {
        return;
    }
    f = e->elements > 1 ? e->element[1] : NULL;
    if (f != NULL && f->type == REDIS_REPLY_ARRAY) {
        for (k = 0; k + 1 < f->elements; k += 2) {
            if (f->element[k]->type == REDIS_REPLY_STRING &&
                strcmp(f->element[k]->str, OCSP_STREAM_FIELD) == 0 &&
                f->element[k + 1]->type == REDIS_REPLY_STRING) {
                v = f->element[k + 1];
                break;
            }
        }
        if (v == NULL) {
            /* an entry without the field: refused, acknowledged (an
             * empty event) */
            static const unsigned char none[1];
            (void)signer_batch_event(s, b, e->element[0]->str,
                                     e->element[0]->len, none, 0, redelivered,
                                     NULL);
            return;
        }
    }
    /* f NULL or not an array: deleted from the stream, only acked */
    (void)signer_batch_event(s, b, e->element[0]->str, e->element[0]->len,
                             v != NULL ? (const unsigned char *)v->str : NULL,
                             v ? v->len : 0, redelivered, NULL);
}

int signer_read_group(signer_t *s)
{
    const char *argv[] = {"XGROUP",     "CREATE", s->events_key,
                          SIGNER_GROUP, "0",      "MKSTREAM"};
    redisReply *r = ocsp_rconn_cmd(&s->read_conn, 6, argv, NULL);

    if (r == NULL) {
        return -1;
    }
    /* BUSYGROUP: it exists already, which is the normal case. */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        /* Nothing can be read without it: as a lost connection. */
        ocsp_rconn_fail_reply(&s->read_conn, "XGROUP CREATE", r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* Adds the entries of an XREADGROUP / XAUTOCLAIM entry list. */
static void batch_entries(signer_t *s, signer_batch_t *b,
                          const redisReply *list, int redelivered)
{
    size_t i;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        return;
    }
    for (i = 0; i < list->elements; i++) {
        batch_entry(s, b, list->element[i], redelivered);
    }
}

/*
 * An error reply R (freed here) to WHAT: the group is created again when
 * it is gone (NOGROUP: the stream was deleted); anything else fails the
 * connection, so that the signer backs off instead of asking again at
 * once.  0 when the read may go on, else -1.
 */
static int read_error(signer_t *s, const char *what, redisReply *r)
{
    if (strncmp(r->str, "NOGROUP", 7) == 0) {
        ocsp_log(OCSP_LOG_WARN,
                 "consumer group missing cmd=%s "
                 "action=\"create it\"",
                 what);
        freeReplyObject(r);
        return signer_read_group(s);
    }
    ocsp_rconn_fail_reply(&s->read_conn, what, r);
    freeReplyObject(r);
    return -1;
}

/*
 * Takes an XREADGROUP reply R (freed here): its entries go into b
 * (REDELIVERED: read by ID, our own pending ones).  0, or -1 on a lost
 * link (R NULL).
 */
static int read_reply(signer_t *s, signer_batch_t *b, redisReply *r,
                      int redelivered)
{
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return read_error(s, "XREADGROUP", r);
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               r->element[0]->type == REDIS_REPLY_ARRAY &&
               r->element[0]->elements == 2) {
        batch_entries(s, b, r->element[0]->element[1], redelivered);
    }
    freeReplyObject(r);
    return 0;
}

int signer_read_events(signer_t *s, signer_batch_t *b, int block)
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
        r = ocsp_rconn_cmd(&s->read_conn, 8, argv, NULL);
        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            return read_error(s, "XAUTOCLAIM", r);
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            batch_entries(s, b, r->element[1], 1);
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
        r = ocsp_rconn_cmd(&s->read_conn, argc, argv, NULL);
    }
    if (read_reply(s, b, r, !s->own_pending_done) != 0) {
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

/* Whether a claim of a dead signer's entries is due. */
static int claim_due(const signer_t *s)
{
    return ocsp_now_ms() - s->last_claim_ms >= SIGNER_CLAIM_EVERY_MS;
}

int signer_read_ahead_possible(const signer_t *s)
{
    /* A batch of one has no room for a claim beside the read. */
    return s->own_pending_done && (s->batch > 1 || !claim_due(s));
}

int signer_read_ahead_send(signer_t *s)
{
    char count[24], claim_count[24], idle[24];
    const char *argv[] = {"XREADGROUP", "GROUP",       SIGNER_GROUP,
                          s->consumer,  "COUNT",       count,
                          "STREAMS",    s->events_key, ">"};
    size_t read = s->batch;

    if (claim_due(s)) {
        /* The claim rides along: half the batch for a dead signer's
         * entries, half for new ones, so the pipeline never stops for
         * it. */
        const char *claim[] = {"XAUTOCLAIM", s->events_key, SIGNER_GROUP,
                               s->consumer,  idle,          "0-0",
                               "COUNT",      claim_count};
        s->last_claim_ms = ocsp_now_ms();
        snprintf(idle, sizeof(idle), "%lld", (long long)s->claim_idle_ms);
        snprintf(claim_count, sizeof(claim_count), "%zu", s->batch / 2);
        read = s->batch - s->batch / 2;
        if (ocsp_rconn_append(&s->read_conn, 8, claim, NULL) != 0) {
            return -1;
        }
        s->ahead_sent = 2;
    } else {
        s->ahead_sent = 1;
    }
    snprintf(count, sizeof(count), "%zu", read);
    if (ocsp_rconn_append(&s->read_conn, 9, argv, NULL) != 0 ||
        ocsp_rconn_flush(&s->read_conn) != 0) {
        s->ahead_sent = 0;
        return -1;
    }
    return 0;
}

int signer_read_ahead_recv(signer_t *s, signer_batch_t *b)
{
    redisReply *claim = NULL;
    int sent = s->ahead_sent;

    s->ahead_sent = 0;
    if (sent == 2) {
        redisReply *r;
        /* Both replies are read before either is acted on: an error
         * reply may make read_error() send a command. */
        if ((claim = ocsp_rconn_reply(&s->read_conn)) == NULL) {
            return -1;
        }
        if ((r = ocsp_rconn_reply(&s->read_conn)) == NULL) {
            freeReplyObject(claim);
            return -1;
        }
        if (claim->type == REDIS_REPLY_ERROR) {
            freeReplyObject(r);
            return read_error(s, "XAUTOCLAIM", claim);
        }
        if (claim->type == REDIS_REPLY_ARRAY && claim->elements >= 2) {
            batch_entries(s, b, claim->element[1], 1);
        }
        freeReplyObject(claim);
        return read_reply(s, b, r, 0);
    }
    return read_reply(s, b, ocsp_rconn_reply(&s->read_conn), 0);
}

int signer_read_due(signer_t *s, signer_batch_t *b, const ocsp_issuer_t *iss)
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
    r = ocsp_rconn_cmd(&s->read_conn, 7, argv, NULL);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->elements; i++) {
            char serial[OCSP_SERIAL_HEX_MAX + 1];
            const redisReply *e = r->element[i];
            signer_item_t *it;
            if (e->type != REDIS_REPLY_STRING || e->len > OCSP_SERIAL_HEX_MAX ||
                ocsp_serial_from_hex(e->str, serial) != 0) {
                continue;
            }
            it = signer_batch_item(b, iss, serial, s->cf->prefix, &idx);
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
