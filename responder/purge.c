/*
 * The purge group's settings, the URLs of a certificate, and the purger
 * thread (purge.h).
 *
 * Invariants of the purger:
 *  1. A job is acknowledged (XACK, then XDEL) only after a run of the hook
 *     that included it exited 0, or after it failed purge.attempts times
 *     (logged at error with its URLs), or when it cannot be run at all (an
 *     unreadable job, an unknown issuer: logged).  Anything else stays
 *     pending under this consumer.
 *  2. Jobs in hand (held) are pending under this consumer in Redis; their
 *     idle time is reset (XCLAIM ... JUSTID) every claim_idle / 4, so
 *     another signer's purger (XAUTOCLAIM after claim_idle) never takes a
 *     job this one is still retrying.  A run lasts at most timeout <=
 *     claim_idle / 2 (purge.c's config check), so the reset comes in time.
 *  3. After a (re)connection, this consumer's own pending jobs are read
 *     again from the start (those held are skipped): a purger restarted
 *     under the same consumer name (signer.consumer) runs what its
 *     predecessor left; one under another name gets them after
 *     claim_idle.
 *  4. Nothing the signer does waits for the purger: own thread, own
 *     connection; the registry and configuration are only read.
 */
#include "purge.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hook.h"
#include "keys.h"
#include "log.h"
#include "rconn.h"
#include "request.h"

#define PURGE_HELD_MAX 256
#define PURGE_BLOCK_MS 1000
#define PURGE_CLAIM_EVERY_MS 1000

/* ---- configuration ---- */

int ocsp_purge_conf_load(ocsp_purge_conf_t *pc, const ocsp_config_t *cf,
                         char *err)
{
    const config_setting_t *g = config_lookup(&cf->lc, "purge");
    static const char *const known[] = {
        "hook",  "timeout",    "attempts",   "backoff",   "backoff_max",
        "batch", "claim_idle", "stream_max", "ocsp_urls", NULL};
    const char *hook = NULL, *file = cf->path;
    size_t i, with_urls = 0;

    memset(pc, 0, sizeof(*pc));
    pc->timeout = 10;
    pc->attempts = 10;
    pc->backoff = 1;
    pc->backoff_max = 300;
    pc->batch = 1;
    pc->claim_idle = 60;
    pc->stream_max = 1000000;
    if (g == NULL) {
        return 0;
    }
    if (config_setting_type(g) != CONFIG_TYPE_GROUP) {
        ocsp_conf_error(err, file, g, "purge: expected a group");
        return -1;
    }
    if (ocsp_conf_known(g, known, file, err) != 0 ||
        ocsp_conf_string(g, "hook", &hook, file, err) != 0 ||
        ocsp_conf_duration(g, "timeout", &pc->timeout, file, err) != 0 ||
        ocsp_conf_int(g, "attempts", 1, 1000, &pc->attempts, file, err) != 0 ||
        ocsp_conf_duration(g, "backoff", &pc->backoff, file, err) != 0 ||
        ocsp_conf_duration(g, "backoff_max", &pc->backoff_max, file, err) !=
            0 ||
        ocsp_conf_int(g, "batch", 1, OCSP_PURGE_BATCH_MAX, &pc->batch, file,
                      err) != 0 ||
        ocsp_conf_duration(g, "claim_idle", &pc->claim_idle, file, err) != 0 ||
        ocsp_conf_int(g, "stream_max", 1000, INT64_C(1) << 40, &pc->stream_max,
                      file, err) != 0) {
        return -1;
    }
    if (pc->timeout < 1 || pc->timeout > 3600) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "timeout"),
                        "purge: timeout must be 1s..1h");
        return -1;
    }
    if (pc->backoff < 1 || pc->backoff_max < pc->backoff ||
        pc->backoff_max > 86400) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "backoff"),
                        "purge: backoff must be >= 1s and backoff_max "
                        "backoff..1d");
        return -1;
    }
    /* invariant 2: a job held through a run is refreshed in time */
    if (pc->claim_idle < 2 * pc->timeout || pc->claim_idle > 86400) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "claim_idle"),
                        "purge: claim_idle must be at least twice the "
                        "timeout, at most 1d");
        return -1;
    }
    if (hook == NULL) {
        return 0; /* ocsp_urls alone: nothing is purged */
    }
    pc->hook = hook[0] == '/' ? strdup(hook) : ocsp_conf_path(cf, hook);
    if (pc->hook == NULL) {
        snprintf(err, OCSP_ERR_MAX, "out of memory");
        return -1;
    }
    if (access(pc->hook, X_OK) != 0) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "hook"),
                        "purge: hook %s is not executable: %s", pc->hook,
                        strerror(errno));
        return -1;
    }
    for (i = 0; i < cf->nissuers; i++) {
        with_urls += cf->issuers[i].nocsp_urls > 0;
    }
    if (with_urls == 0) {
        ocsp_conf_error(err, file, ocsp_conf_where(g, "hook"),
                        "purge: no issuer has ocsp_urls (nothing to purge)");
        return -1;
    }
    pc->enabled = 1;
    return 0;
}

