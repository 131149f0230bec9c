#include "crl_revlog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "keys.h"
#include "revlog.h"

/* How many GETRANGE pieces are asked for ahead. */
#define REVLOG_AHEAD 4
/* Superseded records tolerated beyond as many as there are entries. */
#define REVLOG_SLACK 100000
/* A log this big is compacted sooner: Redis strings end at 512 MB. */
#define REVLOG_COMPACT_BYTES ((int64_t)256 << 20)

/* In crl_entry_t.pad of a replayed record, until the log is reduced to
 * the last record of each serial: its crl_record_e, or this for a 'D'. */
#define REVLOG_DELETED 0xff

/* Replays the 'A' or 'D' record r of SHARD into t.  0, or -1 if invalid. */
static int revlog_replay(const crl_issuer_conf_t *crl_issuer, int64_t now,
                         unsigned shard, const ocsp_revlog_rec_t *r,
                         crl_entries_t *t)
{
    crl_entry_t e, *slot;

    if (r->deleted) {
        memset(&e, 0, sizeof(e));
        if (ocsp_serial_fixed_from_hex(r->serial, r->serial_len, e.serial) !=
            0) {
            return -1;
        }
        e.pad = REVLOG_DELETED;
    } else {
        const char *why;
        crl_record_e d = crl_record_entry(crl_issuer, now, r->serial,
                                          r->serial_len, (const char *)r->value,
                                          r->value_len, shard, &e, &why);
        if (d == CRL_RECORD_INVALID) {
            return -1; /* the scan then names it, or finds the hash right */
        }
        e.pad = (uint8_t)d;
    }
    if ((slot = crl_entries_push(t)) == NULL) {
        return -1;
    }
    *slot = e;
    return 0;
}

typedef struct {
    const crl_issuer_conf_t *conf;
    int64_t now;
    unsigned shard;
    crl_entries_t *t;
    unsigned char carry[OCSP_REVLOG_REC_MAX];
    size_t carried;
    size_t records;
} revlog_reader_t;

/* Replays the whole records of P[0..N) (a region revlog_split() found)
 * into out.  0, or -1 if one is invalid. */
static int revlog_region(const crl_issuer_conf_t *conf, int64_t now,
                         unsigned shard, const unsigned char *p, size_t n,
                         crl_entries_t *out)
{
    ocsp_revlog_rec_t r;

    while (n > 0) {
        long used = ocsp_revlog_next(p, n, &r);

        if (used <= 0 || revlog_replay(conf, now, shard, &r, out) != 0) {
            return -1;
        }
        p += used;
        n -= (size_t)used;
    }
    return 0;
}

/*
 * The first step of one piece of the log, P[0..N): the record cut at the
 * end of the previous piece is completed from P's head and replayed into
 * out; the records after it are counted up to the last whole one, whose
 * end is *region_end (the region from *region_at for revlog_region()), and
 * what follows waits in carry for the next piece.  0, or -1 if invalid.
 * Only headers are read here: the decoding, the costly part, is the
 * region's, and may be done by another thread.
 */
static int revlog_split(revlog_reader_t *rd, const unsigned char *p, size_t n,
                        crl_entries_t *out, size_t *region_at,
                        size_t *region_end)
{
    ocsp_revlog_rec_t r;
    size_t at = 0;
    long used;

    *region_at = *region_end = 0;
    if (rd->carried > 0) {
        /* Complete the cut record: what the carry lacks is at p. */
        size_t old = rd->carried;
        size_t k = n < sizeof(rd->carry) - old ? n : sizeof(rd->carry) - old;

        memcpy(rd->carry + old, p, k);
        used = ocsp_revlog_next(rd->carry, old + k, &r);
        if (used < 0 || (used == 0 && k < n)) {
            return -1; /* invalid, or longer than any record */
        }
        if (used == 0) {
            rd->carried = old + k; /* still cut: all of p is in carry */
            return 0;
        }
        if (revlog_replay(rd->conf, rd->now, rd->shard, &r, out) != 0) {
            return -1;
        }
        rd->records++;
        rd->carried = 0;
        at = (size_t)used - old;
    }
    *region_at = at;
    while (at < n) {
        used = ocsp_revlog_next(p + at, n - at, &r);
        if (used < 0) {
            return -1;
        }
        if (used == 0) {
            memcpy(rd->carry, p + at, n - at);
            rd->carried = n - at;
            break;
        }
        rd->records++;
        at += (size_t)used;
    }
    *region_end = at;
    return 0;
}

