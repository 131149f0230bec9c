#include "crl_gen.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crl_check.h"
#include "crl_fetch.h"
#include "keys.h"
#include "log.h"
#include "post_publish.h"
#include "publish.h"
#include "snapshot.h"

static double crl_mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * The CRL number: max(sequence + 1, floor), set by Redis in one script on
 * the issuer's one sequence P:crlnumber:ISSUER (full, shards and deltas).
 * The floor is the larger of Redis's clock in milliseconds (TIME, read by
 * the script) and ARGV[1], what the generator knows the number must
 * exceed (thisUpdate in milliseconds, the published file's number + 1).
 * So a number handed out by a primary whose last increments never reached
 * its replica is still exceeded after a failover: the promoted replica's
 * clock has moved on by the seconds a failover takes, while the sequence
 * only runs ahead of the clock by the CRLs of one millisecond.  Lua
 * computes in doubles: numbers stay below 2^53 (the year 287396 in
 * milliseconds), exact, and fit 7 DER octets (RFC 5280 5.2.3: at most 20).
 */
static const char lua_crl_number[] =
    "local cur = redis.call('GET', KEYS[1])\n"
    "local seq = 0\n"
    "if cur then\n"
    "  if not string.match(cur, '^%d+$') or #cur > 16 or\n"
    "     tonumber(cur) >= 9007199254740991 then\n"
    "    return redis.error_reply('ERR ' .. KEYS[1] ..\n"
    "                             ' is not a CRL number below 2^53')\n"
    "  end\n"
    "  seq = tonumber(cur)\n"
    "end\n"
    "local t = redis.call('TIME')\n"
    "local n = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local f = tonumber(ARGV[1])\n"
    "if f > n then n = f end\n"
    "if seq + 1 > n then n = seq + 1 end\n"
    "redis.call('SET', KEYS[1], string.format('%.0f', n))\n"
    "return n\n";

/* Below 2^53: what Lua's doubles hold exactly. */
#define CRL_NUMBER_MAX ((uint64_t)9007199254740991)

static int crl_next_number(crl_gen_t *g, const char *issuer, uint64_t least,
                           uint64_t *n, char *err)
{
    char key[OCSP_KEY_MAX], fl[24];
    const char *argv[] = {"EVAL", lua_crl_number, "1", key, fl};
    redisReply *r;
    int rv = -1;

    ocsp_key_crlnumber(key, g->crl_conf->config->prefix, issuer);
    if (least >= CRL_NUMBER_MAX) {
        snprintf(err, OCSP_ERR_MAX, "%s: CRL number floor %llu is too large",
                 key, (unsigned long long)least);
        return -1;
    }
    snprintf(fl, sizeof(fl), "%llu", (unsigned long long)least);
    r = ocsp_rconn_cmd(g->conn, 5, argv, NULL);
    if (r == NULL) {
        snprintf(err, OCSP_ERR_MAX, "CRL number %s: %s", key, g->conn->err);
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER && r->integer > 0 &&
        (uint64_t)r->integer >= least &&
        (uint64_t)r->integer < CRL_NUMBER_MAX) {
        *n = (uint64_t)r->integer;
        rv = 0;
    } else if (r->type == REDIS_REPLY_ERROR) {
        snprintf(err, OCSP_ERR_MAX, "CRL number %s: %.*s", key,
                 (int)(r->len < 200 ? r->len : 200), r->str);
    } else {
        snprintf(err, OCSP_ERR_MAX, "CRL number %s: unexpected reply", key);
    }
    freeReplyObject(r);
    /* redis.min_replica_acks: a number published before the replicas
     * have it could be handed out again after a failover. */
    if (rv == 0 && ocsp_rconn_wait(g->conn, NULL) != 0) {
        snprintf(err, OCSP_ERR_MAX, "CRL number %s: not published: %s", key,
                 g->conn->err);
        rv = -1;
    }
    return rv;
}

typedef struct {
    ocsp_rconn_t *conn;
    crl_lease_t *lease;
} crl_renew_t;

/* Keeps the lease while a post_publish command runs. */
static void crl_gen_renew(void *arg)
{
    crl_renew_t *r = arg;

    crl_lease_acquire(r->conn, r->lease);
}

/*
 * The post_publish command for the file NAME just published (number 0 for
 * the shard list).  0 if it succeeded or none is configured, 1 with err if
 * it failed: the file did not reach the shared location.
 */
static int crl_gen_hook(crl_gen_t *g, crl_issuer_t *is, const char *kind,
                        const char *name, uint64_t number, crl_metric_t *m,
                        char *err)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    crl_renew_t renew = {g->conn, &is->lease};
    char path[4096], herr[OCSP_ERR_MAX];

    if (crl_conf->post_publish == NULL) {
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s", crl_conf->publish_dir, name);
    if (crl_post_publish_run(crl_conf->post_publish, path,
                             is->conf->issuer_conf->name, kind, number,
                             crl_conf->post_publish_timeout, crl_gen_renew,
                             &renew, herr) == 0) {
        return 0;
    }
    ocsp_log(OCSP_LOG_ERR, "post_publish failed issuer=%s file=%s %s",
             is->conf->issuer_conf->name, name, herr);
    if (m != NULL) {
        m->failures++;
    }
    snprintf(err, OCSP_ERR_MAX, "%s published, but post_publish failed: %s",
             name, herr);
    return 1;
}

/*
 * One CRL of kind KIND: the next number from the issuer's sequence into P,
 * built from V (N entries; COUNT of them on this CRL) straight into a
 * temporary file next to NAME, checked as written against the file it
 * replaces, and published as NAME; then the post_publish command.  P's
 * thisUpdate (and nextUpdate with it) is moved past the published file's
 * if needed.  0, 1 (published here, but post_publish failed: err), or -1
 * with err.
 */
static int crl_gen_one(crl_gen_t *g, crl_issuer_t *is, const char *kind,
                       const char *name, crl_params_t *p, const crl_entry_t *v,
                       size_t n, size_t count, int complete,
                       const crl_entries_t *expired, double started, char *err)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    crl_metric_t *m =
        crl_metrics_get(&g->metrics, is->conf->issuer_conf->name, kind, name);
    const unsigned char *prev = NULL, *der = NULL;
    size_t prev_len = 0, len = 0;
    crl_pending_t pf;
    crl_parsed_t pc;
    uint64_t least;
    int rc, pending = 0;
    struct tm tm;

    if (m != NULL &&
        ASN1_TIME_to_tm(X509_get0_notAfter(is->signer.cert), &tm) == 1) {
        m->ca_not_after = (int64_t)timegm(&tm);
    }
    rc = crl_map_file(crl_conf->publish_dir, name, &prev, &prev_len, err);
    if (rc < 0) {
        goto failed;
    }
    /* The number: past thisUpdate in milliseconds, past what this
     * generator published and knows of (crl_next_number()). */
    least = is->st.full_number > is->st.delta_number ? is->st.full_number
                                                     : is->st.delta_number;
    least++;
    if (rc == 0 && crl_parse(prev, prev_len, &pc) == 0) {
        if (pc.number >= least) {
            least = pc.number + 1;
        }
        if (pc.this_update >= p->this_update) {
            p->next_update += pc.this_update + 1 - p->this_update;
            p->this_update = pc.this_update + 1;
        }
    }
    if (p->this_update > 0 && (uint64_t)p->this_update * 1000 > least) {
        least = (uint64_t)p->this_update * 1000;
    }
    if (crl_next_number(g, is->conf->issuer_conf->name, least, &p->number,
                        err) != 0) {
        goto failed;
    }
    /* Written (not visible) first, in pieces as it is encoded and signed:
     * the disk works while the CRL is checked; only a CRL that passes is
     * renamed into place. */
    if (crl_publish_open(&pf, crl_conf->publish_dir, name, err) != 0) {
        goto failed;
    }
    pending = 1;
    if (crl_build_file(&is->signer, p, v, n, pf.fd, 0, &len, err) != 0 ||
        crl_publish_written(&pf, p->this_update, err) != 0) {
        goto failed;
    }
    ocsp_log(OCSP_LOG_DEBUG, "built issuer=%s file=%s bytes=%zu seconds=%.3f",
             is->conf->issuer_conf->name, name, len, crl_mono_s() - started);
    /* What is checked is the file that will be renamed into place. */
    if (crl_map_pending(&pf, len, &der, err) != 0) {
        goto failed;
    }
    if (crl_check(&is->signer, der, len, 1, rc == 0 ? prev : NULL, prev_len, 1,
                  complete, expired, err) != 0) {
        goto failed;
    }
    ocsp_log(OCSP_LOG_DEBUG, "checked issuer=%s file=%s seconds=%.3f",
             is->conf->issuer_conf->name, name, crl_mono_s() - started);
    crl_unmap_file(der, len);
    der = NULL;
    crl_unmap_file(prev, prev_len);
    prev = NULL;
    /* Fence: renewed now, so still ours in Redis with a TTL ahead; a long
     * build does not matter, someone else taking over meanwhile does. */
    if (crl_lease_acquire(g->conn, &is->lease) != 1 ||
        !crl_lease_safe(&is->lease)) {
        snprintf(err, OCSP_ERR_MAX, "the lease is lost; not publishing");
        goto failed;
    }
    pending = 0;
    if (crl_publish_commit(&pf, err) != 0) {
        goto failed;
    }
    ocsp_log(OCSP_LOG_INFO,
             "published issuer=%s kind=%s file=%s number=%llu entries=%zu "
             "bytes=%zu seconds=%.3f",
             is->conf->issuer_conf->name, kind, name,
             (unsigned long long)p->number, count, len, crl_mono_s() - started);
    if (m != NULL) {
        m->bytes = len;
        m->entries = count;
        m->number = p->number;
        m->this_update = p->this_update;
        m->next_update = p->next_update;
        m->published_at = (int64_t)time(NULL);
        m->build_seconds = crl_mono_s() - started;
    }
    return crl_gen_hook(g, is, kind, name, p->number, m, err);

failed:
    crl_unmap_file(der, len);
    if (pending) {
        crl_publish_abort(&pf);
    }
    crl_unmap_file(prev, prev_len);
    if (m != NULL) {
        m->failures++;
    }
    return -1;
}

