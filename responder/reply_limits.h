/*
 * Bounds on what a Redis reply may hold, enforced inside hiredis's reader.
 *
 * A reply is untrusted input: anything that answers on Redis's port can
 * send it.  hiredis 0.14 believes the lengths it is sent: "*2000000000\r\n"
 * makes it calloc 16 GB of element pointers (and, when the reply is freed,
 * walk them for seconds), "$1000000000\r\n" makes it buffer until a
 * gigabyte has arrived.  Callers know what they asked for (a handful of
 * elements, strings of a few KB), so a guard installed on the reader
 * refuses more than that as soon as it is announced:
 *
 *   - an array of more than max_elements, or nested deeper than max_depth,
 *     is refused when its header is parsed (the reader's createArray);
 *   - a bulk, status or error string over max_string is refused when its
 *     length is announced, or when more bytes than that are buffered for it
 *     (ocsp_reply_guard_check(), after each incomplete read).
 *
 * A refused reply puts the reader in its error state (hiredis reports it as
 * "Out of memory"); ocsp_reply_guard_error() gives the real reason.  The
 * connection must then be closed: its stream can no longer be framed.
 *
 * Shared by the nginx module and the daemons' Redis client, so that this
 * rule exists once.  hiredis 0.14 truncates an array length over INT_MAX to
 * an int before any callback sees it; such a header yields an array of the
 * truncated size (still within the limits, never an allocation beyond them).
 */
#ifndef REVOCA_REPLY_LIMITS_H
#define REVOCA_REPLY_LIMITS_H

#include <hiredis/read.h>
#include <stddef.h>

typedef struct {
    size_t max_elements; /* per array */
    unsigned max_depth;  /* arrays within arrays; 1: an array of scalars */
    size_t max_string;   /* bytes of one bulk, status or error string */
} ocsp_reply_limits_t;

#define OCSP_REPLY_ERR_MAX 128

typedef struct {
    ocsp_reply_limits_t limits;
    const redisReplyObjectFunctions *inner; /* the reader's own, wrapped */
    int refused;                            /* a limit was hit */
    char errstr[OCSP_REPLY_ERR_MAX];        /* which, when refused */
} ocsp_reply_guard_t;

/*
 * Installs G on reader R with the limits LIM (copied): R's reply-object
 * functions are wrapped, so replies stay what they were (redisReply from
 * redisReaderCreate(), freed with freeReplyObject()) and R's privdata is
 * taken.  G is owned by the caller and must outlive R; install once per
 * reader, before the first byte is fed.  Returns 0, or -1 if R has no
 * reply-object functions to wrap.
 */
int ocsp_reply_guard_install(ocsp_reply_guard_t *g, redisReader *r,
                             const ocsp_reply_limits_t *lim);

/*
 * Checks the reply R is still waiting for: call after each
 * redisReaderGetReply() that gave no reply.  Returns 0, or -1 (and marks G
 * refused) when the string being read announces or already buffers more
 * than max_string, so that the caller need not wait for it to arrive.
 */
int ocsp_reply_guard_check(ocsp_reply_guard_t *g, const redisReader *r);

/* Why reading failed: G's reason if it refused a reply, else R's errstr. */
const char *ocsp_reply_guard_error(const ocsp_reply_guard_t *g,
                                   const redisReader *r);

#endif
