#include "health.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "serial.h"
#include "stored.h"

/* The reply R's text (status, string, error) is exactly S. */
static int reply_is(const redisReply *r, const char *s)
{
    size_t n = strlen(s);

    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) &&
           r->len == n && memcmp(r->str, s, n) == 0;
}

static void reply_err(char *err, const char *what, const char *key,
                      const ocsp_rconn_t *conn, const redisReply *r)
{
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "%s %s: %.300s", what, key, conn->err);
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, OCSP_ERR_MAX, "%s %s: %.*s", what, key,
                 (int)(r->len > 200 ? 200 : r->len), r->str);
    } else {
        snprintf(err, OCSP_ERR_MAX, "%s %s: unexpected reply", what, key);
    }
}

int ocsp_health_group(ocsp_rconn_t *conn, const char *events_key,
                      const char *group, ocsp_health_group_t *g, char *err)
{
    const char *argv[] = {"XINFO", "GROUPS", events_key};
    redisReply *r = ocsp_rconn_cmd(conn, 3, argv, NULL);

    memset(g, 0, sizeof(*g));
    g->lag = -1;
    if (r != NULL && r->type == REDIS_REPLY_ERROR && r->len >= 11 &&
        memcmp(r->str, "ERR no such", 11) == 0) {
        freeReplyObject(r); /* no stream yet */
        return 0;
    }
    if (r == NULL || r->type != REDIS_REPLY_ARRAY) {
        reply_err(err, "XINFO GROUPS", events_key, conn, r);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        int mine = 0;

        if (e->type != REDIS_REPLY_ARRAY || e->elements % 2 != 0) {
            continue;
        }
        for (size_t j = 0; j < e->elements; j += 2) {
            if (reply_is(e->element[j], "name") &&
                reply_is(e->element[j + 1], group)) {
                mine = 1;
            }
        }
        if (!mine) {
            continue;
        }
        g->exists = 1;
        for (size_t j = 0; j < e->elements; j += 2) {
            const redisReply *k = e->element[j], *v = e->element[j + 1];
            int64_t n;

            if (ocsp_reply_int64(v, 0, &n) != 0) {
                continue; /* nil lag: Redis cannot tell */
            }
            if (reply_is(k, "lag")) {
                g->lag = n;
            } else if (reply_is(k, "pending")) {
                g->pending = n;
            } else if (reply_is(k, "consumers")) {
                g->consumers = n;
            }
        }
    }
    freeReplyObject(r);
    return 0;
}

int ocsp_health_due(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                    ocsp_health_due_t *d, char *err)
{
    char key[OCSP_KEY_MAX], okey[OCSP_KEY_MAX], serial[OCSP_SERIAL_HEX_MAX + 1];
    const char *range[] = {"ZRANGE", key, "0", "0", "WITHSCORES"};
    const char *card[] = {"ZCARD", key};
    const char *get[] = {"GET", okey};
    redisReply *r;
    ocsp_stored_t st;
    const char *why;
    double score;
    char *end;

    memset(d, 0, sizeof(*d));
    ocsp_key_due(key, prefix, issuer);
    r = ocsp_rconn_cmd(conn, 2, card, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        reply_err(err, "ZCARD", key, conn, r);
        freeReplyObject(r);
        return -1;
    }
    d->due = r->integer;
    freeReplyObject(r);
    r = ocsp_rconn_cmd(conn, 5, range, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY ||
        (r->elements != 0 && r->elements != 2)) {
        reply_err(err, "ZRANGE", key, conn, r);
        freeReplyObject(r);
        return -1;
    }
    if (r->elements == 0) {
        freeReplyObject(r);
        return 0;
    }
    if (r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_STRING || r->element[0]->len == 0 ||
        r->element[0]->len > OCSP_SERIAL_HEX_MAX || r->element[1]->len > 32) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGE %s: unexpected entry", key);
        freeReplyObject(r);
        return -1;
    }
    memcpy(serial, r->element[0]->str, r->element[0]->len);
    serial[r->element[0]->len] = '\0';
    score = strtod(r->element[1]->str, &end);
    if (end == r->element[1]->str || score < 0 || score > 1e15) {
        snprintf(err, OCSP_ERR_MAX, "ZRANGE %s: score is not a time", key);
        freeReplyObject(r);
        return -1;
    }
    d->next_resign = (int64_t)score;
    freeReplyObject(r);
    if (ocsp_key_ocsp(okey, prefix, issuer, serial) < 0) {
        return 0; /* not a serial: no response to look at */
    }
    r = ocsp_rconn_cmd(conn, 2, get, NULL);
    if (r == NULL ||
        (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        reply_err(err, "GET", okey, conn, r);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING &&
        ocsp_stored_decode((const unsigned char *)r->str, r->len, &st, &why) ==
            0) {
        d->oldest_this_update = st.this_update;
    }
    freeReplyObject(r);
    return 0;
}

