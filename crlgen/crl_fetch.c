#include "crl_fetch.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crl_revlog.h"
#include "event.h"
#include "keys.h"
#include "log.h"
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

int crl_reply_i64(const redisReply *r, int64_t *v)
{
    char *end;
    double d;

    if (r == NULL || r->type != REDIS_REPLY_STRING || r->len == 0 ||
        r->len > 32) {
        return -1;
    }
    errno = 0;
    d = strtod(r->str, &end);
    if (errno != 0 || end != r->str + r->len || !isfinite(d) || d < -9.2e18 ||
        d > 9.2e18) {
        return -1;
    }
    *v = (int64_t)d;
    return 0;
}

int crl_redis_time_ms(ocsp_rconn_t *rc, int64_t *ms, char *err)
{
    const char *argv[] = {"TIME"};
    redisReply *r = ocsp_rconn_cmd(rc, 1, argv, NULL);
    int64_t sec, usec;
    int rv = -1;

    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "TIME: %s", rc->err);
        return -1;
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        crl_reply_i64(r->element[0], &sec) == 0 &&
        crl_reply_i64(r->element[1], &usec) == 0 && sec >= 0 &&
        sec < INT64_MAX / 1000) {
        *ms = sec * 1000 + usec / 1000;
        rv = 0;
    } else {
        crl_bad_reply(r, "TIME", err);
    }
    freeReplyObject(r);
    return rv;
}

int crl_record_entry(const crl_issuer_conf_t *ci, int64_t now,
                     const char *field, size_t flen, const char *val,
                     size_t vlen, unsigned shard, crl_entry_t *e,
                     const char **why)
{
    crl_arena_t arena;
    ProtobufCAllocator alloc = {crl_arena_alloc, crl_arena_free, &arena};
    Revoca__CertRecord *rec;
    char hex[OCSP_SERIAL_HEX_MAX + 1];
    const char *bad;
    int rv = -1;

    *why = "invalid";
    memset(e, 0, sizeof(*e));
    if (flen > OCSP_SERIAL_HEX_MAX ||
        crl_serial_from_hex(field, flen, e->serial) != 0) {
        return -1;
    }
    arena.used = 0;
    memcpy(hex, field, flen); /* crl_serial_from_hex() bounded flen */
    hex[flen] = '\0';
    rec = ocsp_record_decode(val, vlen, hex, &alloc, &bad);
    if (rec == NULL) {
        *why = bad;
        return -1;
    }
    e->shard = (uint16_t)shard;
    if (!ocsp_record_on_crl(rec)) {
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
            !ocsp_reason_valid(r)) {
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
    return -1;
}

/*
 * An HSCAN reply is decoded while it is parsed, by hiredis reply-object
 * callbacks that build no objects: each field/value pair becomes an entry at
 * once, and the cursor, the reply's first element, is known after its first
 * bytes, so that the next page is requested while this one still arrives
 * and Redis is never idle waiting for us.
 */
typedef struct {
    const crl_issuer_conf_t *ci;
    int64_t now;
    const char *key;
    unsigned shard;
    crl_entries_t *out, *expired;
    crl_fetch_stats_t *st;
    char cursor[32];
    int have_cursor;
    char field[2 * CRL_SERIAL_LEN + 1];
    size_t flen;
    crl_revlog_buf_t *log; /* the shard's log rebuilt from the scan */
    char *err;
} crl_scan_t;

/* What the callbacks return: nothing is built, but NULL means failure. */
static char crl_scan_obj;

static crl_scan_t *crl_scan_fail(const redisReadTask *t, const char *what)
{
    crl_scan_t *s = t->privdata;

    snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: unexpected reply (%s)", s->key,
             what);
    return NULL;
}

/* Depth of t: 0 the reply, 1 cursor and page, 2 fields and values. */
static int crl_scan_depth(const redisReadTask *t)
{
    int d = 0;

    for (; t->parent != NULL; t = t->parent) {
        d++;
    }
    return d;
}

