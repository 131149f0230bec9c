#include "signer_metrics.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "health.h"
#include "inventory.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"

static const char *const kind_names[SIGNER_KINDS] = {"issued", "revoked",
                                                     "hold", "release"};

struct signer_metrics_s {
    const ocsp_config_t *cf; /* borrowed */
    char *path;              /* owned */
    int64_t every_ms;
    char events_key[OCSP_KEY_MAX];
    char group[32];
    size_t n;                                /* issuers */
    char (*names)[OCSP_ISSUER_NAME_MAX + 1]; /* owned, n */
    int64_t *not_after;                      /* owned, n: responder certs */
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stopping;         /* under mu */
    signer_counts_t snap; /* under mu; snap.applied owned, n */
    ocsp_rconn_t conn;    /* the thread's own */
    int redis_up;
    /* what Redis said last round (the thread's) */
    ocsp_health_group_t g;
    ocsp_health_due_t *due; /* owned, n */
    /* The last complete inventory walk (the thread's): counts by issuer,
     * when it ended (0: none yet) and how long it took. */
    int64_t inventory_every_ms;
    long inventory_next_ms;
    signer_inventory_t *inv; /* owned, n */
    int64_t inventory_at;
    double inventory_seconds;
};

/* The live certificates counted as expiring: within a day and a week
 * (the alert rules' two horizons, deploy/prometheus/revoca-rules.yml). */
static const int64_t expiring_within[SIGNER_EXPIRING] = {86400, 7 * 86400};
static const char *const expiring_names[SIGNER_EXPIRING] = {"1d", "7d"};

/*
 * Walks every issuer's records into a fresh count, on the thread's
 * connection: the counts in m->inv are replaced only by a complete walk
 * of them all.  0, or -1 (the last complete walk's counts stay).
 */
static int metrics_inventory(signer_metrics_t *m)
{
    signer_inventory_t *next = calloc(m->n ? m->n : 1, sizeof(*next));
    long t0 = ocsp_now_ms();
    int64_t now = (int64_t)time(NULL);

    if (next == NULL) {
        return -1;
    }
    for (size_t i = 0; i < m->n; i++) {
        ocsp_inv_scan_t scan;
        const ocsp_record_t *r;
        int rv;

        if (ocsp_inv_scan_start(&scan, &m->conn, m->cf->prefix, m->names[i]) !=
            0) {
            ocsp_log(OCSP_LOG_DEBUG, "inventory failed err=\"%s\"", scan.err);
            free(next);
            return -1;
        }
        while ((rv = ocsp_inv_scan_next(&scan, &r)) > 0) {
            if (rv == 2) {
                next[i].invalid++;
                continue;
            }
            ocsp_inv_status_e st = ocsp_inv_status(r, now);
            next[i].by_status[st]++;
            for (int k = 0; st == OCSP_INV_GOOD && k < SIGNER_EXPIRING; k++) {
                next[i].expiring[k] +=
                    ocsp_inv_expiring(r, now, expiring_within[k]);
            }
        }
        ocsp_inv_scan_free(&scan);
        if (rv < 0) {
            ocsp_log(OCSP_LOG_DEBUG, "inventory failed err=\"%s\"", scan.err);
            free(next);
            return -1;
        }
    }
    free(m->inv);
    m->inv = next;
    m->inventory_at = (int64_t)time(NULL);
    m->inventory_seconds = (double)(ocsp_now_ms() - t0) / 1000.0;
    return 0;
}

static void counts_copy(signer_counts_t *to, const signer_counts_t *from,
                        size_t n)
{
    uint64_t(*applied)[SIGNER_KINDS] = to->applied;

    *to = *from;
    to->applied = applied;
    if (from->applied != NULL) {
        memcpy(applied, from->applied, n * sizeof(*applied));
    }
}

void signer_metrics_publish(signer_metrics_t *m, const signer_counts_t *c)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    counts_copy(&m->snap, c, m->n);
    pthread_mutex_unlock(&m->mu);
}

/* The gauges Redis knows, on the thread's connection: 0, or -1. */
static int metrics_query(signer_metrics_t *m)
{
    char err[OCSP_ERR_MAX];

    if (ocsp_rconn_connect(&m->conn) != 0) {
        return -1;
    }
    if (ocsp_health_group(&m->conn, m->events_key, m->group, &m->g, err) != 0) {
        goto failed;
    }
    for (size_t i = 0; i < m->n; i++) {
        if (ocsp_health_due(&m->conn, m->cf->prefix, m->names[i], &m->due[i],
                            err) != 0) {
            goto failed;
        }
    }
    return 0;

failed:
    /* an error reply leaves the link up; a broken link is dropped */
    ocsp_log(OCSP_LOG_DEBUG, "metrics query failed err=\"%s\"", err);
    return -1;
}

