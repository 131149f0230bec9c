/* revoca-audit's archiver: see audit_archive.h and docs/audit.md. */
#include "audit_archive.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "audit_follow.h"
#include "audit_segment.h"
#include "hook.h"
#include "log.h"
#include "publish.h"

/* Entries read per XRANGE while building a segment. */
#define PAGE 1000
/* Segments written per pass, so that chaining is not held up for long. */
#define PASS_SEGMENTS 8
/* Covered checkpoints deleted per commit (the rest at the next one). */
#define CP_DEL_MAX 1000

int audit_archive_init(audit_follow_t *a)
{
    audit_archive_t *ar = &a->ar;
    struct stat st;

    ar->on = a->conf.archive_dir != NULL;
    if (ocsp_audit_key_archive(ar->key, a->cf->prefix) < 0) {
        snprintf(a->err, sizeof(a->err), "%s: prefix too long", a->cf->path);
        return -1;
    }
    if (!ar->on) {
        return 0;
    }
    if (stat(a->conf.archive_dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        access(a->conf.archive_dir, W_OK | X_OK) != 0) {
        snprintf(a->err, sizeof(a->err),
                 "%s: audit.archive_dir %s: not a writable directory",
                 a->cf->path, a->conf.archive_dir);
        return -1;
    }
    return 0;
}

static void stop_archiving(audit_follow_t *a, const char *why, const char *id)
{
    a->ar.stopped = 1;
    ocsp_log(OCSP_LOG_ERR,
             "audit archive entry=%s error=\"%s\" action=\"archiving and "
             "trimming stopped; run revoca audit verify\"",
             id, why);
}

/* The id just after ID (XTRIM MINID keeps it and what follows). */
static void id_next(const char *id, char *out)
{
    uint64_t ms = strtoull(id, NULL, 10);
    uint64_t seq = strtoull(strchr(id, '-') + 1, NULL, 10);

    if (seq == UINT64_MAX) {
        ms++;
        seq = 0;
    } else {
        seq++;
    }
    snprintf(out, OCSP_AUDIT_ID_MAX + 1, "%" PRIu64 "-%" PRIu64, ms, seq);
}

static const redisReply *map_get(const redisReply *m, const char *name)
{
    for (size_t k = 0; m->type == REDIS_REPLY_ARRAY && k + 1 < m->elements;
         k += 2) {
        if (m->element[k]->type == REDIS_REPLY_STRING &&
            strcmp(m->element[k]->str, name) == 0) {
            return m->element[k + 1];
        }
    }
    return NULL;
}

/*
 * Lowers MINID (an id) to what no consumer group still needs: the oldest
 * entry pending in a group (delivered, not acknowledged), or the one after
 * its last delivered.  0, 1 when the stream does not exist, -1 on a
 * connection failure.
 */
static int group_bound(audit_follow_t *a, char *minid)
{
    const char *argv[] = {"XINFO", "GROUPS", a->events_key};
    redisReply *r = ocsp_rconn_cmd(&a->conn, 3, argv, NULL);
    int rc = -1;

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "no such key")) {
        freeReplyObject(r);
        return 1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        ocsp_rconn_fail_reply(&a->conn, "XINFO GROUPS", r);
        goto done;
    }
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *name = map_get(r->element[i], "name");
        const redisReply *pend = map_get(r->element[i], "pending");
        const redisReply *last = map_get(r->element[i], "last-delivered-id");
        char cand[OCSP_AUDIT_ID_MAX + 1];

        if (name == NULL || name->type != REDIS_REPLY_STRING || pend == NULL ||
            pend->type != REDIS_REPLY_INTEGER || last == NULL ||
            last->type != REDIS_REPLY_STRING ||
            ocsp_audit_id_check(last->str, last->len) != 0) {
            ocsp_rconn_fail(&a->conn, "XINFO GROUPS: unexpected reply");
            goto done;
        }
        id_next(last->str, cand);
        if (pend->integer > 0) {
            const char *pargv[] = {"XPENDING", a->events_key, name->str};
            redisReply *p = ocsp_rconn_cmd(&a->conn, 3, pargv, NULL);

            if (p == NULL) {
                goto done;
            }
            if (p->type != REDIS_REPLY_ARRAY || p->elements != 4 ||
                p->element[1]->type != REDIS_REPLY_STRING ||
                ocsp_audit_id_check(p->element[1]->str, p->element[1]->len) !=
                    0) {
                /* acknowledged since XINFO: its last delivered bounds it */
                if (p->type != REDIS_REPLY_ARRAY) {
                    ocsp_rconn_fail_reply(&a->conn, "XPENDING", p);
                    freeReplyObject(p);
                    goto done;
                }
            } else if (ocsp_audit_id_cmp(p->element[1]->str, cand) < 0) {
                snprintf(cand, sizeof(cand), "%s", p->element[1]->str);
            }
            freeReplyObject(p);
        }
        if (ocsp_audit_id_cmp(cand, minid) < 0) {
            memcpy(minid, cand, sizeof(cand));
        }
    }
    rc = 0;
