
/*
 * A non-blocking Redis client on nginx's own event machinery, as nginx's
 * OCSP stapling client talks to an OCSP responder: ngx_event_connect_peer(),
 * a timer on every wait, and a per-worker pool of idle keepalive
 * connections.  hiredis is used only to format commands and to parse
 * replies; its async context is not, since it can neither time out nor be
 * cancelled when a request goes away (docs/dev/style.md).
 *
 * TLS (redis.tls) is nginx's own, as ngx_http_upstream_ssl_init_connection()
 * does it: ngx_ssl_create_connection(), ngx_ssl_handshake() with a handler,
 * then the server's certificate checked (verify result, name).
 *
 * Servers are in preference order, the first the local replica: a query
 * goes to the first healthy one; one that fails (connect, I/O, timeout, a
 * transient error reply) is retried once on the next, within the query's
 * deadline; a server failing NGX_HTTP_REVOCA_REDIS_FAILS times in a row
 * is skipped for a backoff (1 s doubling to 30 s, per worker), then
 * probed by one real query.  A lone server is never skipped: there is
 * nothing to fail over to, and skipping would only delay its recovery.
 */


#include "ngx_http_revoca.h"


/* consecutive failures that make a server skipped */
#define NGX_HTTP_REVOCA_REDIS_FAILS        3
#define NGX_HTTP_REVOCA_REDIS_BACKOFF      1000
#define NGX_HTTP_REVOCA_REDIS_BACKOFF_MAX  30000


/*
 * What a reply may hold (reply_limits.h): a small array at most, none
 * nested, no string longer than a pre-signed response.  Anything more is
 * refused as it is announced and the connection closed.
 */
static const ocsp_reply_limits_t  ngx_http_revoca_redis_limits = {
    NGX_HTTP_REVOCA_REDIS_ELEMENTS_MAX,    /* max_elements */
    1,                                     /* max_depth */
    NGX_HTTP_REVOCA_DER_MAX                /* max_string */
};


struct ngx_http_revoca_redis_conn_s {
    ngx_queue_t                     queue;
    ngx_peer_connection_t           peer;
    redisReader                    *reader;
    ocsp_reply_guard_t              guard;     /* bounds reader's replies */
    ngx_http_revoca_redis_req_t    *rr;
    ngx_http_revoca_redis_stream_t *stream;    /* when it is a stream's */
    ngx_uint_t                      server;
    ngx_uint_t                      nskip;      /* AUTH/SELECT replies */
    size_t                          received;
    const char                     *alert;     /* last TLS alert received */
    u_char                          alert_buf[32];
    u_char                          tls_error[128];  /* of a TLS read */
    unsigned                        connected:1;  /* and TLS established */
    unsigned                        ready:1;      /* AUTH/SELECT sent */
    unsigned                        reused:1;
};


struct ngx_http_revoca_redis_stream_s {
    ngx_http_revoca_redis_req_t     rr;        /* the command being sent */
    ngx_http_revoca_redis_conn_t   *conn;
    ngx_http_revoca_redis_stream_pt handler;
    void                           *data;
};


/* a server's health, per worker */
typedef struct {
    ngx_queue_t                     idle;      /* its keepalive connections */
    ngx_uint_t                      fails;     /* in a row */
    ngx_msec_t                      backoff;
    ngx_msec_t                      skip_until;
    unsigned                        skipped:1;
    unsigned                        probing:1;
} ngx_http_revoca_redis_health_t;


static ngx_int_t ngx_http_revoca_redis_start(ngx_http_revoca_redis_req_t *rr,
    ngx_uint_t pooled);
static ngx_int_t ngx_http_revoca_redis_pick(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t except);
static ngx_int_t ngx_http_revoca_redis_connect(
    ngx_http_revoca_redis_req_t *rr, ngx_http_revoca_redis_stream_t *st);
static ngx_int_t ngx_http_revoca_redis_connected(
    ngx_http_revoca_redis_conn_t *conn);
