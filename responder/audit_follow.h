/*
 * revoca-audit's follower: reads <prefix>:events strictly in order with
 * XREAD from the chain head (not a consumer group), links every entry
 * (audit_chain.h) and stores each batch's records and the new head in one
 * MULTI/EXEC, so a kill leaves the store at a batch boundary.
 */
#ifndef OCSP_AUDIT_FOLLOW_H
#define OCSP_AUDIT_FOLLOW_H

#include <stdint.h>

#include "audit_archive.h"
#include "audit_chain.h"
#include "audit_checkpoint.h"
#include "config.h"
#include "daemon.h"
#include "keys.h"
#include "rconn.h"

typedef struct audit_follow_s {
    const ocsp_config_t *cf; /* borrowed */
    volatile int *stop;
    ocsp_rconn_t conn;
    ocsp_daemon_restart_t restart;
    char events_key[OCSP_KEY_MAX];
    char chain_key[OCSP_KEY_MAX];
    char head_key[OCSP_KEY_MAX];
    uint64_t count;
    char last_id[OCSP_AUDIT_ID_MAX + 1];
    unsigned char head[OCSP_AUDIT_LINK_LEN];
    char cp_key[OCSP_KEY_MAX];
    audit_conf_t conf;
    X509 *cert;           /* audit.cert, or NULL: no checkpoints */
    ocsp_sign_key_t *key; /* audit.key */
    uint64_t cp_count;    /* count at the last checkpoint written */
    long cp_ms;           /* ocsp_now_ms() of it */
    long batch;
    audit_archive_t ar;
    int loaded; /* head read from Redis on this connection */
    int reexec;
    char err[OCSP_ERR_MAX];
} audit_follow_t;

int audit_follow_init(audit_follow_t *a, const ocsp_config_t *cf,
                      volatile int *stop);
/* Until *stop: 0 on a clean stop. */
int audit_follow_run(audit_follow_t *a);
void audit_follow_free(audit_follow_t *a);

#endif