done:
    freeReplyObject(r);
    return rc;
}

/* Ids of the checkpoints (oldest first) covered by the archive, up to
 * CP_DEL_MAX, copied into ids[]: their number, or -1. */
static int covered_checkpoints(audit_follow_t *a, const char *upto,
                               char (*ids)[OCSP_AUDIT_ID_MAX + 1])
{
    const char *argv[] = {"XRANGE", a->cp_key, "-", "+", "COUNT", "1000"};
    redisReply *r = ocsp_rconn_cmd(&a->conn, 6, argv, NULL);
    int n = 0;

    if (r == NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        ocsp_rconn_fail_reply(&a->conn, "XRANGE", r);
        freeReplyObject(r);
        return -1;
    }
    for (size_t i = 0; i < r->elements && n < CP_DEL_MAX; i++) {
        const redisReply *e = r->element[i], *c;
        ocsp_audit_checkpoint_t cp;

        if (e->type != REDIS_REPLY_ARRAY || e->elements != 2 ||
            e->element[0]->type != REDIS_REPLY_STRING ||
            e->element[0]->len > OCSP_AUDIT_ID_MAX) {
            break;
        }
        c = map_get(e->element[1], "c");
        if (c == NULL || c->type != REDIS_REPLY_STRING ||
            ocsp_audit_checkpoint_decode(c->str, c->len, &cp) != 0 ||
            ocsp_audit_id_cmp(cp.last_id, upto) > 0) {
            break; /* a checkpoint not (wholly) archived yet, or not one */
        }
        memcpy(ids[n], e->element[0]->str, e->element[0]->len);
        ids[n][e->element[0]->len] = '\0';
        n++;
    }
    freeReplyObject(r);
    return n;
}

/*
 * The segment S (read whole, positioned after its header) is durable: one
 * MULTI/EXEC records it in <prefix>:audit:archive, removes the chain
 * records it now holds (all but its last entry's, the link the stream
 * goes on from, and the previous segment's last), the checkpoints it
 * covers (it carries its own), and trims the stream.  0, -1 on a
 * connection failure.
 */