void ocsp_purge_conf_free(ocsp_purge_conf_t *pc)
{
    free(pc->hook);
    pc->hook = NULL;
    pc->enabled = 0;
}

int ocsp_purge_urls(const ocsp_issuer_t *iss, const char *serial,
                    char (*urls)[OCSP_PURGE_URL_MAX])
{
    unsigned char der[OCSP_HASH_COUNT][OCSP_REQUEST_ENCODED_MAX];
    size_t len[OCSP_HASH_COUNT], b;
    int h, n = 0;

    for (h = 0; h < OCSP_HASH_COUNT; h++) {
        len[h] = ocsp_request_encode(iss, (ocsp_hash_e)h, serial, der[h]);
        if (len[h] == 0) {
            return -1;
        }
    }
    for (b = 0; b < iss->conf->nocsp_urls; b++) {
        for (h = 0; h < OCSP_HASH_COUNT; h++) {
            if (ocsp_get_url(iss->conf->ocsp_urls[b], der[h], len[h], urls[n],
                             OCSP_PURGE_URL_MAX) < 0) {
                return -1;
            }
            n++;
        }
    }
    return n;
}

/* ---- the purger ---- */

typedef struct {
    char id[48];
    const ocsp_issuer_t *iss;
    char serial[OCSP_SERIAL_HEX_MAX + 1];
    unsigned attempts; /* runs so far */
    long next_ms;      /* ocsp_now_ms() of its next run */
} purge_job_t;

struct ocsp_purger_s {
    const ocsp_config_t *cf;
    const ocsp_purge_conf_t *pc;
    const ocsp_registry_t *reg;
    char consumer[96];
    char key[OCSP_KEY_MAX];
    ocsp_rconn_t conn;
    pthread_t thread;
    volatile int quit;
    ocsp_purge_stats_t stats;
    int ready; /* group there and own pending jobs read, since connected */
    long last_claim_ms, last_refresh_ms;
    purge_job_t held[PURGE_HELD_MAX];
    size_t nheld;
    char (*urls)[OCSP_PURGE_URL_MAX]; /* batch x OCSP_PURGE_URLS_MAX, owned */
    char *argv[2 + OCSP_PURGE_BATCH_MAX * OCSP_PURGE_URLS_MAX];
    char **envp; /* the signer's environment but the PIN's; owned */
};

extern char **environ;

/*
 * The environment the hook runs with: the signer's, without the variable
 * pkcs11.pin_env names (a token's PIN is no business of a CDN script).
 * NULL-terminated copies, or NULL (no memory).
 */
