/*
 * revoca-signer: see signer.h.
 *
 *   revoca-signer -c FILE [-v] [--metrics-file FILE]
 *                                   run (the metrics file given here
 *                                   overrides signer.metrics_file)
 *   revoca-signer -c FILE --check   validate the configuration and the
 *                                   responder keys, print what it would
 *                                   run with, exit 0 (or 1, the error
 *                                   naming file and line)
 *   revoca-signer --help
 */
#include <getopt.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "log.h"
#include "policy.h"
#include "signer.h"

static volatile int stop_flag;

static void usage(FILE *f)
{
    fprintf(f, "usage: revoca-signer -c FILE [--check] [-v] "
               "[--metrics-file FILE]\n"
               "  -c, --config FILE  the Revoca configuration file\n"
               "      --metrics-file FILE\n"
               "                     write Prometheus metrics to FILE "
               "(overrides\n"
               "                     signer.metrics_file)\n"
               "      --check        validate the configuration and the "
               "responder keys,\n"
               "                     print what would run, exit\n"
               "  -v, --verbose      debug logging\n"
               "  -h, --help         this text\n");
}

/* What the signer would run with, for --check. */
static void print_check(const ocsp_config_t *cf, const signer_t *s)
{
    printf("revoca-signer: %s: ok\n", cf->path);
    if (cf->redis_nsentinels > 0) {
        printf("redis sentinels=%zu master_name=%s db=%d auth=%s "
               "sentinel_auth=%s\n",
               cf->redis_nsentinels, cf->redis_master_name, cf->redis_db,
               cf->redis_password ? "yes" : "no",
               cf->redis_sentinel_password ? "yes" : "no");
    } else if (cf->redis_port == 0) {
        printf("redis unix=%s db=%d auth=%s\n", cf->redis_host, cf->redis_db,
               cf->redis_password ? "yes" : "no");
    } else {
        printf("redis host=%s port=%d db=%d auth=%s\n", cf->redis_host,
               cf->redis_port, cf->redis_db, cf->redis_password ? "yes" : "no");
    }
    if (cf->redis_min_replica_acks > 0) {
        printf("redis min_replica_acks=%d wait_timeout_ms=%ld\n",
               cf->redis_min_replica_acks, cf->redis_wait_timeout_ms);
    }
    printf("signer prefix=%s consumer=%s batch=%zu claim_idle=%llds "
           "lease=%llds sign_threads=%zu\n",
           cf->prefix, s->consumer, s->batch,
           (long long)(s->claim_idle_ms / 1000), (long long)s->lease,
           s->sign_threads);
    if (s->metrics_file[0] != '\0') {
        printf("metrics file=%s interval=%llds inventory_interval=%llds\n",
               s->metrics_file, (long long)(s->metrics_every_ms / 1000),
               (long long)(s->inventory_every_ms / 1000));
    } else {
        printf("metrics off\n");
    }
    if (s->purge.enabled) {
        printf("purge hook=%s timeout=%llds attempts=%lld backoff=%llds "
               "backoff_max=%llds batch=%lld claim_idle=%llds "
               "stream_max=%lld\n",
               s->purge.hook, (long long)s->purge.timeout,
               (long long)s->purge.attempts, (long long)s->purge.backoff,
               (long long)s->purge.backoff_max, (long long)s->purge.batch,
               (long long)s->purge.claim_idle, (long long)s->purge.stream_max);
    } else {
        printf("purge off\n");
    }
    for (size_t i = 0; i < s->reg.n; i++) {
        const ocsp_issuer_t *iss = &s->reg.issuers[i];
        const ocsp_issuer_conf_t *ic = iss->conf;
        char subject[256];

        X509_NAME_oneline(X509_get_subject_name(iss->responder), subject,
                          sizeof(subject));
        printf("issuer %s profile=%s validity=%llds resign_after=%llds "
               "shards=%u responder=%s subject=\"%s\"\n",
               ic->name, ocsp_profile(ic->profile)->name,
               (long long)ic->validity, (long long)ic->resign_after, ic->shards,
               X509_cmp(iss->responder, iss->cert) == 0 ? "ca" : "delegated",
               subject);
        for (size_t u = 0; u < ic->nocsp_urls; u++) {
            printf("issuer %s ocsp_url=%s\n", ic->name, ic->ocsp_urls[u]);
        }
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"metrics-file", required_argument, NULL, 'm'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *file = NULL, *metrics_file = NULL;
    ocsp_config_t cf;
    signer_t s;
    char err[OCSP_ERR_MAX];
    int opt, check = 0, level = OCSP_LOG_INFO, reexec;

    while ((opt = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'k':
            check = 1;
            break;
        case 'm':
            if (optarg[0] == '\0' || strlen(optarg) >= sizeof(s.metrics_file)) {
                fprintf(stderr, "revoca-signer: --metrics-file: bad path\n");
                return 2;
            }
            metrics_file = optarg;
            break;
        case 'v':
            level = OCSP_LOG_DEBUG;
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (file == NULL || optind != argc) {
        usage(stderr);
        return 2;
    }
    ocsp_log_init("signer", (ocsp_log_level_e)level);
    if (ocsp_config_load(&cf, file, err) != 0) {
        fprintf(stderr, "revoca-signer: %s\n", err);
        return 1;
    }
    if (signer_init(&s, &cf, &stop_flag) != 0) {
        /* A token that cannot be opened (wrong PIN, no token) is not a
         * config error: 2, as an HSM outage is told apart (docs/keys.md). */
        int rc = s.reg.token_error || s.token_error ? 2 : 1;
        fprintf(stderr, "revoca-signer: %s\n", s.err);
        signer_free(&s);
        ocsp_config_free(&cf);
        return rc;
    }
    if (metrics_file != NULL) {
        snprintf(s.metrics_file, sizeof(s.metrics_file), "%s", metrics_file);
    }
    for (size_t i = 0; i < s.reg.n; i++) {
        if (s.reg.issuers[i].warning[0] != '\0') {
            ocsp_log(OCSP_LOG_WARN, "issuer=%s warning=\"%s\"",
                     s.reg.issuers[i].conf->name, s.reg.issuers[i].warning);
        }
    }
    if (check) {
        print_check(&cf, &s);
        signer_free(&s);
        ocsp_config_free(&cf);
        return 0;
    }

    /* SIGTERM: finish the batch in hand, then exit. */
    ocsp_daemon_signals(&stop_flag);

    ocsp_daemon_restart_init(&s.restart, file);
    signer_run(&s);
    reexec = s.reexec;
    signer_free(&s);
    ocsp_config_free(&cf);
    if (reexec) {
        ocsp_daemon_reexec(argv);
        return 1;
    }
    return 0;
}
