/* The Redis client layer's pure parts: the reply guard against hostile
 * replies, strict integers, the transient-error rule, RESP formatting. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "rconn.h"
#include "reply_limits.h"

/* Feeds BYTES to a guarded default reader; the reply, or NULL with *err. */
static redisReply *feed(const ocsp_reply_limits_t *lim, const char *bytes,
                        size_t len, int *err, char *why)
{
    redisReader *r = redisReaderCreate();
    ocsp_reply_guard_t g;
    void *reply = NULL;

    ocsp_reply_guard_install(&g, r, lim);
    redisReaderFeed(r, bytes, len);
    *err = redisReaderGetReply(r, &reply) != REDIS_OK;
    if (!*err && reply == NULL && !ocsp_reply_guard_buffer_ok(&g, r)) {
        *err = 1;
    }
    snprintf(why, 96, "%s", g.why);
    redisReaderFree(r);
    return reply;
}

static void test_guard(void)
{
    ocsp_reply_limits_t lim = ocsp_reply_limits_default;
    redisReply *rep;
    char why[96];
    int err;

    /* Refused before the reader reserves 16 GB for it. */
    rep = feed(&lim, "*2000000000\r\n", 13, &err, why);
    CHECK(rep == NULL && err);
    CHECK(strstr(why, "2000000000 elements") != NULL);

    /* An ordinary reply passes whole. */
    rep = feed(&lim, "*2\r\n$3\r\nabc\r\n:-7\r\n", 19, &err, why);
    CHECK(!err && rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
          rep->elements == 2 && rep->element[0]->len == 3 &&
          rep->element[1]->integer == -7);
    freeReplyObject(rep);

    lim.max_elements = 2;
    rep = feed(&lim, "*3\r\n:1\r\n:2\r\n:3\r\n", 16, &err, why);
    CHECK(rep == NULL && err);
    lim = ocsp_reply_limits_default;

    /* Nesting. */
    lim.max_depth = 2;
    rep = feed(&lim, "*1\r\n*1\r\n:1\r\n", 12, &err, why);
    CHECK(!err && rep != NULL);
    freeReplyObject(rep);
    rep = feed(&lim, "*1\r\n*1\r\n*1\r\n:1\r\n", 16, &err, why);
    CHECK(rep == NULL && err && strstr(why, "nested 3") != NULL);
    lim = ocsp_reply_limits_default;

    /* A whole string over the bound, and all strings of a reply. */
    lim.max_string = 4;
    rep = feed(&lim, "$5\r\nabcde\r\n", 11, &err, why);
    CHECK(rep == NULL && err && strstr(why, "5 bytes") != NULL);
    rep = feed(&lim, "-ERR abcdef\r\n", 13, &err, why);
    CHECK(rep == NULL && err);
    lim.max_bytes = 6;
    rep = feed(&lim, "*2\r\n$4\r\nabcd\r\n$3\r\nabc\r\n", 23, &err, why);
    CHECK(rep == NULL && err);
    lim = ocsp_reply_limits_default;

    /* Objects of one reply; the count starts again with the next. */
    lim.max_objects = 3;
    rep = feed(&lim, "*2\r\n:1\r\n:2\r\n", 12, &err, why);
    CHECK(!err && rep != NULL);
    freeReplyObject(rep);
    rep = feed(&lim, "*3\r\n:1\r\n:2\r\n:3\r\n", 16, &err, why);
    CHECK(rep == NULL && err);
    {
        redisReader *r = redisReaderCreate();
        ocsp_reply_guard_t g;
        void *reply;
        ocsp_reply_guard_install(&g, r, &lim);
        for (int i = 0; i < 3; i++) {
            reply = NULL;
            redisReaderFeed(r, "*2\r\n:1\r\n:2\r\n", 12);
            CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply);
            freeReplyObject(reply);
        }
        redisReaderFree(r);
    }
    lim = ocsp_reply_limits_default;

    /* A bulk string hiredis would buffer whole: caught while it comes. */
    {
        static char big[200 * 1024];
        redisReader *r = redisReaderCreate();
        ocsp_reply_guard_t g;
        void *reply = NULL;

        lim.max_string = 1024;
        ocsp_reply_guard_install(&g, r, &lim);
        redisReaderFeed(r, "$1000000\r\n", 10);
        memset(big, 'x', sizeof(big));
        redisReaderFeed(r, big, sizeof(big));
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply == NULL);
        CHECK(!ocsp_reply_guard_buffer_ok(&g, r));
        redisReaderFree(r);
        lim = ocsp_reply_limits_default;
    }
}

