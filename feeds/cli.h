/*
 * The revoca CLI: the CA's hook.  Every subcommand validates all of its
 * input before it writes anything; bad input is a message on stderr and
 * exit status 2, a Redis or timeout failure exit status 1 (3 for an issue
 * whose response did not appear in time, 4 for events written to the
 * primary that fewer than redis.min_replica_acks replicas acknowledged).
 */
#ifndef REVOCA_CLI_H
#define REVOCA_CLI_H

#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "event.h"
#include "keys.h"
#include "rconn.h"
#include "revocation.pb-c.h"

#define CLI_EXIT_USAGE 2
#define CLI_EXIT_FAIL 1
#define CLI_EXIT_TIMEOUT 3
#define CLI_EXIT_REPLICAS 4

/* A point in what this process wrote: the stream entry of its EVENTS-th
 * event (cli_read_replies() notes one per call). */
typedef struct {
    int64_t id[2];
    size_t events;
} cli_mark_t;

/* The stream entries this process wrote since cli_sent_reset(): what
 * cli_wait_signed() waits for. */
typedef struct {
    int64_t first[2], last[2];
    size_t events;
    cli_mark_t *marks; /* owned, ascending */
    size_t nmarks, cap;
} cli_sent_t;

typedef struct {
    ocsp_config_t cf;
    ocsp_rconn_t redis;
    char events_key[OCSP_KEY_MAX];
    int64_t issue_wait; /* cli.issue_wait: seconds to wait for the signer */
    /* Stamped on every event this process writes (cli_append_event):
     * via "cli" and user@host unless a command (an importer) says
     * otherwise with cli_set_origin(). */
    Revoca__Origin origin;
    char origin_via[OCSP_ORIGIN_VIA_MAX + 1];
    char origin_principal[OCSP_ORIGIN_PRINCIPAL_MAX + 1];
    char origin_source[OCSP_ORIGIN_SOURCE_MAX + 1];
    cli_sent_t sent;
} cli_t;

/*
 * Sets the origin stamped on the events this process writes: VIA (a
 * literal such as "import-crl") and SOURCE (a file, URL or database;
 * NULL for none), truncated to their bounds, control characters replaced.
 * The principal stays the user and host running the command.
 */
void cli_set_origin(cli_t *cli, const char *via, const char *source);

/*
 * Followers (import --follow): --interval ARG as seconds 1..86400 into
 * *out, only with --follow (FOLLOW).  0, or -1 after a message naming the
 * option.
 */
int cli_follow_interval(const char *arg, int follow, int64_t *out);

/* Makes SIGTERM and SIGINT end a follower between two rounds (or a
 * transfer): cli_follow_stopped() turns 1. */
void cli_follow_signals(void);
int cli_follow_stopped(void);

/* Sleeps until T (unix seconds) or until a follower is told to stop. */
void cli_follow_sleep_until(int64_t t);

/* Prints S to F as a JSON string (RFC 8259 7: quotes, backslashes and
 * control characters escaped; other bytes as they are: Origin texts and
 * subjects are checked printable, event.h, record.h), or null for NULL. */
void cli_json_str(FILE *f, const char *s);

/* Why the reply R (of a command sent on cli->redis) is not the one
 * wanted: the connection's error when R is NULL, Redis's error reply, or
 * OTHERWISE (a reply of another shape).  For one message format. */
const char *cli_reply_why(const cli_t *cli, const redisReply *r,
                          const char *otherwise);

/* Prints "revoca: ..." to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * getopt_long for a command (argv[0] is its name) with the CLI's own
 * messages: an unknown option or a missing value is printed naming the
 * command and the option, and returned as '?' or ':'.
 */
struct option;
int cli_getopt(int argc, char **argv, const struct option *longopts);

/* Connects to Redis (a few retries).  0, or -1 after printing why. */
int cli_connect(cli_t *cli);

/*
 * Parses TIME: "now", unix seconds, "YYYY-MM-DD" or "YYYY-MM-DDTHH:MM:SSZ".
 * 0 and *out, or -1.
 */
int cli_parse_time(const char *s, int64_t *out);

/*
 * Loads a certificate of ISSUER from FILE (PEM or DER) and checks that
 * ISSUER signed it.  Returns the certificate (caller frees) or NULL after
 * printing why.
 */
