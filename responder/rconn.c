#include "rconn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

/* Every wait (connecting, the TLS handshake, each read and write) is
 * bounded by this; a link that stalls longer is dropped. */
#define RCONN_TIMEOUT_MS 5000
/* A Sentinel is asked with a shorter bound: one that does not answer is
 * skipped for the next. */
#define RCONN_SENTINEL_TIMEOUT_MS 1000
#define RCONN_BACKOFF_MIN 100
#define RCONN_BACKOFF_MAX 5000
/* A failing connection logs at most one line per interval. */
#define RCONN_LOG_EVERY_MS 10000
/* Totals of one reply (reply_limits.h): an XREADGROUP batch of
 * SIGNER_BATCH_MAX entries is some 20 K objects, EXEC of its transaction
 * some 35 K; at most 40 MB of reply objects. */
#define RCONN_MAX_OBJECTS (512 * 1024)
#define RCONN_MAX_BYTES (64 * 1024 * 1024)
/* One read from the socket (or one TLS record's worth). */
#define RCONN_READ_CHUNK (16 * 1024)

struct ocsp_rlink_s {
    int fd;
    int timeout_ms; /* every wait on this link */
    SSL *ssl;       /* NULL: plain TCP or a unix socket */
    redisReader *reader;
    char *obuf; /* commands formatted, sent up to opos */
    size_t olen, opos, ocap;
};

const ocsp_reply_limits_t ocsp_reply_limits_default = {
    .max_elements = 256 * 1024,
    .max_depth = 6,
    .max_string = 8 * 1024 * 1024,
};

long ocsp_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ocsp_rconn_init(ocsp_rconn_t *conn, const ocsp_config_t *cf)
{
    memset(conn, 0, sizeof(*conn));
    conn->cf = cf;
    conn->limits = ocsp_reply_limits_default;
    conn->backoff_ms = RCONN_BACKOFF_MIN;
    conn->role = "redis";
    if (cf->redis_nsentinels == 0) {
        snprintf(conn->host, sizeof(conn->host), "%s", cf->redis_host);
        conn->port = cf->redis_port; /* 0: a unix socket */
    } else {
        /* until a Sentinel names the primary */
        snprintf(conn->host, sizeof(conn->host), "%s",
                 cf->redis_sentinels[0].host);
        conn->port = cf->redis_sentinels[0].port;
        conn->role = "redis sentinel";
    }
    /* A WAIT's reply comes up to wait_timeout later than any other. */
    conn->timeout_ms = RCONN_TIMEOUT_MS;
    if (cf->redis_min_replica_acks > 0) {
        conn->timeout_ms += (int)cf->redis_wait_timeout_ms;
    }
}

/* The totals follow the element bound: a reply of as many elements (and
 * their scores, say) still fits. */
static void rconn_totals(ocsp_rconn_t *conn)
{
    size_t objects = RCONN_MAX_OBJECTS;

    if (conn->limits.max_elements < (size_t)-1 / 2 &&
        2 * conn->limits.max_elements + 1 > objects) {
        objects = 2 * conn->limits.max_elements + 1;
    }
    ocsp_reply_guard_totals(&conn->guard, objects,
                            conn->limits.max_string > RCONN_MAX_BYTES
                                ? conn->limits.max_string
                                : RCONN_MAX_BYTES);
}

void ocsp_rconn_set_limits(ocsp_rconn_t *conn,
                           const ocsp_reply_limits_t *limits)
{
    conn->limits = *limits;
    if (conn->link != NULL) {
        conn->guard.limits = *limits;
        rconn_totals(conn);
    }
}

static void link_free(ocsp_rlink_t *link)
{
    if (link->ssl != NULL) {
        /* no close_notify: the link is dropped, maybe mid-reply */
        SSL_free(link->ssl);
    }
    if (link->fd >= 0) {
        close(link->fd);
    }
    if (link->reader != NULL) {
        redisReaderFree(link->reader);
    }
    free(link->obuf);
    free(link);
}

int ocsp_rconn_connected(const ocsp_rconn_t *conn)
{
    return conn->link != NULL;
}

void ocsp_rconn_drop(ocsp_rconn_t *conn)
{
    if (conn->link != NULL) {
        link_free(conn->link);
        conn->link = NULL;
    }
    conn->pending = 0;
}

void ocsp_rconn_close(ocsp_rconn_t *conn)
{
    ocsp_rconn_drop(conn);
    if (conn->tls != NULL) {
        SSL_CTX_free(conn->tls);
        conn->tls = NULL;
    }
}

/* Logs a failure, at most once per interval, with the count since. */
static void rconn_log_failure(ocsp_rconn_t *conn)
{
    long now = ocsp_now_ms();

    conn->unlogged++;
    if (conn->quiet ||
        (conn->logged_ms != 0 && now - conn->logged_ms < RCONN_LOG_EVERY_MS)) {
        return;
    }
    ocsp_log(OCSP_LOG_WARN,
             "redis lost host=%s port=%d err=\"%s\" repeated=%lu "
             "action=\"reconnect in %d ms\"",
             conn->host, conn->port, conn->err, conn->unlogged,
             conn->backoff_ms);
    conn->logged_ms = now;
    conn->unlogged = 0;
}

