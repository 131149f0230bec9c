#include "post_publish.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "config.h"

int crl_post_publish_run(const char *cmd, const char *path, const char *issuer,
                         const char *kind, uint64_t number, int64_t timeout,
                         void (*tick)(void *), void *arg, char *err)
{
    long last_tick;
    char num[24];
    pid_t pid;
    int status;
    long deadline;
    struct timespec ts, now;

    snprintf(num, sizeof(num), "%llu", (unsigned long long)number);
    pid = fork();
    if (pid < 0) {
        snprintf(err, OCSP_ERR_MAX, "fork: %s", strerror(errno));
        return -1;
    }
    if (pid == 0) {
        setpgid(0, 0);
        setenv("REVOCA_CRL_FILE", path, 1);
        setenv("REVOCA_CRL_ISSUER", issuer, 1);
        setenv("REVOCA_CRL_KIND", kind, 1);
        setenv("REVOCA_CRL_NUMBER", num, 1);
        execl("/bin/sh", "sh", "-c", cmd, "revoca-crlgen-hook", path,
              (char *)NULL);
        _exit(127);
    }
    clock_gettime(CLOCK_MONOTONIC, &now);
    deadline = (long)now.tv_sec + (long)timeout;
    last_tick = (long)now.tv_sec;
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            snprintf(err, OCSP_ERR_MAX, "waitpid: %s", strerror(errno));
            return -1;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (tick != NULL && (long)now.tv_sec > last_tick) {
            last_tick = (long)now.tv_sec;
            tick(arg);
        }
        if ((long)now.tv_sec >= deadline) {
            kill(-pid, SIGKILL);
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            snprintf(err, OCSP_ERR_MAX, "post_publish: killed after %llds",
                     (long long)timeout);
            return -1;
        }
        ts.tv_sec = 0;
        ts.tv_nsec = 20 * 1000000L;
        nanosleep(&ts, NULL);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        snprintf(err, OCSP_ERR_MAX, "post_publish: %s %d",
                 WIFEXITED(status) ? "exit status" : "killed by signal",
                 WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
        return -1;
    }
    return 0;
}
