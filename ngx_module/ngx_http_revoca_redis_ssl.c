
/*
 * TLS to Redis (redis.tls), with nginx's own SSL connection machinery, as
 * ngx_http_upstream_ssl_init_connection() does it: the context made at
 * configuration (ngx_ssl_create(), ngx_ssl_trusted_certificate(),
 * ngx_ssl_certificate()), then per connection ngx_ssl_create_connection(),
 * the name to verify and send as SNI, ngx_ssl_handshake() with a handler,
 * and the server's certificate checked: verify result, name.
 */


#include "ngx_http_revoca_redis.h"


static void ngx_http_revoca_redis_ssl_handshake_handler(ngx_connection_t *c);
static ngx_int_t ngx_http_revoca_redis_ssl_verify(
    ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_ssl_info(const SSL *ssl, int where,
    int ret);
static ssize_t ngx_http_revoca_redis_ssl_recv(ngx_connection_t *c,
    u_char *buf, size_t size);


/* the SSL object's slot for its connection (ngx_http_revoca_redis_ssl_info) */
static int  ngx_http_revoca_redis_ssl_index = -1;


ngx_int_t
ngx_http_revoca_redis_init_ssl(ngx_conf_t *cf,
    ngx_http_revoca_main_conf_t *rmcf)
{
    u_char                          *p;
    ngx_str_t                        ca, cert, key;
    ngx_uint_t                       i, explicit;
    ocsp_config_t                   *oc;
    ngx_pool_cleanup_t              *cln;
    ngx_http_revoca_redis_server_t  *srv;
    struct in6_addr                  in6;

    oc = rmcf->ocsp;

    rmcf->ssl = ngx_pcalloc(cf->pool, sizeof(ngx_ssl_t));
    if (rmcf->ssl == NULL) {
        return NGX_ERROR;
    }

    rmcf->ssl->log = cf->log;

    /* RFC 8996: nothing older than TLS 1.2 */

    if (ngx_ssl_create(rmcf->ssl, NGX_SSL_TLSv1_2|NGX_SSL_TLSv1_3, NULL)
        != NGX_OK)
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        ngx_ssl_cleanup_ctx(rmcf->ssl);
        return NGX_ERROR;
    }

    cln->handler = ngx_ssl_cleanup_ctx;
    cln->data = rmcf->ssl;

    if (oc->redis_tls_cert) {
        cert.data = (u_char *) oc->redis_tls_cert;
        cert.len = ngx_strlen(oc->redis_tls_cert);
        key.data = (u_char *) oc->redis_tls_key;
        key.len = ngx_strlen(oc->redis_tls_key);

        if (ngx_ssl_certificate(cf, rmcf->ssl, &cert, &key, NULL) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "revoca: redis.tls_cert \"%V\" or tls_key"
                               " \"%V\" of %V unusable", &cert, &key,
                               &rmcf->config_file);
            return NGX_ERROR;
        }
    }

    /* verified after the handshake, as the upstream module does it */

    ca.data = (u_char *) oc->redis_tls_ca;
    ca.len = ngx_strlen(oc->redis_tls_ca);

    if (ngx_ssl_trusted_certificate(cf, rmcf->ssl, &ca, 100) != NGX_OK) {
        return NGX_ERROR;
    }

    if (ngx_http_revoca_redis_ssl_index == -1) {
        ngx_http_revoca_redis_ssl_index = SSL_get_ex_new_index(0, NULL, NULL,
                                                               NULL, NULL);
        if (ngx_http_revoca_redis_ssl_index == -1) {
            ngx_ssl_error(NGX_LOG_EMERG, cf->log, 0,
                          "SSL_get_ex_new_index() failed");
            return NGX_ERROR;
        }
    }

    /*
     * The name each server's certificate must carry: the file's
     * redis.tls_server_name when the file sets one, else the server's own
     * host (redis.host for the file's server); a unix socket stays plain,
     * as Redis serves it.
     */

    explicit = (config_lookup(&oc->lc, "redis.tls_server_name") != NULL);

    srv = rmcf->servers->elts;

    for (i = 0; i < rmcf->servers->nelts; i++) {

        if (srv[i].host.len == 0) {
            continue;
        }

        srv[i].tls = 1;

        if (explicit || srv[i].host.data == NULL) {
            srv[i].tls_name.len = ngx_strlen(oc->redis_tls_server_name);
            srv[i].tls_name.data = (u_char *) oc->redis_tls_server_name;

        } else {
            srv[i].tls_name = srv[i].host;
        }

        p = ngx_pnalloc(cf->pool, srv[i].tls_name.len + 1);
        if (p == NULL) {
            return NGX_ERROR;
        }

        ngx_memcpy(p, srv[i].tls_name.data, srv[i].tls_name.len);
        p[srv[i].tls_name.len] = '\0';

        /* "[::1]" of a URL verifies as the address ::1 */

        if (srv[i].tls_name.len > 2 && p[0] == '[') {
            p++;
            srv[i].tls_name.len -= 2;
            p[srv[i].tls_name.len] = '\0';
        }

        srv[i].tls_name.data = p;

        srv[i].tls_ip = (ngx_inet_addr(p, srv[i].tls_name.len) != INADDR_NONE
                         || inet_pton(AF_INET6, (char *) p, &in6) == 1);
    }

    return NGX_OK;
}


