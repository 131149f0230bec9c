/*
 * revoca-audit's archiver (docs/audit.md "Archive"): chained entries older
 * than audit.archive_after are written to segment files (audit_segment.h)
 * in audit.archive_dir, made durable (crl_publish_file(): temporary file,
 * fsync, rename, fsync of the directory), handed to audit.archive_hook,
 * and only then recorded in <prefix>:audit:archive and trimmed from the
 * stream (XTRIM MINID, never past what a consumer group has not
 * acknowledged) in one MULTI/EXEC with the removal of their chain records.
 *
 * A kill at any point leaves every entry in the stream or in a complete
 * segment: before the rename nothing changed; after it, the next start
 * finds the segment newer than <prefix>:audit:archive, runs the hook again
 * and commits it (no second segment is written: the next one starts after
 * the last segment's last entry).
 */
#ifndef OCSP_AUDIT_ARCHIVE_H
#define OCSP_AUDIT_ARCHIVE_H

#include <stdint.h>

#include "audit_chain.h"
#include "keys.h"

struct audit_follow_s;

typedef struct {
    int on;      /* audit.archive_dir set */
    int stopped; /* an inconsistency was found: no more archiving */
    int resumed; /* the archive state is read on this connection */
    char key[OCSP_KEY_MAX];
    /* the last archived entry: count, id, link ("0-0" at the genesis) */
    uint64_t count;
    char last_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    long next_ms; /* ocsp_now_ms() of the next pass */
    /* counted since start, logged with every segment */
    uint64_t entries, segments, hook_failures;
    int64_t last_ms; /* Redis time of the last segment written */
} audit_archive_t;

/* The archive directory exists and is writable: 0, or -1 with err. */
int audit_archive_init(struct audit_follow_s *a);
/* On (re)connection: reads <prefix>:audit:archive and the last segment,
 * commits a segment a kill left uncommitted.  0, -1 on a connection
 * failure (retried); an inconsistency stops the archiver (logged), not
 * the chain. */
int audit_archive_resume(struct audit_follow_s *a);
/* When due: archives what is old enough, trims.  0, or -1 on a
 * connection failure. */
int audit_archive_pass(struct audit_follow_s *a);

#endif
