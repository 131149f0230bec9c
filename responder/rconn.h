/*
 * A blocking Redis connection for the daemons and the CLI (never used in
 * nginx): connect with timeouts, AUTH/SELECT from the config, and reconnect
 * with capped exponential backoff so that a Redis restart is never fatal.
 */
#ifndef REVOCA_RCONN_H
#define REVOCA_RCONN_H

#include <hiredis/hiredis.h>
#include <stddef.h>

#include "config.h"

typedef struct {
    const ocsp_config_t *cf; /* borrowed */
    redisContext *c;         /* NULL while disconnected */
    int backoff_ms;
    char err[OCSP_ERR_MAX];
} ocsp_rconn_t;

void ocsp_rconn_init(ocsp_rconn_t *rc, const ocsp_config_t *cf);

/* Connects if needed.  Returns 0, or -1 with rc->err set (no retry). */
int ocsp_rconn_connect(ocsp_rconn_t *rc);

/*
 * Connects, retrying with backoff (100 ms doubling to 5 s) until connected,
 * *stop becomes non-zero, or deadline_ms (0: none) passes.  Returns 0 or -1.
 */
int ocsp_rconn_ensure(ocsp_rconn_t *rc, volatile int *stop, long deadline_ms);

/* Drops the connection after an I/O error; the next ensure reconnects. */
void ocsp_rconn_drop(ocsp_rconn_t *rc);
void ocsp_rconn_close(ocsp_rconn_t *rc);

/*
 * One command from an argv (binary-safe).  Returns the reply (caller frees)
 * or NULL on a connection error (connection dropped, rc->err set).  A Redis
 * error reply is returned as a reply of type REDIS_REPLY_ERROR.
 */
redisReply *ocsp_rconn_cmd(ocsp_rconn_t *rc, int argc, const char **argv,
                           const size_t *argvlen);

/* Monotonic milliseconds. */
long ocsp_now_ms(void);

#endif