/* Replays every whole record of one piece of the log; a record cut at the
 * end waits in carry for the next piece.  0, or -1 if invalid. */
static int revlog_piece(revlog_reader_t *rd, const unsigned char *p, size_t n)
{
    size_t from, to;

    if (revlog_split(rd, p, n, rd->t, &from, &to) != 0) {
        return -1;
    }
    return revlog_region(rd->conf, rd->now, rd->shard, p + from, to - from,
                         rd->t);
}

/*
 * Decoding the records (protobuf, the serial, the profile) is most of a
 * log read's CPU, and Redis only copies memory: a second thread decodes
 * every other piece while this one decodes the next, and the entries of
 * both are appended in the log's order (the last record of a serial must
 * win).  Joined before crl_revlog_fetch() returns, so the generator is
 * single-threaded again when it may fork (post_publish).
 */
typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int running; /* the thread exists */
    int busy;    /* a piece is handed over and not finished */
    int quit;
    const crl_issuer_conf_t *conf;
    int64_t now;
    unsigned shard;
    int pending;   /* a piece handed over and not taken back */
    redisReply *r; /* the piece's reply (or NULL), freed once decoded */
    const unsigned char *p;
    size_t from, to;
    crl_entries_t out; /* the carried record, then the region's */
    int rc;
} revlog_worker_t;

/* Logs shorter than this are decoded by one thread. */
#define REVLOG_PARALLEL_MIN ((int64_t)4 * REVLOG_CHUNK)