static char **hook_environment(const ocsp_config_t *cf)
{
    const char *pin = cf->pkcs11.pin_env;
    size_t n = 0, k = 0, pin_len = pin != NULL ? strlen(pin) : 0;
    char **env;

    while (environ[n] != NULL) {
        n++;
    }
    if ((env = calloc(n + 1, sizeof(*env))) == NULL) {
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (pin != NULL && strncmp(environ[i], pin, pin_len) == 0 &&
            environ[i][pin_len] == '=') {
            continue;
        }
        if ((env[k++] = strdup(environ[i])) == NULL) {
            for (size_t j = 0; j + 1 < k; j++) {
                free(env[j]);
            }
            free(env);
            return NULL;
        }
    }
    return env;
}

static void hook_environment_free(char **env)
{
    for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
        free(env[i]);
    }
    free(env);
}

/*
 * An error reply R (freed) to WHAT: NOGROUP (the stream was deleted) has
 * the group made again; anything else fails the connection (rconn.h's
 * backoff).  Always -1: the round ends.
 */
static int purge_error(ocsp_purger_t *p, const char *what, redisReply *r)
{
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOGROUP", 7) == 0) {
        ocsp_log(OCSP_LOG_WARN,
                 "purge consumer group missing cmd=%s action=\"create it\"",
                 what);
        p->ready = 0;
    } else {
        ocsp_rconn_fail_reply(&p->conn, what, r);
    }
    freeReplyObject(r);
    return -1;
}

/* Sends XACK and XDEL of the N ids and reads their replies.  0, or -1. */
static int purge_ack(ocsp_purger_t *p, const char *const *ids, size_t n)
{
    const char *argv[3 + PURGE_HELD_MAX];
    size_t i;
    int rc = 0;

    if (n == 0) {
        return 0;
    }
    argv[0] = "XACK";
    argv[1] = p->key;
    argv[2] = OCSP_PURGE_GROUP;
    for (i = 0; i < n; i++) {
        argv[3 + i] = ids[i];
    }
    if (ocsp_rconn_append(&p->conn, (int)(3 + n), argv, NULL) != 0) {
        return -1;
    }
    /* gone once done: the stream holds only what is still to run */
    argv[0] = "XDEL";
    argv[2] = ids[0];
    for (i = 1; i < n; i++) {
        argv[2 + i] = ids[i];
    }
    if (ocsp_rconn_append(&p->conn, (int)(2 + n), argv, NULL) != 0) {
        return -1;
    }
    for (i = 0; i < 2; i++) {
        redisReply *r = ocsp_rconn_reply(&p->conn);
        if (r == NULL) {
            return -1;
        }
        if (r->type != REDIS_REPLY_INTEGER && rc == 0) {
            rc = purge_error(p, i == 0 ? "XACK" : "XDEL", r);
            continue;
        }
        freeReplyObject(r);
    }
    return rc;
}

static int purge_ack_one(ocsp_purger_t *p, const char *id)
{
    return purge_ack(p, &id, 1);
}

static int purge_held_has(const ocsp_purger_t *p, const char *id)
{
    for (size_t i = 0; i < p->nheld; i++) {
        if (strcmp(p->held[i].id, id) == 0) {
            return 1;
        }
    }
    return 0;
}

/*
 * One stream entry E (an XREADGROUP or XAUTOCLAIM element) into the jobs
 * in hand; an entry that can never be run is acknowledged here, logged.
 * 0, or -1 (the connection failed).
 */
