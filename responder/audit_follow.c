/* revoca-audit's follower: see audit_follow.h and docs/audit.md. */
#include "audit_follow.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "issuer.h"
#include "log.h"

int audit_follow_init(audit_follow_t *a, const ocsp_config_t *cf,
                      volatile int *stop)
{
    memset(a, 0, sizeof(*a));
    a->cf = cf;
    a->stop = stop;
    a->batch = 500;
    if (ocsp_key_events(a->events_key, cf->prefix) < 0 ||
        ocsp_audit_key_chain(a->chain_key, cf->prefix) < 0 ||
        ocsp_audit_key_head(a->head_key, cf->prefix) < 0) {
        snprintf(a->err, sizeof(a->err), "%s: prefix too long", cf->path);
        return -1;
    }
    if (ocsp_audit_key_checkpoints(a->cp_key, cf->prefix) < 0 ||
        audit_conf_read(cf, &a->conf, a->err) != 0) {
        if (a->err[0] == '\0') {
            snprintf(a->err, sizeof(a->err), "%s: prefix too long", cf->path);
        }
        return -1;
    }
    if (a->conf.cert != NULL) {
        ocsp_sign_err_t serr;
        int unreadable;

        a->cert = ocsp_cert_load(a->conf.cert, &unreadable);
        if (a->cert == NULL) {
            snprintf(a->err, sizeof(a->err), "audit.cert %s: %s", a->conf.cert,
                     unreadable ? "cannot open" : "not a certificate");
            return -1;
        }
        a->key =
            ocsp_sign_key_load(a->conf.key, a->cert, 0, &cf->pkcs11, &serr);
        if (a->key == NULL) {
            snprintf(a->err, sizeof(a->err), "audit.key: %.400s", serr.msg);
            X509_free(a->cert);
            a->cert = NULL;
            return -1;
        }
    }
    if (audit_archive_init(a) != 0) {
        ocsp_sign_key_free(a->key);
        a->key = NULL;
        X509_free(a->cert);
        a->cert = NULL;
        return -1;
    }
    ocsp_rconn_init(&a->conn, cf);
    return 0;
}

void audit_follow_free(audit_follow_t *a)
{
    ocsp_rconn_close(&a->conn);
    ocsp_sign_key_free(a->key);
    X509_free(a->cert);
}

/* The head from Redis, or the genesis when none. */
static int load_head(audit_follow_t *a)
{
    const char *argv[] = {"GET", a->head_key};
    redisReply *r = ocsp_rconn_cmd(&a->conn, 2, argv, NULL);

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        a->count = 0;
        snprintf(a->last_id, sizeof(a->last_id), "0-0");
        ocsp_audit_genesis(a->head);
    } else if (r->type != REDIS_REPLY_STRING ||
               ocsp_audit_head_decode(r->str, r->len, &a->count, a->last_id,
                                      a->head) != 0) {
        ocsp_log(OCSP_LOG_ERR,
                 "audit key=%s error=\"not a chain head\" "
                 "action=\"stopped; run revoca audit verify\"",
                 a->head_key);
        freeReplyObject(r);
        return -2;
    }
    freeReplyObject(r);
    ocsp_log(OCSP_LOG_INFO, "audit resumed count=%llu last=%s",
             (unsigned long long)a->count, a->last_id);
    return 0;
}

/* One XREAD batch, linked and stored in one transaction.  0, -1 on a
 * connection failure, -2 on an entry that cannot be chained. */