static int crl_scan_pair(crl_scan_t *s, const char *val, size_t vlen)
{
    crl_entry_t e, *slot;
    const char *why;
    int on;

    s->st->records++;
    on = s->flen > 2 * CRL_SERIAL_LEN
             ? -1
             : crl_record_entry(s->ci, s->now, s->field, s->flen, val, vlen,
                                s->shard, &e, &why);
    if (on < 0) {
        snprintf(s->err, OCSP_ERR_MAX,
                 "%s: field %.*s: invalid record; refusing to build a CRL "
                 "without it",
                 s->key, (int)(s->flen > 40 ? 40 : s->flen), s->field);
        return -1;
    }
    if (s->log != NULL &&
        crl_revlog_buf_add(s->log, s->field, s->flen, val, vlen) != 0) {
        snprintf(s->err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (on == 0 && why[0] == 'h') {
        s->st->hold_skipped++;
        return 0;
    }
    if (why[0] == 'r') {
        s->st->reason_cleared++;
    }
    slot = on ? crl_entries_push(s->out) : crl_entries_push(s->expired);
    if (slot == NULL) {
        snprintf(s->err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    *slot = e;
    if (!on) {
        s->st->expired++;
    }
    return 0;
}

static void *crl_scan_string(const redisReadTask *t, char *str, size_t len)
{
    crl_scan_t *s = t->privdata;
    int depth = crl_scan_depth(t);

    if (depth == 0 && t->type == REDIS_REPLY_ERROR) {
        snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: %.*s", s->key,
                 (int)(len > 200 ? 200 : len), str);
        return NULL;
    }
    if (t->type != REDIS_REPLY_STRING || depth == 0) {
        return crl_scan_fail(t, "not a string");
    }
    if (depth == 1) {
        if (t->idx != 0 || len == 0 || len >= sizeof(s->cursor)) {
            return crl_scan_fail(t, "cursor");
        }
        memcpy(s->cursor, str, len);
        s->cursor[len] = '\0';
        s->have_cursor = 1;
        return &crl_scan_obj;
    }
    if (t->idx % 2 == 0) {
        /* a field: kept until its value; longer ones fail at the value */
        s->flen = len;
        memcpy(s->field, str, len < sizeof(s->field) ? len : sizeof(s->field));
        return &crl_scan_obj;
    }
    return crl_scan_pair(s, str, len) == 0 ? &crl_scan_obj : NULL;
}

static void *crl_scan_array(const redisReadTask *t, int elements)
{
    int depth = crl_scan_depth(t);

    if ((depth == 0 && elements == 2) ||
        (depth == 1 && t->idx == 1 && elements >= 0 && elements % 2 == 0)) {
        return &crl_scan_obj;
    }
    return crl_scan_fail(t, "array");
}

static void *crl_scan_integer(const redisReadTask *t, long long v)
{
    (void)v;
    return crl_scan_fail(t, "integer");
}

static void *crl_scan_nil(const redisReadTask *t)
{
    return crl_scan_fail(t, "nil");
}

static void crl_scan_free(void *obj)
{
    (void)obj; /* nothing was built */
}

static redisReplyObjectFunctions crl_scan_fns = {
    crl_scan_string, crl_scan_array, crl_scan_integer, crl_scan_nil,
    crl_scan_free};

/* Every page of one hash; the first page request is already sent. */
static int crl_scan_hash(ocsp_rconn_t *rc, crl_scan_t *s)
{
    redisReader *r = rc->c->reader;

    for (;;) {
        void *reply = NULL;

        s->have_cursor = 0;
        for (;;) {
            if (redisReaderGetReply(r, &reply) != REDIS_OK) {
                if (s->err[0] == '\0') {
                    snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: %s", s->key,
                             r->errstr);
                }
                return -1;
            }
            if (s->have_cursor == 1) {
                /* Redis works on the next page while this one arrives. */
                s->have_cursor = 2;
                if (strcmp(s->cursor, "0") != 0 &&
                    crl_hscan_send(rc, s->key, s->cursor, s->err) != 0) {
                    return -1;
                }
            }
            if (reply != NULL) {
                crl_entries_prefault(s->out);
                break;
            }
            if (redisBufferRead(rc->c) != REDIS_OK) {
                snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: %s", s->key,
                         rc->c->errstr);
                return -1;
            }
        }
        if (s->have_cursor != 2) {
            snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: no cursor", s->key);
            return -1;
        }
        if (strcmp(s->cursor, "0") == 0) {
            return 0;
        }
    }
}

/* Sum of HLEN over the shard hashes: room for the entries is made at once
 * (a million entries are 48 MB, better not grown by copies). */
static int crl_fetch_count(ocsp_rconn_t *rc, const char *prefix,
                           const crl_issuer_conf_t *ci, size_t *total,
                           char *err)
{
    char key[OCSP_KEY_MAX];

    *total = 0;
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        const char *argv[] = {"HLEN", key};

        ocsp_key_revoked(key, prefix, ci->ic->name, shard);
        if (redisAppendCommandArgv(rc->c, 2, argv, NULL) != REDIS_OK) {
            snprintf(err, OCSP_ERR_MAX, "HLEN: %s", rc->c->errstr);
            return -1;
        }
    }
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        void *reply = NULL;
        redisReply *r;
        int ok;

        if (redisGetReply(rc->c, &reply) != REDIS_OK || reply == NULL) {
            snprintf(err, OCSP_ERR_MAX, "HLEN: %s", rc->c->errstr);
            return -1;
        }
        r = reply;
        ok = r->type == REDIS_REPLY_INTEGER && r->integer >= 0;
        if (ok) {
            *total += (size_t)r->integer;
        } else {
            crl_bad_reply(r, "HLEN", err);
        }
        freeReplyObject(r);
        if (!ok) {
            return -1;
        }
    }
    return 0;
}

/* The scan of every shard hash; with LOGS, each shard's records are also
 * collected into logs[shard] for a rebuild of its log. */
