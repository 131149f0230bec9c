
/*
 * Request input: the content handler, the POST body (read unbuffered into
 * a buffer of revoca_max_request_size) and the GET path (decoded by the
 * core's ocsp_get_path_decode()).  Both end in ngx_http_revoca_lookup().
 */


#include "ngx_http_revoca.h"


static void ngx_http_revoca_body_handler(ngx_http_request_t *r);
static void ngx_http_revoca_body_read_handler(ngx_http_request_t *r);
static void ngx_http_revoca_read_body(ngx_http_request_t *r,
    ngx_uint_t read_first);
static ngx_int_t ngx_http_revoca_take_body(ngx_http_request_t *r,
    ngx_http_revoca_ctx_t *ctx);
static ngx_int_t ngx_http_revoca_get_der(ngx_http_request_t *r,
    ngx_str_t *der);


ngx_int_t
ngx_http_revoca_handler(ngx_http_request_t *r)
{
    ngx_int_t                      rc;
    ngx_str_t                      der;
    ngx_http_revoca_ctx_t         *ctx;
    ngx_http_revoca_loc_conf_t    *rlcf;
    ngx_http_revoca_main_conf_t   *rmcf;
    ngx_http_revoca_metrics_slot_t *slot;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    slot = ngx_http_revoca_metrics_slot(rmcf);

    if (!(r->method & (NGX_HTTP_GET|NGX_HTTP_HEAD|NGX_HTTP_POST))) {
        (void) ngx_atomic_fetch_add(
                          &slot->requests[NGX_HTTP_REVOCA_METHOD_OTHER], 1);
        return NGX_HTTP_NOT_ALLOWED;
    }

    ctx = ngx_pcalloc(r->pool, sizeof(ngx_http_revoca_ctx_t));
    if (ctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ctx->issuer_index = -1;
    ngx_http_set_ctx(r, ctx, ngx_http_revoca_module);

    if (r->method == NGX_HTTP_POST) {
        (void) ngx_atomic_fetch_add(
                          &slot->requests[NGX_HTTP_REVOCA_METHOD_POST], 1);

        if (r->headers_in.content_length_n > (off_t) rlcf->max_request_size) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "revoca: request body of %O bytes is over %uz",
                          r->headers_in.content_length_n,
                          rlcf->max_request_size);

            rc = ngx_http_discard_request_body(r);
            if (rc != NGX_OK) {
                return rc;
            }

            return ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED);
        }

        /*
         * Read unbuffered, into a buffer of the size limit: a body is never
         * written to a temporary file, and a chunked one (no length known
         * beforehand) is refused as soon as it passes the limit, not once
         * the client has sent all of it.  With a Content-Length the buffer
         * is that long (nginx reads no more than it): a small block of the
         * request's pool rather than a malloc() of the limit.
         */

        ctx->body_max = (r->headers_in.content_length_n >= 0)
                        ? (size_t) r->headers_in.content_length_n
                        : rlcf->max_request_size;

        ctx->body.data = ngx_pnalloc(r->pool, ngx_max(ctx->body_max, 1));
        if (ctx->body.data == NULL) {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        r->request_body_no_buffering = 1;

        rc = ngx_http_read_client_request_body(r,
                                               ngx_http_revoca_body_handler);
        if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
            return rc;
        }

        return NGX_DONE;
    }

    (void) ngx_atomic_fetch_add(&slot->requests[NGX_HTTP_REVOCA_METHOD_GET], 1);

    rc = ngx_http_discard_request_body(r);
    if (rc != NGX_OK) {
        return rc;
    }

    rc = ngx_http_revoca_get_der(r, &der);

    if (rc == NGX_ERROR) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (rc == NGX_DECLINED) {
        return ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED);
    }

    return ngx_http_revoca_lookup(r, der.data, der.len);
}


/*
 * The body is read unbuffered: nginx calls ngx_http_revoca_body_handler()
 * once its first part (or all of it) is in, and the read event handler is
 * ours until the end.  Each part read is moved into ctx->body at once (so
 * that nginx reuses its buffer), and then reading goes on while the socket
 * has data, as ngx_http_upstream_send_request_body() does for an
 * unbuffered proxy.
 */

static void
ngx_http_revoca_body_handler(ngx_http_request_t *r)
{
    ngx_http_revoca_read_body(r, 0);
}


static void
ngx_http_revoca_body_read_handler(ngx_http_request_t *r)
{
    ngx_http_revoca_read_body(r, 1);
}


static void
ngx_http_revoca_read_body(ngx_http_request_t *r, ngx_uint_t read_first)
{
    ngx_int_t               rc;
    ngx_http_revoca_ctx_t  *ctx;

    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    for ( ;; ) {

        if (read_first) {
            rc = ngx_http_read_unbuffered_request_body(r);

            if (rc >= NGX_HTTP_SPECIAL_RESPONSE) {
                ngx_http_finalize_request(r, rc);
                return;
            }
        }

        read_first = 1;

        rc = ngx_http_revoca_take_body(r, ctx);

        if (rc == NGX_ERROR) {
            ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
            return;
        }

        if (rc == NGX_DECLINED) {
            /* nginx discards the rest with a lingering close */
            r->keepalive = 0;
            r->lingering_close = 1;
            ngx_http_finalize_request(r,
                ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED));
            return;
        }

        if (!r->reading_body) {
            break;
        }

        if (rc == NGX_AGAIN) {
            /* nothing new: wait for the socket */
            r->read_event_handler = ngx_http_revoca_body_read_handler;
            return;
        }
    }

    if (ctx->body.len == 0) {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: empty request body refused");
        ngx_http_finalize_request(r,
            ngx_http_revoca_send_error(r, ctx, OCSP_ST_MALFORMED));
        return;
    }

    ngx_http_finalize_request(r,
        ngx_http_revoca_lookup(r, ctx->body.data, ctx->body.len));
}