/* The CCADB shard list ISSUER-shards.json, then post_publish: 0, 1 (not
 * shared: err), or -1 with err. */
static int crl_gen_shard_list(crl_gen_t *g, crl_issuer_t *is,
                              int64_t this_update, char *err)
{
    const crl_issuer_conf_t *crl_issuer = is->conf;
    char name[80];
    size_t cap = 16, n = 0;
    char *json;
    int rv;

    if (crl_issuer->nshards <= 1 && crl_issuer->full_url == NULL) {
        return 0;
    }
    for (unsigned i = 0; i < crl_issuer->nshards; i++) {
        cap += strlen(crl_issuer->nshards > 1 ? crl_issuer->shard_urls[i]
                                              : crl_issuer->full_url) +
               8;
    }
    json = malloc(cap);
    if (json == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    /* CCADB "JSON array of partitioned CRLs": URLs are validated printable
     * ASCII without '"' or '\\' escapes needed (crl_conf.c). */
    json[n++] = '[';
    for (unsigned i = 0; i < crl_issuer->nshards; i++) {
        n +=
            (size_t)snprintf(json + n, cap - n, "%s\"%s\"", i ? ", " : "",
                             crl_issuer->nshards > 1 ? crl_issuer->shard_urls[i]
                                                     : crl_issuer->full_url);
    }
    n += (size_t)snprintf(json + n, cap - n, "]\n");
    snprintf(name, sizeof(name), "%s-shards.json",
             crl_issuer->issuer_conf->name);
    rv = crl_publish_file(g->crl_conf->publish_dir, name, json, n, this_update,
                          err);
    free(json);
    if (rv != 0) {
        return -1;
    }
    return crl_gen_hook(g, is, "shards", name, 0, NULL, err);
}

/* The shared state ST, fenced by the lease.  0, or -1 with err. */
static int crl_gen_save(crl_gen_t *g, crl_issuer_t *is, const crl_state_t *st,
                        char *err)
{
    int rc = crl_state_save(g->conn, &is->lease, g->crl_conf->config->prefix,
                            is->conf->issuer_conf->name, st);

    if (rc == 1) {
        return 0;
    }
    if (rc == 0) {
        snprintf(err, OCSP_ERR_MAX, "lease lost before the state was saved");
    } else {
        snprintf(err, OCSP_ERR_MAX, "state not saved: %s", g->conn->err);
    }
    return -1;
}

/*
 * The entries of the last full CRL (snapshot.h) brought up to date with the
 * change log.  Returns 1 with *entries and *expired filled, 0 when a scan
 * of Redis is needed instead (no usable snapshot, too many changes), -1.
 */
static int crl_gen_from_snapshot(crl_gen_t *g, crl_issuer_t *is,
                                 const char *path, int64_t t0,
                                 crl_entries_t *entries, crl_entries_t *expired,
                                 char *err)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    const crl_issuer_conf_t *crl_issuer = is->conf;
    crl_entries_t chg = {0};
    int64_t cutoff, max_ms, now = t0 / 1000, limit;
    size_t w = 0;
    int rc;

    if (crl_conf->rescan_after <= 0) {
        return 0;
    }
    rc = crl_snapshot_load(path, crl_issuer->nshards, entries, 0, &cutoff, err);
    if (rc != 0) {
        if (rc < 0) {
            ocsp_log(OCSP_LOG_WARN, "snapshot unusable issuer=%s %s",
                     crl_issuer->issuer_conf->name, err);
        }
        return 0;
    }
    if (cutoff < t0 - crl_conf->rescan_after * 1000 || cutoff > t0) {
        crl_entries_free(entries);
        return 0; /* due for a full scan */
    }
    rc = crl_fetch_changes(g->conn, crl_conf->config->prefix, crl_issuer, now,
                           cutoff, &chg, &max_ms, err);
    if (rc != 0) {
        crl_entries_free(entries);
        crl_entries_free(&chg);
        return rc < 0 ? -1 : 0;
    }
    crl_entries_sort(&chg);
    limit = now - crl_issuer->expired_after;
    /* Entries leaving because they expired, for the pre-publish check. */
    for (size_t i = 0; i < chg.n; i++) {
        const crl_entry_t *c = &chg.v[i];
        if (c->reason == CRL_REASON_REMOVE && c->not_after != 0 &&
            c->not_after < limit) {
            crl_entry_t *x = crl_entries_push(expired);
            if (x == NULL) {
                goto nomem;
            }
            *x = *c;
        }
    }
    if (crl_snapshot_apply(entries, &chg) != 0) {
        goto nomem;
    }
    crl_entries_free(&chg);
    /* RFC 5280 3.3, as crl_fetch_revoked() does for a scan. */
    for (size_t i = 0; i < entries->n; i++) {
        crl_entry_t *e = &entries->v[i];
        if (e->not_after != 0 && e->not_after < limit) {
            crl_entry_t *x = crl_entries_push(expired);
            if (x == NULL) {
                goto nomem;
            }
            *x = *e;
            continue;
        }
        entries->v[w++] = *e;
    }
    entries->n = w;
    return 1;

nomem:
    crl_entries_free(entries);
    crl_entries_free(&chg);
    snprintf(err, OCSP_ERR_MAX, "out of memory");
    return -1;
}