static int crl_scan_revoked(ocsp_rconn_t *rc, const char *prefix,
                            const crl_issuer_conf_t *ci, int64_t now,
                            crl_entries_t *out, crl_entries_t *expired,
                            crl_fetch_stats_t *st, crl_revlog_buf_t *logs,
                            char *err)
{
    char key[OCSP_KEY_MAX];
    redisReplyObjectFunctions *fns;
    void *privdata;
    crl_scan_t s;
    size_t total;

    memset(st, 0, sizeof(*st));
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        if (ocsp_key_revoked(key, prefix, ci->ic->name, shard) < 0) {
            snprintf(err, OCSP_ERR_MAX, "key too long");
            return -1;
        }
    }
    if (rc->c == NULL &&
        ocsp_rconn_ensure(rc, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", rc->err);
        return -1;
    }
    if (crl_fetch_count(rc, prefix, ci, &total, err) != 0) {
        goto dropped;
    }
    /* records added meanwhile grow the array as usual */
    if (crl_entries_reserve(out, total) != 0) {
        snprintf(err, OCSP_ERR_MAX, "out of memory for %zu entries", total);
        return -1;
    }
    /* the sort's scratch, faulted in page by page while Redis works */
    (void)crl_entries_spare(out, out->n + total);

    memset(&s, 0, sizeof(s));
    s.ci = ci;
    s.now = now;
    s.key = key;
    s.out = out;
    s.expired = expired;
    s.st = st;
    s.err = err;
    err[0] = '\0';
    fns = rc->c->reader->fn;
    privdata = rc->c->reader->privdata;
    rc->c->reader->fn = &crl_scan_fns;
    rc->c->reader->privdata = &s;
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        ocsp_key_revoked(key, prefix, ci->ic->name, shard);
        s.shard = shard;
        s.log = logs != NULL ? &logs[shard] : NULL;
        if (crl_hscan_send(rc, key, "0", err) != 0 ||
            crl_scan_hash(rc, &s) != 0) {
            /* Freed with the callbacks still in place (they own nothing);
             * a page request may be in flight: never read it as the reply
             * to another command. */
            goto dropped;
        }
    }
    rc->c->reader->fn = fns;
    rc->c->reader->privdata = privdata;
    return 0;

dropped:
    ocsp_rconn_drop(rc);
    return -1;
}

int crl_fetch_revoked(ocsp_rconn_t *rc, const char *prefix,
                      const crl_issuer_conf_t *ci, int64_t now,
                      crl_entries_t *out, crl_entries_t *expired,
                      crl_fetch_stats_t *st, char *err)
{
    size_t out0 = out->n, expired0 = expired->n;
    crl_revlog_buf_t *logs;
    crl_revlog_mark_t *marks;
    char why[160];
    int rv;

    /* Through the logs when they can be trusted: a million entries cost
     * Redis milliseconds instead of a second of HSCAN. */
    rv = crl_revlog_fetch(rc, prefix, ci, now, out, expired, st, why,
                          sizeof(why), err);
    if (rv <= 0) {
        return rv;
    }
    ocsp_log(OCSP_LOG_WARN,
             "revoked log not used issuer=%s reason=\"%s\" "
             "action=\"scan, rebuild the log\"",
             ci->ic->name, why);
    out->n = out0;
    expired->n = expired0;
    logs = calloc(ci->nshards, sizeof(*logs));
    marks = calloc(ci->nshards, sizeof(*marks));
    if (logs == NULL || marks == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        rv = -1;
        goto done;
    }
    /* Every change from here on is appended after marks[shard]. */
    if (crl_revlog_mark(rc, prefix, ci, marks, err) != 0 ||
        crl_scan_revoked(rc, prefix, ci, now, out, expired, st, logs, err) !=
            0) {
        rv = -1;
        goto done;
    }
    rv = 0;
    for (unsigned shard = 0; shard < ci->nshards; shard++) {
        char lerr[OCSP_ERR_MAX];
        if (crl_revlog_rebuild(rc, prefix, ci->ic->name, shard, &logs[shard],
                               &marks[shard], lerr) != 0) {
            /* The CRL does not need it: the next build scans again. */
            ocsp_log(OCSP_LOG_WARN, "revoked log not rebuilt issuer=%s %s",
                     ci->ic->name, lerr);
        }
    }

done:
    for (unsigned shard = 0; logs != NULL && shard < ci->nshards; shard++) {
        crl_revlog_buf_free(&logs[shard]);
    }
    free(logs);
    free(marks);
    return rv;
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
               crl_reply_i64(r->element[1], ms) == 0) {
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
        if (crl_reply_i64(score, &slot->revoked_at) != 0) {
            snprintf(err, OCSP_ERR_MAX, "%s: a score is not a time", key);
            goto failed;
        }
        slot->revoked_at /= 1000;
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
    if (r->elements > 0 &&
        crl_reply_i64(r->element[r->elements - 1], max_ms) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s: a score is not a time", key);
        goto failed;
    }
    rv = 0;
failed:
    freeReplyObject(r);
    return rv;
}
