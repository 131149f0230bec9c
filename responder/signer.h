/*
 * revoca-signer: applies CA events from the stream to certificate records
 * and keeps a pre-signed OCSP response for every record in Redis, re-signed
 * before it ages.  Work is shared between signers by the stream's consumer
 * group (events) and by leased claims on the due sets (re-signing); every
 * write of a batch is one MULTI/EXEC guarded by WATCH on the records it
 * read; the stream entries are acknowledged after it, those only whose
 * every command succeeded, so a crash or a failed write loses nothing and
 * a conflict with another signer only repeats the batch.  Batches are
 * pipelined: while Redis executes one batch's transaction the next batch is
 * signed; events commute (record.h), so a repeated batch may land after a
 * later one without changing the outcome.
 */
#ifndef REVOCA_SIGNER_H
#define REVOCA_SIGNER_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "daemon.h"
#include "issuer.h"
#include "keys.h"
#include "purge.h"
#include "rconn.h"
#include "signer_metrics.h"
#include "signer_pool.h"

#define SIGNER_GROUP "signer"
#define SIGNER_BATCH_MAX 4096
#define SIGNER_DROPS_MAX 64

/* Phases of the loop whose wall time is counted (signer_t.t_ns). */
enum {
    SIGNER_T_BUILD,  /* events applied, responses signed, writes queued */
    SIGNER_T_AHEAD,  /* waiting for the entries read ahead */
    SIGNER_T_FLUSH,  /* sending a built transaction */
    SIGNER_T_FINISH, /* reading a transaction's outcome and the next loads */
    SIGNER_T_SYNC    /* reads and loads not overlapped with signing */
};

/* What the signer's committed transactions told the responders and the
 * CDN (beside the purger's own counters, purge.h): kept together for a
 * metrics endpoint (issue 15); logged every signer.stats_interval. */
typedef struct {
    uint64_t invalidations; /* PUBLISHed to P:invalidate */
    uint64_t purge_jobs;    /* XADDed to P:purge */
} signer_changes_t;

typedef struct {
    const ocsp_config_t *cf; /* borrowed */
    ocsp_registry_t reg;     /* owned, with keys */
    ocsp_rconn_t read_conn;  /* stream reads and due claims */
    ocsp_rconn_t tx_conn[2]; /* transactions, alternating: one batch is
                              * signed while Redis runs the other's */
    volatile int *stop;      /* set by SIGTERM/SIGINT */
    /* A token outage that a fresh start would end (daemon.h): the loop
     * stops as on SIGTERM with reexec set, and main restarts in place. */
    ocsp_daemon_restart_t restart;
    int reexec;
    char consumer[96];
    size_t batch;
    /* signer.sign_threads: 1 signs on the loop's thread alone; more sign
     * each batch's responses on a pool of that many (signer_pool.h). */
    size_t sign_threads;
    signer_pool_t *pool;     /* owned; NULL with 1 */
    signer_pool_job_t *jobs; /* owned, SIGNER_BATCH_MAX; NULL with 1 */
    int token_error;         /* init failed on a token: exit 2 */
    int64_t claim_idle_ms;   /* XAUTOCLAIM a dead signer's entries after */
    int64_t lease;           /* seconds a claimed re-sign stays ours */
    int64_t history;         /* signer.history: entries kept (0: none) */
    size_t due_first;        /* issuer whose re-signs are claimed first */
    char events_key[OCSP_KEY_MAX];
    int ever_connected;    /* "redis connected" is logged once */
    int own_pending_done;  /* re-read our own pending entries first */
    int ahead_sent;        /* read-ahead replies due on read_conn (0-2) */
    char pending_from[48]; /* and from which ID on */
    /* Revoked logs an append to which failed in a committed transaction:
     * deleted (so rebuilt by the CRL generator) before anything else. */
    char drops[SIGNER_DROPS_MAX][OCSP_KEY_MAX];
    size_t ndrops;
    int drop_all; /* more than SIGNER_DROPS_MAX: every log */
    long last_claim_ms;
    /* XACKs sent on each transaction connection whose replies are still to
     * be read (before anything else on it: signer_tx_ack_recv()). */
    size_t acks_out[2];
    /* Rate limit of the "command failed in transaction" lines. */
    long fail_log_ms;
    unsigned fail_logged;
    unsigned long fail_unlogged;
    /* Counters for logging: events acknowledged, signatures committed,
     * WATCH conflicts, transactions committed, signatures computed (a
     * repeated batch signs again: computed > signed). */
    uint64_t events, signed_responses, conflicts, batches, computed;
    uint64_t unreadable; /* of events: entries that were no event */
    int64_t sign_ns;     /* wall time computing signatures */
    /* Events applied by issuer (the registry's index) and kind, for the
     * metrics; owned, reg.n rows. */
    uint64_t (*applied)[SIGNER_KINDS];
    signer_changes_t changes;
    /* signer.metrics_file (or --metrics-file: signer_main.c sets it after
     * signer_init()): "" is off; written every metrics_every_ms. */
    char metrics_file[4096];
    int64_t metrics_every_ms;
    /* signer.inventory_interval: the metrics thread counts the records
     * this often (0: never; signer_metrics.h). */
    int64_t inventory_every_ms;
    signer_metrics_t *metrics; /* owned; NULL when off */
    long metrics_pub_ms;       /* counters last published */
    /* Invalidations and CDN purges (purge.h): the channel and the stream
     * the transactions write, the purge group, the purger thread. */
    char invalidate_key[OCSP_KEY_MAX];
    char purge_key[OCSP_KEY_MAX];
    char purge_maxlen[24];
    ocsp_purge_conf_t purge;
    ocsp_purger_t *purger; /* owned; NULL without purge.hook */
    /* signer.stats_interval: counters logged this often (0: never). */
    int64_t stats_every_ms;
    long stats_ms;
    /* Batches committed that fewer than redis.min_replica_acks replicas
     * acknowledged (left pending), and when that was last logged. */
    uint64_t wait_short;
    long wait_log_ms;
    /* Wall time by phase of the pipeline loop (SIGNER_T_*), nanoseconds:
     * where a signer that is not signing waits (logged when it stops). */
    int64_t t_ns[5];
    char err[OCSP_ERR_MAX];
} signer_t;

/*
 * Sets up *s from cf (loads the issuers' responder keys).  Returns 0, or -1
 * with s->err set.  Free with signer_free().
 */
int signer_init(signer_t *s, const ocsp_config_t *cf, volatile int *stop);
void signer_free(signer_t *s);

/*
 * Runs until *stop: reconnects to Redis with backoff, reads events and due
 * re-signs, and writes their results.  Returns 0 when stopped.
 */
int signer_run(signer_t *s);

#endif
