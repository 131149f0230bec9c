#include "rconn.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define RCONN_TIMEOUT_MS 5000
#define RCONN_BACKOFF_MIN 100
#define RCONN_BACKOFF_MAX 5000

long ocsp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ocsp_rconn_init(ocsp_rconn_t *rc, const ocsp_config_t *cf)
{
    memset(rc, 0, sizeof(*rc));
    rc->cf = cf;
    rc->backoff_ms = RCONN_BACKOFF_MIN;
}

void ocsp_rconn_drop(ocsp_rconn_t *rc)
{
    if (rc->c != NULL) {
        redisFree(rc->c);
        rc->c = NULL;
    }
}

void ocsp_rconn_close(ocsp_rconn_t *rc)
{
    ocsp_rconn_drop(rc);
}

/* A command whose reply must be +OK; used while setting up. */
static int rconn_setup(ocsp_rconn_t *rc, int argc, const char **argv)
{
    redisReply *r = redisCommandArgv(rc->c, argc, argv, NULL);

    if (r == NULL || r->type == REDIS_REPLY_ERROR) {
        snprintf(rc->err, sizeof(rc->err), "redis %s: %s", argv[0],
                 r ? r->str : rc->c->errstr);
        if (r) {
            freeReplyObject(r);
        }
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int ocsp_rconn_connect(ocsp_rconn_t *rc)
{
    const ocsp_config_t *cf = rc->cf;
    struct timeval tv = {RCONN_TIMEOUT_MS / 1000, 0};
    char db[16];

    if (rc->c != NULL) {
        return 0;
    }
    if (cf->redis_port == 0) {
        rc->c = redisConnectUnixWithTimeout(cf->redis_host, tv);
    } else {
        rc->c = redisConnectWithTimeout(cf->redis_host, cf->redis_port, tv);
    }
    if (rc->c == NULL || rc->c->err) {
        snprintf(rc->err, sizeof(rc->err), "redis connect %s:%d: %s",
                 cf->redis_host, cf->redis_port,
                 rc->c ? rc->c->errstr : "out of memory");
        ocsp_rconn_drop(rc);
        return -1;
    }
    /* Every reply within the timeout, or the connection is dropped. */
    if (redisSetTimeout(rc->c, tv) != REDIS_OK) {
        snprintf(rc->err, sizeof(rc->err), "redis: cannot set timeout");
        ocsp_rconn_drop(rc);
        return -1;
    }
    if (cf->redis_password != NULL) {
        const char *argv[3] = {"AUTH", cf->redis_user, cf->redis_password};
        int argc = 3;
        if (cf->redis_user == NULL) {
            argv[1] = cf->redis_password;
            argc = 2;
        }
        if (rconn_setup(rc, argc, argv) != 0) {
            ocsp_rconn_drop(rc);
            return -1;
        }
    }
    if (cf->redis_db != 0) {
        const char *argv[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", cf->redis_db);
        if (rconn_setup(rc, 2, argv) != 0) {
            ocsp_rconn_drop(rc);
            return -1;
        }
    }
    rc->backoff_ms = RCONN_BACKOFF_MIN;
    return 0;
}

int ocsp_rconn_ensure(ocsp_rconn_t *rc, volatile int *stop, long deadline_ms)
{
    while (ocsp_rconn_connect(rc) != 0) {
        struct timespec ts;
        long now = ocsp_now_ms();

        if ((stop && *stop) || (deadline_ms && now >= deadline_ms)) {
            return -1;
        }
        ts.tv_sec = rc->backoff_ms / 1000;
        ts.tv_nsec = (long)(rc->backoff_ms % 1000) * 1000000;
        nanosleep(&ts, NULL);
        rc->backoff_ms *= 2;
        if (rc->backoff_ms > RCONN_BACKOFF_MAX) {
            rc->backoff_ms = RCONN_BACKOFF_MAX;
        }
    }
    return 0;
}

redisReply *ocsp_rconn_cmd(ocsp_rconn_t *rc, int argc, const char **argv,
                           const size_t *argvlen)
{
    redisReply *r;

    if (rc->c == NULL) {
        snprintf(rc->err, sizeof(rc->err), "redis: not connected");
        return NULL;
    }
    r = redisCommandArgv(rc->c, argc, argv, argvlen);
    if (r == NULL) {
        snprintf(rc->err, sizeof(rc->err), "redis: %s", rc->c->errstr);
        ocsp_rconn_drop(rc);
    }
    return r;
}