static void *revlog_worker_run(void *arg)
{
    revlog_worker_t *w = arg;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        while (!w->busy && !w->quit) {
            pthread_cond_wait(&w->cv, &w->mu);
        }
        if (!w->busy) {
            break;
        }
        pthread_mutex_unlock(&w->mu);
        w->rc = revlog_region(w->conf, w->now, w->shard, w->p + w->from,
                              w->to - w->from, &w->out);
        pthread_mutex_lock(&w->mu);
        w->busy = 0;
        pthread_cond_broadcast(&w->cv);
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void revlog_worker_start(revlog_worker_t *w)
{
    memset(w, 0, sizeof(*w));
    if (pthread_mutex_init(&w->mu, NULL) != 0) {
        return;
    }
    if (pthread_cond_init(&w->cv, NULL) != 0) {
        pthread_mutex_destroy(&w->mu);
        return;
    }
    w->running = pthread_create(&w->thread, NULL, revlog_worker_run, w) == 0;
    if (!w->running) {
        pthread_cond_destroy(&w->cv);
        pthread_mutex_destroy(&w->mu);
    }
}

/* Hands the region [from, to) of P over (R, which holds P, is taken; may
 * be NULL); out already holds the piece's carried record, if any. */
static void revlog_worker_give(revlog_worker_t *w, redisReply *r,
                               const unsigned char *p, size_t from, size_t to)
{
    pthread_mutex_lock(&w->mu);
    w->r = r;
    w->p = p;
    w->from = from;
    w->to = to;
    w->rc = 0;
    w->pending = w->busy = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

/* Appends the entries of from to t.  0, or -1 out of memory. */
static int revlog_append(crl_entries_t *t, const crl_entries_t *from)
{
    if (from->n == 0) {
        return 0;
    }
    /* geometric growth: superseded records may outgrow HLEN's room */
    if (from->n > t->cap - t->n &&
        crl_entries_reserve(t, from->n > t->n / 2 ? from->n : t->n / 2) != 0) {
        return -1;
    }
    memcpy(t->v + t->n, from->v, from->n * sizeof(crl_entry_t));
    t->n += from->n;
    return 0;
}

/* Waits for the piece handed over, if any, and appends its entries to t.
 * 0, or -1 if a record was invalid or memory ran out (*nomem set). */
static int revlog_worker_take(revlog_worker_t *w, crl_entries_t *t, int *nomem)
{
    int rc;

    if (!w->running || !w->pending) {
        return 0;
    }
    pthread_mutex_lock(&w->mu);
    while (w->busy) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    if (w->r != NULL) {
        freeReplyObject(w->r);
    }
    w->r = NULL;
    w->pending = 0;
    rc = w->rc;
    if (rc == 0 && revlog_append(t, &w->out) != 0) {
        *nomem = 1;
        rc = -1;
    }
    w->out.n = 0;
    return rc;
}

static void revlog_worker_stop(revlog_worker_t *w)
{
    if (!w->running) {
        return;
    }
    pthread_mutex_lock(&w->mu);
    while (w->busy) {
        pthread_cond_wait(&w->cv, &w->mu);
    }
    w->quit = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    pthread_join(w->thread, NULL);
    pthread_cond_destroy(&w->cv);
    pthread_mutex_destroy(&w->mu);
    if (w->r != NULL) {
        freeReplyObject(w->r);
    }
    crl_entries_free(&w->out);
    w->running = 0;
}

/*
 * One piece P[0..N) of the log (held by R, taken; may be NULL): split
 * here, its records decoded by the worker W when it is idle, else here
 * (after which the worker's piece, earlier in the log, is taken back), and
 * appended to rd->t in the log's order.  MINE is this thread's scratch.
 * Returns 0, 1 if a record is invalid, -1 out of memory.
 */
static int revlog_feed(revlog_reader_t *rd, revlog_worker_t *w,
                       crl_entries_t *mine, redisReply *r,
                       const unsigned char *p, size_t n)
{
    int give = w->running && !w->pending, nomem = 0, bad;
    size_t from, to;

    if (!w->running) {
        bad = revlog_piece(rd, p, n) != 0;
        if (r != NULL) {
            freeReplyObject(r);
        }
        return bad;
    }
    mine->n = 0;
    bad = revlog_split(rd, p, n, give ? &w->out : mine, &from, &to) != 0;
    if (!bad && give) {
        revlog_worker_give(w, r, p, from, to);
        return 0;
    }
    if (!bad) {
        bad = revlog_region(rd->conf, rd->now, rd->shard, p + from, to - from,
                            mine) != 0;
    }
    if (revlog_worker_take(w, rd->t, &nomem) != 0) {
        bad = 1;
    }
    if (!bad && revlog_append(rd->t, mine) != 0) {
        nomem = bad = 1;
    }
    if (r != NULL) {
        freeReplyObject(r);
    }
    return nomem ? -1 : bad;
}

/* The end of a shard's log: the worker's last piece taken back.  As
 * revlog_feed(). */
static int revlog_feed_end(revlog_reader_t *rd, revlog_worker_t *w)
{
    int nomem = 0;

    if (revlog_worker_take(w, rd->t, &nomem) != 0) {
        return nomem ? -1 : 1;
    }
    return 0;
}

long crl_revlog_replay(const crl_issuer_conf_t *crl_issuer, int64_t now,
                       unsigned shard, const unsigned char *p, size_t len,
                       size_t piece, int threads, crl_entries_t *t)
{
    revlog_reader_t rd;
    revlog_worker_t w;
    crl_entries_t mine = {0};
    int rc = 0;

    memset(&rd, 0, sizeof(rd));
    memset(&w, 0, sizeof(w));
    rd.conf = crl_issuer;
    rd.now = now;
    rd.shard = shard;
    rd.t = t;
    if (threads) {
        revlog_worker_start(&w);
        w.conf = crl_issuer;
        w.now = now;
        w.shard = shard;
    }
    for (size_t off = 0; rc == 0 && off < len; off += piece) {
        rc = revlog_feed(&rd, &w, &mine, NULL, p + off,
                         len - off < piece ? len - off : piece);
    }
    if (rc == 0) {
        rc = revlog_feed_end(&rd, &w);
    }
    revlog_worker_stop(&w);
    crl_entries_free(&mine);
    return rc == 0 && rd.carried == 0 ? (long)rd.records : -1;
}

/* Queues GETRANGE KEY FROM TO (inclusive); 0, or -1 with err. */
static int revlog_getrange(ocsp_rconn_t *conn, const char *key, int64_t from,
                           int64_t to, char *err)
{
    char a[24], b[24];
    const char *argv[] = {"GETRANGE", key, a, b};

    snprintf(a, sizeof(a), "%lld", (long long)from);
    snprintf(b, sizeof(b), "%lld", (long long)to);
    if (ocsp_rconn_append(conn, 4, argv, NULL) != 0) {
        snprintf(err, OCSP_ERR_MAX, "revoked log: %s", conn->err);
        return -1;
    }
    return 0;
}

redisReply *crl_revlog_reply(ocsp_rconn_t *conn, char *err)
{
    redisReply *r = ocsp_rconn_reply(conn);

    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "revoked log: %s", conn->err);
    }
    return r;
}