static int purge_take(ocsp_purger_t *p, const redisReply *e)
{
    const redisReply *f;
    const ocsp_issuer_t *iss = NULL;
    char issuer[OCSP_ISSUER_NAME_MAX + 1], serial[OCSP_SERIAL_HEX_MAX + 1];
    char id[48];
    const char *why = "no field c";
    purge_job_t *j;
    size_t k;

    if (e->type != REDIS_REPLY_ARRAY || e->elements < 1 ||
        e->element[0]->type != REDIS_REPLY_STRING ||
        e->element[0]->len >= sizeof(id)) {
        return 0; /* not an entry: nothing to acknowledge it by */
    }
    memcpy(id, e->element[0]->str, e->element[0]->len);
    id[e->element[0]->len] = '\0';
    if (purge_held_has(p, id)) {
        return 0;
    }
    f = e->elements > 1 ? e->element[1] : NULL;
    if (f == NULL || f->type != REDIS_REPLY_ARRAY) {
        /* pending, but trimmed from the stream (purge.stream_max) */
        atomic_fetch_add(&p->stats.dropped, 1);
        ocsp_log(OCSP_LOG_ERR,
                 "purge job lost id=%s why=\"trimmed from the stream before "
                 "it ran\"",
                 id);
        return purge_ack_one(p, id);
    }
    for (k = 0; k + 1 < f->elements; k += 2) {
        const redisReply *name = f->element[k], *v = f->element[k + 1];
        if (name->type == REDIS_REPLY_STRING &&
            strcmp(name->str, OCSP_PURGE_FIELD) == 0 &&
            v->type == REDIS_REPLY_STRING) {
            why = NULL;
            if (ocsp_cert_ref_parse(v->str, v->len, issuer, serial) != 0) {
                why = "not ISSUER:SERIAL";
            } else if ((iss = ocsp_registry_by_name(p->reg, issuer)) == NULL) {
                why = "unknown issuer";
            } else if (iss->conf->nocsp_urls == 0) {
                why = "the issuer has no ocsp_urls";
            }
            break;
        }
    }
    atomic_fetch_add(&p->stats.jobs, 1);
    if (why != NULL) {
        atomic_fetch_add(&p->stats.dropped, 1);
        ocsp_log(OCSP_LOG_ERR, "purge job rejected id=%s why=\"%s\"", id, why);
        return purge_ack_one(p, id);
    }
    if (p->nheld == PURGE_HELD_MAX) {
        return 0; /* cannot happen: reads ask for the room there is */
    }
    j = &p->held[p->nheld++];
    memset(j, 0, sizeof(*j));
    memcpy(j->id, id, sizeof(id));
    j->iss = iss;
    memcpy(j->serial, serial, sizeof(serial));
    j->next_ms = ocsp_now_ms();
    return 0;
}

/* The entries of an XREADGROUP reply R (not freed): [[key, [entry...]]];
 * how many in *got, the last one's id into LAST (48 bytes; may be NULL). */
static int purge_take_read(ocsp_purger_t *p, const redisReply *r, size_t *got,
                           char *last)
{
    size_t i;

    *got = 0;
    if (r->type != REDIS_REPLY_ARRAY || r->elements < 1 ||
        r->element[0]->type != REDIS_REPLY_ARRAY ||
        r->element[0]->elements < 2 ||
        r->element[0]->element[1]->type != REDIS_REPLY_ARRAY) {
        return 0; /* nil: nothing came */
    }
    r = r->element[0]->element[1];
    for (i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i];
        if (purge_take(p, e) != 0) {
            return -1;
        }
        if (last != NULL && e->type == REDIS_REPLY_ARRAY && e->elements >= 1 &&
            e->element[0]->type == REDIS_REPLY_STRING &&
            e->element[0]->len < 48) {
            memcpy(last, e->element[0]->str, e->element[0]->len);
            last[e->element[0]->len] = '\0';
        }
    }
    *got = r->elements;
    return 0;
}

/* The group (created if missing, from the stream's start), then this
 * consumer's own pending jobs (invariant 3).  0, or -1. */
static int purge_prepare(ocsp_purger_t *p)
{
    const char *create[] = {"XGROUP",         "CREATE", p->key,
                            OCSP_PURGE_GROUP, "0",      "MKSTREAM"};
    char from[48] = "0", count[24];
    redisReply *r = ocsp_rconn_cmd(&p->conn, 6, create, NULL);
    int rc;

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "BUSYGROUP", 9) != 0) {
        return purge_error(p, "XGROUP CREATE", r);
    }
    freeReplyObject(r);
    for (;;) {
        const char *argv[] = {"XREADGROUP", "GROUP", OCSP_PURGE_GROUP,
                              p->consumer,  "COUNT", count,
                              "STREAMS",    p->key,  from};
        size_t room = PURGE_HELD_MAX - p->nheld, got;
        char last[48] = "";

        if (room == 0) {
            break; /* the rest once these are done: after a reconnection */
        }
        snprintf(count, sizeof(count), "%zu", room);
        if ((r = ocsp_rconn_cmd(&p->conn, 9, argv, NULL)) == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR) {
            return purge_error(p, "XREADGROUP", r);
        }
        rc = purge_take_read(p, r, &got, last);
        freeReplyObject(r);
        if (rc != 0) {
            return -1;
        }
        if (got == 0 || got < room || last[0] == '\0') {
            break;
        }
        /* the next page after the last one read */
        memcpy(from, last, sizeof(last));
    }
    p->ready = 1;
    return 0;
}

