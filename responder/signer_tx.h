/*
 * A batch's transaction on its connection (b->conn): WATCH and MGET of
 * its records (load), then the events applied, responses signed and every
 * write queued between MULTI and EXEC (build), then the outcome read
 * (finish) and the entries all of whose commands succeeded acknowledged
 * (ack).  Sending is the caller's (ocsp_rconn_flush),
 * so that a loop can overlap one batch's transaction with the next's
 * signing (signer.c).
 */
#ifndef REVOCA_SIGNER_TX_H
#define REVOCA_SIGNER_TX_H

#include "signer_batch.h"

/* Queues WATCH on every record of the batch and their MGET. */
void signer_tx_load_send(signer_batch_t *b);
/* Reads what signer_tx_load_send() asked for into the items (the replies
 * of XACKs sent before first).  0, or -1 (the connection failed). */
int signer_tx_load_recv(signer_t *s, signer_batch_t *b);
/* Both, at once. */
int signer_tx_load(signer_t *s, signer_batch_t *b);

/*
 * Applies the batch's events to the loaded records, signs, and queues the
 * writes as one transaction.  An item that cannot be written is marked
 * bad: its entries are not acknowledged (they stay pending), the rest
 * goes ahead.
 */
void signer_tx_build(signer_t *s, signer_batch_t *b);

/*
 * Reads the outcome of the transaction built and sent (the replies of
 * XACKs sent before first).  0 when committed, 1 when it must be repeated
 * (another signer changed a record first), -1 when the connection failed
 * (a refused transaction counts as failed: rconn.h's backoff, never an
 * immediate repeat).  A committed transaction's commands can have failed
 * one by one (a key of another type): the items they concern are marked
 * failed and logged (rate-limited, naming the key and Redis's error).
 */
int signer_tx_finish(signer_t *s, signer_batch_t *b);

/*
 * One whole round, repeated while other signers win the race (until
 * *s->stop): load, build, send, finish.  0 when committed, 1 when stopped
 * before, -1 when the connection failed.  Nothing is acknowledged.
 */
int signer_tx_commit(signer_t *s, signer_batch_t *b);

/*
 * After signer_tx_finish() returned 0, with nothing else pending on
 * b->conn: sends XACK of the entries all of whose commands succeeded
 * (skipped entries too); the others stay pending, are claimed again after
 * claim_idle and written again (a redelivered event redoes its writes,
 * events commute).  Its reply is read by the next reader of the
 * connection (signer_tx_ack_recv()).  0, or -1 (the connection failed:
 * the entries stay pending).
 */
int signer_tx_ack_send(signer_t *s, signer_batch_t *b);
/* Reads the replies of the XACKs sent on CONN.  0, or -1 (failed). */
int signer_tx_ack_recv(signer_t *s, ocsp_rconn_t *conn);

/* Deletes the revoked logs whose appends failed in a committed
 * transaction (s->drops), on the read connection.  0, or -1 (they are
 * deleted after the reconnection). */
int signer_tx_drop_logs(signer_t *s);

#endif
