/*
 * Atomic publication into the publish directory (docs/crl.md): a file is
 * written to a temporary name in the same directory, fsync'd, renamed over
 * the old one and the directory fsync'd, so a reader (nginx, a CDN pull, a
 * crash) only ever sees the old or the new CRL whole.  In libocspcore since
 * revoca-audit publishes its archive segments the same way (audit.md
 * "Archive"); the names keep their crl_ prefix from where they began.
 */
#ifndef CRL_PUBLISH_H
#define CRL_PUBLISH_H

#include <stddef.h>
#include <stdint.h>

/* Largest published file read back (a CRL of ~20 million entries). */
#define CRL_FILE_MAX ((size_t)1 << 30)

/*
 * Writes p[0..len) to DIR/NAME atomically.  MTIME (unix seconds, 0: leave
 * it) becomes the file's modification time: CRLs get their thisUpdate, so
 * HTTP Last-Modified is the CRL's own.  Returns 0, or -1 with err
 * (OCSP_ERR_MAX) set and the previous file untouched.
 */
int crl_publish_file(const char *dir, const char *name, const void *p,
                     size_t len, int64_t mtime, char *err);

/* crl_publish_file() in two steps, so that the disk writes while the
 * caller checks what it is about to publish. */
typedef struct {
    char tmp[4096];  /* DIR/.NAME.tmp-PID */
    char path[4096]; /* DIR/NAME */
    const char *dir;
    int fd;
} crl_pending_t;

/*
 * Creates the temporary file next to DIR/NAME, open for reading and
 * writing at pf->fd, for the caller to write; nothing is visible yet.
 * Returns 0 (go on with crl_publish_written(), or crl_publish_abort()), or
 * -1 with err.
 */
int crl_publish_open(crl_pending_t *pf, const char *dir, const char *name,
                     char *err);
/* The caller has written the whole file: sets its mtime (as
 * crl_publish_file()) and starts its writeback.  0, or -1 with err (abort
 * it). */
int crl_publish_written(crl_pending_t *pf, int64_t mtime, char *err);

/*
 * Maps the first LEN bytes of the pending file read-only, so that what is
 * checked is what will be renamed into place.  0 with *out (unmap with
 * crl_unmap_file()), or -1 with err.
 */
int crl_map_pending(const crl_pending_t *pf, size_t len,
                    const unsigned char **out, char *err);

/*
 * Writes p[0..len) to a temporary file next to DIR/NAME and starts its
 * writeback; nothing is visible yet (crl_publish_open(), a write,
 * crl_publish_written()).  Returns 0 (finish with
 * crl_publish_commit() or crl_publish_abort()), or -1 with err and nothing
 * left behind.
 */
int crl_publish_begin(crl_pending_t *pf, const char *dir, const char *name,
                      const void *p, size_t len, int64_t mtime, char *err);
/* fsync, rename over DIR/NAME, fsync of DIR.  0, or -1 with err (the
 * temporary file removed unless the rename was done). */
int crl_publish_commit(crl_pending_t *pf, char *err);
/* Removes the temporary file of a begun publication. */
void crl_publish_abort(crl_pending_t *pf);

/*
 * Maps DIR/NAME read-only (at most CRL_FILE_MAX bytes) for a sequential
 * read that crl_map_release() lets go of as it proceeds, so that comparing
 * against a large published CRL costs little resident memory.  Returns 0
 * with *out and *len, 1 if the file does not exist, -1 with err.  Unmap
 * with crl_unmap_file().
 */
int crl_map_file(const char *dir, const char *name, const unsigned char **out,
                 size_t *len, char *err);
void crl_unmap_file(const unsigned char *p, size_t len);
/* Drops the pages of a mapping below P + DONE from memory (re-read from
 * the file if touched again). */
void crl_map_release(const unsigned char *p, size_t done);

/* Removes temporary files left by a generator that died mid-publication. */
void crl_publish_cleanup(const char *dir);

#endif