/* A dead signer's jobs idle past claim_idle (once a second).  0, or -1. */
static int purge_claim(ocsp_purger_t *p)
{
    char idle[24], count[24];
    const char *argv[] = {"XAUTOCLAIM", p->key, OCSP_PURGE_GROUP, p->consumer,
                          idle,         "0-0",  "COUNT",          count};
    long now = ocsp_now_ms();
    size_t room = PURGE_HELD_MAX - p->nheld, i;
    redisReply *r;

    if (room == 0 || now - p->last_claim_ms < PURGE_CLAIM_EVERY_MS) {
        return 0;
    }
    p->last_claim_ms = now;
    snprintf(idle, sizeof(idle), "%lld", (long long)p->pc->claim_idle * 1000);
    snprintf(count, sizeof(count), "%zu", room);
    if ((r = ocsp_rconn_cmd(&p->conn, 8, argv, NULL)) == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return purge_error(p, "XAUTOCLAIM", r);
    }
    /* [cursor, [entry...], [ids deleted from the stream]] (Redis 7) */
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 2 &&
        r->element[1]->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->element[1]->elements; i++) {
            if (purge_take(p, r->element[1]->element[i]) != 0) {
                freeReplyObject(r);
                return -1;
            }
        }
    }
    if (r->type == REDIS_REPLY_ARRAY && r->elements >= 3 &&
        r->element[2]->type == REDIS_REPLY_ARRAY) {
        for (i = 0; i < r->element[2]->elements; i++) {
            const redisReply *id = r->element[2]->element[i];
            atomic_fetch_add(&p->stats.dropped, 1);
            ocsp_log(OCSP_LOG_ERR,
                     "purge job lost id=%.*s why=\"trimmed from the stream "
                     "before it ran\"",
                     id->type == REDIS_REPLY_STRING ? (int)id->len : 1,
                     id->type == REDIS_REPLY_STRING ? id->str : "?");
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Removes held job I (order is not kept). */
static void purge_forget(ocsp_purger_t *p, size_t i)
{
    p->held[i] = p->held[--p->nheld];
}

/*
 * Every claim_idle / 4: the jobs in hand stay ours (invariant 2).  A job
 * XCLAIM does not return is no longer pending (acknowledged or deleted by
 * an operator): forgotten.  0, or -1.
 */
static int purge_refresh(ocsp_purger_t *p)
{
    const char *argv[6 + PURGE_HELD_MAX];
    long now = ocsp_now_ms();
    size_t i, k;
    redisReply *r;

    if (p->nheld == 0 ||
        now - p->last_refresh_ms < p->pc->claim_idle * 1000 / 4) {
        return 0;
    }
    p->last_refresh_ms = now;
    argv[0] = "XCLAIM";
    argv[1] = p->key;
    argv[2] = OCSP_PURGE_GROUP;
    argv[3] = p->consumer;
    argv[4] = "0";
    for (i = 0; i < p->nheld; i++) {
        argv[5 + i] = p->held[i].id;
    }
    argv[5 + i] = "JUSTID";
    if ((r = ocsp_rconn_cmd(&p->conn, (int)(6 + p->nheld), argv, NULL)) ==
        NULL) {
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY) {
        return purge_error(p, "XCLAIM", r);
    }
    for (i = p->nheld; i-- > 0;) {
        for (k = 0; k < r->elements; k++) {
            const redisReply *id = r->element[k];
            if (id->type == REDIS_REPLY_STRING &&
                strcmp(id->str, p->held[i].id) == 0) {
                break;
            }
        }
        if (k == r->elements) {
            ocsp_log(OCSP_LOG_WARN,
                     "purge job gone id=%s cert=%s:%s why=\"no longer "
                     "pending\" action=\"forgotten\"",
                     p->held[i].id, p->held[i].iss->conf->name,
                     p->held[i].serial);
            purge_forget(p, i);
        }
    }
    freeReplyObject(r);
    return 0;
}

/* Milliseconds until the next held job is due (0: one is), or -1: none. */
static long purge_next_due(const ocsp_purger_t *p, long now)
{
    long best = -1;

    for (size_t i = 0; i < p->nheld; i++) {
        long d = p->held[i].next_ms - now;
        if (d < 0) {
            d = 0;
        }
        if (best < 0 || d < best) {
            best = d;
        }
    }
    return best;
}

/*
 * New jobs, waiting at most WAIT_MS (0: not at all).  At most two runs'
 * worth not yet tried are taken, so that in a burst the other signers'
 * purgers get their share instead of one holding them all.  0, or -1.
 */
static int purge_read(ocsp_purger_t *p, long wait_ms)
{
    char count[24], block[24];
    const char *argv[] = {
        "XREADGROUP", "GROUP", OCSP_PURGE_GROUP, p->consumer, "COUNT", count,
        "BLOCK",      block,   "STREAMS",        p->key,      ">"};
    size_t room = PURGE_HELD_MAX - p->nheld, got, fresh = 0, i;
    size_t want = 2 * (size_t)p->pc->batch;
    redisReply *r;
    int rc;

    for (i = 0; i < p->nheld; i++) {
        fresh += p->held[i].attempts == 0;
    }
    if (room > (fresh < want ? want - fresh : 0)) {
        room = fresh < want ? want - fresh : 0;
    }
    if (room == 0) {
        if (wait_ms > 0) {
            struct timespec ts = {wait_ms / 1000, (wait_ms % 1000) * 1000000};
            nanosleep(&ts, NULL);
        }
        return 0;
    }
    snprintf(count, sizeof(count), "%zu", room);
    snprintf(block, sizeof(block), "%ld", wait_ms);
    /* BLOCK 0 would wait for ever: without it, no wait */
    if (wait_ms > 0) {
        r = ocsp_rconn_cmd(&p->conn, 11, argv, NULL);
    } else {
        const char *now[] = {"XREADGROUP", "GROUP", OCSP_PURGE_GROUP,
                             p->consumer,  "COUNT", count,
                             "STREAMS",    p->key,  ">"};
        r = ocsp_rconn_cmd(&p->conn, 9, now, NULL);
    }
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        return purge_error(p, "XREADGROUP", r);
    }
    rc = purge_take_read(p, r, &got, NULL);
    freeReplyObject(r);
    return rc;
}

/* A log-safe copy of the hook's output: printable ASCII, '"' and '\' as
 * '\'', newlines as '|', at most 200 bytes. */
static void output_line(const ocsp_hook_result_t *res, char *out, size_t size)
{
    size_t i, o = 0;

    for (i = 0; i < res->out_len && o + 1 < size && o < 200; i++) {
        char c = res->out[i];
        if (c == '\n' || c == '\r') {
            c = '|';
        } else if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            c = '\'';
        }
        out[o++] = c;
    }
    out[o] = '\0';
}

