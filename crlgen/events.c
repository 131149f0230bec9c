#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "log.h"

void crl_events_init(crl_events_t *e, const char *prefix, const char *consumer,
                     int64_t claim_idle_s)
{
    memset(e, 0, sizeof(*e));
    ocsp_key_events(e->key, prefix);
    e->prefix = prefix;
    e->consumer = consumer;
    e->claim_idle_ms = (long)claim_idle_s * 1000;
}

void crl_events_free(crl_events_t *e)
{
    for (size_t i = 0; i < e->n; i++) {
        revoca__event__free_unpacked(e->v[i].ev, NULL);
    }
    free(e->v);
    e->v = NULL;
    e->n = e->cap = 0;
}

int crl_events_group(ocsp_rconn_t *conn, crl_events_t *e)
{
    const char *argv[] = {"XGROUP",  "CREATE", e->key,
                          CRL_GROUP, "$",      "MKSTREAM"};
    redisReply *r = ocsp_rconn_cmd(conn, 6, argv, NULL);

    if (r == NULL) {
        return -1;
    }
    /* BUSYGROUP: created before, the normal case. */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        /* as a lost connection: backoff, one log line per interval */
        ocsp_rconn_fail_reply(conn, "XGROUP CREATE", r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

static void crl_events_xack(ocsp_rconn_t *conn, crl_events_t *e, const char *id)
{
    const char *argv[] = {"XACK", e->key, CRL_GROUP, id};
    redisReply *r = ocsp_rconn_cmd(conn, 4, argv, NULL);

    freeReplyObject(r);
}

/* One stream entry [id, [field, value, ...]]. */
static int crl_events_entry(ocsp_rconn_t *conn, crl_events_t *e,
                            crl_issuer_t *iss, size_t niss,
                            const redisReply *ent)
{
    const redisReply *id, *kv;
    ocsp_event_t *ev = NULL;
    const char *why = "no event field";
    size_t k;
    crl_event_t *slot;

    if (ent == NULL || ent->type != REDIS_REPLY_ARRAY || ent->elements != 2) {
        return 0; /* deleted from the stream meanwhile */
    }
    id = ent->element[0];
    kv = ent->element[1];
    if (id->type != REDIS_REPLY_STRING || id->len >= sizeof(slot->id)) {
        return 0;
    }
    if (kv->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i + 1 < kv->elements; i += 2) {
            const redisReply *f = kv->element[i], *v = kv->element[i + 1];
            if (f->type == REDIS_REPLY_STRING &&
                v->type == REDIS_REPLY_STRING && f->len == 1 &&
                f->str[0] == OCSP_STREAM_FIELD[0] && v->len <= OCSP_EVENT_MAX) {
                ev = ocsp_event_decode((const unsigned char *)v->str, v->len,
                                       &why);
                break;
            }
        }
    }
    if (ev == NULL) {
        /* The signer logs bad events; to us it is only a spent wake-up. */
        crl_events_xack(conn, e, id->str);
        return 0;
    }
    for (k = 0; k < niss; k++) {
        if (strcmp(iss[k].conf->issuer_conf->name, ev->issuer) == 0) {
            break;
        }
    }
    if (k == niss || ev->kind_case == REVOCA__EVENT__KIND_ISSUED) {
        /* No CRL changes with it. */
        crl_events_xack(conn, e, id->str);
        revoca__event__free_unpacked(ev, NULL);
        return 0;
    }
    for (size_t i = 0; i < e->n; i++) {
        if (strcmp(e->v[i].id, id->str) == 0) {
            revoca__event__free_unpacked(ev, NULL);
            return 0; /* re-delivered */
        }
    }
    if (!iss[k].leader || e->n >= CRL_EVENTS_MAX) {
        /* Stays pending: the leader claims it after claim_idle. */
        revoca__event__free_unpacked(ev, NULL);
        return 0;
    }
    if (e->n == e->cap) {
        size_t cap = e->cap ? e->cap * 2 : 64;
        crl_event_t *v = realloc(e->v, cap * sizeof(*v));
        if (v == NULL) {
            revoca__event__free_unpacked(ev, NULL);
            return 0;
        }
        e->v = v;
        e->cap = cap;
    }
    slot = &e->v[e->n++];
    memset(slot, 0, sizeof(*slot));
    memcpy(slot->id, id->str, id->len + 1);
    slot->issuer = k;
    slot->seen = ocsp_now_ms();
    slot->ev = ev;
    ocsp_log(OCSP_LOG_DEBUG, "event id=%s issuer=%s serial=%s", slot->id,
             ev->issuer, ev->serial);
    return 1;
}

static int crl_events_list(ocsp_rconn_t *conn, crl_events_t *e,
                           crl_issuer_t *iss, size_t niss,
                           const redisReply *list)
{
    int kept = 0;

    if (list == NULL || list->type != REDIS_REPLY_ARRAY) {
        return 0;
    }
    for (size_t i = 0; i < list->elements; i++) {
        kept += crl_events_entry(conn, e, iss, niss, list->element[i]);
    }
    return kept;
}

int crl_events_read(ocsp_rconn_t *conn, crl_events_t *e, crl_issuer_t *iss,
                    size_t niss, long block_ms)
{
    char idle[24], block[24];
    redisReply *r;
    long now = ocsp_now_ms();
    int kept = 0;

    if (now >= e->next_claim) {
        const char *argv[] = {"XAUTOCLAIM", e->key, CRL_GROUP, e->consumer,
                              idle,         "0-0",  "COUNT",   "500"};
        e->next_claim = now + e->claim_idle_ms / 2;
        snprintf(idle, sizeof(idle), "%ld", e->claim_idle_ms);
        r = ocsp_rconn_cmd(conn, 8, argv, NULL);
        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2) {
            kept += crl_events_list(conn, e, iss, niss, r->element[1]);
        }
        freeReplyObject(r);
    }
    snprintf(block, sizeof(block), "%ld", block_ms > 0 ? block_ms : 1);
    {
        const char *argv[] = {"XREADGROUP", "GROUP", CRL_GROUP, e->consumer,
                              "COUNT",      "500",   "BLOCK",   block,
                              "STREAMS",    e->key,  ">"};
        r = ocsp_rconn_cmd(conn, 11, argv, NULL);
    }
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        if (strncmp(r->str, "NOGROUP", 7) == 0) {
            crl_events_group(conn, e);
        } else {
            /* never retried at once: backoff as for a lost connection */
            ocsp_rconn_fail_reply(conn, "XREADGROUP", r);
            freeReplyObject(r);
            return -1;
        }
    } else if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
               r->element[0]->type == REDIS_REPLY_ARRAY &&
               r->element[0]->elements == 2) {
        kept += crl_events_list(conn, e, iss, niss, r->element[0]->element[1]);
    }
    freeReplyObject(r);
    return kept;
}

