#include "rebuild.h"

#include <stdlib.h>
#include <string.h>

#include "audit_chain.h"
#include "audit_checkpoint.h"
#include "audit_segment.h"
#include "keys.h"
#include "log.h"
#include "signer.h"
#include "signer_batch.h"
#include "signer_read.h"
#include "signer_tx.h"

/* Entries asked of the stream per XRANGE. */
#define REBUILD_PAGE 1000
#define REBUILD_PAGE_S "1000"
/* Certificates per transaction: larger than a signer's default batch (a
 * rebuild has no CA hook waiting on it), well within SIGNER_BATCH_MAX. */
#define REBUILD_BATCH 1024
/* A member of the signer group that read this recently is running. */
#define REBUILD_SIGNER_IDLE_MS 5000

/* --- the stream source -------------------------------------------------- */

typedef struct {
    ocsp_rebuild_source_t base;
    ocsp_rconn_t *conn; /* borrowed */
    char key[OCSP_KEY_MAX];
    char start[OCSP_STREAM_ID_MAX + 1]; /* "-", an id, or "(" and an id */
    redisReply *page;                   /* owned */
    size_t at;
    int last_page;
} stream_source_t;

static int stream_next(ocsp_rebuild_source_t *src, const char **id,
                       const unsigned char **p, size_t *len)
{
    stream_source_t *ss = (stream_source_t *)src;
    const redisReply *e, *f;
    size_t k;

    if (ss->page == NULL || ss->at == ss->page->elements) {
        const char *argv[] = {"XRANGE", ss->key, ss->start,
                              "+",      "COUNT", REBUILD_PAGE_S};
        if (ss->page != NULL) {
            freeReplyObject(ss->page);
            ss->page = NULL;
        }
        if (ss->last_page) {
            return 0;
        }
        ss->page = ocsp_rconn_cmd(ss->conn, 6, argv, NULL);
        if (ss->page == NULL || ss->page->type != REDIS_REPLY_ARRAY) {
            snprintf(src->err, sizeof(src->err), "XRANGE %s: %.200s", ss->key,
                     ss->page == NULL                      ? ss->conn->err
                     : ss->page->type == REDIS_REPLY_ERROR ? ss->page->str
                                                           : "not an array");
            return -1;
        }
        ss->at = 0;
        ss->last_page = ss->page->elements < REBUILD_PAGE;
        if (ss->page->elements == 0) {
            return 0;
        }
    }
    e = ss->page->element[ss->at++];
    if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len + 2 > sizeof(ss->start)) {
        snprintf(src->err, sizeof(src->err), "XRANGE %s: not a stream entry",
                 ss->key);
        return -1;
    }
    /* The next page starts after this entry (exclusive, Redis 6.2). */
    snprintf(ss->start, sizeof(ss->start), "(%s", e->element[0]->str);
    *id = e->element[0]->str;
    *p = NULL;
    *len = 0;
    f = e->element[1];
    for (k = 0; f->type == REDIS_REPLY_ARRAY && k + 1 < f->elements; k += 2) {
        if (f->element[k]->type == REDIS_REPLY_STRING &&
            strcmp(f->element[k]->str, OCSP_STREAM_FIELD) == 0 &&
            f->element[k + 1]->type == REDIS_REPLY_STRING) {
            static const unsigned char empty[1];
            *p = f->element[k + 1]->len > 0
                     ? (const unsigned char *)f->element[k + 1]->str
                     : empty;
            *len = f->element[k + 1]->len;
            break;
        }
    }
    if (*p == NULL) {
        static const unsigned char none[1];
        *p = none; /* an entry without an event: refused, as by a signer */
    }
    return 1;
}

static void stream_close(ocsp_rebuild_source_t *src)
{
    stream_source_t *ss = (stream_source_t *)src;

    if (ss->page != NULL) {
        freeReplyObject(ss->page);
    }
    free(ss);
}

