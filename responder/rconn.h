/*
 * The Redis client of the daemons and the CLI (never used in nginx): one
 * blocking connection with timeouts, over TCP, a unix socket, or TLS
 * (OpenSSL: the server's certificate verified against redis.tls_ca and
 * redis.tls_server_name, a client certificate if configured, TLS 1.2 at
 * least), AUTH/SELECT from the config, bounded replies (reply_limits.h),
 * pipelining that never mis-pairs replies, and one policy for failures.
 * hiredis is only the codec here: redisFormatCommandArgv() formats the
 * commands, a redisReader parses the replies; the socket and TLS are ours,
 * since Debian's hiredis 0.14 has no TLS.
 *
 * Errors name the server and the reason, e.g. "redis 10.0.0.5:6380: TLS
 * handshake failed: certificate verify failed (hostname mismatch)" or
 * "redis sentinel 10.0.0.2:26379: connect: Connection refused".
 *
 * Sentinel (redis.sentinels set): redis.host and port are not used.  Each
 * connection asks the Sentinels in turn, the one that answered last first
 * (unless the address it gave failed: then the next one), for the primary of
 * redis.master_name (SENTINEL get-master-addr-by-name, each Sentinel bounded by
 * 1 s; one that fails is skipped), connects to the address given and requires
 * ROLE to say "master" before the connection is used: a replica is dropped with
 * the backoff below.  Every failure (including READONLY from a demoted primary)
 * drops the connection, and the next ocsp_rconn_ensure() asks the Sentinels
 * again: that is how a failover is followed.  Callers repeat the work in hand
 * after a reconnection (WATCH keeps a repeated transaction safe, events
 * are idempotent by id).
 *
 * Acknowledged writes (redis.min_replica_acks > 0): a caller that reports
 * a write as done first waits with ocsp_rconn_wait() (or queues
 * ocsp_rconn_append_wait() behind its writes) until that many replicas
 * have it, at most redis.wait_timeout; fewer is not a connection failure
 * but the caller's to report (the write stays on the primary).
 *
 * Failure policy, for every caller.  A connection that fails (I/O error,
 * timeout, a reply over the limits, a protocol error) or whose server
 * answers that it cannot serve now (LOADING, BUSY, OOM, MASTERDOWN,
 * MISCONF, READONLY, TRYAGAIN, CLUSTERDOWN, NOREPLICAS:
 * ocsp_reply_transient()) is dropped, and the next ocsp_rconn_ensure()
 * waits a backoff (100 ms doubling to 5 s) before it reconnects, exactly as
 * after a lost connection: an error reply is never a reason to spin.  The
 * backoff resets once a reply that is not an error arrives on a connection
 * set up (AUTH, SELECT and ROLE answering do not count).  Failures are
 * logged (unless quiet) at most once per 10 s per connection; that line
 * carries how many failures there were since the last one (repeated=N).
 * A caller that cannot go on after another error reply hands it to
 * ocsp_rconn_fail_reply() to get the same treatment.
 *
 * Pipelining: ocsp_rconn_append() queues commands, ocsp_rconn_flush()
 * sends them, ocsp_rconn_reply() reads the next reply in order.  The
 * connection counts the replies still pending; a drop forgets them (their
 * replies never come), so a reply is never read as another command's.
 *
 * Every function that reads a reply returns NULL (or -1) when the
 * connection failed: it is then dropped, conn->err says why, and pending
 * is 0.  Replies are freed with freeReplyObject().  A connection must not
 * move in memory while connected (its reader points to conn->guard).
 */
#ifndef REVOCA_RCONN_H
#define REVOCA_RCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "reply_limits.h"

/* The socket, its TLS session, output buffer and reader (rconn.c). */
typedef struct ocsp_rlink_s ocsp_rlink_t;

/* Room for a host name (253), a unix socket's path (108), and the NUL. */
#define OCSP_RCONN_HOST_MAX 256