int64_t ocsp_health_overdue(const ocsp_health_due_t *d, int64_t now)
{
    return d->next_resign != 0 && d->next_resign < now ? now - d->next_resign
                                                       : 0;
}

int ocsp_health_crl(ocsp_rconn_t *conn, const char *prefix, const char *issuer,
                    ocsp_health_crl_t *c, char *err)
{
    /* crlgen/crl_state.c writes them (keys.h) */
    static const int want[] = {
        OCSP_CRLST_FULL_NUMBER,       OCSP_CRLST_FULL_THIS_UPDATE,
        OCSP_CRLST_FULL_NEXT_UPDATE,  OCSP_CRLST_DELTA_NUMBER,
        OCSP_CRLST_DELTA_THIS_UPDATE, OCSP_CRLST_DELTA_NEXT_UPDATE};
    char key[OCSP_KEY_MAX], lkey[OCSP_KEY_MAX];
    const char *argv[8] = {"HMGET", key};
    const char *get[] = {"GET", lkey};
    const char *pttl[] = {"PTTL", lkey};
    int64_t v[6];
    redisReply *r;

    memset(c, 0, sizeof(*c));
    ocsp_key_crl_state(key, prefix, issuer);
    ocsp_key_crl_lease(lkey, prefix, issuer);
    for (size_t i = 0; i < 6; i++) {
        argv[2 + i] = ocsp_crl_state_fields[want[i]];
    }
    r = ocsp_rconn_cmd(conn, 8, argv, NULL);
    if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 6) {
        reply_err(err, "HMGET", key, conn, r);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < 6; i++) {
        v[i] = 0;
        if (r->element[i]->type != REDIS_REPLY_NIL &&
            ocsp_reply_int64(r->element[i], 0, &v[i]) != 0) {
            snprintf(err, OCSP_ERR_MAX, "%s: field %s is not a number", key,
                     argv[2 + i]);
            freeReplyObject(r);
            return -1;
        }
    }
    freeReplyObject(r);
    c->full_number = (uint64_t)v[0];
    c->full_this_update = v[1];
    c->full_next_update = v[2];
    c->delta_number = (uint64_t)v[3];
    c->delta_this_update = v[4];
    c->delta_next_update = v[5];
    r = ocsp_rconn_cmd(conn, 2, get, NULL);
    if (r == NULL ||
        (r->type != REDIS_REPLY_STRING && r->type != REDIS_REPLY_NIL)) {
        reply_err(err, "GET", lkey, conn, r);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING) {
        size_t n = r->len < sizeof(c->lease_holder) - 1
                       ? r->len
                       : sizeof(c->lease_holder) - 1;
        for (size_t i = 0; i < n; i++) {
            unsigned char ch = (unsigned char)r->str[i];
            c->lease_holder[i] =
                ch > 0x20 && ch < 0x7f && ch != '"' && ch != '\\' ? (char)ch
                                                                  : '?';
        }
        c->lease_holder[n] = '\0';
    }
    freeReplyObject(r);
    if (c->lease_holder[0] != '\0') {
        r = ocsp_rconn_cmd(conn, 2, pttl, NULL);
        if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
            reply_err(err, "PTTL", lkey, conn, r);
            freeReplyObject(r);
            return -1;
        }
        c->lease_ttl_ms = r->integer;
        freeReplyObject(r);
    }
    return 0;
}