void ocsp_rconn_fail(ocsp_rconn_t *conn, const char *why)
{
    if (why != conn->err) {
        snprintf(conn->err, sizeof(conn->err), "%s", why);
    }
    ocsp_rconn_drop(conn);
    if (conn->discovering) {
        return; /* the next Sentinel is asked; rconn_discover() judges */
    }
    conn->failures++;
    conn->errors_total++;
    conn->retry_at_ms = ocsp_now_ms() + conn->backoff_ms;
    rconn_log_failure(conn);
    conn->backoff_ms *= 2;
    if (conn->backoff_ms > RCONN_BACKOFF_MAX) {
        conn->backoff_ms = RCONN_BACKOFF_MAX;
    }
}

void ocsp_rconn_fail_reply(ocsp_rconn_t *conn, const char *what,
                           const redisReply *r)
{
    char why[OCSP_ERR_MAX];
    int is_text = r != NULL && (r->type == REDIS_REPLY_ERROR ||
                                r->type == REDIS_REPLY_STATUS);

    snprintf(why, sizeof(why), "%s: %.*s", what,
             is_text ? (int)(r->len > 200 ? 200 : r->len) : 16,
             is_text ? r->str : "unexpected reply");
    ocsp_rconn_fail(conn, why);
}

/* A reply that is not an error came: the link works again.  Not while
 * connecting: a server that answers AUTH and then turns out a replica
 * (ROLE) keeps backing off. */
static void rconn_recovered(ocsp_rconn_t *conn)
{
    if (conn->connecting) {
        return;
    }
    if (!conn->quiet) {
        ocsp_log(OCSP_LOG_INFO,
                 "redis recovered host=%s port=%d failures=%lu "
                 "last_err=\"%s\"",
                 conn->host, conn->port, conn->failures, conn->err);
    }
    conn->failures = 0;
    conn->unlogged = 0;
    conn->logged_ms = 0;
    conn->backoff_ms = RCONN_BACKOFF_MIN;
    conn->retry_at_ms = 0;
}

/* "redis HOST:PORT", "redis sentinel HOST:PORT" (IPv6 in brackets) or
 * "redis PATH": whom an error is about. */
static void rconn_where(const ocsp_rconn_t *conn, char *buf, size_t size)
{
    if (conn->port == 0) {
        snprintf(buf, size, "%s %s", conn->role, conn->host);
    } else if (strchr(conn->host, ':') != NULL) {
        snprintf(buf, size, "%s [%s]:%d", conn->role, conn->host, conn->port);
    } else {
        snprintf(buf, size, "%s %s:%d", conn->role, conn->host, conn->port);
    }
}

