
/*
 * HTTP output: an OCSP answer with its caching headers (RFC 5019 6), an
 * unsigned error (RFC 6960 4.2.1), both with HTTP 200.
 */


#include "ngx_http_revoca.h"

#include <ngx_md5.h>


static ngx_int_t ngx_http_revoca_add_header(ngx_http_request_t *r,
    char *key, ngx_str_t *value, ngx_table_elt_t **out);
static u_char *ngx_http_revoca_decimal(u_char *p, time_t v);


static ngx_str_t  ngx_http_revoca_ocsp_type =
    ngx_string("application/ocsp-response");
static ngx_str_t  ngx_http_revoca_no_cache =
    ngx_string("max-age=0, no-cache");
static u_char  ngx_http_revoca_cache_control[] =
    "public, no-transform, must-revalidate, max-age=";


ngx_int_t
ngx_http_revoca_send_answer(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx,
    ngx_http_revoca_answer_t *ans)
{
    time_t                         now, max_age, resign;
    ngx_str_t                      v;
    ngx_table_elt_t               *h;
    ngx_http_revoca_main_conf_t   *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    ngx_http_revoca_metrics_answer(rmcf, ctx->issuer_index,
                                   OCSP_ST_SUCCESSFUL, ans->cert_status);

    now = ngx_time();

    /*
     * RFC 5019 6.2: max-age no later than nextUpdate; also no later than
     * the point where the signer replaces the response, so that caches
     * pick up a revocation by then.
     */

    max_age = ans->next_update - now;
    resign = ocsp_resign_at(ctx->issuer->conf, ans->this_update) - now;

    if (resign > 0 && resign < max_age) {
        max_age = resign;
    }

    if (max_age < 0) {
        max_age = 0;
    }

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_revoca_ocsp_type;
    r->headers_out.content_type_len = ngx_http_revoca_ocsp_type.len;
    r->headers_out.content_length_n = ans->der.len;

    if (ctx->no_cache) {
        if (ngx_http_revoca_add_header(r, "Cache-Control",
                                       &ngx_http_revoca_no_cache, NULL)
            != NGX_OK)
        {
            return NGX_HTTP_INTERNAL_SERVER_ERROR;
        }

        return ngx_http_revoca_send(r, ans->der.data, ans->der.len, 0);
    }

    r->headers_out.last_modified_time = ans->this_update;

    v.data = ngx_pnalloc(r->pool, sizeof(ngx_http_revoca_cache_control) - 1
                                  + NGX_TIME_T_LEN);
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.len = ngx_http_revoca_decimal(
                ngx_cpymem(v.data, ngx_http_revoca_cache_control,
                           sizeof(ngx_http_revoca_cache_control) - 1),
                max_age)
            - v.data;

    if (ngx_http_revoca_add_header(r, "Cache-Control", &v, NULL) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.data = ngx_pnalloc(r->pool, sizeof("Mon, 28 Sep 1970 06:00:00 GMT"));
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.len = ngx_http_time(v.data, now + max_age) - v.data;

    if (ngx_http_revoca_add_header(r, "Expires", &v, &h) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.expires = h;

    /* a copy: ANS may not live as long as the request (the log) */

    v.data = ngx_pnalloc(r->pool, NGX_HTTP_REVOCA_ETAG_LEN);
    if (v.data == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    v.len = ngx_cpymem(v.data, ans->etag, NGX_HTTP_REVOCA_ETAG_LEN) - v.data;

    if (ngx_http_revoca_add_header(r, "ETag", &v, &h) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    r->headers_out.etag = h;

    return ngx_http_revoca_send(r, ans->der.data, ans->der.len, 0);
}


/* RFC 6960 4.2.1 / RFC 5019 2.2.3: unsigned, sent with HTTP 200 */

ngx_int_t
ngx_http_revoca_send_error(ngx_http_request_t *r, ngx_http_revoca_ctx_t *ctx,
    ocsp_resp_status_e status)
{
    size_t                        len;
    const unsigned char          *der;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_get_module_main_conf(r, ngx_http_revoca_module);

    ngx_http_revoca_metrics_answer(rmcf, ctx ? ctx->issuer_index : -1,
                                   status, NGX_HTTP_REVOCA_CERT_NONE);

    der = ocsp_response_error(status, &len);

    r->headers_out.status = NGX_HTTP_OK;
    r->headers_out.content_type = ngx_http_revoca_ocsp_type;
    r->headers_out.content_type_len = ngx_http_revoca_ocsp_type.len;
    r->headers_out.content_length_n = len;
    r->disable_not_modified = 1;

    if (ngx_http_revoca_add_header(r, "Cache-Control",
                                   &ngx_http_revoca_no_cache, NULL)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    return ngx_http_revoca_send(r, (u_char *) der, len, 1);
}


ngx_int_t
ngx_http_revoca_send(ngx_http_request_t *r, u_char *der, size_t len,
    ngx_uint_t memory)
{
    ngx_int_t     rc;
    ngx_buf_t    *b;
    ngx_chain_t   out;

    rc = ngx_http_send_header(r);

    if (rc == NGX_ERROR || rc > NGX_OK || r->header_only) {
        return rc;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    b->pos = der;
    b->last = der + len;

    if (memory) {
        b->memory = 1;

    } else {
        b->temporary = 1;
    }

    b->last_buf = (r == r->main) ? 1 : 0;
    b->last_in_chain = 1;

    out.buf = b;
    out.next = NULL;

    return ngx_http_output_filter(r, &out);
}


static ngx_int_t
ngx_http_revoca_add_header(ngx_http_request_t *r, char *key,
    ngx_str_t *value, ngx_table_elt_t **out)
{
    ngx_table_elt_t  *h;

    h = ngx_list_push(&r->headers_out.headers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->hash = 1;
    h->key.data = (u_char *) key;
    h->key.len = ngx_strlen(key);
    h->value = *value;

    if (out) {
        *out = h;
    }

    return NGX_OK;
}


void
ngx_http_revoca_etag(ngx_http_revoca_answer_t *ans)
{
    u_char     *p, digest[16];
    ngx_md5_t   md5;

    ngx_md5_init(&md5);
    ngx_md5_update(&md5, ans->der.data, ans->der.len);
    ngx_md5_final(digest, &md5);

    p = ans->etag;
    *p++ = '"';
    p = ngx_hex_dump(p, digest, sizeof(digest));
    *p = '"';
}


/* V >= 0 in decimal at P: max-age, without ngx_sprintf()'s format parsing
 * on every answer */

static u_char *
ngx_http_revoca_decimal(u_char *p, time_t v)
{
    u_char   buf[NGX_TIME_T_LEN], *q;

    q = buf + NGX_TIME_T_LEN;

    do {
        *--q = (u_char) ('0' + v % 10);
        v /= 10;
    } while (v > 0);

    return ngx_cpymem(p, q, buf + NGX_TIME_T_LEN - q);
}


ngx_int_t
ngx_http_revoca_der_to_pool(ngx_http_request_t *r, ngx_str_t *dst,
    u_char *der, size_t len)
{
    dst->data = ngx_pnalloc(r->pool, len);
    if (dst->data == NULL) {
        free(der);
        return NGX_ERROR;
    }

    ngx_memcpy(dst->data, der, len);
    dst->len = len;
    free(der);

    return NGX_OK;
}