X509 *cli_load_issued_cert(const char *file, X509 *issuer);

/* ocsp_cert_issued_by() (issued.h): 0, else -1 after a message naming
 * FILE. */
int cli_check_issued(X509 *x, X509 *issuer, const char *file);

/*
 * ocsp_issued_from_cert() (issued.h) with the CLI's message: an Issued
 * event for CERT, serial into SERIAL, the certificate's DER (malloc'ed,
 * also into *der; caller frees with free()).  0 or -1 after a message.
 */
int cli_issued_from_cert(X509 *cert, char *serial, Revoca__Issued *is,
                         unsigned char **der);

/* Packs EV and queues an XADD for it on the connection's pipeline
 * (rconn.h).  0, or -1 after printing why. */
int cli_append_event(cli_t *cli, const Revoca__Event *ev);

/* Sends the queued events and reads every pending reply, noting the
 * stream entries of the XADDs among them (also inside an EXEC's reply) in
 * cli->sent.  0, or -1 after printing why (the first error reply, or the
 * connection's failure). */
int cli_read_replies(cli_t *cli);

/* Forgets the entries noted so far (cli->sent). */
void cli_sent_reset(cli_t *cli);

/*
 * Signed so far of cli->sent's events: those the signer group was
 * delivered less those it has not acknowledged yet (an estimate while it
 * works: the group's pending count is all of the group's).  Nothing may be
 * pending on the connection.  0 and *n, or -1.
 */
int cli_sent_signed(cli_t *cli, size_t *n);

/*
 * import --wait: waits until the signer has applied every event noted in
 * cli->sent, the way issue --wait tells with redis.min_replica_acks: the
 * signer group was delivered the last of them and none of them is pending
 * there (the signer acknowledges an entry only once the transaction
 * writing its record and responses committed, signer.c).  TIMEOUT_MS
 * bounds it; TICK (may be NULL) is called with ARG and the count signed so
 * far at every poll.  0; CLI_EXIT_TIMEOUT after a message saying how many
 * were signed; CLI_EXIT_FAIL after a message.
 */
int cli_wait_signed(cli_t *cli, long timeout_ms,
                    void (*tick)(void *arg, size_t signed_n), void *arg);

/* --wait-timeout ARG: seconds 1..86400, only with --wait (WAIT), into
 * *ms.  0, or -1 after a message naming the option. */
int cli_wait_timeout(const char *arg, int wait, long *ms);

/* The default bound of import --wait, seconds. */
#define CLI_IMPORT_WAIT 600

/*
 * After events were written (their replies read): waits until
 * redis.min_replica_acks replicas have them (WAIT; nothing to do when 0).
 * 0; CLI_EXIT_REPLICAS after a message saying how many acknowledged, that
 * WHAT is in the stream anyway and that repeating the command is safe;
 * CLI_EXIT_FAIL after a message when the connection failed.
 */
int cli_wait_replicas(cli_t *cli, const char *what);

/* revoca import (cli_import.c). */
int cli_import(cli_t *cli, int argc, char **argv);

/* revoca import --crl (cli_import_crl.c): revocations from a CA's CRL. */
int cli_import_crl(cli_t *cli, int argc, char **argv);

/* revoca import --cfssl-db (cli_import_cfssl.c): issuance and revocations
 * from CFSSL's SQLite certificate database. */
int cli_import_cfssl(cli_t *cli, int argc, char **argv);

/* revoca inventory (cli_inventory.c): an issuer's certificates. */
int cli_inventory(cli_t *cli, int argc, char **argv);

/* revoca resign (cli_resign.c): re-signing after a responder rotation. */
int cli_resign(cli_t *cli, int argc, char **argv);

/* revoca rebuild (cli_rebuild.c): an issuer's state from its events. */
int cli_rebuild(cli_t *cli, int argc, char **argv);

/* revoca health (cli_health.c): the service's state, 0 healthy, 1 not. */
int cli_health(cli_t *cli, int argc, char **argv);

/* revoca audit verify (docs/audit.md). */
int cli_audit(cli_t *cli, int argc, char **argv);

/* The issuer's configuration and, with CA, its certificate; NULL after a
 * message. */
const ocsp_issuer_conf_t *cli_issuer(cli_t *cli, const char *name, X509 **ca);

#endif
