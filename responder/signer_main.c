/* revoca-signer: see signer.h. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "signer.h"

static volatile int stop_flag;

static void on_signal(int sig)
{
    (void)sig;
    stop_flag = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: revoca-signer -c FILE [-v]\n"
               "  -c FILE  the Revoca configuration file\n"
               "  -v       debug logging\n");
}

int main(int argc, char **argv)
{
    const char *file = NULL;
    ocsp_config_t cf;
    signer_t s;
    char err[OCSP_ERR_MAX];
    struct sigaction sa;
    int opt, level = OCSP_LOG_INFO;

    while ((opt = getopt(argc, argv, "c:vh")) != -1) {
        switch (opt) {
        case 'c':
            file = optarg;
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
        fprintf(stderr, "revoca-signer: %s\n", s.err);
        signer_free(&s);
        ocsp_config_free(&cf);
        return 1;
    }

    /* SIGTERM: finish the batch in hand, then exit. */
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    signer_run(&s);
    signer_free(&s);
    ocsp_config_free(&cf);
    return 0;
}