static ngx_int_t ngx_http_revoca_redis_ssl_start(
    ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_ssl_handshake_handler(ngx_connection_t *c);
static ngx_int_t ngx_http_revoca_redis_ssl_verify(
    ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_ssl_info(const SSL *ssl, int where,
    int ret);
static ssize_t ngx_http_revoca_redis_ssl_recv(ngx_connection_t *c,
    u_char *buf, size_t size);
static ngx_int_t ngx_http_revoca_redis_send(
    ngx_http_revoca_redis_conn_t *conn);
static ngx_msec_t ngx_http_revoca_redis_timer(ngx_http_revoca_redis_req_t *rr,
    ngx_msec_t timeout);
static void ngx_http_revoca_redis_write_handler(ngx_event_t *wev);
static void ngx_http_revoca_redis_read_handler(ngx_event_t *rev);
static ngx_int_t ngx_http_revoca_redis_transient(
    ngx_http_revoca_redis_req_t *rr);
static void ngx_http_revoca_redis_idle_handler(ngx_event_t *rev);
static void ngx_http_revoca_redis_dummy_handler(ngx_event_t *ev);
static void ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn,
    ngx_int_t rc);
static void ngx_http_revoca_redis_health(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static void ngx_http_revoca_redis_keep(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_close(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_cleanup(void *data);
static void ngx_http_revoca_redis_stream_lost(
    ngx_http_revoca_redis_conn_t *conn);


/* per-worker state */
static ngx_http_revoca_redis_health_t *ngx_http_revoca_redis_servers;
static ngx_uint_t                     ngx_http_revoca_redis_nidle;
static ngx_http_revoca_main_conf_t   *ngx_http_revoca_redis_conf;
static u_char                        *ngx_http_revoca_redis_init_cmd;
static size_t                         ngx_http_revoca_redis_init_len;
static ngx_uint_t                     ngx_http_revoca_redis_init_n;
static int                            ngx_http_revoca_redis_ssl_index = -1;


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
ngx_http_revoca_redis_init_worker(ngx_cycle_t *cycle,
    ngx_http_revoca_main_conf_t *rmcf)
{
    int             n, argc;
    char           *cmd, dbbuf[NGX_INT_T_LEN + 1];
    size_t          len;
    ngx_uint_t      i;
    const char     *argv[3];
    ocsp_config_t  *cf;

    ngx_http_revoca_redis_servers = ngx_calloc(rmcf->servers->nelts
                                      * sizeof(ngx_http_revoca_redis_health_t),
                                      cycle->log);
    if (ngx_http_revoca_redis_servers == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < rmcf->servers->nelts; i++) {
        ngx_queue_init(&ngx_http_revoca_redis_servers[i].idle);
        ngx_http_revoca_redis_servers[i].backoff =
                                              NGX_HTTP_REVOCA_REDIS_BACKOFF;
    }

    ngx_http_revoca_redis_nidle = 0;
    ngx_http_revoca_redis_conf = rmcf;

    /* AUTH and SELECT go ahead of the first command of a connection */

    cf = rmcf->ocsp;
    len = 0;

    if (cf->redis_password) {
        argc = 0;
        argv[argc++] = "AUTH";
        if (cf->redis_user) {
            argv[argc++] = cf->redis_user;
        }
        argv[argc++] = cf->redis_password;

        n = redisFormatCommandArgv(&cmd, argc, argv, NULL);
        if (n < 0) {
            return NGX_ERROR;
        }

        ngx_http_revoca_redis_init_cmd = ngx_alloc(n, cycle->log);
        if (ngx_http_revoca_redis_init_cmd == NULL) {
            free(cmd);
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_http_revoca_redis_init_cmd, cmd, n);
        free(cmd);
        len = n;
        ngx_http_revoca_redis_init_n++;
    }

    if (cf->redis_db != 0) {
        ngx_sprintf((u_char *) dbbuf, "%d%Z", cf->redis_db);
        argv[0] = "SELECT";
        argv[1] = dbbuf;

        n = redisFormatCommandArgv(&cmd, 2, argv, NULL);
        if (n < 0) {
            return NGX_ERROR;
        }

        ngx_http_revoca_redis_init_cmd = ngx_http_revoca_redis_init_cmd
            ? realloc(ngx_http_revoca_redis_init_cmd, len + n)
            : ngx_alloc(len + n, cycle->log);
        if (ngx_http_revoca_redis_init_cmd == NULL) {
            free(cmd);
            return NGX_ERROR;
        }

        ngx_memcpy(ngx_http_revoca_redis_init_cmd + len, cmd, n);
        free(cmd);
        len += n;
        ngx_http_revoca_redis_init_n++;
    }

    ngx_http_revoca_redis_init_len = len;

    return NGX_OK;
}


void
ngx_http_revoca_redis_exit_worker(ngx_cycle_t *cycle)
{
    ngx_uint_t                     i;
    ngx_queue_t                   *q;
    ngx_http_revoca_redis_conn_t  *conn;

    if (ngx_http_revoca_redis_conf == NULL
        || ngx_http_revoca_redis_servers == NULL)
    {
        return;
    }

    for (i = 0; i < ngx_http_revoca_redis_conf->servers->nelts; i++) {

        while (!ngx_queue_empty(&ngx_http_revoca_redis_servers[i].idle)) {
            q = ngx_queue_head(&ngx_http_revoca_redis_servers[i].idle);
            ngx_queue_remove(q);
            conn = ngx_queue_data(q, ngx_http_revoca_redis_conn_t, queue);
            ngx_http_revoca_redis_close(conn);
        }
    }

    ngx_http_revoca_redis_nidle = 0;

    ngx_free(ngx_http_revoca_redis_servers);
    ngx_http_revoca_redis_servers = NULL;

    if (ngx_http_revoca_redis_init_cmd) {
        ngx_free(ngx_http_revoca_redis_init_cmd);
        ngx_http_revoca_redis_init_cmd = NULL;
    }
}


ngx_int_t
ngx_http_revoca_redis_format(ngx_http_revoca_redis_req_t *rr, int argc,
    const char **argv, const size_t *argvlen)
{
    int    n;
    char  *cmd;

    n = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (n < 0) {
        return NGX_ERROR;
    }

    rr->cmd = ngx_pnalloc(rr->pool, n);
    if (rr->cmd == NULL) {
        free(cmd);
        return NGX_ERROR;
    }

    ngx_memcpy(rr->cmd, cmd, n);
    free(cmd);
    rr->cmd_len = n;

    return NGX_OK;
}


ngx_int_t
ngx_http_revoca_redis_query(ngx_http_revoca_redis_req_t *rr)
{
    ngx_int_t                     server;
    ngx_pool_cleanup_t           *cln;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = rr->rmcf;

    cln = ngx_pool_cleanup_add(rr->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_revoca_redis_cleanup;
    cln->data = rr;

    /* the whole query, fail-over included, fits in one attempt's time */

    rr->start = ngx_current_msec;
    rr->deadline = rr->start + rmcf->connect_timeout + rmcf->timeout;
    rr->afresh = 0;
    rr->failed_over = 0;
    rr->probe = 0;

    server = ngx_http_revoca_redis_pick(rr, -1);

    if (server == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, rr->log, 0,
                      "revoca: every redis server is failing, none asked");
        return NGX_ERROR;
    }

    rr->server = server;

    if (ngx_http_revoca_redis_start(rr, 1) != NGX_ERROR) {
        return NGX_AGAIN;
    }

    /* could not even start: as a failed attempt, the next server */

    ngx_http_revoca_redis_health(rr, NGX_ERROR);

    server = ngx_http_revoca_redis_pick(rr, rr->server);

    if (server == NGX_DECLINED) {
        return NGX_ERROR;
    }

    rr->server = server;
    rr->failed_over = 1;

    (void) ngx_atomic_fetch_add(&ngx_http_revoca_metrics_slot(rmcf)->failovers,
                                1);

    if (ngx_http_revoca_redis_start(rr, 1) != NGX_ERROR) {
        return NGX_AGAIN;
    }

    ngx_http_revoca_redis_health(rr, NGX_ERROR);

    return NGX_ERROR;
}


/*
 * The first server, in preference order and other than EXCEPT, that is
 * not being skipped; a skipped one whose backoff is over is probed by this
 * query (one query at a time).  NGX_DECLINED: none.
 */

static ngx_int_t
ngx_http_revoca_redis_pick(ngx_http_revoca_redis_req_t *rr, ngx_int_t except)
{
    ngx_uint_t                       i, n;
    ngx_http_revoca_redis_health_t  *h;

    n = rr->rmcf->servers->nelts;

    for (i = 0; i < n; i++) {

        if ((ngx_int_t) i == except) {
            continue;
        }

        h = &ngx_http_revoca_redis_servers[i];

        if (!h->skipped) {
            return i;
        }

        if (!h->probing
            && (ngx_msec_int_t) (ngx_current_msec - h->skip_until) >= 0)
        {
            h->probing = 1;
            rr->probe = 1;
            return i;
        }
    }

    return NGX_DECLINED;
}


/*
 * One attempt on rr->server: a pooled connection to it (if POOLED), or a
 * new one.  NGX_AGAIN with the query under way, or NGX_ERROR.
 */

static ngx_int_t
ngx_http_revoca_redis_start(ngx_http_revoca_redis_req_t *rr,
    ngx_uint_t pooled)
{
    ngx_queue_t                     *q;
    ngx_connection_t                *c;
    ngx_http_revoca_redis_conn_t    *conn;
    ngx_http_revoca_redis_health_t  *h;

    rr->sent = 0;
    rr->ngot = 0;

    (void) ngx_atomic_fetch_add(
        &ngx_http_revoca_metrics_slot(rr->rmcf)->server_queries[rr->server],
        1);

    h = &ngx_http_revoca_redis_servers[rr->server];

    if (!pooled || ngx_queue_empty(&h->idle)) {
        return ngx_http_revoca_redis_connect(rr, NULL);
    }

    q = ngx_queue_head(&h->idle);
    ngx_queue_remove(q);
    ngx_http_revoca_redis_nidle--;

    conn = ngx_queue_data(q, ngx_http_revoca_redis_conn_t, queue);
    c = conn->peer.connection;

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    c->idle = 0;
    c->log = rr->log;
    c->read->log = rr->log;
    c->write->log = rr->log;
    c->read->handler = ngx_http_revoca_redis_read_handler;
    c->write->handler = ngx_http_revoca_redis_write_handler;

    conn->rr = rr;
    conn->reused = 1;
    conn->received = 0;
    conn->nskip = 0;
    rr->conn = conn;

    ngx_log_debug0(NGX_LOG_DEBUG_HTTP, rr->log, 0,
                   "revoca redis: keepalive connection");

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_http_revoca_redis_close(conn);
        rr->conn = NULL;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/* A new connection to rr->server for RR, or for the stream ST. */

static ngx_int_t
ngx_http_revoca_redis_connect(ngx_http_revoca_redis_req_t *rr,
    ngx_http_revoca_redis_stream_t *st)
{
    ngx_int_t                        rc;
    ngx_addr_t                      *addr;
    ngx_connection_t                *c;
    ngx_peer_connection_t           *pc;
    ngx_http_revoca_main_conf_t     *rmcf;
    ngx_http_revoca_redis_conn_t    *conn;
    ngx_http_revoca_redis_server_t  *srv;

    rmcf = rr->rmcf;

    srv = rmcf->servers->elts;
    srv = &srv[rr->server];
    addr = &srv->addrs[0];

    conn = ngx_calloc(sizeof(ngx_http_revoca_redis_conn_t), rr->log);
    if (conn == NULL) {
        return NGX_ERROR;
    }

    conn->server = rr->server;

    if (st) {
        conn->stream = st;
        st->conn = conn;
    }

    conn->reader = redisReaderCreate();
    if (conn->reader == NULL) {
        ngx_free(conn);
        return NGX_ERROR;
    }

    if (ocsp_reply_guard_install(&conn->guard, conn->reader,
                                 &ngx_http_revoca_redis_limits)
        != 0)
    {
        ngx_log_error(NGX_LOG_ALERT, rr->log, 0,
                      "revoca: redis reader: %s", conn->guard.errstr);
        redisReaderFree(conn->reader);
        ngx_free(conn);
        return NGX_ERROR;
    }

    pc = &conn->peer;
    pc->sockaddr = addr->sockaddr;
    pc->socklen = addr->socklen;
    pc->name = &srv->name;
    pc->get = ngx_event_get_peer;
    pc->log = rr->log;
    pc->log_error = NGX_ERROR_ERR;

    rc = ngx_event_connect_peer(pc);

    if (rc == NGX_ERROR || rc == NGX_BUSY || rc == NGX_DECLINED) {
        ngx_log_error(NGX_LOG_ERR, rr->log, 0,
                      "revoca: cannot connect to redis %V", &srv->name);
        ngx_http_revoca_redis_close(conn);
        return NGX_ERROR;
    }

    c = pc->connection;
    c->data = conn;
    c->read->handler = ngx_http_revoca_redis_read_handler;
    c->write->handler = ngx_http_revoca_redis_write_handler;

    conn->rr = rr;
    rr->conn = conn;

    if (ngx_http_revoca_redis_init_len) {
        conn->nskip = ngx_http_revoca_redis_init_n;
    }

    if (rc == NGX_AGAIN) {
        ngx_add_timer(c->write,
                      ngx_http_revoca_redis_timer(rr, rmcf->connect_timeout));
        return NGX_AGAIN;
    }

    if (ngx_http_revoca_redis_connected(conn) == NGX_ERROR) {
        ngx_http_revoca_redis_close(conn);
        rr->conn = NULL;
        return NGX_ERROR;
    }

    return NGX_AGAIN;
}


/*
 * The TCP connection is up: the TLS handshake, or at once the command.
 * NGX_ERROR: the attempt failed (logged); NGX_AGAIN or NGX_OK: under way.
 */

static ngx_int_t
ngx_http_revoca_redis_connected(ngx_http_revoca_redis_conn_t *conn)
{
    int                              err;
    socklen_t                        len;
    ngx_connection_t                *c;
    ngx_http_revoca_redis_server_t  *srv;

    c = conn->peer.connection;
    srv = ngx_http_revoca_redis_conf->servers->elts;
    srv = &srv[conn->server];

    /* as ngx_http_upstream_test_connect(): did the connect succeed */

    err = 0;
    len = sizeof(int);

    if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, (void *) &err, &len) == -1) {
        err = ngx_socket_errno;
    }

    if (err) {
        ngx_log_error(NGX_LOG_ERR, c->log, err,
                      "revoca: cannot connect to redis %V", &srv->name);
        return NGX_ERROR;
    }

    if (srv->tls) {
        return ngx_http_revoca_redis_ssl_start(conn);
    }

    conn->connected = 1;

    return ngx_http_revoca_redis_send(conn);
}


static ngx_int_t
ngx_http_revoca_redis_ssl_start(ngx_http_revoca_redis_conn_t *conn)
{
    int                              ok;
    ngx_int_t                        rc;
    ngx_connection_t                *c;
    ngx_http_revoca_main_conf_t     *rmcf;
    ngx_http_revoca_redis_server_t  *srv;

    rmcf = ngx_http_revoca_redis_conf;
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
                                 ngx_http_revoca_redis_conf->connect_timeout));
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
    srv = ngx_http_revoca_redis_conf->servers->elts;
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


/* a wait's timer: TIMEOUT, but not past the query's deadline */

static ngx_msec_t
ngx_http_revoca_redis_timer(ngx_http_revoca_redis_req_t *rr,
    ngx_msec_t timeout)
{
    ngx_msec_int_t  left;

    if (rr->deadline == 0) {
        return timeout;
    }

    left = (ngx_msec_int_t) (rr->deadline - ngx_current_msec);

    if (left < 1) {
        return 1;
    }

    return ngx_min(timeout, (ngx_msec_t) left);
}


/*
 * Writes what is left of the command; on a fresh connection AUTH/SELECT go
 * first.  Never calls the request's handler itself.
 */

static ngx_int_t
ngx_http_revoca_redis_send(ngx_http_revoca_redis_conn_t *conn)
{
    u_char                       *p;
    size_t                        len, init;
    ssize_t                       n;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;

    c = conn->peer.connection;
    rr = conn->rr;
    init = conn->ready ? 0 : ngx_http_revoca_redis_init_len;

    while (rr->sent < init + rr->cmd_len) {

        if (rr->sent < init) {
            p = ngx_http_revoca_redis_init_cmd + rr->sent;
            len = init - rr->sent;

        } else {
            p = rr->cmd + (rr->sent - init);
            len = rr->cmd_len - (rr->sent - init);
        }

        n = c->send(c, p, len);

        if (n == NGX_ERROR) {
            return NGX_ERROR;
        }

        if (n == NGX_AGAIN) {
            if (!c->write->timer_set) {
                ngx_add_timer(c->write, ngx_http_revoca_redis_timer(rr,
                                           ngx_http_revoca_redis_conf->timeout));
            }

            if (ngx_handle_write_event(c->write, 0) != NGX_OK) {
                return NGX_ERROR;
            }

            return NGX_AGAIN;
        }

        rr->sent += n;
    }

    conn->ready = 1;

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    /* a stream waits as long as it takes; its owner pings it */

    if (conn->stream == NULL) {
        ngx_add_timer(c->read, ngx_http_revoca_redis_timer(rr,
                                   ngx_http_revoca_redis_conf->timeout));
    }

    if (ngx_handle_read_event(c->read, 0) != NGX_OK) {
        return NGX_ERROR;
    }

    if (c->read->ready) {
        ngx_post_event(c->read, &ngx_posted_events);
    }

    return NGX_OK;
}


static void
ngx_http_revoca_redis_write_handler(ngx_event_t *wev)
{
    ngx_connection_t              *c;
    ngx_http_revoca_redis_conn_t  *conn;

    c = wev->data;
    conn = c->data;

    if (conn->rr == NULL) {
        return;
    }

    if (wev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "revoca: redis %V connect or send timed out",
                      conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
        return;
    }

    if (wev->timer_set) {
        ngx_del_timer(wev);
    }

    if (!conn->connected) {
        if (ngx_http_revoca_redis_connected(conn) == NGX_ERROR) {
            ngx_http_revoca_redis_done(conn, NGX_ERROR);
        }

        return;
    }

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, c->log, ngx_socket_errno,
                      "revoca: redis %V send failed", conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }
}


static void
ngx_http_revoca_redis_read_handler(ngx_event_t *rev)
{
    u_char                        buf[16384];
    void                         *reply;
    ssize_t                       n;
    redisReply                   *r;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;
    ngx_http_revoca_redis_conn_t *conn;

    c = rev->data;
    conn = c->data;
    rr = conn->rr;

    if (rr == NULL) {
        ngx_http_revoca_redis_idle_handler(rev);
        return;
    }

    if (conn->stream && (c->close || !conn->connected)) {
        /* worker shutting down (closed as idle), or a read before TLS */
        if (c->close) {
            ngx_http_revoca_redis_done(conn, NGX_ERROR);
        }

        return;
    }

    if (rev->timedout) {
        ngx_log_error(NGX_LOG_ERR, c->log, NGX_ETIMEDOUT,
                      "revoca: redis %V read timed out", conn->peer.name);
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
        return;
    }

    for ( ;; ) {
        n = c->recv(c, buf, sizeof(buf));

        if (n == NGX_AGAIN) {
            break;
        }

        if (n == NGX_ERROR && conn->tls_error[0]) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "revoca: redis %V TLS read failed: %s",
                          conn->peer.name, conn->tls_error);
            ngx_http_revoca_redis_done(conn, NGX_ERROR);
            return;
        }

        if (n == NGX_ERROR || n == 0) {
            ngx_log_error(NGX_LOG_ERR, c->log, 0,
                          "revoca: redis %V closed the connection",
                          conn->peer.name);
            ngx_http_revoca_redis_done(conn, NGX_ERROR);
            return;
        }

        conn->received += n;

        if (redisReaderFeed(conn->reader, (char *) buf, n) != REDIS_OK) {
            goto refused;
        }

        while (conn->stream || rr->ngot < rr->nreplies) {
            reply = NULL;

            if (redisReaderGetReply(conn->reader, &reply) != REDIS_OK) {
                goto refused;
            }

            if (reply == NULL) {
                /* incomplete: refuse what is announced too large now */
                if (ocsp_reply_guard_check(&conn->guard, conn->reader)
                    != 0)
                {
                    goto refused;
                }

                break;
            }

            r = reply;

            if (conn->nskip) {
                conn->nskip--;

                if (r->type == REDIS_REPLY_ERROR) {
                    ngx_log_error(NGX_LOG_ERR, c->log, 0,
                                  "revoca: redis %V AUTH/SELECT: %*s",
                                  conn->peer.name, (size_t) r->len, r->str);
                    freeReplyObject(r);
                    ngx_http_revoca_redis_done(conn, NGX_ERROR);
                    return;
                }

                freeReplyObject(r);
                continue;
            }

            if (conn->stream) {
                if (conn->stream->handler(conn->stream->data, r)
                    != NGX_OK)
                {
                    /* the stream's owner refuses what came */
                    freeReplyObject(r);
                    ngx_http_revoca_redis_stream_lost(conn);
                    return;
                }

                freeReplyObject(r);
                continue;
            }

            rr->replies[rr->ngot++] = r;
        }

        if (!conn->stream && rr->ngot == rr->nreplies) {
            ngx_http_revoca_redis_done(conn, NGX_OK);
            return;
        }
    }

    if (ngx_handle_read_event(rev, 0) != NGX_OK) {
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }

    return;

