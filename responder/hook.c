#include "hook.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rconn.h" /* ocsp_now_ms() */

extern char **environ;

/* Keeps what fits of the N bytes at P in RES's output. */
static void keep_output(ocsp_hook_result_t *res, const char *p, size_t n)
{
    size_t room = OCSP_HOOK_OUTPUT_MAX - res->out_len;

    if (n > room) {
        n = room;
    }
    memcpy(res->out + res->out_len, p, n);
    res->out_len += n;
    res->out[res->out_len] = '\0';
}

/* Sets up the child's side: stdin /dev/null, stdout and stderr the pipe's
 * write end W; its own process group; default signals, nothing blocked. */
static int spawn_setup(posix_spawn_file_actions_t *fa, posix_spawnattr_t *at,
                       int w)
{
    sigset_t none, dfl;

    sigemptyset(&none);
    sigemptyset(&dfl);
    sigaddset(&dfl, SIGPIPE);
    sigaddset(&dfl, SIGTERM);
    sigaddset(&dfl, SIGINT);
    sigaddset(&dfl, SIGHUP);
    sigaddset(&dfl, SIGCHLD);
    if (posix_spawn_file_actions_addopen(fa, 0, "/dev/null", O_RDONLY, 0) !=
            0 ||
        posix_spawn_file_actions_adddup2(fa, w, 1) != 0 ||
        posix_spawn_file_actions_adddup2(fa, w, 2) != 0 ||
        posix_spawnattr_setflags(at, POSIX_SPAWN_SETPGROUP |
                                         POSIX_SPAWN_SETSIGMASK |
                                         POSIX_SPAWN_SETSIGDEF) != 0 ||
        posix_spawnattr_setpgroup(at, 0) != 0 ||
        posix_spawnattr_setsigmask(at, &none) != 0 ||
        posix_spawnattr_setsigdefault(at, &dfl) != 0) {
        return -1;
    }
    return 0;
}

/* The child's end: exit status or signal into RES.  0 if it exited 0. */
static int ended(int wstatus, ocsp_hook_result_t *res)
{
    if (WIFEXITED(wstatus)) {
        res->exited = 1;
        res->status = WEXITSTATUS(wstatus);
        if (res->status == 0) {
            return 0;
        }
        snprintf(res->err, sizeof(res->err), "exit status %d", res->status);
    } else {
        res->signal = WIFSIGNALED(wstatus) ? WTERMSIG(wstatus) : 0;
        snprintf(res->err, sizeof(res->err), "killed by signal %d",
                 res->signal);
    }
    return -1;
}

int ocsp_hook_run(char *const argv[], char *const envp[], int64_t timeout_ms,
                  ocsp_hook_result_t *res)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t at;
    int fds[2], rc, wstatus, open_out = 1;
    long deadline = ocsp_now_ms() + (long)timeout_ms;
    pid_t pid;

    memset(res, 0, sizeof(*res));
    if (pipe2(fds, O_CLOEXEC) != 0) {
        snprintf(res->err, sizeof(res->err), "not started: pipe: %s",
                 strerror(errno));
        return -1;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&at);
    rc = spawn_setup(&fa, &at, fds[1]);
    if (rc == 0) {
        rc = posix_spawn(&pid, argv[0], &fa, &at, argv,
                         envp != NULL ? envp : environ);
    } else {
        rc = ENOMEM;
    }
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        snprintf(res->err, sizeof(res->err), "not started: %s: %s", argv[0],
                 strerror(rc));
        return -1;
    }

    /* Its output until it exits (a child it left behind may hold the pipe
     * open: its exit ends the wait, not the pipe's end), or its time is up. */
    for (;;) {
        pid_t w = waitpid(pid, &wstatus, WNOHANG);
        long left = deadline - ocsp_now_ms();

        if (w == pid) {
            break;
        }
        if (w < 0 && errno != EINTR) {
            snprintf(res->err, sizeof(res->err), "waitpid: %s",
                     strerror(errno));
            kill(-pid, SIGKILL);
            close(fds[0]);
            return -1;
        }
        if (left <= 0) {
            kill(-pid, SIGKILL); /* its group: what it started too */
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
            }
            close(fds[0]);
            res->timed_out = 1;
            snprintf(res->err, sizeof(res->err),
                     "timed out after %lld ms (killed)", (long long)timeout_ms);
            return -1;
        }
        if (open_out) {
            struct pollfd pfd = {fds[0], POLLIN, 0};
            char buf[512];
            ssize_t n;

            if (poll(&pfd, 1, left < 50 ? (int)left : 50) > 0) {
                n = read(fds[0], buf, sizeof(buf));
                if (n > 0) {
                    keep_output(res, buf, (size_t)n);
                } else if (n == 0 || errno != EINTR) {
                    open_out = 0; /* closed: only its exit is awaited */
                }
            }
        } else {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    /* What it wrote just before it exited. */
    for (;;) {
        char buf[512];
        ssize_t n;
        struct pollfd pfd = {fds[0], POLLIN, 0};

        if (!open_out || poll(&pfd, 1, 0) <= 0 ||
            (n = read(fds[0], buf, sizeof(buf))) <= 0) {
            break;
        }
        keep_output(res, buf, (size_t)n);
    }
    close(fds[0]);
    /* What it left running goes too (its group outlives it only through
     * them; ESRCH when there are none). */
    kill(-pid, SIGKILL);
    return ended(wstatus, res);
}
