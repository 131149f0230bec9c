/*
 * What a signer reads into a batch: events from the stream (its consumer
 * group, its own pending entries first, a dead signer's once idle), read
 * ahead while a batch is signed, and leased claims on the due sets of
 * records to re-sign.  Each returns 0, or -1 when the read connection
 * failed (rconn.h's policy: an error reply it cannot go on with counts as
 * a failure).
 */
#ifndef REVOCA_SIGNER_READ_H
#define REVOCA_SIGNER_READ_H

#include "signer_batch.h"

/*
 * Adds the stream entry ID (ID_LEN bytes) holding the encoded event P (LEN
 * bytes; P NULL: the entry was deleted from the stream, only to be acked)
 * to b: decoded and validated (event.h), its issuer known and its profile
 * allowing it (policy.h), its certificate's item found or added.  An entry
 * refused is logged and kept without its event (acknowledged, never
 * applied).  REDELIVERED: delivered before (signer_item_t.redo).  With
 * ONLY, an event of another issuer is left out altogether (0), as a
 * rebuild of one issuer reads the others' (rebuild.h).  1 when the entry
 * was added, 0 when left out, -1 when b is full or ID too long.
 */
int signer_batch_event(signer_t *s, signer_batch_t *b, const char *id,
                       size_t id_len, const unsigned char *p, size_t len,
                       int redelivered, const ocsp_issuer_t *only);

/* Creates the consumer group (and stream) if missing. */
int signer_read_group(signer_t *s);

/* The next events into b, waiting for some if BLOCK (maybe none). */
int signer_read_events(signer_t *s, signer_batch_t *b, int block);

/*
 * Read-ahead: the next new entries are asked for (no BLOCK) before a
 * batch is signed and collected after, so that Redis serves the read
 * while the signer computes.  Possible only once our own pending entries
 * are done (signer_read_events() reads those); a claim of a dead signer's
 * entries that is due is sent with it (half the batch each).  Between
 * send and recv s->ahead_sent is set (the replies due): nothing else may
 * be sent on the read connection.
 */
int signer_read_ahead_possible(const signer_t *s);
int signer_read_ahead_send(signer_t *s);
int signer_read_ahead_recv(signer_t *s, signer_batch_t *b);

/* Claims due re-signs of one issuer into b (up to its free room). */
int signer_read_due(signer_t *s, signer_batch_t *b, const ocsp_issuer_t *iss);

#endif