/*
 * The snapshot of a full CRL's entries is written by a second thread while
 * the CRL is built, checked and published (the entries are read-only by
 * then), and renamed into place only after that: 48 MB per million entries
 * and an fsync off the critical path of a cold start.  Joined before any
 * post_publish fork; the only other thread, the revoked log's second
 * decoder (crl_revlog_read.c), has ended before this one starts.
 */
typedef struct {
    pthread_t thread;
    int started, running;
    const char *path;
    unsigned nshards;
    const crl_entries_t *entries;
    int64_t cutoff_ms;
    int rc;
    char err[OCSP_ERR_MAX];
} crl_snap_job_t;

static void *crl_snap_run(void *arg)
{
    crl_snap_job_t *j = arg;

    j->rc = crl_snapshot_write(j->path, j->nshards, j->entries, j->cutoff_ms,
                               j->err);
    return NULL;
}

static void crl_snap_start(crl_snap_job_t *j)
{
    j->started = 1;
    j->running = pthread_create(&j->thread, NULL, crl_snap_run, j) == 0;
    if (!j->running) {
        crl_snap_run(j); /* no thread: the same work, here */
    }
}

/* Waits for the writer thread, if any. */
static void crl_snap_wait(crl_snap_job_t *j)
{
    if (j->running) {
        pthread_join(j->thread, NULL);
        j->running = 0;
    }
}

