/*
 * libFuzzer target for the Redis reply bounds (reply_limits.c): bytes from
 * whatever answers on Redis's port, fed to a guarded hiredis reader in
 * pieces whose sizes the first byte chooses (as recv() would cut them),
 * with the limits the nginx module uses.  Every reply the reader gives
 * must be within the limits; a refusal must come with a reason.
 */
#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "reply_limits.h"

static const ocsp_reply_limits_t limits = {
    .max_elements = 4, .max_depth = 1, .max_string = 64 * 1024};

static void within_limits(const redisReply *r, unsigned depth)
{
    size_t i;

    switch (r->type) {
    case REDIS_REPLY_ARRAY:
        if (depth >= limits.max_depth || r->elements > limits.max_elements) {
            __builtin_trap();
        }
        for (i = 0; i < r->elements; i++) {
            within_limits(r->element[i], depth + 1);
        }
        break;
    case REDIS_REPLY_STRING:
    case REDIS_REPLY_STATUS:
    case REDIS_REPLY_ERROR:
        if (r->len > limits.max_string) {
            __builtin_trap();
        }
        break;
    default:
        break;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ocsp_reply_guard_t g;
    redisReader *r;
    void *reply;
    size_t off, piece, step;

    if (size == 0) {
        return 0;
    }
    step = (size_t)data[0] % 16 + 1; /* 1..16 bytes a piece; 16: all */
    data++;
    size--;
    r = redisReaderCreate();
    if (r == NULL || ocsp_reply_guard_install(&g, r, &limits) != 0) {
        __builtin_trap();
    }
    for (off = 0; off < size; off += piece) {
        piece = step == 16 ? size - off : step;
        if (piece > size - off) {
            piece = size - off;
        }
        if (redisReaderFeed(r, (const char *)data + off, piece) != REDIS_OK) {
            break;
        }
        for (;;) {
            reply = NULL;
            if (redisReaderGetReply(r, &reply) != REDIS_OK) {
                goto done;
            }
            if (reply == NULL) {
                if (ocsp_reply_guard_check(&g, r) != 0) {
                    goto done;
                }
                break;
            }
            within_limits(reply, 0);
            freeReplyObject(reply);
        }
    }
done:
    if (g.refused && ocsp_reply_guard_error(&g, r)[0] == '\0') {
        __builtin_trap();
    }
    redisReaderFree(r);
    return 0;
}
