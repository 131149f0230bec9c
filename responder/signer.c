/*
 * The signer's pipeline loop (the batch, its reading and its transaction
 * are signer_batch.c, signer_read.c and signer_tx.c).
 *
 * Invariants:
 *  1. Three batches: cur (read and loaded, being signed), ready (built;
 *     its transaction is sent while cur is signed) and next (the entries
 *     read ahead).  Two transaction connections alternate: ready's on one,
 *     cur's on the other; next is loaded on ready's connection behind its
 *     EXEC and becomes cur on that connection.
 *  2. On each connection replies are read in the order the commands were
 *     sent (rconn counts them): ready's MULTI..EXEC, then next's
 *     WATCH/MGET.  Nothing else is sent on a connection while a reply is
 *     pending there.
 *  3. No certificate is in two batches whose transactions are outstanding
 *     together: cur waits for ready to commit when they share one, and
 *     next's events about cur's certificates move into cur before cur is
 *     built (signer_batch_route()).  Another signer can still touch a
 *     record: WATCH makes the later transaction repeat.
 *  4. An entry is acknowledged only once the transaction that writes its
 *     effect has committed with every command of it successful (XACK
 *     after EXEC, on the same connection, its reply read with the next
 *     one there).  Any failure drops all three connections and empties
 *     all batches: what was not acknowledged stays pending, and after the
 *     reconnection our own pending entries are read again first; an entry
 *     whose write failed in EXEC is claimed again after claim_idle.  A
 *     redelivered event's writes are all made again; events commute
 *     (record.h), so a repeated batch landing after a later one changes
 *     nothing.
 *  5. Events first: due re-signs are claimed only when no event waits;
 *     the claims are leases, so a crash only delays a re-sign.
 *  6. A failure waits out rconn's backoff before the next round; an error
 *     reply is a failure, never a reason to repeat at once.
 *  7. On SIGTERM the batches in hand are finished, then the loop returns.
 */
#include "signer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "history.h"
#include "log.h"
#include "signer_batch.h"
#include "signer_read.h"
#include "signer_tx.h"

/*
 * The registry's error ("issuer NAME: ...") with the file and line of that
 * issuer's settings in front, as every configuration error has.
 */
static void signer_registry_error(signer_t *s, const ocsp_config_t *cf)
{
    for (size_t i = 0; i < cf->nissuers; i++) {
        const ocsp_issuer_conf_t *ic = &cf->issuers[i];
        size_t n = strlen(ic->name);

        if (strncmp(s->reg.err, "issuer ", 7) == 0 &&
            strncmp(s->reg.err + 7, ic->name, n) == 0 &&
            s->reg.err[7 + n] == ':') {
            ocsp_conf_error(s->err, cf->path, ic->setting, "%s", s->reg.err);
            return;
        }
    }
    snprintf(s->err, sizeof(s->err), "%s: %.400s", cf->path, s->reg.err);
}