ocsp_rebuild_source_t *ocsp_rebuild_stream_open(ocsp_rconn_t *conn,
                                                const char *events_key,
                                                const char *from)
{
    stream_source_t *ss = calloc(1, sizeof(*ss));

    if (ss == NULL) {
        return NULL;
    }
    ss->base.name = "stream";
    ss->base.next = stream_next;
    ss->base.close = stream_close;
    ss->conn = conn;
    snprintf(ss->key, sizeof(ss->key), "%s", events_key);
    snprintf(ss->start, sizeof(ss->start), "%s", from != NULL ? from : "-");
    return &ss->base;
}

/* --- the archive source ------------------------------------------------- */

/* The segments of audit.archive_dir in stream order, each read whole and
 * checked by the one segment reader (audit_segment.h: every link
 * recomputed, ids increasing, the trailer's checkpoint of the last
 * record); the checkpoints' signatures are `revoca audit verify`'s. */
typedef struct {
    ocsp_rebuild_source_t base;
    char dir[4096];
    char from[OCSP_STREAM_ID_MAX]; /* "": from the first */
    char **names;                  /* owned */
    long nnames, next_name;
    ocsp_audit_seg_t seg;
    int open;
    char id[OCSP_AUDIT_ID_MAX + 1];
} archive_source_t;

static int archive_next(ocsp_rebuild_source_t *src, const char **id,
                        const unsigned char **p, size_t *len)
{
    archive_source_t *as = (archive_source_t *)src;
    ocsp_audit_seg_rec_t rec;
    char path[4096 + OCSP_AUDIT_SEG_NAME_MAX + 1];
    int rc;

    for (;;) {
        if (!as->open) {
            if (as->next_name == as->nnames) {
                return 0;
            }
            snprintf(path, sizeof(path), "%s/%s", as->dir,
                     as->names[as->next_name++]);
            if (ocsp_audit_seg_open_file(&as->seg, path) != 0) {
                snprintf(src->err, sizeof(src->err), "%.150s: %.200s", path,
                         as->seg.err);
                ocsp_audit_seg_close(&as->seg);
                return -1;
            }
            as->open = 1;
        }
        rc = ocsp_audit_seg_next(&as->seg, &rec);
        if (rc < 0) {
            snprintf(src->err, sizeof(src->err), "%.150s/%.64s: %.200s",
                     as->dir, as->names[as->next_name - 1], as->seg.err);
            return -1;
        }
        if (rc == 0) {
            ocsp_audit_seg_close(&as->seg);
            as->open = 0;
            continue;
        }
        if (rec.idlen >= sizeof(as->id)) {
            snprintf(src->err, sizeof(src->err), "%.200s: an id too long",
                     as->dir);
            return -1;
        }
        memcpy(as->id, rec.id, rec.idlen);
        as->id[rec.idlen] = '\0';
        if (as->from[0] != '\0' && ocsp_audit_id_cmp(as->id, as->from) < 0) {
            continue;
        }
        *id = as->id;
        *p = rec.field;
        *len = rec.flen;
        if (*p == NULL) {
            static const unsigned char none[1];
            *p = none; /* an entry without an event: refused, as by a signer */
        }
        return 1;
    }
}

static void archive_close(ocsp_rebuild_source_t *src)
{
    archive_source_t *as = (archive_source_t *)src;

    if (as->open) {
        ocsp_audit_seg_close(&as->seg);
    }
    ocsp_audit_seg_list_free(as->names, as->nnames);
    free(as);
}

ocsp_rebuild_source_t *ocsp_rebuild_archive_open(const char *dir,
                                                 const char *from, char *err)
{
    archive_source_t *as = calloc(1, sizeof(*as));

    if (as == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return NULL;
    }
    as->base.name = "archive";
    as->base.next = archive_next;
    as->base.close = archive_close;
    snprintf(as->dir, sizeof(as->dir), "%s", dir);
    snprintf(as->from, sizeof(as->from), "%s", from != NULL ? from : "");
    as->nnames = ocsp_audit_seg_list(dir, &as->names, err);
    if (as->nnames < 0) {
        as->nnames = 0;
        archive_close(&as->base);
        return NULL;
    }
    return &as->base;
}

/* --- the rebuild -----------------------------------------------------------
 */

