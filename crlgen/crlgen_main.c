/*
 * revoca-crlgen: full, delta and sharded CRLs from the Redis status store,
 * re-signed on schedule and published atomically (docs/crl.md).
 *
 *   revoca-crlgen -c FILE [--once [--delta]] [--check] [-v] | --help
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "crl_conf.h"
#include "crl_fetch.h"
#include "crl_gen.h"
#include "events.h"
#include "log.h"
#include "publish.h"

#define TICK_MS 1000
#define RETRY_MAX_MS 60000

static volatile int crl_stop;
/* A token outage a fresh start would end (daemon.h): stop, re-exec. */
static ocsp_daemon_restart_t crl_restart;
static int crl_reexec;

static void usage(FILE *f)
{
    fprintf(f,
            "usage: revoca-crlgen -c FILE [--once [--delta]] [--check] [-v]\n"
            "       revoca-crlgen --help\n"
            "  -c, --config FILE  the Revoca configuration (docs/crl.md)\n"
            "      --once         build and publish every CRL once, exit\n"
            "      --delta        with --once: only a delta over the last "
            "full CRL\n"
            "      --check        validate the configuration, each issuer's "
            "CA certificate\n"
            "                     and key, and the publish, state and "
            "metrics paths; exit\n"
            "                     0 if all is well, else non-zero with "
            "FILE:LINE: problem\n"
            "  -v, --verbose      debug logging\n"
            "  -h, --help         this text\n");
}

static void crl_write_metrics(crl_gen_t *g)
{
    char err[OCSP_ERR_MAX];

    if (crl_metrics_write(&g->metrics, g->crl_conf->metrics_file, err) != 0) {
        ocsp_log(OCSP_LOG_WARN, "metrics not written: %s", err);
    }
}

/* A failure repeated at each retry is logged once per interval. */
#define REPEAT_LOG_MS 60000

static void crl_failed(crl_issuer_t *is, const char *what, const char *err)
{
    long delay = 1000L << (is->failures < 6 ? is->failures : 6);
    long now = ocsp_now_ms();
    int same = strcmp(err, is->failed_err) == 0;

    if (delay > RETRY_MAX_MS) {
        delay = RETRY_MAX_MS;
    }
    is->failures++;
    is->retry_at = now + delay;
    if (same && now - is->failed_logged < REPEAT_LOG_MS) {
        is->failed_repeats++;
        ocsp_log(OCSP_LOG_DEBUG,
                 "%s failed again issuer=%s retry_ms=%ld repeats=%lu", what,
                 is->conf->issuer_conf->name, delay, is->failed_repeats);
        return;
    }
    ocsp_log(OCSP_LOG_ERR,
             "%s failed issuer=%s retry_ms=%ld repeats=%lu error=\"%s\"", what,
             is->conf->issuer_conf->name, delay, same ? is->failed_repeats : 0,
             err);
    snprintf(is->failed_err, sizeof(is->failed_err), "%s", err);
    is->failed_logged = now;
    is->failed_repeats = 0;
}

/* The end of a run of failures. */
static void crl_recovered(crl_issuer_t *is)
{
    if (is->failures > 0) {
        ocsp_log(OCSP_LOG_INFO, "recovered issuer=%s failures=%d",
                 is->conf->issuer_conf->name, is->failures);
    }
    is->failures = 0;
    is->retry_at = 0;
    is->failed_err[0] = '\0';
    is->failed_repeats = 0;
}

/* The line of the setting NAME (a path "crl.publish_dir"), else of its
 * group: where a problem with a defaulted directory comes from. */
static const config_setting_t *crl_setting(const ocsp_config_t *config,
                                           const char *name)
{
    const config_setting_t *s = config_lookup(&config->lc, name);

    if (s == NULL) {
        s = config_lookup(&config->lc, "crl");
    }
    return s;
}

/*
 * Whether DIR can be published into: a writable directory, or one that
 * mkdir() can create (its parent is one).  NAME is its setting, for
 * "FILE:LINE: NAME DIR: problem" in err.  0 or -1.
 */