static int step(audit_follow_t *a)
{
    char count[24], headbuf[OCSP_AUDIT_HEAD_MAX + 1];
    const char *argv[] = {"XREAD", "COUNT",   count,         "BLOCK",
                          "1000",  "STREAMS", a->events_key, a->last_id};
    redisReply *r, *entries;
    size_t n;
    const char **hargv = NULL;
    size_t *hlen = NULL;
    char(*recs)[OCSP_AUDIT_REC_MAX + 1] = NULL;
    uint64_t c = a->count;
    char last[OCSP_AUDIT_ID_MAX + 1];
    unsigned char link[OCSP_AUDIT_LINK_LEN];
    int rc = -1, hl;

    snprintf(count, sizeof(count), "%ld", a->batch);
    r = ocsp_rconn_cmd(&a->conn, 8, argv, NULL);
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL) {
        freeReplyObject(r);
        return 0;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements != 2 ||
        r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        ocsp_rconn_fail_reply(&a->conn, "XREAD", r);
        freeReplyObject(r);
        return -1;
    }
    entries = r->element[0]->element[1];
    n = entries->elements;
    hargv = calloc(2 + 2 * n, sizeof(*hargv));
    hlen = calloc(2 + 2 * n, sizeof(*hlen));
    recs = calloc(n ? n : 1, sizeof(*recs));
    if (hargv == NULL || hlen == NULL || recs == NULL) {
        snprintf(a->conn.err, sizeof(a->conn.err), "out of memory");
        goto done;
    }
    hargv[0] = "HSET";
    hargv[1] = a->chain_key;
    hlen[0] = 4;
    hlen[1] = strlen(a->chain_key);
    memcpy(last, a->last_id, sizeof(last));
    memcpy(link, a->head, sizeof(link));
    for (size_t i = 0; i < n; i++) {
        const char *id;
        const unsigned char *field;
        size_t idlen, flen;
        int rl;

        if (ocsp_audit_entry(entries->element[i], &id, &idlen, &field, &flen) !=
            0) {
            ocsp_rconn_fail(&a->conn, "XREAD: not a stream entry");
            goto done;
        }
        if (ocsp_audit_link(link, id, idlen, field, flen, link) != 0 ||
            (rl = ocsp_audit_rec_encode(last, link, recs[i])) < 0) {
            ocsp_log(OCSP_LOG_ERR,
                     "audit entry=%s error=\"field too long\" "
                     "action=\"stopped\"",
                     id);
            rc = -2;
            goto done;
        }
        memcpy(last, id, idlen);
        last[idlen] = '\0';
        hargv[2 + 2 * i] = id;
        hlen[2 + 2 * i] = idlen;
        hargv[3 + 2 * i] = recs[i];
        hlen[3 + 2 * i] = (size_t)rl;
        c++;
    }
    if (n == 0) {
        rc = 0;
        goto done;
    }
    hl = ocsp_audit_head_encode(c, last, link, headbuf);
    if (hl < 0) {
        ocsp_rconn_fail(&a->conn, "chain head: cannot encode");
        goto done;
    }
    {
        const char *m[] = {"MULTI"}, *x[] = {"EXEC"};
        const char *sv[] = {"SET", a->head_key, headbuf};
        redisReply *er;

        if (ocsp_rconn_append(&a->conn, 1, m, NULL) != 0 ||
            ocsp_rconn_append(&a->conn, (int)(2 + 2 * n), hargv, hlen) != 0 ||
            ocsp_rconn_append(&a->conn, 3, sv, NULL) != 0 ||
            ocsp_rconn_append(&a->conn, 1, x, NULL) != 0 ||
            ocsp_rconn_skip(&a->conn, 3) != 0) {
            goto done;
        }
        er = ocsp_rconn_reply(&a->conn);
        if (er == NULL) {
            goto done;
        }
        if (er->type != REDIS_REPLY_ARRAY || er->elements != 2 ||
            er->element[0]->type == REDIS_REPLY_ERROR ||
            er->element[1]->type == REDIS_REPLY_ERROR) {
            ocsp_rconn_fail_reply(&a->conn, "EXEC", er);
            freeReplyObject(er);
            goto done;
        }
        freeReplyObject(er);
    }
    a->count = c;
    memcpy(a->last_id, last, sizeof(last));
    memcpy(a->head, link, sizeof(link));
    rc = 0;
done:
    free(hargv);
    free(hlen);
    free(recs);
    freeReplyObject(r);
    return rc;
}