#define HELP(f, name, type, help)                                              \
    fprintf(f, "# HELP " name " " help "\n# TYPE " name " " type "\n")
#define COUNTER(f, name, help, v)                                              \
    do {                                                                       \
        HELP(f, name, "counter", help);                                        \
        fprintf(f, name " %llu\n", (unsigned long long)(v));                   \
    } while (0)

static void metrics_print(const signer_metrics_t *m, const signer_counts_t *c,
                          FILE *f)
{
    int64_t now = (int64_t)time(NULL);
    size_t i;

    HELP(f, "revoca_signer_events_total", "counter",
         "Events applied and acknowledged, by issuer and kind.");
    for (i = 0; i < m->n; i++) {
        for (int k = 0; k < SIGNER_KINDS; k++) {
            fprintf(f,
                    "revoca_signer_events_total{issuer=\"%s\",kind=\"%s\"} "
                    "%llu\n",
                    m->names[i], kind_names[k],
                    (unsigned long long)c->applied[i][k]);
        }
    }
    COUNTER(f, "revoca_signer_events_unreadable_total",
            "Stream entries that were not a valid event (acknowledged).",
            c->unreadable);
    COUNTER(f, "revoca_signer_signatures_total",
            "Responses signed and committed to Redis.", c->signed_responses);
    COUNTER(f, "revoca_signer_signatures_computed_total",
            "Signatures computed (a batch repeated after a conflict signs "
            "again).",
            c->computed);
    HELP(f, "revoca_signer_sign_seconds_total", "counter",
         "Wall time spent computing signatures (divide by "
         "signatures_computed_total for the latency).");
    fprintf(f, "revoca_signer_sign_seconds_total %.6f\n",
            (double)c->sign_ns / 1e9);
    COUNTER(f, "revoca_signer_watch_conflicts_total",
            "Transactions repeated because another signer changed a record.",
            c->conflicts);
    COUNTER(f, "revoca_signer_batches_total", "Transactions committed.",
            c->batches);
    COUNTER(f, "revoca_signer_redis_errors_total",
            "Failures of the signer's Redis connections (each one drops the "
            "connection).",
            c->redis_errors);
    COUNTER(f, "revoca_signer_redis_connects_total",
            "Connections made to Redis (3 at start; more are reconnections).",
            c->redis_connects);
    COUNTER(f, "revoca_signer_invalidations_total",
            "Status changes published to the responders.", c->invalidations);
    COUNTER(f, "revoca_signer_purge_jobs_queued_total",
            "CDN purge jobs queued by committed transactions.", c->purge_jobs);
    COUNTER(f, "revoca_signer_purge_jobs_taken_total",
            "Purge jobs the purger took from the stream.", c->purge_taken);
    COUNTER(f, "revoca_signer_purge_runs_total", "Purge hook runs.",
            c->purge_runs);
    COUNTER(f, "revoca_signer_purge_succeeded_total",
            "Purge jobs acknowledged after a good run.", c->purge_succeeded);
    COUNTER(f, "revoca_signer_purge_failed_total",
            "Purge hook runs that failed or timed out.", c->purge_failed);
    COUNTER(f, "revoca_signer_purge_retries_total",
            "Purge runs that were a job's second or later.", c->purge_retries);
    COUNTER(f, "revoca_signer_purge_gave_up_total",
            "Purge jobs dropped after purge.attempts runs.", c->purge_gave_up);
    COUNTER(f, "revoca_signer_purge_dropped_total",
            "Purge jobs unreadable, of an unknown issuer, or trimmed unrun.",
            c->purge_dropped);
    HELP(f, "revoca_signer_responder_cert_expiry_seconds", "gauge",
         "Seconds until the responder certificate's notAfter.");
    for (i = 0; i < m->n; i++) {
        fprintf(f,
                "revoca_signer_responder_cert_expiry_seconds{issuer=\"%s\"} "
                "%lld\n",
                m->names[i], (long long)(m->not_after[i] - now));
    }
    HELP(f, "revoca_signer_metrics_redis_up", "gauge",
         "1 if the gauges from Redis below were read this round.");
    fprintf(f, "revoca_signer_metrics_redis_up %d\n", m->redis_up);
    if (m->redis_up) {
        HELP(f, "revoca_signer_stream_lag_entries", "gauge",
             "Events of the stream not yet read by the signer group "
             "(XINFO GROUPS lag; -1: Redis cannot tell).");
        fprintf(f, "revoca_signer_stream_lag_entries %lld\n",
                (long long)(m->g.exists ? m->g.lag : 0));
        HELP(f, "revoca_signer_stream_pending_entries", "gauge",
             "Events read by a signer and not yet acknowledged.");
        fprintf(f, "revoca_signer_stream_pending_entries %lld\n",
                (long long)m->g.pending);
        HELP(f, "revoca_signer_resign_overdue_seconds", "gauge",
             "How late the most overdue re-sign of the issuer is (0: none "
             "is).");
        for (i = 0; i < m->n; i++) {
            fprintf(f,
                    "revoca_signer_resign_overdue_seconds{issuer=\"%s\"} "
                    "%lld\n",
                    m->names[i],
                    (long long)ocsp_health_overdue(&m->due[i], now));
        }
        HELP(f, "revoca_signer_oldest_response_age_seconds", "gauge",
             "Age of the thisUpdate (backdated) of the response due first.");
        for (i = 0; i < m->n; i++) {
            if (m->due[i].oldest_this_update != 0) {
                fprintf(f,
                        "revoca_signer_oldest_response_age_seconds{issuer="
                        "\"%s\"} %lld\n",
                        m->names[i],
                        (long long)(now - m->due[i].oldest_this_update));
            }
        }
        HELP(f, "revoca_signer_due_entries", "gauge",
             "Responses the issuer's re-sign schedule holds.");
        for (i = 0; i < m->n; i++) {
            fprintf(f, "revoca_signer_due_entries{issuer=\"%s\"} %lld\n",
                    m->names[i], (long long)m->due[i].due);
        }
    }
    if (m->inventory_at != 0) {
        HELP(f, "revoca_signer_inventory_certificates", "gauge",
             "Certificate records of the issuer by status at the last "
             "complete inventory walk (good: live, issued, unexpired, "
             "neither revoked nor held; revoca inventory --status).");
        for (i = 0; i < m->n; i++) {
            for (int k = 0; k < OCSP_INV_STATUSES; k++) {
                fprintf(f,
                        "revoca_signer_inventory_certificates{issuer=\"%s\","
                        "status=\"%s\"} %llu\n",
                        m->names[i], ocsp_inv_status_names[k],
                        (unsigned long long)m->inv[i].by_status[k]);
            }
        }
        HELP(f, "revoca_signer_inventory_expiring_certificates", "gauge",
             "Live certificates whose notAfter is within 1d or 7d of the "
             "walk (revoca inventory --status good --expiring-within).");
        for (i = 0; i < m->n; i++) {
            for (int k = 0; k < SIGNER_EXPIRING; k++) {
                fprintf(f,
                        "revoca_signer_inventory_expiring_certificates{issuer="
                        "\"%s\",within=\"%s\"} %llu\n",
                        m->names[i], expiring_names[k],
                        (unsigned long long)m->inv[i].expiring[k]);
            }
        }
        HELP(f, "revoca_signer_inventory_invalid_records", "gauge",
             "Records the walk could not decode (revoca inventory names "
             "them).");
        for (i = 0; i < m->n; i++) {
            fprintf(f,
                    "revoca_signer_inventory_invalid_records{issuer=\"%s\"} "
                    "%llu\n",
                    m->names[i], (unsigned long long)m->inv[i].invalid);
        }
        HELP(f, "revoca_signer_inventory_walk_completed_seconds", "gauge",
             "When the last complete inventory walk ended (unix seconds).");
        fprintf(f, "revoca_signer_inventory_walk_completed_seconds %lld\n",
                (long long)m->inventory_at);
        HELP(f, "revoca_signer_inventory_walk_seconds", "gauge",
             "How long the last complete inventory walk took.");
        fprintf(f, "revoca_signer_inventory_walk_seconds %.3f\n",
                m->inventory_seconds);
    }
    HELP(f, "revoca_signer_metrics_written_seconds", "gauge",
         "When this file was written (unix seconds).");
    fprintf(f, "revoca_signer_metrics_written_seconds %lld\n", (long long)now);
}