typedef struct {
    const ocsp_config_t *cf; /* borrowed */
    /* The server connected to, or last tried: for errors and logs.
     * role is "redis" or "redis sentinel"; port 0: host is a path. */
    char host[OCSP_RCONN_HOST_MAX];
    int port;
    const char *role;
    int timeout_ms;          /* each wait on a Redis link */
    int connecting;          /* no "recovered" before the link is set up */
    int discovering;         /* asking Sentinels: their failures do not
                                back off one by one */
    size_t sentinel_at;      /* the Sentinel asked first */
    long sentinel_logged_ms; /* "sentinel skipped" lines, rate-limited */
    ocsp_rlink_t *link;      /* NULL while disconnected */
    struct ssl_ctx_st *tls;  /* SSL_CTX from cf, once built; NULL: none */
    ocsp_reply_limits_t limits;
    ocsp_reply_guard_t guard; /* link's reader's, while connected */
    size_t pending;           /* replies appended and not yet read */
    int quiet;                /* no failure log lines (the CLI's) */
    /* Backoff: no reconnection before retry_at_ms after a failure. */
    int backoff_ms;
    long retry_at_ms;
    /* Failures since the last success, and since the last log line. */
    unsigned long failures, unlogged;
    long logged_ms;
    /* Since init, for metrics: failures (ocsp_rconn_fail()), and
     * connections made (the first one included). */
    uint64_t errors_total, connects_total;
    char err[OCSP_ERR_MAX];
} ocsp_rconn_t;

/*
 * The daemons' and the CLI's reply limits: room for their largest
 * legitimate replies (an XREADGROUP batch of SIGNER_BATCH_MAX entries, MGET
 * of a batch and EXEC of its transaction, HMGET/ZRANGE pages, 4 MB
 * GETRANGE pieces of a revoked log), far below what would hurt.  Each
 * reply is bounded as a whole too: 512 K objects (or twice max_elements if
 * more) and 64 MB of strings (or max_string if more).
 */
extern const ocsp_reply_limits_t ocsp_reply_limits_default;

/* Sets up a disconnected connection to cf's Redis, default limits. */
void ocsp_rconn_init(ocsp_rconn_t *conn, const ocsp_config_t *cf);

/* Replaces the reply limits (copied), now and for later connections. */
void ocsp_rconn_set_limits(ocsp_rconn_t *conn,
                           const ocsp_reply_limits_t *limits);

/* Connects if needed, now (no backoff).  0, or -1 with conn->err set. */
int ocsp_rconn_connect(ocsp_rconn_t *conn);

/*
 * Connects if needed: waits out the backoff of the last failure, then
 * retries until connected, *stop becomes non-zero, or deadline_ms (a
 * ocsp_now_ms() time; 0: none) passes.  0, or -1 with conn->err set.
 */
int ocsp_rconn_ensure(ocsp_rconn_t *conn, volatile int *stop, long deadline_ms);

/* 1 if connected (a link is up; it may still fail on its next read). */
int ocsp_rconn_connected(const ocsp_rconn_t *conn);

/* Drops the connection, pending replies included, with no backoff (a
 * caller giving up on a healthy link, e.g. because a sibling failed). */
void ocsp_rconn_drop(ocsp_rconn_t *conn);
/* Drops the connection and frees the TLS context (rebuilt if used again). */
void ocsp_rconn_close(ocsp_rconn_t *conn);

/*
 * The failure policy above, for a failure the caller found: WHY goes to
 * conn->err and the log (rate-limited), the connection is dropped, and
 * the next ensure backs off.
 */
void ocsp_rconn_fail(ocsp_rconn_t *conn, const char *why);
/* The same for an error reply R (not freed) to command WHAT. */
void ocsp_rconn_fail_reply(ocsp_rconn_t *conn, const char *what,
                           const redisReply *r);

/* Queues one command (binary-safe argv; argvlen NULL: strlen).  0, or -1
 * (not connected, out of memory: the connection failed). */
int ocsp_rconn_append(ocsp_rconn_t *conn, int argc, const char **argv,
                      const size_t *argvlen);
/* Sends everything queued without waiting for replies.  0, or -1. */
int ocsp_rconn_flush(ocsp_rconn_t *conn);
/* Bytes appended and not yet sent (0 while disconnected). */
size_t ocsp_rconn_queued(const ocsp_rconn_t *conn);
/* Replies queued and not yet read. */
size_t ocsp_rconn_pending(const ocsp_rconn_t *conn);
/*
 * The next pending reply (flushing first), bounded by the limits; NULL if
 * the connection failed, if a transient error reply came (the policy
 * above), or if no reply is pending (a caller's bug: also a failure).  An
 * other error reply is returned as a reply of type REDIS_REPLY_ERROR.
 */