/* The value of "NAME:" in the INFO text S..END into OUT (CAP), or "". */
static void info_field(const char *s, const char *end, const char *name,
                       char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = s;

    out[0] = '\0';
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *le = eol ? eol : end;
        if ((size_t)(le - p) > n && memcmp(p, name, n) == 0 && p[n] == ':') {
            size_t len = (size_t)(le - p) - n - 1;
            if (len > 0 && p[n + 1 + len - 1] == '\r') {
                len--;
            }
            if (len >= cap) {
                len = cap - 1;
            }
            memcpy(out, p + n + 1, len);
            out[len] = '\0';
            return;
        }
        p = le + 1;
    }
}

/* "k=v" of a replica line ("ip=..,port=..,state=..,offset=..,lag=..") */
static void kv_field(const char *line, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    const char *p = line;

    out[0] = '\0';
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (len > n && memcmp(p, name, n) == 0 && p[n] == '=') {
            len -= n + 1;
            if (len >= cap) {
                len = cap - 1;
            }
            memcpy(out, p + n + 1, len);
            out[len] = '\0';
            return;
        }
        p += comma ? len + 1 : len;
    }
}

static int64_t num_or(const char *s, int64_t dflt)
{
    int64_t v;

    return ocsp_parse_int64(s, strlen(s), INT64_MIN, &v) == 0 ? v : dflt;
}

int ocsp_health_replication(ocsp_rconn_t *conn, ocsp_health_repl_t *rp,
                            char *err)
{
    const char *argv[] = {"INFO", "replication"};
    redisReply *r = ocsp_rconn_cmd(conn, 2, argv, NULL);
    char buf[256], line[256];
    const char *s, *end;
    int64_t own;

    memset(rp, 0, sizeof(*rp));
    rp->master_last_io = -1;
    if (r == NULL || r->type != REDIS_REPLY_STRING) {
        reply_err(err, "INFO", "replication", conn, r);
        freeReplyObject(r);
        return -1;
    }
    s = r->str;
    end = r->str + r->len;
    info_field(s, end, "role", rp->role, sizeof(rp->role));
    info_field(s, end, "connected_slaves", buf, sizeof(buf));
    rp->connected_replicas = num_or(buf, 0);
    info_field(s, end, "master_repl_offset", buf, sizeof(buf));
    own = num_or(buf, 0);
    info_field(s, end, "master_link_status", rp->master_link,
               sizeof(rp->master_link));
    info_field(s, end, "master_last_io_seconds_ago", buf, sizeof(buf));
    rp->master_last_io = buf[0] ? num_or(buf, -1) : -1;
    for (size_t i = 0; i < OCSP_HEALTH_REPLICAS_MAX; i++) {
        char name[24], ip[48], port[8], v[32];

        snprintf(name, sizeof(name), "slave%zu", i);
        info_field(s, end, name, line, sizeof(line));
        if (line[0] == '\0') {
            break;
        }
        kv_field(line, "ip", ip, sizeof(ip));
        kv_field(line, "port", port, sizeof(port));
        snprintf(rp->replicas[i].addr, sizeof(rp->replicas[i].addr), "%s:%s",
                 ip, port);
        kv_field(line, "state", rp->replicas[i].state,
                 sizeof(rp->replicas[i].state));
        kv_field(line, "lag", v, sizeof(v));
        rp->replicas[i].lag = num_or(v, -1);
        kv_field(line, "offset", v, sizeof(v));
        rp->replicas[i].offset_behind = own - num_or(v, own);
        rp->nreplicas = i + 1;
    }
    freeReplyObject(r);
    return 0;
}