typedef struct {
    const ocsp_rebuild_opts_t *o;
    signer_t *s; /* owned */
    const ocsp_issuer_t *iss;
    signer_batch_t *b; /* owned */
    ocsp_rebuild_stats_t *st;
    uint64_t failed; /* certificates not written */
    long t0_ms, progress_at_ms;
    char last[OCSP_STREAM_ID_MAX]; /* the last entry read, of any source */
    char *err;
} rebuild_t;

/* PATTERN escaped for SCAN MATCH: the prefix is configurable and may hold
 * glob characters; issuer names cannot. */
static void glob_escape(char *out, size_t size, const char *in)
{
    size_t n = 0;

    for (; *in && n + 3 < size; in++) {
        if (strchr("*?[]\\", *in) != NULL) {
            out[n++] = '\\';
        }
        out[n++] = *in;
    }
    out[n] = '\0';
}

/*
 * Walks the keys matching PREFIX:KIND:ISSUER:* (SCAN); with DEL, deletes
 * them (*found counts them), else stops at the first (*found 1, its name
 * in first).  0, or -1 with rb->err set.
 */
static int scan_keys(rebuild_t *rb, const char *kind, int del, uint64_t *found,
                     char *first)
{
    ocsp_rconn_t *conn = &rb->s->read_conn;
    char pattern[3 * OCSP_KEY_MAX], prefix[2 * OCSP_KEY_MAX];
    char cursor[32] = "0";

    glob_escape(prefix, sizeof(prefix), rb->s->cf->prefix);
    snprintf(pattern, sizeof(pattern), "%s:%s:%s:*", prefix, kind,
             rb->iss->conf->name);
    *found = 0;
    do {
        const char *argv[] = {"SCAN",  cursor,  "MATCH",
                              pattern, "COUNT", "1000"};
        redisReply *r = ocsp_rconn_cmd(conn, 6, argv, NULL);
        const redisReply *keys;
        size_t i;

        if (r == NULL || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
            r->element[0]->type != REDIS_REPLY_STRING ||
            r->element[0]->len >= sizeof(cursor) ||
            r->element[1]->type != REDIS_REPLY_ARRAY) {
            snprintf(rb->err, OCSP_ERR_MAX, "SCAN: %.200s",
                     r == NULL                      ? conn->err
                     : r->type == REDIS_REPLY_ERROR ? r->str
                                                    : "unexpected reply");
            if (r != NULL) {
                freeReplyObject(r);
            }
            return -1;
        }
        memcpy(cursor, r->element[0]->str, r->element[0]->len + 1);
        keys = r->element[1];
        if (!del && keys->elements > 0) {
            snprintf(first, OCSP_KEY_MAX, "%.*s", (int)keys->element[0]->len,
                     keys->element[0]->str);
            *found = 1;
            freeReplyObject(r);
            return 0;
        }
        for (i = 0; i < keys->elements; i++) {
            const char *d[] = {"DEL", keys->element[i]->str};
            if (keys->element[i]->type != REDIS_REPLY_STRING ||
                ocsp_rconn_append(conn, 2, d, NULL) != 0) {
                break;
            }
        }
        for (; i > 0; i--) {
            redisReply *dr = ocsp_rconn_reply(conn);
            if (dr == NULL || dr->type == REDIS_REPLY_ERROR) {
                snprintf(rb->err, OCSP_ERR_MAX, "DEL: %.200s",
                         dr == NULL ? conn->err : dr->str);
                if (dr != NULL) {
                    freeReplyObject(dr);
                }
                freeReplyObject(r);
                return -1;
            }
            *found += (uint64_t)dr->integer;
            freeReplyObject(dr);
        }
        freeReplyObject(r);
    } while (strcmp(cursor, "0") != 0);
    return 0;
}

/* The name of a member of the signer group that read the stream within
 * REBUILD_SIGNER_IDLE_MS, into name (OCSP_KEY_MAX; "" if none).  0, or -1
 * with rb->err set. */