/*
 * Moves what nginx read of the body into ctx->body: NGX_OK if something
 * was read, NGX_AGAIN if nothing, NGX_DECLINED as soon as the body would
 * pass revoca_max_request_size (malformedRequest, as for a Content-Length
 * over it), NGX_ERROR.
 */

static ngx_int_t
ngx_http_revoca_take_body(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx)
{
    size_t                       size;
    ngx_int_t                    rc;
    ngx_buf_t                   *b;
    ngx_chain_t                 *cl;
    ngx_http_revoca_loc_conf_t  *rlcf;

    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);

    if (r->request_body == NULL) {
        return NGX_AGAIN;
    }

    rc = NGX_AGAIN;

    for (cl = r->request_body->bufs; cl; cl = cl->next) {
        b = cl->buf;

        if (b->in_file) {
            /* unbuffered reading never writes one */
            ngx_log_error(NGX_LOG_ALERT, r->connection->log, 0,
                          "revoca: request body in a file");
            return NGX_ERROR;
        }

        size = b->last - b->pos;

        if (size == 0) {
            /* the last_buf mark, no data (and maybe no memory) */
            continue;
        }

        if (size > ctx->body_max - ctx->body.len) {
            ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                          "revoca: request body over %uz bytes refused",
                          rlcf->max_request_size);
            return NGX_DECLINED;
        }

        ctx->body.len = ngx_cpymem(ctx->body.data + ctx->body.len, b->pos,
                                   size)
                        - ctx->body.data;

        /* consumed: nginx reuses the buffer for what comes next */
        b->pos = b->last;
        rc = NGX_OK;
    }

    r->request_body->bufs = NULL;

    return rc;
}


/*
 * The base64 OCSPRequest of a GET (RFC 6960 A.1) as sent: from the raw
 * request line, so that nginx's merge_slashes cannot damage a "//" of the
 * base64, and after the location's prefix.  Decoding it, with the variants
 * clients send and the repair of slashes a proxy merged, is the core's
 * (get_path.h).
 */

static ngx_int_t
ngx_http_revoca_get_der(ngx_http_request_t *r, ngx_str_t *der)
{
    u_char                      *p, *last, *q, *buf;
    size_t                       size;
    ocsp_limits_t                lim;
    ocsp_get_path_t              path;
    ngx_http_revoca_ctx_t       *ctx;
    ngx_http_core_loc_conf_t    *clcf;
    ngx_http_revoca_loc_conf_t  *rlcf;

    clcf = ngx_http_get_module_loc_conf(r, ngx_http_core_module);
    rlcf = ngx_http_get_module_loc_conf(r, ngx_http_revoca_module);
    ctx = ngx_http_get_module_ctx(r, ngx_http_revoca_module);

    p = r->unparsed_uri.data;
    last = p + r->unparsed_uri.len;

    q = ngx_strlchr(p, last, '?');
    if (q) {
        last = q;
    }

    if ((size_t) (last - p) >= clcf->name.len
        && ngx_strncmp(p, clcf->name.data, clcf->name.len) == 0)
    {
        p += clcf->name.len;

    } else if (r->uri.len >= clcf->name.len) {
        /* the prefix itself was percent-encoded: fall back to r->uri */
        p = r->uri.data + clcf->name.len;
        last = r->uri.data + r->uri.len;

    } else {
        return NGX_DECLINED;
    }

    /*
     * The scratch is bounded by the longest path the core accepts (twice
     * the DER size limit); a longer one it refuses without using it.
     */

    size = ngx_min((size_t) (last - p), rlcf->max_request_size * 2);

    buf = ngx_pnalloc(r->pool, OCSP_GET_PATH_BUF(size));
    if (buf == NULL) {
        return NGX_ERROR;
    }

    lim.max_size = rlcf->max_request_size;
    lim.max_singles = rlcf->max_singles;

    if (ocsp_get_path_decode((const char *) p, last - p, &lim, buf,
                             OCSP_GET_PATH_BUF(size), &ctx->req, &path)
        != 0)
    {
        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "revoca: %s", path.err);
        return NGX_DECLINED;
    }

    if (path.repair) {
        ngx_log_debug1(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                       "revoca: GET path repaired (attempt %ui)",
                       (ngx_uint_t) path.repair);
    }

    /* decoded already: ngx_http_revoca_lookup() takes the verdict */

    ctx->decoded = 1;
    ctx->decode_st = path.status;

    der->data = (u_char *) path.der;
    der->len = path.der_len;

    return NGX_OK;
}
