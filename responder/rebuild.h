/*
 * Rebuilding an issuer's state from its events (issue 14 section 4): every
 * event of the issuer, in order, is applied again through the signer's own
 * transaction (signer_tx.h: the status model of record.h, responses signed
 * anew with the configured keys, the CRL inputs, the re-sign schedule, the
 * history), as if a signer read it from the stream.  One path, so that a
 * rebuilt store is what the signer would have written.
 *
 * The events come from sources read one after the other, oldest first:
 * the archive (audit.archive_dir: the segments of the entries revoca-audit
 * trimmed from the stream, audit_segment.h), then the stream (P:events,
 * XRANGE); an entry in both (archived, not trimmed yet) is applied once.
 *
 * Safety:
 *  - Over live data: an issuer that has records (or a re-sign schedule)
 *    is refused unless forced, and so is a signer consuming the stream
 *    (a member of the group "signer" active in the last few seconds).
 *  - Idempotent: events commute and a repeat changes nothing
 *    (record.h).  Forced, every certificate is written again (its
 *    responses signed anew) even where its record already reflects its
 *    events; its history is cleared first (unless FROM is given) so that
 *    the events replayed are not listed twice.
 *  - A crash or failure mid-way leaves every batch committed or not at
 *    all (one MULTI/EXEC each); running again (forced, since records now
 *    exist) converges, and FROM (the last entry the failed run committed,
 *    which it prints) skips what was done.
 *  - A signer running at the same time cannot make a record wrong (WATCH
 *    and commuting events), but doubles the work and interleaves the
 *    histories: stop the signers first (docs/operations.md).
 */
#ifndef REVOCA_REBUILD_H
#define REVOCA_REBUILD_H

#include <stdint.h>
#include <stdio.h>

#include "config.h"
#include "history.h"
#include "rconn.h"

/* Where the events come from.  next() gives the next entry: 1 with *id (a
 * stream entry id, NUL-terminated) and *p, *len (the encoded Event; *p
 * NULL for an entry without one), both borrowed until the next call; 0 at
 * the end; -1 with err set when it cannot go on.  close() frees it. */
typedef struct ocsp_rebuild_source ocsp_rebuild_source_t;
struct ocsp_rebuild_source {
    const char *name; /* "stream", "archive": named in the progress */
    int (*next)(ocsp_rebuild_source_t *src, const char **id,
                const unsigned char **p, size_t *len);
    void (*close)(ocsp_rebuild_source_t *src);
    char err[OCSP_ERR_MAX];
};

/*
 * The stream P:events (EVENTS_KEY) from entry FROM on (inclusive; NULL or
 * "-": the first), read in pages on CONN (borrowed, connected).  NULL when
 * out of memory.
 */
ocsp_rebuild_source_t *ocsp_rebuild_stream_open(ocsp_rconn_t *conn,
                                                const char *events_key,
                                                const char *from);

/*
 * The archive's segments in DIR, in stream order, from entry FROM on
 * (inclusive; NULL: the first), each checked by the segment reader (links,
 * order, trailer).  NULL with err (OCSP_ERR_MAX) when DIR cannot be listed
 * or out of memory.
 */
ocsp_rebuild_source_t *ocsp_rebuild_archive_open(const char *dir,
                                                 const char *from, char *err);

typedef struct {
    const char *issuer; /* the issuer's name */
    int force;          /* over live data */
    const char *from;   /* the first stream entry (NULL: all) */
    FILE *progress;     /* a line every progress_ms (NULL: none) */
    long progress_ms;
} ocsp_rebuild_opts_t;

typedef struct {
    uint64_t entries; /* read from the sources, every issuer's */
    uint64_t events;  /* of the issuer, applied */
    uint64_t refused; /* of the issuer's entries: unreadable, refused */
    uint64_t items;   /* certificates written, summed over batches */
    uint64_t batches; /* transactions committed */
    uint64_t signatures;
    uint64_t history_cleared; /* lists deleted first (forced) */
    double seconds;
    char last_id[OCSP_STREAM_ID_MAX]; /* the last entry committed */
} ocsp_rebuild_stats_t;

#define OCSP_REBUILD_DONE 0
#define OCSP_REBUILD_FAILED -1
#define OCSP_REBUILD_REFUSED 1 /* live data, not forced: nothing written */
#define OCSP_REBUILD_STOPPED 2 /* *stop: the batches done are committed */

/*
 * Rebuilds issuer o->issuer of CF (with its keys) from the archive and
 * the stream.
 * Returns OCSP_REBUILD_*; *st filled as far as it went; err (OCSP_ERR_MAX)
 * says why on REFUSED and FAILED.  STOP (may be NULL) ends it between two
 * batches.
 */
int ocsp_rebuild_run(const ocsp_config_t *cf, const ocsp_rebuild_opts_t *o,
                     volatile int *stop, ocsp_rebuild_stats_t *st, char *err);

#endif