static int commit(audit_follow_t *a, ocsp_audit_seg_t *s)
{
    audit_archive_t *ar = &a->ar;
    const char **hargv = NULL;
    size_t *hlen = NULL, nh = 2;
    char(*cps)[OCSP_AUDIT_ID_MAX + 1] = NULL;
    char headbuf[OCSP_AUDIT_HEAD_MAX + 1], minid[OCSP_AUDIT_ID_MAX + 1];
    ocsp_audit_seg_rec_t rec;
    redisReply *er = NULL;
    int ncp = 0, hl, rc = -1, got, bound;

    /* a record takes at least 1 + 4 + 3 + 4 + 32 bytes */
    size_t most = 3 + s->len / 44;

    hargv = calloc(most, sizeof(*hargv));
    hlen = calloc(most, sizeof(*hlen));
    cps = calloc(CP_DEL_MAX + 2, sizeof(*cps));
    if (hargv == NULL || hlen == NULL || cps == NULL) {
        ocsp_rconn_fail(&a->conn, "out of memory");
        goto done;
    }
    hargv[0] = "HDEL";
    hargv[1] = a->chain_key;
    hlen[0] = 4;
    hlen[1] = strlen(a->chain_key);
    if (strcmp(s->prev_id, "0-0") != 0) {
        hargv[nh] = s->prev_id;
        hlen[nh++] = strlen(s->prev_id);
    }
    while ((got = ocsp_audit_seg_next(s, &rec)) == 1 && nh < most) {
        hargv[nh] = rec.id;
        hlen[nh++] = rec.idlen;
    }
    nh--; /* the last entry's record stays: the stream goes on from it */
    if (got != 0) {
        stop_archiving(a, s->err, s->prev_id);
        rc = 0;
        goto done;
    }
    hl =
        ocsp_audit_head_encode(s->cp.count, s->cp.last_id, s->cp.head, headbuf);
    id_next(s->cp.last_id, minid);
    bound = group_bound(a, minid);
    if (hl < 0 || bound < 0 ||
        (ncp = covered_checkpoints(a, s->cp.last_id, cps)) < 0) {
        goto done;
    }
    {
        const char *m[] = {"MULTI"}, *x[] = {"EXEC"};
        const char *sv[] = {"SET", ar->key, headbuf};
        const char *tv[] = {"XTRIM", a->events_key, "MINID", minid};
        const char *dv[2 + CP_DEL_MAX];
        size_t queued = 2;

        dv[0] = "XDEL";
        dv[1] = a->cp_key;
        for (int i = 0; i < ncp; i++) {
            dv[2 + i] = cps[i];
        }
        if (ocsp_rconn_append(&a->conn, 1, m, NULL) != 0 ||
            ocsp_rconn_append(&a->conn, 3, sv, NULL) != 0 ||
            (nh > 2 && nh < most &&
             (queued++, ocsp_rconn_append(&a->conn, (int)nh, hargv, hlen)) !=
                 0) ||
            (ncp > 0 &&
             (queued++, ocsp_rconn_append(&a->conn, 2 + ncp, dv, NULL)) != 0) ||
            (bound == 0 &&
             (queued++, ocsp_rconn_append(&a->conn, 4, tv, NULL)) != 0) ||
            ocsp_rconn_append(&a->conn, 1, x, NULL) != 0 ||
            ocsp_rconn_skip(&a->conn, queued) != 0) {
            goto done;
        }
        er = ocsp_rconn_reply(&a->conn);
        if (er == NULL) {
            goto done;
        }
        if (er->type != REDIS_REPLY_ARRAY || er->elements != queued - 1) {
            ocsp_rconn_fail_reply(&a->conn, "EXEC", er);
            goto done;
        }
        for (size_t i = 0; i < er->elements; i++) {
            if (er->element[i]->type == REDIS_REPLY_ERROR) {
                ocsp_rconn_fail_reply(&a->conn, "EXEC", er->element[i]);
                goto done;
            }
        }
    }
    /* from here on the archive covers it */
    ar->count = s->cp.count;
    memcpy(ar->last_id, s->cp.last_id, sizeof(ar->last_id));
    memcpy(ar->link, s->cp.head, sizeof(ar->link));
    ocsp_log(OCSP_LOG_INFO,
             "audit archived first=%s last=%s count=%llu trimmed_below=%s "
             "checkpoints_removed=%d",
             s->first_id, ar->last_id, (unsigned long long)ar->count,
             bound == 0 ? minid : "none", ncp);
    rc = 0;
done:
    if (rc != 0) {
        /* not recorded: the next resume reads the segment again */
        ar->resumed = 0;
    }
    freeReplyObject(er);
    free(hargv);
    free(hlen);
    free(cps);
    return rc;
}

