/*
 * A signer's batch: the stream entries read together and the certificates
 * they touch, each certificate once (an item), found by an index on
 * (issuer, serial).  The unit of work: one batch's records are loaded
 * together under WATCH, and everything it writes is one transaction
 * (signer_tx.h).
 */
#ifndef REVOCA_SIGNER_BATCH_H
#define REVOCA_SIGNER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "event.h"
#include "issuer.h"
#include "keys.h"
#include "policy.h"
#include "rconn.h"
#include "record.h"
#include "revlog.h"
#include "serial.h"
#include "signer.h"

/* One certificate a batch touches. */
typedef struct {
    const ocsp_issuer_t *iss;
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    char cert_key[OCSP_KEY_MAX];
    Revoca__CertRecord *loaded; /* owned, as read; NULL if absent */
    ocsp_record_t rec;          /* working copy, borrows from loaded */
    /* The subject rec.subject borrows when an issue event of this batch
     * gave it (ocsp_record_take_subject()). */
    char subject[OCSP_SUBJECT_MAX + 1];
    int changed;
    int resign;
    int bad; /* unreadable record or failed write: left alone, not acked */
    /* An event of it was delivered before (claimed, or our own pending
     * one read again): its last try may have written only part of its
     * effect (a command failed in EXEC), so everything is written again
     * even if the record already reflects it. */
    int redo;
    int failed; /* a command of it failed in EXEC: its entries not acked */
    /* Its answer changed (or it is redone): the transaction tells the
     * responders (PUBLISH) and queues its CDN purge (signer_tx.c). */
    int notify;
    /* The record as last loaded (raw_state 0: not yet, 1: absent, 2: the
     * raw_len bytes of raw): a batch repeated after a WATCH conflict signs
     * again only the items whose record another signer changed. */
    int raw_state;
    size_t raw_len;
    unsigned char raw[OCSP_RECORD_MAX];
    /* Responses signed by the last build (owned, NULL if none), with the
     * times they carry: kept for a repeat while the record is unchanged. */
    unsigned char *der[OCSP_HASH_COUNT];
    size_t der_len[OCSP_HASH_COUNT];
    ocsp_times_t times;
    int on_crl_before;
    unsigned shard_before;
    /* Written for the whole batch at once (one MSET, one ZADD per issuer):
     * one command instead of one per certificate. */
    int set_record, add_due;
    /* Deleted as expired (its history with it): no history appended. */
    int gone;
    /* History entries queued for it: its list is trimmed once. */
    int history;
    size_t rec_len;
    unsigned char rec_buf[OCSP_RECORD_MAX];
    char due[24];
} signer_item_t;

/* One stream entry of a batch; ev NULL for an entry to ack and skip. */
typedef struct {
    char id[48];
    Revoca__Event *ev; /* owned */
    size_t item;
    int redelivered; /* claimed, or our own pending one read again */
} signer_entry_t;

/* What a command queued in a batch's transaction touches, so that an
 * error in EXEC's reply is charged to the items it concerns and its key
 * named in the log. */
typedef enum {
    SIGNER_CMD_RECORD,  /* the item's record key (and its responses: DEL) */
    SIGNER_CMD_OCSP,    /* the item's stored responses */
    SIGNER_CMD_DUE,     /* the issuer's due set, for the item */
    SIGNER_CMD_CHANGES, /* the issuer's changes set, for the item */
    SIGNER_CMD_REVOKED, /* a revoked hash of the issuer, for the item */
    SIGNER_CMD_REVLOG,  /* a revoked log of the issuer, for the item */
    SIGNER_CMD_RECORDS, /* MSET of every record the batch sets */
    SIGNER_CMD_DUES,    /* ZADD of the issuer's re-sign times, batch-wide */
    SIGNER_CMD_NOTIFY,  /* PUBLISH of the item's change (P:invalidate) */
    SIGNER_CMD_PURGE,   /* XADD of the item's purge job (P:purge) */
    SIGNER_CMD_HISTORY  /* RPUSH, LTRIM of the item's history */
} signer_cmd_e;

typedef struct {
    uint16_t item;  /* for _DUES: an item of that issuer; unused for _RECORDS */
    uint8_t kind;   /* signer_cmd_e */
    uint32_t shard; /* _REVOKED, _REVLOG */
} signer_cmd_t;

/* At most 12 commands per item (item_write(): two revoked-hash changes of
 * 3 commands each, the changes set, the responses, the due set, the
 * invalidation and the purge job; the history's LTRIM), one per entry (its
 * history RPUSH) and one per issuer and batch: a command past the table
 * fails every item. */
#define SIGNER_CMDS_MAX (14 * SIGNER_BATCH_MAX)

/* Open-addressing index of a batch's items by (issuer, serial): a batch of
 * thousands of events must not look its items up one by one. */
#define SIGNER_BATCH_SLOTS (2 * SIGNER_BATCH_MAX)
_Static_assert((SIGNER_BATCH_SLOTS & (SIGNER_BATCH_SLOTS - 1)) == 0,
               "a power of two");
_Static_assert(SIGNER_BATCH_MAX < 0xffff, "item indexes fit 16 bits");

typedef struct {
    signer_item_t items[SIGNER_BATCH_MAX];
    size_t nitems;
    uint16_t slot[SIGNER_BATCH_SLOTS]; /* item index + 1; 0 is a free slot */
    signer_entry_t entries[SIGNER_BATCH_MAX];
    size_t nentries;
    ocsp_rconn_t *conn; /* the transaction connection it is sent on */
    size_t queued;      /* commands queued between MULTI and EXEC */
    /* What each of them touches, in EXEC's reply order. */
    signer_cmd_t cmds[SIGNER_CMDS_MAX];
    /* Starts a revoked log that does not exist yet (SET NX): one per
     * batch, not a random generation per change. */
    unsigned char log_header[OCSP_REVLOG_HEADER];
    uint64_t signatures; /* counted once the transaction commits */
    uint64_t notified;   /* invalidations queued, likewise */
    uint64_t purges;     /* purge jobs queued, likewise */
} signer_batch_t;

/* Frees what the batch owns and empties it (its index too). */
void signer_batch_reset(signer_batch_t *b);

/* Frees the responses IT keeps (signer_item_t.der). */
void signer_item_forget(signer_item_t *it);

/* The index of the batch's item for (iss, serial), or -1. */
long signer_batch_find(const signer_batch_t *b, const ocsp_issuer_t *iss,
                       const char *serial);

/*
 * The batch's item for (iss, serial) with its index in *index, added (its
 * record key built under PREFIX) if new; NULL if the batch is full.
 */
signer_item_t *signer_batch_item(signer_batch_t *b, const ocsp_issuer_t *iss,
                                 const char *serial, const char *prefix,
                                 size_t *index);

/* Whether B holds a certificate A holds too. */
int signer_batch_overlaps(const signer_batch_t *a, const signer_batch_t *b);

/*
 * Drops from B the redelivered entries that HELD (may be NULL) holds too:
 * a claim of entries idle past claim_idle takes our own as well, and one
 * in a batch in hand (signed slowly, or waiting for its transaction) must
 * not be applied twice at once.  Items left without entries are not
 * written (nothing changed them).
 */
void signer_batch_drop_held(signer_batch_t *b, const signer_batch_t *held);

/*
 * Moves the events of NEXT (read ahead, not loaded) about a certificate
 * CUR also holds into CUR (loaded, not yet built); NEXT's items left
 * without events are dropped and NEXT is indexed again.
 */
void signer_batch_route(signer_batch_t *cur, signer_batch_t *next);

#endif