int signer_init(signer_t *s, const ocsp_config_t *cf, volatile int *stop)
{
    const config_setting_t *g = config_lookup(&cf->lc, "signer");
    int64_t batch = 256, idle = 30, lease = 60, threads = 1, stats = 60;
    int64_t metrics_every = 10, inventory_every = 300;
    int64_t history = OCSP_HISTORY_MAX;
    const char *metrics_file = NULL;
    static const char *const known[] = {"batch",
                                        "claim_idle",
                                        "lease",
                                        "consumer",
                                        "sign_threads",
                                        "stats_interval",
                                        "metrics_file",
                                        "metrics_interval",
                                        "inventory_interval",
                                        "history",
                                        NULL};

    memset(s, 0, sizeof(*s));
    s->cf = cf;
    s->stop = stop;
    if (g != NULL &&
        (ocsp_conf_known(g, known, cf->path, s->err) != 0 ||
         ocsp_conf_int(g, "batch", 1, SIGNER_BATCH_MAX, &batch, cf->path,
                       s->err) != 0 ||
         ocsp_conf_duration(g, "claim_idle", &idle, cf->path, s->err) != 0 ||
         ocsp_conf_duration(g, "lease", &lease, cf->path, s->err) != 0 ||
         ocsp_conf_int(g, "sign_threads", 1, SIGNER_POOL_MAX, &threads,
                       cf->path, s->err) != 0 ||
         ocsp_conf_duration(g, "stats_interval", &stats, cf->path, s->err) !=
             0 ||
         ocsp_conf_string(g, "metrics_file", &metrics_file, cf->path, s->err) !=
             0 ||
         ocsp_conf_duration(g, "metrics_interval", &metrics_every, cf->path,
                            s->err) != 0 ||
         ocsp_conf_duration(g, "inventory_interval", &inventory_every, cf->path,
                            s->err) != 0 ||
         ocsp_conf_int(g, "history", 0, OCSP_HISTORY_LIMIT, &history, cf->path,
                       s->err) != 0)) {
        return -1;
    }
    if (inventory_every < 0 || inventory_every > 86400) {
        ocsp_conf_error(s->err, cf->path,
                        ocsp_conf_where(g, "inventory_interval"),
                        "signer: inventory_interval must be 0 (off) or "
                        "1s..1d");
        return -1;
    }
    s->inventory_every_ms = inventory_every * 1000;
    if (metrics_every < 1 || metrics_every > 3600) {
        ocsp_conf_error(s->err, cf->path,
                        ocsp_conf_where(g, "metrics_interval"),
                        "signer: metrics_interval must be 1s..1h");
        return -1;
    }
    s->metrics_every_ms = metrics_every * 1000;
    if (metrics_file != NULL &&
        (size_t)snprintf(s->metrics_file, sizeof(s->metrics_file), "%s",
                         metrics_file) >= sizeof(s->metrics_file)) {
        ocsp_conf_error(s->err, cf->path, ocsp_conf_where(g, "metrics_file"),
                        "signer: metrics_file too long");
        return -1;
    }
    if (stats < 0) {
        ocsp_conf_error(s->err, cf->path, g,
                        "signer: stats_interval must be >= 0 (0: off)");
        return -1;
    }
    s->stats_every_ms = stats * 1000;
    if (ocsp_purge_conf_load(&s->purge, cf, s->err) != 0) {
        return -1;
    }
    ocsp_key_invalidate(s->invalidate_key, cf->prefix);
    ocsp_key_purge(s->purge_key, cf->prefix);
    snprintf(s->purge_maxlen, sizeof(s->purge_maxlen), "%lld",
             (long long)s->purge.stream_max);
    if (ocsp_conf_consumer(g, s->consumer, sizeof(s->consumer), cf->path,
                           s->err) != 0) {
        return -1;
    }
    if (lease < 1) {
        ocsp_conf_error(s->err, cf->path, g, "signer: lease must be >= 1s");
        return -1;
    }
    /* 0 would take live signers' entries in flight every round */
    if (idle < 1 || idle > 86400) {
        ocsp_conf_error(s->err, cf->path, g,
                        "signer: claim_idle must be 1s..1d");
        return -1;
    }
    s->batch = (size_t)batch;
    s->history = history;
    s->claim_idle_ms = idle * 1000;
    s->lease = lease;
    s->sign_threads = (size_t)threads;
    if (ocsp_registry_load(&s->reg, cf, OCSP_REGISTRY_KEYS) != 0) {
        s->token_error = s->reg.token_error;
        signer_registry_error(s, cf);
        return -1;
    }
    s->applied = calloc(s->reg.n ? s->reg.n : 1, sizeof(*s->applied));
    if (s->applied == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return -1;
    }
    if (s->sign_threads > 1) {
        s->jobs = calloc(SIGNER_BATCH_MAX, sizeof(*s->jobs));
        if (s->jobs == NULL) {
            snprintf(s->err, sizeof(s->err), "out of memory");
            return -1;
        }
        s->pool = signer_pool_start(&s->reg, s->sign_threads, &s->token_error,
                                    s->reg.err);
        if (s->pool == NULL) {
            signer_registry_error(s, cf);
            return -1;
        }
    }
    ocsp_key_events(s->events_key, cf->prefix);
    ocsp_rconn_init(&s->read_conn, cf);
    ocsp_rconn_init(&s->tx_conn[0], cf);
    ocsp_rconn_init(&s->tx_conn[1], cf);
    return 0;
}