/* ocsp_rconn_fail() with "redis HOST:PORT: " and a formatted reason. */
static void rconn_failf(ocsp_rconn_t *conn, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void rconn_failf(ocsp_rconn_t *conn, const char *fmt, ...)
{
    char why[OCSP_ERR_MAX];
    size_t n;
    va_list ap;

    rconn_where(conn, why, sizeof(why));
    n = strlen(why);
    if (n + 2 < sizeof(why)) {
        memcpy(why + n, ": ", 3);
        n += 2;
        va_start(ap, fmt);
        vsnprintf(why + n, sizeof(why) - n, fmt, ap);
        va_end(ap);
    }
    ocsp_rconn_fail(conn, why);
}

/* A command whose reply must not be an error; used while setting up. */
static int rconn_setup(ocsp_rconn_t *conn, int argc, const char **argv)
{
    redisReply *r;

    if (ocsp_rconn_append(conn, argc, argv, NULL) != 0 ||
        (r = ocsp_rconn_reply(conn)) == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rconn_failf(conn, "%s: %.*s", argv[0],
                    (int)(r->len > 200 ? 200 : r->len), r->str);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

/* OpenSSL's reason for the last failure: its error queue's first entry,
 * with the verification result when the peer's certificate was refused
 * ("certificate verify failed (hostname mismatch)"). */
static void tls_reason(SSL *ssl, int ret, char *buf, size_t size)
{
    unsigned long e = ERR_peek_error();
    int err = ssl != NULL ? SSL_get_error(ssl, ret) : SSL_ERROR_SSL;
    const char *r;

    if (err == SSL_ERROR_ZERO_RETURN) {
        snprintf(buf, size, "connection closed by the server");
    } else if (e == 0 && err == SSL_ERROR_SYSCALL) {
        snprintf(buf, size, "%s",
                 errno != 0 && ret != 0 ? strerror(errno)
                                        : "connection closed by the server");
    } else if (e == 0) {
        snprintf(buf, size, "TLS error %d", err);
    } else {
        r = ERR_reason_error_string(e);
        if (r == NULL) {
            ERR_error_string_n(e, buf, size);
        } else {
            snprintf(buf, size, "%s", r);
        }
        if (ssl != NULL &&
            ERR_GET_REASON(e) == SSL_R_CERTIFICATE_VERIFY_FAILED) {
            size_t n = strlen(buf);
            snprintf(buf + n, size - n, " (%s)",
                     X509_verify_cert_error_string(SSL_get_verify_result(ssl)));
        }
    }
    ERR_clear_error();
}

/* The process's TLS client context for cf: the server verified against
 * tls_ca (its name is set per connection), TLS 1.2 at least, the client
 * certificate and key if configured.  0, or -1 (the connection failed). */
static int rconn_tls_ctx(ocsp_rconn_t *conn)
{
    const ocsp_config_t *cf = conn->cf;
    SSL_CTX *ctx = NULL;
    char reason[256];
    const char *what, *file = "";

    ERR_clear_error();
    what = "cannot create a TLS context";
    ctx = SSL_CTX_new(TLS_client_method());
    if (ctx == NULL) {
        goto failed;
    }
    /* RFC 8996: nothing older than TLS 1.2 */
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
        goto failed;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
                              SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    what = "cannot load tls_ca ";
    file = cf->redis_tls_ca;
    if (SSL_CTX_load_verify_locations(ctx, cf->redis_tls_ca, NULL) != 1) {
        goto failed;
    }
    if (cf->redis_tls_cert != NULL) {
        what = "cannot load tls_cert ";
        file = cf->redis_tls_cert;
        if (SSL_CTX_use_certificate_chain_file(ctx, cf->redis_tls_cert) != 1) {
            goto failed;
        }
        what = "cannot load tls_key ";
        file = cf->redis_tls_key;
        if (SSL_CTX_use_PrivateKey_file(ctx, cf->redis_tls_key,
                                        SSL_FILETYPE_PEM) != 1) {
            goto failed;
        }
        what = "tls_key does not match tls_cert";
        file = "";
        if (SSL_CTX_check_private_key(ctx) != 1) {
            goto failed;
        }
    }
    conn->tls = ctx;
    return 0;

failed:
    tls_reason(NULL, 0, reason, sizeof(reason));
    SSL_CTX_free(ctx);
    rconn_failf(conn, "TLS: %s%s: %s", what, file, reason);
    return -1;
}

/* Waits until FD is ready for EVENTS, at most MS.  0, or -1 with errno
 * (ETIMEDOUT when it was not ready in time). */
static int link_wait(int fd, short events, int ms)
{
    struct pollfd p = {.fd = fd, .events = events};
    long deadline = ocsp_now_ms() + ms;

    for (;;) {
        long left = deadline - ocsp_now_ms();
        int n;

        if (left <= 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        n = poll(&p, 1, (int)left);
        if (n > 0) {
            return 0;
        }
        if (n == 0) {
            errno = ETIMEDOUT;
            return -1;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}

/* A non-blocking stream socket connected to HOST:PORT (PORT 0: HOST is a
 * unix socket's path) within MS, or -1 with the reason in WHY. */
static int link_socket(const char *host, int port_no, int ms, char *why,
                       size_t size)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res = NULL, *ai;
    char port[8];
    int fd = -1, rv, soerr = 0;
    socklen_t len = sizeof(soerr);

    if (port_no == 0) {
        struct sockaddr_un sun = {.sun_family = AF_UNIX};
        if (strlen(host) >= sizeof(sun.sun_path)) {
            snprintf(why, size, "connect: socket path too long");
            return -1;
        }
        memcpy(sun.sun_path, host, strlen(host) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        /* a unix socket connects at once, or fails (EAGAIN: backlog full,
         * retried after the backoff like any failure) */
        if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) != 0) {
            goto failed;
        }
        return fd;
    }
    snprintf(port, sizeof(port), "%d", port_no);
    hints.ai_flags = AI_NUMERICSERV;
    rv = getaddrinfo(host, port, &hints, &res);
    if (rv != 0) {
        snprintf(why, size, "connect: %s", gai_strerror(rv));
        return -1;
    }
    errno = 0;
    for (ai = res; ai != NULL; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    0);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 ||
            (errno == EINPROGRESS && link_wait(fd, POLLOUT, ms) == 0 &&
             getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 &&
             (errno = soerr) == 0)) {
            int one = 1;
            /* commands are written whole: no Nagle delay (as hiredis) */
            (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
            freeaddrinfo(res);
            return fd;
        }
        rv = errno;
        close(fd);
        fd = -1;
        errno = rv;
    }
    freeaddrinfo(res);
failed:
    snprintf(why, size, "connect: %s",
             errno == ETIMEDOUT ? "timed out" : strerror(errno));
    if (fd >= 0) {
        close(fd);
    }
    return -1;
}

/* Waits for what SSL_ERROR_WANT_* asks for; 0 to retry, -1 otherwise. */
static int link_tls_wait(ocsp_rlink_t *link, int ret)
{
    switch (SSL_get_error(link->ssl, ret)) {
    case SSL_ERROR_WANT_READ:
        return link_wait(link->fd, POLLIN, link->timeout_ms);
    case SSL_ERROR_WANT_WRITE:
        return link_wait(link->fd, POLLOUT, link->timeout_ms);
    default:
        return -1;
    }
}

/* The TLS handshake on conn->link, the server's certificate verified for
 * tls_server_name, else the host connected to.  0, or -1 (the connection
 * failed). */
static int link_tls(ocsp_rconn_t *conn)
{
    ocsp_rlink_t *link = conn->link;
    const char *name = conn->cf->redis_tls_server_name != NULL
                           ? conn->cf->redis_tls_server_name
                           : conn->host;
    unsigned char ip[16];
    char reason[256];
    int ret, is_ip;

    ERR_clear_error();
    link->ssl = SSL_new(conn->tls);
    if (link->ssl == NULL || SSL_set_fd(link->ssl, link->fd) != 1) {
        tls_reason(NULL, 0, reason, sizeof(reason));
        rconn_failf(conn, "TLS: %s", reason);
        return -1;
    }
    is_ip =
        inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
    if (is_ip) {
        /* RFC 6125 / RFC 5280: an address is matched against iPAddress */
        ret = X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(link->ssl), name);
    } else {
        /* RFC 6066 3: SNI carries a host name, never an address */
        ret = SSL_set_tlsext_host_name(link->ssl, name) == 1 &&
              SSL_set1_host(link->ssl, name) == 1;
    }
    if (ret != 1) {
        tls_reason(NULL, 0, reason, sizeof(reason));
        rconn_failf(conn, "TLS: cannot verify the name \"%s\": %s", name,
                    reason);
        return -1;
    }
    for (;;) {
        ERR_clear_error();
        errno = 0;
        ret = SSL_connect(link->ssl);
        if (ret == 1) {
            return 0;
        }
        if (link_tls_wait(link, ret) != 0) {
            break;
        }
    }
    if (errno == ETIMEDOUT) {
        snprintf(reason, sizeof(reason), "timed out");
        ERR_clear_error();
    } else {
        tls_reason(link->ssl, ret, reason, sizeof(reason));
    }
    rconn_failf(conn, "TLS handshake failed: %s", reason);
    return -1;
}

/* Where a link goes and how it logs in: redis.* for Redis, the
 * sentinel_* settings for a Sentinel. */
typedef struct {
    const char *role; /* "redis", "redis sentinel" */
    const char *host;
    int port; /* 0: host is a unix socket's path */
    int tls;
    const char *user, *password;
    int db;
    int timeout_ms;
} rconn_target_t;

/* Opens conn->link to T: socket, TLS, AUTH, SELECT.  0, or -1 (the
 * connection failed, conn->err naming T). */
static int rconn_open(ocsp_rconn_t *conn, const rconn_target_t *t)
{
    char db[16], why[OCSP_ERR_MAX / 2];
    ocsp_rlink_t *link;

    conn->role = t->role;
    snprintf(conn->host, sizeof(conn->host), "%s", t->host);
    conn->port = t->port;
    conn->pending = 0;
    if (t->tls && conn->tls == NULL && rconn_tls_ctx(conn) != 0) {
        return -1;
    }
    link = calloc(1, sizeof(*link));
    if (link == NULL) {
        rconn_failf(conn, "out of memory");
        return -1;
    }
    link->fd = -1;
    link->timeout_ms = t->timeout_ms;
    link->reader = redisReaderCreate();
    if (link->reader == NULL) {
        link_free(link);
        rconn_failf(conn, "out of memory");
        return -1;
    }
    conn->link = link;
    if (ocsp_reply_guard_install(&conn->guard, link->reader, &conn->limits) !=
        0) {
        rconn_failf(conn, "the reader cannot be bounded");
        return -1;
    }
    rconn_totals(conn);
    link->fd = link_socket(t->host, t->port, t->timeout_ms, why, sizeof(why));
    if (link->fd < 0) {
        rconn_failf(conn, "%s", why);
        return -1;
    }
    if (t->tls && link_tls(conn) != 0) {
        return -1;
    }
    if (t->password != NULL) {
        const char *argv[3] = {"AUTH", t->user, t->password};
        int argc = 3;
        if (t->user == NULL) {
            argv[1] = t->password;
            argc = 2;
        }
        if (rconn_setup(conn, argc, argv) != 0) {
            return -1;
        }
    }
    if (t->db != 0) {
        const char *argv[2] = {"SELECT", db};
        snprintf(db, sizeof(db), "%d", t->db);
        if (rconn_setup(conn, 2, argv) != 0) {
            return -1;
        }
    }
    if (t->tls && t->password == NULL && t->db == 0) {
        /* TLS 1.3: a server that refuses our certificate (or its lack)
         * says so after the handshake; hear it now, not on a command. */
        const char *argv[1] = {"PING"};
        if (rconn_setup(conn, 1, argv) != 0) {
            return -1;
        }
    }
    conn->connects_total++;
    return 0;
}

/* 1 if the LEN bytes at S are a host as Sentinel names one: a DNS name or
 * an IP address, nothing that could be read as something else. */
static int sentinel_host_valid(const char *s, size_t len)
{
    if (len == 0 || len > 253) {
        return 0;
    }
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_' ||
              c == ':')) {
            return 0;
        }
    }
    return 1;
}