static void test_int64(void)
{
    static const struct {
        const char *s;
        int ok;
        int64_t v;
    } cases[] = {
        {"1700000000123", 1, 1700000000123LL},
        {"0", 1, 0},
        {"-5", 1, -5},
        {"9223372036854775807", 1, INT64_MAX},
        {"-9223372036854775808", 1, INT64_MIN},
        {"9223372036854775808", 0, 0},
        {"-9223372036854775809", 0, 0},
        {"99999999999999999999", 0, 0},
        {"12.0", 0, 0},
        {"12abc", 0, 0},
        {"", 0, 0},
        {"-", 0, 0},
        {"-0", 0, 0},
        {"007", 0, 0},
        {"+7", 0, 0},
        {" 7", 0, 0},
        {"7 ", 0, 0},
        {"inf", 0, 0},
        {"1e3", 0, 0},
    };
    redisReply r;
    int64_t v;

    memset(&r, 0, sizeof(r));
    r.type = REDIS_REPLY_STRING;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r.str = (char *)cases[i].s;
        r.len = strlen(cases[i].s);
        v = 42;
        CHECK((ocsp_reply_int64(&r, INT64_MIN, &v) == 0) == cases[i].ok);
        CHECK(cases[i].ok ? v == cases[i].v : v == 42);
    }
    /* the length counts, not a NUL: "12" of "123" */
    r.str = "123";
    r.len = 2;
    CHECK(ocsp_reply_int64(&r, INT64_MIN, &v) == 0 && v == 12);
    /* negatives refused when asked */
    r.str = "-5";
    r.len = 2;
    CHECK(ocsp_reply_int64(&r, 0, &v) != 0);
    r.type = REDIS_REPLY_INTEGER;
    r.integer = -1;
    CHECK(ocsp_reply_int64(&r, 0, &v) != 0);
    CHECK(ocsp_reply_int64(&r, -1, &v) == 0 && v == -1);
    r.type = REDIS_REPLY_NIL;
    CHECK(ocsp_reply_int64(&r, INT64_MIN, &v) != 0);
    r.type = REDIS_REPLY_STATUS;
    r.str = "5";
    r.len = 1;
    CHECK(ocsp_reply_int64(&r, INT64_MIN, &v) != 0);
    CHECK(ocsp_reply_int64(NULL, INT64_MIN, &v) != 0);
}

static void test_transient(void)
{
    static const struct {
        const char *s;
        int type, transient;
    } cases[] = {
        {"LOADING Redis is loading the dataset in memory", REDIS_REPLY_ERROR,
         1},
        {"OOM command not allowed when used memory > 'maxmemory'.",
         REDIS_REPLY_ERROR, 1},
        {"BUSY Redis is busy running a script.", REDIS_REPLY_ERROR, 1},
        {"READONLY You can't write against a read only replica.",
         REDIS_REPLY_ERROR, 1},
        {"MASTERDOWN Link with MASTER is down", REDIS_REPLY_ERROR, 1},
        {"LOADING", REDIS_REPLY_ERROR, 1},
        {"BUSYGROUP Consumer Group name already exists", REDIS_REPLY_ERROR, 0},
        {"WRONGTYPE Operation against a key", REDIS_REPLY_ERROR, 0},
        {"NOSCRIPT No matching script", REDIS_REPLY_ERROR, 0},
        {"LOADING", REDIS_REPLY_STATUS, 0},
        {"LOADINGX", REDIS_REPLY_ERROR, 0},
    };
    redisReply r;

    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        r.type = cases[i].type;
        r.str = (char *)cases[i].s;
        r.len = strlen(cases[i].s);
        CHECK(ocsp_reply_transient(&r) == cases[i].transient);
    }
}

static void test_format(void)
{
    const char *argv[] = {"SET", "k", "a\r\nb"};
    size_t lens[] = {3, 1, 4};
    char *out;
    long n = ocsp_resp_format(&out, 3, argv, lens);
    static const char want[] = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4\r\na\r\nb\r\n";

    CHECK(n == (long)sizeof(want) - 1 && memcmp(out, want, (size_t)n) == 0);
    ocsp_resp_free(out);
}

int main(void)
{
    test_guard();
    test_int64();
    test_transient();
    test_format();
    CHECK_DONE();
}