void signer_free(signer_t *s)
{
    signer_metrics_stop(s->metrics);
    s->metrics = NULL;
    free(s->applied);
    s->applied = NULL;
    ocsp_purger_stop(s->purger);
    s->purger = NULL;
    ocsp_purge_conf_free(&s->purge);
    signer_pool_stop(s->pool);
    s->pool = NULL;
    free(s->jobs);
    s->jobs = NULL;
    ocsp_rconn_close(&s->read_conn);
    ocsp_rconn_close(&s->tx_conn[0]);
    ocsp_rconn_close(&s->tx_conn[1]);
    ocsp_registry_free(&s->reg);
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The counters, one line (at every stats_interval, and when stopped). */
static void signer_log_stats(const signer_t *s, const char *what)
{
    const ocsp_purge_stats_t *ps =
        s->purger != NULL ? ocsp_purger_stats(s->purger) : NULL;

    ocsp_log(OCSP_LOG_INFO,
             "%s events=%llu signed=%llu conflicts=%llu batches=%llu "
             "computed=%llu invalidations=%llu purge_jobs=%llu "
             "unreplicated=%llu",
             what, (unsigned long long)s->events,
             (unsigned long long)s->signed_responses,
             (unsigned long long)s->conflicts, (unsigned long long)s->batches,
             (unsigned long long)s->computed,
             (unsigned long long)s->changes.invalidations,
             (unsigned long long)s->changes.purge_jobs,
             (unsigned long long)s->wait_short);
    if (ps != NULL) {
        ocsp_log(OCSP_LOG_INFO,
                 "purge stats jobs=%llu runs=%llu succeeded=%llu failed=%llu "
                 "retries=%llu gave_up=%llu dropped=%llu",
                 (unsigned long long)atomic_load(&ps->jobs),
                 (unsigned long long)atomic_load(&ps->runs),
                 (unsigned long long)atomic_load(&ps->succeeded),
                 (unsigned long long)atomic_load(&ps->failed),
                 (unsigned long long)atomic_load(&ps->retries),
                 (unsigned long long)atomic_load(&ps->gave_up),
                 (unsigned long long)atomic_load(&ps->dropped));
    }
}

/* Hands the counters to the metrics thread (signer_metrics.h). */
static void signer_publish(signer_t *s)
{
    const ocsp_purge_stats_t *ps =
        s->purger != NULL ? ocsp_purger_stats(s->purger) : NULL;
    signer_counts_t c;

    if (s->metrics == NULL) {
        return;
    }
    memset(&c, 0, sizeof(c));
    c.events = s->events;
    c.unreadable = s->unreadable;
    c.signed_responses = s->signed_responses;
    c.computed = s->computed;
    c.conflicts = s->conflicts;
    c.batches = s->batches;
    c.sign_ns = s->sign_ns;
    c.invalidations = s->changes.invalidations;
    c.purge_jobs = s->changes.purge_jobs;
    c.redis_errors = s->read_conn.errors_total + s->tx_conn[0].errors_total +
                     s->tx_conn[1].errors_total;
    c.redis_connects = s->read_conn.connects_total +
                       s->tx_conn[0].connects_total +
                       s->tx_conn[1].connects_total;
    if (ps != NULL) {
        c.purge_taken = atomic_load(&ps->jobs);
        c.purge_runs = atomic_load(&ps->runs);
        c.purge_succeeded = atomic_load(&ps->succeeded);
        c.purge_failed = atomic_load(&ps->failed);
        c.purge_retries = atomic_load(&ps->retries);
        c.purge_gave_up = atomic_load(&ps->gave_up);
        c.purge_dropped = atomic_load(&ps->dropped);
    }
    c.applied = s->applied;
    signer_metrics_publish(s->metrics, &c);
    s->metrics_pub_ms = ocsp_now_ms();
}

/* Adds the time since *T0 to phase PHASE and restarts *T0. */
static void phase_end(signer_t *s, int phase, int64_t *t0)
{
    int64_t t = mono_ns();

    s->t_ns[phase] += t - *t0;
    *t0 = t;
}

/* Runs a batch, repeating it while other signers win the race, and
 * acknowledges its entries once committed.  0, or -1. */
static int batch_run(signer_t *s, signer_batch_t *b)
{
    int outcome = signer_tx_commit(s, b);

    if (outcome == 1) {
        return 0; /* stopped: unacknowledged entries stay pending */
    }
    return outcome == 0 ? signer_tx_ack_send(s, b) : -1;
}

/* The first error text among the connections, for the log. */
static const char *signer_err(const signer_t *s)
{
    if (s->read_conn.err[0]) {
        return s->read_conn.err;
    }
    return s->tx_conn[0].err[0] ? s->tx_conn[0].err : s->tx_conn[1].err;
}

static void signer_drop(signer_t *s)
{
    ocsp_rconn_drop(&s->read_conn);
    ocsp_rconn_drop(&s->tx_conn[0]);
    ocsp_rconn_drop(&s->tx_conn[1]);
    s->ahead_sent = 0;
    s->acks_out[0] = 0;
    s->acks_out[1] = 0;
}

/*
 * Sends the batch built last (if any) and reads its outcome.  When the
 * records of the batch after (*next, on the same connection) were asked for
 * behind its EXEC, their replies are read too; should the batch have to be
 * repeated, those WATCHes are dropped first and *next is left to load again
 * (*next = NULL).
 */
static int finish_ready(signer_t *s, signer_batch_t **ready,
                        signer_batch_t **next, int flushed)
{
    int outcome;

    if (*ready == NULL) {
        return next != NULL && *next != NULL &&
                       signer_tx_load_recv(s, *next) != 0
                   ? -1
                   : 0;
    }
    outcome = flushed ? 0 : ocsp_rconn_flush((*ready)->conn);
    if (outcome == 0) {
        outcome = signer_tx_finish(s, *ready);
    }
    if (outcome >= 0 && next != NULL && *next != NULL) {
        if (signer_tx_load_recv(s, *next) != 0) {
            outcome = -1;
        } else if (outcome == 1) {
            const char *argv[] = {"UNWATCH"};
            redisReply *r = ocsp_rconn_cmd((*ready)->conn, 1, argv, NULL);
            if (r == NULL) {
                outcome = -1;
            }
            freeReplyObject(r);
            *next = NULL;
        }
    }
    if (outcome == 1) {
        outcome = batch_run(s, *ready);
    } else if (outcome == 0) {
        outcome = signer_tx_ack_send(s, *ready);
    }
    if (outcome == 0) {
        ocsp_log(OCSP_LOG_DEBUG, "batch events=%zu records=%zu",
                 (*ready)->nentries, (*ready)->nitems);
    }
    signer_batch_reset(*ready);
    *ready = NULL;
    return outcome < 0 ? -1 : 0;
}

int signer_run(signer_t *s)
{
    /* cur, ready and the batch read ahead (invariant 1); turn: cur's
     * transaction connection. */
    signer_batch_t *bufs = calloc(3, sizeof(signer_batch_t));
    signer_batch_t *cur, *ready = NULL, *next;
    int connected = 0, turn = 0, confirmed = 1;
    int64_t t0;
    signer_batch_t *loading;
    size_t i;

    if (bufs == NULL) {
        snprintf(s->err, sizeof(s->err), "out of memory");
        return -1;
    }
    cur = &bufs[0];
    ocsp_log(OCSP_LOG_INFO,
             "started consumer=%s issuers=%zu batch=%zu sign_threads=%zu",
             s->consumer, s->reg.n, s->batch, s->sign_threads);
    if (s->purge.enabled && s->purger == NULL) {
        s->purger =
            ocsp_purger_start(s->cf, &s->purge, &s->reg, s->consumer, s->err);
        if (s->purger == NULL) {
            /* the jobs wait in Redis for a purger that runs */
            ocsp_log(OCSP_LOG_ERR, "%s action=\"purges not run\"", s->err);
        }
    }
    if (s->metrics_file[0] != '\0' && s->metrics == NULL) {
        s->metrics = signer_metrics_start(
            s->cf, &s->reg, s->metrics_file, s->metrics_every_ms,
            s->inventory_every_ms, s->events_key, SIGNER_GROUP, s->err);
        if (s->metrics == NULL) {
            ocsp_log(OCSP_LOG_ERR, "%s action=\"no metrics written\"", s->err);
        }
    }
    s->stats_ms = ocsp_now_ms();
    while (!*s->stop) {
        char expiry[160]; /* issue 11 part 4: a day's warning, issuer.h */
        if (ocsp_daemon_restart_due(&s->restart)) {
            s->reexec = 1;
            *s->stop = 1;
            break;
        }
        while (ocsp_registry_expiry_due(&s->reg, time(NULL), expiry,
                                        sizeof(expiry))) {
            ocsp_log(OCSP_LOG_WARN, "%s", expiry);
        }
        if (s->stats_every_ms > 0 &&
            ocsp_now_ms() - s->stats_ms >= s->stats_every_ms) {
            s->stats_ms = ocsp_now_ms();
            signer_log_stats(s, "stats");
        }
        if (s->metrics != NULL && ocsp_now_ms() - s->metrics_pub_ms >= 1000) {
            signer_publish(s);
        }
        if (ocsp_rconn_ensure(&s->read_conn, s->stop, 0) != 0 ||
            ocsp_rconn_ensure(&s->tx_conn[0], s->stop, 0) != 0 ||
            ocsp_rconn_ensure(&s->tx_conn[1], s->stop, 0) != 0) {
            break;
        }
        if (!connected) {
            if (signer_read_group(s) != 0) {
                goto lost;
            }
            connected = 1;
            ocsp_daemon_ready(); /* keys loaded, Redis answered */
            s->own_pending_done = 0;
            snprintf(s->pending_from, sizeof(s->pending_from), "0");
            if (!s->ever_connected) {
                /* after a failure, rconn says when it recovered */
                s->ever_connected = 1;
                ocsp_log(OCSP_LOG_INFO, "redis connected host=%s port=%d",
                         s->read_conn.host, s->read_conn.port);
            }
        }
        /* (read_conn is free only when no read ahead is in flight) */
        if ((s->ndrops > 0 || s->drop_all) && !s->ahead_sent &&
            signer_tx_drop_logs(s) != 0) {
            goto lost;
        }

        t0 = mono_ns();
        if (cur->nentries == 0) {
            /* Nothing read ahead and loaded.  Entries asked for while the
             * last batch was signed come first; else, with a batch built
             * and waiting, only look for more. */
            if (s->ahead_sent && signer_read_ahead_recv(s, cur) != 0) {
                goto lost;
            }
            if (cur->nentries == 0 &&
                signer_read_events(s, cur, ready == NULL) != 0) {
                goto lost;
            }
            signer_batch_drop_held(cur, ready);
            cur->conn = &s->tx_conn[turn];
            /* Read before the batch built last commits: should they share
             * a certificate, that one commits first (no WATCH conflict). */
            if (ready != NULL && signer_batch_overlaps(ready, cur) &&
                finish_ready(s, &ready, NULL, 0) != 0) {
                goto lost;
            }
            if (cur->nentries > 0 && signer_tx_load(s, cur) != 0) {
                goto lost;
            }
            /* (a read blocking for events counts here too) */
            phase_end(s, SIGNER_T_SYNC, &t0);
        }
        if (cur->nentries > 0) {
            /*
             * Let Redis run the batch built before while this one is
             * signed, with the records of the next entries asked for
             * behind it.  Those entries were asked for while the last
             * batch was signed (in steady state; else now, and waited
             * for).  Should two batches touch a record regardless
             * (another signer), WATCH makes the later one repeat.
             */
            for (next = bufs; next == cur || next == ready; next++) {
            }
            loading = NULL;
            if (!s->ahead_sent && signer_read_ahead_possible(s) &&
                signer_read_ahead_send(s) != 0) {
                goto lost;
            }
            if (ready != NULL && ocsp_rconn_flush(ready->conn) != 0) {
                goto lost;
            }
            phase_end(s, SIGNER_T_FLUSH, &t0);
            /*
             * The records of the entries read ahead are asked for behind
             * that transaction's EXEC on the same connection, so that
             * Redis has them ready when this batch is signed and never
             * waits for the signer.
             */
            if (s->ahead_sent) {
                if (signer_read_ahead_recv(s, next) != 0) {
                    goto lost;
                }
                signer_batch_drop_held(next, cur);
                signer_batch_drop_held(next, ready);
                signer_batch_route(cur, next);
                if (next->nitems > 0) {
                    next->conn = &s->tx_conn[turn ^ 1];
                    signer_tx_load_send(next);
                    if (ocsp_rconn_flush(next->conn) != 0) {
                        goto lost;
                    }
                    loading = next;
                }
                phase_end(s, SIGNER_T_AHEAD, &t0);
            }
            /* The entries after those: in while this batch is signed. */
            if (next->nentries > 0 && signer_read_ahead_possible(s) &&
                signer_read_ahead_send(s) != 0) {
                goto lost;
            }
            signer_tx_build(s, cur);
            phase_end(s, SIGNER_T_BUILD, &t0);
            if (finish_ready(s, &ready, &loading, 1) != 0) {
                goto lost;
            }
            phase_end(s, SIGNER_T_FINISH, &t0);
            ready = cur;
            turn ^= 1;
            cur = next;
            cur->conn = &s->tx_conn[turn];
            if (loading == NULL && cur->nentries > 0 &&
                signer_tx_load(s, cur) != 0) {
                goto lost;
            }
            phase_end(s, SIGNER_T_SYNC, &t0);
            continue; /* events first: the CA's hook is waiting */
        }
        signer_batch_reset(cur);
        if (finish_ready(s, &ready, NULL, 0) != 0) {
            goto lost;
        }

        /* Each round starts at the next issuer: a backlog of one must
         * not keep the others' responses from being re-signed in time. */
        for (i = 0; i < s->reg.n && cur->nitems < s->batch; i++) {
            size_t at = (s->due_first + i) % s->reg.n;
            if (signer_read_due(s, cur, &s->reg.issuers[at]) != 0) {
                goto lost;
            }
        }
        s->due_first = s->reg.n ? (s->due_first + 1) % s->reg.n : 0;
        if (cur->nitems > 0) {
            size_t n = cur->nitems;
            cur->conn = &s->tx_conn[turn];
            if (batch_run(s, cur) < 0) {
                goto lost;
            }
            ocsp_log(OCSP_LOG_DEBUG, "re-signed records=%zu", n);
        }
        signer_batch_reset(cur);
        continue;

    lost:
        /* Unacknowledged entries stay pending and are read again. */
        for (i = 0; i < 3; i++) {
            signer_batch_reset(&bufs[i]);
        }
        ready = NULL;
        /* rconn logged the failure (rate-limited) and backs off. */
        signer_drop(s);
        connected = 0;
    }
    /* SIGTERM: finish the batches in hand, the one read ahead included. */
    if (connected) {
        for (next = bufs; next == cur || next == ready; next++) {
        }
        next->conn = &s->tx_conn[turn];
        confirmed = (ready == NULL || finish_ready(s, &ready, NULL, 0) == 0) &&
                    (cur->nentries == 0 || batch_run(s, cur) == 0) &&
                    (!s->ahead_sent || signer_read_ahead_recv(s, next) == 0) &&
                    (next->nentries == 0 || batch_run(s, next) == 0) &&
                    signer_tx_ack_recv(s, &s->tx_conn[0]) == 0 &&
                    signer_tx_ack_recv(s, &s->tx_conn[1]) == 0;
    }
    if (!confirmed) {
        ocsp_log(OCSP_LOG_WARN, "last batch unconfirmed err=\"%s\"",
                 signer_err(s));
    }
    signer_publish(s);
    /* the run in hand ends within purge.timeout; its jobs stay pending */
    ocsp_purger_stop(s->purger);
    s->purger = NULL;
    signer_log_stats(s, "stopped");
    /* the last file, with the counters of the batches just finished */
    signer_metrics_stop(s->metrics);
    s->metrics = NULL;
    ocsp_log(OCSP_LOG_INFO,
             "time wall_ms build=%lld ahead=%lld flush=%lld finish=%lld "
             "sync=%lld",
             (long long)(s->t_ns[SIGNER_T_BUILD] / 1000000),
             (long long)(s->t_ns[SIGNER_T_AHEAD] / 1000000),
             (long long)(s->t_ns[SIGNER_T_FLUSH] / 1000000),
             (long long)(s->t_ns[SIGNER_T_FINISH] / 1000000),
             (long long)(s->t_ns[SIGNER_T_SYNC] / 1000000));
    for (i = 0; i < 3; i++) {
        signer_batch_reset(&bufs[i]);
    }
    free(bufs);
    return 0;
}
