/* Redis reply bounds inside hiredis's reader (reply_limits.c). */
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "reply_limits.h"

static const ocsp_reply_limits_t limits = {
    .max_elements = 4, .max_depth = 1, .max_string = 64};

/* Feeds TEXT to a guarded reader, one byte at a time when BYTEWISE, and
 * reads: 1 a reply (freed), 0 none yet, -1 refused or a protocol error;
 * *why gets the guard's reason. */
static int read_text(const char *text, size_t len, int bytewise, char *why,
                     size_t whylen)
{
    ocsp_reply_guard_t g;
    redisReader *r = redisReaderCreate();
    void *reply = NULL;
    size_t i, step;
    int rc = 0;

    if (r == NULL || ocsp_reply_guard_install(&g, r, &limits) != 0) {
        abort();
    }
    for (i = 0; i < len && rc == 0; i += step) {
        step = bytewise ? 1 : len;
        if (redisReaderFeed(r, text + i, step) != REDIS_OK ||
            redisReaderGetReply(r, &reply) != REDIS_OK) {
            rc = -1;
        } else if (reply != NULL) {
            rc = 1;
            freeReplyObject(reply);
        } else if (ocsp_reply_guard_check(&g, r) != 0) {
            rc = -1;
        }
    }
    snprintf(why, whylen, "%s", rc < 0 ? ocsp_reply_guard_error(&g, r) : "");
    redisReaderFree(r);
    return rc;
}

#define READS(s, bytewise, why)                                                \
    read_text(s, sizeof(s) - 1, bytewise, why, sizeof(why))

int main(void)
{
    char why[OCSP_REPLY_ERR_MAX];
    int bytewise;

    for (bytewise = 0; bytewise <= 1; bytewise++) {
        /* within the module's bounds: a 4-element array, GET, AUTH */
        CHECK(READS("*4\r\n$3\r\nabc\r\n$-1\r\n$2\r\n17\r\n$1\r\n0\r\n",
                    bytewise, why) == 1);
        CHECK(READS("$-1\r\n", bytewise, why) == 1);
        CHECK(READS("+OK\r\n", bytewise, why) == 1);
        CHECK(READS("-WRONGTYPE Operation against a key\r\n", bytewise, why) ==
              1);
        CHECK(READS(":12\r\n", bytewise, why) == 1);
        CHECK(READS("*0\r\n", bytewise, why) == 1);
        CHECK(READS("*-1\r\n", bytewise, why) == 1);

        /* 16 GB of element pointers in hiredis 0.14: refused at the header */
        CHECK(READS("*2000000000\r\n", bytewise, why) == -1);
        CHECK(strstr(why, "array of 2000000000 elements") != NULL);
        CHECK(READS("*5\r\n", bytewise, why) == -1);
        /* a gigabyte announced: refused before it arrives */
        CHECK(READS("$1000000000\r\n", bytewise, why) == -1);
        CHECK(strstr(why, "string announced as") != NULL);
        CHECK(READS("$65\r\n", bytewise, why) == -1);
        /* nesting */
        CHECK(READS("*1\r\n*1\r\n*1\r\n:1\r\n", bytewise, why) == -1);
        CHECK(strstr(why, "nested 2 deep") != NULL);
        /* a line that never ends */
        {
            char line[200];
            memset(line, 'x', sizeof(line));
            line[0] = '+';
            CHECK(read_text(line, sizeof(line), bytewise, why, sizeof(why)) ==
                  -1);
            CHECK(strstr(why, "line of") != NULL);
            line[0] = ':';
            memset(line + 1, '1', sizeof(line) - 1);
            CHECK(read_text(line, sizeof(line), bytewise, why, sizeof(why)) ==
                  -1);
            CHECK(strstr(why, "header line") != NULL);
        }
        /* a status or error string over the limit, complete */
        {
            char line[80];
            memset(line, 'e', sizeof(line));
            line[0] = '-';
            line[sizeof(line) - 2] = '\r';
            line[sizeof(line) - 1] = '\n';
            CHECK(read_text(line, sizeof(line), bytewise, why, sizeof(why)) ==
                  -1);
        }
    }
    /* a string of exactly max_string bytes is fine */
    {
        char bulk[80];
        int n = snprintf(bulk, sizeof(bulk), "$64\r\n%064d\r\n", 0);
        CHECK(read_text(bulk, (size_t)n, 0, why, sizeof(why)) == 1);
        CHECK(read_text(bulk, (size_t)n, 1, why, sizeof(why)) == 1);
    }
    /* a reader with foreign functions is not guarded */
    {
        static redisReplyObjectFunctions none;
        ocsp_reply_guard_t g;
        redisReader *r = redisReaderCreateWithFunctions(&none);
        CHECK(ocsp_reply_guard_install(&g, r, &limits) == -1);
        redisReaderFree(r);
    }
    CHECK_DONE();
}