ngx_int_t
ngx_http_revoca_redis_ssl_start(ngx_http_revoca_redis_conn_t *conn)
{
    int                              ok;
    ngx_int_t                        rc;
    ngx_connection_t                *c;
    ngx_http_revoca_main_conf_t     *rmcf;
    ngx_http_revoca_redis_server_t  *srv;

    rmcf = conn->rr->rmcf;
    c = conn->peer.connection;
    srv = rmcf->servers->elts;
    srv = &srv[conn->server];

    /* the SSL connection lives in the connection's pool, as upstream's;
     * the cycle's log, since a keepalive connection outlives requests */

    if (c->pool == NULL) {
        c->pool = ngx_create_pool(128, ngx_cycle->log);
        if (c->pool == NULL) {
            return NGX_ERROR;
        }
    }

    if (ngx_ssl_create_connection(rmcf->ssl, c, NGX_SSL_CLIENT) != NGX_OK) {
        return NGX_ERROR;
    }

    c->sendfile = 0;

    if (SSL_set_ex_data(c->ssl->connection, ngx_http_revoca_redis_ssl_index,
                        conn)
        == 0)
    {
        ngx_ssl_error(NGX_LOG_ALERT, c->log, 0, "SSL_set_ex_data() failed");
        return NGX_ERROR;
    }

    SSL_set_info_callback(c->ssl->connection,
                          ngx_http_revoca_redis_ssl_info);

    /*
     * The name is checked by OpenSSL's verification itself (its result,
     * X509_V_ERR_HOSTNAME_MISMATCH or _IP_ADDRESS_MISMATCH, read after the
     * handshake), rather than by ngx_ssl_check_host(), which knows only
     * DNS names and Redis servers are often named by address.
     */

    if (srv->tls_ip) {
        /* RFC 6125: an address is matched against iPAddress entries */
        ok = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl->connection),
                                           (char *) srv->tls_name.data);

    } else {
        /* RFC 6066 3: SNI carries a host name, never an address */
        ok = SSL_set_tlsext_host_name(c->ssl->connection,
                                      (char *) srv->tls_name.data) == 1
             && SSL_set1_host(c->ssl->connection,
                              (char *) srv->tls_name.data) == 1;
    }

    if (ok != 1) {
        ngx_ssl_error(NGX_LOG_ERR, c->log, 0,
                      "revoca: redis %V: cannot set TLS name \"%V\"",
                      &srv->name, &srv->tls_name);
        return NGX_ERROR;
    }

    rc = ngx_ssl_handshake(c);

    if (rc == NGX_AGAIN) {
        if (!c->write->timer_set) {
            ngx_add_timer(c->write, ngx_http_revoca_redis_timer(conn->rr,
                                                  rmcf->connect_timeout));
        }

        c->ssl->handler = ngx_http_revoca_redis_ssl_handshake_handler;
        return NGX_AGAIN;
    }

    return ngx_http_revoca_redis_ssl_verify(conn);
}


static void
ngx_http_revoca_redis_ssl_handshake_handler(ngx_connection_t *c)
{
    ngx_http_revoca_redis_conn_t  *conn;

    conn = c->data;

    if (conn->rr == NULL) {
        return;
    }

    if (ngx_http_revoca_redis_ssl_verify(conn) == NGX_ERROR) {
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }
}


/* The handshake's end: the server's certificate must chain to tls_ca and
 * carry the server's name; then the command. */