refused:

    ngx_log_error(NGX_LOG_ERR, c->log, 0, "revoca: redis %V %s: %s",
                  conn->peer.name,
                  conn->guard.refused ? "reply refused" : "protocol error",
                  ocsp_reply_guard_error(&conn->guard, conn->reader));
    ngx_http_revoca_redis_done(conn, NGX_ERROR);
}


/*
 * An error reply that says the server cannot answer now, where another
 * could: loading its data, a replica cut off from its primary that does
 * not serve stale data, a script running.  Logged; NGX_ERROR if so.
 */

static ngx_int_t
ngx_http_revoca_redis_transient(ngx_http_revoca_redis_req_t *rr)
{
    ngx_uint_t    i, k;
    redisReply   *r;

    static ngx_str_t  transient[] = {
        ngx_string("LOADING"),
        ngx_string("MASTERDOWN"),
        ngx_string("BUSY"),
        ngx_string("TRYAGAIN"),
        ngx_string("CLUSTERDOWN")
    };

    for (i = 0; i < rr->ngot; i++) {
        r = rr->replies[i];

        if (r->type != REDIS_REPLY_ERROR) {
            continue;
        }

        for (k = 0; k < sizeof(transient) / sizeof(transient[0]); k++) {

            if (r->len > transient[k].len
                && ngx_strncmp(r->str, transient[k].data, transient[k].len)
                   == 0
                && r->str[transient[k].len] == ' ')
            {
                ngx_log_error(NGX_LOG_ERR, rr->log, 0,
                              "revoca: redis %V cannot answer now: %*s",
                              &((ngx_http_revoca_redis_server_t *)
                                    rr->rmcf->servers->elts)[rr->server].name,
                              ngx_min((size_t) r->len, 128), r->str);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


static void
ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn, ngx_int_t rc)
{
    ngx_int_t                     server;
    ngx_uint_t                    i, retry;
    ngx_connection_t             *c;
    ngx_http_revoca_redis_req_t  *rr;

    if (conn->stream) {
        ngx_http_revoca_redis_stream_lost(conn);
        return;
    }

    rr = conn->rr;
    rr->conn = NULL;
    conn->rr = NULL;

    /*
     * A keepalive connection the server has meanwhile closed fails before
     * any reply: that is not Redis being down, so try once more afresh.
     * A timeout is Redis not answering: waiting again would only double it.
     */

    c = conn->peer.connection;

    retry = (rc == NGX_ERROR && conn->reused && conn->received == 0
             && !c->read->timedout && !c->write->timedout && !rr->afresh);

    if (rc == NGX_OK
        && conn->reader->pos == conn->reader->len
        && conn->nskip == 0)
    {
        ngx_http_revoca_redis_keep(conn);

    } else {
        ngx_http_revoca_redis_close(conn);
    }

    if (rc == NGX_OK && ngx_http_revoca_redis_transient(rr) != NGX_OK) {
        rc = NGX_ERROR;
    }

    if (rc != NGX_OK || retry) {
        for (i = 0; i < rr->ngot; i++) {
            freeReplyObject(rr->replies[i]);
            rr->replies[i] = NULL;
        }

        rr->ngot = 0;
    }

    if (retry) {
        rr->afresh = 1;

        if (ngx_http_revoca_redis_start(rr, 0) != NGX_ERROR) {
            return;
        }
    }

    ngx_http_revoca_redis_health(rr, rc);

    /* retried once on the next server, if the deadline leaves time */

    while (rc != NGX_OK && !rr->failed_over
           && (ngx_msec_int_t) (rr->deadline - ngx_current_msec) > 0)
    {
        server = ngx_http_revoca_redis_pick(rr, rr->server);

        if (server == NGX_DECLINED) {
            break;
        }

        ngx_log_error(NGX_LOG_WARN, rr->log, 0,
                      "revoca: redis query retried on %V",
                      &((ngx_http_revoca_redis_server_t *)
                            rr->rmcf->servers->elts)[server].name);

        rr->server = server;
        rr->failed_over = 1;
        rr->afresh = 0;

        (void) ngx_atomic_fetch_add(
            &ngx_http_revoca_metrics_slot(rr->rmcf)->failovers, 1);

        if (ngx_http_revoca_redis_start(rr, 1) != NGX_ERROR) {
            return;
        }

        ngx_http_revoca_redis_health(rr, NGX_ERROR);
    }

    ngx_http_revoca_metrics_latency(rr->rmcf, ngx_current_msec - rr->start);

    if (rc != NGX_OK) {
        (void) ngx_atomic_fetch_add(
            &ngx_http_revoca_metrics_slot(rr->rmcf)->redis_errors, 1);
    }

    rr->handler(rr, rc);
}


/* an attempt's outcome on rr->server: its health, the metrics */

static void
ngx_http_revoca_redis_health(ngx_http_revoca_redis_req_t *rr, ngx_int_t rc)
{
    ngx_http_revoca_redis_health_t  *h;
    ngx_http_revoca_redis_server_t  *srv;

    h = &ngx_http_revoca_redis_servers[rr->server];
    srv = rr->rmcf->servers->elts;
    srv = &srv[rr->server];

    if (rr->probe) {
        h->probing = 0;
        rr->probe = 0;
    }

    if (rc == NGX_OK) {

        if (h->skipped) {
            ngx_log_error(NGX_LOG_NOTICE, rr->log, 0,
                          "revoca: redis %V answers again, used again",
                          &srv->name);
        }

        h->fails = 0;
        h->skipped = 0;
        h->backoff = NGX_HTTP_REVOCA_REDIS_BACKOFF;
        return;
    }

    (void) ngx_atomic_fetch_add(
        &ngx_http_revoca_metrics_slot(rr->rmcf)->server_errors[rr->server],
        1);

    h->fails++;

    if (h->fails < NGX_HTTP_REVOCA_REDIS_FAILS
        || rr->rmcf->servers->nelts < 2)
    {
        return;
    }

    ngx_log_error(NGX_LOG_WARN, rr->log, 0,
                  "revoca: redis %V failed %ui times in a row, skipped"
                  " for %M ms", &srv->name, h->fails, h->backoff);

    h->skipped = 1;
    h->skip_until = ngx_current_msec + h->backoff;
    h->backoff = ngx_min(2 * h->backoff, NGX_HTTP_REVOCA_REDIS_BACKOFF_MAX);
}


static void
ngx_http_revoca_redis_keep(ngx_http_revoca_redis_conn_t *conn)
{
    ngx_connection_t             *c;
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_http_revoca_redis_conf;
    c = conn->peer.connection;

    if (ngx_http_revoca_redis_nidle >= rmcf->keepalive || ngx_exiting
        || ngx_terminate || ngx_quit)
    {
        ngx_http_revoca_redis_close(conn);
        return;
    }

    if (c->read->timer_set) {
        ngx_del_timer(c->read);
    }

    if (c->write->timer_set) {
        ngx_del_timer(c->write);
    }

    c->read->handler = ngx_http_revoca_redis_idle_handler;
    c->write->handler = ngx_http_revoca_redis_dummy_handler;
    c->idle = 1;
    c->log = ngx_cycle->log;
    c->read->log = ngx_cycle->log;
    c->write->log = ngx_cycle->log;

    ngx_add_timer(c->read, rmcf->keepalive_timeout);

    ngx_queue_insert_head(&ngx_http_revoca_redis_servers[conn->server].idle,
                          &conn->queue);
    ngx_http_revoca_redis_nidle++;
}


static void
ngx_http_revoca_redis_idle_handler(ngx_event_t *rev)
{
    u_char                         buf[1];
    ssize_t                        n;
    ngx_connection_t              *c;
    ngx_http_revoca_redis_conn_t  *conn;

    c = rev->data;
    conn = c->data;

    if (c->close || rev->timedout) {
        goto close;
    }

    /* an idle connection has nothing to say; anything else ends it */

    n = c->recv(c, buf, 1);

    if (n == NGX_AGAIN) {
        if (ngx_handle_read_event(rev, 0) == NGX_OK) {
            return;
        }
    }

close:

    ngx_queue_remove(&conn->queue);
    ngx_http_revoca_redis_nidle--;
    ngx_http_revoca_redis_close(conn);
}


static void
ngx_http_revoca_redis_dummy_handler(ngx_event_t *ev)
{
}


static void
ngx_http_revoca_redis_close(ngx_http_revoca_redis_conn_t *conn)
{
    ngx_pool_t        *pool;
    ngx_connection_t  *c;

    c = conn->peer.connection;

    if (c) {
        if (c->ssl) {
            /* nothing more to say to Redis: no close_notify to wait for */
            c->ssl->no_wait_shutdown = 1;
            c->ssl->no_send_shutdown = 1;
            (void) ngx_ssl_shutdown(c);
        }

        pool = c->pool;
        ngx_close_connection(c);
        conn->peer.connection = NULL;

        if (pool) {
            ngx_destroy_pool(pool);
        }
    }

    if (conn->reader) {
        redisReaderFree(conn->reader);
    }

    ngx_free(conn);
}


/* the request's pool goes away: drop an unfinished query with it */

static void
ngx_http_revoca_redis_cleanup(void *data)
{
    ngx_http_revoca_redis_req_t *rr = data;

    ngx_uint_t  i;

    if (rr->conn) {
        rr->conn->rr = NULL;
        ngx_http_revoca_redis_close(rr->conn);
        rr->conn = NULL;
    }

    if (rr->probe && ngx_http_revoca_redis_servers) {
        ngx_http_revoca_redis_servers[rr->server].probing = 0;
        rr->probe = 0;
    }

    for (i = 0; i < rr->ngot; i++) {
        if (rr->replies[i]) {
            freeReplyObject(rr->replies[i]);
            rr->replies[i] = NULL;
        }
    }

    rr->ngot = 0;
}


ngx_http_revoca_redis_stream_t *
ngx_http_revoca_redis_stream_open(u_char *cmd, size_t len,
    ngx_http_revoca_redis_stream_pt handler, void *data)
{
    ngx_int_t                        server;
    ngx_http_revoca_redis_conn_t    *conn;
    ngx_http_revoca_redis_stream_t  *st;

    if (ngx_http_revoca_redis_servers == NULL) {
        return NULL;
    }

    st = ngx_calloc(sizeof(ngx_http_revoca_redis_stream_t), ngx_cycle->log);
    if (st == NULL) {
        return NULL;
    }

    st->rr.rmcf = ngx_http_revoca_redis_conf;
    st->rr.log = ngx_cycle->log;
    st->rr.cmd = cmd;
    st->rr.cmd_len = len;
    st->handler = handler;
    st->data = data;

    /* the first healthy server, without probing a skipped one */

    server = ngx_http_revoca_redis_pick(&st->rr, -1);

    if (st->rr.probe) {
        ngx_http_revoca_redis_servers[server].probing = 0;
        st->rr.probe = 0;
    }

    st->rr.server = (server == NGX_DECLINED) ? 0 : server;

    if (ngx_http_revoca_redis_connect(&st->rr, st) == NGX_ERROR) {
        ngx_free(st);
        return NULL;
    }

    conn = st->conn;

    /* closed as idle when the worker shuts down */
    conn->peer.connection->idle = 1;

    return st;
}


ngx_int_t
ngx_http_revoca_redis_stream_send(ngx_http_revoca_redis_stream_t *st,
    u_char *cmd, size_t len)
{
    ngx_http_revoca_redis_conn_t  *conn;

    conn = st->conn;

    if (!conn->connected || st->rr.sent < st->rr.cmd_len
        || (!conn->ready && ngx_http_revoca_redis_init_len))
    {
        return NGX_DECLINED;
    }

    st->rr.cmd = cmd;
    st->rr.cmd_len = len;
    st->rr.sent = 0;

    if (ngx_http_revoca_redis_send(conn) == NGX_ERROR) {
        ngx_log_error(NGX_LOG_ERR, ngx_cycle->log, ngx_socket_errno,
                      "revoca: redis %V send failed", conn->peer.name);
        ngx_http_revoca_redis_stream_lost(conn);
        return NGX_ERROR;
    }

    return NGX_OK;
}


void
ngx_http_revoca_redis_stream_close(ngx_http_revoca_redis_stream_t *st)
{
    st->conn->rr = NULL;
    st->conn->stream = NULL;
    ngx_http_revoca_redis_close(st->conn);
    ngx_free(st);
}


ngx_str_t *
ngx_http_revoca_redis_stream_server(ngx_http_revoca_redis_stream_t *st)
{
    return st->conn->peer.name;
}


static void
ngx_http_revoca_redis_stream_lost(ngx_http_revoca_redis_conn_t *conn)
{
    void                            *data;
    ngx_http_revoca_redis_stream_t  *st;
    ngx_http_revoca_redis_stream_pt  handler;

    st = conn->stream;
    handler = st->handler;
    data = st->data;

    ngx_http_revoca_redis_stream_close(st);

    (void) handler(data, NULL);
}