/* Writes the file atomically.  0, or -1 with ERR. */
static int metrics_write(const signer_metrics_t *m, const signer_counts_t *c,
                         char *err)
{
    char tmp[4200];
    FILE *f;

    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp-%ld", m->path,
                         (long)getpid()) >= sizeof(tmp)) {
        snprintf(err, OCSP_ERR_MAX, "%.300s: path too long", m->path);
        return -1;
    }
    f = fopen(tmp, "w");
    if (f == NULL) {
        snprintf(err, OCSP_ERR_MAX, "%.300s: %s", tmp, strerror(errno));
        return -1;
    }
    metrics_print(m, c, f);
    if (fflush(f) != 0 || ferror(f)) {
        fclose(f);
        unlink(tmp);
        snprintf(err, OCSP_ERR_MAX, "%.300s: write failed", tmp);
        return -1;
    }
    fclose(f);
    if (rename(tmp, m->path) != 0) {
        snprintf(err, OCSP_ERR_MAX, "rename %.300s: %s", m->path,
                 strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

static void *metrics_main(void *arg)
{
    signer_metrics_t *m = arg;
    signer_counts_t c;
    long failed_logged = 0;
    int last = 0;

    memset(&c, 0, sizeof(c));
    c.applied = calloc(m->n ? m->n : 1, sizeof(*c.applied));
    if (c.applied == NULL) {
        ocsp_log(OCSP_LOG_ERR, "metrics thread: out of memory");
        return NULL;
    }
    while (!last) {
        char err[OCSP_ERR_MAX];
        struct timespec until;

        m->redis_up = metrics_query(m) == 0;
        if (m->redis_up && m->inventory_every_ms > 0 &&
            ocsp_now_ms() >= m->inventory_next_ms) {
            /* after a failure, tried again at the next round */
            if (metrics_inventory(m) == 0) {
                m->inventory_next_ms = ocsp_now_ms() + m->inventory_every_ms;
            }
        }
        pthread_mutex_lock(&m->mu);
        counts_copy(&c, &m->snap, m->n);
        last = m->stopping;
        pthread_mutex_unlock(&m->mu);
        if (metrics_write(m, &c, err) != 0 &&
            (failed_logged == 0 || ocsp_now_ms() - failed_logged > 60000)) {
            failed_logged = ocsp_now_ms();
            ocsp_log(OCSP_LOG_ERR,
                     "metrics not written err=\"%s\" "
                     "action=\"check signer.metrics_file\"",
                     err);
        }
        if (last) {
            break;
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += m->every_ms / 1000;
        until.tv_nsec += (m->every_ms % 1000) * 1000000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_mutex_lock(&m->mu);
        while (!m->stopping &&
               pthread_cond_timedwait(&m->cv, &m->mu, &until) != ETIMEDOUT) {
        }
        pthread_mutex_unlock(&m->mu);
    }
    free(c.applied);
    return NULL;
}

static void metrics_free(signer_metrics_t *m)
{
    ocsp_rconn_close(&m->conn);
    free(m->snap.applied);
    free(m->names);
    free(m->not_after);
    free(m->due);
    free(m->inv);
    free(m->path);
    free(m);
}

signer_metrics_t *signer_metrics_start(const ocsp_config_t *cf,
                                       const ocsp_registry_t *reg,
                                       const char *path, int64_t every_ms,
                                       int64_t inventory_every_ms,
                                       const char *events_key,
                                       const char *group, char *err)
{
    signer_metrics_t *m = calloc(1, sizeof(*m));
    size_t n = reg->n ? reg->n : 1;
    pthread_condattr_t ca;
    time_t now = time(NULL);

    if (m == NULL || (m->path = strdup(path)) == NULL ||
        (m->names = calloc(n, sizeof(*m->names))) == NULL ||
        (m->not_after = calloc(n, sizeof(*m->not_after))) == NULL ||
        (m->due = calloc(n, sizeof(*m->due))) == NULL ||
        (m->snap.applied = calloc(n, sizeof(*m->snap.applied))) == NULL) {
        snprintf(err, OCSP_ERR_MAX, "metrics: out of memory");
        if (m != NULL) {
            metrics_free(m);
        }
        return NULL;
    }
    m->cf = cf;
    m->every_ms = every_ms;
    m->inventory_every_ms = inventory_every_ms;
    m->n = reg->n;
    snprintf(m->events_key, sizeof(m->events_key), "%s", events_key);
    snprintf(m->group, sizeof(m->group), "%s", group);
    for (size_t i = 0; i < reg->n; i++) {
        snprintf(m->names[i], sizeof(m->names[i]), "%s",
                 reg->issuers[i].conf->name);
        /* read here, once: the thread never touches the certificates */
        m->not_after[i] =
            (int64_t)now + ocsp_issuer_responder_expiry(&reg->issuers[i], now);
    }
    ocsp_rconn_init(&m->conn, cf);
    m->conn.quiet = 1; /* the signer's own connections log Redis's state */
    pthread_mutex_init(&m->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&m->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&m->thread, NULL, metrics_main, m) != 0) {
        snprintf(err, OCSP_ERR_MAX, "metrics: cannot start the thread");
        pthread_cond_destroy(&m->cv);
        pthread_mutex_destroy(&m->mu);
        metrics_free(m);
        return NULL;
    }
    return m;
}

void signer_metrics_stop(signer_metrics_t *m)
{
    if (m == NULL) {
        return;
    }
    pthread_mutex_lock(&m->mu);
    m->stopping = 1;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
    pthread_join(m->thread, NULL);
    pthread_cond_destroy(&m->cv);
    pthread_mutex_destroy(&m->mu);
    metrics_free(m);
}
