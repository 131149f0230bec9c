/*
 * What every Revoca daemon (revoca-signer, revoca-crlgen) does at start-up
 * beside reading its configuration.
 */
#ifndef REVOCA_DAEMON_H
#define REVOCA_DAEMON_H

/*
 * SIGTERM and SIGINT set *STOP (the daemon finishes the work in hand and
 * exits); SIGHUP asks for a reload (below); SIGPIPE is ignored (a dropped Redis
 * connection is an I/O error the client layer handles, not a death).  One flag
 * per process.
 */
void ocsp_daemon_signals(volatile int *stop);

/*
 * Restart in place: the daemon stops as on SIGTERM (the batch in hand is
 * finished or left pending, crlgen gives its leases up), then
 * ocsp_daemon_reexec() starts its binary again in the same process: same
 * pid (systemd's main pid, the same consumer name and so its pending
 * entries), a fresh configuration and fresh token sessions.  Two reasons:
 *
 * - Reload (SIGHUP, `systemctl reload`): the configuration is re-read,
 *   issuers, keys and limits included, once a fresh `--check` of it
 *   passes; a configuration that fails the check is refused (logged, its
 *   error on stderr) and the daemon goes on with the one it has.
 * - A token outage (docs/keys.md): a PKCS#11 library may not see a token
 *   that went away and came back until the process finalises it
 *   (SoftHSM2 2.6), which libp11 0.4.12 cannot do under a running engine.
 *   While a token key has been unusable for 5 s, the daemon checks every
 *   so often (5 s doubling to 60 s) whether a fresh process opens and uses
 *   its keys, and restarts in place once one does.
 *
 * The check runs the daemon's own binary, `--check -c FILE`, as a new
 * process (the token library is never used after fork()).
 */
typedef struct {
    const char *config; /* the -c FILE, borrowed */
    long next_s;        /* monotonic second of the next token check */
    int backoff_s;
} ocsp_daemon_restart_t;

void ocsp_daemon_restart_init(ocsp_daemon_restart_t *r, const char *config);
/* 1: stop now and re-exec (a reload, or the token is back).  Cheap when
 * neither is pending (two reads).  Called from the daemon's loop. */
int ocsp_daemon_restart_due(ocsp_daemon_restart_t *r);
/* Replaces the process with a fresh start of ARGV (main's), every
 * descriptor but 0-2 closed.  Returns only if exec failed (logged). */
void ocsp_daemon_reexec(char **argv);

/*
 * Tells systemd (Type=notify) that the daemon is ready: its keys are
 * loaded and Redis answered.  Once per process image; nothing without
 * NOTIFY_SOCKET.
 */
void ocsp_daemon_ready(void);

#endif
