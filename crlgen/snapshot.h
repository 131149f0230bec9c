/*
 * The entry snapshot: after each full CRL built from a scan of the Redis
 * hashes, its sorted entries (with notAfter) are kept in a local state file,
 * ISSUER.snap in crl.state_dir.  The next full CRL starts from it and
 * applies the change log since its cut-off (the same reads as a delta),
 * instead of re-reading every record: a re-signed million-entry CRL costs a
 * file read, not a million Redis replies.  A full scan still happens when
 * the snapshot is older than crl.rescan_after, missing or unreadable.
 */
#ifndef CRL_SNAPSHOT_H
#define CRL_SNAPSHOT_H

#include <stdint.h>

#include "crl_entry.h"

/*
 * Loads PATH into *a (sorted), leaving room for EXTRA more entries.
 * Returns 0 with *cutoff_ms, 1 if absent, torn, of another format or made
 * for another number of shards; -1 with err.
 */
int crl_snapshot_load(const char *path, unsigned nshards, crl_entries_t *a,
                      size_t extra, int64_t *cutoff_ms, char *err);

/* Writes the sorted entries atomically.  0, or -1 with err. */
int crl_snapshot_save(const char *path, unsigned nshards,
                      const crl_entries_t *a, int64_t cutoff_ms, char *err);

/*
 * crl_snapshot_save() in two steps, so that the long one can run while the
 * CRL is built and the snapshot still only replaces the old one once the
 * CRL is published: crl_snapshot_write() writes and fsyncs PATH.tmp-PID
 * (0, or -1 with err and nothing left), then crl_snapshot_commit() renames
 * it to PATH (0, or -1 with err) or crl_snapshot_discard() removes it.
 */
int crl_snapshot_write(const char *path, unsigned nshards,
                       const crl_entries_t *a, int64_t cutoff_ms, char *err);
int crl_snapshot_commit(const char *path, char *err);
void crl_snapshot_discard(const char *path);

/*
 * Applies sorted CHANGES to sorted *a: removeFromCRL entries delete the
 * serial, others replace or insert it.  0, or -1 on allocation failure.
 */
int crl_snapshot_apply(crl_entries_t *a, const crl_entries_t *changes);

#endif