int crl_revlog_state(ocsp_rconn_t *conn, const char *log_key,
                     const char *hash_key, crl_revlog_mark_t *m, uint64_t *gen,
                     int64_t *hlen, char *err)
{
    const char *multi[] = {"MULTI"}, *exec[] = {"EXEC"};
    char last[8];
    const char *hdr[] = {"GETRANGE", log_key, "0", last};
    const char *strlen_[] = {"STRLEN", log_key};
    const char *hlen_[] = {"HLEN", hash_key};
    redisReply *r = NULL;
    int rv = 0;

    memset(m, 0, sizeof(*m));
    snprintf(last, sizeof(last), "%d", OCSP_REVLOG_HEADER - 1);
    if (ocsp_rconn_append(conn, 1, multi, NULL) != 0 ||
        ocsp_rconn_append(conn, 4, hdr, NULL) != 0 ||
        ocsp_rconn_append(conn, 2, strlen_, NULL) != 0 ||
        ocsp_rconn_append(conn, 2, hlen_, NULL) != 0 ||
        ocsp_rconn_append(conn, 1, exec, NULL) != 0 ||
        ocsp_rconn_skip(conn, 4) < 0 || /* +OK and +QUEUED */
        (r = ocsp_rconn_reply(conn)) == NULL) {
        snprintf(err, OCSP_ERR_MAX, "revoked log: %s", conn->err);
        return -1;
    }
    for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements && i < 3;
         i++) {
        if (r->element[i]->type == REDIS_REPLY_ERROR) {
            /* e.g. WRONGTYPE: a key of the scheme holds something else.
             * The hash is the record of truth; the log can be rebuilt. */
            snprintf(err, OCSP_ERR_MAX, "%s: %.*s", i < 2 ? log_key : hash_key,
                     (int)(r->element[i]->len > 200 ? 200 : r->element[i]->len),
                     r->element[i]->str);
            freeReplyObject(r);
            return i < 2 ? 1 : -1;
        }
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 3 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        r->element[1]->type != REDIS_REPLY_INTEGER ||
        r->element[2]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->integer < 0 || r->element[2]->integer < 0) {
        ocsp_rconn_fail_reply(conn, "revoked log state", r);
        snprintf(err, OCSP_ERR_MAX, "revoked log %s: %s", log_key, conn->err);
        rv = -1;
    } else {
        m->has_header =
            ocsp_revlog_header_read((const unsigned char *)r->element[0]->str,
                                    r->element[0]->len, NULL, gen) == 0;
        if (m->has_header) {
            memcpy(m->header, r->element[0]->str, OCSP_REVLOG_HEADER);
        }
        m->len = r->element[1]->integer;
        *hlen = r->element[2]->integer;
    }
    freeReplyObject(r);
    return rv;
}

/*
 * Reduces t (one shard's replayed records) to the last record of each
 * serial and moves what is in the hash to out and expired; *live_out is
 * how many serials the hash holds by the log.  0, or -1 out of memory.
 */
