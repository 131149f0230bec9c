/*
 * revoca-audit: the tamper-evident chain over the event stream
 * (docs/audit.md).
 *
 *   revoca-audit -c FILE [-v]   run
 *   revoca-audit -c FILE --check
 *   revoca-audit --help
 */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "audit_follow.h"
#include "config.h"
#include "daemon.h"
#include "log.h"

static volatile int stop_flag;

static void usage(FILE *f)
{
    fprintf(f, "usage: revoca-audit -c FILE [--check] [-v]\n"
               "  -c, --config FILE  the Revoca configuration file\n"
               "      --check        validate the configuration, exit\n"
               "  -v, --verbose      debug logging\n"
               "  -h, --help         this text\n");
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, 'k'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *file = NULL;
    ocsp_config_t cf;
    audit_follow_t a;
    char err[OCSP_ERR_MAX];
    int opt, check = 0, level = OCSP_LOG_INFO, rc, reexec;

    while ((opt = getopt_long(argc, argv, "c:vh", longopts, NULL)) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
            break;
        case 'k':
            check = 1;
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
    ocsp_log_init("audit", (ocsp_log_level_e)level);
    if (ocsp_config_load(&cf, file, err) != 0) {
        fprintf(stderr, "revoca-audit: %s\n", err);
        return 1;
    }
    if (audit_follow_init(&a, &cf, &stop_flag) != 0) {
        fprintf(stderr, "revoca-audit: %s\n", a.err);
        ocsp_config_free(&cf);
        return 1;
    }
    if (check) {
        printf("revoca-audit: %s: ok\nchain key=%s head=%s events=%s\n",
               cf.path, a.chain_key, a.head_key, a.events_key);
        audit_follow_free(&a);
        ocsp_config_free(&cf);
        return 0;
    }
    ocsp_daemon_signals(&stop_flag);
    ocsp_daemon_restart_init(&a.restart, file);
    rc = audit_follow_run(&a);
    reexec = a.reexec;
    audit_follow_free(&a);
    ocsp_config_free(&cf);
    if (reexec) {
        ocsp_daemon_reexec(argv);
        return 1;
    }
    return rc == 0 ? 0 : 1;
}