static int crl_check_dir(const ocsp_config_t *config, const char *name,
                         const char *dir, int create, char *err)
{
    struct stat sb;
    char parent[4096];
    const char *slash;

    if (stat(dir, &sb) == 0) {
        if (!S_ISDIR(sb.st_mode)) {
            ocsp_conf_error(err, config->path, crl_setting(config, name),
                            "%s %s: not a directory", name, dir);
            return -1;
        }
        if (access(dir, W_OK | X_OK) != 0) {
            ocsp_conf_error(err, config->path, crl_setting(config, name),
                            "%s %s: not writable: %s", name, dir,
                            strerror(errno));
            return -1;
        }
        return 0;
    }
    if (errno != ENOENT || !create) {
        ocsp_conf_error(err, config->path, crl_setting(config, name),
                        "%s %s: %s", name, dir, strerror(errno));
        return -1;
    }
    /* created at start-up (not recursively): its parent must take it */
    slash = strrchr(dir, '/');
    snprintf(parent, sizeof(parent), "%.*s",
             slash == NULL  ? 1
             : slash == dir ? 1
                            : (int)(slash - dir),
             slash == NULL ? "." : dir);
    if (stat(parent, &sb) != 0 || !S_ISDIR(sb.st_mode) ||
        access(parent, W_OK | X_OK) != 0) {
        ocsp_conf_error(err, config->path, crl_setting(config, name),
                        "%s %s: cannot be created: %s is not a writable "
                        "directory",
                        name, dir, parent);
        return -1;
    }
    return 0;
}

/* --check beyond the configuration and the keys: where files go. */
static int crl_check_paths(const ocsp_config_t *config,
                           const crl_conf_t *crl_conf, char *err)
{
    char dir[4096];
    const char *slash;

    if (crl_check_dir(config, "crl.publish_dir", crl_conf->publish_dir, 1,
                      err) != 0 ||
        crl_check_dir(config, "crl.state_dir", crl_conf->state_dir, 1, err) !=
            0) {
        return -1;
    }
    if (crl_conf->metrics_file != NULL) {
        slash = strrchr(crl_conf->metrics_file, '/');
        snprintf(dir, sizeof(dir), "%.*s",
                 slash == NULL ? 1 : (int)(slash - crl_conf->metrics_file),
                 slash == NULL ? "." : crl_conf->metrics_file);
        /* beside the publish dir by default: it may be created with it */
        if (strcmp(dir, crl_conf->publish_dir) != 0 &&
            crl_check_dir(config, "crl.metrics_file", dir, 0, err) != 0) {
            return -1;
        }
    }
    return 0;
}

/* --once: every issuer's CRLs (or only deltas), each under its lease. */
static int crl_run_once(crl_gen_t *g, crl_issuer_t *iss, size_t n,
                        int delta_only)
{
    char err[OCSP_ERR_MAX];
    int rc = 0;

    for (size_t i = 0; i < n; i++) {
        crl_issuer_t *is = &iss[i];
        long deadline =
            ocsp_now_ms() + 2 * g->crl_conf->lease_ttl * 1000 + 1000;
        int held;

        while ((held = crl_lease_acquire(g->conn, &is->lease)) == 0 &&
               ocsp_now_ms() < deadline && !crl_stop) {
            struct timespec ts = {0, 200 * 1000000L};
            nanosleep(&ts, NULL);
        }
        if (held != 1) {
            fprintf(stderr, "revoca-crlgen: issuer %s: %s\n",
                    is->conf->issuer_conf->name,
                    held < 0 ? g->conn->err
                             : "another generator holds the lease");
            rc = 1;
            continue;
        }
        if (crl_state_load(g->conn, g->crl_conf->config->prefix,
                           is->conf->issuer_conf->name, &is->st, err) != 0 ||
            (delta_only ? crl_gen_delta(g, is, err)
                        : crl_gen_full(g, is, err)) != 0) {
            fprintf(stderr, "revoca-crlgen: issuer %s: %s\n",
                    is->conf->issuer_conf->name, err);
            rc = 1;
        }
        crl_lease_release(g->conn, &is->lease);
    }
    crl_write_metrics(g);
    return rc;
}

