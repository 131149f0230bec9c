/* The Redis client layer's pure parts: the reply guard against hostile
 * replies, strict integers, the transient-error rule, RESP formatting. */
#include <hiredis/hiredis.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "rconn.h"
#include "reply_limits.h"

/* Feeds BYTES to a guarded default reader, with the totals the daemons
 * use unless changed; the reply, or NULL with *err and WHY. */
static redisReply *feed(const ocsp_reply_limits_t *lim, size_t max_objects,
                        size_t max_bytes, const char *bytes, size_t len,
                        int *err, char *why)
{
    redisReader *r = redisReaderCreate();
    ocsp_reply_guard_t g;
    void *reply = NULL;

    CHECK(ocsp_reply_guard_install(&g, r, lim) == 0);
    ocsp_reply_guard_totals(&g, max_objects, max_bytes);
    redisReaderFeed(r, bytes, len);
    *err = redisReaderGetReply(r, &reply) != REDIS_OK;
    if (!*err && reply == NULL && ocsp_reply_guard_check(&g, r) != 0) {
        *err = 1;
    }
    snprintf(why, OCSP_REPLY_ERR_MAX, "%s",
             *err ? ocsp_reply_guard_error(&g, r) : "");
    redisReaderFree(r);
    return reply;
}

/* LIT: a string literal, its NUL not fed. */
#define FEED(lim, objects, bytes, lit)                                         \
    feed(lim, objects, bytes, lit, sizeof(lit) - 1, &err, why)

/* A decoder of its own (as crlgen's HSCAN pages): it sees its privdata. */
static int decoder_seen;
static char decoder_obj;

static void *dec_string(const redisReadTask *t, char *s, size_t len)
{
    decoder_seen += t->privdata == &decoder_seen;
    return &decoder_obj;
}

static void *dec_array(const redisReadTask *t, int n)
{
    decoder_seen += t->privdata == &decoder_seen;
    return &decoder_obj;
}

static void *dec_integer(const redisReadTask *t, long long v)
{
    decoder_seen += t->privdata == &decoder_seen;
    return &decoder_obj;
}

static void *dec_nil(const redisReadTask *t)
{
    return &decoder_obj;
}

static void dec_free(void *obj)
{
}

static void test_guard(void)
{
    const ocsp_reply_limits_t *lim = &ocsp_reply_limits_default;
    ocsp_reply_limits_t small;
    redisReply *rep;
    char why[OCSP_REPLY_ERR_MAX];
    int err;

    /* The daemons' limits refuse before the reader reserves 16 GB. */
    rep = FEED(lim, 0, 0, "*2000000000\r\n");
    CHECK(rep == NULL && err);
    CHECK(strstr(why, "2000000000 elements") != NULL);
    /* and take an ordinary reply whole */
    rep = FEED(lim, 0, 0, "*2\r\n$3\r\nabc\r\n:-7\r\n");
    CHECK(!err && rep != NULL && rep->type == REDIS_REPLY_ARRAY &&
          rep->elements == 2 && rep->element[0]->len == 3 &&
          rep->element[1]->integer == -7);
    freeReplyObject(rep);
    /* an XREADGROUP reply: stream, entries, entry, fields */
    {
        static const char xread[] =
            "*1\r\n*2\r\n$1\r\ns\r\n*1\r\n*2\r\n$3\r\n1-0\r\n"
            "*2\r\n$1\r\ne\r\n$1\r\nx\r\n";
        rep = feed(lim, 0, 0, xread, sizeof(xread) - 1, &err, why);
    }
    CHECK(!err && rep != NULL && rep->element[0]->element[1]->elements == 1);
    freeReplyObject(rep);

    /* Totals: objects of one reply, string bytes of one reply. */
    small = *lim;
    rep = FEED(&small, 3, 0, "*2\r\n:1\r\n:2\r\n");
    CHECK(!err && rep != NULL);
    freeReplyObject(rep);
    rep = FEED(&small, 3, 0, "*3\r\n:1\r\n:2\r\n:3\r\n");
    CHECK(rep == NULL && err && strstr(why, "more than 3 objects") != NULL);
    rep = FEED(&small, 0, 6, "*2\r\n$4\r\nabcd\r\n$2\r\nab\r\n");
    CHECK(!err && rep != NULL);
    freeReplyObject(rep);
    rep = FEED(&small, 0, 6, "*2\r\n$4\r\nabcd\r\n$3\r\nabc\r\n");
    CHECK(rep == NULL && err && strstr(why, "6 string bytes") != NULL);
    /* the count starts again with each reply */
    {
        redisReader *r = redisReaderCreate();
        ocsp_reply_guard_t g;
        void *reply;
        CHECK(ocsp_reply_guard_install(&g, r, lim) == 0);
        ocsp_reply_guard_totals(&g, 3, 0);
        for (int i = 0; i < 3; i++) {
            reply = NULL;
            redisReaderFeed(r, "*2\r\n:1\r\n:2\r\n", 12);
            CHECK(redisReaderGetReply(r, &reply) == REDIS_OK && reply);
            freeReplyObject(reply);
        }
        redisReaderFree(r);
    }

    /* A decoder's own functions and privdata, under the same limits. */
    {
        static redisReplyObjectFunctions dec = {dec_string, dec_array,
                                                dec_integer, dec_nil, dec_free};
        redisReader *r = redisReaderCreateWithFunctions(&dec);
        ocsp_reply_guard_t g;
        void *reply = NULL;

        r->privdata = &decoder_seen;
        CHECK(ocsp_reply_guard_install(&g, r, lim) == 0);
        CHECK(r->privdata == &g);
        redisReaderFeed(r, "*2\r\n$1\r\na\r\n:5\r\n", 15);
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK &&
              reply == &decoder_obj);
        CHECK(decoder_seen == 3);
        redisReaderFeed(r, "*2000000000\r\n", 13);
        CHECK(redisReaderGetReply(r, &reply) != REDIS_OK);
        CHECK(g.refused);
        /* guarded already: refused, and the guard in use still works */
        CHECK(ocsp_reply_guard_install(&g, r, lim) == -1);
        redisReaderFree(r);
        r = redisReaderCreateWithFunctions(&dec);
        r->privdata = &decoder_seen;
        CHECK(ocsp_reply_guard_install(&g, r, lim) == 0);
        CHECK(ocsp_reply_guard_install(&g, r, lim) == -1);
        reply = NULL;
        redisReaderFeed(r, ":1\r\n", 4);
        CHECK(redisReaderGetReply(r, &reply) == REDIS_OK &&
              reply == &decoder_obj);
        CHECK(decoder_seen == 4);
        redisReaderFree(r);
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