/*
 * The primary's address from the Sentinel conn is connected to: SENTINEL
 * get-master-addr-by-name.  0 with HOST (OCSP_RCONN_HOST_MAX) and *PORT, or -1
 * (the connection failed, conn->err naming the Sentinel).
 */
static int sentinel_ask(ocsp_rconn_t *conn, char *host, int *port)
{
    const char *argv[] = {"SENTINEL", "get-master-addr-by-name",
                          conn->cf->redis_master_name};
    redisReply *r = ocsp_rconn_cmd(conn, 3, argv, NULL);
    int64_t p;

    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_NIL ||
        (r->type == REDIS_REPLY_ARRAY && r->elements == 0)) {
        rconn_failf(conn, "does not monitor a master named \"%s\"",
                    conn->cf->redis_master_name);
        freeReplyObject(r);
        return -1;
    }
    if (r->type == REDIS_REPLY_ERROR) {
        rconn_failf(conn, "SENTINEL get-master-addr-by-name: %.*s",
                    (int)(r->len > 200 ? 200 : r->len), r->str);
        freeReplyObject(r);
        return -1;
    }
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING ||
        !sentinel_host_valid(r->element[0]->str, r->element[0]->len) ||
        ocsp_reply_int64(r->element[1], 1, &p) != 0 || p > 65535) {
        rconn_failf(conn, "SENTINEL get-master-addr-by-name: not an "
                          "address");
        freeReplyObject(r);
        return -1;
    }
    memcpy(host, r->element[0]->str, r->element[0]->len);
    host[r->element[0]->len] = '\0';
    *port = (int)p;
    freeReplyObject(r);
    ocsp_rconn_drop(conn);
    return 0;
}

/*
 * Asks the Sentinels in turn, the one that answered last first, for the
 * primary of redis.master_name; a Sentinel that fails is skipped (logged,
 * rate-limited).  0 with HOST and *PORT, or -1: none answered, a failure
 * of the policy (backoff) naming the last one's reason.
 */