redisReply *ocsp_rconn_reply(ocsp_rconn_t *conn);
/*
 * Reads and frees the next N replies.  0 if all came and none was an
 * error; 1 if all came but some were errors (the first one's text in
 * conn->err); -1 if the connection failed.
 */
int ocsp_rconn_skip(ocsp_rconn_t *conn, size_t n);

/*
 * The next pending reply decoded by FNS (hiredis object functions, called
 * with PRIVDATA as their task's privdata) instead of built as a redisReply:
 * for a reply too large to build (a page of HSCAN), under the same limits
 * and failure policy.  FNS returns a non-NULL object for what it accepts
 * and NULL to refuse the reply (the connection then fails; FNS keeps its own
 * reason), and its freeObject frees whatever it returned (it is called for
 * a reply cut short).  An error reply reaches FNS's createString as a task
 * of type REDIS_REPLY_ERROR.  Between socket reads, PROGRESS(PRIVDATA) (may
 * be NULL) may append and flush commands, e.g. the next page as soon as
 * the cursor has come; non-zero fails the connection.  Returns the object
 * FNS made for the whole reply, or NULL when the connection failed.
 */
void *ocsp_rconn_reply_decode(ocsp_rconn_t *conn,
                              redisReplyObjectFunctions *fns, void *privdata,
                              int (*progress)(void *privdata));

/* One command, when nothing is pending: append, flush, reply.  As
 * ocsp_rconn_reply(); NULL too if replies were pending. */
redisReply *ocsp_rconn_cmd(ocsp_rconn_t *conn, int argc, const char **argv,
                           const size_t *argvlen);

/* The server's clock (TIME), in unix milliseconds.  0, or -1 with
 * conn->err set (the connection failed on a reply that is not TIME's). */
int ocsp_rconn_time_ms(ocsp_rconn_t *conn, int64_t *ms);

/*
 * The integer of R: an integer reply, or a bulk string that is wholly a
 * decimal integer ("-"? digits, no sign '+', no space, no leading zero,
 * no fraction), within int64 and >= MIN (0 to refuse negatives,
 * INT64_MIN for none).  0, or -1 (nothing is written to *v).
 */
int ocsp_reply_int64(const redisReply *r, int64_t min, int64_t *v);
/* The same rule for LEN bytes at S (e.g. a number field of a hash). */
int ocsp_parse_int64(const char *s, size_t len, int64_t min, int64_t *v);

/* 1 if R is an error reply of a server that cannot serve now (above). */
int ocsp_reply_transient(const redisReply *r);

/*
 * The RESP encoding of one command (as sent on a connection; for a file
 * fed to redis-cli --pipe): *out (malloc'd, free with ocsp_resp_free())
 * and its length, or -1 out of memory.
 */
long ocsp_resp_format(char **out, int argc, const char **argv,
                      const size_t *argvlen);
void ocsp_resp_free(char *out);
/* Formats one command and writes it to F.  0, or -1 (errno). */
int ocsp_resp_write(FILE *f, int argc, const char **argv,
                    const size_t *argvlen);

/* 1 if writes reported as done must reach redis.min_replica_acks
 * replicas first (WAIT). */
int ocsp_rconn_wait_wanted(const ocsp_rconn_t *conn);

/*
 * Queues "WAIT min_replica_acks wait_timeout" behind the writes appended
 * so far (nothing when not wanted): 1 queued, 0 not wanted, -1 the
 * connection failed.  Its reply is judged by ocsp_rconn_wait_result().
 */
int ocsp_rconn_append_wait(ocsp_rconn_t *conn);

/*
 * Judges R, the reply of a queued WAIT (not freed): 0 when enough replicas
 * acknowledged, 1 when fewer (conn->err says how many, the connection
 * stays up), -1 when R is no WAIT reply (the connection failed).  *acked
 * (may be NULL) gets the count.
 */
int ocsp_rconn_wait_result(ocsp_rconn_t *conn, const redisReply *r,
                           long long *acked);

/* WAIT for the writes sent so far, nothing pending: as above (0 also when
 * not wanted, -1 when the connection failed). */
int ocsp_rconn_wait(ocsp_rconn_t *conn, long long *acked);

/* Monotonic milliseconds. */
long ocsp_now_ms(void);

#endif
