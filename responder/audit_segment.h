/*
 * Archive segments of the audit chain (docs/audit.md "Segment format",
 * version 1): the one writer and the one reader of the format, used by
 * revoca-audit's archiver, `revoca audit verify` and (later) `revoca
 * rebuild`.
 *
 * A segment holds consecutive stream entries, each with its chain link,
 * between a header (the entry chained before the first and its link) and a
 * trailer (the canonical checkpoint of its last entry and its signature).
 * All integers are big-endian:
 *
 *   header   "RVAUDSEG" | be32 version (1) | be64 count before the first
 *            record | be32 len | previous id | previous link (32)
 *   record   'R' | be32 len | id | be32 len | bytes of field "e" | link (32)
 *   trailer  'T' | be64 records | be32 len | checkpoint text
 *            (audit_chain.h) | be32 len | signature (0: unsigned) | EOF
 *
 * Reading (bounded: a file of at most OCSP_AUDIT_SEG_MAX bytes, ids and
 * fields within the chain's own bounds):
 *
 *   ocsp_audit_seg_t s;
 *   ocsp_audit_seg_rec_t rec;
 *   if (ocsp_audit_seg_open_file(&s, path) != 0) -> s.err
 *   while ((rc = ocsp_audit_seg_next(&s, &rec)) == 1) use rec (borrowed
 *       from s until close)
 *   rc == 0: the trailer is read and matches (s.cp, s.cp_text, s.sig);
 *   rc == -1: s.err names the record (its number from 1, and its id)
 *   ocsp_audit_seg_close(&s);
 *
 * The reader recomputes every link from the header's and checks it against
 * the stored one, checks ids strictly increase, and that the trailer's
 * checkpoint is exactly of the last record (count, id, link).  It does not
 * check the signature (that needs the audit certificate:
 * audit_checkpoint_verify() over s.cp_text and s.sig).
 */
#ifndef OCSP_AUDIT_SEGMENT_H
#define OCSP_AUDIT_SEGMENT_H

#include <stddef.h>
#include <stdint.h>

#include "audit_chain.h"
#include "config.h"

#define OCSP_AUDIT_SEG_VERSION 1
#define OCSP_AUDIT_SEG_MAGIC "RVAUDSEG"
/* The largest segment read or written (audit.segment_bytes at most). */
#define OCSP_AUDIT_SEG_MAX ((size_t)1 << 30)
/* "audit-" 20 digits "-" 20 digits ".seg" */
#define OCSP_AUDIT_SEG_NAME_MAX 64
/* The largest signature carried (RSA 16384 bits). */
#define OCSP_AUDIT_SIG_MAX 2048

typedef struct {
    const char *id;
    size_t idlen;
    const unsigned char *field;
    size_t flen;
    const unsigned char *link; /* OCSP_AUDIT_LINK_LEN, as stored */
    uint64_t index;            /* the record's number in the segment, from 1 */
} ocsp_audit_seg_rec_t;

typedef struct {
    /* the bytes read: borrowed (open_mem) or owned (open_file) */
    const unsigned char *p;
    size_t len, off;
    unsigned char *owned;
    /* header */
    uint32_t version;
    uint64_t first_count; /* entries chained before the first record */
    char prev_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char prev_link[OCSP_AUDIT_LINK_LEN];
    /* the walk: the last record read and its link */
    uint64_t n;
    char first_id[OCSP_AUDIT_ID_MAX + 1];
    char last_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    /* the trailer, once next() returned 0 */
    ocsp_audit_checkpoint_t cp;
    const unsigned char *cp_text, *sig;
    size_t cp_len, sig_len;
    int done;
    char err[OCSP_ERR_MAX];
} ocsp_audit_seg_t;

/* Reads the header of the segment P[0..LEN) (borrowed until close). 0, or
 * -1 with s->err. */
int ocsp_audit_seg_open_mem(ocsp_audit_seg_t *s, const unsigned char *p,
                            size_t len);
/* The same over the file PATH, read whole (at most OCSP_AUDIT_SEG_MAX). */
int ocsp_audit_seg_open_file(ocsp_audit_seg_t *s, const char *path);
/* The next record: 1 with *rec, 0 at a trailer that matches, -1 with
 * s->err. */
int ocsp_audit_seg_next(ocsp_audit_seg_t *s, ocsp_audit_seg_rec_t *rec);
void ocsp_audit_seg_close(ocsp_audit_seg_t *s);

/* The file name of the segment whose first entry is FIRST_ID, so that
 * names sort in stream order: "audit-MS-SEQ.seg", each part 20 digits.
 * buf of OCSP_AUDIT_SEG_NAME_MAX.  0, or -1. */
int ocsp_audit_seg_name(const char *first_id, char *buf);
/* 0 when NAME has that form. */
int ocsp_audit_seg_name_check(const char *name);

/* The segment files of the archive in DIR (names of the form above:
 * other files are not listed), sorted by name, which is stream order.
 * The count with *names (free with ocsp_audit_seg_list_free()), or -1
 * with err (OCSP_ERR_MAX) naming DIR.  The one lister of an archive: the
 * archiver, `revoca audit verify` and `revoca rebuild`. */
long ocsp_audit_seg_list(const char *dir, char ***names, char *err);
void ocsp_audit_seg_list_free(char **names, long n);

/* Building a segment in memory. */
typedef struct {
    unsigned char *buf; /* owned */
    size_t len, cap, max;
    uint64_t first_count, n;
    char first_id[OCSP_AUDIT_ID_MAX + 1];
    char last_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
} ocsp_audit_segw_t;

/* A segment after entry PREV_ID (the FIRST_COUNT-th chained, "0-0" and 0
 * at the genesis) of link PREV_LINK, of at most MAX bytes. 0, or -1. */
int ocsp_audit_segw_begin(ocsp_audit_segw_t *w, uint64_t first_count,
                          const char *prev_id,
                          const unsigned char prev_link[OCSP_AUDIT_LINK_LEN],
                          size_t max);
/* Appends an entry (its link computed): 0; 1 when it would pass max (not
 * added; a first record is always added); -1 on a bad id or field, or no
 * memory. */
int ocsp_audit_segw_add(ocsp_audit_segw_t *w, const char *id, size_t idlen,
                        const unsigned char *field, size_t flen);
/* The checkpoint of the last record, at TIME_MS, for the caller to sign. */
void ocsp_audit_segw_checkpoint(const ocsp_audit_segw_t *w, int64_t time_ms,
                                ocsp_audit_checkpoint_t *cp);
/* The trailer: the checkpoint's text and its signature (SIGLEN 0: none).
 * 0, or -1. */
int ocsp_audit_segw_finish(ocsp_audit_segw_t *w, const char *cp_text,
                           size_t cp_len, const unsigned char *sig,
                           size_t sig_len);
void ocsp_audit_segw_free(ocsp_audit_segw_t *w);

#endif