/* Only a trim, when the groups have moved on since the last commit. */
static int trim(audit_follow_t *a)
{
    char minid[OCSP_AUDIT_ID_MAX + 1];
    const char *tv[] = {"XTRIM", a->events_key, "MINID", minid};
    redisReply *r;
    int b;

    if (strcmp(a->ar.last_id, "0-0") == 0) {
        return 0;
    }
    id_next(a->ar.last_id, minid);
    b = group_bound(a, minid);
    if (b != 0) {
        return b < 0 ? -1 : 0;
    }
    r = ocsp_rconn_cmd(&a->conn, 4, tv, NULL);
    if (r == NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_INTEGER) {
        ocsp_rconn_fail_reply(&a->conn, "XTRIM", r);
        freeReplyObject(r);
        return -1;
    }
    if (r->integer > 0) {
        ocsp_log(OCSP_LOG_INFO, "audit trimmed entries=%lld below=%s",
                 r->integer, minid);
    }
    freeReplyObject(r);
    return 0;
}

/* audit.archive_hook with the segment's path, with retries; a failure is
 * counted and logged, and does not hold the trim (the local segment is the
 * durable copy). */
static void run_hook(audit_follow_t *a, const char *path)
{
    char *argv[3];
    ocsp_hook_result_t res;

    if (a->conf.archive_hook == NULL) {
        return;
    }
    argv[0] = (char *)a->conf.archive_hook;
    argv[1] = (char *)path;
    argv[2] = NULL;
    for (int64_t i = 0; i <= a->conf.archive_hook_retries; i++) {
        if (ocsp_hook_run(argv, NULL, a->conf.archive_hook_timeout_ms, &res) ==
            0) {
            ocsp_log(OCSP_LOG_INFO, "audit archive hook segment=%s ok", path);
            return;
        }
        ocsp_log(OCSP_LOG_WARN,
                 "audit archive hook segment=%s attempt=%lld error=\"%s\" "
                 "output=\"%.*s\"",
                 path, (long long)i + 1, res.err, (int)res.out_len, res.out);
        if (*a->stop) {
            break;
        }
        if (i < a->conf.archive_hook_retries) {
            struct timespec ts = {1, 0};
            nanosleep(&ts, NULL);
        }
    }
    a->ar.hook_failures++;
    ocsp_log(OCSP_LOG_ERR,
             "audit archive hook segment=%s failures=%llu error=\"gave up\" "
             "action=\"the local segment is kept; push it by hand\"",
             path, (unsigned long long)a->ar.hook_failures);
}

/* The greatest segment name in the directory, or "" when none. */
static int last_segment(audit_follow_t *a, char *name)
{
    char **names;
    long n = ocsp_audit_seg_list(a->conf.archive_dir, &names, a->err);

    name[0] = '\0';
    if (n < 0) {
        return -1;
    }
    if (n > 0) {
        snprintf(name, OCSP_AUDIT_SEG_NAME_MAX, "%s", names[n - 1]);
    }
    ocsp_audit_seg_list_free(names, n);
    return 0;
}

