
/*
 * A non-blocking Redis client on nginx's own event machinery, as nginx's
 * OCSP stapling client talks to an OCSP responder: ngx_event_connect_peer(),
 * a timer on every wait, and a per-worker pool of idle keepalive
 * connections.  hiredis is used only to format commands and to parse
 * replies; its async context is not, since it can neither time out nor be
 * cancelled when a request goes away (docs/dev/style.md).
 *
 * TLS (redis.tls) is in ngx_http_revoca_redis_ssl.c.
 *
 * Servers are in preference order, the first the local replica: a query
 * goes to the first healthy one; one that fails (connect, I/O, timeout, a
 * transient error reply) is retried once on the next, within the query's
 * deadline; a server failing NGX_HTTP_REVOCA_REDIS_FAILS times in a row
 * is skipped for a backoff (1 s doubling to 30 s, per worker), then
 * probed by one real query.  A lone server is never skipped: there is
 * nothing to fail over to, and skipping would only delay its recovery.
 */


#include "ngx_http_revoca_redis.h"


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


/*
 * A write query's replies (ngx_http_revoca_ingest.c): as above, and one
 * level deeper for XPENDING's extended form ([[ID, consumer, idle,
 * deliveries]]).
 */
static const ocsp_reply_limits_t  ngx_http_revoca_redis_write_limits = {
    NGX_HTTP_REVOCA_REDIS_ELEMENTS_MAX,    /* max_elements */
    2,                                     /* max_depth */
    NGX_HTTP_REVOCA_DER_MAX                /* max_string */
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
static ngx_int_t ngx_http_revoca_redis_next(ngx_http_revoca_redis_req_t *rr);
static ngx_int_t ngx_http_revoca_redis_connect(
    ngx_http_revoca_redis_req_t *rr, ngx_http_revoca_redis_stream_t *st);
static ngx_int_t ngx_http_revoca_redis_connected(
    ngx_http_revoca_redis_conn_t *conn);
static ngx_int_t ngx_http_revoca_redis_transient(
    ngx_http_revoca_redis_req_t *rr);
static void ngx_http_revoca_redis_send_failed(
    ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_idle_handler(ngx_event_t *rev);
static void ngx_http_revoca_redis_dummy_handler(ngx_event_t *ev);
static void ngx_http_revoca_redis_health(ngx_http_revoca_redis_req_t *rr,
    ngx_int_t rc);
static void ngx_http_revoca_redis_keep(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_close(ngx_http_revoca_redis_conn_t *conn);
static void ngx_http_revoca_redis_cleanup(void *data);
static void ngx_http_revoca_redis_stream_lost(
    ngx_http_revoca_redis_conn_t *conn);


/* error replies of a server that cannot answer now, where another could */
static ngx_str_t  ngx_http_revoca_redis_transients[] = {
    ngx_string("LOADING"),         /* loading its data */
    ngx_string("MASTERDOWN"),      /* a replica without its primary */
    ngx_string("BUSY"),            /* a script running */
    ngx_string("TRYAGAIN"),
    ngx_string("CLUSTERDOWN"),
    ngx_null_string
};


/* per-worker state */
static ngx_http_revoca_redis_health_t *ngx_http_revoca_redis_servers;
static ngx_uint_t                     ngx_http_revoca_redis_nidle;
static ngx_http_revoca_main_conf_t   *ngx_http_revoca_redis_conf;
static u_char                        *ngx_http_revoca_redis_init_cmd;
static size_t                         ngx_http_revoca_redis_init_len;
static ngx_uint_t                     ngx_http_revoca_redis_init_n;


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

    if (rr->many == NULL
        && rr->nreplies > sizeof(rr->replies) / sizeof(rr->replies[0]))
    {
        return NGX_ERROR;
    }

    cln = ngx_pool_cleanup_add(rr->pool, 0);
    if (cln == NULL) {
        return NGX_ERROR;
    }

    cln->handler = ngx_http_revoca_redis_cleanup;
    cln->data = rr;

    /* the whole query, fail-over included, fits in one attempt's time */

    rr->start = ngx_current_msec;
    rr->deadline = rr->start + rmcf->connect_timeout + rmcf->timeout
                   + rr->extra;
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

    /* could not even start: a failed attempt */

    ngx_http_revoca_redis_health(rr, NGX_ERROR);

    return ngx_http_revoca_redis_next(rr);
}


/*
 * After a failed attempt: once per query, the next healthy server, if the
 * deadline leaves time.  NGX_AGAIN: under way there; NGX_ERROR: the query
 * failed.
 */

static ngx_int_t
ngx_http_revoca_redis_next(ngx_http_revoca_redis_req_t *rr)
{
    ngx_int_t                        server;
    ngx_http_revoca_redis_server_t  *srv;

    /* a write has one place to go: the primary */

    if (rr->failed_over || rr->write
        || (ngx_msec_int_t) (rr->deadline - ngx_current_msec) <= 0)
    {
        return NGX_ERROR;
    }

    server = ngx_http_revoca_redis_pick(rr, rr->server);

    if (server == NGX_DECLINED) {
        return NGX_ERROR;
    }

    srv = rr->rmcf->servers->elts;

    ngx_log_error(NGX_LOG_WARN, rr->log, 0,
                  "revoca: redis query retried on %V", &srv[server].name);

    rr->server = server;
    rr->failed_over = 1;
    rr->afresh = 0;

    (void) ngx_atomic_fetch_add(
        &ngx_http_revoca_metrics_slot(rr->rmcf)->failovers, 1);

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
    ngx_http_revoca_redis_server_t  *srv;
    ngx_http_revoca_redis_health_t  *h;

    /*
     * A write goes to the primary (revoca_redis_primary), skipped or not:
     * there is no other to take it, and its failure is the client's 503.
     */

    if (rr->write) {
        return (rr->rmcf->write_server == NGX_CONF_UNSET_UINT)
               ? NGX_DECLINED : (ngx_int_t) rr->rmcf->write_server;
    }

    n = rr->rmcf->servers->nelts;
    srv = rr->rmcf->servers->elts;

    for (i = 0; i < n; i++) {

        /* the primary named only for writes answers no reads */

        if ((ngx_int_t) i == except || srv[i].write_only) {
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
    conn->guard.limits = rr->write ? ngx_http_revoca_redis_write_limits
                                   : ngx_http_revoca_redis_limits;
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
                                 rr->write
                                 ? &ngx_http_revoca_redis_write_limits
                                 : &ngx_http_revoca_redis_limits)
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


/* a wait's timer: TIMEOUT, but not past the query's deadline */

ngx_msec_t
ngx_http_revoca_redis_timer(ngx_http_revoca_redis_req_t *rr,
    ngx_msec_t timeout)
{
    ngx_msec_int_t  left;

    timeout += rr->extra;

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

ngx_int_t
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
            ngx_http_revoca_redis_send_failed(conn);
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


/*
 * A write failed.  Over TLS the server may have said why before it closed
 * the connection (an alert refusing the client's certificate, which TLS
 * 1.3 sends after the handshake): read back, that is the reason logged.
 */

static void
ngx_http_revoca_redis_send_failed(ngx_http_revoca_redis_conn_t *conn)
{
    u_char             buf[1];
    ngx_err_t          err;
    ngx_connection_t  *c;

    err = ngx_socket_errno;
    c = conn->peer.connection;

    if (c->ssl && conn->connected && c->recv(c, buf, 1) == NGX_ERROR
        && conn->tls_error[0])
    {
        ngx_log_error(NGX_LOG_ERR, c->log, 0,
                      "revoca: redis %V TLS read failed: %s",
                      conn->peer.name, conn->tls_error);
        return;
    }

    ngx_log_error(NGX_LOG_ERR, c->log, err, "revoca: redis %V send failed",
                  conn->peer.name);
}


void
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
        ngx_http_revoca_redis_done(conn, NGX_ERROR);
    }
}


void
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

            ngx_http_revoca_redis_replies(rr)[rr->ngot++] = r;
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
    ngx_uint_t                       i, k;
    redisReply                      *r;
    ngx_str_t                       *t;
    ngx_http_revoca_redis_server_t  *srv;

    srv = rr->rmcf->servers->elts;

    for (i = 0; i < rr->ngot; i++) {
        r = ngx_http_revoca_redis_replies(rr)[i];

        if (r->type != REDIS_REPLY_ERROR) {
            continue;
        }

        for (k = 0; ngx_http_revoca_redis_transients[k].len; k++) {
            t = &ngx_http_revoca_redis_transients[k];

            if (r->len > t->len
                && ngx_strncmp(r->str, t->data, t->len) == 0
                && r->str[t->len] == ' ')
            {
                ngx_log_error(NGX_LOG_ERR, rr->log, 0,
                              "revoca: redis %V cannot answer now: %*s",
                              &srv[rr->server].name,
                              ngx_min((size_t) r->len, 128), r->str);
                return NGX_ERROR;
            }
        }
    }

    return NGX_OK;
}


void
ngx_http_revoca_redis_done(ngx_http_revoca_redis_conn_t *conn, ngx_int_t rc)
{
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
            freeReplyObject(ngx_http_revoca_redis_replies(rr)[i]);
            ngx_http_revoca_redis_replies(rr)[i] = NULL;
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

    if (rc != NGX_OK && ngx_http_revoca_redis_next(rr) == NGX_AGAIN) {
        return;
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

    if ((n == 0 || n == NGX_ERROR)
        && ngx_http_revoca_redis_conf->cache_zone)
    {
        /*
         * The server closed an idle connection: it restarted, or Sentinel
         * made it a replica of a new primary (Sentinel closes the clients
         * of an instance it reconfigures, CLIENT KILL TYPE normal), e.g.
         * an old primary back after a network cut.  What was read from it
         * may predate the new primary's changes, whose invalidations went
         * elsewhere: the cached answers are read again, from a server
         * that serves (a resynchronising replica does not, with
         * replica-serve-stale-data no: docs/redis.md), and served from the
         * cache only while no server answers, as after revoca_cache_valid.
         */
        ngx_log_error(NGX_LOG_NOTICE, c->log, 0,
                      "revoca: redis %V closed an idle connection;"
                      " cached answers read again", conn->peer.name);
        ngx_http_revoca_cache_stale_before(
                                   ngx_http_revoca_redis_conf->cache_zone,
                                   ngx_time());
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
        if (ngx_http_revoca_redis_replies(rr)[i]) {
            freeReplyObject(ngx_http_revoca_redis_replies(rr)[i]);
            ngx_http_revoca_redis_replies(rr)[i] = NULL;
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