/* A signed checkpoint of the head, when due: every checkpoint_events
 * entries or checkpoint_interval with new entries.  0, or -1 (the
 * connection failed, or the key did: logged, retried on the next batch). */
static int checkpoint(audit_follow_t *a)
{
    ocsp_audit_checkpoint_t cp;
    char c[OCSP_AUDIT_CHECKPOINT_MAX];
    unsigned char *sig = NULL;
    size_t siglen;
    const char *argv[7];
    size_t argvlen[7];
    redisReply *r;
    int n, rc = -1;

    if (a->key == NULL || a->count == a->cp_count ||
        (a->count - a->cp_count < (uint64_t)a->conf.every_events &&
         ocsp_now_ms() - a->cp_ms < a->conf.every_ms)) {
        return 0;
    }
    memset(&cp, 0, sizeof(cp));
    cp.count = a->count;
    memcpy(cp.last_id, a->last_id, sizeof(cp.last_id));
    memcpy(cp.head, a->head, sizeof(cp.head));
    if (ocsp_rconn_time_ms(&a->conn, &cp.time_ms) != 0) {
        return -1;
    }
    n = ocsp_audit_checkpoint_encode(&cp, c, sizeof(c));
    siglen = ocsp_sign_key_max(a->key);
    sig = malloc(siglen);
    if (n < 0 || sig == NULL ||
        ocsp_sign(a->key, (const unsigned char *)c, (size_t)n, sig, &siglen) !=
            0) {
        ocsp_log(OCSP_LOG_ERR,
                 "audit checkpoint count=%llu error=\"%s\" "
                 "action=\"retried after the next batch\"",
                 (unsigned long long)a->count,
                 a->key ? ocsp_sign_key_err(a->key)->msg : "");
        free(sig);
        return 0;
    }
    argv[0] = "XADD";
    argv[1] = a->cp_key;
    argv[2] = "*";
    argv[3] = "c";
    argv[4] = c;
    argv[5] = "s";
    argv[6] = (const char *)sig;
    for (int i = 0; i < 6; i++) {
        argvlen[i] = strlen(argv[i]);
    }
    /* the signature is binary, not a C string */
    argvlen[4] = (size_t)n;
    argvlen[6] = siglen;
    r = ocsp_rconn_cmd(&a->conn, 7, argv, argvlen);
    if (r != NULL && r->type == REDIS_REPLY_STRING) {
        a->cp_count = a->count;
        a->cp_ms = ocsp_now_ms();
        ocsp_log(OCSP_LOG_INFO, "audit checkpoint count=%llu last=%s id=%s",
                 (unsigned long long)a->count, a->last_id, r->str);
        rc = 0;
    } else if (r != NULL) {
        ocsp_rconn_fail_reply(&a->conn, "XADD", r);
    }
    freeReplyObject(r);
    free(sig);
    return rc;
}

int audit_follow_run(audit_follow_t *a)
{
    int ready = 0;

    while (!*a->stop) {
        int rc;

        if (ocsp_daemon_restart_due(&a->restart)) {
            a->reexec = 1;
            break;
        }
        if (ocsp_rconn_ensure(&a->conn, a->stop, 0) != 0) {
            break;
        }
        if (!a->loaded) {
            rc = load_head(a);
            if (rc == -2) {
                return -1;
            }
            if (rc != 0) {
                continue;
            }
            a->loaded = 1;
            a->cp_count = a->count; /* a checkpoint once new ones come */
            a->cp_ms = ocsp_now_ms();
            a->ar.resumed = 0; /* reread the archive state too */
            if (!ready) {
                ready = 1;
                ocsp_daemon_ready();
            }
        }
        rc = step(a);
        if (rc == -2) {
            return -1;
        }
        if (rc == 0) {
            rc = checkpoint(a);
        }
        if (rc == 0) {
            rc = audit_archive_pass(a);
        }
        if (rc != 0) {
            /* Connection lost: reread the head, the last batch may or may
             * not have been stored. */
            a->loaded = 0;
        }
    }
    return 0;
}
