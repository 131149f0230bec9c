
/*
 * ngx_http_revoca_module: answers OCSP requests (RFC 6960; RFC 5019) over
 * GET and POST with the responses revoca-signer pre-signs into Redis.
 *
 * This file: the directives, the configuration and the module's hooks.
 * ngx_http_revoca.h lists the other files.
 */


#include "ngx_http_revoca.h"


#define NGX_HTTP_REVOCA_SIGN_RATE_MAX  1000000


static void *ngx_http_revoca_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_revoca_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_revoca_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_revoca_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_revoca_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_revoca_init_worker(ngx_cycle_t *cycle);
static void ngx_http_revoca_exit_worker(ngx_cycle_t *cycle);

static char *ngx_http_revoca_ocsp(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_metrics_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_revoca_health(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_config(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_redis(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_sign_rate(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_sign_directive(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_revoca_ingest(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_revoca_ingest_client(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static ngx_int_t ngx_http_revoca_ingest_init(ngx_conf_t *cf,
    ngx_http_revoca_main_conf_t *rmcf);
static ngx_int_t ngx_http_revoca_file_redis_url(ngx_conf_t *cf,
    ocsp_config_t *oc, ngx_str_t *url);
static void ngx_http_revoca_config_cleanup(void *data);


static ngx_conf_enum_t  ngx_http_revoca_miss_statuses[] = {
    { ngx_string("try_later"), OCSP_ST_TRY_LATER },
    { ngx_string("internal_error"), OCSP_ST_INTERNAL_ERROR },
    { ngx_string("unauthorized"), OCSP_ST_UNAUTHORIZED },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_revoca_commands[] = {

    { ngx_string("revoca_ocsp"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_revoca_ocsp,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_metrics"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_revoca_metrics_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_health"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS|NGX_CONF_TAKE1,
      ngx_http_revoca_health,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_config"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_config,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_redis,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_redis_primary"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, primary),
      NULL },

    { ngx_string("revoca_ingest"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_revoca_ingest,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_ingest_client"),
      NGX_HTTP_LOC_CONF|NGX_CONF_2MORE,
      ngx_http_revoca_ingest_client,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_ingest_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, ingest_max_body),
      NULL },

    { ngx_string("revoca_ingest_wait"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, ingest_wait),
      NULL },

    { ngx_string("revoca_redis_connect_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, connect_timeout),
      NULL },

    { ngx_string("revoca_redis_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, timeout),
      NULL },

    { ngx_string("revoca_redis_keepalive"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, keepalive),
      NULL },

    { ngx_string("revoca_redis_keepalive_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_revoca_main_conf_t, keepalive_timeout),
      NULL },

    { ngx_string("revoca_cache_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_revoca_cache_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_sign_rate"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_revoca_sign_rate,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("revoca_cache"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, cache),
      NULL },

    { ngx_string("revoca_cache_valid"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_sec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, cache_valid),
      NULL },

    { ngx_string("revoca_max_request_size"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, max_request_size),
      NULL },

    { ngx_string("revoca_max_singles"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, max_singles),
      NULL },

    { ngx_string("revoca_miss"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_enum_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_revoca_loc_conf_t, miss_status),
      &ngx_http_revoca_miss_statuses },

    { ngx_string("revoca_sign"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_1MORE,
      ngx_http_revoca_sign_directive,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_revoca_module_ctx = {
    NULL,                                  /* preconfiguration */
    ngx_http_revoca_postconfiguration,     /* postconfiguration */

    ngx_http_revoca_create_main_conf,      /* create main configuration */
    ngx_http_revoca_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_revoca_create_loc_conf,       /* create location configuration */
    ngx_http_revoca_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_revoca_module = {
    NGX_MODULE_V1,
    &ngx_http_revoca_module_ctx,           /* module context */
    ngx_http_revoca_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_revoca_init_worker,           /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_revoca_exit_worker,           /* exit process */
    NULL,                                  /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_revoca_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_revoca_main_conf_t  *rmcf;

    rmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_revoca_main_conf_t));
    if (rmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     rmcf->ocsp = NULL;
     *     rmcf->registry = NULL;
     *     rmcf->servers = NULL;
     *     rmcf->cache_zone = NULL;
     *     rmcf->sign_keys = 0;
     *     rmcf->primary = { 0, NULL };
     *     rmcf->ingest_clients = NULL;
     */

    rmcf->write_server = NGX_CONF_UNSET_UINT;

    rmcf->connect_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->timeout = NGX_CONF_UNSET_MSEC;
    rmcf->keepalive = NGX_CONF_UNSET_UINT;
    rmcf->keepalive_timeout = NGX_CONF_UNSET_MSEC;
    rmcf->sign_rate = NGX_CONF_UNSET_UINT;
    rmcf->sign_burst = NGX_CONF_UNSET_UINT;

    return rmcf;
}


static char *
ngx_http_revoca_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_conf_init_msec_value(rmcf->connect_timeout, 1000);
    ngx_conf_init_msec_value(rmcf->timeout, 1000);
    ngx_conf_init_uint_value(rmcf->keepalive, 32);
    ngx_conf_init_msec_value(rmcf->keepalive_timeout, 60000);
    ngx_conf_init_uint_value(rmcf->sign_rate, 10);
    ngx_conf_init_uint_value(rmcf->sign_burst, rmcf->sign_rate);

    return NGX_CONF_OK;
}


static void *
ngx_http_revoca_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_revoca_loc_conf_t  *rlcf;

    rlcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_revoca_loc_conf_t));
    if (rlcf == NULL) {
        return NULL;
    }

    rlcf->enable = NGX_CONF_UNSET;
    rlcf->cache = NGX_CONF_UNSET;
    rlcf->cache_valid = NGX_CONF_UNSET;
    rlcf->max_request_size = NGX_CONF_UNSET_SIZE;
    rlcf->max_singles = NGX_CONF_UNSET_UINT;
    rlcf->miss_status = NGX_CONF_UNSET_UINT;
    rlcf->sign = NGX_CONF_UNSET_UINT;
    rlcf->health_margin = NGX_CONF_UNSET;
    rlcf->ingest = NGX_CONF_UNSET;
    rlcf->ingest_max_body = NGX_CONF_UNSET_SIZE;
    rlcf->ingest_wait = NGX_CONF_UNSET_MSEC;

    /*
     * set by ngx_pcalloc():
     *
     *     rlcf->ingest_clients = NULL;
     */

    return rlcf;
}


static char *
ngx_http_revoca_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_revoca_loc_conf_t *prev = parent;
    ngx_http_revoca_loc_conf_t *conf = child;

    ngx_http_revoca_main_conf_t  *rmcf;

    ngx_conf_merge_value(conf->enable, prev->enable, 0);

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);

    if (conf->enable && rmcf->ocsp == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_ocsp\" needs \"revoca_config\"");
        return NGX_CONF_ERROR;
    }

    ngx_conf_merge_value(conf->cache, prev->cache, 1);
    ngx_conf_merge_sec_value(conf->cache_valid, prev->cache_valid, 60);
    ngx_conf_merge_size_value(conf->max_request_size,
                              prev->max_request_size, 10240);
    ngx_conf_merge_uint_value(conf->max_singles, prev->max_singles, 1);
    ngx_conf_merge_uint_value(conf->miss_status, prev->miss_status,
                              OCSP_ST_TRY_LATER);
    ngx_conf_merge_uint_value(conf->sign, prev->sign, 0);
    ngx_conf_merge_sec_value(conf->health_margin, prev->health_margin, 3600);

    ngx_conf_merge_value(conf->ingest, prev->ingest, 0);
    ngx_conf_merge_size_value(conf->ingest_max_body, prev->ingest_max_body,
                              OCSP_INGEST_BODY_MAX);
    ngx_conf_merge_msec_value(conf->ingest_wait, prev->ingest_wait, 10000);

    if (conf->ingest) {
        if (rmcf->ocsp == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"revoca_ingest\" needs \"revoca_config\"");
            return NGX_CONF_ERROR;
        }

        if (conf->ingest_clients == NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "\"revoca_ingest\" needs at least one"
                               " \"revoca_ingest_client\"");
            return NGX_CONF_ERROR;
        }
    }

    /* the core's own bound on a body (ingest.h) */

    if (conf->ingest_max_body > OCSP_INGEST_BODY_MAX) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_ingest_max_body\" is over %uz",
                           (size_t) OCSP_INGEST_BODY_MAX);
        return NGX_CONF_ERROR;
    }

    /*
     * A pre-signed response answers one certificate, and RFC 6960 4.2.2.3
     * wants a SingleResponse for each one asked about: more than one per
     * request (which RFC 5019 2.1.1 rules out anyway) cannot be answered.
     */

    if (conf->max_singles != 1) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_max_singles\" must be 1: a pre-signed"
                           " response answers one certificate");
        return NGX_CONF_ERROR;
    }

    if (conf->max_request_size < 16) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_max_request_size\" is too small");
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_revoca_postconfiguration(ngx_conf_t *cf)
{
    ngx_str_t                     name;
    ngx_uint_t                    i;
    ngx_http_revoca_main_conf_t  *rmcf;
    ngx_http_revoca_redis_server_t *srv;
    ngx_url_t                     u;
    ocsp_config_t                *oc;

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);

    if (rmcf->ocsp == NULL) {
        return NGX_OK;
    }

    oc = rmcf->ocsp;

    rmcf->registry = ngx_pcalloc(cf->pool, sizeof(ocsp_registry_t));
    if (rmcf->registry == NULL) {
        return NGX_ERROR;
    }

    /* a PKCS#11 key is opened in each worker, after fork */

    if (ocsp_registry_load(rmcf->registry, oc,
                           rmcf->sign_keys
                           ? OCSP_REGISTRY_KEYS | OCSP_REGISTRY_PKCS11_LATER
                           : 0)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "revoca: %V: %s", &rmcf->config_file,
                           rmcf->registry->err);
        ocsp_registry_free(rmcf->registry);
        rmcf->registry = NULL;
        return NGX_ERROR;
    }

    for (i = 0; i < rmcf->registry->n; i++) {
        if (rmcf->registry->issuers[i].warning[0] != '\0') {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0, "revoca: issuer %s: %s",
                               rmcf->registry->issuers[i].conf->name,
                               rmcf->registry->issuers[i].warning);
        }
    }

    /* Redis from the shared file unless revoca_redis says otherwise */

    if (rmcf->servers == NULL) {

        rmcf->servers = ngx_array_create(cf->pool, 1,
                                     sizeof(ngx_http_revoca_redis_server_t));
        if (rmcf->servers == NULL) {
            return NGX_ERROR;
        }

        ngx_memzero(&u, sizeof(ngx_url_t));

        if (ngx_http_revoca_file_redis_url(cf, oc, &u.url) != NGX_OK) {
            return NGX_ERROR;
        }

        u.no_resolve = 0;

        if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "revoca: redis \"%V\" in %V: %s", &u.url,
                               &rmcf->config_file,
                               u.err ? u.err : "invalid address");
            return NGX_ERROR;
        }

        srv = ngx_array_push(rmcf->servers);
        if (srv == NULL) {
            return NGX_ERROR;
        }

        srv->addrs = u.addrs;
        srv->naddrs = u.naddrs;
        srv->name = u.url;
        srv->host = (oc->redis_host[0] == '/') ? (ngx_str_t) ngx_null_string
                                               : u.host;
        srv->tls_name.len = 0;
        srv->tls = 0;
        srv->tls_ip = 0;
    }

    /* the primary that ingest locations write to */

    if (rmcf->ingest_clients
        && ngx_http_revoca_ingest_init(cf, rmcf) != NGX_OK)
    {
        return NGX_ERROR;
    }

    /* redis.tls of the file: TLS to every TCP server */

    if (oc->redis_tls && ngx_http_revoca_redis_init_ssl(cf, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    /* the counters, one zone per configuration file's issuer set */

    ngx_str_set(&name, "revoca_metrics");

    rmcf->metrics_slots = ngx_http_revoca_metrics_nslots(cf);

    rmcf->metrics_zone = ngx_shared_memory_add(cf, &name,
        ngx_align(ngx_http_revoca_metrics_size(rmcf->registry->n,
                                               rmcf->metrics_slots,
                                               rmcf->ingest_clients
                                               ? rmcf->ingest_clients->nelts
                                               : 0)
                  + 8 * ngx_pagesize, ngx_pagesize),
        &ngx_http_revoca_module);
    if (rmcf->metrics_zone == NULL) {
        return NGX_ERROR;
    }

    rmcf->metrics_zone->init = ngx_http_revoca_metrics_init_zone;
    rmcf->metrics_zone->data = rmcf;
    rmcf->metrics_zone->noreuse = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_revoca_init_worker(ngx_cycle_t *cycle)
{
    ngx_http_revoca_main_conf_t  *rmcf;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE)
    {
        return NGX_OK;
    }

    rmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_revoca_module);

    if (rmcf == NULL || rmcf->ocsp == NULL) {
        return NGX_OK;
    }

    /* the token sessions of this worker: a failure stops the worker with
     * exit code 2, which the master does not respawn */

    if (rmcf->sign_keys && ocsp_registry_open_keys(rmcf->registry) != 0) {
        ngx_log_error(NGX_LOG_EMERG, cycle->log, 0, "revoca: %V: %s",
                      &rmcf->config_file, rmcf->registry->err);
        return NGX_ERROR;
    }

    if (ngx_http_revoca_redis_init_worker(cycle, rmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    return ngx_http_revoca_invalidate_init_worker(cycle, rmcf);
}


static void
ngx_http_revoca_exit_worker(ngx_cycle_t *cycle)
{
    ngx_http_revoca_invalidate_exit_worker(cycle);
    ngx_http_revoca_redis_exit_worker(cycle);
}


/* the shared file's redis.host and port as an nginx address */

static ngx_int_t
ngx_http_revoca_file_redis_url(ngx_conf_t *cf, ocsp_config_t *oc,
    ngx_str_t *url)
{
    if (oc->redis_host[0] == '/') {
        url->len = ngx_strlen(oc->redis_host) + 5;
        url->data = ngx_pnalloc(cf->pool, url->len + 1);
        if (url->data == NULL) {
            return NGX_ERROR;
        }

        ngx_sprintf(url->data, "unix:%s%Z", oc->redis_host);

        return NGX_OK;
    }

    url->len = ngx_strlen(oc->redis_host) + 1 + NGX_INT_T_LEN;
    url->data = ngx_pnalloc(cf->pool, url->len + 1);
    if (url->data == NULL) {
        return NGX_ERROR;
    }

    url->len = ngx_sprintf(url->data, "%s:%d", oc->redis_host, oc->redis_port)
               - url->data;

    return NGX_OK;
}


/*
 * With an ingest location, writes have a primary, revoca_redis_primary or else the file's redis.host (the
 * one the CLI writes to without Sentinels), which is one of the
 * revoca_redis servers or an extra one used for nothing but writes.
 */

static ngx_int_t
ngx_http_revoca_ingest_init(ngx_conf_t *cf, ngx_http_revoca_main_conf_t *rmcf)
{
    ngx_str_t                         url;
    ngx_url_t                         u;
    ngx_uint_t                        i;
    ngx_http_revoca_redis_server_t   *srv;

    if (rmcf->primary.len) {
        url = rmcf->primary;

    } else if (rmcf->ocsp->redis_nsentinels) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"revoca_ingest\" needs \"revoca_redis_primary\""
                           " when %V names Sentinels", &rmcf->config_file);
        return NGX_ERROR;

    } else if (ngx_http_revoca_file_redis_url(cf, rmcf->ocsp, &url)
               != NGX_OK)
    {
        return NGX_ERROR;
    }

    srv = rmcf->servers->elts;

    for (i = 0; i < rmcf->servers->nelts; i++) {
        if (srv[i].name.len == url.len
            && ngx_strncmp(srv[i].name.data, url.data, url.len) == 0)
        {
            rmcf->write_server = i;
            return NGX_OK;
        }
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = url;
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "revoca: redis primary \"%V\": %s", &url,
                           u.err ? u.err : "invalid address");
        return NGX_ERROR;
    }

    srv = ngx_array_push(rmcf->servers);
    if (srv == NULL) {
        return NGX_ERROR;
    }

    ngx_memzero(srv, sizeof(ngx_http_revoca_redis_server_t));

    srv->addrs = u.addrs;
    srv->naddrs = u.naddrs;
    srv->name = u.url;
    srv->write_only = 1;

    if (u.family != AF_UNIX) {
        srv->host = u.host;
    }

    rmcf->write_server = rmcf->servers->nelts - 1;

    return NGX_OK;
}