static int rconn_discover(ocsp_rconn_t *conn, char *host, int *port)
{
    const ocsp_config_t *cf = conn->cf;
    size_t n = cf->redis_nsentinels, k;
    char last[OCSP_ERR_MAX];

    conn->discovering = 1;
    for (k = 0; k < n; k++) {
        size_t i = (conn->sentinel_at + k) % n;
        const rconn_target_t t = {"redis sentinel",
                                  cf->redis_sentinels[i].host,
                                  cf->redis_sentinels[i].port,
                                  cf->redis_sentinel_tls,
                                  cf->redis_sentinel_user,
                                  cf->redis_sentinel_password,
                                  0,
                                  RCONN_SENTINEL_TIMEOUT_MS};

        if (rconn_open(conn, &t) == 0 && sentinel_ask(conn, host, port) == 0) {
            conn->sentinel_at = i;
            conn->discovering = 0;
            return 0;
        }
        if (!conn->quiet &&
            (conn->sentinel_logged_ms == 0 ||
             ocsp_now_ms() - conn->sentinel_logged_ms >= RCONN_LOG_EVERY_MS)) {
            ocsp_log(OCSP_LOG_WARN,
                     "redis sentinel skipped host=%s port=%d err=\"%s\"",
                     t.host, t.port, conn->err);
            conn->sentinel_logged_ms = ocsp_now_ms();
        }
    }
    conn->discovering = 0;
    snprintf(last, sizeof(last), "%s", conn->err);
    snprintf(conn->err, sizeof(conn->err),
             "redis sentinels: none of %zu named the primary of \"%s\" "
             "(last: %.400s)",
             n, cf->redis_master_name, last);
    ocsp_rconn_fail(conn, conn->err);
    return -1;
}

/* ROLE on a primary a Sentinel named: a replica (the Sentinel's view is
 * stale, or a failover is under way) is dropped with a backoff, and the
 * next connection asks the Sentinels again.  0, or -1. */