size_t crl_events_reflect(ocsp_rconn_t *conn, crl_events_t *e, size_t issuer)
{
    size_t ready = 0, looked = 0;

    for (size_t i = 0; i < e->n; i++) {
        crl_event_t *ce = &e->v[i];
        char key[OCSP_KEY_MAX];
        const char *argv[] = {"GET", key};
        redisReply *r;
        ocsp_record_t *stored = NULL;

        if (ce->issuer != issuer) {
            continue;
        }
        if (ce->reflected) {
            ready++;
            continue;
        }
        if (looked++ >= CRL_REFLECT_PER_TICK) {
            continue; /* the rest next second: a tick stays short */
        }
        if (ocsp_key_cert(key, e->prefix, ce->ev->issuer, ce->ev->serial) < 0) {
            continue;
        }
        r = ocsp_rconn_cmd(conn, 2, argv, NULL);
        if (r == NULL) {
            return ready;
        }
        if (r->type == REDIS_REPLY_STRING) {
            const char *why;

            stored =
                ocsp_record_decode(r->str, r->len, ce->ev->serial, NULL, &why);
            if (stored == NULL && !ce->invalid_logged) {
                /* The signer leaves such a record alone and its events
                 * pending: the change never shows; said once. */
                ocsp_log(OCSP_LOG_ERR, "record invalid key=%s why=\"%s\"", key,
                         why);
                ce->invalid_logged = 1;
            }
        }
        freeReplyObject(r);
        if (stored == NULL) {
            continue; /* not applied yet */
        }
        if (ocsp_record_reflects(stored, ce->ev)) {
            ce->reflected = 1;
            ce->reflected_at = ocsp_now_ms();
            ready++;
        }
        ocsp_record_free(stored, NULL);
    }
    return ready;
}

void crl_events_ack(ocsp_rconn_t *conn, crl_events_t *e, size_t issuer,
                    long built, long timeout_ms)
{
    long now = ocsp_now_ms();
    size_t w = 0;

    for (size_t i = 0; i < e->n; i++) {
        crl_event_t *ce = &e->v[i];
        int done = 0;

        if (ce->issuer == issuer) {
            if (ce->reflected && ce->reflected_at <= built) {
                done = 1;
            } else if (!ce->reflected && now - ce->seen > timeout_ms) {
                ocsp_log(OCSP_LOG_WARN,
                         "event id=%s issuer=%s serial=%s never reflected "
                         "by the signer; acknowledged",
                         ce->id, ce->ev->issuer, ce->ev->serial);
                done = 1;
            }
        }
        if (done) {
            crl_events_xack(conn, e, ce->id);
            revoca__event__free_unpacked(ce->ev, NULL);
            continue;
        }
        e->v[w++] = *ce;
    }
    e->n = w;
}

void crl_events_forget(crl_events_t *e, size_t issuer)
{
    size_t w = 0;

    for (size_t i = 0; i < e->n; i++) {
        if (e->v[i].issuer == issuer) {
            revoca__event__free_unpacked(e->v[i].ev, NULL);
            continue;
        }
        e->v[w++] = e->v[i];
    }
    e->n = w;
}