/* Seconds before the retry after ATTEMPTS failed runs: backoff doubling,
 * capped at backoff_max. */
static int64_t purge_backoff(const ocsp_purge_conf_t *pc, unsigned attempts)
{
    int64_t s = pc->backoff;

    for (unsigned i = 1; i < attempts && s < pc->backoff_max; i++) {
        s *= 2;
    }
    return s < pc->backoff_max ? s : pc->backoff_max;
}

/* Logs the URLs of job J at error level: it is given up. */
static void purge_log_gave_up(ocsp_purger_t *p, const purge_job_t *j,
                              const char *why)
{
    char(*urls)[OCSP_PURGE_URL_MAX] = p->urls;
    int n = ocsp_purge_urls(j->iss, j->serial, urls);

    for (int i = 0; i < n; i++) {
        ocsp_log(OCSP_LOG_ERR,
                 "purge gave up id=%s cert=%s:%s attempts=%u why=\"%s\" "
                 "url=%s action=\"dropped: purge it by hand\"",
                 j->id, j->iss->conf->name, j->serial, j->attempts, why,
                 urls[i]);
    }
}

/*
 * Runs the hook once for up to purge.batch due jobs, then acknowledges
 * them (invariant 1) or schedules their retries.  0, or -1 (the
 * connection failed: they stay held, pending).
 */