/* Waits for the job; with PUBLISHED, makes its file the snapshot. */
static void crl_snap_finish(crl_snap_job_t *j, int published,
                            const char *issuer)
{
    if (!j->started) {
        return;
    }
    j->started = 0;
    crl_snap_wait(j);
    if (j->rc == 0 && !published) {
        crl_snapshot_discard(j->path);
        return;
    }
    if (j->rc == 0 && crl_snapshot_commit(j->path, j->err) != 0) {
        j->rc = -1;
    }
    if (j->rc != 0) {
        ocsp_log(OCSP_LOG_WARN, "snapshot not saved issuer=%s %s", issuer,
                 j->err);
    }
}

int crl_gen_full(crl_gen_t *g, crl_issuer_t *is, char *err)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    const crl_issuer_conf_t *crl_issuer = is->conf;
    const char *issuer = crl_issuer->issuer_conf->name;
    crl_entries_t entries = {0}, expired = {0};
    crl_record_stats_t fst;
    crl_params_t p;
    crl_state_t st = is->st;
    size_t count;
    int64_t t0, now, last_change;
    double started = crl_mono_s();
    char name[80], snap[4096];
    crl_snap_job_t job;
    int rv = -1, rc, from_snapshot;

    memset(&fst, 0, sizeof(fst));
    memset(&job, 0, sizeof(job));
    if (ocsp_rconn_time_ms(g->conn, &t0) != 0) {
        snprintf(err, OCSP_ERR_MAX, "TIME: %s", g->conn->err);
        goto failed;
    }
    if (crl_fetch_last_change(g->conn, crl_conf->config->prefix, issuer,
                              &last_change, err) != 0) {
        goto failed;
    }
    now = t0 / 1000;
    snprintf(snap, sizeof(snap), "%s/%s.snap", crl_conf->state_dir, issuer);
    from_snapshot =
        crl_gen_from_snapshot(g, is, snap, t0, &entries, &expired, err);
    if (from_snapshot < 0) {
        goto failed;
    }
    if (!from_snapshot &&
        crl_fetch_revoked(g->conn, crl_conf->config->prefix, crl_issuer, now,
                          &entries, &expired, &fst, err) != 0) {
        goto failed;
    }
    ocsp_log(OCSP_LOG_DEBUG, "fetched issuer=%s records=%zu seconds=%.3f",
             issuer, entries.n, crl_mono_s() - started);
    crl_entries_sort(&entries);
    crl_entries_sort(&expired);
    ocsp_log(OCSP_LOG_DEBUG, "read issuer=%s entries=%zu from=%s seconds=%.3f",
             issuer, entries.n, from_snapshot ? "snapshot" : "redis",
             crl_mono_s() - started);
    if (crl_conf->rescan_after > 0) {
        job.path = snap;
        job.nshards = crl_issuer->nshards;
        job.entries = &entries;
        job.cutoff_ms = t0 - crl_conf->clock_skew * 1000;
        crl_snap_start(&job);
        if (crl_conf->post_publish != NULL) {
            /* post_publish forks: not while another thread runs */
            crl_snap_wait(&job);
        }
    }
    if (fst.hold_skipped > 0 || fst.reason_cleared > 0) {
        ocsp_log(OCSP_LOG_WARN,
                 "profile issuer=%s holds_left_out=%zu reasons_left_out=%zu",
                 issuer, fst.hold_skipped, fst.reason_cleared);
    }

    memset(&p, 0, sizeof(p));
    p.kind = CRL_KIND_FULL;
    /* Strictly newer than the last one, even within one second. */
    p.this_update = now > st.full_this_update ? now : st.full_this_update + 1;
    p.next_update = p.this_update + crl_issuer->lifetime;
    p.freshest_url = crl_issuer->delta ? crl_issuer->delta_url : NULL;

    /* The shards and their list first, the full CRL last: once the full
     * CRL has reached the shared location through post_publish, so has
     * the whole round, and only then does the shared state move on (the
     * delta's base, the re-sign schedule).  A post_publish failure stops
     * the round: the old base stays, which clients have. */
    for (unsigned s = 0; crl_issuer->nshards > 1 && s < crl_issuer->nshards;
         s++) {
        crl_params_t sp = p;
        double shard_started = crl_mono_s();

        sp.kind = CRL_KIND_SHARD;
        sp.shard = (int)s;
        sp.idp_url = crl_issuer->shard_urls[s];
        sp.freshest_url = NULL;
        count = 0;
        for (size_t i = 0; i < entries.n; i++) {
            count += entries.v[i].shard == s;
        }
        snprintf(name, sizeof(name), "%s-shard-%u.crl", issuer, s);
        rc = crl_gen_one(g, is, "shard", name, &sp, entries.v, entries.n, count,
                         1, &expired, shard_started, err);
        if (rc != 0) {
            goto unshared;
        }
    }
    rc = crl_gen_shard_list(g, is, p.this_update, err);
    if (rc != 0) {
        goto unshared;
    }
    snprintf(name, sizeof(name), "%s.crl", issuer);
    rc = crl_gen_one(g, is, "full", name, &p, entries.v, entries.n, entries.n,
                     1, &expired, started, err);
    if (rc != 0) {
        goto unshared;
    }
    st.full_number = p.number;
    st.full_this_update = p.this_update;
    st.full_next_update = p.next_update;
    st.full_cutoff_ms = t0 - crl_conf->clock_skew * 1000;
    st.full_max_ms = last_change;

    crl_lease_acquire(g->conn, &is->lease); /* renewed, or lost: fenced */
    if (crl_gen_save(g, is, &st, err) != 0) {
        goto failed;
    }
    is->st = st;
    is->rebase = 0;
    crl_snap_finish(&job, 1, issuer);
    ocsp_log(OCSP_LOG_DEBUG, "snapshot issuer=%s seconds=%.3f", issuer,
             crl_mono_s() - started);
    crl_entries_free(&entries);
    crl_entries_free(&expired);
    if (crl_issuer->delta) {
        return crl_gen_delta(g, is, err);
    }
    return 0;

