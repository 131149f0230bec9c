#include "rconn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"

#define RCONN_TIMEOUT_MS 5000
#define RCONN_BACKOFF_MIN 100
#define RCONN_BACKOFF_MAX 5000
/* A failing connection logs at most one line per interval. */
#define RCONN_LOG_EVERY_MS 10000
/* Totals of one reply (reply_limits.h): an XREADGROUP batch of
 * SIGNER_BATCH_MAX entries is some 20 K objects, EXEC of its transaction
 * some 35 K; at most 40 MB of reply objects. */
#define RCONN_MAX_OBJECTS (512 * 1024)
#define RCONN_MAX_BYTES (64 * 1024 * 1024)

const ocsp_reply_limits_t ocsp_reply_limits_default = {
    .max_elements = 256 * 1024,
    .max_depth = 6,
    .max_string = 8 * 1024 * 1024,
};

long ocsp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ocsp_rconn_init(ocsp_rconn_t *conn, const ocsp_config_t *cf)
{
    memset(conn, 0, sizeof(*conn));
    conn->cf = cf;
    conn->limits = ocsp_reply_limits_default;
    conn->backoff_ms = RCONN_BACKOFF_MIN;
}

/* The totals follow the element bound: a reply of as many elements (and
 * their scores, say) still fits. */
static void rconn_totals(ocsp_rconn_t *conn)
{
    size_t objects = RCONN_MAX_OBJECTS;

    if (conn->limits.max_elements < (size_t)-1 / 2 &&
        2 * conn->limits.max_elements + 1 > objects) {
        objects = 2 * conn->limits.max_elements + 1;
    }
    ocsp_reply_guard_totals(&conn->guard, objects,
                            conn->limits.max_string > RCONN_MAX_BYTES
                                ? conn->limits.max_string
                                : RCONN_MAX_BYTES);
}

void ocsp_rconn_set_limits(ocsp_rconn_t *conn,
                           const ocsp_reply_limits_t *limits)
{
    conn->limits = *limits;
    if (conn->c != NULL) {
        conn->guard.limits = *limits;
        rconn_totals(conn);
    }
}

void ocsp_rconn_drop(ocsp_rconn_t *conn)
{
    if (conn->c != NULL) {
        redisFree(conn->c);
        conn->c = NULL;
    }
    conn->pending = 0;
}

void ocsp_rconn_close(ocsp_rconn_t *conn)
{
    ocsp_rconn_drop(conn);
}

/* Logs a failure, at most once per interval, with the count since. */
static void rconn_log_failure(ocsp_rconn_t *conn)
{
    long now = ocsp_now_ms();

    conn->unlogged++;
    if (conn->quiet ||
        (conn->logged_ms != 0 && now - conn->logged_ms < RCONN_LOG_EVERY_MS)) {
        return;
    }
    ocsp_log(OCSP_LOG_WARN,
             "redis lost host=%s port=%d err=\"%s\" repeated=%lu "
             "action=\"reconnect in %d ms\"",
             conn->cf->redis_host, conn->cf->redis_port, conn->err,
             conn->unlogged, conn->backoff_ms);
    conn->logged_ms = now;
    conn->unlogged = 0;
}

void ocsp_rconn_fail(ocsp_rconn_t *conn, const char *why)
{
    if (why != conn->err) {
        snprintf(conn->err, sizeof(conn->err), "%s", why);
    }
    ocsp_rconn_drop(conn);
    conn->failures++;
    conn->retry_at_ms = ocsp_now_ms() + conn->backoff_ms;
    rconn_log_failure(conn);
    conn->backoff_ms *= 2;
    if (conn->backoff_ms > RCONN_BACKOFF_MAX) {
        conn->backoff_ms = RCONN_BACKOFF_MAX;
    }
}

void ocsp_rconn_fail_reply(ocsp_rconn_t *conn, const char *what,
                           const redisReply *r)
{
    char why[OCSP_ERR_MAX];
    int is_text = r != NULL && (r->type == REDIS_REPLY_ERROR ||
                                r->type == REDIS_REPLY_STATUS);

    snprintf(why, sizeof(why), "%s: %.*s", what,
             is_text ? (int)(r->len > 200 ? 200 : r->len) : 16,
             is_text ? r->str : "unexpected reply");
    ocsp_rconn_fail(conn, why);
}

