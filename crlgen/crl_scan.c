#include "crl_scan.h"

#include <stdio.h>
#include <string.h>

#include "keys.h"
#include "log.h"

#define HSCAN_COUNT "10000"

/* Queues and sends one HSCAN page request without waiting for its reply. */
static int crl_hscan_send(ocsp_rconn_t *conn, const char *key,
                          const char *cursor, char *err)
{
    const char *argv[] = {"HSCAN", key, cursor, "COUNT", HSCAN_COUNT};

    if (ocsp_rconn_append(conn, 5, argv, NULL) != 0 ||
        ocsp_rconn_flush(conn) != 0) {
        snprintf(err, OCSP_ERR_MAX, "HSCAN %s: %s", key, conn->err);
        return -1;
    }
    return 0;
}

/*
 * An HSCAN reply is decoded while it is parsed, by hiredis reply-object
 * callbacks that build no objects: each field/value pair becomes an entry at
 * once, and the cursor, the reply's first element, is known after its first
 * bytes, so that the next page is requested while this one still arrives
 * and Redis is never idle waiting for us.
 */
typedef struct {
    const crl_issuer_conf_t *conf;
    int64_t now;
    const char *key;
    unsigned shard;
    crl_entries_t *out, *expired;
    crl_record_stats_t *st;
    char cursor[32];
    int have_cursor;
    char field[2 * CRL_SERIAL_LEN + 1];
    size_t flen;
    crl_revlog_buf_t *log; /* the shard's log rebuilt from the scan */
    int stopped; /* an invalid record: the rest of the page is read only */
    ocsp_rconn_t *conn;
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
    const char *why = "field longer than a serial";
    crl_record_e d = CRL_RECORD_INVALID;

    if (s->flen <= 2 * CRL_SERIAL_LEN) {
        d = crl_record_entry(s->conf, s->now, s->field, s->flen, val, vlen,
                             s->shard, &e, &why);
    }
    if (d == CRL_RECORD_INVALID) {
        char shown[41];

        crl_record_printable(shown, sizeof(shown), s->field,
                             s->flen < sizeof(s->field) ? s->flen
                                                        : sizeof(s->field));
        snprintf(s->err, OCSP_ERR_MAX,
                 "%s: field %s: invalid record (%s); refusing to build a CRL "
                 "without it",
                 s->key, shown, why);
        return -1;
    }
    crl_record_count(s->st, d);
    if (s->log != NULL &&
        crl_revlog_buf_add(s->log, s->field, s->flen, val, vlen) != 0) {
        snprintf(s->err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (d == CRL_RECORD_HOLD_OMITTED) {
        return 0;
    }
    slot = d == CRL_RECORD_EXPIRED ? crl_entries_push(s->expired)
                                   : crl_entries_push(s->out);
    if (slot == NULL) {
        snprintf(s->err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    *slot = e;
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
    if (s->stopped) {
        return &crl_scan_obj;
    }
    if (t->idx % 2 == 0) {
        /* a field: kept until its value; longer ones fail at the value */
        s->flen = len;
        memcpy(s->field, str, len < sizeof(s->field) ? len : sizeof(s->field));
        return &crl_scan_obj;
    }
    /* After an invalid record the page is still read to its end, so that
     * the connection stays usable; nothing more of it is kept. */
    s->stopped = crl_scan_pair(s, str, len) != 0;
    return &crl_scan_obj;
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

/* Between socket reads: the next page is asked for as soon as this one's
 * cursor has come, so that Redis works on it while this one arrives. */
static int crl_scan_progress(void *privdata)
{
    crl_scan_t *s = privdata;

    if (s->have_cursor == 1 && !s->stopped) {
        s->have_cursor = 2;
        if (strcmp(s->cursor, "0") != 0) {
            return crl_hscan_send(s->conn, s->key, s->cursor, s->err);
        }
    }
    return 0;
}

/* Every page of one hash; the first page request is already sent. */
static int crl_scan_hash(ocsp_rconn_t *conn, crl_scan_t *s)
{
    for (;;) {
        s->have_cursor = 0;
        if (ocsp_rconn_reply_decode(conn, &crl_scan_fns, s,
                                    crl_scan_progress) == NULL) {
            if (s->err[0] == '\0') {
                snprintf(s->err, OCSP_ERR_MAX, "HSCAN %s: %s", s->key,
                         conn->err);
            }
            return -1;
        }
        if (s->stopped) {
            /* a page asked for ahead is read and thrown away */
            if (ocsp_rconn_skip(conn, ocsp_rconn_pending(conn)) < 0) {
                ocsp_log(OCSP_LOG_DEBUG, "HSCAN %s: %s", s->key, conn->err);
            }
            return -1;
        }
        if (crl_scan_progress(s) != 0) {
            return -1; /* the whole page came in one read */
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
static int crl_scan_count(ocsp_rconn_t *conn, const char *prefix,
                          const crl_issuer_conf_t *crl_issuer, size_t *total,
                          char *err)
{
    char key[OCSP_KEY_MAX];

    *total = 0;
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        const char *argv[] = {"HLEN", key};

        ocsp_key_revoked(key, prefix, crl_issuer->issuer_conf->name, shard);
        if (ocsp_rconn_append(conn, 2, argv, NULL) != 0) {
            snprintf(err, OCSP_ERR_MAX, "HLEN: %s", conn->err);
            return -1;
        }
    }
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        redisReply *r = ocsp_rconn_reply(conn);
        int64_t n;

        if (r == NULL) {
            snprintf(err, OCSP_ERR_MAX, "HLEN: %s", conn->err);
            return -1;
        }
        if (ocsp_reply_int64(r, 0, &n) != 0) {
            ocsp_rconn_fail_reply(conn, "HLEN", r);
            snprintf(err, OCSP_ERR_MAX, "%s", conn->err);
            freeReplyObject(r);
            return -1;
        }
        *total += (size_t)n;
        freeReplyObject(r);
    }
    return 0;
}

int crl_scan_revoked(ocsp_rconn_t *conn, const char *prefix,
                     const crl_issuer_conf_t *crl_issuer, int64_t now,
                     crl_entries_t *out, crl_entries_t *expired,
                     crl_record_stats_t *st, crl_revlog_buf_t *logs, char *err)
{
    char key[OCSP_KEY_MAX];
    crl_scan_t s;
    size_t total;

    memset(st, 0, sizeof(*st));
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        if (ocsp_key_revoked(key, prefix, crl_issuer->issuer_conf->name,
                             shard) < 0) {
            snprintf(err, OCSP_ERR_MAX, "key too long");
            return -1;
        }
    }
    if (!ocsp_rconn_connected(conn) &&
        ocsp_rconn_ensure(conn, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", conn->err);
        return -1;
    }
    if (crl_scan_count(conn, prefix, crl_issuer, &total, err) != 0) {
        return -1;
    }
    /* records added meanwhile grow the array as usual */
    if (crl_entries_reserve(out, total) != 0) {
        snprintf(err, OCSP_ERR_MAX, "out of memory for %zu entries", total);
        return -1;
    }

    memset(&s, 0, sizeof(s));
    s.conf = crl_issuer;
    s.now = now;
    s.key = key;
    s.out = out;
    s.expired = expired;
    s.st = st;
    s.conn = conn;
    s.err = err;
    err[0] = '\0';
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        ocsp_key_revoked(key, prefix, crl_issuer->issuer_conf->name, shard);
        s.shard = shard;
        s.log = logs != NULL ? &logs[shard] : NULL;
        if (crl_hscan_send(conn, key, "0", err) != 0 ||
            crl_scan_hash(conn, &s) != 0) {
            return -1;
        }
    }
    return 0;
}