static int revlog_reduce(crl_entries_t *t, crl_entries_t *out,
                         crl_entries_t *expired, crl_record_stats_t *st,
                         size_t *live_out)
{
    size_t live = 0, w = 0;

    /* The later record of a serial wins (crl_entries_sort()). */
    crl_entries_sort(t);
    for (size_t i = 0; i < t->n; i++) {
        crl_entry_t e = t->v[i];
        int kind = e.pad;

        e.pad = 0;
        if (kind == REVLOG_DELETED) {
            continue;
        }
        live++;
        crl_record_count(st, (crl_record_e)kind);
        if (kind == CRL_RECORD_EXPIRED) {
            crl_entry_t *x = crl_entries_push(expired);
            if (x == NULL) {
                return -1;
            }
            *x = e;
        } else if (kind != CRL_RECORD_HOLD_OMITTED) {
            t->v[w++] = e; /* in place: w <= i */
        }
    }
    t->n = w;
    if (out->n == 0) {
        crl_entries_t keep = *out;
        *out = *t;
        *t = keep;
    } else {
        for (size_t i = 0; i < w; i++) {
            crl_entry_t *x = crl_entries_push(out);
            if (x == NULL) {
                return -1;
            }
            *x = t->v[i];
        }
    }
    *live_out = live;
    return 0;
}