int audit_archive_resume(audit_follow_t *a)
{
    audit_archive_t *ar = &a->ar;
    const char *argv[] = {"GET", ar->key};
    char name[OCSP_AUDIT_SEG_NAME_MAX], path[4096 + OCSP_AUDIT_SEG_NAME_MAX];
    ocsp_audit_seg_t s;
    ocsp_audit_seg_rec_t rec;
    redisReply *r;
    int have_key = 0, rc = 0, got;

    if (!ar->on || ar->stopped || ar->resumed) {
        return 0;
    }
    crl_publish_cleanup(a->conf.archive_dir);
    r = ocsp_rconn_cmd(&a->conn, 2, argv, NULL);
    if (r == NULL) {
        return -1;
    }
    ar->count = 0;
    snprintf(ar->last_id, sizeof(ar->last_id), "0-0");
    ocsp_audit_genesis(ar->link);
    if (r->type == REDIS_REPLY_STRING) {
        if (ocsp_audit_head_decode(r->str, r->len, &ar->count, ar->last_id,
                                   ar->link) != 0) {
            freeReplyObject(r);
            stop_archiving(a, "the archive key is not COUNT ID LINK", ar->key);
            return 0;
        }
        have_key = 1;
    }
    freeReplyObject(r);
    if (last_segment(a, name) != 0) {
        stop_archiving(a, "cannot read the archive directory",
                       a->conf.archive_dir);
        return 0;
    }
    if (name[0] == '\0') {
        if (have_key) {
            stop_archiving(a,
                           "the archive key names archived entries but "
                           "the directory has no segment",
                           ar->last_id);
            return 0;
        }
        ar->resumed = 1;
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s", a->conf.archive_dir, name);
    if (ocsp_audit_seg_open_file(&s, path) != 0) {
        stop_archiving(a, s.err, name);
        ocsp_audit_seg_close(&s);
        return 0;
    }
    while ((got = ocsp_audit_seg_next(&s, &rec)) == 1) {
    }
    if (got != 0) {
        stop_archiving(a, s.err, name);
        ocsp_audit_seg_close(&s);
        return 0;
    }
    got = ocsp_audit_id_cmp(s.cp.last_id, ar->last_id);
    if (got < 0 ||
        (got == 0 && (s.cp.count != ar->count ||
                      memcmp(s.cp.head, ar->link, OCSP_AUDIT_LINK_LEN) != 0))) {
        stop_archiving(a,
                       "the last segment ends before (or differs from) what "
                       "the archive key says was archived",
                       name);
    } else if (got > 0) {
        /* A kill between the rename and the commit: this segment is
         * durable and not recorded.  Hook again (at least once), commit. */
        ocsp_log(OCSP_LOG_INFO,
                 "audit archive segment=%s last=%s action=\"found "
                 "uncommitted; committing\"",
                 name, s.cp.last_id);
        run_hook(a, path);
        ocsp_audit_seg_close(&s);
        if (ocsp_audit_seg_open_file(&s, path) != 0) {
            stop_archiving(a, s.err, name);
        } else {
            rc = commit(a, &s);
        }
    }
    ocsp_audit_seg_close(&s);
    if (rc == 0 && !ar->stopped) {
        ar->resumed = 1;
        ocsp_log(OCSP_LOG_INFO, "audit archive resumed count=%llu last=%s",
                 (unsigned long long)ar->count, ar->last_id);
    }
    return rc;
}

/* Signs the writer's checkpoint (when an audit key is set) and ends it. */
static int seal(audit_follow_t *a, ocsp_audit_segw_t *w)
{
    ocsp_audit_checkpoint_t cp;
    char c[OCSP_AUDIT_CHECKPOINT_MAX];
    unsigned char *sig = NULL;
    size_t siglen = 0;
    int64_t now;
    int n, rc = -1;

    if (ocsp_rconn_time_ms(&a->conn, &now) != 0) {
        return -1;
    }
    ocsp_audit_segw_checkpoint(w, now, &cp);
    n = ocsp_audit_checkpoint_encode(&cp, c, sizeof(c));
    if (n < 0) {
        ocsp_rconn_fail(&a->conn, "checkpoint: cannot encode");
        return -1;
    }
    if (a->key != NULL) {
        siglen = ocsp_sign_key_max(a->key);
        sig = malloc(siglen);
        if (sig == NULL ||
            ocsp_sign(a->key, (const unsigned char *)c, (size_t)n, sig,
                      &siglen) != 0 ||
            siglen > OCSP_AUDIT_SIG_MAX) {
            ocsp_log(OCSP_LOG_ERR,
                     "audit archive error=\"cannot sign the segment: %s\" "
                     "action=\"retried at the next pass\"",
                     sig ? ocsp_sign_key_err(a->key)->msg : "out of memory");
            free(sig);
            return 1;
        }
    }
    if (ocsp_audit_segw_finish(w, c, (size_t)n, sig, siglen) == 0) {
        a->ar.last_ms = now;
        rc = 0;
    } else {
        ocsp_rconn_fail(&a->conn, "segment: out of memory");
    }
    free(sig);
    return rc;
}

/* The link the chain store holds for ID: 1 (into link), 0 none, -1. */
static int chained_link(audit_follow_t *a, const char *id,
                        unsigned char link[OCSP_AUDIT_LINK_LEN])
{
    const char *argv[] = {"HGET", a->chain_key, id};
    redisReply *r = ocsp_rconn_cmd(&a->conn, 3, argv, NULL);
    char prev[OCSP_AUDIT_ID_MAX + 1];
    int rc = 0;

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_STRING &&
        ocsp_audit_rec_decode(r->str, r->len, prev, link) == 0) {
        rc = 1;
    }
    freeReplyObject(r);
    return rc;
}