unshared:
    if (rc < 0) {
        goto failed;
    }
    /* Published here, not at the shared location.  The snapshot describes
     * Redis's entries, whatever was shared: it is kept.  The state stays,
     * and with it the base: a delta over it still carries the changes
     * to clients, who have that base. */
    crl_snap_finish(&job, 1, issuer);
    crl_entries_free(&entries);
    crl_entries_free(&expired);
    ocsp_log(OCSP_LOG_WARN, "full CRL not shared issuer=%s base=%llu stays: %s",
             issuer, (unsigned long long)is->st.full_number, err);
    if (crl_issuer->delta && is->st.full_number != 0) {
        char derr[OCSP_ERR_MAX];

        if (crl_gen_delta(g, is, derr) < 0) {
            ocsp_log(OCSP_LOG_ERR, "delta CRL failed issuer=%s error=\"%s\"",
                     issuer, derr);
        }
    }
    return 1;

failed:
    crl_snap_finish(&job, 0, issuer);
    crl_entries_free(&entries);
    crl_entries_free(&expired);
    return rv;
}

int crl_gen_delta(crl_gen_t *g, crl_issuer_t *is, char *err)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    const crl_issuer_conf_t *crl_issuer = is->conf;
    const char *issuer = crl_issuer->issuer_conf->name;
    crl_entries_t entries = {0}, none = {0};
    crl_params_t p;
    crl_state_t st = is->st;
    int64_t t0, max_ms;
    double started = crl_mono_s();
    char name[80];
    int rc, rv = -1;

    if (st.full_number == 0) {
        snprintf(err, OCSP_ERR_MAX, "no full CRL to be the delta's base");
        return -1;
    }
    if (ocsp_rconn_time_ms(g->conn, &t0) != 0) {
        snprintf(err, OCSP_ERR_MAX, "TIME: %s", g->conn->err);
        return -1;
    }
    rc =
        crl_fetch_changes(g->conn, crl_conf->config->prefix, crl_issuer,
                          t0 / 1000, st.full_cutoff_ms, &entries, &max_ms, err);
    if (rc < 0) {
        goto failed;
    }
    if (rc == 1) {
        ocsp_log(OCSP_LOG_INFO,
                 "rebase issuer=%s: more than %lld changes since the base",
                 issuer, (long long)crl_issuer->rebase_after);
        is->rebase = 1;
        crl_entries_free(&entries);
        return 0;
    }
    crl_entries_sort(&entries);

    memset(&p, 0, sizeof(p));
    p.kind = CRL_KIND_DELTA;
    p.this_update =
        t0 / 1000 > st.delta_this_update ? t0 / 1000 : st.delta_this_update + 1;
    p.next_update = p.this_update + crl_issuer->delta_lifetime;
    p.base_number = st.full_number;
    snprintf(name, sizeof(name), "%s-delta.crl", issuer);
    rc = crl_gen_one(g, is, "delta", name, &p, entries.v, entries.n, entries.n,
                     0, &none, started, err);
    if (rc != 0) {
        /* 1: published here but not shared; the state stays, so the next
         * delta covers these changes again */
        rv = rc;
        goto failed;
    }
    st.delta_number = p.number;
    st.delta_this_update = p.this_update;
    st.delta_next_update = p.next_update;
    st.delta_base = p.base_number;
    st.delta_max_ms = max_ms > st.full_max_ms ? max_ms : st.full_max_ms;
    crl_lease_acquire(g->conn, &is->lease);
    if (crl_gen_save(g, is, &st, err) != 0) {
        goto failed;
    }
    is->st = st;
    rv = 0;
failed:
    crl_entries_free(&entries);
    return rv;
}
