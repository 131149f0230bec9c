/*
 * Redis reply bounds inside hiredis's reader (see reply_limits.h).  The
 * reader's reply-object functions are wrapped: each checks the announced
 * size against the guard's limits before hiredis's own allocates anything.
 */
#include "reply_limits.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* longest header line: a type byte is already read, then sign, 19 digits
 * of a long long, CRLF */
#define REPLY_HEADER_MAX 24

__attribute__((format(printf, 2, 3))) static void refuse(ocsp_reply_guard_t *g,
                                                         const char *fmt, ...)
{
    va_list ap;

    if (!g->refused) {
        g->refused = 1;
        va_start(ap, fmt);
        vsnprintf(g->errstr, sizeof(g->errstr), fmt, ap);
        va_end(ap);
    }
}

static void *guard_string(const redisReadTask *task, char *str, size_t len)
{
    ocsp_reply_guard_t *g = task->privdata;

    if (len > g->limits.max_string) {
        refuse(g, "string of %zu bytes over the limit of %zu", len,
               g->limits.max_string);
        return NULL;
    }
    return g->inner->createString(task, str, len);
}

static void *guard_array(const redisReadTask *task, int elements)
{
    ocsp_reply_guard_t *g = task->privdata;
    const redisReadTask *t;
    unsigned depth = 1;

    for (t = task->parent; t != NULL; t = t->parent) {
        depth++;
    }
    if (depth > g->limits.max_depth) {
        refuse(g, "arrays nested %u deep over the limit of %u", depth,
               g->limits.max_depth);
        return NULL;
    }
    if (elements < 0 || (size_t)elements > g->limits.max_elements) {
        /* a negative count is an int-truncated one (hiredis 0.14) */
        refuse(g, "array of %d elements over the limit of %zu", elements,
               g->limits.max_elements);
        return NULL;
    }
    return g->inner->createArray(task, elements);
}

static void *guard_integer(const redisReadTask *task, long long value)
{
    ocsp_reply_guard_t *g = task->privdata;

    return g->inner->createInteger(task, value);
}

static void *guard_nil(const redisReadTask *task)
{
    ocsp_reply_guard_t *g = task->privdata;

    return g->inner->createNil(task);
}

static redisReplyObjectFunctions guard_functions = {
    guard_string, guard_array, guard_integer, guard_nil, freeReplyObject};

int ocsp_reply_guard_install(ocsp_reply_guard_t *g, redisReader *r,
                             const ocsp_reply_limits_t *lim)
{
    memset(g, 0, sizeof(*g));
    g->limits = *lim;
    /* Only hiredis's own objects: freeObject stays freeReplyObject, which
     * needs no guard (hiredis calls it without the task). */
    if (r->fn == NULL || r->fn == &guard_functions ||
        r->fn->freeObject != freeReplyObject || r->fn->createString == NULL ||
        r->fn->createArray == NULL || r->fn->createInteger == NULL ||
        r->fn->createNil == NULL) {
        snprintf(g->errstr, sizeof(g->errstr), "reader cannot be guarded");
        return -1;
    }
    g->inner = r->fn;
    r->fn = &guard_functions;
    r->privdata = g;
    return 0;
}

int ocsp_reply_guard_check(ocsp_reply_guard_t *g, const redisReader *r)
{
    const redisReadTask *task;
    const char *p;
    size_t avail, i;
    unsigned long long n;

    if (g->refused) {
        return -1;
    }
    if (r->err || r->ridx < 0 || r->pos > r->len) {
        return 0;
    }
    task = &r->rstack[r->ridx];
    p = r->buf + r->pos;
    avail = r->len - r->pos;

    switch (task->type) {
    case REDIS_REPLY_STRING:
        /* "$<len>\r\n<bytes>\r\n", the '$' read: refuse the length as soon
         * as its digits say too much, before the bytes arrive */
        n = 0;
        for (i = 0; i < avail && i < 19 && p[i] >= '0' && p[i] <= '9'; i++) {
            n = n * 10 + (unsigned long long)(p[i] - '0');
        }
        if (n > g->limits.max_string) {
            refuse(g, "string announced as %llu bytes%s, over the limit of %zu",
                   n, i < avail && p[i] == '\r' ? "" : " or more",
                   g->limits.max_string);
            return -1;
        }
        if (avail > g->limits.max_string + REPLY_HEADER_MAX + 2) {
            refuse(g, "%zu bytes buffered for a string, over the limit of %zu",
                   avail, g->limits.max_string);
            return -1;
        }
        return 0;
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        /* "+text\r\n" / "-text\r\n" with no CRLF yet */
        if (avail > g->limits.max_string + 2) {
            refuse(g, "line of %zu+ bytes over the limit of %zu", avail,
                   g->limits.max_string);
            return -1;
        }
        return 0;
    default:
        /* an integer or array header with no CRLF yet */
        if (avail > REPLY_HEADER_MAX) {
            refuse(g, "header line of %zu+ bytes over the limit of %d", avail,
                   REPLY_HEADER_MAX);
            return -1;
        }
        return 0;
    }
}

const char *ocsp_reply_guard_error(const ocsp_reply_guard_t *g,
                                   const redisReader *r)
{
    if (g->refused) {
        return g->errstr;
    }
    return r->errstr[0] ? r->errstr : "reply refused";
}
