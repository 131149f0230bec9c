/*
 * Signed checkpoints of the audit chain (docs/audit.md "Checkpoints"): the
 * "audit" configuration group, signing a checkpoint with the audit key and
 * checking one with the audit certificate.  Stored in the stream
 * <prefix>:audit:checkpoints, fields "c" (the canonical encoding,
 * audit_chain.h) and "s" (the signature over exactly those bytes).
 */
#ifndef OCSP_AUDIT_CHECKPOINT_H
#define OCSP_AUDIT_CHECKPOINT_H

#include <openssl/x509.h>
#include <stdint.h>

#include "audit_chain.h"
#include "config.h"
#include "sign.h"

typedef struct {
    const char *key;  /* audit.key: file or PKCS#11 URI; NULL: none */
    const char *cert; /* audit.cert */
    int64_t every_events;
    int64_t every_ms;
    /* the archive (docs/audit.md "Archive"); archive_dir NULL: none */
    const char *archive_dir;  /* absolute */
    int64_t archive_after_ms; /* entries older than this are archived */
    int64_t archive_interval_ms;
    int64_t segment_events;
    int64_t segment_bytes;
    const char *archive_hook; /* absolute path, run with the segment's */
    int64_t archive_hook_timeout_ms;
    int64_t archive_hook_retries;
} audit_conf_t;

/* Reads the "audit" group (absent: no checkpoints). 0, or -1 with err. */
int audit_conf_read(const ocsp_config_t *cf, audit_conf_t *ac, char *err);

int ocsp_audit_key_checkpoints(char *buf, const char *prefix);

/* Checks SIG over the canonical bytes C with CERT's key.  0 or -1. */
int audit_checkpoint_verify(X509 *cert, const unsigned char *c, size_t clen,
                            const unsigned char *sig, size_t siglen);

#endif
