/*
 * Running an operator's program: fork/exec (posix_spawn) with an argv, no
 * shell, in a process group of its own, stdin from /dev/null, stdout and
 * stderr captured (the first OCSP_HOOK_OUTPUT_MAX bytes kept for the log
 * line), default signal dispositions and an empty signal mask whatever the
 * caller's (a daemon ignores SIGPIPE), and killed with its whole group
 * once its time is up; what it leaves running when it exits is killed
 * too, so that no run outlives its bound.  Safe in a threaded process:
 * posix_spawn, no allocation between fork and exec.
 */
#ifndef REVOCA_HOOK_H
#define REVOCA_HOOK_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define OCSP_HOOK_OUTPUT_MAX 512

typedef struct {
    int exited;     /* it exited by itself (status valid) */
    int status;     /* its exit status */
    int signal;     /* killed by this signal (not by us), else 0 */
    int timed_out;  /* killed by us after the timeout */
    size_t out_len; /* bytes of its output kept in out */
    char out[OCSP_HOOK_OUTPUT_MAX + 1];
    char err[OCSP_ERR_MAX]; /* why, unless it exited 0 */
} ocsp_hook_result_t;

/*
 * Runs ARGV[0] (an absolute path) with ARGV (NULL-terminated) and ENVP
 * (NULL: the caller's environment), waiting at most TIMEOUT_MS.  Returns 0 if
 * it exited 0, else -1; *res says how it ended either way (res->err a line for
 * the log: "exit status 3", "killed by signal 9", "timed out after 10 s", "not
 * started: ...").
 */
int ocsp_hook_run(char *const argv[], char *const envp[], int64_t timeout_ms,
                  ocsp_hook_result_t *res);

#endif