/*
 * Fills W with the chained entries after the archive that are older than
 * archive_after, up to the segment bounds.  0, or -1 on a connection
 * failure, -2 on an inconsistency (archiving stopped).
 */
static int fill(audit_follow_t *a, ocsp_audit_segw_t *w)
{
    audit_archive_t *ar = &a->ar;
    char start[OCSP_AUDIT_ID_MAX + 2], upper[OCSP_AUDIT_ID_MAX + 1], cnt[24];
    unsigned char want[OCSP_AUDIT_LINK_LEN];
    int64_t now;
    int64_t cutoff;

    if (ocsp_rconn_time_ms(&a->conn, &now) != 0) {
        return -1;
    }
    cutoff = now - a->conf.archive_after_ms;
    if (cutoff < 0) {
        return 0;
    }
    snprintf(upper, sizeof(upper), "%" PRId64 "-%" PRIu64, cutoff, UINT64_MAX);
    if (ocsp_audit_id_cmp(a->last_id, upper) < 0) {
        memcpy(upper, a->last_id, sizeof(upper)); /* chained only */
    }
    snprintf(start, sizeof(start), "(%s", ar->last_id);
    while ((int64_t)w->n < a->conf.segment_events) {
        int64_t room = a->conf.segment_events - (int64_t)w->n;
        const char *argv[] = {"XRANGE", a->events_key, start,
                              upper,    "COUNT",       cnt};
        redisReply *r;
        size_t n;
        int full = 0;

        if (ocsp_audit_id_cmp(ar->last_id, upper) >= 0 && w->n == 0) {
            return 0;
        }
        snprintf(cnt, sizeof(cnt), "%lld",
                 (long long)(room < PAGE ? room : PAGE));
        r = ocsp_rconn_cmd(&a->conn, 6, argv, NULL);
        if (r == NULL) {
            return -1;
        }
        if (r->type != REDIS_REPLY_ARRAY) {
            ocsp_rconn_fail_reply(&a->conn, "XRANGE", r);
            freeReplyObject(r);
            return -1;
        }
        n = r->elements;
        for (size_t i = 0; i < n && !full; i++) {
            const char *id;
            const unsigned char *field;
            size_t idlen, flen;
            int added;

            if (ocsp_audit_entry(r->element[i], &id, &idlen, &field, &flen) !=
                0) {
                ocsp_rconn_fail(&a->conn, "XRANGE: not a stream entry");
                freeReplyObject(r);
                return -1;
            }
            added = ocsp_audit_segw_add(w, id, idlen, field, flen);
            if (added < 0) {
                freeReplyObject(r);
                stop_archiving(a, "an entry cannot be archived", upper);
                return -2;
            }
            full = added == 1;
        }
        freeReplyObject(r);
        if (full || n == 0 || (int64_t)n < (room < PAGE ? room : PAGE)) {
            break;
        }
        snprintf(start, sizeof(start), "(%s", w->last_id);
    }
    if (w->n == 0) {
        return 0;
    }
    /* What is archived is what was chained: an entry deleted or changed in
     * the stream since shows here, before anything is trimmed. */
    switch (chained_link(a, w->last_id, want)) {
    case -1:
        return -1;
    case 1:
        if (memcmp(want, w->link, sizeof(want)) == 0) {
            return 0;
        }
        /* fall through */
    default:
        stop_archiving(a,
                       "the entries up to this one differ from those chained "
                       "(deleted or changed in the stream)",
                       w->last_id);
        return -2;
    }
}