static int purge_run_due(ocsp_purger_t *p)
{
    long now = ocsp_now_ms();
    size_t pick[OCSP_PURGE_BATCH_MAX], npick = 0, nurls = 0, i;
    const char *done[OCSP_PURGE_BATCH_MAX];
    size_t ndone = 0;
    ocsp_hook_result_t res;
    char out[256];
    int ok;

    for (i = 0; i < p->nheld && npick < (size_t)p->pc->batch; i++) {
        if (p->held[i].next_ms <= now) {
            pick[npick++] = i;
        }
    }
    if (npick == 0) {
        return 0;
    }
    p->argv[0] = p->pc->hook;
    for (i = 0; i < npick; i++) {
        purge_job_t *j = &p->held[pick[i]];
        int n = ocsp_purge_urls(j->iss, j->serial, p->urls + nurls);
        for (int k = 0; k < n; k++) {
            p->argv[1 + nurls + (size_t)k] = p->urls[nurls + (size_t)k];
        }
        nurls += n > 0 ? (size_t)n : 0;
        if (j->attempts > 0) {
            atomic_fetch_add(&p->stats.retries, 1);
        }
        j->attempts++;
    }
    p->argv[1 + nurls] = NULL;

    ok = ocsp_hook_run(p->argv, p->envp, p->pc->timeout * 1000, &res) == 0;
    atomic_fetch_add(&p->stats.runs, 1);
    if (!ok) {
        atomic_fetch_add(&p->stats.failed, 1);
        output_line(&res, out, sizeof(out));
    }
    now = ocsp_now_ms();
    for (i = 0; i < npick; i++) {
        purge_job_t *j = &p->held[pick[i]];

        if (ok) {
            if (j->attempts > 1) {
                ocsp_log(OCSP_LOG_INFO,
                         "purge done id=%s cert=%s:%s attempts=%u", j->id,
                         j->iss->conf->name, j->serial, j->attempts);
            } else {
                ocsp_log(OCSP_LOG_DEBUG, "purge done id=%s cert=%s:%s urls=%zu",
                         j->id, j->iss->conf->name, j->serial,
                         j->iss->conf->nocsp_urls * OCSP_HASH_COUNT);
            }
            atomic_fetch_add(&p->stats.succeeded, 1);
            done[ndone++] = j->id;
        } else if (j->attempts >= (unsigned)p->pc->attempts) {
            purge_log_gave_up(p, j, res.err);
            atomic_fetch_add(&p->stats.gave_up, 1);
            done[ndone++] = j->id;
        } else {
            int64_t wait = purge_backoff(p->pc, j->attempts);
            j->next_ms = now + (long)wait * 1000;
            ocsp_log(OCSP_LOG_WARN,
                     "purge failed id=%s cert=%s:%s attempt=%u/%lld "
                     "why=\"%s\" output=\"%s\" action=\"retry in %llds\"",
                     j->id, j->iss->conf->name, j->serial, j->attempts,
                     (long long)p->pc->attempts, res.err, out, (long long)wait);
        }
    }
    if (purge_ack(p, done, ndone) != 0) {
        return -1; /* pending still: run again after the reconnection */
    }
    /* forgotten only once acknowledged; highest index first */
    for (i = npick; i-- > 0;) {
        const purge_job_t *j = &p->held[pick[i]];
        if (ok || j->attempts >= (unsigned)p->pc->attempts) {
            purge_forget(p, pick[i]);
        }
    }
    return 0;
}