int crl_revlog_fetch(ocsp_rconn_t *conn, const char *prefix,
                     const crl_issuer_conf_t *crl_issuer, int64_t now,
                     crl_entries_t *out, crl_entries_t *expired,
                     crl_record_stats_t *st, char *why, size_t why_len,
                     char *err)
{
    char log_key[OCSP_KEY_MAX], hash_key[OCSP_KEY_MAX];
    crl_entries_t t = {0}, mine = {0};
    revlog_worker_t w;
    int rv = -1;

    memset(&w, 0, sizeof(w));

    memset(st, 0, sizeof(*st));
    if (!ocsp_rconn_connected(conn) &&
        ocsp_rconn_ensure(conn, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", conn->err);
        return -1;
    }
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        revlog_reader_t rd;
        crl_revlog_mark_t m;
        uint64_t gen = 0, gen2 = 0;
        int64_t len, hlen, at, asked;
        int have2, inflight = 0, rc;
        size_t live;

        if (ocsp_key_revlog(log_key, prefix, crl_issuer->issuer_conf->name,
                            shard) < 0 ||
            ocsp_key_revoked(hash_key, prefix, crl_issuer->issuer_conf->name,
                             shard) < 0) {
            snprintf(err, OCSP_ERR_MAX, "key too long");
            goto done;
        }
        rv = crl_revlog_state(conn, log_key, hash_key, &m, &gen, &hlen, err);
        if (rv != 0) {
            if (rv == 1) {
                snprintf(why, why_len, "shard %u: %s", shard, err);
                err[0] = '\0';
            }
            goto done;
        }
        rv = -1;
        len = m.len;
        if (!m.has_header) {
            if (len == 0 && hlen == 0) {
                continue; /* nothing revoked in this shard yet */
            }
            snprintf(why, why_len, "shard %u: no log header", shard);
            rv = 1;
            goto done;
        }
        if (crl_entries_reserve(&t, (size_t)hlen) != 0) {
            snprintf(err, OCSP_ERR_MAX, "out of memory for %lld entries",
                     (long long)hlen);
            goto done;
        }
        memset(&rd, 0, sizeof(rd));
        rd.conf = crl_issuer;
        rd.now = now;
        rd.shard = shard;
        rd.t = &t;
        if (len >= REVLOG_PARALLEL_MIN && !w.running) {
            revlog_worker_start(&w); /* without: all on this thread */
        }
        w.conf = crl_issuer;
        w.now = now;
        w.shard = shard; /* no piece is handed over between shards */
        /* Pipelined: Redis copies out the next piece while this one is
         * replayed. */
        at = asked = OCSP_REVLOG_HEADER;
        while (at < len) {
            redisReply *r;
            while (inflight < REVLOG_AHEAD && asked < len) {
                int64_t to =
                    asked + REVLOG_CHUNK < len ? asked + REVLOG_CHUNK : len;
                if (revlog_getrange(conn, log_key, asked, to - 1, err) != 0) {
                    goto done;
                }
                asked = to;
                inflight++;
            }
            if ((r = crl_revlog_reply(conn, err)) == NULL) {
                goto done;
            }
            inflight--;
            if (r->type != REDIS_REPLY_STRING ||
                (int64_t)r->len !=
                    (len - at < REVLOG_CHUNK ? len - at : REVLOG_CHUNK)) {
                /* not the piece asked for: the log was rebuilt meanwhile
                 * (and waiting for the rest would wait forever) */
                freeReplyObject(r);
                snprintf(why, why_len, "shard %u: log replaced while read",
                         shard);
                rv = 1;
                goto drain;
            }
            at += (int64_t)r->len;
            rc = revlog_feed(&rd, &w, &mine, r, (const unsigned char *)r->str,
                             r->len);
            if (rc < 0) {
                snprintf(err, OCSP_ERR_MAX, "out of memory");
                rv = -1;
                goto drain;
            }
            if (rc > 0) {
                snprintf(why, why_len, "shard %u: invalid record", shard);
                rv = 1;
                goto drain;
            }
            if (rd.records > 2 * (size_t)hlen + REVLOG_SLACK) {
                /* mostly superseded: stop before it costs memory */
                snprintf(why, why_len, "shard %u: compacting, over %zu records",
                         shard, rd.records);
                rv = 1;
                goto drain;
            }
        }
        rc = revlog_feed_end(&rd, &w);
        if (rc != 0) {
            if (rc < 0) {
                snprintf(err, OCSP_ERR_MAX, "out of memory");
                goto done;
            }
            snprintf(why, why_len, "shard %u: invalid record", shard);
            rv = 1;
            goto done;
        }
        {
            /* A rebuild during the read changes the generation. */
            char last[8];
            const char *hdr[] = {"GETRANGE", log_key, "0", last};
            redisReply *r;

            snprintf(last, sizeof(last), "%d", OCSP_REVLOG_HEADER - 1);
            r = ocsp_rconn_cmd(conn, 4, hdr, NULL);
            if (r == NULL) {
                snprintf(err, OCSP_ERR_MAX, "revoked log: %s", conn->err);
                goto done;
            }
            have2 = r->type == REDIS_REPLY_STRING &&
                    ocsp_revlog_header_read((const unsigned char *)r->str,
                                            r->len, NULL, &gen2) == 0;
            freeReplyObject(r);
        }
        if (!have2 || gen2 != gen || rd.carried != 0) {
            snprintf(why, why_len, "shard %u: log replaced while read", shard);
            rv = 1;
            goto done;
        }
        if (revlog_reduce(&t, out, expired, st, &live) != 0) {
            snprintf(err, OCSP_ERR_MAX, "out of memory");
            goto done;
        }
        if ((int64_t)live != hlen) {
            snprintf(why, why_len, "shard %u: log has %zu entries, hash %lld",
                     shard, live, (long long)hlen);
            rv = 1;
            goto done;
        }
        /* Compacted by a rebuild once mostly superseded records. */
        if (rd.records > 2 * live + REVLOG_SLACK ||
            (len > REVLOG_COMPACT_BYTES && rd.records > live + REVLOG_SLACK)) {
            snprintf(why, why_len, "shard %u: compacting %zu records", shard,
                     rd.records);
            rv = 1;
            goto done;
        }
        t.n = 0;
        continue;

    drain:
        /* Pieces still asked for are read and thrown away. */
        if (ocsp_rconn_skip(conn, (size_t)inflight) < 0) {
            snprintf(err, OCSP_ERR_MAX, "revoked log: %s", conn->err);
            rv = -1;
        }
        goto done;
    }
    rv = 0;

done:
    revlog_worker_stop(&w);
    crl_entries_free(&mine);
    crl_entries_free(&t);
    return rv;
}