static int active_signer(rebuild_t *rb, char *name)
{
    const char *argv[] = {"XINFO", "CONSUMERS", rb->s->events_key,
                          SIGNER_GROUP};
    redisReply *r = ocsp_rconn_cmd(&rb->s->read_conn, 4, argv, NULL);
    size_t i, k;

    name[0] = '\0';
    if (r == NULL) {
        snprintf(rb->err, OCSP_ERR_MAX, "XINFO CONSUMERS: %.200s",
                 rb->s->read_conn.err);
        return -1;
    }
    /* No stream or no group yet: no signer either.  Any other error (a
     * NOPERM) is a failure, never taken for "none running". */
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) != 0 &&
        strcmp(r->str, "ERR no such key") != 0) {
        snprintf(rb->err, OCSP_ERR_MAX, "XINFO CONSUMERS: %.200s", r->str);
        freeReplyObject(r);
        return -1;
    }
    for (i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++) {
        const redisReply *c = r->element[i];
        const char *who = NULL;
        long long idle = -1;

        for (k = 0; c->type == REDIS_REPLY_ARRAY && k + 1 < c->elements;
             k += 2) {
            const redisReply *f = c->element[k], *v = c->element[k + 1];
            if (f->type != REDIS_REPLY_STRING) {
                continue;
            }
            if (strcmp(f->str, "name") == 0 && v->type == REDIS_REPLY_STRING) {
                who = v->str;
            } else if (strcmp(f->str, "idle") == 0 &&
                       v->type == REDIS_REPLY_INTEGER) {
                idle = v->integer;
            }
        }
        if (who != NULL && idle >= 0 && idle < REBUILD_SIGNER_IDLE_MS) {
            snprintf(name, OCSP_KEY_MAX, "%s", who);
            break;
        }
    }
    freeReplyObject(r);
    return 0;
}

/* OCSP_REBUILD_REFUSED (err says why) when the issuer has records, a
 * re-sign schedule, or a signer runs; 0 when none; -1 on failure. */
static int check_live(rebuild_t *rb)
{
    char key[OCSP_KEY_MAX], due_key[OCSP_KEY_MAX], who[OCSP_KEY_MAX];
    const char *zcard[] = {"ZCARD", due_key};
    uint64_t found;
    redisReply *r;
    long long due;

    if (active_signer(rb, who) != 0) {
        return -1;
    }
    if (who[0] != '\0') {
        snprintf(rb->err, OCSP_ERR_MAX,
                 "signer \"%s\" is consuming the stream: stop the signers "
                 "before a rebuild (or --force)",
                 who);
        return OCSP_REBUILD_REFUSED;
    }
    ocsp_key_due(due_key, rb->s->cf->prefix, rb->iss->conf->name);
    r = ocsp_rconn_cmd(&rb->s->read_conn, 2, zcard, NULL);
    if (r == NULL || r->type != REDIS_REPLY_INTEGER) {
        snprintf(rb->err, OCSP_ERR_MAX, "ZCARD %s: %.200s", due_key,
                 r == NULL                      ? rb->s->read_conn.err
                 : r->type == REDIS_REPLY_ERROR ? r->str
                                                : "not an integer");
        if (r != NULL) {
            freeReplyObject(r);
        }
        return -1;
    }
    due = r->integer;
    freeReplyObject(r);
    if (due > 0) {
        snprintf(rb->err, OCSP_ERR_MAX,
                 "issuer %s has live data (%lld responses scheduled in %s): "
                 "rebuilding over it needs --force",
                 rb->iss->conf->name, due, due_key);
        return OCSP_REBUILD_REFUSED;
    }
    if (scan_keys(rb, "cert", 0, &found, key) != 0) {
        return -1;
    }
    if (found) {
        snprintf(rb->err, OCSP_ERR_MAX,
                 "issuer %s has live data (record %s): rebuilding over it "
                 "needs --force",
                 rb->iss->conf->name, key);
        return OCSP_REBUILD_REFUSED;
    }
    return 0;
}

static void progress(rebuild_t *rb, const char *what)
{
    const ocsp_rebuild_stats_t *st = rb->st;
    double s = (double)(ocsp_now_ms() - rb->t0_ms) / 1000.0;

    if (rb->o->progress == NULL) {
        return;
    }
    fprintf(rb->o->progress,
            "rebuild %s issuer=%s entries=%llu events=%llu rate=%.0f/s "
            "last=%s\n",
            what, rb->iss->conf->name, (unsigned long long)st->entries,
            (unsigned long long)st->events,
            s > 0 ? (double)st->entries / s : 0.0,
            st->last_id[0] ? st->last_id : "-");
    fflush(rb->o->progress);
}

