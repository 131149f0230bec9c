/* The audit hash chain over the event stream and its checkpoint encoding
 * (docs/audit.md "Chain" and "Checkpoints"). */
#ifndef OCSP_AUDIT_CHAIN_H
#define OCSP_AUDIT_CHAIN_H

#include <stddef.h>
#include <stdint.h>

#define OCSP_AUDIT_LINK_LEN 32
/* A Redis stream entry id: two decimal uint64 and a dash. */
#define OCSP_AUDIT_ID_MAX 41
/* The largest stream field the chain accepts (an Event is far smaller). */
#define OCSP_AUDIT_FIELD_MAX (1u << 20)
/* The canonical checkpoint text, bounded. */
#define OCSP_AUDIT_CHECKPOINT_MAX 256

typedef struct {
    uint64_t count;                      /* entries chained, genesis = 0 */
    char last_id[OCSP_AUDIT_ID_MAX + 1]; /* "0-0" at genesis */
    unsigned char head[OCSP_AUDIT_LINK_LEN];
    int64_t time_ms; /* Unix time of the checkpoint, milliseconds */
} ocsp_audit_checkpoint_t;

/* The genesis link: SHA-256 of the ASCII string "revoca-audit-v1 genesis". */
void ocsp_audit_genesis(unsigned char out[OCSP_AUDIT_LINK_LEN]);

/* 0 when id is a canonical stream id "MS-SEQ" (decimal, no leading zeros,
 * each part a uint64), -1 otherwise. */
int ocsp_audit_id_check(const char *id, size_t len);

/* Compare two canonical ids as Redis orders them: <0, 0, >0. */
int ocsp_audit_id_cmp(const char *a, const char *b);

/* link = SHA-256(prev || be32(idlen) || id || be32(flen) || field).
 * 0, or -1 when the id is not canonical or the field too long. */
int ocsp_audit_link(const unsigned char prev[OCSP_AUDIT_LINK_LEN],
                    const char *id, size_t idlen, const unsigned char *field,
                    size_t flen, unsigned char out[OCSP_AUDIT_LINK_LEN]);

/* The canonical bytes a checkpoint signature covers:
 * "revoca-audit-checkpoint-v1\n" "count=N\n" "last=ID\n" "head=HEX64\n"
 * "time=MS\n". Returns the length written into buf (of size at least
 * OCSP_AUDIT_CHECKPOINT_MAX), or -1. */
int ocsp_audit_checkpoint_encode(const ocsp_audit_checkpoint_t *cp, char *buf,
                                 size_t size);

/* Parse exactly the canonical encoding (no other form is accepted, so the
 * bytes signed are the bytes parsed). 0, or -1. */
int ocsp_audit_checkpoint_decode(const char *buf, size_t len,
                                 ocsp_audit_checkpoint_t *cp);

/* Lower-case hex of a link into out[2 * OCSP_AUDIT_LINK_LEN + 1]. */
void ocsp_audit_link_hex(const unsigned char link[OCSP_AUDIT_LINK_LEN],
                         char *out);
/* 0 when hex is exactly 64 lower-case hex digits. */
int ocsp_audit_link_from_hex(const char *hex, size_t len,
                             unsigned char link[OCSP_AUDIT_LINK_LEN]);

/* The chain store (docs/audit.md "Keys"): the hash <prefix>:audit:chain,
 * field = entry id, value = "PREV_ID LINK_HEX" (the entry chained before
 * it, "0-0" for the first); the string <prefix>:audit:head =
 * "COUNT LAST_ID LINK_HEX", the position the daemon resumes from. */
#define OCSP_AUDIT_REC_MAX (OCSP_AUDIT_ID_MAX + 1 + 2 * OCSP_AUDIT_LINK_LEN)
#define OCSP_AUDIT_HEAD_MAX (20 + 1 + OCSP_AUDIT_REC_MAX)
int ocsp_audit_key_chain(char *buf, const char *prefix);
int ocsp_audit_key_head(char *buf, const char *prefix);
/* <prefix>:audit:archive = "COUNT LAST_ID LINK_HEX" (the head's form): the
 * last entry archived to a segment (docs/audit.md "Archive"). */
int ocsp_audit_key_archive(char *buf, const char *prefix);

/* "ID HEX" and "COUNT ID HEX": the length written (buf of the _MAX + 1),
 * or -1; decode accepts only that form. */
int ocsp_audit_head_encode(uint64_t count, const char *id,
                           const unsigned char link[OCSP_AUDIT_LINK_LEN],
                           char *buf);
int ocsp_audit_head_decode(const char *buf, size_t len, uint64_t *count,
                           char *id, unsigned char link[OCSP_AUDIT_LINK_LEN]);
int ocsp_audit_rec_encode(const char *prev_id,
                          const unsigned char link[OCSP_AUDIT_LINK_LEN],
                          char *buf);
int ocsp_audit_rec_decode(const char *buf, size_t len, char *prev_id,
                          unsigned char link[OCSP_AUDIT_LINK_LEN]);

/* One entry of an XREAD/XRANGE reply (hiredis redisReply *, given as
 * void * to keep hiredis out of this header): its id and the bytes of its
 * field "e" (empty when it has none: such an entry is chained all the
 * same, over no bytes).  0, or -1 when it is not a stream entry with a
 * canonical id. */
int ocsp_audit_entry(const void *reply, const char **id, size_t *idlen,
                     const unsigned char **field, size_t *flen);

#endif