/* One issuer's turn in the daemon loop. */
static void crl_tick_issuer(crl_gen_t *g, crl_events_t *ev, crl_issuer_t *iss,
                            size_t k)
{
    const crl_conf_t *crl_conf = g->crl_conf;
    crl_issuer_t *is = &iss[k];
    const crl_issuer_conf_t *crl_issuer = is->conf;
    char err[OCSP_ERR_MAX];
    int held, was = is->leader, full, delta = 0, rc;
    int64_t now, last_change, covered;
    size_t ready;
    long built;

    if (is->yielded) {
        if (ocsp_now_ms() < is->retry_at) {
            return; /* another generator may have better luck */
        }
        is->yielded = 0;
    }
    held = crl_lease_acquire(g->conn, &is->lease);
    if (held < 0) {
        /* connection trouble: the loop reconnects, perhaps to a promoted
         * replica that lacks the last state written */
        is->reload = 1;
        return;
    }
    is->leader = held;
    crl_metrics_leader(&g->metrics, crl_issuer->issuer_conf->name, held);
    if (held && (!was || is->reload)) {
        crl_state_t st;

        if (crl_state_load(g->conn, crl_conf->config->prefix,
                           crl_issuer->issuer_conf->name, &st, err) != 0) {
            is->leader = 0;
            return;
        }
        /* What this generator published and Redis lacks is written again;
         * what another generator published since is taken. */
        if (crl_state_merge(&st, &is->st) &&
            crl_state_save(g->conn, &is->lease, crl_conf->config->prefix,
                           crl_issuer->issuer_conf->name, &st) == 1) {
            ocsp_log(OCSP_LOG_WARN,
                     "state restored issuer=%s full_number=%llu "
                     "delta_number=%llu",
                     crl_issuer->issuer_conf->name,
                     (unsigned long long)st.full_number,
                     (unsigned long long)st.delta_number);
        }
        is->st = st;
        is->reload = 0;
    }
    if (held && !was) {
        ocsp_log(OCSP_LOG_INFO, "lease acquired issuer=%s full_number=%llu",
                 crl_issuer->issuer_conf->name,
                 (unsigned long long)is->st.full_number);
        {
            /* A publish dir of our own that lacks the full CRL (a new
             * generator taking over) gets one now, not at the next
             * re-sign. */
            char path[4096];
            struct stat sb;
            snprintf(path, sizeof(path), "%s/%s.crl", crl_conf->publish_dir,
                     crl_issuer->issuer_conf->name);
            if (stat(path, &sb) != 0) {
                is->rebase = 1;
            }
        }
    } else if (!held && was) {
        ocsp_log(OCSP_LOG_WARN, "lease lost issuer=%s",
                 crl_issuer->issuer_conf->name);
        crl_events_forget(ev, k);
    }
    if (!held || ocsp_now_ms() < is->retry_at) {
        return;
    }

    /* Redis's clock, as thisUpdate uses: generators on hosts with skewed
     * clocks keep one schedule. */
    if (ocsp_rconn_time_ms(g->conn, &now) != 0) {
        return; /* the connection failed: the loop reconnects */
    }
    now /= 1000;
    ready = crl_events_reflect(g->conn, ev, k);
    if (crl_fetch_last_change(g->conn, crl_conf->config->prefix,
                              crl_issuer->issuer_conf->name, &last_change,
                              err) != 0) {
        return;
    }
    covered = is->st.full_max_ms > is->st.delta_max_ms ? is->st.full_max_ms
                                                       : is->st.delta_max_ms;
    int dirty = ready > 0 || last_change > covered;

    full = is->st.full_number == 0 || is->rebase ||
           now >= is->st.full_this_update + crl_issuer->resign_after;
    if (!full && crl_issuer->delta) {
        delta =
            is->st.delta_base != is->st.full_number ||
            now >= is->st.delta_this_update + crl_issuer->delta_resign_after ||
            (dirty &&
             now >= is->st.delta_this_update + crl_issuer->update_interval);
    } else if (!full && dirty &&
               now >= is->st.full_this_update + crl_issuer->update_interval) {
        full = 1; /* no deltas: changes go out in the next full CRL */
    }
    if (!full && !delta) {
        return;
    }
    built = ocsp_now_ms();
    rc = full ? crl_gen_full(g, is, err) : crl_gen_delta(g, is, err);
    if (rc != 0) {
        crl_failed(is, full ? "full CRL" : "delta CRL", err);
    }
    if (rc == 1) {
        /* Published here, not where clients read: let another generator
         * (another host, another path to the shared location) take over
         * until the backoff has passed. */
        crl_lease_release(g->conn, &is->lease);
        is->leader = 0;
        is->yielded = 1;
        crl_metrics_leader(&g->metrics, crl_issuer->issuer_conf->name, 0);
        crl_events_forget(ev, k);
        ocsp_log(OCSP_LOG_WARN, "lease released issuer=%s retry_ms=%ld",
                 crl_issuer->issuer_conf->name, is->retry_at - ocsp_now_ms());
    } else if (rc == 0) {
        crl_recovered(is);
        crl_events_ack(g->conn, ev, k, built,
                       (long)crl_conf->event_timeout * 1000);
    }
    crl_write_metrics(g);
}