static char *
ngx_http_revoca_ingest(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->ingest != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    rlcf->ingest = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_ingest_handler;

    return NGX_CONF_OK;
}


/*
 * revoca_ingest_client NAME subject=DN | sha256=HEX issuers=A,B | issuers=*
 *                      [kinds=issue,revoke,hold,release];
 */

static char *
ngx_http_revoca_ingest_client(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    u_char                             c, *p, *last, *comma;
    ngx_str_t                         *value, v, *iss;
    ngx_uint_t                         i, k, have_issuers;
    ngx_http_revoca_main_conf_t       *rmcf;
    ngx_http_revoca_ingest_client_t   *cl, **slot;
    static const struct {
        const char  *name;
        ngx_uint_t   kind;
    } kinds[] = {
        { "issue", REVOCA__EVENT__KIND_ISSUED },
        { "revoke", REVOCA__EVENT__KIND_REVOKED },
        { "hold", REVOCA__EVENT__KIND_HOLD },
        { "release", REVOCA__EVENT__KIND_RELEASE },
        { NULL, 0 }
    };

    value = cf->args->elts;
    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);

    if (rmcf->ocsp == NULL) {
        return "needs \"revoca_config\" before it";
    }

    cl = ngx_pcalloc(cf->pool, sizeof(ngx_http_revoca_ingest_client_t));
    if (cl == NULL) {
        return NGX_CONF_ERROR;
    }

    /* a label of the metrics: short, and nothing to escape */

    cl->name = value[1];

    if (cl->name.len == 0 || cl->name.len > 64) {
        return "has a name of 1..64 characters";
    }

    for (i = 0; i < cl->name.len; i++) {
        c = cl->name.data[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
        {
            return "has a name of letters, digits, \"-\", \"_\" and \".\"";
        }
    }

    cl->kinds = 0;
    have_issuers = 0;

    for (i = 2; i < cf->args->nelts; i++) {
        v = value[i];

        if (v.len > 8 && ngx_strncmp(v.data, "subject=", 8) == 0) {
            cl->subject.data = v.data + 8;
            cl->subject.len = v.len - 8;

        } else if (v.len > 7 && ngx_strncmp(v.data, "sha256=", 7) == 0) {
            /* hex, colons and case as a fingerprint is usually shown */
            cl->sha256.data = ngx_pnalloc(cf->pool, 64);
            if (cl->sha256.data == NULL) {
                return NGX_CONF_ERROR;
            }

            for (p = v.data + 7, last = v.data + v.len; p < last; p++) {
                if (*p == ':') {
                    continue;
                }

                c = ngx_tolower(*p);

                if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))
                    || cl->sha256.len == 64)
                {
                    return "has a sha256= fingerprint that is not 32 hex"
                           " octets";
                }

                cl->sha256.data[cl->sha256.len++] = c;
            }

            if (cl->sha256.len != 64) {
                return "has a sha256= fingerprint that is not 32 hex octets";
            }

        } else if (v.len > 8 && ngx_strncmp(v.data, "issuers=", 8) == 0) {
            have_issuers = 1;

            if (v.len == 9 && v.data[8] == '*') {
                continue;
            }

            cl->issuers = ngx_array_create(cf->pool, 2, sizeof(ngx_str_t));
            if (cl->issuers == NULL) {
                return NGX_CONF_ERROR;
            }

            for (p = v.data + 8, last = v.data + v.len; p < last; p = comma + 1)
            {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                if (comma == p) {
                    return "has an empty issuer name";
                }

                iss = ngx_array_push(cl->issuers);
                if (iss == NULL) {
                    return NGX_CONF_ERROR;
                }

                /* NUL-terminated for ocsp_config_issuer() */
                iss->len = comma - p;
                iss->data = ngx_pnalloc(cf->pool, iss->len + 1);
                if (iss->data == NULL) {
                    return NGX_CONF_ERROR;
                }

                ngx_memcpy(iss->data, p, iss->len);
                iss->data[iss->len] = '\0';

                if (ocsp_config_issuer(rmcf->ocsp, (char *) iss->data)
                    == NULL)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"%V\" is not an issuer of %V",
                                       iss, &rmcf->config_file);
                    return NGX_CONF_ERROR;
                }
            }

        } else if (v.len > 6 && ngx_strncmp(v.data, "kinds=", 6) == 0) {
            for (p = v.data + 6, last = v.data + v.len; p < last; p = comma + 1)
            {
                comma = ngx_strlchr(p, last, ',');
                if (comma == NULL) {
                    comma = last;
                }

                if (comma - p == 1 && *p == '*') {
                    for (k = 0; kinds[k].name; k++) {
                        cl->kinds |= 1 << kinds[k].kind;
                    }

                    continue;
                }

                for (k = 0; kinds[k].name; k++) {
                    if ((size_t) (comma - p) == ngx_strlen(kinds[k].name)
                        && ngx_strncmp(p, kinds[k].name, comma - p) == 0)
                    {
                        cl->kinds |= 1 << kinds[k].kind;
                        break;
                    }
                }

                if (kinds[k].name == NULL) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid kind in \"%V\", expected"
                                       " issue, revoke, hold, release or *",
                                       &v);
                    return NGX_CONF_ERROR;
                }
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &v);
            return NGX_CONF_ERROR;
        }
    }

    if ((cl->subject.len == 0) == (cl->sha256.len == 0)) {
        return "needs exactly one of subject= and sha256=";
    }

    if (!have_issuers) {
        return "needs issuers= (names, or *)";
    }

    if (cl->kinds == 0) {
        for (k = 0; kinds[k].name; k++) {
            cl->kinds |= 1 << kinds[k].kind;
        }
    }

    if (rmcf->ingest_clients == NULL) {
        rmcf->ingest_clients = ngx_array_create(cf->pool, 4,
                               sizeof(ngx_http_revoca_ingest_client_t *));
        if (rmcf->ingest_clients == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (rlcf->ingest_clients == NULL) {
        rlcf->ingest_clients = ngx_array_create(cf->pool, 4,
                               sizeof(ngx_http_revoca_ingest_client_t *));
        if (rlcf->ingest_clients == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    /* one metrics label per name, whichever locations it is in */

    slot = rmcf->ingest_clients->elts;

    for (k = 0; k < rmcf->ingest_clients->nelts; k++) {
        if (slot[k]->name.len == cl->name.len
            && ngx_strncmp(slot[k]->name.data, cl->name.data, cl->name.len)
               == 0)
        {
            break;
        }
    }

    cl->index = k;

    if (k == rmcf->ingest_clients->nelts) {
        slot = ngx_array_push(rmcf->ingest_clients);
        if (slot == NULL) {
            return NGX_CONF_ERROR;
        }

        *slot = cl;
    }

    slot = ngx_array_push(rlcf->ingest_clients);
    if (slot == NULL) {
        return NGX_CONF_ERROR;
    }

    *slot = cl;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_ocsp(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_http_core_loc_conf_t  *clcf;

    if (rlcf->enable != NGX_CONF_UNSET) {
        return "is duplicate";
    }

    rlcf->enable = 1;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_metrics_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_core_loc_conf_t  *clcf;

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_metrics_handler;

    return NGX_CONF_OK;
}


/* revoca_health [margin=TIME]; */

static char *
ngx_http_revoca_health(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_str_t                 *value, s;
    ngx_http_core_loc_conf_t  *clcf;

    value = cf->args->elts;

    if (cf->args->nelts == 2) {
        if (ngx_strncmp(value[1].data, "margin=", 7) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }

        s.data = value[1].data + 7;
        s.len = value[1].len - 7;

        rlcf->health_margin = ngx_parse_time(&s, 1);

        if (rlcf->health_margin == (time_t) NGX_ERROR) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid margin \"%V\"", &value[1]);
            return NGX_CONF_ERROR;
        }
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);
    clcf->handler = ngx_http_revoca_health_handler;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_config(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    char                  err[OCSP_ERR_MAX];
    ngx_str_t            *value;
    ngx_pool_cleanup_t   *cln;

    if (rmcf->ocsp) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rmcf->config_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &rmcf->config_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    rmcf->ocsp = ngx_pcalloc(cf->pool, sizeof(ocsp_config_t));
    if (rmcf->ocsp == NULL) {
        return NGX_CONF_ERROR;
    }

    cln = ngx_pool_cleanup_add(cf->pool, 0);
    if (cln == NULL) {
        return NGX_CONF_ERROR;
    }

    if (ocsp_config_load(rmcf->ocsp, (char *) rmcf->config_file.data, err)
        != 0)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "revoca: %s", err);
        rmcf->ocsp = NULL;
        return NGX_CONF_ERROR;
    }

    cln->handler = ngx_http_revoca_config_cleanup;
    cln->data = rmcf;

    return NGX_CONF_OK;
}


static void
ngx_http_revoca_config_cleanup(void *data)
{
    ngx_http_revoca_main_conf_t *rmcf = data;

    if (rmcf->registry) {
        ocsp_registry_free(rmcf->registry);
        rmcf->registry = NULL;
    }

    if (rmcf->ocsp) {
        ocsp_config_free(rmcf->ocsp);
        rmcf->ocsp = NULL;
    }
}


static char *
ngx_http_revoca_redis(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_str_t                       *value;
    ngx_url_t                        u;
    ngx_http_revoca_redis_server_t  *srv;

    value = cf->args->elts;

    if (rmcf->servers == NULL) {
        rmcf->servers = ngx_array_create(cf->pool, 2,
                                     sizeof(ngx_http_revoca_redis_server_t));
        if (rmcf->servers == NULL) {
            return NGX_CONF_ERROR;
        }
    }

    if (rmcf->servers->nelts == NGX_HTTP_REVOCA_REDIS_SERVERS_MAX) {
        return "is repeated more than 8 times";
    }

    ngx_memzero(&u, sizeof(ngx_url_t));
    u.url = value[1];
    u.default_port = 6379;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0, "%s in \"%V\"",
                           u.err ? u.err : "invalid address", &u.url);
        return NGX_CONF_ERROR;
    }

    srv = ngx_array_push(rmcf->servers);
    if (srv == NULL) {
        return NGX_CONF_ERROR;
    }

    ngx_memzero(srv, sizeof(ngx_http_revoca_redis_server_t));

    srv->addrs = u.addrs;
    srv->naddrs = u.naddrs;
    srv->name = u.url;

    if (u.family != AF_UNIX) {
        srv->host = u.host;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_cache_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ssize_t     size;
    ngx_str_t  *value, name;
    void       *cache;

    if (rmcf->cache_zone) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (ngx_strcmp(value[1].data, "off") == 0) {
        return NGX_CONF_OK;
    }

    size = ngx_parse_size(&value[1]);

    if (size == NGX_ERROR || size < (ssize_t) (8 * ngx_pagesize)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid revoca cache zone size \"%V\"",
                           &value[1]);
        return NGX_CONF_ERROR;
    }

    ngx_str_set(&name, "revoca_cache");

    rmcf->cache_zone = ngx_shared_memory_add(cf, &name, size,
                                             &ngx_http_revoca_module);
    if (rmcf->cache_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    cache = ngx_http_revoca_cache_create(cf->pool);
    if (cache == NULL) {
        return NGX_CONF_ERROR;
    }

    rmcf->cache_zone->init = ngx_http_revoca_cache_init_zone;
    rmcf->cache_zone->data = cache;

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_sign_rate(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_revoca_main_conf_t *rmcf = conf;

    ngx_int_t   n;
    ngx_str_t  *value, s;

    if (rmcf->sign_rate != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    s = value[1];

    if (s.len > 3 && ngx_strncmp(s.data + s.len - 3, "r/s", 3) == 0) {
        s.len -= 3;
    }

    /* request-path signing is always rate-limited: no "off" */

    /* bounded so that the token arithmetic (thousandths) cannot wrap */

    n = ngx_atoi(s.data, s.len);
    if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_REVOCA_SIGN_RATE_MAX) {
        return "invalid rate, expected 1..1000000 r/s";
    }

    rmcf->sign_rate = n;

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "burst=", 6) != 0) {
            return "invalid parameter, expected burst=N";
        }

        n = ngx_atoi(value[2].data + 6, value[2].len - 6);
        if (n == NGX_ERROR || n == 0 || n > NGX_HTTP_REVOCA_SIGN_RATE_MAX) {
            return "invalid burst, expected 1..1000000";
        }

        rmcf->sign_burst = n;
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_revoca_sign_directive(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf)
{
    ngx_http_revoca_loc_conf_t *rlcf = conf;

    ngx_str_t                    *value;
    ngx_uint_t                    i;
    ngx_http_revoca_main_conf_t  *rmcf;

    if (rlcf->sign != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;
    rlcf->sign = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "off") == 0 && cf->args->nelts == 2) {
            return NGX_CONF_OK;
        }

        if (ngx_strcmp(value[i].data, "nonce") == 0) {
            rlcf->sign |= NGX_HTTP_REVOCA_SIGN_NONCE;

        } else if (ngx_strcmp(value[i].data, "unissued") == 0) {
            rlcf->sign |= NGX_HTTP_REVOCA_SIGN_UNISSUED;

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\", expected \"off\","
                               " \"nonce\" or \"unissued\"", &value[i]);
            return NGX_CONF_ERROR;
        }
    }

    /* the responder keys are loaded only when something may sign */

    rmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_revoca_module);
    rmcf->sign_keys = 1;

    return NGX_CONF_OK;
}
