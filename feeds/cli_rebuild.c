/*
 * revoca rebuild: an issuer's records, responses (signed anew), CRL inputs,
 * re-sign schedule and histories, rebuilt from its events (rebuild.h does
 * the work, through the signer's own transaction).  Runs with the signer's
 * configuration: its keys and its Redis user (docs/redis.md).
 */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "history.h"
#include "issuer.h"
#include "log.h"
#include "rebuild.h"

#define REBUILD_PROGRESS_MS 5000

static volatile int rebuild_stop;

static void on_signal(int sig)
{
    (void)sig;
    rebuild_stop = 1;
}

int cli_rebuild(cli_t *cli, int argc, char **argv)
{
    static const struct option longopts[] = {
        {"issuer", required_argument, NULL, 'i'},
        {"force", no_argument, NULL, 'f'},
        {"from", required_argument, NULL, 'F'},
        {NULL, 0, NULL, 0}};
    ocsp_rebuild_opts_t o;
    ocsp_rebuild_stats_t st;
    char err[OCSP_ERR_MAX];
    struct sigaction sa;
    int c, rv;

    memset(&o, 0, sizeof(o));
    optind = 1;
    while ((c = cli_getopt(argc, argv, longopts)) != -1) {
        switch (c) {
        case 'i':
            o.issuer = optarg;
            break;
        case 'f':
            o.force = 1;
            break;
        case 'F':
            if (!ocsp_stream_id_valid(optarg)) {
                cli_err("rebuild: --from takes a stream entry id "
                        "(MS-SEQ), not \"%s\"",
                        optarg);
                return CLI_EXIT_USAGE;
            }
            o.from = optarg;
            break;
        default:
            return CLI_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        cli_err("rebuild: unexpected argument %s", argv[optind]);
        return CLI_EXIT_USAGE;
    }
    if (o.issuer == NULL || cli_issuer(cli, o.issuer, NULL) == NULL) {
        if (o.issuer == NULL) {
            cli_err("rebuild: --issuer N is required");
        }
        return CLI_EXIT_USAGE;
    }
    /* From a point on, the events before it are not replayed: only
     * records that exist can be completed, so only over live data. */
    if (o.from != NULL && !o.force) {
        cli_err("rebuild: --from resumes a rebuild over what it wrote: it "
                "needs --force");
        return CLI_EXIT_USAGE;
    }
    o.progress = stderr;
    o.progress_ms = isatty(STDERR_FILENO) ? 1000 : REBUILD_PROGRESS_MS;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    ocsp_log_init("rebuild", OCSP_LOG_WARN);

    rv = ocsp_rebuild_run(&cli->cf, &o, &rebuild_stop, &st, err);
    if (rv == OCSP_REBUILD_REFUSED) {
        cli_err("rebuild: refused: %s (docs/operations.md)", err);
        return CLI_EXIT_USAGE;
    }
    printf("rebuild %s issuer=%s entries=%llu events=%llu refused=%llu "
           "certificates=%llu batches=%llu signatures=%llu "
           "history_cleared=%llu seconds=%.2f rate=%.0f last=%s\n",
           rv == OCSP_REBUILD_DONE      ? "done"
           : rv == OCSP_REBUILD_STOPPED ? "stopped"
                                        : "failed",
           o.issuer, (unsigned long long)st.entries,
           (unsigned long long)st.events, (unsigned long long)st.refused,
           (unsigned long long)st.items, (unsigned long long)st.batches,
           (unsigned long long)st.signatures,
           (unsigned long long)st.history_cleared, st.seconds,
           st.seconds > 0 ? (double)st.entries / st.seconds : 0.0,
           st.last_id[0] ? st.last_id : "-");
    if (rv == OCSP_REBUILD_FAILED) {
        cli_err("rebuild: %s", err);
        return CLI_EXIT_FAIL;
    }
    if (rv == OCSP_REBUILD_STOPPED) {
        cli_err("rebuild: stopped; continue with --force --from %s",
                st.last_id[0] ? st.last_id : "-");
        return CLI_EXIT_FAIL;
    }
    return 0;
}