/* A reply that is not an error came: the link works again. */
static void rconn_recovered(ocsp_rconn_t *conn)
{
    if (!conn->quiet) {
        ocsp_log(OCSP_LOG_INFO,
                 "redis recovered host=%s port=%d failures=%lu "
                 "last_err=\"%s\"",
                 conn->cf->redis_host, conn->cf->redis_port, conn->failures,
                 conn->err);
    }
    conn->failures = 0;
    conn->unlogged = 0;
    conn->logged_ms = 0;
    conn->backoff_ms = RCONN_BACKOFF_MIN;
    conn->retry_at_ms = 0;
}

/* A command whose reply must not be an error; used while setting up. */
static int rconn_setup(ocsp_rconn_t *conn, int argc, const char **argv)
{
    redisReply *r;

    if (ocsp_rconn_append(conn, argc, argv, NULL) != 0 ||
        (r = ocsp_rconn_reply(conn)) == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        ocsp_rconn_fail_reply(conn, argv[0], r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int ocsp_rconn_connect(ocsp_rconn_t *conn)
{
    const ocsp_config_t *cf = conn->cf;
    struct timeval tv = {RCONN_TIMEOUT_MS / 1000, 0};
    char db[16];

    if (conn->c != NULL) {
        return 0;
    }
    conn->pending = 0;
    if (cf->redis_port == 0) {
        conn->c = redisConnectUnixWithTimeout(cf->redis_host, tv);
    } else {
        conn->c = redisConnectWithTimeout(cf->redis_host, cf->redis_port, tv);
    }
    if (conn->c == NULL || conn->c->err) {
        char why[OCSP_ERR_MAX];
        snprintf(why, sizeof(why), "redis connect %s:%d: %s", cf->redis_host,
                 cf->redis_port, conn->c ? conn->c->errstr : "out of memory");
        ocsp_rconn_fail(conn, why);
        return -1;
    }
    /* Every reply within the timeout, or the connection is dropped. */
    if (redisSetTimeout(conn->c, tv) != REDIS_OK) {
        ocsp_rconn_fail(conn, "redis: cannot set timeout");
        return -1;
    }
    if (ocsp_reply_guard_install(&conn->guard, conn->c->reader,
                                 &conn->limits) != 0) {
        ocsp_rconn_fail(conn, "redis: the reader cannot be bounded");
        return -1;
    }
    rconn_totals(conn);
    if (cf->redis_password != NULL) {
        const char *argv[3] = {"AUTH", cf->redis_user, cf->redis_password};
        int argc = 3;
        if (cf->redis_user == NULL) {
            argv[1] = cf->redis_password;
            argc = 2;
        }
        if (rconn_setup(conn, argc, argv) != 0) {
            return -1;
        }
    }
    if (cf->redis_db != 0) {
        const char *argv[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", cf->redis_db);
        if (rconn_setup(conn, 2, argv) != 0) {
            return -1;
        }
    }
    return 0;
}

/* Sleeps until UNTIL (monotonic ms), *stop or DEADLINE (0: none). */
static void rconn_wait(long until, volatile int *stop, long deadline_ms)
{
    long now;

    if (deadline_ms != 0 && deadline_ms < until) {
        until = deadline_ms;
    }
    while ((now = ocsp_now_ms()) < until && !(stop && *stop)) {
        long ms = until - now;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL); /* a signal cuts it short: *stop is seen */
    }
}

int ocsp_rconn_ensure(ocsp_rconn_t *conn, volatile int *stop, long deadline_ms)
{
    for (;;) {
        if (conn->c != NULL) {
            return 0;
        }
        if (conn->retry_at_ms != 0) {
            rconn_wait(conn->retry_at_ms, stop, deadline_ms);
        }
        if ((stop && *stop) ||
            (deadline_ms != 0 && ocsp_now_ms() >= deadline_ms)) {
            if (conn->err[0] == '\0') {
                snprintf(conn->err, sizeof(conn->err), "redis: not connected");
            }
            return -1;
        }
        if (ocsp_rconn_connect(conn) == 0) {
            return 0;
        }
    }
}

int ocsp_rconn_append(ocsp_rconn_t *conn, int argc, const char **argv,
                      const size_t *argvlen)
{
    if (conn->c == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    if (redisAppendCommandArgv(conn->c, argc, argv, argvlen) != REDIS_OK) {
        ocsp_rconn_fail(conn, "redis: out of memory");
        return -1;
    }
    conn->pending++;
    return 0;
}

/* The connection's error as the reason of a failure. */
static void rconn_io_failed(ocsp_rconn_t *conn)
{
    char why[OCSP_ERR_MAX];

    if (conn->guard.refused) {
        snprintf(why, sizeof(why), "redis: %s",
                 ocsp_reply_guard_error(&conn->guard, conn->c->reader));
    } else if (conn->c->err != 0) {
        snprintf(why, sizeof(why), "redis: %s", conn->c->errstr);
    } else {
        snprintf(why, sizeof(why), "redis: %s", conn->c->reader->errstr);
    }
    ocsp_rconn_fail(conn, why);
}

int ocsp_rconn_flush(ocsp_rconn_t *conn)
{
    int done = 0;

    if (conn->c == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    while (!done) {
        if (redisBufferWrite(conn->c, &done) != REDIS_OK) {
            rconn_io_failed(conn);
            return -1;
        }
    }
    return 0;
}

size_t ocsp_rconn_pending(const ocsp_rconn_t *conn)
{
    return conn->pending;
}

int ocsp_reply_transient(const redisReply *r)
{
    static const char *const codes[] = {
        "LOADING ",  "BUSY ",     "OOM ",         "MASTERDOWN ", "MISCONF ",
        "READONLY ", "TRYAGAIN ", "CLUSTERDOWN ", "NOREPLICAS ", NULL};

    if (r == NULL || r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    for (size_t i = 0; codes[i] != NULL; i++) {
        size_t n = strlen(codes[i]);
        /* the code alone, or followed by its text */
        if ((r->len >= n && memcmp(r->str, codes[i], n) == 0) ||
            (r->len == n - 1 && memcmp(r->str, codes[i], n - 1) == 0)) {
            return 1;
        }
    }
    return 0;
}

/* A reply may be read: connected, and one asked for. */
static int reply_expected(ocsp_rconn_t *conn)
{
    if (conn->c == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    if (conn->pending == 0) {
        ocsp_rconn_fail(conn, "redis: a reply read that was not asked for");
        return -1;
    }
    return 0;
}

redisReply *ocsp_rconn_reply(ocsp_rconn_t *conn)
{
    redisReader *reader;
    void *reply = NULL;

    if (reply_expected(conn) != 0) {
        return NULL;
    }
    reader = conn->c->reader;
    if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
        goto failed;
    }
    if (reply == NULL && ocsp_rconn_flush(conn) != 0) {
        return NULL;
    }
    while (reply == NULL) {
        if (redisBufferRead(conn->c) != REDIS_OK ||
            redisReaderGetReply(reader, &reply) != REDIS_OK) {
            goto failed;
        }
        /* hiredis holds a bulk string until it is whole */
        if (reply == NULL &&
            ocsp_reply_guard_check(&conn->guard, reader) != 0) {
            goto failed;
        }
    }
    conn->pending--;
    if (((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
        if (ocsp_reply_transient(reply)) {
            ocsp_rconn_fail_reply(conn, "redis", reply);
            freeReplyObject(reply);
            return NULL;
        }
    } else if (conn->failures != 0) {
        rconn_recovered(conn);
    }
    return reply;

failed:
    rconn_io_failed(conn);
    return NULL;
}

int ocsp_rconn_skip(ocsp_rconn_t *conn, size_t n)
{
    int rv = 0;

    for (size_t i = 0; i < n; i++) {
        redisReply *r = ocsp_rconn_reply(conn);

        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && rv == 0) {
            snprintf(conn->err, sizeof(conn->err), "redis: %.*s",
                     (int)(r->len > 200 ? 200 : r->len), r->str);
            rv = 1;
        }
        freeReplyObject(r);
    }
    return rv;
}

void *ocsp_rconn_reply_decode(ocsp_rconn_t *conn,
                              redisReplyObjectFunctions *fns, void *privdata,
                              int (*progress)(void *privdata))
{
    ocsp_reply_guard_t *g = &conn->guard;
    const redisReplyObjectFunctions *inner;
    void (*free_object)(void *);
    void *inner_privdata, *reply = NULL;
    redisReader *reader;

    if (reply_expected(conn) != 0) {
        return NULL;
    }
    if (ocsp_rconn_flush(conn) != 0) {
        return NULL;
    }
    reader = conn->c->reader;
    /* FNS build under the guard: the limits still bound the reply. */
    inner = g->inner;
    inner_privdata = g->inner_privdata;
    free_object = g->fns.freeObject;
    g->inner = fns;
    g->inner_privdata = privdata;
    g->fns.freeObject = fns->freeObject;
    for (;;) {
        if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
            goto failed;
        }
        if (reply != NULL) {
            break;
        }
        /* what is parsed so far, before more is read (reply_limits.h) */
        if (ocsp_reply_guard_check(g, reader) != 0) {
            goto failed;
        }
        if (progress != NULL && progress(privdata) != 0) {
            if (conn->c != NULL) {
                ocsp_rconn_fail(conn, "redis: reply decoding stopped");
            }
            goto restore;
        }
        if (redisBufferRead(conn->c) != REDIS_OK) {
            goto failed;
        }
    }
    conn->pending--;
    if (conn->failures != 0) {
        rconn_recovered(conn);
    }
    goto restore;

failed:
    /* dropped with FNS's freeObject in place: a partial reply is FNS's */
    if (!g->refused && conn->c->err == 0 && reader->err == REDIS_ERR_OOM) {
        ocsp_rconn_fail(conn, "redis: reply refused by its decoder");
    } else {
        rconn_io_failed(conn);
    }
    reply = NULL;
restore:
    g->inner = inner;
    g->inner_privdata = inner_privdata;
    g->fns.freeObject = free_object;
    return reply;
}

redisReply *ocsp_rconn_cmd(ocsp_rconn_t *conn, int argc, const char **argv,
                           const size_t *argvlen)
{
    if (conn->c != NULL && conn->pending != 0) {
        ocsp_rconn_fail(conn, "redis: a command sent with replies pending");
        return NULL;
    }
    if (ocsp_rconn_append(conn, argc, argv, argvlen) != 0) {
        return NULL;
    }
    return ocsp_rconn_reply(conn);
}

int ocsp_parse_int64(const char *s, size_t len, int64_t min, int64_t *v)
{
    uint64_t limit, acc = 0;
    size_t i = 0;
    int neg = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    /* digits only; "0" alone, never "-0" or a leading zero */
    if (i == len || (s[i] == '0' && (len - i > 1 || neg))) {
        return -1;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || acc > (limit - d) / 10) {
            return -1;
        }
        acc = acc * 10 + d;
    }
    {
        int64_t x =
            neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc)
                : (int64_t)acc;
        if (x < min) {
            return -1;
        }
        *v = x;
    }
    return 0;
}

int ocsp_reply_int64(const redisReply *r, int64_t min, int64_t *v)
{
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < min) {
            return -1;
        }
        *v = r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING) {
        return -1;
    }
    return ocsp_parse_int64(r->str, r->len, min, v);
}

int ocsp_rconn_time_ms(ocsp_rconn_t *conn, int64_t *ms)
{
    const char *argv[] = {"TIME"};
    redisReply *r = ocsp_rconn_cmd(conn, 1, argv, NULL);
    int64_t sec, usec;

    if (r == NULL) {
        return -1;
    }
    /* TIME: unix seconds and the microseconds within that second. */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        ocsp_reply_int64(r->element[0], 0, &sec) != 0 ||
        ocsp_reply_int64(r->element[1], 0, &usec) != 0 ||
        sec >= INT64_MAX / 1000 - 1 || usec > 999999) {
        ocsp_rconn_fail_reply(conn, "TIME", r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    *ms = sec * 1000 + usec / 1000;
    return 0;
}

long ocsp_resp_format(char **out, int argc, const char **argv,
                      const size_t *argvlen)
{
    int n = redisFormatCommandArgv(out, argc, argv, argvlen);

    return n < 0 ? -1 : (long)n;
}

void ocsp_resp_free(char *out)
{
    redisFreeCommand(out);
}

int ocsp_resp_write(FILE *f, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd;
    long n = ocsp_resp_format(&cmd, argc, argv, argvlen);
    int rv;

    if (n < 0) {
        errno = ENOMEM;
        return -1;
    }
    rv = fwrite(cmd, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
    ocsp_resp_free(cmd);
    return rv;
}
