#include "crl_revlog.h"

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

/* Replays every whole record of one piece of the log; a record cut at the
 * end waits in carry for the next piece.  0, or -1 if invalid. */
static int revlog_piece(revlog_reader_t *rd, const unsigned char *p, size_t n)
{
    ocsp_revlog_rec_t r;
    long used;

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
        if (revlog_replay(rd->conf, rd->now, rd->shard, &r, rd->t) != 0) {
            return -1;
        }
        rd->records++;
        rd->carried = 0;
        p += (size_t)used - old;
        n -= (size_t)used - old;
    }
    while (n > 0) {
        used = ocsp_revlog_next(p, n, &r);
        if (used < 0) {
            return -1;
        }
        if (used == 0) {
            memcpy(rd->carry, p, n);
            rd->carried = n;
            return 0;
        }
        if (revlog_replay(rd->conf, rd->now, rd->shard, &r, rd->t) != 0) {
            return -1;
        }
        rd->records++;
        p += used;
        n -= (size_t)used;
    }
    return 0;
}

long crl_revlog_replay(const crl_issuer_conf_t *crl_issuer, int64_t now,
                       unsigned shard, const unsigned char *p, size_t len,
                       size_t piece, crl_entries_t *t)
{
    revlog_reader_t rd;

    memset(&rd, 0, sizeof(rd));
    rd.conf = crl_issuer;
    rd.now = now;
    rd.shard = shard;
    rd.t = t;
    for (size_t off = 0; off < len; off += piece) {
        if (revlog_piece(&rd, p + off, len - off < piece ? len - off : piece) !=
            0) {
            return -1;
        }
    }
    return rd.carried == 0 ? (long)rd.records : -1;
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
    crl_entries_t t = {0};
    int rv = -1;

    memset(st, 0, sizeof(*st));
    if (conn->c == NULL &&
        ocsp_rconn_ensure(conn, NULL, ocsp_now_ms() + 5000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "redis: %s", conn->err);
        return -1;
    }
    for (unsigned shard = 0; shard < crl_issuer->nshards; shard++) {
        revlog_reader_t rd;
        crl_revlog_mark_t m;
        uint64_t gen = 0, gen2 = 0;
        int64_t len, hlen, at, asked;
        int have2, inflight = 0;
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
            if (revlog_piece(&rd, (const unsigned char *)r->str, r->len) != 0) {
                freeReplyObject(r);
                snprintf(why, why_len, "shard %u: invalid record", shard);
                rv = 1;
                goto drain;
            }
            freeReplyObject(r);
            if (rd.records > 2 * (size_t)hlen + REVLOG_SLACK) {
                /* mostly superseded: stop before it costs memory */
                snprintf(why, why_len, "shard %u: compacting, over %zu records",
                         shard, rd.records);
                rv = 1;
                goto drain;
            }
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
    crl_entries_free(&t);
    return rv;
}
