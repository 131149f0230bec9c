/*
 * The revoked logs (revlog.h) from the CRL generator's side: read instead
 * of scanning the revoked hashes (crl_revlog_read.c), and rebuilt from a
 * scan when they cannot be trusted (crl_revlog_rebuild.c).
 */
#ifndef CRL_REVLOG_H
#define CRL_REVLOG_H

#include <stdint.h>

#include "crl_record.h"
#include "rconn.h"
#include "revlog.h"

/* A log is read, and a rebuilt one written, in pieces of this size: each
 * piece in flight costs the generator about twice its size (hiredis's
 * read buffer and the reply), so small ones keep the peak memory low. */
#define REVLOG_CHUNK (1 << 20)

/*
 * Every entry on the issuer's CRLs at NOW, as crl_fetch_revoked(), from the
 * logs of its shards.  Returns 0; 1 when a log cannot be trusted (no
 * header, its entries differ from the hash's count, rebuilt while read,
 * an invalid record, or mostly superseded records), with the reason in
 * WHY and *out and *expired partly filled: scan instead, and rebuild;
 * -1 with err on a Redis error.
 */
int crl_revlog_fetch(ocsp_rconn_t *conn, const char *prefix,
                     const crl_issuer_conf_t *crl_issuer, int64_t now,
                     crl_entries_t *out, crl_entries_t *expired,
                     crl_record_stats_t *st, char *why, size_t why_len,
                     char *err);

/*
 * Replays the LEN bytes of records at P (a log after its header) into t as
 * the reader does, fed in pieces of PIECE bytes: records cut across pieces
 * are put together.  With THREADS, every other piece is decoded by a
 * second thread, as the reader does with a long log.  Returns how many
 * records, or -1 if one is invalid or the last is cut.
 */
long crl_revlog_replay(const crl_issuer_conf_t *crl_issuer, int64_t now,
                       unsigned shard, const unsigned char *p, size_t len,
                       size_t piece, int threads, crl_entries_t *t);

/* Where a shard's log stood when a scan began. */
typedef struct {
    int64_t len; /* its STRLEN */
    unsigned char header[OCSP_REVLOG_HEADER];
    int has_header;
} crl_revlog_mark_t;

/*
 * Where the log LOG_KEY of one shard stands (*m: its length and header, if
 * any, and *gen that header's generation) and its hash HASH_KEY's HLEN, read
 * in one transaction so that they agree.  0; 1 when the log key holds
 * something else (err says what); -1 on a lost link or a hash that cannot
 * be read.
 */
int crl_revlog_state(ocsp_rconn_t *conn, const char *log_key,
                     const char *hash_key, crl_revlog_mark_t *m, uint64_t *gen,
                     int64_t *hlen, char *err);

/* The next pipelined reply; NULL (and the link dropped) on an error. */
redisReply *crl_revlog_reply(ocsp_rconn_t *conn, char *err);

/* m[0..nshards): each shard's log, header and length read together.  0, or
 * -1 with err. */
int crl_revlog_mark(ocsp_rconn_t *conn, const char *prefix,
                    const crl_issuer_conf_t *crl_issuer, crl_revlog_mark_t *m,
                    char *err);

/* A log being rebuilt from a scan: the header's room, then records. */
typedef struct {
    unsigned char *p;
    size_t len, cap;
} crl_revlog_buf_t;

/* Appends the record of one field and value of the hash; 0 or -1. */
int crl_revlog_buf_add(crl_revlog_buf_t *b, const char *serial, size_t slen,
                       const char *value, size_t vlen);

/*
 * Replaces the shard's log with a new header (written into b->p's first
 * bytes), b's records, and whatever was appended to the log after *m (where
 * it stood when the scan began): the changes the scan may have missed.
 * Written aside in pieces and swapped in by a Lua script, which leaves the
 * log alone should another generator have rebuilt it meanwhile.  0, or -1
 * with err.
 */
int crl_revlog_rebuild(ocsp_rconn_t *conn, const char *prefix,
                       const char *issuer, unsigned shard, crl_revlog_buf_t *b,
                       const crl_revlog_mark_t *m, char *err);
/*
 * The Lua script crl_revlog_rebuild() swaps a log in with, the header's
 * layout formatted in from revlog.h, into out (CAP bytes, 2048 are plenty):
 * its length, or 0 if CAP is too small.
 */
size_t crl_revlog_script(char *out, size_t cap);

/* Frees b's records (b itself is the caller's). */
void crl_revlog_buf_free(crl_revlog_buf_t *b);

#endif
