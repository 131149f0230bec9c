/*
 * Bounds on what a Redis reply may make the client allocate.  A reply is
 * untrusted input: the 13 bytes "*2000000000\r\n" make hiredis 0.14's
 * default reader reserve 16 GB for the array before a single element
 * arrives, and a nested reply of small arrays can make millions of objects.
 *
 * A guard wraps the object functions of a redisReader (hiredis read.h):
 * every array, string, integer and nil of a reply is checked against the
 * limits before the wrapped functions build it; a reply that breaks one
 * fails the reader (as hiredis's out-of-memory does) and the guard says
 * which bound it broke.  hiredis buffers a bulk string whole before it
 * creates the object, so a string's length is bounded by the caller's read
 * loop as well: ocsp_reply_guard_buffer_ok() after each read from the
 * socket.  Works with any redisReader: the daemons' blocking client
 * (rconn.h) and the nginx module's.
 */
#ifndef REVOCA_REPLY_LIMITS_H
#define REVOCA_REPLY_LIMITS_H

#include <hiredis/read.h>
#include <stddef.h>

typedef struct {
    size_t max_elements; /* of one array */
    size_t max_string;   /* bytes of one string, status or error */
    size_t max_depth;    /* arrays within arrays; 1: a flat array */
    size_t max_objects;  /* arrays, strings, integers, nils of one reply */
    size_t max_bytes;    /* all strings of one reply together */
} ocsp_reply_limits_t;

/*
 * The daemons' and the CLI's defaults: room for their largest legitimate
 * replies (an XREADGROUP batch of SIGNER_BATCH_MAX entries, MGET of a
 * batch and EXEC of its transaction, HMGET/ZRANGE pages, 4 MB GETRANGE
 * pieces of a revoked log), far below what would hurt.
 */
extern const ocsp_reply_limits_t ocsp_reply_limits_default;

typedef struct {
    ocsp_reply_limits_t limits;
    redisReplyObjectFunctions fns;          /* the guard's, installed */
    const redisReplyObjectFunctions *inner; /* what builds the objects */
    void *inner_privdata;
    size_t objects, bytes; /* of the reply being read */
    char why[96];          /* the bound the last refused reply broke */
} ocsp_reply_guard_t;

/*
 * Wraps R's current object functions (and privdata) with the guard G
 * under LIMITS (copied).  G is R's privdata from then on and must stay at
 * its address while R reads; installing again on the same reader only
 * changes the limits.
 */
void ocsp_reply_guard_install(ocsp_reply_guard_t *g, redisReader *r,
                              const ocsp_reply_limits_t *limits);

/*
 * 1 if the bytes R holds unparsed fit the string bound (plus one socket
 * read), else 0 with g->why set: call after each read from the socket, as
 * hiredis keeps an incomplete bulk string in its buffer until it is whole.
 */
int ocsp_reply_guard_buffer_ok(ocsp_reply_guard_t *g, const redisReader *r);

#endif
