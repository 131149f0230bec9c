#include "reply_limits.h"

#include <stdio.h>
#include <string.h>

/* One socket read of hiredis 0.14 (redisBufferRead) and a reply's header. */
#define GUARD_READ_SLACK (64 * 1024)

const ocsp_reply_limits_t ocsp_reply_limits_default = {
    .max_elements = 256 * 1024,
    .max_string = 8 * 1024 * 1024,
    .max_depth = 6,
    .max_objects = 1024 * 1024,
    .max_bytes = 64 * 1024 * 1024,
};

/* The task as the wrapped functions expect it: their own privdata. */
static redisReadTask guard_task(const redisReadTask *t,
                                const ocsp_reply_guard_t *g)
{
    redisReadTask inner = *t;

    inner.privdata = g->inner_privdata;
    return inner;
}

/* Counts one object of the reply; NULL (refused) past a bound. */
static ocsp_reply_guard_t *guard_count(const redisReadTask *t, size_t bytes)
{
    ocsp_reply_guard_t *g = t->privdata;

    if (t->parent == NULL) {
        /* the first object of a new reply */
        g->objects = 0;
        g->bytes = 0;
        g->why[0] = '\0';
    }
    if (++g->objects > g->limits.max_objects) {
        snprintf(g->why, sizeof(g->why), "reply of more than %zu objects",
                 g->limits.max_objects);
        return NULL;
    }
    if (bytes > g->limits.max_string) {
        snprintf(g->why, sizeof(g->why), "reply string of %zu bytes (max %zu)",
                 bytes, g->limits.max_string);
        return NULL;
    }
    g->bytes += bytes;
    if (g->bytes > g->limits.max_bytes) {
        snprintf(g->why, sizeof(g->why), "reply of more than %zu bytes",
                 g->limits.max_bytes);
        return NULL;
    }
    return g;
}

static void *guard_string(const redisReadTask *t, char *str, size_t len)
{
    ocsp_reply_guard_t *g = guard_count(t, len);
    redisReadTask inner;

    if (g == NULL) {
        return NULL;
    }
    inner = guard_task(t, g);
    return g->inner->createString(&inner, str, len);
}

static void *guard_array(const redisReadTask *t, int elements)
{
    ocsp_reply_guard_t *g = guard_count(t, 0);
    redisReadTask inner;
    size_t depth = 1;

    if (g == NULL) {
        return NULL;
    }
    for (const redisReadTask *p = t->parent; p != NULL; p = p->parent) {
        depth++;
    }
    if (depth > g->limits.max_depth) {
        snprintf(g->why, sizeof(g->why), "reply nested %zu deep (max %zu)",
                 depth, g->limits.max_depth);
        return NULL;
    }
    /* Before anything is allocated for the elements. */
    if (elements < 0 || (size_t)elements > g->limits.max_elements) {
        snprintf(g->why, sizeof(g->why), "reply array of %d elements (max %zu)",
                 elements, g->limits.max_elements);
        return NULL;
    }
    inner = guard_task(t, g);
    return g->inner->createArray(&inner, elements);
}

static void *guard_integer(const redisReadTask *t, long long value)
{
    ocsp_reply_guard_t *g = guard_count(t, 0);
    redisReadTask inner;

    if (g == NULL) {
        return NULL;
    }
    inner = guard_task(t, g);
    return g->inner->createInteger(&inner, value);
}

static void *guard_nil(const redisReadTask *t)
{
    ocsp_reply_guard_t *g = guard_count(t, 0);
    redisReadTask inner;

    if (g == NULL) {
        return NULL;
    }
    inner = guard_task(t, g);
    return g->inner->createNil(&inner);
}

void ocsp_reply_guard_install(ocsp_reply_guard_t *g, redisReader *r,
                              const ocsp_reply_limits_t *limits)
{
    g->limits = *limits;
    if (r->fn == &g->fns) {
        return; /* already installed: new limits only */
    }
    g->inner = r->fn;
    g->inner_privdata = r->privdata;
    g->fns.createString = g->inner->createString ? guard_string : NULL;
    g->fns.createArray = g->inner->createArray ? guard_array : NULL;
    g->fns.createInteger = g->inner->createInteger ? guard_integer : NULL;
    g->fns.createNil = g->inner->createNil ? guard_nil : NULL;
    /* The wrapped functions built the objects; they free them. */
    g->fns.freeObject = g->inner->freeObject;
    g->objects = 0;
    g->bytes = 0;
    g->why[0] = '\0';
    r->fn = &g->fns;
    r->privdata = g;
}

int ocsp_reply_guard_buffer_ok(ocsp_reply_guard_t *g, const redisReader *r)
{
    size_t unparsed = r->len - r->pos;

    if (unparsed > g->limits.max_string + GUARD_READ_SLACK) {
        snprintf(g->why, sizeof(g->why),
                 "reply string over %zu bytes (max %zu)", unparsed,
                 g->limits.max_string);
        return 0;
    }
    return 1;
}