static int crl_run_daemon(crl_gen_t *g, crl_issuer_t *iss, size_t n)
{
    crl_events_t ev;
    int grouped = 0;

    crl_events_init(&ev, g->crl_conf->config->prefix, g->crl_conf->consumer,
                    g->crl_conf->claim_idle);
    ocsp_log(OCSP_LOG_INFO, "started consumer=%s issuers=%zu publish_dir=%s",
             g->crl_conf->consumer, n, g->crl_conf->publish_dir);
    while (!crl_stop) {
        int was_up;

        if (ocsp_daemon_restart_due(&crl_restart)) {
            crl_reexec = 1;
            break;
        }
        was_up = ocsp_rconn_connected(g->conn);
        if (ocsp_rconn_ensure(g->conn, &crl_stop, 0) != 0) {
            continue;
        }
        /* A new connection, perhaps to a promoted replica (a failover) or
         * a restarted primary that lost its last writes: each leader
         * checks the shared state against what it has in hand. */
        for (size_t i = 0; i < n && !was_up; i++) {
            iss[i].reload = 1;
        }
        if (!was_up) {
            grouped = 0; /* the group may be missing there */
        }
        if (!grouped) {
            grouped = crl_events_group(g->conn, &ev) == 0;
        }
        ocsp_daemon_ready(); /* keys loaded, Redis answered */
        for (size_t i = 0; i < n && !crl_stop; i++) {
            crl_tick_issuer(g, &ev, iss, i);
        }
        if (crl_stop) {
            break;
        }
        if (crl_events_read(g->conn, &ev, iss, n, TICK_MS) < 0) {
            /* logged by the connection (rconn.h), rate-limited; the next
             * ensure backs off before it reconnects */
            ocsp_log(OCSP_LOG_DEBUG, "events not read: %s", g->conn->err);
            grouped = 0;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (iss[i].leader) {
            crl_lease_release(g->conn, &iss[i].lease);
            iss[i].leader = 0;
            crl_metrics_leader(&g->metrics, iss[i].conf->issuer_conf->name, 0);
        }
    }
    crl_write_metrics(g);
    crl_events_free(&ev);
    ocsp_log(OCSP_LOG_INFO, "stopped");
    return 0;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"once", no_argument, NULL, 'o'},
        {"check", no_argument, NULL, 'k'},
        {"delta", no_argument, NULL, 'd'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *file = NULL;
    int once = 0, check = 0, verbose = 0, delta_only = 0, c, rc = 2;
    ocsp_config_t config;
    crl_conf_t crl_conf;
    ocsp_rconn_t rconn;
    crl_issuer_t *iss = NULL;
    crl_gen_t g;
    char err[OCSP_ERR_MAX];
    int have_cf = 0, have_cc = 0;

    while ((c = getopt_long(argc, argv, "c:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            file = optarg;
            break;
        case 'o':
            once = 1;
            break;
        case 'k':
            check = 1;
            break;
        case 'd':
            delta_only = 1;
            break;
        case 'v':
            verbose = 1;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (file == NULL || optind != argc || (delta_only && !once)) {
        usage(stderr);
        return 2;
    }
    ocsp_log_init("crlgen", verbose ? OCSP_LOG_DEBUG : OCSP_LOG_INFO);

    if (ocsp_config_load(&config, file, err) != 0) {
        fprintf(stderr, "revoca-crlgen: %s\n", err);
        return 2;
    }
    have_cf = 1;
    if (crl_conf_load(&crl_conf, &config, err) != 0) {
        fprintf(stderr, "revoca-crlgen: %s\n", err);
        goto done;
    }
    have_cc = 1;
    for (size_t i = 0; i < crl_conf.n; i++) {
        if (crl_conf.issuers[i].delta &&
            crl_conf.issuers[i].delta_url == NULL) {
            ocsp_log(OCSP_LOG_WARN,
                     "issuer=%s deltas without crl.delta_url or "
                     "crl.base_url: the full CRL carries no freshestCRL "
                     "(RFC 5280 5.2.6)",
                     crl_conf.issuers[i].issuer_conf->name);
        }
    }
    iss = calloc(crl_conf.n, sizeof(*iss));
    if (iss == NULL) {
        fprintf(stderr, "revoca-crlgen: out of memory\n");
        goto done;
    }
    for (size_t i = 0; i < crl_conf.n; i++) {
        iss[i].conf = &crl_conf.issuers[i];
        if (crl_signer_load(&iss[i].signer,
                            crl_conf.issuers[i].issuer_conf->cert_path,
                            crl_conf.issuers[i].issuer_conf->ca_key_path,
                            crl_conf.issuers[i].issuer_conf, &config.pkcs11,
                            NULL, err) != 0) {
            char where[OCSP_ERR_MAX];

            ocsp_conf_error(
                where, config.path, crl_conf.issuers[i].issuer_conf->setting,
                "issuer %s: %s", crl_conf.issuers[i].issuer_conf->name, err);
            fprintf(stderr, "revoca-crlgen: %s\n", where);
            goto done;
        }
        if (crl_lease_init(&iss[i].lease, config.prefix,
                           crl_conf.issuers[i].issuer_conf->name,
                           crl_conf.consumer, crl_conf.lease_ttl) != 0) {
            fprintf(stderr, "revoca-crlgen: RAND_bytes() failed\n");
            goto done;
        }
    }
    if (check) {
        if (crl_check_paths(&config, &crl_conf, err) != 0) {
            fprintf(stderr, "revoca-crlgen: %s\n", err);
            goto done;
        }
        printf("revoca-crlgen: %s: ok (%zu issuers)\n", file, crl_conf.n);
        rc = 0;
        goto done;
    }
    if (mkdir(crl_conf.publish_dir, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "revoca-crlgen: %s: %s\n", crl_conf.publish_dir,
                strerror(errno));
        goto done;
    }
    if (mkdir(crl_conf.state_dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "revoca-crlgen: %s: %s\n", crl_conf.state_dir,
                strerror(errno));
        goto done;
    }
    crl_publish_cleanup(crl_conf.publish_dir);

    ocsp_daemon_signals(&crl_stop);

    ocsp_rconn_init(&rconn, &config);
    memset(&g, 0, sizeof(g));
    g.crl_conf = &crl_conf;
    g.conn = &rconn;
    if (once) {
        if (ocsp_rconn_ensure(&rconn, &crl_stop, ocsp_now_ms() + 10000) != 0) {
            fprintf(stderr, "revoca-crlgen: redis: %s\n", rconn.err);
            rc = 1;
        } else {
            rc = crl_run_once(&g, iss, crl_conf.n, delta_only);
        }
    } else {
        ocsp_daemon_restart_init(&crl_restart, file);
        rc = crl_run_daemon(&g, iss, crl_conf.n);
    }
    ocsp_rconn_close(&rconn);
    crl_metrics_free(&g.metrics);

done:
    if (iss != NULL) {
        for (size_t i = 0; i < crl_conf.n; i++) {
            crl_signer_free(&iss[i].signer);
        }
        free(iss);
    }
    if (have_cc) {
        crl_conf_free(&crl_conf);
    }
    if (have_cf) {
        ocsp_config_free(&config);
    }
    if (crl_reexec) {
        ocsp_daemon_reexec(argv);
        return 1;
    }
    return rc;
}