static ngx_int_t
ngx_http_revoca_redis_ssl_verify(ngx_http_revoca_redis_conn_t *conn)
{
    long                             v;
    X509                            *cert;
    ngx_connection_t                *c;
    ngx_http_revoca_redis_server_t  *srv;

    c = conn->peer.connection;
    srv = conn->rr->rmcf->servers->elts;
    srv = &srv[conn->server];

    if (!c->ssl->handshaked) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "revoca: redis %V TLS handshake %s%s%s", &srv->name,
                      (c->write->timedout || c->read->timedout)
                      ? "timed out" : "failed",
                      conn->alert ? ": server sent alert " : "",
                      conn->alert ? conn->alert : "");
        return NGX_ERROR;
    }

    v = SSL_get_verify_result(c->ssl->connection);

    if (v != X509_V_OK) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "revoca: redis %V TLS handshake failed: certificate"
                      " verify failed (%s), expected name \"%V\"",
                      &srv->name, X509_verify_cert_error_string(v),
                      &srv->tls_name);
        return NGX_ERROR;
    }

    cert = SSL_get_peer_certificate(c->ssl->connection);

    if (cert == NULL) {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "revoca: redis %V TLS handshake failed: no server"
                      " certificate", &srv->name);
        return NGX_ERROR;
    }

    X509_free(cert);

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_revoca_redis_read_handler;
    c->write->handler = ngx_http_revoca_redis_write_handler;
    c->recv = ngx_http_revoca_redis_ssl_recv;
    conn->connected = 1;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, c->log, 0,
                   "revoca redis: TLS to %V, %s", &srv->name,
                   SSL_get_version(c->ssl->connection));

    return ngx_http_revoca_redis_send(conn);
}


/* records the last alert the server sent, for the log line of the
 * failure it causes (unknown CA, certificate required) */

static void
ngx_http_revoca_redis_ssl_info(const SSL *ssl, int where, int ret)
{
    ngx_http_revoca_redis_conn_t  *conn;

    if (!(where & SSL_CB_READ_ALERT)) {
        return;
    }

    conn = SSL_get_ex_data(ssl, ngx_http_revoca_redis_ssl_index);

    if (conn == NULL) {
        return;
    }

    conn->alert = SSL_alert_desc_string_long(ret);

    if (ngx_strcmp(conn->alert, "unknown") == 0) {
        /* TLS 1.3's, which OpenSSL does not name here (RFC 8446 6) */
        conn->alert = ((ret & 0xff) == 116) ? "certificate required"
                                              : (char *) ngx_sprintf(
                                                    conn->alert_buf,
                                                    "number %d%Z",
                                                    ret & 0xff);
    }
}


/*
 * Reads for a Redis connection over TLS, as ngx_ssl_recv() for a client
 * that reads until NGX_AGAIN, but with a failure logged by the caller as
 * the server's: with TLS 1.3 a server refusing the client's certificate
 * (or the lack of one) says so only after the handshake, in an alert the
 * first read returns, which ngx_ssl_recv() would log as [crit].
 */

static ssize_t
ngx_http_revoca_redis_ssl_recv(ngx_connection_t *c, u_char *buf, size_t size)
{
    int                            n, sslerr;
    u_long                         e;
    ngx_err_t                      err;
    const char                    *reason;
    ngx_http_revoca_redis_conn_t  *conn;

    ERR_clear_error();

    n = SSL_read(c->ssl->connection, buf, size);

    if (n > 0) {
        return n;
    }

    sslerr = SSL_get_error(c->ssl->connection, n);
    err = (sslerr == SSL_ERROR_SYSCALL) ? ngx_errno : 0;

    c->read->ready = 0;

    if (sslerr == SSL_ERROR_WANT_READ) {
        return NGX_AGAIN;
    }

    if (sslerr == SSL_ERROR_ZERO_RETURN
        || (sslerr == SSL_ERROR_SYSCALL && err == 0 && ERR_peek_error() == 0))
    {
        c->read->eof = 1;
        return 0;
    }

    conn = c->data;
    e = ERR_peek_last_error();
    reason = e ? ERR_reason_error_string(e) : NULL;

    if (sslerr == SSL_ERROR_WANT_WRITE) {
        reason = "renegotiation refused";

    } else if (reason == NULL && err) {
        reason = strerror(err);
    }

    *ngx_snprintf(conn->tls_error, sizeof(conn->tls_error) - 1, "%s",
                  reason ? reason : "unknown error") = '\0';

    ERR_clear_error();

    c->read->error = 1;

    return NGX_ERROR;
}
