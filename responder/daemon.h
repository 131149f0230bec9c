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

#endif