static int rconn_check_role(ocsp_rconn_t *conn)
{
    const char *argv[] = {"ROLE"};
    redisReply *r = ocsp_rconn_cmd(conn, 1, argv, NULL);
    const redisReply *e;

    if (r == NULL) {
        return -1;
    }
    e = r->type == REDIS_REPLY_ARRAY && r->elements > 0 ? r->element[0] : NULL;
    if (e == NULL || e->type != REDIS_REPLY_STRING || e->len != 6 ||
        memcmp(e->str, "master", 6) != 0) {
        if (r->type == REDIS_REPLY_ERROR) {
            rconn_failf(conn, "ROLE: %.*s", (int)(r->len > 200 ? 200 : r->len),
                        r->str);
        } else {
            rconn_failf(conn,
                        "ROLE: %.*s, not the primary (the Sentinels' answer "
                        "is stale or a failover is under way)",
                        e && e->type == REDIS_REPLY_STRING
                            ? (int)(e->len > 16 ? 16 : e->len)
                            : 1,
                        e && e->type == REDIS_REPLY_STRING ? e->str : "?");
        }
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    return 0;
}

int ocsp_rconn_connect(ocsp_rconn_t *conn)
{
    const ocsp_config_t *cf = conn->cf;
    rconn_target_t t = {"redis",       cf->redis_host,  cf->redis_port,
                        cf->redis_tls, cf->redis_user,  cf->redis_password,
                        cf->redis_db,  RCONN_TIMEOUT_MS};
    char host[OCSP_RCONN_HOST_MAX];
    int port, rv;

    if (conn->link != NULL) {
        return 0;
    }
    conn->pending = 0;
    t.timeout_ms = conn->timeout_ms;
    conn->connecting = 1;
    if (cf->redis_nsentinels == 0) {
        rv = rconn_open(conn, &t);
    } else if ((rv = rconn_discover(conn, host, &port)) == 0) {
        t.host = host;
        t.port = port;
        rv = rconn_open(conn, &t) != 0 || rconn_check_role(conn) != 0 ? -1 : 0;
        if (rv != 0) {
            /* a Sentinel whose answer failed is not asked first again:
             * one with a stale view must not hide the others */
            conn->sentinel_at = (conn->sentinel_at + 1) % cf->redis_nsentinels;
        }
    }
    conn->connecting = 0;
    return rv;
}

/* Sleeps until UNTIL (monotonic ms), *stop or DEADLINE (0: none). */
static void rconn_wait(long until, volatile int *stop, long deadline_ms)
{
    long now;

    if (deadline_ms != 0 && deadline_ms < until) {
        until = deadline_ms;
    }
    while ((now = ocsp_now_ms()) < until && !(stop && *stop)) {
        long ms = until - now;
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
        nanosleep(&ts, NULL); /* a signal cuts it short: *stop is seen */
    }
}

int ocsp_rconn_ensure(ocsp_rconn_t *conn, volatile int *stop, long deadline_ms)
{
    for (;;) {
        if (conn->link != NULL) {
            return 0;
        }
        if (conn->retry_at_ms != 0) {
            rconn_wait(conn->retry_at_ms, stop, deadline_ms);
        }
        if ((stop && *stop) ||
            (deadline_ms != 0 && ocsp_now_ms() >= deadline_ms)) {
            if (conn->err[0] == '\0') {
                snprintf(conn->err, sizeof(conn->err), "redis: not connected");
            }
            return -1;
        }
        if (ocsp_rconn_connect(conn) == 0) {
            return 0;
        }
    }
}

int ocsp_rconn_append(ocsp_rconn_t *conn, int argc, const char **argv,
                      const size_t *argvlen)
{
    ocsp_rlink_t *link = conn->link;
    char *cmd;
    int n;

    if (link == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    n = redisFormatCommandArgv(&cmd, argc, argv, argvlen);
    if (n < 0) {
        rconn_failf(conn, "out of memory");
        return -1;
    }
    if (link->ocap - link->olen < (size_t)n) {
        size_t cap = link->ocap ? link->ocap : 4096;
        char *p;
        while (cap - link->olen < (size_t)n) {
            cap *= 2;
        }
        p = realloc(link->obuf, cap);
        if (p == NULL) {
            redisFreeCommand(cmd);
            rconn_failf(conn, "out of memory");
            return -1;
        }
        link->obuf = p;
        link->ocap = cap;
    }
    memcpy(link->obuf + link->olen, cmd, (size_t)n);
    link->olen += (size_t)n;
    redisFreeCommand(cmd);
    conn->pending++;
    return 0;
}

/* A reply the reader could not parse, or one over the limits. */
static void rconn_io_failed(ocsp_rconn_t *conn)
{
    if (conn->guard.refused) {
        rconn_failf(conn, "%s",
                    ocsp_reply_guard_error(&conn->guard, conn->link->reader));
    } else {
        rconn_failf(conn, "%s", conn->link->reader->errstr);
    }
}

/*
 * 1 if a TLS alert from the server is waiting, with its reason now on
 * OpenSSL's error queue.  A server that refuses the client (TLS 1.3: no
 * client certificate, or one it does not trust) sends an alert after the
 * handshake and closes; a write racing that close fails with ECONNRESET,
 * but the alert, sent first, is still in the socket's receive queue.
 */
static int link_tls_alert(ocsp_rlink_t *link)
{
    char byte;
    int n;

    ERR_clear_error();
    n = SSL_read(link->ssl, &byte, 1);
    return n <= 0 && SSL_get_error(link->ssl, n) == SSL_ERROR_SSL &&
           ERR_peek_error() != 0;
}

/* An I/O failure of the link: errno's or OpenSSL's reason. */
static void link_failed(ocsp_rconn_t *conn, const char *what, int ret)
{
    char reason[256];

    if (errno == ETIMEDOUT) {
        snprintf(reason, sizeof(reason), "timed out after %d ms",
                 conn->link->timeout_ms);
        ERR_clear_error();
    } else if (conn->link->ssl != NULL) {
        tls_reason(conn->link->ssl, ret, reason, sizeof(reason));
        if (strcmp(what, "write") == 0 && link_tls_alert(conn->link)) {
            /* the server's own reason came before it reset the link */
            tls_reason(conn->link->ssl, -1, reason, sizeof(reason));
            what = "read";
        }
    } else if (ret == 0) {
        snprintf(reason, sizeof(reason), "connection closed by the server");
    } else {
        snprintf(reason, sizeof(reason), "%s", strerror(errno));
    }
    rconn_failf(conn, "%s%s: %s", conn->link->ssl ? "TLS " : "", what, reason);
}

/* Reads once (waiting up to the timeout) and feeds the reader.  0, or -1
 * (the connection failed). */
static int link_read(ocsp_rconn_t *conn)
{
    ocsp_rlink_t *link = conn->link;
    char buf[RCONN_READ_CHUNK];
    ssize_t n;

    for (;;) {
        errno = 0;
        if (link->ssl != NULL) {
            ERR_clear_error();
            n = SSL_read(link->ssl, buf, sizeof(buf));
            if (n > 0) {
                break;
            }
            if (link_tls_wait(link, (int)n) == 0) {
                continue;
            }
        } else {
            n = recv(link->fd, buf, sizeof(buf), 0);
            if (n > 0) {
                break;
            }
            if (n < 0 &&
                (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
                if (errno == EINTR ||
                    link_wait(link->fd, POLLIN, link->timeout_ms) == 0) {
                    continue;
                }
            }
        }
        link_failed(conn, "read", (int)n);
        return -1;
    }
    if (redisReaderFeed(link->reader, buf, (size_t)n) != REDIS_OK) {
        rconn_io_failed(conn);
        return -1;
    }
    return 0;
}

int ocsp_rconn_flush(ocsp_rconn_t *conn)
{
    ocsp_rlink_t *link = conn->link;

    if (link == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    while (link->opos < link->olen) {
        size_t left = link->olen - link->opos;
        ssize_t n;

        errno = 0;
        if (link->ssl != NULL) {
            ERR_clear_error();
            n = SSL_write(link->ssl, link->obuf + link->opos,
                          left > INT32_MAX ? INT32_MAX : (int)left);
            if (n <= 0) {
                if (link_tls_wait(link, (int)n) == 0) {
                    continue;
                }
                link_failed(conn, "write", (int)n);
                return -1;
            }
        } else {
            /* MSG_NOSIGNAL: a closed peer is an error, not SIGPIPE */
            n = send(link->fd, link->obuf + link->opos, left, MSG_NOSIGNAL);
            if (n < 0) {
                if (errno == EINTR ||
                    ((errno == EAGAIN || errno == EWOULDBLOCK) &&
                     link_wait(link->fd, POLLOUT, link->timeout_ms) == 0)) {
                    continue;
                }
                link_failed(conn, "write", -1);
                return -1;
            }
        }
        link->opos += (size_t)n;
    }
    link->opos = link->olen = 0;
    return 0;
}

size_t ocsp_rconn_queued(const ocsp_rconn_t *conn)
{
    return conn->link != NULL ? conn->link->olen - conn->link->opos : 0;
}

size_t ocsp_rconn_pending(const ocsp_rconn_t *conn)
{
    return conn->pending;
}

int ocsp_reply_transient(const redisReply *r)
{
    static const char *const codes[] = {
        "LOADING ",  "BUSY ",     "OOM ",         "MASTERDOWN ", "MISCONF ",
        "READONLY ", "TRYAGAIN ", "CLUSTERDOWN ", "NOREPLICAS ", NULL};

    if (r == NULL || r->type != REDIS_REPLY_ERROR) {
        return 0;
    }
    for (size_t i = 0; codes[i] != NULL; i++) {
        size_t n = strlen(codes[i]);
        /* the code alone, or followed by its text */
        if ((r->len >= n && memcmp(r->str, codes[i], n) == 0) ||
            (r->len == n - 1 && memcmp(r->str, codes[i], n - 1) == 0)) {
            return 1;
        }
    }
    return 0;
}

/* A reply may be read: connected, and one asked for. */
static int reply_expected(ocsp_rconn_t *conn)
{
    if (conn->link == NULL) {
        snprintf(conn->err, sizeof(conn->err), "redis: not connected");
        return -1;
    }
    if (conn->pending == 0) {
        ocsp_rconn_fail(conn, "redis: a reply read that was not asked for");
        return -1;
    }
    return 0;
}

redisReply *ocsp_rconn_reply(ocsp_rconn_t *conn)
{
    redisReader *reader;
    void *reply = NULL;

    if (reply_expected(conn) != 0) {
        return NULL;
    }
    reader = conn->link->reader;
    if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
        goto failed;
    }
    if (reply == NULL && ocsp_rconn_flush(conn) != 0) {
        return NULL;
    }
    while (reply == NULL) {
        if (link_read(conn) != 0) {
            return NULL;
        }
        if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
            goto failed;
        }
        /* hiredis holds a bulk string until it is whole */
        if (reply == NULL &&
            ocsp_reply_guard_check(&conn->guard, reader) != 0) {
            goto failed;
        }
    }
    conn->pending--;
    if (((redisReply *)reply)->type == REDIS_REPLY_ERROR) {
        if (ocsp_reply_transient(reply)) {
            redisReply *e = reply;
            rconn_failf(conn, "%.*s", (int)(e->len > 200 ? 200 : e->len),
                        e->str);
            freeReplyObject(reply);
            return NULL;
        }
    } else if (conn->failures != 0) {
        rconn_recovered(conn);
    }
    return reply;

failed:
    rconn_io_failed(conn);
    return NULL;
}

int ocsp_rconn_skip(ocsp_rconn_t *conn, size_t n)
{
    int rv = 0;

    for (size_t i = 0; i < n; i++) {
        redisReply *r = ocsp_rconn_reply(conn);

        if (r == NULL) {
            return -1;
        }
        if (r->type == REDIS_REPLY_ERROR && rv == 0) {
            snprintf(conn->err, sizeof(conn->err), "redis: %.*s",
                     (int)(r->len > 200 ? 200 : r->len), r->str);
            rv = 1;
        }
        freeReplyObject(r);
    }
    return rv;
}

void *ocsp_rconn_reply_decode(ocsp_rconn_t *conn,
                              redisReplyObjectFunctions *fns, void *privdata,
                              int (*progress)(void *privdata))
{
    ocsp_reply_guard_t *g = &conn->guard;
    const redisReplyObjectFunctions *inner;
    void (*free_object)(void *);
    void *inner_privdata, *reply = NULL;
    redisReader *reader;

    if (reply_expected(conn) != 0) {
        return NULL;
    }
    if (ocsp_rconn_flush(conn) != 0) {
        return NULL;
    }
    reader = conn->link->reader;
    /* FNS build under the guard: the limits still bound the reply. */
    inner = g->inner;
    inner_privdata = g->inner_privdata;
    free_object = g->fns.freeObject;
    g->inner = fns;
    g->inner_privdata = privdata;
    g->fns.freeObject = fns->freeObject;
    for (;;) {
        if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
            goto failed;
        }
        if (reply != NULL) {
            break;
        }
        /* what is parsed so far, before more is read (reply_limits.h) */
        if (ocsp_reply_guard_check(g, reader) != 0) {
            goto failed;
        }
        if (progress != NULL && progress(privdata) != 0) {
            if (conn->link != NULL) {
                rconn_failf(conn, "reply decoding stopped");
            }
            goto restore;
        }
        if (link_read(conn) != 0) {
            /* dropped with FNS's freeObject in place */
            reply = NULL;
            goto restore;
        }
    }
    conn->pending--;
    if (conn->failures != 0) {
        rconn_recovered(conn);
    }
    goto restore;

failed:
    /* dropped with FNS's freeObject in place: a partial reply is FNS's */
    if (!g->refused && reader->err == REDIS_ERR_OOM) {
        rconn_failf(conn, "reply refused by its decoder");
    } else {
        rconn_io_failed(conn);
    }
    reply = NULL;
restore:
    g->inner = inner;
    g->inner_privdata = inner_privdata;
    g->fns.freeObject = free_object;
    return reply;
}

redisReply *ocsp_rconn_cmd(ocsp_rconn_t *conn, int argc, const char **argv,
                           const size_t *argvlen)
{
    if (conn->link != NULL && conn->pending != 0) {
        ocsp_rconn_fail(conn, "redis: a command sent with replies pending");
        return NULL;
    }
    if (ocsp_rconn_append(conn, argc, argv, argvlen) != 0) {
        return NULL;
    }
    return ocsp_rconn_reply(conn);
}

int ocsp_parse_int64(const char *s, size_t len, int64_t min, int64_t *v)
{
    uint64_t limit, acc = 0;
    size_t i = 0;
    int neg = 0;

    if (len > 0 && s[0] == '-') {
        neg = 1;
        i = 1;
    }
    /* digits only; "0" alone, never "-0" or a leading zero */
    if (i == len || (s[i] == '0' && (len - i > 1 || neg))) {
        return -1;
    }
    limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9 || acc > (limit - d) / 10) {
            return -1;
        }
        acc = acc * 10 + d;
    }
    {
        int64_t x =
            neg ? (acc == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)acc)
                : (int64_t)acc;
        if (x < min) {
            return -1;
        }
        *v = x;
    }
    return 0;
}