/* The batch in hand, applied and committed.  0, OCSP_REBUILD_STOPPED, or
 * -1 with rb->err set. */
static int commit(rebuild_t *rb)
{
    signer_batch_t *b = rb->b;
    size_t i;
    int rv = 0;

    if (b->nentries == 0) {
        return 0;
    }
    b->conn = &rb->s->tx_conn[0];
    if (b->nitems > 0) {
        rv = signer_tx_commit(rb->s, b);
        if (rv < 0) {
            snprintf(rb->err, OCSP_ERR_MAX,
                     "transaction failed: %.200s (what was committed "
                     "stays: run again with --force --from %s)",
                     b->conn->err, rb->st->last_id[0] ? rb->st->last_id : "-");
            return -1;
        }
        if (rv == 1) {
            signer_batch_reset(b);
            return OCSP_REBUILD_STOPPED;
        }
    }
    for (i = 0; i < b->nentries; i++) {
        if (b->entries[i].ev != NULL) {
            rb->st->events++;
        } else {
            rb->st->refused++;
        }
    }
    for (i = 0; i < b->nitems; i++) {
        if (b->items[i].bad || b->items[i].failed) {
            rb->failed++;
        }
    }
    rb->st->items += b->nitems;
    rb->st->batches++;
    snprintf(rb->st->last_id, sizeof(rb->st->last_id), "%s",
             b->entries[b->nentries - 1].id);
    signer_batch_reset(b);
    if (rb->o->progress_ms > 0 && ocsp_now_ms() >= rb->progress_at_ms) {
        rb->progress_at_ms = ocsp_now_ms() + rb->o->progress_ms;
        progress(rb, "progress");
    }
    return 0;
}

/* Every entry of SRC into batches.  As commit(). */
static int replay(rebuild_t *rb, ocsp_rebuild_source_t *src, volatile int *stop)
{
    const char *id;
    const unsigned char *p;
    size_t len;
    int r, rv;

    while ((r = src->next(src, &id, &p, &len)) == 1) {
        /* An entry archived and not trimmed yet (a consumer group still
         * needed it) is in both sources: applied once. */
        if (rb->last[0] != '\0' && ocsp_audit_id_cmp(id, rb->last) <= 0) {
            continue;
        }
        snprintf(rb->last, sizeof(rb->last), "%s", id);
        rb->st->entries++;
        /* Forced: written again even where the record reflects the
         * event, as a signer redoes a redelivered one (signer_batch.h). */
        if (signer_batch_event(rb->s, rb->b, id, strlen(id), p, len,
                               rb->o->force, rb->iss) < 0) {
            snprintf(rb->err, OCSP_ERR_MAX, "%s: entry %.60s not taken",
                     src->name, id);
            return -1;
        }
        if (rb->b->nentries >= REBUILD_BATCH ||
            rb->b->nitems >= REBUILD_BATCH) {
            if ((rv = commit(rb)) != 0) {
                return rv;
            }
            if (*stop) {
                return OCSP_REBUILD_STOPPED;
            }
        }
    }
    if (r < 0) {
        snprintf(rb->err, OCSP_ERR_MAX, "%s: %.400s", src->name, src->err);
        return -1;
    }
    return commit(rb);
}

