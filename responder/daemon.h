/*
 * What every Revoca daemon (revoca-signer, revoca-crlgen) does at start-up
 * beside reading its configuration.
 */
#ifndef REVOCA_DAEMON_H
#define REVOCA_DAEMON_H

/*
 * SIGTERM and SIGINT set *STOP (the daemon finishes the work in hand and
 * exits); SIGPIPE is ignored (a dropped Redis connection is an I/O error
 * the client layer handles, not a death).  One flag per process.
 */
void ocsp_daemon_signals(volatile int *stop);

/*
 * Recovery from a token outage (docs/keys.md).  A PKCS#11 library may not
 * see a token that went away and came back until the process finalises
 * it (SoftHSM2 2.6), which libp11 0.4.12 cannot do under a running engine.
 * So, while a token key has been unusable for RECOVER_AFTER seconds, the
 * daemon checks, every so often, whether a fresh process can open and use
 * its keys: it runs its own binary with `--check -c FILE` (a separate
 * process: the token library is never touched after fork()).  Once that
 * succeeds, ocsp_daemon_recover_due() returns 1: the daemon stops as on
 * SIGTERM (nothing acknowledged or published that was not signed) and
 * calls ocsp_daemon_reexec(), which starts it again in the same process
 * (same pid, so the same consumer and its pending entries).
 */
typedef struct {
    const char *config; /* the -c FILE, borrowed */
    long next_s;        /* monotonic second of the next check */
    int backoff_s;
} ocsp_daemon_recover_t;

void ocsp_daemon_recover_init(ocsp_daemon_recover_t *r, const char *config);
/* 1: the keys open in a fresh process now: stop and re-exec.  Cheap when
 * no token is down (one atomic read). */
int ocsp_daemon_recover_due(ocsp_daemon_recover_t *r);
/* Replaces the process with a fresh start of ARGV (main's), every
 * descriptor but 0-2 closed.  Returns only if exec failed (logged). */
void ocsp_daemon_reexec(char **argv);

#endif