int ocsp_reply_int64(const redisReply *r, int64_t min, int64_t *v)
{
    if (r == NULL) {
        return -1;
    }
    if (r->type == REDIS_REPLY_INTEGER) {
        if (r->integer < min) {
            return -1;
        }
        *v = r->integer;
        return 0;
    }
    if (r->type != REDIS_REPLY_STRING) {
        return -1;
    }
    return ocsp_parse_int64(r->str, r->len, min, v);
}

int ocsp_rconn_wait_wanted(const ocsp_rconn_t *conn)
{
    return conn->cf->redis_min_replica_acks > 0;
}

int ocsp_rconn_append_wait(ocsp_rconn_t *conn)
{
    char n[16], ms[24];
    const char *argv[] = {"WAIT", n, ms};

    if (!ocsp_rconn_wait_wanted(conn)) {
        return 0;
    }
    snprintf(n, sizeof(n), "%d", conn->cf->redis_min_replica_acks);
    snprintf(ms, sizeof(ms), "%ld", conn->cf->redis_wait_timeout_ms);
    return ocsp_rconn_append(conn, 3, argv, NULL) == 0 ? 1 : -1;
}

int ocsp_rconn_wait_result(ocsp_rconn_t *conn, const redisReply *r,
                           long long *acked)
{
    int want = conn->cf->redis_min_replica_acks;

    if (r == NULL || r->type != REDIS_REPLY_INTEGER || r->integer < 0) {
        /* (a replica refuses WAIT: its error says so) */
        int text = r != NULL && r->type == REDIS_REPLY_ERROR;
        rconn_failf(conn, "WAIT: %.*s",
                    text ? (int)(r->len > 200 ? 200 : r->len) : 16,
                    text ? r->str : "unexpected reply");
        return -1;
    }
    if (acked != NULL) {
        *acked = r->integer;
    }
    if (r->integer >= want) {
        return 0;
    }
    {
        char where[OCSP_RCONN_HOST_MAX + 40];
        rconn_where(conn, where, sizeof(where));
        snprintf(conn->err, sizeof(conn->err),
                 "%s: WAIT: %lld of the %d replicas required "
                 "(redis.min_replica_acks) acknowledged within %ld ms",
                 where, r->integer, want, conn->cf->redis_wait_timeout_ms);
    }
    return 1;
}