static void *purge_main(void *arg)
{
    ocsp_purger_t *p = arg;
    sigset_t block;

    /* signals are the signer's main thread's (its loop sees *stop) */
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    ocsp_log(OCSP_LOG_INFO,
             "purger started consumer=%s hook=%s timeout=%llds attempts=%lld "
             "batch=%lld",
             p->consumer, p->pc->hook, (long long)p->pc->timeout,
             (long long)p->pc->attempts, (long long)p->pc->batch);
    while (!p->quit) {
        long due, wait;

        if (ocsp_rconn_ensure(&p->conn, &p->quit, 0) != 0) {
            break;
        }
        if (!p->ready && purge_prepare(p) != 0) {
            continue; /* rconn backs off (or the group is made again) */
        }
        if (purge_claim(p) != 0 || purge_refresh(p) != 0) {
            continue;
        }
        due = purge_next_due(p, ocsp_now_ms());
        wait = due < 0 || due > PURGE_BLOCK_MS ? PURGE_BLOCK_MS : due;
        if (purge_read(p, wait) != 0 || purge_run_due(p) != 0) {
            continue;
        }
    }
    ocsp_log(OCSP_LOG_INFO,
             "purger stopped held=%zu jobs=%llu runs=%llu succeeded=%llu "
             "failed=%llu retries=%llu gave_up=%llu dropped=%llu",
             p->nheld, (unsigned long long)atomic_load(&p->stats.jobs),
             (unsigned long long)atomic_load(&p->stats.runs),
             (unsigned long long)atomic_load(&p->stats.succeeded),
             (unsigned long long)atomic_load(&p->stats.failed),
             (unsigned long long)atomic_load(&p->stats.retries),
             (unsigned long long)atomic_load(&p->stats.gave_up),
             (unsigned long long)atomic_load(&p->stats.dropped));
    return NULL;
}

ocsp_purger_t *ocsp_purger_start(const ocsp_config_t *cf,
                                 const ocsp_purge_conf_t *pc,
                                 const ocsp_registry_t *reg,
                                 const char *consumer, char *err)
{
    ocsp_purger_t *p = calloc(1, sizeof(*p));
    int rc;

    if (p == NULL ||
        (p->urls = calloc((size_t)OCSP_PURGE_BATCH_MAX * OCSP_PURGE_URLS_MAX,
                          OCSP_PURGE_URL_MAX)) == NULL ||
        (p->envp = hook_environment(cf)) == NULL) {
        if (p != NULL) {
            free(p->urls);
        }
        free(p);
        snprintf(err, OCSP_ERR_MAX, "purger: out of memory");
        return NULL;
    }
    p->cf = cf;
    p->pc = pc;
    p->reg = reg;
    snprintf(p->consumer, sizeof(p->consumer), "%s", consumer);
    ocsp_key_purge(p->key, cf->prefix);
    ocsp_rconn_init(&p->conn, cf);
    if ((rc = pthread_create(&p->thread, NULL, purge_main, p)) != 0) {
        snprintf(err, OCSP_ERR_MAX, "purger: thread not started: %s",
                 strerror(rc));
        hook_environment_free(p->envp);
        free(p->urls);
        free(p);
        return NULL;
    }
    return p;
}

void ocsp_purger_stop(ocsp_purger_t *p)
{
    if (p == NULL) {
        return;
    }
    p->quit = 1;
    pthread_join(p->thread, NULL);
    ocsp_rconn_close(&p->conn);
    hook_environment_free(p->envp);
    free(p->urls);
    free(p);
}

const ocsp_purge_stats_t *ocsp_purger_stats(const ocsp_purger_t *p)
{
    return &p->stats;
}
