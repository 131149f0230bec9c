#include "daemon.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <systemd/sd-daemon.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sign.h"

extern char **environ;

static volatile int *daemon_stop;
static volatile sig_atomic_t daemon_reload;

static void daemon_on_signal(int sig)
{
    if (sig == SIGHUP) {
        daemon_reload = 1;
    } else {
        *daemon_stop = 1;
    }
}

void ocsp_daemon_signals(volatile int *stop)
{
    struct sigaction sa;

    daemon_stop = stop;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = daemon_on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

/* ---- restart in place ---- */

#define RECOVER_AFTER_S 5
#define RECOVER_BACKOFF_MAX_S 60
#define RECOVER_CHECK_TIMEOUT_MS 30000

static long mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec;
}

void ocsp_daemon_restart_init(ocsp_daemon_restart_t *r, const char *config)
{
    r->config = config;
    r->next_s = 0;
    r->backoff_s = RECOVER_AFTER_S;
}

/* Runs "/proc/self/exe --check -c CONFIG", bounded, its output dropped
 * unless VERBOSE (then its stderr is ours): 1 if it exited 0 (the
 * configuration holds and every key opened and signed its probe). */
static int restart_check(const char *config, int verbose)
{
    char self[] = "/proc/self/exe";
    char check[] = "--check", dash_c[] = "-c";
    char *argv[] = {self, check, dash_c, (char *)config, NULL};
    posix_spawn_file_actions_t fa;
    pid_t pid;
    int status, rc;

    if (posix_spawn_file_actions_init(&fa) != 0) {
        return 0;
    }
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    if (!verbose) {
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    }
    rc = posix_spawn(&pid, self, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        ocsp_log(OCSP_LOG_WARN, "token check not started: %s", strerror(rc));
        return 0;
    }
    for (int waited = 0;; waited += 50) {
        rc = waitpid(pid, &status, WNOHANG);
        if (rc == pid) {
            return WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        if (rc < 0 && errno != EINTR) {
            return 0;
        }
        if (waited >= RECOVER_CHECK_TIMEOUT_MS) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            return 0;
        }
        usleep(50 * 1000);
    }
}

int ocsp_daemon_restart_due(ocsp_daemon_restart_t *r)
{
    long out, now;

    if (daemon_reload) {
        daemon_reload = 0;
        if (restart_check(r->config, 1)) {
            ocsp_log(OCSP_LOG_INFO, "reload: %s checked, restarting in place",
                     r->config);
            sd_notify(0, "RELOADING=1");
            return 1;
        }
        ocsp_log(OCSP_LOG_ERR,
                 "reload refused: %s fails --check (see the line above); "
                 "still running the configuration loaded before",
                 r->config);
    }
    out = ocsp_sign_token_outage_s();
    if (out < 0) {
        r->next_s = 0;
        r->backoff_s = RECOVER_AFTER_S;
        return 0;
    }
    now = mono_s();
    if (out < RECOVER_AFTER_S || (r->next_s != 0 && now < r->next_s)) {
        return 0;
    }
    if (restart_check(r->config, 0)) {
        ocsp_log(OCSP_LOG_WARN,
                 "token available again after %lds: restarting in place to "
                 "reopen it",
                 out);
        return 1;
    }
    r->next_s = mono_s() + r->backoff_s;
    ocsp_log(OCSP_LOG_INFO,
             "token still unavailable after %lds, next check in %ds", out,
             r->backoff_s);
    r->backoff_s *= 2;
    if (r->backoff_s > RECOVER_BACKOFF_MAX_S) {
        r->backoff_s = RECOVER_BACKOFF_MAX_S;
    }
    return 0;
}

void ocsp_daemon_reexec(char **argv)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *de;

    /* Whatever a library left open must not outlive this image. */
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            int fd = atoi(de->d_name);

            if (fd > 2 && fd != dirfd(d)) {
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        closedir(d);
    }
    execv("/proc/self/exe", argv);
    ocsp_log(OCSP_LOG_ERR, "restart in place failed: %s", strerror(errno));
}

void ocsp_daemon_ready(void)
{
    static int sent;

    if (!sent) {
        sent = 1;
        sd_notify(0, "READY=1");
    }
}