int ocsp_rconn_wait(ocsp_rconn_t *conn, long long *acked)
{
    redisReply *r;
    int rv;

    if (acked != NULL) {
        *acked = 0;
    }
    if (!ocsp_rconn_wait_wanted(conn)) {
        return 0;
    }
    if (conn->link != NULL && conn->pending != 0) {
        ocsp_rconn_fail(conn, "redis: WAIT sent with replies pending");
        return -1;
    }
    if (ocsp_rconn_append_wait(conn) < 0 ||
        (r = ocsp_rconn_reply(conn)) == NULL) {
        return -1;
    }
    rv = ocsp_rconn_wait_result(conn, r, acked);
    freeReplyObject(r);
    return rv;
}

int ocsp_rconn_time_ms(ocsp_rconn_t *conn, int64_t *ms)
{
    const char *argv[] = {"TIME"};
    redisReply *r = ocsp_rconn_cmd(conn, 1, argv, NULL);
    int64_t sec, usec;

    if (r == NULL) {
        return -1;
    }
    /* TIME: unix seconds and the microseconds within that second. */
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        ocsp_reply_int64(r->element[0], 0, &sec) != 0 ||
        ocsp_reply_int64(r->element[1], 0, &usec) != 0 ||
        sec >= INT64_MAX / 1000 - 1 || usec > 999999) {
        ocsp_rconn_fail_reply(conn, "TIME", r);
        freeReplyObject(r);
        return -1;
    }
    freeReplyObject(r);
    *ms = sec * 1000 + usec / 1000;
    return 0;
}

long ocsp_resp_format(char **out, int argc, const char **argv,
                      const size_t *argvlen)
{
    int n = redisFormatCommandArgv(out, argc, argv, argvlen);

    return n < 0 ? -1 : (long)n;
}

void ocsp_resp_free(char *out)
{
    redisFreeCommand(out);
}

int ocsp_resp_write(FILE *f, int argc, const char **argv, const size_t *argvlen)
{
    char *cmd;
    long n = ocsp_resp_format(&cmd, argc, argv, argvlen);
    int rv;

    if (n < 0) {
        errno = ENOMEM;
        return -1;
    }
    rv = fwrite(cmd, 1, (size_t)n, f) == (size_t)n ? 0 : -1;
    ocsp_resp_free(cmd);
    return rv;
}