/* One segment, when there is something to archive: 1 written, 0 nothing,
 * -1 on a failure. */
static int one_segment(audit_follow_t *a)
{
    audit_archive_t *ar = &a->ar;
    ocsp_audit_segw_t w;
    ocsp_audit_seg_t s;
    char name[OCSP_AUDIT_SEG_NAME_MAX], path[4096 + OCSP_AUDIT_SEG_NAME_MAX];
    char err[OCSP_ERR_MAX];
    int rc;

    if (ocsp_audit_segw_begin(&w, ar->count, ar->last_id, ar->link,
                              (size_t)a->conf.segment_bytes) != 0) {
        ocsp_rconn_fail(&a->conn, "segment: out of memory");
        return -1;
    }
    rc = fill(a, &w);
    if (rc != 0 || w.n == 0) {
        ocsp_audit_segw_free(&w);
        return rc == -2 ? 0 : rc;
    }
    rc = seal(a, &w);
    if (rc != 0) {
        ocsp_audit_segw_free(&w);
        return rc < 0 ? -1 : 0;
    }
    if (ocsp_audit_seg_name(w.first_id, name) != 0) {
        ocsp_audit_segw_free(&w);
        return -1;
    }
    snprintf(path, sizeof(path), "%s/%s", a->conf.archive_dir, name);
    if (crl_publish_file(a->conf.archive_dir, name, w.buf, w.len, 0, err) !=
        0) {
        /* a failed fsync of the directory after the rename: the segment may
         * be there; the next resume finds it or not */
        ocsp_log(OCSP_LOG_ERR,
                 "audit archive segment=%s error=\"%s\" action=\"retried "
                 "at the next pass\"",
                 name, err);
        ocsp_audit_segw_free(&w);
        ar->resumed = 0;
        return 0;
    }
    run_hook(a, path);
    rc = ocsp_audit_seg_open_mem(&s, w.buf, w.len);
    if (rc == 0) {
        rc = commit(a, &s);
    } else {
        stop_archiving(a, s.err, name);
        rc = 0;
    }
    if (rc == 0 && !ar->stopped) {
        ar->entries += w.n;
        ar->segments++;
        ocsp_log(OCSP_LOG_INFO,
                 "audit archive segment=%s entries=%llu bytes=%zu "
                 "total_entries=%llu total_segments=%llu hook_failures=%llu",
                 name, (unsigned long long)w.n, w.len,
                 (unsigned long long)ar->entries,
                 (unsigned long long)ar->segments,
                 (unsigned long long)ar->hook_failures);
    }
    ocsp_audit_segw_free(&w);
    return rc < 0 ? -1 : 1;
}

int audit_archive_pass(audit_follow_t *a)
{
    audit_archive_t *ar = &a->ar;
    long now = ocsp_now_ms();

    if (!ar->on || ar->stopped || now < ar->next_ms) {
        return 0;
    }
    if (!ar->resumed && audit_archive_resume(a) != 0) {
        return -1;
    }
    if (ar->stopped || !ar->resumed) {
        return 0;
    }
    int i;

    for (i = 0; i < PASS_SEGMENTS && !*a->stop; i++) {
        int rc = one_segment(a);
        if (rc < 0) {
            return -1;
        }
        if (rc == 0 || ar->stopped || !ar->resumed) {
            break;
        }
    }
    if (!ar->stopped && ar->resumed && trim(a) != 0) {
        return -1;
    }
    /* more to archive: again after the next batch, not the interval */
    ar->next_ms = i == PASS_SEGMENTS ? 0 : now + a->conf.archive_interval_ms;
    return 0;
}
