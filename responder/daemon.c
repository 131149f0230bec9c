#include "daemon.h"

#include <signal.h>
#include <string.h>

static volatile int *daemon_stop;

static void daemon_on_signal(int sig)
{
    (void)sig;
    *daemon_stop = 1;
}

void ocsp_daemon_signals(volatile int *stop)
{
    struct sigaction sa;

    daemon_stop = stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = daemon_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}
