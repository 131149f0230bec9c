/*
 * The OCSPRequest of an HTTP GET (RFC 6960 A.1, RFC 5019 5): base64 of the
 * DER, URL-encoded, after the responder's path.  Real clients and the
 * proxies between them send it in many shapes, all accepted here:
 *
 *   - percent-encoded or not ("%2B", "%2F", "%3D"), a '+' sent as a space
 *     or "%20" (form encoding), base64url ('-', '_'), padding missing;
 *   - extra leading '/', CR/LF inside (dropped);
 *   - a "//" inside the base64 collapsed to "/" by a proxy that merges
 *     slashes: each '/' is doubled in turn, then all of them, until a
 *     candidate parses as a whole request (padded text comes in quanta of
 *     four, so a padded path is repaired only by as many '/' as its last
 *     quantum lacks, and a request merely cut short is not "repaired").
 *
 * A candidate must decode to one DER SEQUENCE whose outer length covers it
 * exactly (der_read_size) before the request decoder sees it.  Pure: no
 * allocation, no I/O; the caller gives the scratch buffer.
 */
#ifndef REVOCA_GET_PATH_H
#define REVOCA_GET_PATH_H

#include <stddef.h>

#include "request.h"

/* scratch the caller gives for a path of LEN bytes: the decoded text, one
 * repaired copy (at most twice as long) and two DER candidates */
#define OCSP_GET_PATH_BUF(len) (6 * (size_t)(len) + 16)

/* repair attempts tried at most (each '/' doubled, then all) */
#define OCSP_GET_PATH_ATTEMPTS 64

typedef struct {
    const unsigned char *der; /* the request's DER, in the caller's buffer */
    size_t der_len;
    unsigned repair;           /* 0: as sent; else the attempt that parsed */
    ocsp_resp_status_e status; /* the request decoder's verdict on der */
    const char *err;           /* static: why, unless OCSP_ST_SUCCESSFUL */
} ocsp_get_path_t;

/*
 * Decodes TEXT (LEN bytes: the path after the responder's prefix, before
 * any query, as sent on the request line) with BUF (BUFSIZE bytes, at least
 * OCSP_GET_PATH_BUF(LEN)) as scratch, into *REQ under LIM.
 *
 * Returns 0 when some candidate is a DER SEQUENCE of the right length:
 * out->der points into BUF, out->status is OCSP_ST_SUCCESSFUL with *REQ
 * filled (the first candidate that parses, as sent before any repair), or,
 * if none parses, the decoder's status for the text as sent with out->err
 * (and req->err) saying why; *REQ is meaningful only when successful.
 * Returns -1 with out->err set when the text is empty, longer than twice
 * lim->max_size, not base64 of a DER SEQUENCE, or BUF too small.
 */
int ocsp_get_path_decode(const char *text, size_t len, const ocsp_limits_t *lim,
                         unsigned char *buf, size_t bufsize,
                         ocsp_request_t *req, ocsp_get_path_t *out);

/*
 * The GET URL of an OCSPRequest, the other way: BASE (a responder URL as
 * certificates' authorityInfoAccess carries it) then '/' (unless BASE ends
 * with one, as Firefox and Chromium build it), then base64 of the LEN bytes
 * at DER (RFC 4648 4, padded) with '+', '/' and '=' percent-encoded as
 * "%2B", "%2F", "%3D" (RFC 6960 A.1: "base64 encoding of the DER ...
 * URL-encoded"; RFC 5019 5).  This one spelling is what the purge hook is
 * given (purge.h); the decoder above accepts it and every other one.
 * Writes the URL and its NUL into OUT (SIZE bytes); returns its length, or
 * -1 if SIZE is too small.
 */
#define OCSP_GET_URL_MAX(base_len, der_len)                                    \
    ((size_t)(base_len) + 2 + 3 * 4 * (((size_t)(der_len) + 2) / 3))
long ocsp_get_url(const char *base, const unsigned char *der, size_t len,
                  char *out, size_t size);

#endif