int ocsp_rebuild_run(const ocsp_config_t *cf, const ocsp_rebuild_opts_t *o,
                     volatile int *stop, ocsp_rebuild_stats_t *st, char *err)
{
    static volatile int never;
    rebuild_t rb;
    ocsp_rebuild_source_t *sources[2] = {NULL, NULL};
    audit_conf_t ac;
    size_t nsources = 0, i;
    int rv = OCSP_REBUILD_FAILED;
    uint64_t signed0;

    memset(st, 0, sizeof(*st));
    memset(&rb, 0, sizeof(rb));
    rb.o = o;
    rb.st = st;
    rb.err = err;
    err[0] = '\0';
    if (stop == NULL) {
        stop = &never;
    }
    rb.s = calloc(1, sizeof(*rb.s));
    rb.b = calloc(1, sizeof(*rb.b));
    if (rb.s == NULL || rb.b == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto done;
    }
    if (signer_init(rb.s, cf, stop) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s", rb.s->err);
        goto done;
    }
    rb.iss = ocsp_registry_by_name(&rb.s->reg, o->issuer);
    if (rb.iss == NULL) {
        snprintf(err, OCSP_ERR_MAX, "unknown issuer \"%.64s\"", o->issuer);
        goto done;
    }
    rb.s->read_conn.quiet = 1;
    rb.s->tx_conn[0].quiet = 1;
    if (ocsp_rconn_ensure(&rb.s->read_conn, stop, ocsp_now_ms() + 3000) != 0 ||
        ocsp_rconn_ensure(&rb.s->tx_conn[0], stop, ocsp_now_ms() + 3000) != 0) {
        snprintf(err, OCSP_ERR_MAX, "%s",
                 rb.s->read_conn.err[0] ? rb.s->read_conn.err
                                        : rb.s->tx_conn[0].err);
        goto done;
    }
    if (!o->force) {
        int live = check_live(&rb);
        if (live != 0) {
            rv = live < 0 ? OCSP_REBUILD_FAILED : OCSP_REBUILD_REFUSED;
            goto done;
        }
    } else if (o->from == NULL) {
        /* The events replayed are all of them: their entries would
         * otherwise be listed twice (or crowd out the last ones). */
        char unused[OCSP_KEY_MAX];
        if (scan_keys(&rb, "history", 1, &st->history_cleared, unused) != 0) {
            goto done;
        }
    }
    /* The archive (audit.archive_dir: the entries revoca-audit trimmed
     * from the stream) first, then the stream. */
    if (audit_conf_read(cf, &ac, err) != 0) {
        goto done;
    }
    if (ac.archive_dir != NULL) {
        sources[nsources] =
            ocsp_rebuild_archive_open(ac.archive_dir, o->from, err);
        if (sources[nsources] == NULL) {
            goto done;
        }
        nsources++;
    }
    sources[nsources] =
        ocsp_rebuild_stream_open(&rb.s->read_conn, rb.s->events_key, o->from);
    if (sources[nsources] == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        goto done;
    }
    nsources++;
    rb.t0_ms = ocsp_now_ms();
    rb.progress_at_ms = rb.t0_ms + o->progress_ms;
    signed0 = rb.s->signed_responses;
    rv = OCSP_REBUILD_DONE;
    for (i = 0; i < nsources && rv == OCSP_REBUILD_DONE; i++) {
        rv = replay(&rb, sources[i], stop);
    }
    st->signatures = rb.s->signed_responses - signed0;
    st->seconds = (double)(ocsp_now_ms() - rb.t0_ms) / 1000.0;
    if (rv < 0) {
        rv = OCSP_REBUILD_FAILED;
    }
    /* Revoked logs an append to which failed: deleted, so that the CRL
     * generator rebuilds them (as a signer does). */
    if ((rb.s->ndrops > 0 || rb.s->drop_all) &&
        signer_tx_drop_logs(rb.s) != 0 && rv == OCSP_REBUILD_DONE) {
        snprintf(err, OCSP_ERR_MAX, "revoked log not dropped: %.200s",
                 rb.s->read_conn.err);
        rv = OCSP_REBUILD_FAILED;
    }
    if (rv == OCSP_REBUILD_DONE && rb.failed > 0) {
        snprintf(err, OCSP_ERR_MAX,
                 "%llu certificates not written (logged above): run again "
                 "with --force",
                 (unsigned long long)rb.failed);
        rv = OCSP_REBUILD_FAILED;
    }

done:
    for (i = 0; i < nsources; i++) {
        sources[i]->close(sources[i]);
    }
    if (rb.b != NULL) {
        signer_batch_reset(rb.b);
        free(rb.b);
    }
    if (rb.s != NULL) {
        signer_free(rb.s);
        free(rb.s);
    }
    return rv;
}
